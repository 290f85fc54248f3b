"""`veille feeds`: feeds to poll."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from veille.cli.app import app, feeds_app  # noqa: F401
from veille.cli.common import (
    JsonOption,
    LimitOption,
    PauseForOption,
    PauseUntilOption,
    ago,
    attempt,
    confirm,
    context,
    duration_option,
    err,
    fail,
    fail_on,
    out,
    print_json,
    print_table,
    resumes,
)
from veille.manage import OperationError
from veille.manage import feeds as manage_feeds
from veille.manage.errors import InvalidError
from veille.manage.feeds import (
    FeedSearch,
    SeveralFeedsError,
    add_feed,
    check_options,
    export_feeds,
    find_feeds,
    import_feeds,
)
from veille.settings import format_duration, parse_duration


def backfill_option(value: str | None) -> float | None:
    """``--backfill``: a duration, ``0`` allowed (alert on nothing already there)."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise fail(f"--backfill: {exc}", 2) from exc


def entries_text(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def add_command(url: str, options: Sequence[str]) -> str:
    """The command that adds ``url`` with the options given, quoted for a shell."""
    return " ".join(shlex.quote(word) for word in ("veille", "feeds", "add", url, *options))


def print_candidates(search: FeedSearch) -> None:
    """--dry-run: the feeds found, one a line on stdout (URL, entries, title, tab-separated; ``*`` marks the
    one that would be added), and what was tried in vain on stderr."""
    chosen = search.chosen
    for found in search.feeds:
        mark = "*" if found is chosen else " "
        known = f"\t(already added, id {found.known})" if found.known is not None else ""
        sys.stdout.write(f"{mark} {found.url}\t{entries_text(found.entries)}\t{found.title or 'untitled'}{known}\n")
    declared = [c for c in search.failed if c.how == "link"]
    for candidate in declared:
        err.print(f"declared by the page but not a feed: {candidate.url}: {candidate.error}", markup=False)
    paths = [c for c in search.failed if c.how == "path"]
    if paths:
        err.print(f"not a feed: {', '.join(c.url for c in paths)}", markup=False)


def print_links(preview: manage_feeds.PagePreview, *, as_json: bool) -> None:
    """--page --dry-run: the article links a page source would take now, one URL a line (--json: objects with
    url, title, published); how many on stderr. None found: the command's error."""
    if as_json:
        print_json(preview.as_json())
    else:
        for link in preview.links:
            sys.stdout.write(f"{link.url}\n")
    if not preview.links:
        hint = "" if preview.any_site else " (links to other sites count with --any-site)"
        raise fail(f"no article links found at {preview.url}{hint}")
    err.print(f"would take {len(preview.links)} article link{'' if len(preview.links) == 1 else 's'} from "
              f"{preview.title or preview.url}", markup=False)


def print_several(error: SeveralFeedsError, options: Sequence[str]) -> None:
    """A page that names several feeds: each with the command that adds it (on stderr, after the error)."""
    width = max(len(add_command(f.url, options)) for f in error.feeds)
    for found in error.feeds:
        about = f"{entries_text(found.entries)}: {found.title or 'untitled'}"
        if found.known is not None:
            about += f" (already added, id {found.known})"
        err.print(f"  {add_command(found.url, options):<{width}}  # {about}", markup=False)


HOW = {"link": "declared by the page", "path": "at a common feed path"}


ADD_HELP = (
    "Add a feed after fetching it once; prints the feed's id.\n\n"
    "URL may be a site's page: the feed it declares (link rel=alternate) is added, else the first of "
    "/feed, /rss.xml, /atom.xml, /feed.xml, /index.xml, /rss that is a feed. A page declaring several feeds "
    "adds none: each is listed with the command that adds it. A URL that does not answer, or is not a feed "
    "and names none, is refused (exit 1) unless --force.\n\n"
    "With --page, URL is watched as a listing page (a newsroom, a blog index): each poll's new article links "
    "are its items, on the page's own site unless --any-site. --page --dry-run prints the links it would take."
)


@feeds_app.command("add", help=ADD_HELP)
def feeds_add(
    url: str,
    every: Annotated[str | None, typer.Option("--every", help="Fixed interval, e.g. 10s, 5m, 1h.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    feed_text: Annotated[
        str, typer.Option("--feed-text", help="Use the feed's own full text: auto, always or never.")
    ] = "auto",
    backfill: Annotated[
        str | None,
        typer.Option("--backfill", help="On the first poll, alert only on items published this recently, e.g. "
                                        "7d; 0: on nothing already there (default: VEILLE_BACKFILL)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Add the URL even when it does not answer or is not a feed now "
                                           "(a feed that is down today).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the feeds found at URL (URL, entries, title); with --page, the "
                                             "article links it would take, one URL a line; add nothing.")
    ] = False,
    page: Annotated[
        bool, typer.Option("--page", help="Watch URL as a listing page without a feed (a newsroom, a blog index): "
                                          "its new article links are its items.")
    ] = False,
    any_site: Annotated[
        bool, typer.Option("--any-site", help="With --page: take article links to other sites too (default: the "
                                              "page's own site and its subdomains).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --page --dry-run: the links as JSON (url, title, published).")
    ] = False,
) -> None:
    """Add a feed (or the feed a site's page leads to) after fetching it once; prints its id."""
    ctx = context()
    interval = duration_option(every, "--every")
    backfill_seconds = backfill_option(backfill)
    if any_site and not page:
        raise fail("--any-site is for a page source: give --page too", 2)
    if as_json and not (page and dry_run):
        raise fail("--json goes with --page --dry-run", 2)
    if page and feed_text != "auto":
        raise fail("--feed-text is for a feed: a page source's articles are always fetched", 2)
    try:
        check_options(every=interval, feed_text=feed_text, backfill=backfill_seconds)
        if page and dry_run:
            preview = manage_feeds.preview_page(ctx, url, any_site=any_site)
        elif dry_run:
            search = find_feeds(ctx, url)
        else:
            added = add_feed(ctx, url, every=interval, tags=tag or (), feed_text=feed_text,
                             backfill=backfill_seconds, force=force, page=page, any_site=any_site)
    except SeveralFeedsError as exc:
        options = [*(["--every", every] if every else []), *(w for t in tag or () for w in ("--tag", t)),
                   *(["--feed-text", feed_text] if feed_text != "auto" else []),
                   *(["--backfill", backfill] if backfill is not None else [])]
        failure = fail_on(exc)
        print_several(exc, options)
        raise failure from exc
    except OperationError as exc:
        raise fail_on(exc) from exc
    if page and dry_run:
        print_links(preview, as_json=as_json)
        return
    if dry_run:
        print_candidates(search)
        if not search.feeds:
            hint = f"; {manage_feeds.PAGE_HINT}" if search.html else ""
            raise fail(f"{search.error or f'no feed found at {search.url}'}{hint}")
        if search.chosen is None:
            err.print(f"would add none: {len(search.feeds)} feeds found; add the one you want with "
                      "`veille feeds add URL`", markup=False)
        else:
            known = search.chosen.known
            note = f" (already added, id {known})" if known is not None else ""
            err.print(f"would add {search.chosen.url}{note}", markup=False)
        return
    if added.url != added.given:
        err.print(f"found {added.url} ({HOW[added.how]} at {added.given})", markup=False)
    out.print(str(added.id))
    every_text = format_duration(added.interval) if added.interval_fixed else \
        f"{format_duration(added.interval)}, adaptive"
    back = f", backfill {format_duration(added.backfill)}" if added.backfill is not None else ""
    if added.warning is not None:
        err.print(f"warning: {added.warning}; added anyway (--force): `veille status` shows its error until it "
                  "works", markup=False)
        err.print(f"added feed {added.id}: {added.url} (every {every_text}{back})", markup=False)
        return
    if added.kind == "page":
        links = f"{added.entries or 0} article link{'' if added.entries == 1 else 's'} found now"
        err.print(f"added page {added.id}: {added.url} (every {every_text}{back}); ok: {added.title or 'untitled'}, "
                  f"{links}", markup=False)
        return
    result = f"ok: {added.title or 'untitled'}, {entries_text(added.entries or 0)}"
    err.print(f"added feed {added.id}: {added.url} (every {every_text}{back}); {result}", markup=False)


@feeds_app.command("list")
def feeds_list(as_json: JsonOption = False, limit: LimitOption = None) -> None:
    """List feeds (into a pipe: one per line, tab-separated, nothing cut)."""
    ctx = context()
    feeds = attempt(manage_feeds.list_feeds, ctx.db, limit=limit)
    if as_json:
        print_json([f.as_json() for f in feeds])
        return
    print_table(("id", "url", "kind", "title", "every", "last poll", "status"),
                ((f.id, f.url, f.kind, f.title, f.every_text, ago(f.last_poll_at),
                  f.pause.describe() or f.last_status or "-") for f in grouped(feeds)))


def grouped(feeds: Sequence[manage_feeds.FeedView]) -> list[manage_feeds.FeedView]:
    """Sources as lists show them: feeds and pages in the order they were added, then the searches grouped
    under their entity (its name, then the order they were made)."""
    searches = [f for f in feeds if f.kind == "search"]
    searches.sort(key=lambda f: ((f.entity or "").casefold(), f.id))
    return [f for f in feeds if f.kind != "search"] + searches


@feeds_app.command("remove")
def feeds_remove(
    id_or_url: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a feed and its entries (its articles stay, with their matches and alerts). Asks first on a
    terminal (not with --yes)."""
    ctx = context()
    try:
        confirm(manage_feeds.feed_removal_impact(ctx.db, id_or_url).describe(), yes=yes)
        removed = manage_feeds.remove_feed(ctx.db, id_or_url)
    except OperationError as exc:
        raise fail_on(exc) from exc
    out.print(f"removed {removed.url}", markup=False)


@feeds_app.command("edit")
def feeds_edit(
    id_or_url: str,
    every: Annotated[str | None, typer.Option("--every", help="A fixed interval, e.g. 10m, 1h.")] = None,
    adaptive: Annotated[
        bool, typer.Option("--adaptive", help="Let the feed's pace decide the interval again (undoes --every).")
    ] = False,
    title: Annotated[
        str | None, typer.Option("--title", help="Its title in veille ('' goes back to the feed's own title).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Add a tag (repeatable).")] = None,
    clear_tags: Annotated[bool, typer.Option("--clear-tags", help="Remove every tag before adding the --tag ones.")]
    = False,
    backfill: Annotated[
        str | None,
        typer.Option("--backfill", metavar="DURATION", help="Its first poll alerts on items of this period (0: none)."),
    ] = None,
    feed_text: Annotated[
        str | None, typer.Option("--feed-text", help="Use the feed's own full text: auto, always or never.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the feed as `feeds list --json` does.")] = False,
) -> None:
    """Change a feed in place: its entries, articles and history are kept."""
    ctx = context()
    changes = manage_feeds.FeedChanges(every=every, adaptive=adaptive, title=title, tags=tuple(tag or ()),
                                       clear_tags=clear_tags, backfill=backfill, feed_text=feed_text)
    edited = attempt(manage_feeds.edit_feed, ctx.db, id_or_url, changes)
    if as_json:
        print_json(edited.as_json())
        return
    tags = f"; tags: {', '.join(edited.tags)}" if edited.tags else ""
    out.print(f"edited feed {edited.id}: {edited.title or edited.url}, every {edited.every_text}{tags}", markup=False)
    if backfill is not None and edited.first_polled:
        err.print("note: its first poll is done; --backfill applies to a feed's first poll only", markup=False)


@feeds_app.command("pause")
def feeds_pause(id_or_url: str, for_: PauseForOption = None, until: PauseUntilOption = None) -> None:
    """Stop polling a feed until the pause ends (--for, --until) or `veille feeds resume`; it is polled as soon
    as it ends."""
    ctx = context()
    paused = attempt(manage_feeds.pause_feed, ctx.db, id_or_url, duration=for_, until=until)
    again = resumes(paused.pause.until, f"veille feeds resume {paused.id}")
    out.print(f"paused feed {paused.id} ({paused.url}) {again}: it is not polled meanwhile", markup=False)


@feeds_app.command("resume")
def feeds_resume(id_or_url: str) -> None:
    """Resume a paused feed: it is polled at once."""
    ctx = context()
    resumed = attempt(manage_feeds.resume_feed, ctx.db, id_or_url)
    out.print(f"resumed feed {resumed.id} ({resumed.url}): it is polled at once", markup=False)


@feeds_app.command("import")
def feeds_import(
    path: Path,
    backfill: Annotated[
        str | None,
        typer.Option("--backfill", help="Every imported feed's backfill (over the file's), e.g. 7d; 0: alert on "
                                        "nothing already there."),
    ] = None,
) -> None:
    """Import feeds from OPML (folders become tags; veille's own attributes restored); fetches nothing."""
    ctx = context()
    backfill_seconds = backfill_option(backfill)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from exc
    try:
        imported = import_feeds(ctx, content, backfill=backfill_seconds)
    except InvalidError as exc:
        raise fail_on(exc) from exc
    except OperationError as exc:
        raise fail(f"{path}: {exc}") from exc
    invalid = len(imported.invalid) + len(imported.refused)
    out.print(f"added {imported.added}, skipped {imported.skipped} already present, invalid {invalid}")
    for url in imported.refused:
        err.print(f"refused by the address guard, not imported: {url}", markup=False)


@feeds_app.command("export")
def feeds_export() -> None:
    """Print every feed as OPML (tags as folders; fixed interval, backfill, pause, feed text as veille:*
    attributes, which other readers ignore)."""
    ctx = context()
    sys.stdout.write(export_feeds(ctx.db))
