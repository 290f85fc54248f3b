"""Digests: schedules, one message per window grouped by entity, never twice, never empty; real SMTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from tests.alerts.conftest import SmtpServer
from tests.conftest import HTTPFixture, Route, SMTPFixture
from tests.helpers import rss, veille
from tests.test_delivery import add_articles, add_channel, add_entity, make_ctx
from tests.test_stories import edit, text
from veille import pipeline
from veille.digests import parse_schedule, send_due_digests
from veille.settings import Settings
from veille.storage.db import Database
from veille.storage.models import Alert, Article, Channel, Digest, utcnow

# --------------------------------------------------------------------------- schedules


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "tz", "now", "expected"),
    [
        ("daily@08:00", "Europe/Paris", "2026-03-28 12:00", "2026-03-29 06:00"),  # CEST starts that night
        ("daily@08:00", "Europe/Paris", "2026-03-28 06:59", "2026-03-28 07:00"),  # CET: UTC+1
        ("daily@08:00", "Europe/Paris", "2026-03-28 07:00", "2026-03-29 06:00"),  # strictly after
        ("daily", None, "2026-11-01 09:00", "2026-11-02 08:00"),
        ("hourly", None, "2026-11-01 09:00", "2026-11-01 10:00"),
        ("hourly@:30", "Asia/Kolkata", "2026-11-01 09:10", "2026-11-01 10:00"),  # UTC+5:30
        ("weekly@mon 08:00", "Europe/Paris", "2026-11-26 10:00", "2026-11-30 07:00"),  # a Thursday
        ("weekly", None, "2026-11-30 07:59", "2026-11-30 08:00"),
        ("weekly@fri 17:00", "America/New_York", "2026-11-27 21:59", "2026-11-27 22:00"),
    ],
)
def test_next_digest_time(spec: str, tz: str | None, now: str, expected: str) -> None:
    assert parse_schedule(spec, tz).next_after(at(now)) == at(expected)


# Each window at frozen times: just before, at and just after the send time (a window is due at its time,
# and the next one is strictly later); the nights Europe/Paris and America/New_York change to and from
# summer time (2026-03-29 and 2026-10-25; 2026-03-08 and 2026-11-01). Times are UTC.
@pytest.mark.parametrize(
    ("spec", "tz", "now", "expected"),
    [
        # hourly: before, at, after
        ("hourly", None, "2026-11-01 09:59:59", "2026-11-01 10:00"),
        ("hourly", None, "2026-11-01 10:00", "2026-11-01 11:00"),
        ("hourly", None, "2026-11-01 10:00:01", "2026-11-01 11:00"),
        ("hourly@:45", "Asia/Kathmandu", "2026-06-01 10:00", "2026-06-01 11:00"),  # UTC+5:45
        # hourly through both Paris nights: one digest per real hour, the repeated hour included
        ("hourly@:30", "Europe/Paris", "2026-03-29 00:30", "2026-03-29 01:30"),  # 01:30 CET, then 03:30 CEST
        ("hourly@:30", "Europe/Paris", "2026-10-25 00:29:59", "2026-10-25 00:30"),
        ("hourly@:30", "Europe/Paris", "2026-10-25 00:30", "2026-10-25 01:30"),  # 02:30 CEST, then 02:30 CET
        ("hourly@:30", "Europe/Paris", "2026-10-25 01:30", "2026-10-25 02:30"),
        # daily: before, at, after, on the night Paris moves to summer time (08:00 is 07:00 UTC, then 06:00)
        ("daily@08:00", "Europe/Paris", "2026-03-28 06:59:59", "2026-03-28 07:00"),
        ("daily@08:00", "Europe/Paris", "2026-03-28 07:00", "2026-03-29 06:00"),
        ("daily@08:00", "Europe/Paris", "2026-03-28 07:00:01", "2026-03-29 06:00"),
        ("daily@08:00", "Europe/Paris", "2026-03-29 05:59:59", "2026-03-29 06:00"),
        ("daily@08:00", "Europe/Paris", "2026-03-29 06:00", "2026-03-30 06:00"),
        # ... and back to winter time
        ("daily@08:00", "Europe/Paris", "2026-10-24 06:00", "2026-10-25 07:00"),
        ("daily@08:00", "Europe/Paris", "2026-10-25 06:59:59", "2026-10-25 07:00"),
        ("daily@08:00", "Europe/Paris", "2026-10-25 07:00", "2026-10-26 07:00"),
        # a time the clocks skip (02:30 on 2026-03-29) comes at 03:30 CEST; a time they repeat
        # (02:30 on 2026-10-25) comes once, at its first occurrence
        ("daily@02:30", "Europe/Paris", "2026-03-28 12:00", "2026-03-29 01:30"),
        ("daily@02:30", "Europe/Paris", "2026-03-29 01:30", "2026-03-30 00:30"),
        ("daily@02:30", "Europe/Paris", "2026-10-24 12:00", "2026-10-25 00:30"),
        ("daily@02:30", "Europe/Paris", "2026-10-25 00:30", "2026-10-26 01:30"),
        ("daily@02:30", "Europe/Paris", "2026-10-25 01:15", "2026-10-26 01:30"),  # inside the repeated hour
        ("daily@00:00", "Pacific/Kiritimati", "2026-06-01 09:59:59", "2026-06-01 10:00"),  # UTC+14
        ("daily@00:00", "Pacific/Kiritimati", "2026-06-01 10:00", "2026-06-02 10:00"),
        # America/New_York
        ("daily@08:00", "America/New_York", "2026-03-07 13:00", "2026-03-08 12:00"),  # EST, then EDT
        ("daily@08:00", "America/New_York", "2026-03-08 11:59:59", "2026-03-08 12:00"),
        ("daily@02:30", "America/New_York", "2026-03-07 12:00", "2026-03-08 07:30"),  # skipped: 03:30 EDT
        ("daily@01:30", "America/New_York", "2026-10-31 12:00", "2026-11-01 05:30"),  # repeated: once
        ("daily@01:30", "America/New_York", "2026-11-01 05:30", "2026-11-02 06:30"),
        ("daily@08:00", "America/New_York", "2026-11-01 12:00", "2026-11-01 13:00"),  # EST again
        # weekly: before, at, after; a week that spans a change of time
        ("weekly@mon 08:00", "Europe/Paris", "2026-11-30 06:59:59", "2026-11-30 07:00"),
        ("weekly@mon 08:00", "Europe/Paris", "2026-11-30 07:00", "2026-12-07 07:00"),
        ("weekly@mon 08:00", "Europe/Paris", "2026-11-30 07:00:01", "2026-12-07 07:00"),
        ("weekly@mon 08:00", "Europe/Paris", "2026-10-19 06:00", "2026-10-26 07:00"),
        ("weekly@sun 02:30", "Europe/Paris", "2026-03-28 12:00", "2026-03-29 01:30"),  # a skipped Sunday time
        ("weekly@sun 02:30", "Europe/Paris", "2026-03-29 01:30", "2026-04-05 00:30"),
    ],
)
def test_digest_windows_at_frozen_times(spec: str, tz: str | None, now: str, expected: str) -> None:
    assert parse_schedule(spec, tz).next_after(at(now)) == at(expected)


@pytest.mark.parametrize(
    ("spec", "tz", "complaint"),
    [
        ("monthly", None, "cannot read 'monthly'"),
        ("daily@25:00", None, "not a time of day"),
        ("daily@mon 08:00", None, "weekly digests only"),
        ("weekly@sun 8", None, "cannot read"),
        ("weekly@xyz 08:00", None, "unknown day 'xyz'"),
        ("hourly@08:00", None, "minutes only"),
        ("daily", "Europe/Atlantis", "unknown time zone"),
    ],
)
def test_schedule_mistakes(spec: str, tz: str | None, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_schedule(spec, tz)


# --------------------------------------------------------------------------- sending


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def ctx(database_url: str, tmp_path: Path, mail: SmtpServer) -> Iterator[pipeline.Context]:
    context = make_ctx(database_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{mail.port}")
    yield context
    context.db.dispose()


# The hour the suite once failed at (08:00 Europe/Paris is 07:00 UTC in winter, 14 minutes later): every
# digest test below reads this frozen clock, never the wall clock, so it passes at any hour.
NOW = at("2026-12-02 06:46")


def frozen(when: datetime) -> Callable[[], datetime]:
    return lambda: when


def add_digest_channel(
    ctx: pipeline.Context, spec: str = "daily@08:00", tz: str = "Europe/Paris", *, now: datetime = NOW
) -> int:
    schedule = parse_schedule(spec, tz)
    channel_id = add_channel(ctx, "me", "email", "me@example.org", digest=schedule.spec, tz=schedule.tz)
    ctx.db.run(lambda s: s.execute(update(Channel).where(Channel.id == channel_id)
                                   .values(next_digest_at=schedule.next_after(now))))
    return channel_id


def next_digest_at(ctx: pipeline.Context, channel_id: int) -> datetime | None:
    value = ctx.db.run(lambda s: s.get_one(Channel, channel_id).next_digest_at)
    return None if value is None else value.astimezone(UTC)


def make_due(ctx: pipeline.Context, channel_id: int, *, now: datetime = NOW) -> None:
    ctx.db.run(lambda s: s.execute(update(Channel).where(Channel.id == channel_id)
                                   .values(next_digest_at=now - timedelta(seconds=1))))


def statuses(ctx: pipeline.Context) -> list[str]:
    return list(ctx.db.run(lambda s: s.scalars(select(Alert.status).order_by(Alert.id)).all()))


def add_story_copy(ctx: pipeline.Context, of_text: str) -> int:
    def work(s: Any) -> int:
        article = Article(url_key="copy.example/1", url="https://copy.example/1", title="A copy", text=of_text,
                          state="fetched")
        s.add(article)
        s.flush()
        return article.id

    return ctx.db.run(work)


def test_one_digest_per_window_grouped_by_entity(ctx: pipeline.Context, mail: SmtpServer) -> None:
    channel_id = add_digest_channel(ctx)
    add_entity(ctx, "Kyutai")
    add_entity(ctx, "Mistral AI")
    articles = add_articles(ctx, 3)
    def mistral(s: Any) -> None:
        article = s.get_one(Article, articles[2])
        article.title, article.text = "Mistral AI lance un modèle", "Mistral AI lance " + text(9).removeprefix("Kyutai")

    ctx.db.run(mistral)
    ctx.db.run(lambda s: s.get_one(Article, articles[0]).__setattr__("text", text(8)))
    assert pipeline.match_articles(ctx, articles) == []  # nothing to send now: queued for the digest
    copy = add_story_copy(ctx, edit(text(8), 2))
    assert pipeline.match_articles(ctx, [copy]) == []
    assert statuses(ctx) == ["queued", "queued", "queued"]
    due = at("2026-12-02 07:00")  # 08:00 in Paris (CET)
    assert next_digest_at(ctx, channel_id) == due
    assert send_due_digests(ctx, clock=frozen(NOW)) == []  # not due yet
    assert send_due_digests(ctx, clock=frozen(due - timedelta(microseconds=1))) == []
    assert mail.delivered == []

    [result] = send_due_digests(ctx, clock=frozen(due))
    assert (result.status, result.items) == ("sent", 3)
    [delivered] = mail.delivered
    email = delivered.message
    assert email["Subject"] == "[veille] Daily digest: 3 articles (Kyutai, Mistral AI)"
    plain = email.get_body(preferencelist=("plain",))
    assert isinstance(plain, EmailMessage)
    body = plain.get_content()
    assert body.index("== Kyutai (2) ==") < body.index("== Mistral AI (1) ==")
    assert "Kyutai news 0" in body and "Kyutai news 1" in body and "Mistral AI lance un modèle" in body
    assert "Also covered by: copy.example <https://copy.example/1>" in body
    assert "Europe/Paris" in body
    assert statuses(ctx) == ["sent", "sent", "sent"]
    assert next_digest_at(ctx, channel_id) == at("2026-12-03 07:00")  # tomorrow, 08:00 in Paris

    assert send_due_digests(ctx, clock=frozen(due)) == []  # the window is gone: nothing twice
    assert send_due_digests(ctx, clock=frozen(due + timedelta(hours=23, minutes=59))) == []
    assert len(mail.delivered) == 1


@pytest.mark.parametrize(
    ("spec", "added", "windows"),
    [
        # 08:00 in Paris, the week the clocks go forward: 07:00 UTC, then 06:00 UTC
        ("daily@08:00", "2026-03-27 12:00", ["2026-03-28 07:00", "2026-03-29 06:00", "2026-03-30 06:00"]),
        # 02:30 in Paris, the night the clocks go back: 02:30 happens twice, one digest
        ("daily@02:30", "2026-10-24 12:00", ["2026-10-25 00:30", "2026-10-26 01:30"]),
        # every hour at :30 through that night: the repeated hour has its own digest
        ("hourly@:30", "2026-10-25 00:00", ["2026-10-25 00:30", "2026-10-25 01:30", "2026-10-25 02:30"]),
    ],
)
def test_digests_sent_once_per_window_across_a_change_of_time(
    ctx: pipeline.Context, mail: SmtpServer, spec: str, added: str, windows: list[str]
) -> None:
    """A frozen clock walks through the windows: nothing a second before, one digest at the time, nothing
    again a second after; the channel's next window is the next one of the table."""
    channel_id = add_digest_channel(ctx, spec, "Europe/Paris", now=at(added))
    add_entity(ctx, "Kyutai")
    for number, (window, following) in enumerate(pairwise(windows)):
        pipeline.match_articles(ctx, add_articles(ctx, 1, start=number))
        due = at(window)
        assert next_digest_at(ctx, channel_id) == due
        assert send_due_digests(ctx, clock=frozen(due - timedelta(seconds=1))) == []
        [result] = send_due_digests(ctx, clock=frozen(due))
        assert (result.status, result.items) == ("sent", 1)
        assert send_due_digests(ctx, clock=frozen(due + timedelta(seconds=1))) == []
        assert len(mail.delivered) == number + 1
        assert next_digest_at(ctx, channel_id) == at(following)


