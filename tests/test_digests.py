"""Digests: schedules, one message per window grouped by entity, never twice, never empty; real SMTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

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


def add_digest_channel(ctx: pipeline.Context, spec: str = "daily@08:00", tz: str = "Europe/Paris") -> int:
    schedule = parse_schedule(spec, tz)
    channel_id = add_channel(ctx, "me", "email", "me@example.org", digest=schedule.spec, tz=schedule.tz)
    ctx.db.run(lambda s: s.execute(update(Channel).where(Channel.id == channel_id)
                                   .values(next_digest_at=schedule.next_after(utcnow()))))
    return channel_id


def make_due(ctx: pipeline.Context, channel_id: int, ago: timedelta = timedelta(seconds=1)) -> None:
    ctx.db.run(lambda s: s.execute(update(Channel).where(Channel.id == channel_id)
                                   .values(next_digest_at=utcnow() - ago)))


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
    assert send_due_digests(ctx) == []  # not due yet
    assert mail.delivered == []

    make_due(ctx, channel_id)
    [result] = send_due_digests(ctx)
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
    channel = ctx.db.run(lambda s: s.get_one(Channel, channel_id))
    assert channel.next_digest_at is not None and channel.next_digest_at > utcnow() + timedelta(hours=1)

    assert send_due_digests(ctx) == []  # the window is gone: nothing twice
    assert len(mail.delivered) == 1


def test_an_empty_digest_is_not_sent(ctx: pipeline.Context, mail: SmtpServer) -> None:
    channel_id = add_digest_channel(ctx, "hourly", "UTC")
    make_due(ctx, channel_id)
    [result] = send_due_digests(ctx)
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
                send_due_digests(own)
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
        [failed] = send_due_digests(ctx)
        assert failed.status == "pending" and "connection refused" in (failed.error or "")
        assert statuses(ctx) == ["digest", "digest"]
        # meanwhile a new alert is queued: it waits for the next window, the retried digest keeps its own
        pipeline.match_articles(ctx, add_articles(ctx, 1, start=5))

        back = SmtpServer()
        try:
            ctx = pipeline.Context(ctx.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{back.port}"}),
                                   ctx.db)
            ctx.db.run(lambda s: s.execute(update(Digest).values(next_attempt_at=utcnow())))
            [retried] = send_due_digests(ctx)
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
    [result] = send_due_digests(ctx)
    assert result.status == "failed"
    assert statuses(ctx) == ["failed"]
    assert ctx.db.run(lambda s: s.get_one(Channel, channel_id).state) == "failing"
    assert send_due_digests(ctx) == []


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
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("poll").exit_code == 0
    assert smtp.messages == []  # immediate is not this channel's mode

    settings = Settings()
    db = Database(settings.resolved_database_url)
    db.run(lambda s: s.execute(update(Channel).values(next_digest_at=utcnow() - timedelta(minutes=1))))
    db.dispose()
    assert veille("poll").exit_code == 0  # `veille poll` also sends the digests that are due
    [message] = smtp.messages
    assert message["Subject"] == "[veille] Daily digest: 1 article (Kyutai)"
    [row] = veille("channels", "list", "--json").json()
    next_digest = datetime.fromisoformat(row["next_digest"])
    assert next_digest.astimezone(parse_schedule_zone("Europe/Paris")).strftime("%H:%M") == "08:00"


def parse_schedule_zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_the_beat_runs_the_digest_task(veille_env: dict[str, str]) -> None:
    from worker.application import app

    assert app.conf.beat_schedule["digests"]["task"] == "tasks.alerts.send_digests"
    import tasks.alerts  # noqa: F401  (registers the task)

    assert "tasks.alerts.send_digests" in app.tasks
