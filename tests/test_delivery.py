"""Delivery guarantees against real receivers (loopback HTTP, aiosmtpd with AUTH and STARTTLS), on SQLite and
(when VEILLE_TEST_POSTGRES_URL is set) PostgreSQL: Retry-After, backoff, permanent failures, pauses, flood
control across processes, summaries."""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.alerts.conftest import SmtpServer, TlsFiles, make_tls_files
from tests.conftest import HTTPFixture, Request, Route
from veille import pipeline
from veille.alerts import AlertError
from veille.matching import fold_term
from veille.pipeline.delivery import next_attempt, retry_delay
from veille.settings import Settings
from veille.storage.db import Database
from veille.storage.models import Alert, Article, Attempt, Channel, Entity, utcnow

REPO = Path(__file__).resolve().parents[1]
VOCABULARY = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ra", "si", "tu", "vo", "ze")
              for b in ("bar", "cen", "dul", "fim", "gor", "hax", "jip", "kel", "mun", "nos")]


# --------------------------------------------------------------------------- helpers


def body(seed: int, words: int = 80) -> str:
    """An article body naming Kyutai, different for every seed (never the same story as another seed)."""
    rng = random.Random(seed)
    return "Kyutai announced " + " ".join(rng.choice(VOCABULARY) for _ in range(words)) + "."


def make_ctx(database_url: str, tmp_path: Path, **overrides: Any) -> pipeline.Context:
    settings = Settings(_env_file=None, database_url=database_url, data_dir=tmp_path,  # type: ignore[call-arg]
                        allow_private_addresses=True, stale_after=30, delivery_first_retry=0.3, **overrides)
    db = Database(database_url)
    db.upgrade()
    return pipeline.Context(settings=settings, db=db)


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> Iterator[pipeline.Context]:
    context = make_ctx(database_url, tmp_path)
    yield context
    context.db.dispose()


def add_channel(ctx: pipeline.Context, name: str, kind: str, target: str, **options: Any) -> int:
    def work(s: Any) -> int:
        channel = Channel(name=name, kind=kind, target=target, options=options)
        s.add(channel)
        s.flush()
        return channel.id

    return ctx.db.run(work)


def add_entity(ctx: pipeline.Context, name: str, *, to: list[str] | None = None) -> None:
    options: dict[str, Any] = {"to": to} if to else {}
    ctx.db.run(lambda s: s.add(Entity(name=name, name_key=fold_term(name), aliases=[], excludes=[], options=options)))


def add_articles(ctx: pipeline.Context, count: int, *, start: int = 0) -> list[int]:
    """Fetched articles, each a different story naming Kyutai."""

    def work(s: Any) -> list[int]:
        articles = [
            Article(url_key=f"news.example/{i}", url=f"https://news.example/{i}", title=f"Kyutai news {i}",
                    text=body(i), state="fetched")
            for i in range(start, start + count)
        ]
        s.add_all(articles)
        s.flush()
        return [a.id for a in articles]

    return ctx.db.run(work)


def alerts_for(ctx: pipeline.Context, count: int, *, start: int = 0) -> list[int]:
    """``count`` matched articles and their alerts (one per channel)."""
    return pipeline.match_articles(ctx, add_articles(ctx, count, start=start))


def alert(ctx: pipeline.Context, alert_id: int) -> Alert:
    return ctx.db.run(lambda s: s.get_one(Alert, alert_id))


def channel(ctx: pipeline.Context, name: str) -> Channel:
    return ctx.db.run(lambda s: s.scalars(select(Channel).where(Channel.name == name)).one())


def attempts(ctx: pipeline.Context, alert_id: int) -> list[Attempt]:
    return list(ctx.db.run(
        lambda s: s.scalars(select(Attempt).where(Attempt.alert_id == alert_id).order_by(Attempt.id)).all()
    ))


