"""`veille init`, `poll`, `run`, `matches`, `status`.

What only one command needs is imported inside it: `veille poll` on unchanged feeds is mostly start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from veille import pipeline
from veille.cli.app import app
from veille.cli.common import (
    JsonOption,
    LimitOption,
    ago,
    context,
    duration_option,
    err,
    fail_on,
    is_terminal,
    iso,
    out,
    print_json,
    print_table,
)
from veille.clock import utcnow
from veille.manage.articles import reason_text
from veille.manage.status import plural

if TYPE_CHECKING:
    from rich.text import Text

    from veille.manage.feeds import FeedView
    from veille.manage.matches import MatchView

@app.command()
def init(
    starter: Annotated[bool, typer.Option("--starter", help="Load the starter feeds and watchlist if empty.")] = False,
) -> None:
    """Create or upgrade the database; with --starter, seed an empty one with the starter lists."""
    from veille.manage.starter import load_starter

    ctx = context()
    if not starter:
        out.print("database is up to date")
        return
    seeded = load_starter(ctx)
    if seeded is None:
        out.print("database already has feeds or entities: starter lists not loaded")
    else:
        out.print(f"loaded the starter lists: {seeded.feeds} feeds, {seeded.entities} tracked entities")


@app.command()
def poll(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when any feed, page or delivery failed.")] = False,
) -> None:
    """Poll every feed now (paused ones excepted) and the searches that are due, fetch, match and deliver,
    in-process; then exit."""
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


RUN_HELP = """The background service: a Celery worker with its beat, and the web server.

The web server (`veille web`: the JSON API, the web page, the WebSub callback) runs as a child process on
VEILLE_WEB_LISTEN (default 127.0.0.1:8080) and stops with the service; --no-web leaves it to a `veille web`
elsewhere."""


@app.command(help=RUN_HELP)
def run(
    concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", help="Worker processes.")] = None,
    no_beat: Annotated[bool, typer.Option("--no-beat", help="Worker only (beat runs elsewhere).")] = False,
    no_web: Annotated[bool, typer.Option("--no-web", help="No web server (a `veille web` runs elsewhere).")]
    = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", hidden=True, help="Former name of --no-web.")] = False,
) -> None:
    ctx = context()
    web = None if no_web or no_serve else _start_web_server()
    _banner_when_ready(ctx, concurrency or ctx.settings.worker_concurrency, beat=not no_beat, web=web)
    try:
        _run_worker(ctx, concurrency, no_beat)
    finally:
        if web is not None:
            _stop(web)


def _banner_when_ready(ctx: pipeline.Context, processes: int, *, beat: bool,
                       web: subprocess.Popen[bytes] | None) -> None:
    """Print the banner (veille.cli.banner) on stdout once the worker is ready to take tasks; the web server's
    address if it still runs (one that could not start said why on stderr: the worker runs on without it)."""
    from celery.signals import worker_ready

    from veille.cli import banner
    from veille.manage.status import summary

    def ready(**_: Any) -> None:
        address = None
        if web is not None:
            if web.poll() is None:
                address = f"http://{ctx.settings.web_address}"
            else:
                err.print("warning: the web server stopped (see its error above); the worker and beat run on",
                          markup=False)
        try:
            text = banner.render(ctx, summary(ctx), processes=processes, beat=beat, web=address,
                                 activate=banner.activate_hint())
        except Exception as exc:  # the banner is a courtesy: the service runs on without it
            err.print(f"warning: no start-up banner: {exc}", markup=False)
            return
        sys.stdout.write(text)
        sys.stdout.flush()

    worker_ready.connect(ready, weak=False)


def _start_web_server() -> subprocess.Popen[bytes]:
    """`veille web` as a child process (its own memory; a crash of one does not take the other down); it
    stops by itself when this process goes away, even killed."""
    return subprocess.Popen([sys.executable, "-m", "veille", "web", "--parent", str(os.getpid())])


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


MATCHES_HELP = """Matched articles, newest first: entity, title, URL, feed and the sentence that names the entity.

