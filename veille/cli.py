"""The `veille` command."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from veille import __version__, http, pipeline
from veille.feeds.opml import OPMLError, OPMLFeed, parse_opml, render_opml
from veille.feeds.parse import FeedParseError, parse_feed
from veille.matching import QuerySyntaxError, fold_term
from veille.settings import Settings, SettingsError, format_duration, get_settings, parse_duration
from veille.storage.db import DatabaseError, rowcount
from veille.storage.models import Alert, Article, Channel, Entity, Feed, Match, utcnow

app = typer.Typer(help="veille: news monitoring for the AI industry.", no_args_is_help=True, add_completion=False)
feeds_app = typer.Typer(help="Feeds to poll.", no_args_is_help=True)
track_app = typer.Typer(help="Tracked entities: labs, companies, people, products.", no_args_is_help=True)
channels_app = typer.Typer(help="Where alerts go: Slack, email, webhooks.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(track_app, name="track")
app.add_typer(channels_app, name="channels")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("veille")


class UsageError(Exception):
    """A command can't do what was asked; the message says why. Exit status 1."""


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "trafilatura", "htmldate", "charset_normalizer", "readability"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def context() -> pipeline.Context:
    """Settings, logging and an upgraded database: every command starts here."""
    try:
        settings = get_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from exc
    setup_logging(settings)
    ctx = pipeline.make_context(settings)
    try:
        ctx.db.upgrade()
    except DatabaseError as exc:
        raise fail(str(exc), 2) from exc
    return ctx


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = ((now or utcnow()) - value).total_seconds()
    when = "ago" if seconds >= 0 else "from now"
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} {when}"
    return f"{int(seconds)}s {when}"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def duration_option(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise fail(f"{name}: {exc}", 2) from exc
    if seconds <= 0:
        raise fail(f"{name}: must be longer than zero", 2)
    return seconds


@app.callback(invoke_without_command=True)
def main_callback(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        out.print(f"veille {__version__}")
        raise typer.Exit(0)


# --------------------------------------------------------------------------- init


STARTER_OPML = "starter-feeds.opml"
STARTER_WATCHLIST = "starter-watchlist.json"


@app.command()
def init(
    starter: Annotated[bool, typer.Option("--starter", help="Load the starter feeds and watchlist if empty.")] = False,
) -> None:
    """Create or upgrade the database; with --starter, seed an empty one with the starter lists."""
    ctx = context()
    if not starter:
        out.print("database is up to date")
        return

    def seed(s: Session) -> tuple[int, int] | None:
        if s.scalar(select(func.count()).select_from(Feed)) or s.scalar(select(func.count()).select_from(Entity)):
            return None
        data = resources.files("veille") / "data"
        feeds = parse_opml(data.joinpath(STARTER_OPML).read_bytes()).feeds
        for item in feeds:
            s.add(Feed(url=item.url, title=item.title, tags=list(item.tags), interval=ctx.settings.poll_interval))
        watchlist = json.loads(data.joinpath(STARTER_WATCHLIST).read_text(encoding="utf-8"))
        for item in watchlist:
            s.add(new_entity(item["name"], item.get("aliases", []), item.get("excludes", []), item.get("options", {})))
        return len(feeds), len(watchlist)

    seeded = ctx.db.run(seed)
    if seeded is None:
        out.print("database already has feeds or entities: starter lists not loaded")
    else:
        out.print(f"loaded the starter lists: {seeded[0]} feeds, {seeded[1]} tracked entities")


# --------------------------------------------------------------------------- feeds


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


# --------------------------------------------------------------------------- track


def new_entity(name: str, aliases: Sequence[str], excludes: Sequence[str], options: dict[str, Any]) -> Entity:
    return Entity(
        name=name,
        name_key=fold_term(name),
        aliases=[a for a in dict.fromkeys(a.strip() for a in aliases) if a],
        excludes=[e for e in dict.fromkeys(e.strip() for e in excludes) if e],
        options=options,
    )


@track_app.command("add")
def track_add(
    name: str,
    alias: Annotated[list[str] | None, typer.Option("--alias", help="Another name (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="A word that vetoes (repeatable).")] = None,
    alias_exact: Annotated[
        list[str] | None, typer.Option("--alias-exact", help="A case-sensitive alias (repeatable).")
    ] = None,
    require: Annotated[
        str | None, typer.Option("--require", help="Comma-separated context words; one must appear.")
    ] = None,
    exact: Annotated[bool, typer.Option("--exact", help="The name itself is case-sensitive.")] = False,
    query: Annotated[str | None, typer.Option("--query", help='Query: "phrase", OR, -word, ( ), intitle:, site:')]
    = None,
    min_mentions: Annotated[int, typer.Option("--min-mentions", min=1)] = 1,
    in_title: Annotated[bool, typer.Option("--in-title", help="Only when named in the title.")] = False,
) -> None:
    """Track an entity."""
    ctx = context()
    name = name.strip()
    if not name or not fold_term(name).strip():
        raise fail("the name must contain letters or digits", 2)
    options: dict[str, Any] = {}
    if alias_exact:
        options["exact_aliases"] = [a.strip() for a in alias_exact if a.strip()]
    if require:
        options["require"] = [w.strip() for w in require.split(",") if w.strip()]
    if exact:
        options["exact"] = True
    if query:
        options["query"] = query
    if min_mentions > 1:
        options["min_mentions"] = min_mentions
    if in_title:
        options["in_title"] = True
    entity = new_entity(name, alias or [], exclude or [], options)
    try:
        pipeline.Matcher([pipeline.entity_spec(entity)])
    except QuerySyntaxError as exc:
        raise fail(f"--query: {exc}", 2) from exc

    def add(s: Session) -> bool:
        if s.scalar(select(Entity.id).where(Entity.name_key == entity.name_key)) is not None:
            return False
        s.add(entity)
        return True

    if not ctx.db.run(add):
        raise fail(f"already tracked: {name}")
    out.print(f"tracking {name}")


@track_app.command("list")
def track_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tracked entities."""
    ctx = context()
    entities = ctx.db.run(lambda s: s.scalars(select(Entity).order_by(Entity.name)).all())
    rows = [
        {"name": e.name, "aliases": e.aliases, "excludes": e.excludes, "enabled": e.enabled, **(e.options or {})}
        for e in entities
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "aliases", "excludes", "options")
    for e in entities:
        table.add_row(e.name, ", ".join(e.aliases), ", ".join(e.excludes),
                      json.dumps(e.options, ensure_ascii=False) if e.options else "")
    out.print(table)


@track_app.command("remove")
def track_remove(name: str) -> None:
    """Stop tracking an entity."""
    ctx = context()
    removed = ctx.db.run(lambda s: rowcount(s.execute(delete(Entity).where(Entity.name_key == fold_term(name)))))
    if not removed:
        raise fail(f"not tracked: {name}")
    out.print(f"stopped tracking {name}")


# --------------------------------------------------------------------------- channels


@channels_app.command("add")
def channels_add(
    kind: Annotated[str, typer.Argument(help="slack, email or webhook")],
    target: Annotated[str, typer.Argument(help="Webhook URL or email address")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="Webhook: HMAC-SHA256 signing secret.")] = None,
) -> None:
    """Add a channel (sends nothing; `veille channels test` does)."""
    from veille.alerts import validate_target

    ctx = context()
    kind = kind.lower()
    if kind not in ("slack", "email", "webhook"):
        raise fail(f"unknown channel kind {kind!r}: use slack, email or webhook", 2)
    try:
        target = validate_target(kind, target)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    options = {"secret": secret} if secret else {}

    def add(s: Session) -> str | None:
        taken = set(s.scalars(select(Channel.name)))
        chosen = name or next(n for n in (kind, *(f"{kind}-{i}" for i in range(2, 10_000))) if n not in taken)
        if chosen in taken:
            return None
        s.add(Channel(name=chosen, kind=kind, target=target, options=options))
        return chosen

    added = ctx.db.run(add)
    if added is None:
        raise fail(f"a channel is already named {name!r}")
    out.print(f"added channel {added} ({kind})")


def channel_row(c: Channel) -> dict[str, Any]:
    return {
        "name": c.name,
        "kind": c.kind,
        "target": c.target,
        "enabled": c.enabled,
        "state": c.state,
        "last_error": c.last_error,
        "since": iso(c.state_since),
    }


@channels_app.command("list")
def channels_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List channels."""
    ctx = context()
    channels = ctx.db.run(lambda s: s.scalars(select(Channel).order_by(Channel.name)).all())
    if as_json:
        print_json([channel_row(c) for c in channels])
        return
    table = Table("name", "kind", "target", "state", "last error")
    for c in channels:
        table.add_row(c.name, c.kind, c.target, c.state, c.last_error or "")
    out.print(table)


@channels_app.command("remove")
def channels_remove(name: str) -> None:
    """Remove a channel."""
    ctx = context()
    removed = ctx.db.run(lambda s: rowcount(s.execute(delete(Channel).where(Channel.name == name))))
    if not removed:
        raise fail(f"no channel named {name!r}")
    out.print(f"removed channel {name}")


@channels_app.command("test")
def channels_test(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Send a test message to one channel, or to every channel; a success marks the channel ok."""
    from veille.alerts import AlertError, make_transport

    ctx = context()
    channels = ctx.db.run(
        lambda s: s.scalars(select(Channel).where(Channel.name == name) if name else select(Channel)).all()
    )
    if not channels:
        raise fail(f"no channel named {name!r}" if name else "no channel configured")
    failed = 0
    for channel in channels:
        try:
            make_transport(channel.kind, channel.target, channel.options or {}, ctx.settings).send_text(
                "veille test message", f"This is a test from veille {__version__}: channel {channel.name} works."
            )
        except AlertError as exc:
            failed += 1
            err.print(f"{channel.name}: failed: {exc}")
            if exc.permanent:
                ctx.db.run(mark_channel, channel.id, "failing", str(exc))
            continue
        ctx.db.run(mark_channel, channel.id, "ok", None)
        out.print(f"{channel.name}: ok")
    if failed:
        raise typer.Exit(1)


def mark_channel(s: Session, channel_id: int, state: str, error: str | None) -> None:
    channel = s.get_one(Channel, channel_id)
    if channel.state != state:
        channel.state, channel.state_since = state, utcnow()
    channel.last_error = error


# --------------------------------------------------------------------------- poll, run


@app.command()
def poll() -> None:
    """Poll every enabled feed now, fetch, match and deliver, in-process; then exit."""
    ctx = context()
    summary = pipeline.poll_once(ctx)
    feeds_ok = sum(1 for r in summary.feeds if r.status == "ok")
    not_modified = sum(1 for r in summary.feeds if r.status == "not modified")
    errors = [r for r in summary.feeds if r.status == "error"]
    new = sum(len(r.new_articles) + len(r.ready_articles) for r in summary.feeds)
    out.print(
        f"polled {len(summary.feeds)} feeds ({feeds_ok} ok, {not_modified} not modified, {len(errors)} errors); "
        f"{new} new articles, {summary.pages} pages fetched, {summary.articles_matched} matched; "
        f"alerts: {summary.count('sent')} sent, {summary.count('pending')} to retry, {summary.count('failed')} failed "
        f"in {summary.seconds:.1f}s"
    )
    for result in errors:
        err.print(f"feed {result.feed_id}: {result.error}")


@app.command()
def run(
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", help="Worker processes.")] = None,
    no_beat: Annotated[bool, typer.Option("--no-beat", help="Worker only (beat runs elsewhere).")] = False,
) -> None:
    """The background service: a Celery worker with its beat."""
    ctx = context()
    from worker import app as celery_app  # Celery is only imported by the command that runs it

    data_dir = ctx.settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "worker",
        f"--loglevel={ctx.settings.log_level}",
        f"--concurrency={concurrency or ctx.settings.worker_concurrency}",
        "--queues=polls,pages,alerts,celery",
        "--without-gossip",
        "--without-mingle",
    ]
    if not no_beat:
        argv += ["--beat", f"--schedule={(data_dir / 'celerybeat-schedule').resolve()}"]
    celery_app.worker_main(argv)


# --------------------------------------------------------------------------- matches, status


@app.command()
def matches(
    entity: Annotated[str | None, typer.Option("--entity")] = None,
    since: Annotated[str | None, typer.Option("--since", help="e.g. 7d: only matches made since then.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Matched articles, newest first."""
    ctx = context()
    window = duration_option(since, "--since")

    def load(s: Session) -> list[dict[str, Any]]:
        query = (
            select(Match, Entity.name, Article, Feed.title, Feed.url)
            .join(Entity, Entity.id == Match.entity_id)
            .join(Article, Article.id == Match.article_id)
            .outerjoin(Feed, Feed.id == Article.feed_id)
            .order_by(Match.matched_at.desc(), Match.id.desc())
        )
        if entity:
            query = query.where(Entity.name_key == fold_term(entity))
        if window:
            query = query.where(Match.matched_at >= utcnow() - timedelta(seconds=window))
        return [
            {
                "entity": name,
                "title": article.title,
                "url": article.canonical_url or article.url,
                "feed": feed_title or feed_url,
                "snippet": match.snippet,
                "term": match.term,
                "count": match.count,
                "in_title": match.in_title,
                "published": iso(article.published_at),
                "matched_at": iso(match.matched_at),
            }
            for match, name, article, feed_title, feed_url in s.execute(query)
        ]

    rows = ctx.db.run(load)
    if as_json:
        print_json(rows)
        return
    table = Table("matched", "entity", "title", "feed")
    for row in rows:
        table.add_row(row["matched_at"][:16].replace("T", " "), row["entity"], f"{row['title']}\n{row['url']}",
                      row["feed"] or "")
    out.print(table)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when a feed or channel is failing.")] = False,
) -> None:
    """Feeds, channels and alerts at a glance."""
    ctx = context()

    def load(s: Session) -> dict[str, Any]:
        pending, failed = pipeline.count_pending(s)
        backlog = s.scalar(
            select(func.count()).select_from(Article).where(or_(Article.state == "new", Article.state == "fetching"))
        )
        return {
            "feeds": [feed_row(f) for f in s.scalars(select(Feed).order_by(Feed.id))],
            "channels": [channel_row(c) for c in s.scalars(select(Channel).order_by(Channel.name))],
            "alerts": {
                "pending": pending,
                "failed": failed,
                "sent": s.scalar(select(func.count()).select_from(Alert).where(Alert.status == "sent")) or 0,
            },
            "articles": {
                "total": s.scalar(select(func.count()).select_from(Article)) or 0,
                "waiting_for_page": backlog or 0,
            },
            "entities": s.scalar(select(func.count()).select_from(Entity)) or 0,
        }

    report = ctx.db.run(load)
    failing = [f for f in report["feeds"] if f["last_status"] == "error"] + [
        c for c in report["channels"] if c["state"] == "failing"
    ]
    if as_json:
        print_json(report)
    else:
        now = utcnow()
        table = Table("feed", "last poll", "status", "next poll", title="feeds")
        for f in report["feeds"]:
            state = f["last_status"] or "not polled yet"
            if f["error"]:
                state = f"[red]{state}: {f['error']}[/red]"
            table.add_row(f["title"] or f["url"], ago(parse_iso(f["last_poll"]), now), state,
                          ago(parse_iso(f["next_poll"]), now))
        out.print(table)
        channels = Table("channel", "kind", "state", "since", "last error", title="channels")
        for c in report["channels"]:
            state = c["state"] if c["state"] == "ok" else f"[red]{c['state']}[/red]"
            channels.add_row(c["name"], c["kind"], state, ago(parse_iso(c["since"]), now), c["last_error"] or "")
        out.print(channels)
        alerts = report["alerts"]
        out.print(f"alerts: {alerts['sent']} sent, {alerts['pending']} pending, {alerts['failed']} failed; "
                  f"{report['entities']} tracked entities; {report['articles']['total']} articles")
    if check and failing:
        raise typer.Exit(1)


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --------------------------------------------------------------------------- explain


def load_page(settings: Settings, source: str) -> tuple[str, Any]:
    """(url, Article) for a URL (fetched through the guarded client) or a local HTML file."""
    from veille.pages.extract import extract_article
    from veille.pages.fetch import fetch_page

    path = Path(source)
    if "://" not in source or source.startswith("file://"):
        path = Path(source.removeprefix("file://"))
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise fail(f"cannot read {source}: {exc.strerror}") from exc
        url = path.resolve().as_uri()
        return url, extract_article(content, url=url)

    async def get() -> Any:
        async with http.make_client(settings) as client:
            return await fetch_page(client, source, max_bytes=settings.max_page_bytes)

    try:
        page = pipeline.run_async(get())
    except http.FetchError as exc:
        raise fail(f"{source}: {exc}") from exc
    if page.article is None:
        raise fail(f"{source}: skipped: {page.skipped}")
    return page.url, page.article


@app.command()
def explain(
    source: Annotated[str, typer.Argument(metavar="URL_OR_FILE")],
    entity: Annotated[str | None, typer.Option("--entity", help="Only this entity.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the extracted text of one page and which tracked entities match it, where and why."""
    ctx = context()
    url, article = load_page(ctx.settings, source)
    matcher, entities = ctx.db.run(pipeline.load_matcher)
    if entity:
        chosen = [e for e in entities.values() if e.name_key == fold_term(entity)]
        if not chosen:
            raise fail(f"not tracked: {entity}")
        matcher = pipeline.Matcher([pipeline.entity_spec(chosen[0])])
    report = pipeline.match_text(matcher, title=article.title, text=article.text,
                                 url=article.canonical_url or url)
    result = {
        "url": url,
        "canonical_url": article.canonical_url,
        "title": article.title,
        "published": iso(article.published),
        "language": article.language,
        "text": article.text,
        "matches": [
            {"entity": h.entity, "term": h.term, "snippet": h.snippet, "count": h.count, "in_title": h.in_title}
            for h in report.matches
        ],
        "vetoed": [{"entity": v.entity, "reason": v.reason, "term": v.term} for v in report.vetoed],
    }
    if as_json:
        print_json(result)
        return
    out.print(f"[bold]{article.title}[/bold]\n{article.canonical_url or url}\n", markup=True)
    out.print(article.text[:2000] + ("…" if len(article.text) > 2000 else ""), markup=False)
    out.print()
    if not report.matches and not report.vetoed:
        out.print("no tracked entity is mentioned")
    for hit in report.matches:
        out.print(f"[green]match[/green] {hit.entity} via {hit.term!r} ({hit.count}x"
                  f"{', in title' if hit.in_title else ''}): {hit.snippet}", markup=True)
    for veto in report.vetoed:
        out.print(f"[yellow]vetoed[/yellow] {veto.entity}: {veto.reason}", markup=True)


def main() -> None:
    try:
        app()
    except (DatabaseError, SettingsError) as exc:
        err.print(f"error: {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
