"""``/feeds``: every feed with its health, interval, next poll and items; add one by any page's URL (the
feeds the page names to pick from), import and export OPML; a feed's page to edit, pause, resume or remove it.

Adding fetches the URL once (:func:`veille.manage.feeds.add_feed`, on the parsing thread): a feed, or a page
naming one feed, is added at once; a page naming several shows them as choices (nothing is added until one
is picked); a URL that gives no feed says why next to the field and offers to add it anyway (``force``), and,
for an HTML page, to watch it as a page source (``page``: its new article links are its items).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from veille.manage import InvalidError, NotFoundError, OperationError, feeds
from veille.settings import format_duration, parse_duration
from veille.web.forms import Errors, read_form, text
from veille.web.templating import flash, render
from veille.web.work import blocking, parsing

PAUSES = (("1d", "1 day"), ("7d", "7 days"), ("until", "until a date"), ("forever", "until I resume it"))
PAGE_SIZE = 100  # feeds per page of the list
MAX_OPML = 4 * 1024 * 1024  # bytes read from an uploaded OPML file (the body cap is the same by default)


@dataclass
class AddForm:
    """What the add form holds (kept as typed when it comes back with a message or with choices)."""

    url: str = ""
    every: str = ""
    backfill: str = ""
    tags: str = ""
    candidates: tuple[feeds.FoundFeed, ...] = ()  # a page named several: pick one
    offer_force: bool = False  # no feed at the URL: "add anyway"
    offer_page: bool = False  # an HTML page without a feed: "watch this page" for its article links
    page: bool = False  # the URL is (to be) watched as a page source
    errors: Errors = field(default_factory=Errors)


def seconds(value: str, name: str, *, zero: bool = False) -> float | None:
    """A duration field ("10m", "7d"); empty: None."""
    if not value:
        return None
    try:
        found = parse_duration(value)
    except ValueError as exc:
        raise InvalidError(str(exc), field=name) from exc
    if found < 0 or (found == 0 and not zero):
        raise InvalidError("must be longer than zero", field=name)
    return found


def tag_list(value: str) -> tuple[str, ...]:
    """Tags typed as ``ai, labs``."""
    return tuple(dict.fromkeys(t.strip() for t in value.replace("\n", ",").split(",") if t.strip()))


def found(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A feed (or channel) named in the request that does not exist: 404 with the operation's message."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    return guarded


def ctx_of(request: Request) -> Any:
    return request.app.state.ctx


def feed_id(request: Request) -> str:
    value = str(request.path_params["id"])
    if not value.isdigit():
        raise NotFoundError(f"no feed {value}")
    return value


@dataclass(frozen=True, slots=True)
class Listing:
    """A page of the feed list."""

    feeds: list[feeds.FeedView]
    total: int
    page: int  # from 1
    pages: int
    first: int  # the rank of the page's first feed, from 1


def load_page(db: Any, wanted: str) -> Listing:
    """Page ``wanted`` of the list ("last", or a number; anything else: the first), within the pages there are."""
    total = feeds.count_feeds(db)
    pages = max(1, -(-total // PAGE_SIZE))
    page = pages if wanted == "last" else min(max(int(wanted) if wanted.isdigit() else 1, 1), pages)
    offset = (page - 1) * PAGE_SIZE
    found = feeds.list_feeds(db, limit=PAGE_SIZE, offset=offset, count_entries=True)
    return Listing(found, total, page, pages, offset + 1)


async def show_list(request: Request, *, add: AddForm | None = None, opml_error: str | None = None,
                    status: int = 200) -> Response:
    listing = await blocking(load_page, ctx_of(request).db, request.query_params.get("page", "1"))
    return render(request, "feeds.html", {"listing": listing, "add": add or AddForm(), "opml_error": opml_error},
                  status=status)


async def feeds_page(request: Request) -> Response:
    """GET /feeds?page=N: a hundred feeds a page, in the order they were added (``page=last``: the newest)."""
    return await show_list(request)


async def add(request: Request) -> Response:
    """POST /feeds: ``url`` (a feed or any page), ``every``, ``backfill``, ``tags``; ``choice`` (one of the
    feeds the page named), ``force`` (add it though no feed was found)."""
    form = await read_form(request)
    typed = AddForm(url=text(form, "url"), every=text(form, "every"), backfill=text(form, "backfill"),
                    tags=text(form, "tags"), page=text(form, "page") == "1")
    choice = text(form, "choice")
    # a choice among the feeds a page named counts for that page only (the URL may have been changed since)
    target = choice if choice and text(form, "named_by") == typed.url else typed.url
    try:
        if not target:
            raise InvalidError("give the address of a feed, or of a page that names one", field="url")
        added = await parsing(request, feeds.add_feed, ctx_of(request), target,
                              every=seconds(typed.every, "every"),
                              backfill=seconds(typed.backfill, "backfill", zero=True),
                              tags=tag_list(typed.tags), force=text(form, "force") == "1", page=typed.page)
    except feeds.SeveralFeedsError as exc:
        typed.candidates = exc.feeds
        return await show_list(request, add=typed)
    except feeds.NoFeedError as exc:
        typed.errors.by_field["url"] = exc.reason
        typed.offer_force = True
        typed.offer_page = exc.page and not typed.page
        return await show_list(request, add=typed, status=422)
    except OperationError as exc:
        typed.errors.add(exc, fields={"": "url", "feed_text": "url"})
        return await show_list(request, add=typed, status=422)
    how = {"link": f" (named by {added.given})", "path": f" (found for {added.given})"}.get(added.how, "")
    every = f"every {format_duration(added.interval)}" if added.interval_fixed else "adaptive interval"
    message = f"Added feed {added.id}: {added.title or added.url}{how}, {every}."
    if added.kind == "page":
        links = "" if added.entries is None else f", {added.entries} article link{'s' * (added.entries != 1)} now"
        message = f"Watching page {added.id}: {added.title or added.url}, {every}{links}."
    if added.warning:
        message += f" Added anyway: {added.warning}."
    flash(request, message)
    return RedirectResponse(f"/feeds?page=last#feed-{added.id}", status_code=303)


async def import_opml(request: Request) -> Response:
    """POST /feeds/import: an OPML file (``opml``, multipart) and an optional ``backfill``."""
    form = await read_form(request, files=1)
    upload = form.get("opml")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await show_list(request, opml_error="choose an OPML file to upload", status=422)
    content = await upload.read(MAX_OPML + 1)
    if len(content) > MAX_OPML:
        return await show_list(request, opml_error=f"the file is larger than {MAX_OPML // 1024 // 1024} MB",
                               status=422)
    try:
        imported = await parsing(request, feeds.import_feeds, ctx_of(request), content,
                                 backfill=seconds(text(form, "opml_backfill"), "backfill", zero=True))
    except OperationError as exc:
        return await show_list(request, opml_error=str(exc), status=422)
    parts = [f"Imported {imported.added} new feed{'s' if imported.added != 1 else ''} from {upload.filename}"]
    if imported.skipped:
        parts.append(f"{imported.skipped} already there")
    if imported.invalid:
        parts.append(f"not an http(s) address, skipped: {', '.join(imported.invalid)}")
    if imported.refused:
        parts.append(f"refused by the address guard: {', '.join(imported.refused)}")
    flash(request, "; ".join(parts) + ".")
    return RedirectResponse("/feeds?page=last", status_code=303)


async def export_opml(request: Request) -> Response:
    """GET /feeds/export: every feed as OPML (a download)."""
    document = await blocking(feeds.export_feeds, ctx_of(request).db)
    return Response(document, media_type="text/x-opml; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="veille-feeds.opml"'})


# --------------------------------------------------------------------------- one feed


async def show_feed(request: Request, *, edit: dict[str, str] | None = None, errors: Errors | None = None,
                    pause_errors: Errors | None = None, status: int = 200) -> Response:
    feed = await blocking(feeds.get_feed, ctx_of(request).db, feed_id(request), count_entries=True)
    if edit is None:
        edit = {"title": feed.title or "", "mode": "fixed" if feed.interval_fixed else "adaptive",
                "every": format_duration(feed.interval) if feed.interval_fixed else "",
                "tags": ", ".join(feed.tags), "feed_text": feed.feed_text,
                "backfill": format_duration(feed.backfill) if feed.backfill is not None else ""}
    return render(request, "feed.html", {"feed": feed, "edit": edit, "errors": errors or Errors(),
                                         "pause_errors": pause_errors or Errors(), "pauses": PAUSES},
                  status=status)


async def feed_page(request: Request) -> Response:
    """GET /feeds/{id}: the feed, its settings to change, pause or resume, remove."""
    return await show_feed(request)


def changes_of(form: FormData) -> feeds.FeedChanges:
    """The edit form as changes: every value is set as shown (tags replaced)."""
    mode = text(form, "mode")
    every = text(form, "every")
    if mode == "fixed" and not every:
        raise InvalidError("give the interval, e.g. 10m, or choose adaptive", field="every")
    return feeds.FeedChanges(
        every=every if mode == "fixed" else None,
        adaptive=mode != "fixed",
        title=text(form, "title"),
        tags=tag_list(text(form, "tags")),
        clear_tags=True,
        backfill=text(form, "backfill") or None,
        feed_text=text(form, "feed_text") or None,
    )


async def edit(request: Request) -> Response:
    """POST /feeds/{id}: title, interval (``mode`` fixed with ``every``, or adaptive), tags, backfill, feed text."""
    form = await read_form(request)
    typed = {name: text(form, name) for name in ("title", "mode", "every", "tags", "backfill", "feed_text")}
    errors = Errors()
    try:
        changed = await blocking(feeds.edit_feed, ctx_of(request).db, feed_id(request), changes_of(form))
    except NotFoundError:
        raise
    except OperationError as exc:
        errors.add(exc, fields={"": "every"})
        return await show_feed(request, edit=typed, errors=errors, status=422)
    flash(request, f"Saved feed {changed.id}: {changed.every_text}.")
    return RedirectResponse(f"/feeds/{changed.id}", status_code=303)


def pause_request(form: FormData) -> tuple[str | None, str | None]:
    """The pause form as (duration, until): 1 day, 7 days, until a date, or until resumed (None, None)."""
    choice = text(form, "pause") or "forever"
    if choice == "until":
        until = text(form, "until")
        if not until:
            raise InvalidError("give the date the pause ends", field="until")
        return None, until
    if choice == "forever":
        return None, None
    if choice not in dict(PAUSES):
        raise InvalidError("choose how long", field="for")
    return choice, None


async def pause(request: Request) -> Response:
    """POST /feeds/{id}/pause: ``pause`` = 1d, 7d, until (with ``until``, a date) or forever."""
    form = await read_form(request)
    try:
        duration, until = pause_request(form)
        paused = await blocking(feeds.pause_feed, ctx_of(request).db, feed_id(request), duration=duration,
                                until=until)
    except NotFoundError:
        raise
    except OperationError as exc:
        errors = Errors()
        errors.add(exc, fields={"": "for"})
        return await show_feed(request, pause_errors=errors, status=422)
    flash(request, f"Feed {paused.id} {paused.pause.describe()}: not polled meanwhile.")
    return RedirectResponse(f"/feeds/{paused.id}", status_code=303)


async def resume(request: Request) -> Response:
    """POST /feeds/{id}/resume: polled again, at once."""
    await read_form(request)
    resumed = await blocking(feeds.resume_feed, ctx_of(request).db, feed_id(request))
    flash(request, f"Feed {resumed.id} resumed: polled at once.")
    return RedirectResponse(f"/feeds/{resumed.id}", status_code=303)


async def remove_page(request: Request) -> Response:
    """GET /feeds/{id}/remove: what goes with it, and the button that removes it."""
    impact = await blocking(feeds.feed_removal_impact, ctx_of(request).db, feed_id(request))
    return render(request, "removal.html", {
        "title": f"Remove feed {impact.id}", "question": impact.describe(), "action": f"/feeds/{impact.id}/remove",
        "button": "Remove the feed", "cancel": f"/feeds/{impact.id}", "hidden": {},
    })


async def remove(request: Request) -> Response:
    """POST /feeds/{id}/remove."""
    await read_form(request)
    removed = await blocking(feeds.remove_feed, ctx_of(request).db, feed_id(request))
    entries = f"{removed.entries} {'entry' if removed.entries == 1 else 'entries'}"
    flash(request, f"Removed feed {removed.id} ({removed.url}) and its {entries}.")
    return RedirectResponse("/feeds", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/feeds", feeds_page, methods=["GET"]),
    Route("/feeds", add, methods=["POST"]),
    Route("/feeds/import", import_opml, methods=["POST"]),
    Route("/feeds/export", export_opml, methods=["GET"]),
    Route("/feeds/{id}", found(feed_page), methods=["GET"]),
    Route("/feeds/{id}", found(edit), methods=["POST"]),
    Route("/feeds/{id}/pause", found(pause), methods=["POST"]),
    Route("/feeds/{id}/resume", found(resume), methods=["POST"]),
    Route("/feeds/{id}/remove", found(remove_page), methods=["GET"]),
    Route("/feeds/{id}/remove", found(remove), methods=["POST"]),
]
