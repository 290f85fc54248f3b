"""Output for people and for pipes, through the real `veille` command: into a pipe nothing is cut (one row a
line, tab-separated), on a terminal a table that folds long URLs; `--json` and `--limit` on every list;
`veille matches` with its snippet; `veille status` opening with one `service:` line."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss
from veille.storage.models import Article, Feed, Match

pytestmark = pytest.mark.usefixtures("veille_env")

VEILLE = str(Path(sys.executable).with_name("veille"))
LONG = "/" + "a" * 280 + "/feed.xml"  # with http://127.0.0.1:PORT, a URL of more than 300 characters
SHORT = "/short.xml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    """`veille ARGS` as a process whose stdout is a pipe; its stdout."""
    done = subprocess.run([VEILLE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done.stdout


def on_terminal(env: dict[str, str], *args: str, columns: int = 80) -> str:
    """`veille ARGS` on a pseudo-terminal `columns` wide; everything it wrote there."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen([VEILLE, *args], env={**env, "COLUMNS": str(columns), "TERM": "xterm-256color"},
                               stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert process.wait(60) == 0
    return b"".join(chunks).decode()


def tsv(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


def page(title: str, body: str) -> bytes:
    return (f"<html><head><title>{title}</title></head><body><nav>Accueil</nav><article><h1>{title}</h1>"
            f"<p>{body}</p><p>Les chercheurs publient leurs travaux en accès libre, avec le code et les poids du "
            f"modèle, comme ils l’avaient promis lors de leur création il y a deux ans.</p></article>"
            f"</body></html>").encode()


@pytest.fixture
def env(veille_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **veille_env}


def in_db(env: dict[str, str], work: Callable[[Session], Any]) -> Any:
    """``work(session)`` in one committed transaction on the test's database."""
    engine = create_engine(env["VEILLE_DATABASE_URL"])
    try:
        with Session(engine) as s, s.begin():
            return work(s)
    finally:
        engine.dispose()


@pytest.fixture
def polled(web: HTTPFixture, env: dict[str, str]) -> HTTPFixture:
    """Two feeds (one at a URL of more than 300 characters), three articles naming Kyutai or Mistral AI,
    polled once."""
    web.routes["/a1"] = Route(page("Moshi, un modèle vocal", "Le laboratoire Kyutai présente Moshi à Paris."))
    web.routes["/a2"] = Route(page("Une levée de fonds record", "Mistral AI lève six cents millions d’euros."))
    web.routes["/a3"] = Route(page("Des recrutements", "Kyutai recrute des chercheurs en apprentissage."))
    web.routes[LONG] = Route(rss([{"title": "Moshi, un modèle vocal", "link": web.url("/a1"), "guid": "a1"},
                                  {"title": "Une levée de fonds record", "link": web.url("/a2"), "guid": "a2"}],
                                 title="Long feed"), "application/rss+xml")
    web.routes[SHORT] = Route(rss([{"title": "Des recrutements", "link": web.url("/a3"), "guid": "a3"}],
                                  title="Short feed"), "application/rss+xml")
    run(env, "feeds", "add", web.url(LONG))
    run(env, "feeds", "add", web.url(SHORT))
    run(env, "track", "add", "Kyutai")
    run(env, "track", "add", "Mistral AI")
    run(env, "poll")
    return web


def test_a_pipe_gets_every_value_whole_one_row_a_line(polled: HTTPFixture, env: dict[str, str]) -> None:
    long_url = polled.url(LONG)
    assert len(long_url) > 300

    feeds = tsv(run(env, "feeds", "list"))
    assert feeds[0] == ["id", "url", "kind", "title", "every", "last poll", "status"]
    assert [row[1] for row in feeds[1:]] == [long_url, polled.url(SHORT)]
    assert [row[2] for row in feeds[1:]] == ["feed", "feed"]
    assert all(len(row) == 7 for row in feeds)

    status = run(env, "status", "--all")
    assert any(long_url in row for row in tsv(status)), status

    found = tsv(run(env, "matches"))
    assert found[0] == ["matched", "entity", "alert", "title", "url", "feed", "snippet"]
    assert len(found) == 4 and all(len(row) == 7 for row in found)
    by_url = {row[4]: row for row in found[1:]}
    kyutai = by_url[polled.url("/a1")]
    assert kyutai[1] == "Kyutai" and kyutai[3] == "Moshi, un modèle vocal" and kyutai[5] == "Long feed"
    assert "Le laboratoire Kyutai présente Moshi à Paris." in kyutai[6]  # the snippet, whole

    entities = tsv(run(env, "track", "list"))
    assert entities[0] == ["name", "aliases", "excludes", "options", "state"] and len(entities) == 3


def test_every_list_takes_json_and_limit(polled: HTTPFixture, env: dict[str, str]) -> None:
    import json

    run(env, "channels", "add", "webhook", polled.url("/hook-a"), "--name", "first")
    run(env, "channels", "add", "webhook", polled.url("/hook-b"), "--name", "second")
    for command in (["feeds", "list"], ["track", "list"], ["channels", "list"], ["matches"]):
        everything = json.loads(run(env, *command, "--json"))
        assert isinstance(everything, list) and len(everything) >= 2, command
        assert json.loads(run(env, *command, "--json", "--limit", "1")) == everything[:1], command
        assert len(tsv(run(env, *command, "--limit", "1"))) == 2, command  # a header, then one line per row


def test_matches_newest_first_with_snippet_where_and_why_no_alert(polled: HTTPFixture, env: dict[str, str]) -> None:
    import json

    now = datetime.now(UTC)

    def arrange(s: Session) -> None:
        ids = dict(s.execute(select(Article.url, Article.id)).all())
        for path, hours, alerted, reason, where in [("/a1", 1, True, None, ["title", "text"]),
                                                    ("/a2", 2, False, "backlog", None),
                                                    ("/a3", 3, False, "too old", ["feed-title"])]:
            s.execute(update(Match).where(Match.article_id == ids[polled.url(path)]).values(
                matched_at=now - timedelta(hours=hours), alerted=alerted, reason=reason, found_in=where))

    in_db(env, arrange)
    rows = json.loads(run(env, "matches", "--json"))
    assert [r["url"] for r in rows] == [polled.url(p) for p in ("/a1", "/a2", "/a3")]  # newest first
    first, backlog, old = rows
    assert (first["alerted"], first["reason"], first["where"]) == (True, None, ["title", "text"])
    assert (backlog["alerted"], backlog["reason"], backlog["where"]) == (False, "backlog", [])
    assert (old["alerted"], old["reason"], old["where"]) == (False, "too old", ["feed-title"])
    for row in rows:  # today's fields stay
        assert {"entity", "title", "url", "feed", "snippet", "term", "count", "in_title", "published",
                "matched_at", "story", "also_covered_by"} <= set(row)
    snippet = first["snippet"]
    start, end = first["highlight"]
    assert snippet[start:end] == "Kyutai"

    assert [row[2] for row in tsv(run(env, "matches"))[1:]] == ["yes", "backlog", "too old"]
    assert [r["url"] for r in json.loads(run(env, "matches", "--json", "--entity", "kyutai"))] == [
        polled.url("/a1"), polled.url("/a3")]
    assert [r["url"] for r in json.loads(run(env, "matches", "--json", "--since", "150m"))] == [
        polled.url("/a1"), polled.url("/a2")]
    assert [r["url"] for r in json.loads(run(env, "matches", "--json", "--feed", polled.url(SHORT)))] == [
        polled.url("/a3")]
    done = subprocess.run([VEILLE, "matches", "--entity", "Nobody"], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("error: not tracked: Nobody")


def test_on_a_terminal_tables_fold_long_urls_and_the_hit_is_bold(polled: HTTPFixture, env: dict[str, str]) -> None:
    shown = on_terminal(env, "feeds", "list", columns=80)
    plain = ANSI.sub("", shown)
    lines = plain.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in plain and "..." not in plain
    # the url column, read down the table, holds both URLs whole
    urls = "".join(line.split("│")[2].strip() for line in lines if line.startswith("│"))
    assert polled.url(LONG) + polled.url(SHORT) in urls

    matches = on_terminal(env, "matches", columns=80)
    assert max(len(line) for line in ANSI.sub("", matches).splitlines()) <= 80
    # the hit in bold, the rest of the snippet not (the titles do not name Kyutai)
    assert "Le laboratoire \x1b[1mKyutai\x1b[0m présente" in matches, matches


def test_status_opens_with_the_service_line_then_only_what_fails(web: HTTPFixture, env: dict[str, str]) -> None:
    web.routes["/ok.xml"] = Route(rss([], title="Fine"), "application/rss+xml")
    web.routes["/broken.xml"] = Route(rss([], title="Broken"), "application/rss+xml")
    run(env, "feeds", "add", web.url("/ok.xml"))
    run(env, "feeds", "add", web.url("/broken.xml"))
    web.routes["/broken.xml"] = Route(b"down", "text/plain", 500)
    run(env, "poll")

    lines = run(env, "status").splitlines()
    assert lines[0] == ("service: never started; 2 feeds: 1 ok, 1 failing; no channel: alerts go to the log; "
                        "no alert pending")
    body = "\n".join(lines[1:])
    assert web.url("/broken.xml") in body and web.url("/ok.xml") not in body  # only what is failing
    assert web.url("/ok.xml") in run(env, "status", "--all")
    run(env, "status", "--check", code=1)

    web.routes["/broken.xml"] = Route(rss([], title="Broken"), "application/rss+xml")
    run(env, "channels", "add", "webhook", web.url("/hook"))
    in_db(env, lambda s: s.execute(update(Feed).values(next_poll_at=datetime.now(UTC))))
    run(env, "poll")
    assert run(env, "status").splitlines() == [
        "service: never started; 2 feeds ok; 1 channel ok; no alert pending"]
    run(env, "status", "--check")


def test_status_of_a_service_last_seen_three_hours_ago(env: dict[str, str]) -> None:
    import json

    from veille.manage import status
    from veille.storage.db import database

    run(env, "init")
    db = database(env["VEILLE_DATABASE_URL"])
    then = datetime.now(UTC) - timedelta(hours=3, minutes=5)
    status.record_heartbeat(db, name=status.BEAT, kind="beat", now=then)
    status.record_heartbeat(db, name="worker@host:12", kind="worker", host="host", pid=12, now=then)

    assert run(env, "status").splitlines()[0] == (
        "service: not running (last seen 3 h ago); no feed; no channel: alerts go to the log; no alert pending")
    service = json.loads(run(env, "status", "--json"))["service"]
    assert service["running"] is False and service["workers"] == []
    assert datetime.fromisoformat(service["last_beat"]) == then


def test_service_status_at_a_given_time(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from veille.manage import status
    from veille.pipeline import make_context
    from veille.settings import get_settings

    monkeypatch.setenv("VEILLE_DATABASE_URL", database_url)  # SQLite and PostgreSQL: the UPSERT of each
    get_settings.cache_clear()
    ctx = make_context(get_settings())
    ctx.db.upgrade()
    start = datetime(2026, 3, 29, 0, 59, 58, tzinfo=UTC)
    assert status.service_status(ctx, now=start).describe() == "never started"
    status.record_heartbeat(ctx.db, name="worker@h:1", kind="worker", host="h", pid=1, now=start)
    assert status.service_status(ctx, now=start).describe() == (
        "not running (no beat yet, 1 worker up: is the beat running?)")
    status.record_heartbeat(ctx.db, name=status.BEAT, kind="beat", now=start + timedelta(seconds=1))

    running = status.service_status(ctx, now=start + timedelta(seconds=5))
    assert running.running and running.describe() == "running, beat 4 s ago"
    assert [(w.name, w.host, w.pid, w.started_at) for w in running.workers] == [("worker@h:1", "h", 1, start)]

    # workers up but no beat ticking: nothing is dispatched
    status.record_heartbeat(ctx.db, name="worker@h:1", kind="worker", now=start + timedelta(minutes=5))
    stalled = status.service_status(ctx, now=start + timedelta(minutes=5))
    assert not stalled.running
    assert stalled.describe() == "not running (beat last seen 4 min ago, 1 worker up: is the beat running?)"

    later = status.service_status(ctx, now=start + timedelta(hours=3, seconds=1))
    assert not later.running and later.describe() == "not running (last seen 3 h ago)"
    assert later.workers == ()

    # a worker seen again after a silence is a new start; one seen within the window is the same run
    status.record_heartbeat(ctx.db, name="worker@h:1", kind="worker", now=start + timedelta(seconds=20))
    status.record_heartbeat(ctx.db, name="worker@h:1", kind="worker", now=start + timedelta(hours=1))
    (worker,) = status.service_status(ctx, now=start + timedelta(hours=1)).workers
    assert worker.started_at == start + timedelta(hours=1)
