"""Storage guarantees, on SQLite and (when VEILLE_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from tests.conftest import HTTPFixture, Route
from veille import pipeline
from veille.settings import Settings
from veille.storage.db import Database
from veille.storage.models import Alert, Article, Attempt, Channel, Entity, Feed, Match, utcnow


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> pipeline.Context:
    settings = Settings(database_url=database_url, data_dir=tmp_path, allow_private_addresses=True,
                        stale_after=30)
    db = Database(database_url)
    db.upgrade()
    yield pipeline.Context(settings=settings, db=db)
    db.dispose()


def test_migrations_create_every_table_and_are_idempotent(ctx: pipeline.Context) -> None:
    ctx.db.upgrade()
    tables = set(inspect(ctx.db.engine).get_table_names())
    assert {"feeds", "articles", "entries", "entities", "matches", "channels", "alerts", "attempts"} <= tables


def add_feeds(ctx: pipeline.Context, n: int) -> None:
    past = utcnow() - timedelta(seconds=5)
    ctx.db.run(lambda s: s.add_all(
        Feed(url=f"https://feeds{i}.example/rss", interval=300.0, next_poll_at=past) for i in range(n)
    ))


def test_two_dispatchers_never_claim_the_same_feed(ctx: pipeline.Context) -> None:
    add_feeds(ctx, 60)
    claims: list[list[int]] = []
    barrier = threading.Barrier(4)

    def dispatcher() -> None:
        barrier.wait()
        claims.append(pipeline.claim_due_feeds(ctx))

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [feed for batch in claims for feed in batch]
    assert len(claimed) == 60 and len(set(claimed)) == 60
    assert pipeline.claim_due_feeds(ctx) == []  # claimed for the whole interval


def make_alert(ctx: pipeline.Context, webhook: str) -> int:
    def work(s):  # type: ignore[no-untyped-def]
        article = Article(url_key="example.org/a", url="https://example.org/a", title="Kyutai ouvre ses poids",
                          text="Kyutai publie les poids.", state="matched")
        entity = Entity(name="Kyutai", name_key="kyutai", aliases=[], excludes=[], options={})
        channel = Channel(name="slack", kind="slack", target=webhook)
        s.add_all([article, entity, channel])
        s.flush()
        s.add(Match(article_id=article.id, entity_id=entity.id, term="Kyutai", snippet="Kyutai publie les poids.",
                    hl_start=0, hl_end=6))
        alert = Alert(article_id=article.id, channel_id=channel.id)
        s.add(alert)
        s.flush()
        return alert.id

    return ctx.db.run(work)


def test_one_alert_per_article_and_channel_is_a_database_rule(ctx: pipeline.Context, web: HTTPFixture) -> None:
    from sqlalchemy.exc import IntegrityError

    make_alert(ctx, web.url("/slack"))
    with pytest.raises(IntegrityError):
        ctx.db.run(lambda s: s.add(Alert(article_id=1, channel_id=1)))


def test_racing_deliveries_send_once(ctx: pipeline.Context, web: HTTPFixture) -> None:
    web.routes["/slack"] = Route(b"ok", "text/plain", delay=0.3)
    alert_id = make_alert(ctx, web.url("/slack"))
    results: list[pipeline.DeliveryResult] = []
    barrier = threading.Barrier(3)

    def worker() -> None:
        barrier.wait()
        results.append(pipeline.deliver_alert(ctx, alert_id))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == ["sent", "skipped", "skipped"]
    assert len(web.hits("/slack", "POST")) == 1
    assert pipeline.deliver_alert(ctx, alert_id).status == "skipped"  # a redelivered task is a no-op
    assert ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(Attempt))) == 1


def test_transient_failure_is_retried_later_and_permanent_marks_channel_failing(
    ctx: pipeline.Context, web: HTTPFixture
) -> None:
    web.routes["/slack"] = Route(b"busy", "text/plain", 503, headers={"Retry-After": "120"})
    alert_id = make_alert(ctx, web.url("/slack"))
    result = pipeline.deliver_alert(ctx, alert_id)
    assert result.status == "pending"
    alert = ctx.db.run(lambda s: s.get_one(Alert, alert_id))
    assert alert.status == "pending" and alert.next_attempt_at > utcnow() + timedelta(seconds=100)
    assert pipeline.deliver_alert(ctx, alert_id).status == "skipped"  # not due yet

    ctx.db.run(lambda s: s.get_one(Alert, alert_id).__setattr__("next_attempt_at", utcnow()))
    assert pipeline.deliver_alert(ctx, alert_id).status == "pending"  # the Retry-After pauses the whole channel
    ctx.db.run(lambda s: s.scalar(select(Channel)).__setattr__("paused_until", None))  # as if the pause was over
    ctx.db.run(lambda s: s.get_one(Alert, alert_id).__setattr__("next_attempt_at", utcnow()))
    web.routes["/slack"] = Route(b"no_service", "text/plain", 404)
    assert pipeline.deliver_alert(ctx, alert_id).status == "failed"
    channel = ctx.db.run(lambda s: s.scalar(select(Channel)))
    assert channel.state == "failing" and "404" in (channel.last_error or "")
    attempts = ctx.db.run(lambda s: s.scalars(select(Attempt).order_by(Attempt.id)).all())
    assert [a.ok for a in attempts] == [False, False]


def test_interrupted_work_is_found_again_once_stale(ctx: pipeline.Context, web: HTTPFixture) -> None:
    alert_id = make_alert(ctx, web.url("/slack"))
    long_ago = utcnow() - timedelta(minutes=5)

    def crash_mid_send(s):  # type: ignore[no-untyped-def]
        alert = s.get_one(Alert, alert_id)
        alert.status, alert.claimed_at, alert.enqueued_at = "sending", long_ago, long_ago

    ctx.db.run(crash_mid_send)
    backlog = pipeline.claim_backlog(ctx)
    assert backlog.deliver == [alert_id]
    assert pipeline.claim_backlog(ctx).deliver == []  # handed out once per stale period
    web.routes["/slack"] = Route(b"ok", "text/plain")
    assert pipeline.deliver_alert(ctx, alert_id).status == "sent"


def test_fast_schema_check_agrees_with_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from veille.storage.db import MIGRATIONS, head_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_an_up_to_date_database_is_not_migrated_again(ctx: pipeline.Context) -> None:
    from veille.storage.db import head_revision

    assert ctx.db.current_revision() == head_revision()
    ctx.db.upgrade()  # the fast path: nothing to do, nothing broken
    assert ctx.db.current_revision() == head_revision()


def test_a_poll_hands_on_its_new_articles_once(ctx: pipeline.Context, web: HTTPFixture) -> None:
    """A new item's article goes straight to the page fetchers, on both databases (PostgreSQL's driver
    gives no row count for an INSERT ... ON CONFLICT, so "new" must come from RETURNING)."""
    from tests.helpers import rss

    items = [{"title": f"Kyutai {i}", "link": f"https://news.example/a{i}", "guid": f"g{i}"} for i in range(3)]
    web.routes["/feed"] = Route(rss(items), "application/rss+xml")
    feed = Feed(url=web.url("/feed"), interval=300.0)
    ctx.db.run(lambda s: (s.add(feed), s.flush()))
    feed_id = feed.id
    first = pipeline.poll_feeds(ctx, [feed_id])
    assert len(first[0].new_articles) == 3
    assert ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(Article).where(Article.state == "new"))) == 3
    later = {"title": "Kyutai 9", "link": "https://news.example/a9", "guid": "g9"}
    web.routes["/feed"] = Route(rss([items[0], later]), "application/rss+xml")
    second = pipeline.poll_feeds(ctx, [feed_id])
    assert len(second[0].new_articles) == 1  # the item seen before is not new again


def test_pages_waiting_for_their_host_are_not_taken_for_interrupted_work(
    database_url: str, tmp_path: Path, web: HTTPFixture
) -> None:
    """The last pages of a batch wait their turn for a slow host (one request at a time here): their claim is
    renewed meanwhile, so the dispatcher does not hand them to a second worker, and each page is fetched once."""
    import time

    from tests.helpers import rss

    settings = Settings(database_url=database_url, data_dir=tmp_path, allow_private_addresses=True,
                        stale_after=1.5, per_host_concurrency=1)
    db = Database(database_url)
    db.upgrade()
    ctx = pipeline.Context(settings=settings, db=db)
    try:
        text = b"Kyutai publie un modele vocal ouvert. " * 20
        body = b"<html><body><article><p>" + text + b"</p></article></body></html>"
        for i in range(3):
            web.routes[f"/p{i}"] = Route(body, delay=1.2)
        items = [{"title": f"Kyutai {i}", "link": web.url(f"/p{i}"), "guid": f"g{i}"} for i in range(3)]
        web.routes["/feed"] = Route(rss(items), "application/rss+xml")
        feed = Feed(url=web.url("/feed"), interval=300.0)
        ctx.db.run(lambda s: (s.add(feed), s.flush()))
        [polled] = pipeline.poll_feeds(ctx, [feed.id])
        ready: list[int] = []
        worker = threading.Thread(target=lambda: ready.extend(pipeline.fetch_pages(ctx, polled.new_articles)))
        worker.start()
        time.sleep(2.7)  # the third page has waited longer than stale_after for its turn
        backlog = pipeline.claim_backlog(ctx)  # what the dispatcher does every few seconds
        worker.join(30)
        assert backlog.fetch == []
        assert sorted(ready) == sorted(polled.new_articles)
        assert [len(web.hits(f"/p{i}")) for i in range(3)] == [1, 1, 1]
    finally:
        db.dispose()
