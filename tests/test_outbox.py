"""One outbox for every message to a channel: alerts, digests, `channels test` and admin notices follow the same
rules (the receiver's Retry-After, the Slack send slot, one channel state), against real receivers on loopback,
on SQLite and (when VEILLE_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.alerts.conftest import SmtpServer
from tests.conftest import HTTPFixture, Route
from tests.test_delivery import Script, add_channel, add_entity, alert, alerts_for, channel, drive, make_ctx, ok
from tests.test_digests import NOW, add_digest_channel, frozen, make_due
from veille import pipeline
from veille.digests import parse_schedule, send_due_digests
from veille.health import report_feed_health
from veille.manage import channels as manage
from veille.storage.models import Alert, Channel, Digest, Feed, utcnow


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> Iterator[pipeline.Context]:
    context = make_ctx(database_url, tmp_path)
    yield context
    context.db.dispose()


def busy(seconds: int) -> Route:
    return Route(b"rate_limited", "text/plain", 429, headers={"Retry-After": str(seconds)})


# --------------------------------------------------------------------------- channels test


def test_a_channel_test_answered_429_holds_the_channels_alerts_for_its_retry_after(
    ctx: pipeline.Context, web: HTTPFixture
) -> None:
    script = Script([busy(2), ok()])
    web.routes["/hook"] = script
    add_channel(ctx, "hook", "webhook", web.url("/hook"))
    add_entity(ctx, "Kyutai")

    [tested] = manage.test_channel(ctx, "hook")
    assert not tested.ok and "429" in (tested.error or "")
    assert channel(ctx, "hook").state == "ok"  # transient: the state stays, as after a delivery
    [alert_id] = alerts_for(ctx, 1)
    held = pipeline.deliver_alert(ctx, alert_id)
    assert held.status == "pending" and "Retry-After" in (held.error or "")
    assert len(script.times) == 1, "an alert went to a receiver that asked to wait"
    drive(ctx, [alert_id])
    assert script.statuses == [429, 200]
    assert script.times[1] - script.times[0] >= 2.0
    assert alert(ctx, alert_id).status == "sent"


def test_no_channel_test_is_sent_while_a_digests_retry_after_lasts(
    ctx: pipeline.Context, web: HTTPFixture
) -> None:
    script = Script([busy(60), ok()])
    web.routes["/hook"] = script
    schedule = parse_schedule("daily@08:00")
    channel_id = add_channel(ctx, "hook", "webhook", web.url("/hook"), digest=schedule.spec, tz=schedule.tz)
    add_entity(ctx, "Kyutai")
    assert alerts_for(ctx, 2) == []  # queued for the digest
    ctx.db.run(lambda s: s.execute(update(Channel).where(Channel.id == channel_id)
                                   .values(next_digest_at=utcnow() - timedelta(seconds=1))))
    [digest] = send_due_digests(ctx)  # the wall clock: the Retry-After pause is in real time
    assert digest.status == "pending"
    retry_at = ctx.db.run(lambda s: s.get_one(Digest, digest.id).next_attempt_at)
    assert 59 <= (retry_at - utcnow()).total_seconds() <= 60

    [tested] = manage.test_channel(ctx, "hook")
    assert not tested.ok and "asked to wait until" in (tested.error or "") and "Retry-After" in (tested.error or "")
    assert len(script.times) == 1, "the sample went to a receiver that asked to wait"
    hook = channel(ctx, "hook")
    assert hook.state == "ok" and hook.paused_until is not None and hook.paused_until > utcnow() + timedelta(seconds=50)


def test_a_channel_test_refused_for_good_marks_the_channel_as_a_delivery_does(
    ctx: pipeline.Context, web: HTTPFixture
) -> None:
    for path in ("/delivered", "/tested"):
        web.routes[path] = Route(b"no_service", "text/plain", 404)
        add_channel(ctx, path.strip("/"), "slack", web.url(path))
    add_entity(ctx, "Kyutai", to=["delivered"])
    [alert_id] = alerts_for(ctx, 1)
    assert pipeline.deliver_alert(ctx, alert_id).status == "failed"
    [tested] = manage.test_channel(ctx, "tested")
    assert not tested.ok
    delivered, by_test = channel(ctx, "delivered"), channel(ctx, "tested")
    assert (by_test.state, by_test.last_error, by_test.paused_until) == (
        delivered.state, delivered.last_error, delivered.paused_until) == (
        "failing", delivered.last_error, None)
    assert "HTTP 404" in (by_test.last_error or "")

    web.routes["/tested"] = Route(b"ok", "text/plain")
    [fixed] = manage.test_channel(ctx, "tested")
    assert fixed.ok
    assert (channel(ctx, "tested").state, channel(ctx, "tested").last_error) == ("ok", None)


def test_a_channel_test_takes_the_slack_send_slot_after_an_alert(ctx: pipeline.Context, web: HTTPFixture) -> None:
    script = Script([ok()])
    web.routes["/services/T0/B0/XyZsecret"] = script
    add_channel(ctx, "slack", "slack", web.url("/services/T0/B0/XyZsecret"))
    add_entity(ctx, "Kyutai")
    [alert_id] = alerts_for(ctx, 1)
    assert pipeline.deliver_alert(ctx, alert_id).status == "sent"
    [tested] = manage.test_channel(ctx, "slack")
    assert tested.ok
    assert len(script.times) == 2
    assert script.times[1] - script.times[0] >= 0.75, "two messages to a Slack webhook less than a second apart"


# --------------------------------------------------------------------------- admin notices


def test_an_admin_notice_refused_for_good_marks_the_admin_channel_failing(
    ctx: pipeline.Context, web: HTTPFixture
) -> None:
    web.routes["/ops"] = Route(b"no_service", "text/plain", 404)
    add_channel(ctx, "ops", "slack", web.url("/ops"))
    ctx.db.run(lambda s: s.execute(update(Channel).values(admin=True)))

    def failing_feed(s: Any) -> int:
        feed = Feed(url="https://feeds.example/rss", title="Lab news", interval=60.0, next_poll_at=utcnow(),
                    failures=10, failing_since=utcnow() - timedelta(hours=3), last_status="error",
                    last_error="HTTP 500")
        s.add(feed)
        s.flush()
        return int(feed.id)

    feed_id = ctx.db.run(failing_feed)
    assert report_feed_health(ctx, [feed_id]) == []  # refused: given back, tried again at the next failure
    assert len(web.hits("/ops", "POST")) == 1
    ops = channel(ctx, "ops")
    assert ops.state == "failing" and "HTTP 404" in (ops.last_error or "")


# --------------------------------------------------------------------------- digests


def test_a_digest_that_fails_until_its_retry_window_ends_says_it_gave_up(database_url: str, tmp_path: Path) -> None:
    down = SmtpServer()
    port = down.port
    down.close()
    ctx = make_ctx(database_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{port}")
    try:
        channel_id = add_digest_channel(ctx)
        add_entity(ctx, "Kyutai")
        assert alerts_for(ctx, 2) == []  # queued for the digest
        make_due(ctx, channel_id)
        [first] = send_due_digests(ctx, clock=frozen(NOW))
        assert first.status == "pending"
        later = NOW + timedelta(hours=24, minutes=1)  # past VEILLE_DELIVERY_RETRY_FOR
        results = send_due_digests(ctx, clock=frozen(later))
        [gave_up] = [r for r in results if r.status != "empty"]
        assert gave_up.status == "failed" and "gave up after 2 attempts" in (gave_up.error or "")
        assert gave_up.items == 2
        errors = ctx.db.run(lambda s: s.scalars(select(Alert.last_error).where(Alert.digest_id == gave_up.id)).all())
        assert len(errors) == 2 and all("gave up after 2 attempts" in (e or "") for e in errors)
        assert ctx.db.run(lambda s: s.get_one(Digest, gave_up.id).attempts) == 2
    finally:
        ctx.db.dispose()
