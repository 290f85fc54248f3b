"""`veille init`, `poll`, `run`, `matches`, `status`.

What only one command needs is imported inside it: `veille poll` on unchanged feeds is mostly start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from importlib import resources
from typing import Annotated, Any

import typer
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from veille import pipeline
from veille.cli.app import app
from veille.cli.common import ago, context, duration_option, err, fail, iso, out, plural, print_json
from veille.manage.articles import reason_text
from veille.storage.models import Alert, Article, Channel, Entity, Feed, Match, utcnow

STARTER_OPML = "starter-feeds.opml"
STARTER_WATCHLIST = "starter-watchlist.json"


@app.command()
def init(
    starter: Annotated[bool, typer.Option("--starter", help="Load the starter feeds and watchlist if empty.")] = False,
) -> None:
    """Create or upgrade the database; with --starter, seed an empty one with the starter lists."""
    from veille.cli.track import new_entity
    from veille.feeds.opml import parse_opml

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


@app.command()
def poll(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when any feed, page or delivery failed.")] = False,
) -> None:
    """Poll every feed now (paused ones excepted), fetch, match and deliver, in-process; then exit."""
    ctx = context()
    summary = pipeline.poll_once(ctx)
    out.print(poll_report(summary), markup=False)
    for result in summary.feeds:
        if result.status == "error":
            err.print(f"feed {result.feed_id}: {result.error}", markup=False)
    if check and summary.failed:
        raise typer.Exit(1)


def poll_report(summary: pipeline.PollSummary) -> str:
    """One paragraph: feeds, articles, pages, matches and alerts of a poll, every count with its noun."""
    feeds = summary.feeds
    ok = sum(1 for r in feeds if r.status == "ok")
    unchanged = sum(1 for r in feeds if r.status == "not modified")
    failed = sum(1 for r in feeds if r.status == "error")
    deferred = sum(1 for r in feeds if r.status == "deferred")
    new = sum(len(r.new_articles) + len(r.ready_articles) for r in feeds)
    parts = [f"{ok} ok", f"{unchanged} not modified", f"{failed} failed"]
    parts += [f"{deferred} deferred"] if deferred else []
    lines = [f"polled {plural(len(feeds), 'feed')} ({', '.join(parts)}); {plural(new, 'new article')}; "
             f"{plural(summary.pages, 'page')} fetched, {summary.pages_failed} failed"]
    matched = f"{plural(summary.articles_matched, 'article')} matched"
    kept = sum(summary.kept.values())
    if kept:
        why = "; ".join(f"{n} {reason_text(reason)}" for reason, n in sorted(summary.kept.items()))
        matched += f": {summary.articles_matched - kept} alerted, {kept} kept without an alert ({why})"
    lines.append(matched)
    lines.append(f"alerts: {summary.count('sent')} sent, {summary.count('pending')} to retry, "
                 f"{summary.count('failed')} failed; {summary.seconds:.1f}s")
    return "\n".join(lines)


@app.command()
def run(
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", help="Worker processes.")] = None,
    no_beat: Annotated[bool, typer.Option("--no-beat", help="Worker only (beat runs elsewhere).")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="No WebSub callback server (it runs elsewhere).")]
    = False,
) -> None:
    """The background service: a Celery worker with its beat (and the WebSub callback server when
    VEILLE_PUBLIC_URL is set)."""
    ctx = context()
    callbacks = None if no_serve or not ctx.settings.public_url else _start_callback_server()
    try:
        _run_worker(ctx, concurrency, no_beat)
    finally:
        if callbacks is not None:
            _stop(callbacks)


def _start_callback_server() -> subprocess.Popen[bytes]:
    """`veille serve` as a child process (its own memory; a crash of one does not take the other down); it
    stops by itself when this process goes away, even killed."""
    return subprocess.Popen([sys.executable, "-m", "veille", "serve", "--parent", str(os.getpid())])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _run_worker(ctx: pipeline.Context, concurrency: int | None, no_beat: bool) -> None:
    from worker import app as celery_app  # Celery is only imported by the command that runs it
    from worker.application import QUEUES

    data_dir = ctx.settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "worker",
        f"--loglevel={ctx.settings.log_level}",
        f"--concurrency={concurrency or ctx.settings.worker_concurrency}",
        f"--queues={','.join(QUEUES)}",
        "--without-gossip",
        "--without-mingle",
    ]
    if not no_beat:
        argv += ["--beat", f"--schedule={(data_dir / 'celerybeat-schedule').resolve()}"]
    celery_app.worker_main(argv)


@app.command()
def serve(
    parent: Annotated[int, typer.Option("--parent", hidden=True, help="Stop when this process is gone.")] = 0,
) -> None:
    """The WebSub callback server alone, on VEILLE_LISTEN (`veille run` starts one itself when
    VEILLE_PUBLIC_URL is set): hubs verify subscriptions and push new items there."""
    ctx = context()
    from veille.websub.server import serve as serve_callbacks

    if not ctx.settings.public_url:
        err.print("warning: VEILLE_PUBLIC_URL is not set: no hub is asked to call this server")

    def enqueue(new: Sequence[int], ready: Sequence[int]) -> None:
        from tasks.pages import fetch_later, match_later  # Celery, only once a push brings something new

        fetch_later(new)
        match_later(ready)

    try:
        serve_callbacks(ctx, enqueue, parent_pid=parent or None)
    except OSError as exc:
        raise fail(f"cannot listen on {ctx.settings.listen} (VEILLE_LISTEN): {exc.strerror or exc}") from exc


@app.command()
def matches(
    entity: Annotated[str | None, typer.Option("--entity")] = None,
    since: Annotated[str | None, typer.Option("--since", help="e.g. 7d: only matches made since then.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Matched articles, newest first."""
    from rich.table import Table

    from veille.manage.channels import alert_history
    from veille.matching import fold_term
    from veille.stories import story_fields

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
                "where": list(match.found_in or ()),
                "alerted": match.alerted,
                "reason": match.reason,
                "published": iso(article.published_at),
                "matched_at": iso(match.matched_at),
                **story_fields(s, article),  # "story" (id) and "also_covered_by" (the story's other copies)
                "alerts": alert_history(s, article.id, article.story_id),  # per channel, removed ones included
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
    from rich.table import Table

    from veille.cli.channels import channel_row
    from veille.cli.feeds import feed_row
    from veille.manage.channels import is_listed

    ctx = context()

    def load(s: Session) -> dict[str, Any]:
        pending, failed = pipeline.count_pending(s)
        backlog = s.scalar(
            select(func.count()).select_from(Article).where(or_(Article.state == "new", Article.state == "fetching"))
        )
        return {
            "feeds": [feed_row(f) for f in s.scalars(select(Feed).order_by(Feed.id))],
            "channels": [channel_row(c) for c in s.scalars(select(Channel).order_by(Channel.name)) if is_listed(c)],
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
        table = Table("feed", "last poll", "status", "failing", "next poll", title="feeds")
        for f in report["feeds"]:
            state = f["last_status"] or "not polled yet"
            if f["error"]:
                state = f"[red]{state}: {f['error']}[/red]"
            streak = (f"{f['failures']} failures since {ago(parse_iso(f['failing_since']), now)}"
                      if f.get("failing_since") else "")
            table.add_row(f["title"] or f["url"], ago(parse_iso(f["last_poll"]), now), state, streak,
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