The alert column says "yes", or why a match alerted nobody: "backlog" (already in the feed when it was first
polled) or "too old". Into a pipe, one match per line, tab-separated, nothing cut."""


@app.command(help=MATCHES_HELP)
def matches(
    entity: Annotated[
        str | None, typer.Option("--entity", metavar="NAME", help="Only the matches of this tracked entity.")
    ] = None,
    feed: Annotated[
        str | None, typer.Option("--feed", metavar="ID_OR_URL", help="Only the articles of this feed.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="DURATION", help="e.g. 7d: only matches made since then.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", metavar="WORDS", help="Only articles whose title or text has every "
                                                                   "one of these words (accents and case ignored).")
    ] = None,
    as_json: JsonOption = False,
    limit: LimitOption = None,
) -> None:
    from veille.manage import OperationError
    from veille.manage.matches import list_matches

    ctx = context()
    window = duration_option(since, "--since")
    try:
        found = list_matches(ctx, entity=entity, feed=feed, limit=limit, query=search,
                             since=timedelta(seconds=window) if window else None)
    except OperationError as exc:
        raise fail_on(exc) from exc
    if as_json:
        print_json([m.as_json() for m in found])
        return
    if is_terminal():
        print_table(("matched", "entity", "article", "alert"), (
            (f"{m.matched_at:%Y-%m-%d %H:%M}", m.entity, article_cell(m), alert_cell(m)) for m in found
        ))
    else:
        print_table(("matched", "entity", "alert", "title", "url", "feed", "snippet"), (
            (iso(m.matched_at), m.entity, alert_cell(m), m.title, m.url, m.feed, m.snippet) for m in found
        ))


def alert_cell(m: MatchView) -> str:
    return "yes" if m.alerted else (m.reason or "no")


def article_cell(m: MatchView) -> Text:
    """Title, URL, feed and snippet in one cell, the hit in bold."""
    from rich.text import Text

    cell = Text()
    cell.append(m.title or "(no title)", style="bold")
    cell.append(f"\n{m.url}")
    if m.feed:
        cell.append(f"\nvia {m.feed}", style="dim")
    start, end = m.highlight
    snippet = Text(m.snippet)
    if 0 <= start < end <= len(m.snippet):
        snippet.stylize("bold", start, end)
    cell.append("\n")
    cell.append(snippet)
    return cell


STATUS_HELP = """The service, feeds, channels and alerts at a glance.

The first line says whether the service runs (from the heartbeats its worker and beat write), how many feeds
and channels are ok or failing, and how many alerts are pending; then what is failing (--all: everything)."""


@app.command(help=STATUS_HELP)
def status(
    as_json: JsonOption = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when a feed or channel is failing.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List every feed and channel, not only failing ones.")]
    = False,
) -> None:
    from veille.manage.status import status_report

    ctx = context()
    now = utcnow()
    report = status_report(ctx, now=now)
    state = report.summary
    if as_json:
        print_json(report.as_json())
    else:
        out.print(state.line(), markup=False)
        from veille.cli.feeds import grouped

        shown_feeds = grouped(report.feeds if show_all else [f for f in report.feeds if f.failing])
        if shown_feeds:
            print_table(("feed", "url", "kind", "last poll", "status", "failing", "next poll"), (
                (f.title or f.url, f.url, f.kind, ago(f.last_poll_at, now), feed_state(f),
                 f"{plural(f.failures, 'failure')} since {ago(f.failing_since, now)}" if f.failing_since else "",
                 ago(f.next_poll_at, now))
                for f in shown_feeds
            ), title="feeds")
        shown_channels = report.channels if show_all else [c for c in report.channels if c.failing]
        if shown_channels:
            print_table(("channel", "kind", "state", "since", "last error"), (
                (c.name, c.kind, "paused" if c.pause.paused else c.state, ago(c.since, now), c.last_error)
                for c in shown_channels
            ), title="channels")
        if show_all:
            workers = ", ".join(w.name for w in state.service.workers) or "none"
            entities = f"{state.entities} tracked {'entity' if state.entities == 1 else 'entities'}"
            out.print(f"alerts: {state.alerts_sent} sent, {state.alerts_pending} pending, {state.alerts_failed} "
                      f"failed; {entities}; {plural(state.articles, 'article')}; workers: {workers}", markup=False)
    if check and state.failing:
        raise typer.Exit(1)


def feed_state(f: FeedView) -> str:
    if f.pause.paused:
        return "paused"
    state = f.last_status or "not polled yet"
    return f"{state}: {f.error}" if f.error else state
