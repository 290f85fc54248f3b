"""Feeds: add one (checked by fetching it once), import and export OPML, edit, pause and resume, remove.

:func:`add_feed` fetches the URL once before storing anything: a URL that gives no answer, or that is neither
a feed nor a page naming one, is refused (:class:`NoFeedError`) unless ``force``; a page naming several feeds
adds none (:class:`SeveralFeedsError` lists them). That check fetch stores no entry and no validator (ETag,
Last-Modified), and leaves ``first_ok_at`` unset: the first poll is the feed's first poll.

:func:`import_feeds` fetches nothing (an OPML file may list hundreds of feeds); :func:`export_feeds` writes
what a user set on each feed (fixed interval, tags as folders, backfill, pause, feed text) so that importing
the file restores it.

A paused feed is not polled (nor stored from a WebSub push); when the pause ends, or on ``resume``, it is
polled at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veille import http, pipeline
from veille.feeds.discover import Candidate, Discovery, discover
from veille.feeds.opml import KINDS as OPML_KINDS
from veille.feeds.opml import OPMLError, OPMLFeed, parse_opml, render_opml
from veille.manage.errors import ConflictError, InvalidError, NotFoundError, OperationError
from veille.manage.pauses import PauseState, pause_end, state_of
from veille.settings import Settings, format_duration, parse_duration
from veille.storage import pauses
from veille.storage.db import Database
from veille.storage.models import Entity, Entry, Feed, utcnow

if TYPE_CHECKING:
    from veille.pages.listing import ListingLink

log = logging.getLogger(__name__)

FEED_TEXT = ("auto", "always", "never")
URL_SIZE = 2048  # the feeds.url column


PAGE_HINT = "if it is a listing page (a newsroom, a blog index), watch its article links with --page"


class NoFeedError(OperationError):
    """Nothing at the URL can be added as a feed. ``reason`` is what was tried (``cannot fetch URL: ...`` or
    ``no feed found at URL (...)``); ``hints`` what the user may do instead, appended to the message."""

    def __init__(self, reason: str, *, hints: Sequence[str] = (), page: bool = False) -> None:
        self.reason = reason
        self.hints = tuple(hints)
        self.page = page  # the URL is an HTML page: it may be watched as a page source (``page=True``)
        super().__init__("; ".join((reason, *self.hints)))


class NoLinksError(NoFeedError):
    """A page source's check found no article link at the URL (or could not fetch it)."""


@dataclass(frozen=True, slots=True)
class FoundFeed:
    """A feed found at the URL given: the URL itself, one its page declares, or one at a common path."""

    url: str
    how: str  # "given", "link" (declared by the page), "path" (at a common feed path)
    title: str | None
    entries: int
    known: int | None = None  # its id when it is already added


class SeveralFeedsError(OperationError):
    """The page names several feeds: none is added; ``feeds`` lists them, to pick one."""

    def __init__(self, url: str, feeds: Sequence[FoundFeed]) -> None:
        self.url = url
        self.feeds = tuple(feeds)
        super().__init__(f"{len(self.feeds)} feeds found at {url}, nothing added: add the one you want")


@dataclass(frozen=True, slots=True)
class FeedSearch:
    """What :func:`find_feeds` found at a URL."""

    url: str
    feeds: tuple[FoundFeed, ...]  # the usable ones, in the order found
    failed: tuple[Candidate, ...]  # the candidates that are not feeds (the URL itself, declared links, paths)
    error: str | None  # why no feed was found; None when one was
    unreachable: bool = False  # the URL itself gave no answer
    html: bool = False  # the URL is an HTML page (that names no usable feed, when ``feeds`` is empty)

    @property
    def chosen(self) -> FoundFeed | None:
        """The feed `feeds add` adds: the only one found, else none."""
        return self.feeds[0] if len(self.feeds) == 1 else None


@dataclass(frozen=True, slots=True)
class AddedFeed:
    id: int
    url: str  # as stored: the feed's own URL
    given: str  # the URL the user gave (a page, when the feed was found through it)
    how: str  # "given", "link", "path"
    title: str | None
    entries: int | None  # read by the check fetch; None when forced past a failed check
    interval: float
    interval_fixed: bool
    backfill: float | None
    warning: str | None = None  # forced: why the check failed
    kind: str = "feed"  # "page": a listing page's article links (``entries``: the links found)


