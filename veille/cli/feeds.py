"""`veille feeds`: feeds to poll."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from veille import http, pipeline
from veille.cli.app import app, feeds_app  # noqa: F401
from veille.cli.common import (
    JsonOption,
    LimitOption,
    ago,
    context,
    duration_option,
    err,
    fail,
    iso,
    out,
    print_json,
    print_table,
)
from veille.feeds.discover import Discovery, discover
from veille.feeds.opml import OPMLError, OPMLFeed, parse_opml, render_opml
from veille.settings import Settings, format_duration
from veille.storage.models import Feed, utcnow


def check_feed_url(settings: Settings, url: str) -> str:
    url = url.strip()
    try:
        http.check_scheme(url)
        pipeline.run_async(http.check_url(url, http.AddressGuard.from_settings(settings)))
    except http.BlockedAddressError as exc:
        raise fail(f"refused: {exc}") from exc
    except http.FetchError:
        pass  # does not resolve now: added, and the poll will record the error
    return url


async def discover_feed(settings: Settings, url: str) -> Discovery:
    """Fetch ``url`` once through the guarded client: the feed itself, or the feeds its page points to."""
    async with http.make_client(settings) as client:
        return await discover(client, url, max_bytes=settings.max_feed_bytes)


def print_candidates(found: Discovery) -> None:
    """--dry-run: the feeds found, one a line on stdout (URL, entries, title, tab-separated; ``*`` marks the
    one that would be added), and what was tried in vain on stderr."""
    chosen = found.feed
    for candidate in found.feeds:
        mark = "*" if candidate is chosen else " "
        sys.stdout.write(f"{mark} {candidate.url}\t{candidate.entries} entries\t{candidate.title or 'untitled'}\n")
    declared = [c for c in found.candidates if c.how == "link" and not c.ok]
    for candidate in declared:
        err.print(f"declared by the page but not a feed: {candidate.url}: {candidate.error}", markup=False)
    paths = [c for c in found.candidates if c.how == "path" and not c.ok]
    if paths:
        err.print(f"not a feed: {', '.join(c.url for c in paths)}", markup=False)


HOW = {"link": "declared by the page", "path": "at a common feed path"}


ADD_HELP = (
    "Add a feed, fetch it once and print the result; prints the feed's id.\n\n"
    "URL may be a site's page: the feed it declares (link rel=alternate) is added, else the first of "
    "/feed, /rss.xml, /atom.xml, /feed.xml, /index.xml, /rss that is a feed."
)


@feeds_app.command("add", help=ADD_HELP)
def feeds_add(
    url: str,
    every: Annotated[str | None, typer.Option("--every", help="Fixed interval, e.g. 10s, 5m, 1h.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    feed_text: Annotated[
        str, typer.Option("--feed-text", help="Use the feed's own full text: auto, always or never.")
    ] = "auto",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the feeds found at URL (URL, entries, title); add nothing.")
    ] = False,
) -> None:
    """Add a feed (or the feed a site's page leads to), fetch it once and print the result and its id."""
    ctx = context()
    interval = duration_option(every, "--every")
    if feed_text not in ("auto", "always", "never"):
        raise fail("--feed-text must be auto, always or never", 2)
    url = check_feed_url(ctx.settings, url)

    def already(s: Session, feed_url: str) -> int | None:
        return s.scalar(select(Feed.id).where(Feed.url == feed_url))

    existing = ctx.db.run(already, url)
    if existing is not None and not dry_run:
        raise fail(f"feed already added (id {existing}): {url}")
    found: Discovery = pipeline.run_async(discover_feed(ctx.settings, url))
    chosen = found.feed
    if dry_run:
        print_candidates(found)
        if chosen is None:
            raise fail(found.error or f"no feed found at {url}")
        known = ctx.db.run(already, chosen.url)
        note = f" (already added, id {known})" if known is not None else ""
        err.print(f"would add {chosen.url}{note}", markup=False)
        return
    if chosen is None:
        # added anyway, as a feed that answers with an error: `veille status` shows it until it works
        feed_url, title, result = url, None, f"error: {found.error}"
    else:
        feed_url, title = chosen.url, chosen.title
        result = f"ok: {title or 'untitled'}, {chosen.entries} entries"
        if feed_url != url:
            existing = ctx.db.run(already, feed_url)
            if existing is not None:
                raise fail(f"feed already added (id {existing}): {feed_url} (found at {url})")
            others = len(found.feeds) - 1
            more = f"; {others} other feed(s) there, see --dry-run" if others else ""
            err.print(f"found {feed_url} ({HOW[chosen.how]} at {url}){more}", markup=False)

    def add(s: Session) -> int:
        feed = Feed(
            url=feed_url,
            title=title,
            tags=list(tag or []),
            interval=interval or ctx.settings.poll_interval,
            interval_fixed=interval is not None,
            feed_text=feed_text,
            next_poll_at=utcnow(),
        )
        s.add(feed)
        s.flush()
        return feed.id

    feed_id = ctx.db.run(add)
    out.print(str(feed_id))
    every_text = format_duration(interval or ctx.settings.poll_interval)
    err.print(f"added feed {feed_id}: {feed_url} (every {every_text}); {result}", markup=False)


def rough_duration(seconds: float) -> str:
    """A learned interval, rounded for reading: 45s, 12m, 2.5h, 1d."""
    for unit, size, limit in (("s", 1, 90), ("m", 60, 90 * 60), ("h", 3600, 36 * 3600)):
        if seconds < limit:
            return f"{round(seconds / size, 0 if unit == 'm' else 1):g}{unit}"
    return f"{round(seconds / 86400, 1):g}d"


def every(feed: Feed) -> str:
    """The feed's interval and how it is chosen: "5m (fixed)" by --every, "12m (adaptive)" learned."""
    if feed.interval_fixed:
        return f"{format_duration(feed.interval)} (fixed)"
    return f"{rough_duration(feed.interval)} (adaptive)"


def feed_row(feed: Feed) -> dict[str, Any]:
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "tags": feed.tags,
        "enabled": feed.enabled,
        "interval": feed.interval,
        "interval_fixed": feed.interval_fixed,
        "interval_mode": "fixed" if feed.interval_fixed else "adaptive",
        "every": every(feed),
        "last_poll": iso(feed.last_poll_at),
        "last_status": feed.last_status,
        "error": feed.last_error,
        "failures": feed.failures,  # consecutive
        "failing_since": iso(feed.failing_since),
        "next_poll": iso(feed.next_poll_at),
    }