def drive(ctx: pipeline.Context, alert_ids: list[int], timeout: float = 20.0) -> None:
    """Do what the beat and the countdown tasks do: deliver each alert whenever the database says it is due,
    until every one is sent or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [alert(ctx, i) for i in alert_ids]
        waiting = [a for a in rows if a.status not in ("sent", "failed")]
        if not waiting:
            return
        first = min(waiting, key=lambda a: a.next_attempt_at)
        pause = (first.next_attempt_at - utcnow()).total_seconds()
        if pause > 0:
            time.sleep(pause)
        pipeline.deliver_alert(ctx, first.id)
    raise AssertionError(f"not delivered in {timeout}s: {[(a.id, a.status) for a in rows]}")


@dataclass
class Script:
    """An HTTP receiver's answers, in order (the last one repeats); records when each request arrived."""

    replies: list[Route]
    times: list[float] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Route:
        with self.lock:
            self.times.append(time.monotonic())
            self.bodies.append(json.loads(request.body))
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
            self.statuses.append(reply.status)
            return reply


def ok() -> Route:
    return Route(b"ok", "text/plain")


# --------------------------------------------------------------------------- Retry-After, backoff, exactly once


def test_429_with_retry_after_then_500_then_200_delivers_exactly_once(
    ctx: pipeline.Context, web: HTTPFixture
) -> None:
    script = Script([Route(b"rate_limited", "text/plain", 429, headers={"Retry-After": "2"}),
                     Route(b"oops", "text/plain", 500), ok()])
    web.routes["/services/T0/B0/XyZsecret"] = script  # type: ignore[assignment]
    add_channel(ctx, "research-slack", "slack", web.url("/services/T0/B0/XyZsecret"))
    add_entity(ctx, "Kyutai")
    [alert_id] = alerts_for(ctx, 1)

    first = pipeline.deliver_alert(ctx, alert_id)
    assert first.status == "pending" and first.retry_at is not None
    assert 1.9 <= (first.retry_at - utcnow()).total_seconds() <= 2.0
    assert pipeline.deliver_alert(ctx, alert_id).status == "skipped"  # not before Retry-After
    assert len(script.times) == 1

    drive(ctx, [alert_id])
    assert script.statuses == [429, 500, 200]
    assert script.times[1] - script.times[0] >= 2.0, "Retry-After: 2 was not waited"
    assert script.times[1] - script.times[0] < 3.0
    assert [a.ok for a in attempts(ctx, alert_id)] == [False, False, True]
    assert "429" in (attempts(ctx, alert_id)[0].error or "") and "500" in (attempts(ctx, alert_id)[1].error or "")
    sent = alert(ctx, alert_id)
    assert sent.status == "sent" and sent.attempts == 3
    assert script.statuses.count(200) == 1  # exactly one message arrived
    assert channel(ctx, "research-slack").state == "ok"


def test_retry_after_pauses_every_message_to_that_webhook(ctx: pipeline.Context, web: HTTPFixture) -> None:
    script = Script([Route(b"busy", "text/plain", 503, headers={"Retry-After": "1"}), ok()])
    web.routes["/hook"] = script  # type: ignore[assignment]
    add_channel(ctx, "hook", "webhook", web.url("/hook"))
    add_entity(ctx, "Kyutai")
    first_id, second_id = alerts_for(ctx, 2)

    assert pipeline.deliver_alert(ctx, first_id).status == "pending"
    paused = pipeline.deliver_alert(ctx, second_id)  # another alert, due now, to the same webhook
    assert paused.status == "pending" and "paused" in (paused.error or "")
    assert len(script.times) == 1, "a message went to a webhook that asked to wait"
    assert alert(ctx, second_id).attempts == 0  # a pause is not an attempt
    assert channel(ctx, "hook").paused_until is not None

    drive(ctx, [first_id, second_id])
    assert script.statuses == [503, 200, 200]
    assert min(script.times[1:]) - script.times[0] >= 1.0
    assert {b["title"] for b in script.bodies[1:]} == {"Kyutai news 0", "Kyutai news 1"}