@dataclass(frozen=True, slots=True)
class ImportedFeeds:
    added: int
    skipped: int  # already present
    invalid: tuple[str, ...]  # outlines whose xmlUrl is not an http(s) URL
    refused: tuple[str, ...]  # URLs the address guard refuses


# --------------------------------------------------------------------------- checks


def check_options(*, every: float | None = None, feed_text: str = "auto", backfill: float | None = None) -> None:
    """Refuse option values no feed can have (InvalidError naming the option)."""
    if every is not None and every <= 0:
        raise InvalidError("must be longer than zero", field="every")
    if feed_text not in FEED_TEXT:
        raise InvalidError("--feed-text must be auto, always or never", field="feed_text")
    if backfill is not None and backfill < 0:
        raise InvalidError("must not be negative", field="backfill")


def check_feed_url(settings: Settings, url: str) -> str:
    """The URL, stripped, when it may be fetched: an http(s) URL whose host does not resolve to an address the
    guard refuses (a host that does not resolve now passes: the fetch says so). The guard is security, not a
    check: ``force`` never overrides it."""
    url = url.strip()
    if len(url) > URL_SIZE:
        raise InvalidError(f"too long (at most {URL_SIZE} characters)", field="url")
    try:
        http.check_scheme(url)
        pipeline.run_async(http.check_url(url, http.AddressGuard.from_settings(settings)))
    except http.BlockedAddressError as exc:
        raise OperationError(f"refused: {exc}") from exc
    except http.FetchError:
        pass  # does not resolve: the check fetch reports it
    except ValueError as exc:  # urlsplit refuses e.g. an unclosed IPv6 bracket
        raise InvalidError(f"not a URL: {url} ({exc})", field="url") from exc
    return url


def _feed_id(s: Session, url: str) -> int | None:
    return s.scalar(select(Feed.id).where(Feed.url == url))


async def _discover(settings: Settings, url: str) -> Discovery:
    async with http.make_client(settings) as client:
        return await discover(client, url, max_bytes=settings.max_feed_bytes)


def find_feeds(ctx: pipeline.Context, url: str) -> FeedSearch:
    """Fetch ``url`` once (through the address guard) and say which feeds it is or names; stores nothing."""
    return _search(ctx, check_feed_url(ctx.settings, url))


def _search(ctx: pipeline.Context, url: str) -> FeedSearch:
    found: Discovery = pipeline.run_async(_discover(ctx.settings, url))
    if found.blocked:
        raise OperationError(f"refused: {found.error}")

    def known(s: Session) -> dict[str, int | None]:
        return {c.url: _feed_id(s, c.url) for c in found.feeds}

    ids = ctx.db.run(known) if found.feeds else {}
    feeds = tuple(FoundFeed(c.url, c.how, c.title, c.entries or 0, ids.get(c.url)) for c in found.feeds)
    failed = tuple(c for c in found.candidates if not c.ok)
    html = bool(found.tried) and found.tried[0] == "an HTML page"
    return FeedSearch(url, feeds, failed, found.error, found.unreachable, html)


# --------------------------------------------------------------------------- add


