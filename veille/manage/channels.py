"""Channels: add one (checked before it is stored) and send a sample alert to test it.

:func:`add_channel` refuses what can't deliver: a target that is not one (not a URL, an unknown Apprise
service, a bad address), an email channel when no SMTP server is configured (``VEILLE_SMTP_URL``), and, with
``test``, a channel whose sample alert does not arrive: then nothing is stored. :func:`test_channel` sends the
sample to stored channels and records the outcome as their state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veille import pipeline
from veille.alerts import AlertError, AlertMessage, DigestMessage, EntityMention, make_transport, redact_target
from veille.alerts.email import SmtpConfig
from veille.digests import Schedule, parse_schedule
from veille.manage.errors import ConflictError, InvalidError, NotFoundError, OperationError
from veille.settings import Settings
from veille.storage.models import Channel, utcnow

log = logging.getLogger(__name__)

ADDABLE = ("slack", "email", "webhook", "apprise")


@dataclass(frozen=True, slots=True)
class AddedChannel:
    name: str
    kind: str
    target: str  # redacted: scheme and host of a URL, an email address as is
    admin: bool
    schedule: Schedule | None  # a digest channel's schedule; None: each alert as it comes
    first_digest_at: datetime | None
    tested: bool  # a sample alert was sent and accepted before it was stored


@dataclass(frozen=True, slots=True)
class TestResult:
    name: str
    ok: bool
    error: str | None  # the channel's exact answer, secrets redacted


def sample_alert(*, now: datetime | None = None) -> AlertMessage:
    snippet = "This is a sample: when Kyutai is named in an article you get a message like this one."
    start = snippet.index("Kyutai")
    return AlertMessage(
        title="veille test alert: this is how an alert looks",
        url="https://example.org/veille-test-alert",
        source="veille",
        published=now or utcnow(),
        mentions=(EntityMention("Kyutai", "Kyutai", snippet, (start, start + len("Kyutai"))),),
    )


def send_sample(settings: Settings, kind: str, target: str, options: Mapping[str, Any],
                *, now: datetime | None = None) -> None:
    """Send a sample alert (a sample digest on a digest channel); raises AlertError with the channel's answer
    (a target that no longer validates is a permanent AlertError)."""
    try:
        transport = make_transport(kind, target, options, settings)
        digest = options.get("digest")
        schedule = parse_schedule(digest, options.get("tz")) if digest else None
    except ValueError as exc:
        raise AlertError(str(exc), permanent=True) from exc
    if schedule is not None:
        transport.send_digest(DigestMessage(f"{schedule.title} (test)", (sample_alert(now=now),),
                                            period=f"a sample of the {schedule.describe()}"))
    else:
        transport.send(sample_alert(now=now))


def check_smtp(settings: Settings) -> None:
    """Email channels need an SMTP server: refuse when ``VEILLE_SMTP_URL`` is unset or unreadable."""
    if not settings.smtp_url:
        raise OperationError(
            "email channels need an SMTP server and none is configured: set VEILLE_SMTP_URL (e.g. "
            "smtp://user:password@smtp.example.org:587?starttls=true) and VEILLE_EMAIL_FROM, then add it again"
        )
    try:
        SmtpConfig.from_url(settings.smtp_url)
    except ValueError as exc:
        raise OperationError(f"email channels need a working SMTP setting: {exc}") from exc


def _names(s: Session) -> set[str]:
    return set(s.scalars(select(Channel.name)))


def add_channel(
    ctx: pipeline.Context,
    *,
    kind: str,
    target: str,
    name: str | None = None,
    secret: str | None = None,
    admin: bool = False,
    digest: str | None = None,
    tz: str | None = None,
    test: bool = False,
    now: datetime | None = None,
) -> AddedChannel:
    """Check a channel and store it. ``test``: send a sample alert first, and store the channel only when the
    channel accepted it (else OperationError with its answer). ``name`` defaults to the kind (``slack``,
    then ``slack-2``...)."""
    kind = kind.lower()
    if kind not in ADDABLE:
        raise InvalidError(f"unknown channel kind {kind!r}: use {', '.join(ADDABLE)}")
    try:
        from veille.alerts import validate_target

        target = validate_target(kind, target)
    except ValueError as exc:
        raise InvalidError(str(exc)) from exc
    if secret is not None and kind != "webhook":
        raise InvalidError("--secret is for webhook channels only", field="secret")
    if tz is not None and digest is None:
        raise InvalidError("--tz is the time zone of a digest: give --digest too", field="tz")
    try:
        schedule = parse_schedule(digest, tz) if digest is not None else None
    except ValueError as exc:
        raise InvalidError(str(exc), field="digest") from exc
    if name is not None and (not name.strip() or any(ch.isspace() for ch in name)):
        raise InvalidError("--name must be one word, e.g. research-slack", field="name")
    if kind == "email":
        check_smtp(ctx.settings)
    options: dict[str, Any] = {"secret": secret} if secret else {}
    if schedule is not None:
        options.update(digest=schedule.spec, tz=schedule.tz)
    if name is not None and name in ctx.db.run(_names):
        raise ConflictError(f"a channel is already named {name!r}")
    if test:
        try:
            send_sample(ctx.settings, kind, target, options, now=now)
        except AlertError as exc:
            raise OperationError(f"the sample alert did not arrive, so the channel was not added: {exc}") from exc
    first = schedule.next_after(now or utcnow()) if schedule is not None else None

    def add(s: Session) -> str:
        taken = _names(s)
        chosen = name or next(n for n in (kind, *(f"{kind}-{i}" for i in range(2, 10_000))) if n not in taken)
        if chosen in taken:
            raise ConflictError(f"a channel is already named {name!r}")
        s.add(Channel(name=chosen, kind=kind, target=target, options=options, admin=admin, next_digest_at=first))
        return chosen

    try:
        added = ctx.db.run(add)
    except IntegrityError as exc:  # the same name added at the same moment by someone else
        raise ConflictError(f"a channel is already named {name or kind!r}") from exc
    return AddedChannel(added, kind, redact_target(kind, target), admin, schedule, first, test)


def test_channel(ctx: pipeline.Context, name: str | None = None, *, now: datetime | None = None) -> list[TestResult]:
    """Send a sample alert to the channel named, or to every channel; a success marks it ok, a permanent
    failure failing (a transient one leaves its state). NotFoundError when there is none."""
    channels = ctx.db.run(
        lambda s: [(c.id, c.name, c.kind, c.target, dict(c.options or {}), c.state)
                   for c in s.scalars(select(Channel).where(Channel.name == name) if name else select(Channel))]
    )
    if not channels:
        raise NotFoundError(f"no channel named {name!r}" if name else "no channel configured")
    results: list[TestResult] = []
    for channel_id, channel_name, kind, target, options, state in channels:
        try:
            send_sample(ctx.settings, kind, target, options, now=now)
        except AlertError as exc:
            ctx.db.run(mark_channel, channel_id, "failing" if exc.permanent else state, str(exc))
            results.append(TestResult(channel_name, False, str(exc)))
            continue
        ctx.db.run(mark_channel, channel_id, "ok", None)
        results.append(TestResult(channel_name, True, None))
    return results


def mark_channel(s: Session, channel_id: int, state: str, error: str | None) -> None:
    channel = s.get_one(Channel, channel_id)
    if channel.state != state:
        channel.state, channel.state_since = state, utcnow()
    channel.last_error = error
    if state == "ok":
        channel.paused_until = None  # it just took a message