@pytest.mark.parametrize(
    ("status", "answer"),
    [(404, "no_service"), (410, "gone"), (403, "invalid_token"), (404, "channel_not_found"), (404, "")],
)
def test_permanent_slack_answers_fail_at_once_and_mark_the_channel_failing(
    ctx: pipeline.Context, web: HTTPFixture, status: int, answer: str
) -> None:
    script = Script([Route(answer.encode(), "text/plain", status)])
    web.routes["/services/T0/B0/XyZsecret"] = script  # type: ignore[assignment]
    add_channel(ctx, "slack", "slack", web.url("/services/T0/B0/XyZsecret"))
    add_entity(ctx, "Kyutai")
    [alert_id] = alerts_for(ctx, 1)

    result = pipeline.deliver_alert(ctx, alert_id)
    assert result.status == "failed"
    assert pipeline.deliver_alert(ctx, alert_id).status == "skipped"  # no more retries
    assert pipeline.claim_backlog(ctx, stale=False).deliver == []
    assert len(script.times) == 1
    failing = channel(ctx, "slack")
    assert failing.state == "failing"
    assert f"HTTP {status}" in (failing.last_error or "") and "XyZsecret" not in (failing.last_error or "")


def test_transient_failures_are_retried_for_24_hours_then_given_up(ctx: pipeline.Context, web: HTTPFixture) -> None:
    web.routes["/hook"] = Route(b"oops", "text/plain", 500)
    add_channel(ctx, "hook", "webhook", web.url("/hook"))
    add_entity(ctx, "Kyutai")
    young, old = alerts_for(ctx, 2)
    day_ago = utcnow() - timedelta(hours=24, minutes=1)
    ctx.db.run(lambda s: s.get_one(Alert, old).__setattr__("created_at", day_ago))

    retried = pipeline.deliver_alert(ctx, young)
    assert retried.status == "pending" and retried.retry_at is not None
    gave_up = pipeline.deliver_alert(ctx, old)
    assert gave_up.status == "failed" and "gave up" in (gave_up.error or "")
    assert channel(ctx, "hook").state == "ok"  # a transient error does not mark the channel failing


def test_backoff_is_exponential_with_jitter_and_bounded_by_the_retry_window() -> None:
    delays = [[retry_delay(n) for _ in range(200)] for n in range(1, 16)]
    for n, sample in enumerate(delays, start=1):
        nominal = min(6 * 3600.0, 30.0 * 2 ** (n - 1))
        assert all(0.8 * nominal <= d <= 1.2 * nominal for d in sample)
        assert max(sample) - min(sample) > 0.1 * nominal  # jittered, so retries of a burst spread out
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    created = utcnow()
    now, total = created, 0
    error = AlertError("HTTP 500")
    for n in range(1, 40):
        at = next_attempt(settings, created_at=created, attempts=n, error=error, now=now)
        if at is None:
            break
        total += 1
        now = at
    assert 12 <= total <= 20
    assert timedelta(hours=23) <= now - created <= timedelta(hours=24)
    later = next_attempt(settings, created_at=created, attempts=1, error=AlertError("x", retry_after=90.0), now=created)
    assert later == created + timedelta(seconds=90)


# --------------------------------------------------------------------------- flood control, summaries


FLOOD_WORKER = """
import sys
from veille import pipeline
from veille.settings import Settings
from veille.storage.db import Database
url, ids = sys.argv[1], [int(x) for x in sys.argv[2].split(",")]
ctx = pipeline.Context(Settings(_env_file=None, database_url=url, allow_private_addresses=True), Database(url))
for alert_id in ids:
    print(pipeline.deliver_alert(ctx, alert_id).status, flush=True)
"""