@feeds_app.command("list")
def feeds_list(as_json: JsonOption = False, limit: LimitOption = None) -> None:
    """List feeds (into a pipe: one per line, tab-separated, nothing cut)."""
    ctx = context()
    feeds = ctx.db.run(lambda s: s.scalars(select(Feed).order_by(Feed.id).limit(limit)).all())
    if as_json:
        print_json([feed_row(f) for f in feeds])
        return
    print_table(("id", "url", "title", "every", "last poll", "status"),
                ((f.id, f.url, f.title, every(f), ago(f.last_poll_at), f.last_status or "-") for f in feeds))


def find_feed(s: Session, id_or_url: str) -> Feed | None:
    if id_or_url.isdigit():
        return s.get(Feed, int(id_or_url))
    return s.scalar(select(Feed).where(Feed.url == id_or_url.strip()))


@feeds_app.command("remove")
def feeds_remove(id_or_url: str) -> None:
    """Remove a feed (its articles stay, with their matches and alerts)."""
    ctx = context()

    def remove(s: Session) -> str | None:
        feed = find_feed(s, id_or_url)
        if feed is None:
            return None
        s.delete(feed)
        return feed.url

    removed = ctx.db.run(remove)
    if removed is None:
        raise fail(f"no feed {id_or_url}")
    out.print(f"removed {removed}")


@feeds_app.command("import")
def feeds_import(path: Path) -> None:
    """Import feeds from OPML (folders become tags); fetches nothing."""
    ctx = context()
    try:
        parsed = parse_opml(path.read_bytes())
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from exc
    except OPMLError as exc:
        raise fail(f"{path}: {exc}") from exc
    invalid = len(parsed.invalid)
    guard = http.AddressGuard.from_settings(ctx.settings)

    def store(s: Session) -> tuple[int, int, int]:
        added = skipped = bad = 0
        known = set(s.scalars(select(Feed.url)))
        for item in parsed.feeds:
            if item.url in known:
                skipped += 1
                continue
            try:
                pipeline.run_async(http.check_url(item.url, guard))
            except http.BlockedAddressError:
                bad += 1
                continue
            except http.FetchError:
                pass
            s.add(Feed(url=item.url, title=item.title, tags=list(item.tags), site_url=item.site_url,
                       interval=ctx.settings.poll_interval))
            known.add(item.url)
            added += 1
        return added, skipped, bad

    added, skipped, bad = ctx.db.run(store)
    out.print(f"added {added}, skipped {skipped} already present, invalid {invalid + bad}")


@feeds_app.command("export")
def feeds_export() -> None:
    """Print every feed as OPML."""
    ctx = context()
    feeds = ctx.db.run(lambda s: s.scalars(select(Feed).order_by(Feed.id)).all())
    sys.stdout.write(render_opml(OPMLFeed(f.url, f.title, tuple(f.tags or ()), f.site_url) for f in feeds))