def test_an_empty_digest_is_not_sent(ctx: pipeline.Context, mail: SmtpServer) -> None:
    channel_id = add_digest_channel(ctx, "hourly", "UTC")
    make_due(ctx, channel_id)
    [result] = send_due_digests(ctx, clock=frozen(NOW))
    assert result.status == "empty"
    assert mail.delivered == []
    assert ctx.db.run(lambda s: s.scalars(select(Digest.status)).all()) == ["empty"]


def test_immediate_and_digest_channels_side_by_side(ctx: pipeline.Context, web: HTTPFixture) -> None:
    web.routes["/hook"] = Route(b"ok", "text/plain")
    add_channel(ctx, "hook", "webhook", web.url("/hook"))
    add_digest_channel(ctx)
    add_entity(ctx, "Kyutai")
    sent_now = pipeline.match_articles(ctx, add_articles(ctx, 1))
    assert len(sent_now) == 1  # the webhook's alert; the digest's waits
    assert sorted(statuses(ctx)) == ["pending", "queued"]


def test_two_beats_send_a_window_once(database_url: str, tmp_path: Path, mail: SmtpServer) -> None:
    ctx = make_ctx(database_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{mail.port}")
    try:
        channel_id = add_digest_channel(ctx)
        add_entity(ctx, "Kyutai")
        pipeline.match_articles(ctx, add_articles(ctx, 4))
        make_due(ctx, channel_id)
        barrier = threading.Barrier(4)

        def beat() -> None:
            barrier.wait()
            own = pipeline.Context(ctx.settings, Database(ctx.settings.resolved_database_url))
            try:
                send_due_digests(own, clock=frozen(NOW))
            finally:
                own.db.dispose()

        threads = [threading.Thread(target=beat) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(mail.delivered) == 1
        assert ctx.db.run(lambda s: s.scalars(select(Digest.status)).all()) == ["sent"]
    finally:
        ctx.db.dispose()


def test_a_digest_survives_an_smtp_outage(database_url: str, tmp_path: Path) -> None:
    down = SmtpServer()
    port = down.port
    down.close()
    ctx = make_ctx(database_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{port}")
    try:
        channel_id = add_digest_channel(ctx)
        add_entity(ctx, "Kyutai")
        pipeline.match_articles(ctx, add_articles(ctx, 2))
        make_due(ctx, channel_id)
        [failed] = send_due_digests(ctx, clock=frozen(NOW))
        assert failed.status == "pending" and "connection refused" in (failed.error or "")
        assert statuses(ctx) == ["digest", "digest"]
        # meanwhile a new alert is queued: it waits for the next window, the retried digest keeps its own
        pipeline.match_articles(ctx, add_articles(ctx, 1, start=5))

        back = SmtpServer()
        try:
            ctx = pipeline.Context(ctx.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{back.port}"}),
                                   ctx.db)
            later = NOW + timedelta(minutes=5)  # past the retry time, before the next window (07:00)
            [retried] = send_due_digests(ctx, clock=frozen(later))
            assert (retried.status, retried.items) == ("sent", 2)
            assert len(back.delivered) == 1
            assert statuses(ctx) == ["sent", "sent", "queued"]
        finally:
            back.close()
    finally:
        ctx.db.dispose()


def test_a_refused_recipient_fails_the_digest_and_marks_the_channel(ctx: pipeline.Context, mail: SmtpServer) -> None:
    channel_id = add_digest_channel(ctx)
    add_entity(ctx, "Kyutai")
    pipeline.match_articles(ctx, add_articles(ctx, 1))
    make_due(ctx, channel_id)
    mail.rcpt_reply = "550 5.1.1 unknown user"
    [result] = send_due_digests(ctx, clock=frozen(NOW))
    assert result.status == "failed"
    assert statuses(ctx) == ["failed"]
    assert ctx.db.run(lambda s: s.get_one(Channel, channel_id).state) == "failing"
    assert send_due_digests(ctx, clock=frozen(NOW)) == []


# --------------------------------------------------------------------------- from the command line


@pytest.mark.usefixtures("veille_env")
def test_digest_channel_from_the_command_line(
    web: HTTPFixture, smtp: SMTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_SMTP_URL", smtp.url)
    web.routes["/k"] = Route(b"<html><head><title>Kyutai ouvre Moshi</title></head><body><article><h1>Kyutai ouvre"
                             b" Moshi</h1><p>Le laboratoire Kyutai publie Moshi en acces libre.</p></article>"
                             b"</body></html>")
    web.routes["/feed.xml"] = Route(rss([{"title": "Kyutai ouvre Moshi", "link": web.url("/k")}]),
                                    "application/rss+xml")
    added = veille("channels", "add", "email", "me@example.org", "--digest", "daily@08:00", "--tz", "Europe/Paris")
    assert added.exit_code == 0, added.stderr
    [row] = veille("channels", "list", "--json").json()
    first = datetime.fromisoformat(row["next_digest"])
    assert first > utcnow() and first.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") == "08:00"
    settings = Settings()
    db = Database(settings.resolved_database_url)
    # the wall clock may reach 08:00 in Paris during this test: the window is moved a day away, then made due
    db.run(lambda s: s.execute(update(Channel).values(next_digest_at=utcnow() + timedelta(days=1))))
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("poll").exit_code == 0
    assert smtp.messages == []  # immediate is not this channel's mode

    db.run(lambda s: s.execute(update(Channel).values(next_digest_at=utcnow() - timedelta(minutes=1))))
    db.dispose()
    assert veille("poll").exit_code == 0  # `veille poll` also sends the digests that are due
    [message] = smtp.messages
    assert message["Subject"] == "[veille] Daily digest: 1 article (Kyutai)"
    [row] = veille("channels", "list", "--json").json()
    next_digest = datetime.fromisoformat(row["next_digest"])
    assert next_digest > utcnow() and next_digest.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") == "08:00"


def test_the_beat_runs_the_digest_task(veille_env: dict[str, str]) -> None:
    from worker.application import app

    assert app.conf.beat_schedule["digests"]["task"] == "tasks.alerts.send_digests"
    import tasks.alerts  # noqa: F401  (registers the task)

    assert "tasks.alerts.send_digests" in app.tasks
