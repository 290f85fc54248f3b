"""`veille feeds`: feeds to poll."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from veille import http, pipeline
from veille.cli.app import app, feeds_app  # noqa: F401
from veille.cli.common import ago, context, duration_option, err, fail, iso, out, print_json
from veille.feeds.opml import OPMLError, OPMLFeed, parse_opml, render_opml
from veille.feeds.parse import FeedParseError, parse_feed
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


async def first_fetch(settings: Settings, url: str) -> str:
    async with http.make_client(settings) as client:
        try:
            response = await http.fetch(client, url, max_bytes=settings.max_feed_bytes)
            parsed = parse_feed(response.content, url=response.url, headers=dict(response.headers))
        except (http.FetchError, FeedParseError) as exc:
            return f"error: {exc}"
    return f"ok: {parsed.title or 'untitled'}, {len(parsed.entries)} entries"


def feed_title(settings: Settings, result: str) -> str | None:
    prefix = "ok: "
    if result.startswith(prefix):
        return result[len(prefix) :].rsplit(", ", 1)[0]
    return None


@feeds_app.command("add")
def feeds_add(
    url: str,
    every: Annotated[str | None, typer.Option("--every", help="Fixed interval, e.g. 10s, 5m, 1h.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    feed_text: Annotated[
        str, typer.Option("--feed-text", help="Use the feed's own full text: auto, always or never.")
    ] = "auto",
) -> None:
    """Add a feed, fetch it once and print the result; prints the feed's id."""
    ctx = context()
    interval = duration_option(every, "--every")
    if feed_text not in ("auto", "always", "never"):
        raise fail("--feed-text must be auto, always or never", 2)
    url = check_feed_url(ctx.settings, url)
    existing = ctx.db.run(lambda s: s.scalar(select(Feed.id).where(Feed.url == url)))
    if existing is not None:
        raise fail(f"feed already added (id {existing}): {url}")
    result = pipeline.run_async(first_fetch(ctx.settings, url))

    def add(s: Session) -> int:
        feed = Feed(
            url=url,
            title=feed_title(ctx.settings, result),
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
    err.print(f"added feed {feed_id}: {url} (every {every_text}); {result}")


def feed_row(feed: Feed) -> dict[str, Any]:
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "tags": feed.tags,
        "enabled": feed.enabled,
        "interval": feed.interval,
        "interval_fixed": feed.interval_fixed,
        "last_poll": iso(feed.last_poll_at),
        "last_status": feed.last_status,
        "error": feed.last_error,
        "next_poll": iso(feed.next_poll_at),
    }


@feeds_app.command("list")
def feeds_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List feeds."""
    ctx = context()
    feeds = ctx.db.run(lambda s: s.scalars(select(Feed).order_by(Feed.id)).all())
    if as_json:
        print_json([feed_row(f) for f in feeds])
        return
    table = Table("id", "url", "title", "every", "last poll", "status")
    for f in feeds:
        table.add_row(str(f.id), f.url, f.title or "", format_duration(f.interval), ago(f.last_poll_at),
                      f.last_status or "-")
    out.print(table)


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