def add_feed(
    ctx: pipeline.Context,
    url: str,
    *,
    every: float | None = None,
    tags: Sequence[str] = (),
    feed_text: str = "auto",
    backfill: float | None = None,
    force: bool = False,
    page: bool = False,
    any_site: bool = False,
) -> AddedFeed:
    """Check ``url`` by fetching it once, then add the feed it is or the only feed its page names.

    Refused: a URL the guard refuses (always); a URL already added (ConflictError); no answer, or no feed
    (NoFeedError, unless ``force``: then the URL is added as given and ``warning`` says what the check found);
    several feeds named by the page (SeveralFeedsError, whatever ``force``: pick one).
    ``every``: a fixed interval in seconds (None: adaptive); ``backfill``: seconds (None: VEILLE_BACKFILL).
    ``page``: watch ``url`` as a listing page whose article links are its items (:func:`add_page`).
    """
    if page:
        return add_page(ctx, url, every=every, tags=tags, backfill=backfill, any_site=any_site, force=force)
    if any_site:
        raise InvalidError("--any-site is for a page source: give --page too", field="any_site")
    check_options(every=every, feed_text=feed_text, backfill=backfill)
    url = check_feed_url(ctx.settings, url)
    existing = ctx.db.run(_feed_id, url)
    if existing is not None:
        raise ConflictError(f"feed already added (id {existing}): {url}")
    search = _search(ctx, url)
    warning: str | None = None
    if len(search.feeds) > 1:
        raise SeveralFeedsError(url, search.feeds)
    chosen = search.chosen
    if chosen is not None:
        if chosen.known is not None:
            where = f" (found at {url})" if chosen.url != url else ""
            raise ConflictError(f"feed already added (id {chosen.known}): {chosen.url}{where}")
        feed_url, how, title, entries = chosen.url, chosen.how, chosen.title, chosen.entries
    else:
        reason = search.error or f"no feed found at {url}"
        if not force:
            hints = ["if it is a feed that is down today, add it anyway with --force"] if search.unreachable else []
            if search.html:
                hints.append(PAGE_HINT)
            raise NoFeedError(reason, hints=hints, page=search.html)
        feed_url, how, title, entries, warning = url, "given", None, None, reason
        log.info("feed added past a failed check", extra={"url": url, "reason": reason})

    interval = every if every is not None else ctx.settings.poll_interval

    def add(s: Session) -> int:
        taken = _feed_id(s, feed_url)
        if taken is not None:
            raise ConflictError(f"feed already added (id {taken}): {feed_url}")
        feed = Feed(url=feed_url, title=title, tags=list(dict.fromkeys(tags)), interval=interval,
                    interval_fixed=every is not None, feed_text=feed_text, backfill=backfill, next_poll_at=utcnow())
        s.add(feed)
        s.flush()
        return feed.id

    try:
        feed_id = ctx.db.run(add)
    except IntegrityError as exc:  # added by someone else between the check and the insert
        raise ConflictError(f"feed already added: {feed_url}") from exc
    return AddedFeed(feed_id, feed_url, url, how, title, entries, interval, every is not None, backfill, warning)


# --------------------------------------------------------------------------- page sources


@dataclass(frozen=True, slots=True)
class PagePreview:
    """What a page source would take from a page now (`feeds add URL --page --dry-run`)."""

    url: str
    title: str | None
    links: tuple[ListingLink, ...]
    any_site: bool = False

    def as_json(self) -> list[dict[str, Any]]:
        return [link.as_json() for link in self.links]


async def _fetch_page(settings: Settings, url: str) -> http.Response:
    from veille.pipeline.feeds import ACCEPT

    async with http.make_client(settings) as client:
        return await http.fetch(client, url, max_bytes=settings.max_feed_bytes, headers={"Accept": ACCEPT["page"]})


def _preview(ctx: pipeline.Context, url: str, *, any_site: bool) -> PagePreview:
    from veille.pages.fetch import not_html_reason
    from veille.pages.listing import read_listing

    try:
        response = pipeline.run_async(_fetch_page(ctx.settings, url))
    except http.BlockedAddressError as exc:
        raise OperationError(f"refused: {exc}") from exc
    except http.FetchError as exc:
        raise NoLinksError(f"cannot fetch {url}: {exc}",
                           hints=["if the page is down today, add it anyway with --force"]) from exc
    content_type = response.headers.get("Content-Type")
    not_html = not_html_reason(content_type, response.content)
    if not_html is not None:
        raise NoLinksError(f"{url} is not an HTML page ({not_html})",
                           hints=["a feed is added without --page"] if "xml" in not_html or "json" in not_html
                           else [])
    listing = read_listing(response.content, response.url, any_site=any_site, content_type=content_type)
    links = tuple(link for link in listing.links if len(link.url) <= URL_SIZE)
    return PagePreview(url, listing.title, links, any_site)


def preview_page(ctx: pipeline.Context, url: str, *, any_site: bool = False) -> PagePreview:
    """Fetch ``url`` once (through the address guard) and say which article links a page source would take
    from it now; stores nothing."""
    return _preview(ctx, check_feed_url(ctx.settings, url), any_site=any_site)