def test_one_message_per_second_per_slack_webhook_across_processes(
    ctx: pipeline.Context, web: HTTPFixture, database_url: str
) -> None:
    script = Script([ok()])
    web.routes["/services/T0/B0/XyZsecret"] = script  # type: ignore[assignment]
    add_channel(ctx, "slack", "slack", web.url("/services/T0/B0/XyZsecret"))
    add_entity(ctx, "Kyutai")
    ids = alerts_for(ctx, 6)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen([sys.executable, "-c", FLOOD_WORKER, database_url, ",".join(map(str, ids[i::3]))],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    outputs = [w.communicate(timeout=60) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1][-2000:] for o in outputs]
    assert sorted(line for out, _ in outputs for line in out.split()) == ["sent"] * 6

    assert sorted(b["text"].split(": ", 1)[1].split(" http")[0] for b in script.bodies) == sorted(
        f"Kyutai news {i}" for i in range(6)
    )  # each alert exactly once, none dropped
    times = sorted(script.times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # sends start one second apart; arrival adds each request's own latency (a few ms, more on a busy machine)
    assert min(gaps) >= 0.75, gaps
    # five slots one second apart: the span is 5 s, less what the first arrival lagged (the same 0.25 s as a gap)
    assert 4.75 <= times[-1] - times[0] < 8.0, gaps  # queued and sent at the allowed pace, none dropped


def test_more_than_n_waiting_alerts_go_out_as_one_summary(
    database_url: str, tmp_path: Path, web: HTTPFixture
) -> None:
    ctx = make_ctx(database_url, tmp_path, alert_summary_after=3)
    try:
        script = Script([ok()])
        web.routes["/services/T0/B0/XyZsecret"] = script  # type: ignore[assignment]
        add_channel(ctx, "slack", "slack", web.url("/services/T0/B0/XyZsecret"))
        add_entity(ctx, "Kyutai")
        burst = alerts_for(ctx, 5)

        results = pipeline.deliver_alerts(ctx, burst)
        assert [r.status for r in results] == ["sent", "skipped", "skipped", "skipped", "skipped"]
        assert results[0].alerts == 5
        [summary] = script.bodies
        assert summary["text"] == "5 alerts at once: 5 articles (Kyutai)"
        blocks = json.dumps(summary["blocks"])
        assert all(f"Kyutai news {i}" in blocks for i in range(5))
        assert {alert(ctx, i).status for i in burst} == {"sent"}
        assert all(len(attempts(ctx, i)) == 1 for i in burst)

        few = alerts_for(ctx, 3, start=10)  # not more than 3 waiting: one message each
        assert [r.status for r in pipeline.deliver_alerts(ctx, few)] == ["sent"] * 3
        assert len(script.bodies) == 4
    finally:
        ctx.db.dispose()


def test_a_summary_that_fails_is_retried_whole(database_url: str, tmp_path: Path, web: HTTPFixture) -> None:
    ctx = make_ctx(database_url, tmp_path, alert_summary_after=2)
    try:
        script = Script([Route(b"oops", "text/plain", 502), ok()])
        web.routes["/hook"] = script  # type: ignore[assignment]
        add_channel(ctx, "hook", "webhook", web.url("/hook"))
        add_entity(ctx, "Kyutai")
        burst = alerts_for(ctx, 4)
        drive(ctx, burst)
        assert script.statuses == [502, 200]
        assert [len(b["alerts"]) for b in script.bodies] == [4, 4]
        assert {alert(ctx, i).status for i in burst} == {"sent"}
    finally:
        ctx.db.dispose()


# --------------------------------------------------------------------------- email: AUTH, STARTTLS, 5xx recipient


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TlsFiles:
    files = make_tls_files(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca))  # the operator trusts this CA
    return files


def test_email_over_starttls_with_auth_then_refused_recipient_marks_failing(
    database_url: str, tmp_path: Path, tls: TlsFiles
) -> None:
    server = SmtpServer(login=("alerts", "s3cret"), tls_context=tls.server_context(), require_starttls=True)
    ctx = make_ctx(database_url, tmp_path, smtp_url=f"smtp://alerts:s3cret@127.0.0.1:{server.port}?starttls=true",
                   email_from="veille@veille.test")
    try:
        add_channel(ctx, "team-mail", "email", "team@example.org")
        add_entity(ctx, "Kyutai")
        [first] = alerts_for(ctx, 1)
        assert pipeline.deliver_alert(ctx, first).status == "sent"
        assert server.logins == ["alerts"]
        [delivered] = server.delivered
        assert delivered.rcpt_tos == ["team@example.org"]
        assert delivered.message["Subject"] == "[veille] Kyutai: Kyutai news 0"

        server.rcpt_reply = "550 5.1.1 <team@example.org>: no such user"
        [second] = alerts_for(ctx, 1, start=1)
        result = pipeline.deliver_alert(ctx, second)
        assert result.status == "failed"
        assert "550" in (result.error or "") and "s3cret" not in (result.error or "")
        assert pipeline.deliver_alert(ctx, second).status == "skipped"
        mail = channel(ctx, "team-mail")
        assert mail.state == "failing" and "no such user" in (mail.last_error or "")
        assert len(server.delivered) == 1
    finally:
        server.close()
        ctx.db.dispose()


