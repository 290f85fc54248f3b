"""Feed health: exponential backoff capped at a day, one "feed failing" notice to the admin channels after N
consecutive failures, one "recovered" notice when the feed works again, and `veille status` showing it all.

Real parts: loopback HTTP for the feed and for Slack, aiosmtpd for email, SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import HTTPFixture, Route, SMTPFixture
from tests.helpers import rss, veille
from veille import pipeline
from veille.feeds.schedule import MAX_BACKOFF, backoff_delay
from veille.health import report_feed_health
from veille.settings import Settings
from veille.storage.db import Database
from veille.storage.models import Channel, Feed, utcnow

FEED = rss([{"title": "Kyutai", "link": "https://example.org/a", "guid": "a"}])


@pytest.fixture
def make_ctx(database_url: str, tmp_path: Path) -> Iterator[Callable[..., pipeline.Context]]:
    db = Database(database_url)
    db.upgrade()

    def make(**values: Any) -> pipeline.Context:
        config = Settings(_env_file=None, database_url=database_url, data_dir=tmp_path,  # type: ignore[call-arg]
                          allow_private_addresses=True, **values)
        return pipeline.Context(settings=config, db=db)

    yield make
    db.dispose()


def add_feed(ctx: pipeline.Context, url: str, interval: float = 60.0) -> int:
    def work(s: Any) -> int:
        feed = Feed(url=url, title="Lab news", interval=interval, next_poll_at=utcnow())
        s.add(feed)
        s.flush()
        return int(feed.id)

    return ctx.db.run(work)


def add_channel(ctx: pipeline.Context, name: str, kind: str, target: str, *, admin: bool) -> None:
    ctx.db.run(lambda s: s.add(Channel(name=name, kind=kind, target=target, options={}, admin=admin)))


def feed(ctx: pipeline.Context, feed_id: int) -> Feed:
    return ctx.db.run(lambda s: s.get_one(Feed, feed_id))


def posts(web: HTTPFixture, path: str) -> list[str]:
    return [r.body.decode() for r in web.hits(path, "POST")]


# --------------------------------------------------------------------------- backoff


def test_backoff_doubles_per_failure_and_never_passes_a_day() -> None:
    for failures in range(1, 40):
        delay = backoff_delay(900.0, failures)
        low = min(MAX_BACKOFF, 900.0 * 2 ** (failures - 1))
        assert low <= delay <= min(MAX_BACKOFF, low * 1.1), failures
    assert backoff_delay(900.0, 10) == MAX_BACKOFF
    assert backoff_delay(900.0, 0) == 900.0


def test_failures_back_off_exponentially_then_recover(make_ctx: Callable[..., pipeline.Context],
                                                       web: HTTPFixture) -> None:
    ctx = make_ctx(feed_failing_after=100)
    web.routes["/feed.xml"] = Route(b"oops", "text/plain", 500)
    feed_id = add_feed(ctx, web.url("/feed.xml"), interval=60.0)
    delays = []
    for _ in range(13):
        pipeline.poll_feeds(ctx, [feed_id])
        row = feed(ctx, feed_id)
        assert row.last_poll_at is not None
        delays.append((row.next_poll_at - row.last_poll_at).total_seconds())
    first_failure = feed(ctx, feed_id).failing_since
    assert feed(ctx, feed_id).failures == 13 and first_failure is not None
    for n, delay in enumerate(delays[:11], 1):
        assert 60 * 2 ** (n - 1) <= delay <= 60 * 2 ** (n - 1) * 1.1 + 1, (n, delays)
    assert delays[11] == delays[12] == MAX_BACKOFF  # 60 s x 2^11 would be 34 h: capped at 24 h
    web.routes["/feed.xml"] = Route(FEED, "application/rss+xml")
    [result] = pipeline.poll_feeds(ctx, [feed_id])
    row = feed(ctx, feed_id)
    assert result.status == "ok" and row.failures == 0 and row.failing_since is None and row.last_error is None
    assert row.last_poll_at is not None  # then its own interval again, no backoff left:
    assert (row.next_poll_at - row.last_poll_at).total_seconds() == row.interval < MAX_BACKOFF


# --------------------------------------------------------------------------- notices


def test_one_failing_notice_then_one_recovered(make_ctx: Callable[..., pipeline.Context], web: HTTPFixture,
                                               smtp: SMTPFixture) -> None:
    ctx = make_ctx(feed_failing_after=3, smtp_url=smtp.url, email_from="veille@test.example")
    web.routes["/feed.xml"] = Route(b"gone", "text/plain", 500)
    web.routes["/ops"] = web.routes["/team"] = Route(b"ok", "text/plain")
    add_channel(ctx, "ops", "slack", web.url("/ops"), admin=True)
    add_channel(ctx, "oncall", "email", "oncall@test.example", admin=True)
    add_channel(ctx, "team", "slack", web.url("/team"), admin=False)  # alerts only, never notices
    feed_id = add_feed(ctx, web.url("/feed.xml"))
    for _ in range(2):
        pipeline.poll_feeds(ctx, [feed_id])
    assert posts(web, "/ops") == [] and smtp.messages == []
    for _ in range(4):  # the third failure sends it; the fourth to sixth send nothing more
        pipeline.poll_feeds(ctx, [feed_id])
    [notice] = posts(web, "/ops")
    assert "feed failing: Lab news" in notice and "failed 3 times in a row" in notice and "HTTP 500" in notice
    assert [m["Subject"] for m in smtp.messages] == ["veille: feed failing: Lab news"]
    assert feed(ctx, feed_id).failing_notified

    web.routes["/feed.xml"] = Route(FEED, "application/rss+xml")
    pipeline.poll_feeds(ctx, [feed_id])
    pipeline.poll_feeds(ctx, [feed_id])
    assert len(posts(web, "/ops")) == 2 and "feed recovered: Lab news" in posts(web, "/ops")[1]
    assert "after 6 failures" in posts(web, "/ops")[1]
    assert [m["Subject"] for m in smtp.messages][1:] == ["veille: feed recovered: Lab news"]
    assert posts(web, "/team") == []
    row = feed(ctx, feed_id)
    assert not row.failing_notified and row.failures == 0 and row.failing_since is None

    web.routes["/feed.xml"] = Route(b"gone", "text/plain", 500)  # a new streak: a new notice
    for _ in range(3):
        pipeline.poll_feeds(ctx, [feed_id])
    assert len(posts(web, "/ops")) == 3 and "feed failing" in posts(web, "/ops")[2]


def test_a_failing_notice_no_admin_channel_accepted_is_sent_later(
    make_ctx: Callable[..., pipeline.Context], web: HTTPFixture
) -> None:
    ctx = make_ctx(feed_failing_after=2)
    web.routes["/feed.xml"] = Route(b"gone", "text/plain", 500)
    web.routes["/ops"] = Route(b"down", "text/plain", 503)
    add_channel(ctx, "ops", "slack", web.url("/ops"), admin=True)
    feed_id = add_feed(ctx, web.url("/feed.xml"))
    pipeline.poll_feeds(ctx, [feed_id])
    pipeline.poll_feeds(ctx, [feed_id])
    assert len(posts(web, "/ops")) == 1 and not feed(ctx, feed_id).failing_notified  # tried, refused
    web.routes["/ops"] = Route(b"ok", "text/plain")
    pipeline.poll_feeds(ctx, [feed_id])
    pipeline.poll_feeds(ctx, [feed_id])
    accepted = posts(web, "/ops")[1:]
    assert len(accepted) == 1 and "failed 3 times" in accepted[0] and feed(ctx, feed_id).failing_notified


def test_without_an_admin_channel_the_notice_is_logged(
    make_ctx: Callable[..., pipeline.Context], web: HTTPFixture, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_ctx(feed_failing_after=1)
    web.routes["/feed.xml"] = Route(b"gone", "text/plain", 404)
    feed_id = add_feed(ctx, web.url("/feed.xml"))
    with caplog.at_level("WARNING"):
        [result] = pipeline.poll_feeds(ctx, [feed_id])
    assert result.status == "error"
    assert any("feed failing: Lab news" in r.getMessage() and "--admin" in r.getMessage() for r in caplog.records)


def test_two_workers_at_once_send_one_failing_notice(
    make_ctx: Callable[..., pipeline.Context], web: HTTPFixture
) -> None:
    ctx = make_ctx(feed_failing_after=5)
    web.routes["/ops"] = Route(b"ok", "text/plain")
    add_channel(ctx, "ops", "slack", web.url("/ops"), admin=True)
    feed_id = add_feed(ctx, "https://feeds.example/rss")
    ctx.db.run(lambda s: s.execute(update(Feed).where(Feed.id == feed_id).values(
        failures=5, failing_since=utcnow() - timedelta(hours=3), last_status="error", last_error="HTTP 500")))
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        report_feed_health(ctx, [feed_id])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(posts(web, "/ops")) == 1


# --------------------------------------------------------------------------- veille status


@pytest.mark.usefixtures("veille_env")
def test_status_shows_failures_failing_since_and_next_poll(web: HTTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_FEED_FAILING_AFTER", "2")
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    web.routes["/feed.xml"] = Route(b"gone", "text/plain", 500)
    web.routes["/ops"] = Route(b"ok", "text/plain")
    assert veille("feeds", "add", web.url("/feed.xml"), "--every", "10m", "--force").exit_code == 0  # not counted
    assert veille("channels", "add", "slack", web.url("/ops"), "--name", "ops").exit_code == 0
    from veille.settings import get_settings

    db = Database(get_settings().resolved_database_url)
    db.run(lambda s: s.execute(update(Channel).where(Channel.name == "ops").values(admin=True)))
    for _ in range(3):
        assert veille("poll").exit_code == 0
    [row] = veille("status", "--json").json()["feeds"]
    assert row["failures"] == 3 and row["last_status"] == "error" and "HTTP 500" in row["error"]
    assert row["failing_since"] is not None and row["next_poll"] > row["last_poll"]
    assert len(posts(web, "/ops")) == 1
    text = veille("status").stdout
    assert "3 failures since" in text and "from now" in text
    assert veille("status", "--check").exit_code == 1
    web.routes["/feed.xml"] = Route(FEED, "application/rss+xml")
    assert veille("poll").exit_code == 0
    [row] = veille("status", "--json").json()["feeds"]
    assert row["failures"] == 0 and row["failing_since"] is None and row["last_status"] == "ok"
    assert len(posts(web, "/ops")) == 2 and veille("status", "--check").exit_code == 0
    db.dispose()