def add_page(
    ctx: pipeline.Context,
    url: str,
    *,
    every: float | None = None,
    tags: Sequence[str] = (),
    backfill: float | None = None,
    any_site: bool = False,
    force: bool = False,
) -> AddedFeed:
    """Watch a listing page as a source (kind "page"): each poll's new article links are its items. Checked by
    fetching it once: a page where no article link is found is refused (NoLinksError) unless ``force``. The
    check stores nothing: the first poll is the source's first poll (the backfill rule)."""
    check_options(every=every, backfill=backfill)
    url = check_feed_url(ctx.settings, url)
    existing = ctx.db.run(_feed_id, url)
    if existing is not None:
        raise ConflictError(f"already added (id {existing}): {url}")
    warning: str | None = None
    title: str | None = None
    links: int | None = None
    try:
        preview = _preview(ctx, url, any_site=any_site)
    except NoLinksError as exc:
        if not force:
            raise
        warning = exc.reason
    else:
        title, links = preview.title, len(preview.links)
        if not preview.links:
            reason = f"no article links found at {url}"
            if not force:
                hint = [] if any_site else ["if its articles are on another site, add --any-site"]
                raise NoLinksError(reason, hints=[*hint, "to watch it anyway, add --force"])
            warning = reason
    interval = every if every is not None else ctx.settings.poll_interval

    def add(s: Session) -> int:
        taken = _feed_id(s, url)
        if taken is not None:
            raise ConflictError(f"already added (id {taken}): {url}")
        feed = Feed(url=url, title=(title or "")[:1024] or None, tags=list(dict.fromkeys(tags)), interval=interval,
                    interval_fixed=every is not None, backfill=backfill, next_poll_at=utcnow(), kind="page",
                    options={"any_site": any_site})
        s.add(feed)
        s.flush()
        return feed.id

    try:
        feed_id = ctx.db.run(add)
    except IntegrityError as exc:
        raise ConflictError(f"already added: {url}") from exc
    return AddedFeed(feed_id, url, url, "page", title, links, interval, every is not None, backfill, warning,
                     kind="page")


# --------------------------------------------------------------------------- OPML


def import_feeds(ctx: pipeline.Context, content: bytes, *, backfill: float | None = None) -> ImportedFeeds:
    """Add the feeds of an OPML file that are not there yet; fetches nothing. Folders become tags; the veille
    attributes (fixed interval, backfill, pause, feed text) written by :func:`export_feeds` are restored.
    ``backfill`` (seconds), when given, is every added feed's backfill, over the file's."""
    check_options(backfill=backfill)
    try:
        parsed = parse_opml(content)
    except OPMLError as exc:
        raise OperationError(f"{exc}; nothing was imported") from exc
    guard = http.AddressGuard.from_settings(ctx.settings)
    refused: list[str] = []
    invalid = list(parsed.invalid)
    for item in parsed.feeds:
        if len(item.url) > URL_SIZE:
            invalid.append(item.url)
            continue
        try:
            pipeline.run_async(http.check_url(item.url, guard))
        except http.BlockedAddressError:
            refused.append(item.url)
        except http.FetchError:
            pass  # does not resolve now: imported, and the poll will record the error
        except ValueError:  # urlsplit refuses e.g. an unclosed IPv6 bracket
            invalid.append(item.url)

    def store(s: Session) -> tuple[int, int]:
        added = skipped = 0
        known = set(s.scalars(select(Feed.url)))
        for item in parsed.feeds:
            if item.url in known:
                skipped += 1
                continue
            if item.url in refused or item.url in invalid:
                continue
            site_url = item.site_url if item.site_url is None or len(item.site_url) <= URL_SIZE else None
            s.add(Feed(
                url=item.url, title=item.title[:1024] if item.title else None, tags=list(item.tags),
                site_url=site_url,
                interval=item.every or ctx.settings.poll_interval, interval_fixed=item.every is not None,
                feed_text=item.feed_text or "auto", backfill=backfill if backfill is not None else item.backfill,
                enabled=not item.paused, resume_at=item.resume_at if item.paused else None, next_poll_at=utcnow(),
                kind=item.kind, options={"any_site": item.any_site} if item.kind == "page" else {},
            ))
            known.add(item.url)
            added += 1
        return added, skipped

    added, skipped = ctx.db.run(store)
    return ImportedFeeds(added, skipped, tuple(dict.fromkeys(invalid)), tuple(dict.fromkeys(refused)))


def export_feeds(db: Database, *, now: datetime | None = None) -> str:
    """Every feed and page source as OPML 2.0: tags as folders, and what the user set in veille's namespace
    (searches belong to their entity, not to a reading list)."""

    def read(s: Session) -> list[OPMLFeed]:
        return [
            OPMLFeed(f.url, f.title, tuple(f.tags or ()), f.site_url, every=f.interval if f.interval_fixed else None,
                     backfill=f.backfill, paused=not f.enabled, resume_at=None if f.enabled else f.resume_at,
                     feed_text=f.feed_text if f.feed_text != "auto" else None, kind=f.kind or "feed",
                     any_site=bool((f.options or {}).get("any_site")))
            for f in s.scalars(select(Feed).where(Feed.kind.in_(OPML_KINDS)).order_by(Feed.id))
        ]

    return render_opml(db.run(read), now=now)