def test_smtp_server_down_then_back_delivers_once(database_url: str, tmp_path: Path) -> None:
    server = SmtpServer()
    port = server.port
    server.close()  # down
    ctx = make_ctx(database_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{port}")
    try:
        add_channel(ctx, "mail", "email", "me@example.org")
        add_entity(ctx, "Kyutai")
        [alert_id] = alerts_for(ctx, 1)
        down = pipeline.deliver_alert(ctx, alert_id)
        assert down.status == "pending" and "connection refused" in (down.error or "")
        back = SmtpServer()
        try:
            ctx = pipeline.Context(ctx.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{back.port}"}),
                                   ctx.db)
            drive(ctx, [alert_id])
            assert len(back.delivered) == 1
        finally:
            back.close()
    finally:
        ctx.db.dispose()


# --------------------------------------------------------------------------- racing workers


def test_racing_workers_send_a_summary_once(database_url: str, tmp_path: Path, web: HTTPFixture) -> None:
    ctx = make_ctx(database_url, tmp_path, alert_summary_after=3)
    try:
        script = Script([Route(b"ok", "text/plain", delay=0.2)])
        web.routes["/hook"] = script  # type: ignore[assignment]
        add_channel(ctx, "hook", "webhook", web.url("/hook"))
        add_entity(ctx, "Kyutai")
        burst = alerts_for(ctx, 8)
        barrier = threading.Barrier(4)

        def worker(ids: list[int]) -> None:
            barrier.wait()
            for alert_id in ids:
                pipeline.deliver_alert(ctx, alert_id)

        threads = [threading.Thread(target=worker, args=(burst[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        drive(ctx, burst)
        delivered = [a["title"] for b in script.bodies for a in b.get("alerts", [b])]
        assert sorted(delivered) == sorted(f"Kyutai news {i}" for i in range(8))  # each once, none lost
    finally:
        ctx.db.dispose()


# --------------------------------------------------------------------------- secrets stay out of logs


def test_webhook_urls_and_passwords_never_reach_the_logs(
    database_url: str, tmp_path: Path, web: HTTPFixture, caplog: pytest.LogCaptureFixture
) -> None:
    server = SmtpServer(login=("alerts", "PassW0rdSecret"))
    ctx = make_ctx(database_url, tmp_path, smtp_url=f"smtp://alerts:WrongPassW0rd@127.0.0.1:{server.port}")
    try:
        web.routes["/services/T0/B0/TokenSecret1"] = Route(b"ok", "text/plain")
        web.routes["/services/T0/B0/TokenSecret2"] = Route(b"no_service", "text/plain", 404)
        add_channel(ctx, "ok-slack", "slack", web.url("/services/T0/B0/TokenSecret1"))
        add_channel(ctx, "gone-slack", "slack", web.url("/services/T0/B0/TokenSecret2"))
        add_channel(ctx, "mail", "email", "me@example.org")
        add_channel(ctx, "phone", "apprise", f"ntfy://127.0.0.1:{web.port}/TopicSecret3")
        add_entity(ctx, "Kyutai")
        with caplog.at_level("DEBUG"):
            results = pipeline.deliver_alerts(ctx, alerts_for(ctx, 1))
        assert sorted(r.status for r in results) == ["failed", "failed", "failed", "sent"]
        # not the test SMTP server's records; nor Apprise's own, which never reach the service's handlers
        # (pytest attaches its handler to non-propagating loggers too, so they show up in caplog)
        assert logging.getLogger("apprise").propagate is False
        ours = " ".join(str(r.__dict__) for r in caplog.records if r.name not in ("mail.log", "apprise"))
        assert "refused the login" in ours and "HTTP 404" in ours and "error=404" in ours  # errors are logged...
        for secret in ("TokenSecret1", "TokenSecret2", "TopicSecret3", "WrongPassW0rd"):
            assert secret not in ours  # ...without the credentials
    finally:
        server.close()
        ctx.db.dispose()