# --------------------------------------------------------------------------- edit, pause, remove


@dataclass(frozen=True, slots=True)
class FeedView:
    id: int
    url: str
    title: str | None
    tags: tuple[str, ...]
    interval: float  # seconds
    interval_fixed: bool  # --every; else adaptive
    feed_text: str
    backfill: float | None  # seconds; None: VEILLE_BACKFILL
    first_polled: bool  # its first successful poll is done (--backfill no longer applies)
    next_poll_at: datetime
    pause: PauseState
    site_url: str | None = None
    last_poll_at: datetime | None = None
    last_status: str | None = None  # "ok", "not modified", "error"; None: not polled yet
    error: str | None = None
    failures: int = 0  # in a row
    failing_since: datetime | None = None
    resume_at: datetime | None = None
    entries: int | None = None  # entries stored for it (its items); None when not counted
    kind: str = "feed"  # "feed", "page" (a listing page's article links), "search"
    options: dict[str, Any] = field(default_factory=dict)  # what its kind needs: a page's any_site
    entity_id: int | None = None  # a search's entity
    entity: str | None = None  # a search's entity, by name
    search: dict[str, str] | None = None  # a search's provider, query and lang

    @property
    def every_text(self) -> str:
        """The interval and how it is chosen: "5m (fixed)" (``--every``), "12m (adaptive)" (learned)."""
        if self.interval_fixed:
            return f"{format_duration(self.interval)} (fixed)"
        return f"{rough_duration(self.interval)} (adaptive)"

    @property
    def failing(self) -> bool:
        return not self.pause.paused and self.last_status == "error"

    def as_json(self) -> dict[str, Any]:
        """The feed as every face shows it (`feeds list --json`, `status --json`, the API)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "options": dict(self.options),
            "url": self.url,
            "title": self.title,
            "site_url": self.site_url,
            "tags": list(self.tags),
            "enabled": not self.pause.paused,
            "paused": self.pause.paused,
            "paused_until": _iso(self.pause.until),
            "interval": self.interval,
            "interval_fixed": self.interval_fixed,
            "interval_mode": "fixed" if self.interval_fixed else "adaptive",
            "every": format_duration(self.interval) if self.interval_fixed else None,  # as `--every` takes it
            "last_poll": _iso(self.last_poll_at),
            "last_status": self.last_status,
            "error": self.error,
            "failures": self.failures,  # in a row
            "failing_since": _iso(self.failing_since),
            "next_poll": _iso(self.next_poll_at),
            "feed_text": self.feed_text,
            "backfill": self.backfill,  # seconds; None: VEILLE_BACKFILL
            "resume_at": _iso(self.resume_at),
            "entity_id": self.entity_id,  # a search's entity
            "entity": self.entity,
            "search": self.search,  # {"provider", "query", "lang"} of a search; null for other kinds
        }


def rough_duration(seconds: float) -> str:
    """A learned interval, rounded for reading: 45s, 12m, 2.5h, 1d."""
    for unit, size, limit in (("s", 1, 90), ("m", 60, 90 * 60), ("h", 3600, 36 * 3600)):
        if seconds < limit:
            return f"{round(seconds / size, 0 if unit == 'm' else 1):g}{unit}"
    return f"{round(seconds / 86400, 1):g}d"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


@dataclass(frozen=True, slots=True)
class FeedChanges:
    """What ``feeds edit`` changes; None (or empty) leaves a value as it is."""

    every: str | None = None  # a fixed interval, "10m"
    adaptive: bool = False  # the interval learned from the feed again
    title: str | None = None  # "" goes back to the feed's own title (at the next poll)
    tags: tuple[str, ...] = ()  # added
    clear_tags: bool = False  # before adding ``tags``
    backfill: str | None = None  # the first poll's alert window, "7d"; "0": alert on nothing already there
    feed_text: str | None = None  # auto, always, never

    def is_empty(self) -> bool:
        return self == FeedChanges()


@dataclass(frozen=True, slots=True)
class FeedImpact:
    """What removing a feed takes with it."""

    id: int
    url: str
    entries: int

    def describe(self) -> str:
        entries = f"{self.entries} {'entry' if self.entries == 1 else 'entries'}"
        return f"Remove feed {self.id} ({self.url})? Its {entries} go with it; its articles, matches and alerts stay."


@dataclass(frozen=True, slots=True)
class FeedRemoved:
    id: int
    url: str
    entries: int


MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL


def as_id(text: str) -> int | None:
    """``text`` as a row id when it is one written in ASCII digits (-1 past the largest id a database holds:
    found by no row, where the number itself would be refused by the database), else None."""
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text.lstrip("0")) > 10:
        return -1
    value = int(text)
    return value if value <= MAX_ID else -1


def find_feed(s: Session, id_or_url: str) -> Feed:
    text = id_or_url.strip()
    feed = s.get(Feed, as_id(text)) if as_id(text) is not None else s.scalar(select(Feed).where(Feed.url == text))
    if feed is None:
        raise NotFoundError(f"no feed {id_or_url} (see `veille feeds list`)")
    return feed


def view(feed: Feed, now: datetime | None = None, *, entries: int | None = None, entity: str | None = None
         ) -> FeedView:
    options = feed.options or {}
    search = {k: str(options.get(k, "")) for k in ("provider", "query", "lang")} if feed.kind == "search" else None
    return FeedView(
        id=feed.id,
        url=feed.url,
        title=feed.title,
        tags=tuple(feed.tags or ()),
        interval=feed.interval,
        interval_fixed=feed.interval_fixed,
        feed_text=feed.feed_text,
        backfill=feed.backfill,
        # a poll that worked is recorded in first_ok_at; last_status says so too for a feed whose latest poll did
        first_polled=feed.first_ok_at is not None or feed.last_status in ("ok", "not modified"),
        next_poll_at=feed.next_poll_at,
        pause=state_of(feed, now),
        site_url=feed.site_url,
        last_poll_at=feed.last_poll_at,
        last_status=feed.last_status,
        error=feed.last_error,
        failures=feed.failures or 0,
        failing_since=feed.failing_since,
        resume_at=feed.resume_at,
        entries=entries,
        kind=feed.kind or "feed",
        options=dict(feed.options or {}),
        entity_id=feed.entity_id,
        entity=entity,
        search=search,
    )


def list_feeds(db: Database, *, limit: int | None = None, offset: int = 0, now: datetime | None = None,
               count_entries: bool = False) -> list[FeedView]:
    """Every feed, in the order they were added (``offset`` and ``limit``: a page of them); ``count_entries``:
    with each one's ``entries`` (its items), counted by one grouped query for all of them."""
    if limit is not None and limit < 1:
        raise InvalidError("must be 1 or more", field="limit")
    if offset < 0:
        raise InvalidError("must be 0 or more", field="offset")

    def work(s: Session) -> list[FeedView]:
        rows = list(s.scalars(select(Feed).order_by(Feed.id).offset(offset or None).limit(limit)))
        names = _entity_names(s, rows)
        if not count_entries:
            return [view(f, now, entity=names.get(f.entity_id or 0)) for f in rows]
        counts: dict[int, int] = {}
        if rows:
            query = select(Entry.feed_id, func.count()).group_by(Entry.feed_id)
            if limit is not None or offset:
                query = query.where(Entry.feed_id.in_([f.id for f in rows]))
            counts = {feed_id: count for feed_id, count in s.execute(query)}
        return [view(f, now, entries=counts.get(f.id, 0), entity=names.get(f.entity_id or 0)) for f in rows]

    return db.run(work)


def failing_feeds(db: Database, *, now: datetime | None = None) -> list[FeedView]:
    """The feeds whose last poll failed and that are not paused, in the order they were added (the overview's
    list: one query for those few, not a view of every feed)."""
    return db.run(lambda s: [v for v in (view(f, now) for f in s.scalars(
        select(Feed).where(Feed.last_status == "error").order_by(Feed.id))) if v.failing])


def _entity_names(s: Session, rows: Sequence[Feed]) -> dict[int, str]:
    """The names of the entities the searches among ``rows`` belong to, by id."""
    ids = {f.entity_id for f in rows if f.entity_id is not None}
    if not ids:
        return {}
    return dict(s.execute(select(Entity.id, Entity.name).where(Entity.id.in_(ids))).tuples().all())


def count_feeds(db: Database) -> int:
    """How many feeds there are."""
    return int(db.run(lambda s: s.scalar(select(func.count()).select_from(Feed))) or 0)


def get_feed(db: Database, id_or_url: str, *, now: datetime | None = None, count_entries: bool = False) -> FeedView:
    def work(s: Session) -> FeedView:
        feed = find_feed(s, id_or_url)
        return view(feed, now, entries=_entries(s, feed.id) if count_entries else None,
                    entity=_entity_names(s, [feed]).get(feed.entity_id or 0))

    return db.run(work)


def _seconds(text: str, name: str, *, zero: bool = False) -> float:
    try:
        seconds = parse_duration(text.strip())
    except ValueError as exc:
        raise InvalidError(str(exc), field=name) from exc
    if seconds < 0 or (seconds == 0 and not zero):
        raise InvalidError("must be longer than zero", field=name)
    return seconds


def edit_feed(db: Database, id_or_url: str, changes: FeedChanges, *, now: datetime | None = None) -> FeedView:
    """Change a feed in place (its entries, articles and state kept). A shorter fixed interval takes effect
    at once: the next poll is no later than one new interval from now."""
    now = now or utcnow()
    if changes.is_empty():
        raise InvalidError("nothing to change: give at least one option (see `veille feeds edit --help`)")
    if changes.every is not None and changes.adaptive:
        raise InvalidError("--every sets a fixed interval, --adaptive lets the feed's pace decide: give one")
    every = _seconds(changes.every, "every") if changes.every is not None else None
    backfill = _seconds(changes.backfill, "backfill", zero=True) if changes.backfill is not None else None
    if changes.feed_text is not None and changes.feed_text not in FEED_TEXT:
        raise InvalidError(f"must be {', '.join(FEED_TEXT[:-1])} or {FEED_TEXT[-1]}", field="feed_text")

    def work(s: Session) -> FeedView:
        feed = find_feed(s, id_or_url)
        if every is not None:
            feed.interval, feed.interval_fixed = every, True
            feed.next_poll_at = min(feed.next_poll_at, now + timedelta(seconds=every))
        if changes.adaptive:
            feed.interval_fixed = False
        if changes.title is not None:
            feed.title = changes.title.strip()[:1024] or None
        if changes.tags or changes.clear_tags:
            kept = [] if changes.clear_tags else list(feed.tags or ())
            feed.tags = [t for t in dict.fromkeys(t.strip() for t in [*kept, *changes.tags]) if t]
        if backfill is not None:
            feed.backfill = backfill
        if changes.feed_text is not None:
            feed.feed_text = changes.feed_text
        s.flush()
        return view(feed, now)

    return db.run(work)


def pause_feed(
    db: Database, id_or_url: str, *, duration: str | None = None, until: str | None = None,
    now: datetime | None = None,
) -> FeedView:
    """Stop polling a feed for ``duration``, until ``until``, or until resumed."""
    now = now or utcnow()
    end = pause_end(duration=duration, until=until, now=now)

    def work(s: Session) -> FeedView:
        feed = find_feed(s, id_or_url)
        pauses.pause(feed, end)
        return view(feed, now)

    return db.run(work)


def resume_feed(db: Database, id_or_url: str, *, now: datetime | None = None) -> FeedView:
    """Poll the feed again, at once."""
    now = now or utcnow()

    def work(s: Session) -> FeedView:
        feed = find_feed(s, id_or_url)
        pauses.resume(feed)
        feed.next_poll_at = now
        return view(feed, now)

    return db.run(work)


def feed_removal_impact(db: Database, id_or_url: str) -> FeedImpact:
    def work(s: Session) -> FeedImpact:
        feed = find_feed(s, id_or_url)
        return FeedImpact(feed.id, feed.url, _entries(s, feed.id))

    return db.run(work)


def remove_feed(db: Database, id_or_url: str) -> FeedRemoved:
    """Remove a feed and its entries; its articles stay, with their matches and alerts."""

    def work(s: Session) -> FeedRemoved:
        feed = find_feed(s, id_or_url)
        removed = FeedRemoved(feed.id, feed.url, _entries(s, feed.id))
        s.delete(feed)
        return removed

    return db.run(work)


def _entries(s: Session, feed_id: int) -> int:
    return s.scalar(select(func.count()).select_from(Entry).where(Entry.feed_id == feed_id)) or 0
