"""Channels: add one (checked before it is stored), send a sample alert to test it, pause and resume (mute),
remove.

:func:`add_channel` refuses what can't deliver: a target that is not one (not a URL, an unknown Apprise
service, a bad address), an email channel when no SMTP server is configured (``VEILLE_SMTP_URL``), and, with
``test``, a channel whose sample alert does not arrive: then nothing is stored. :func:`test_channel` sends the
sample to stored channels as a delivery is sent, and its outcome changes their state as a delivery's does.

A paused channel is muted: alerts created while it is paused are not created for it at all (so resuming
brings no flood), digest windows are not claimed, admin notices skip it. Alerts that were already waiting
for it when it was paused are held, not dropped: they go out when the pause ends (a digest window that fell
due during the pause goes out then too).

A removed channel's row is kept, renamed (``research-slack (removed 4)``, so the name is free again) and
paused for good, with its secret and the path of its URL dropped: its alerts stay as the history that
``veille matches`` shows. Alerts it had not sent yet are cancelled, and every entity routed to it (``--to``)
stops naming it.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veille import pipeline
from veille.alerts import (
    AlertError,
    AlertMessage,
    DigestMessage,
    EntityMention,
    Transport,
    make_transport,
    redact_target,
)
from veille.alerts.email import SmtpConfig
from veille.digests import Schedule, parse_schedule
from veille.manage.errors import ConflictError, InvalidError, NotFoundError, OperationError
from veille.manage.pauses import PauseState, pause_end, state_of
from veille.pipeline import outbox
from veille.settings import Settings
from veille.storage import pauses
from veille.storage.db import Database, rowcount
from veille.storage.models import Alert, Channel, Digest, Entity, utcnow

log = logging.getLogger(__name__)

ADDABLE = ("slack", "email", "webhook", "apprise")
NAME_SIZE = 128  # the channels.name column
TARGET_SIZE = 2048  # the channels.target column


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


def sample_sender(options: Mapping[str, Any], *, now: datetime | None = None) -> Callable[[Transport], None]:
    """What sends a sample alert (a sample digest on a digest channel) through a channel's transport; a digest
    schedule that no longer reads is a permanent AlertError, as a target that no longer validates."""

    def send(transport: Transport) -> None:
        digest = options.get("digest")
        if not digest:
            transport.send(sample_alert(now=now))
            return
        try:
            schedule = parse_schedule(digest, options.get("tz"))
        except ValueError as exc:
            raise AlertError(str(exc), permanent=True) from exc
        transport.send_digest(DigestMessage(f"{schedule.title} (test)", (sample_alert(now=now),),
                                            period=f"a sample of the {schedule.describe()}"))

    return send


def send_sample(settings: Settings, kind: str, target: str, options: Mapping[str, Any],
                *, now: datetime | None = None) -> None:
    """Send a sample alert to a channel not stored yet; raises AlertError with the channel's answer (a target
    that does not validate is a permanent AlertError)."""
    try:
        transport = make_transport(kind, target, options, settings)
    except ValueError as exc:
        raise AlertError(str(exc), permanent=True) from exc
    sample_sender(options, now=now)(transport)


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


def schedule_error(exc: ValueError) -> InvalidError:
    """A digest schedule refused, naming the field at fault (``digest`` or ``tz``); the message without the
    command line's ``--digest:`` (the CLI puts it back, and prints the same line as before)."""
    message = str(exc)
    for field in ("tz", "digest"):
        if message.startswith(f"--{field}: "):
            return InvalidError(message.removeprefix(f"--{field}: "), field=field)
    return InvalidError(message, field="digest")


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
        raise schedule_error(exc) from exc
    if name is not None and (not name.strip() or any(ch.isspace() for ch in name)):
        raise InvalidError("--name must be one word, e.g. research-slack", field="name")
    if name is not None and len(name) > NAME_SIZE:
        raise InvalidError(f"too long (at most {NAME_SIZE} characters)", field="name")
    if len(target) > TARGET_SIZE:
        raise InvalidError(f"too long (at most {TARGET_SIZE} characters)", field="target")
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
    """Send a sample alert to the channel named, or to every channel, the way a delivery is sent and with the
    same effect on the channel's state (:func:`veille.pipeline.outbox.send_now`): a success marks it ok, a
    permanent failure failing, a Retry-After holds its deliveries; nothing is sent while the receiver's
    Retry-After pause lasts. NotFoundError when there is none."""
    channels = ctx.db.run(
        lambda s: [(c.id, c.name, dict(c.options or {}))
                   for c in s.scalars(select(Channel).where(Channel.name == name) if name else select(Channel))
                   if is_listed(c)]
    )
    if not channels:
        raise NotFoundError(f"no channel named {name!r}" if name else "no channel configured")
    results: list[TestResult] = []
    for channel_id, channel_name, options in channels:
        error = outbox.send_now(ctx, channel_id, sample_sender(options, now=now), now=now)
        results.append(TestResult(channel_name, error is None, None if error is None else str(error)))
    return results


# --------------------------------------------------------------------------- pause, remove

UNSENT = ("pending", "queued", "digest")  # alert statuses that removing a channel cancels


@dataclass(frozen=True, slots=True)
class ChannelView:
    id: int
    name: str
    kind: str
    pause: PauseState
    target: str = ""  # redacted: webhook and Apprise URLs carry tokens
    admin: bool = False
    digest: str | None = None  # "daily@08:00"; None: each alert as it comes
    tz: str = "UTC"
    next_digest_at: datetime | None = None
    state: str = "ok"  # ok, failing
    last_error: str | None = None
    since: datetime | None = None  # in this state since
    retry_after_until: datetime | None = None  # the receiver asked to wait (Retry-After): nothing before

    @property
    def delivery(self) -> str:
        return f"{self.digest} {self.tz}" if self.digest else "immediate"

    @property
    def failing(self) -> bool:
        return not self.pause.paused and self.state == "failing"

    def as_json(self) -> dict[str, Any]:
        """The channel as every face shows it (`channels list --json`, `status --json`, the API)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "enabled": not self.pause.paused,
            "paused": self.pause.paused,  # by the user (`channels pause`)
            "paused_until": _iso(self.pause.until),
            "admin": self.admin,
            "delivery": self.delivery,
            "next_digest": _iso(self.next_digest_at) if self.digest else None,
            "state": self.state,
            "last_error": self.last_error,
            "since": _iso(self.since),
            "retry_after_until": _iso(self.retry_after_until),
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


@dataclass(frozen=True, slots=True)
class ChannelImpact:
    """What removing a channel takes with it."""

    name: str
    kind: str
    unsent: int  # alerts not sent yet: cancelled
    routed: tuple[str, ...]  # entities routed to it (--to)
    only_here: tuple[str, ...]  # of which routed to it alone: they alert every channel afterwards

    def describe(self) -> str:
        parts = [f"Remove channel {self.name} ({self.kind})?"]
        if self.unsent:
            parts.append(f"Its {self.unsent} alert{'s' if self.unsent != 1 else ''} not sent yet "
                         f"{'are' if self.unsent != 1 else 'is'} dropped.")
        every = "would then alert every channel"
        are = "is" if len(self.routed) == 1 else "are"
        if self.routed and self.only_here == self.routed:
            parts.append(f"{_joined(self.routed)} {are} routed to it alone, and {every}.")
        elif self.routed:
            parts.append(f"{_joined(self.routed)} {are} routed to it"
                         + (f"; {_joined(self.only_here)} only to it, and {every}." if self.only_here else "."))
        parts.append("Its alert history stays in `veille matches`.")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Rerouted:
    """An entity that was routed to a removed channel."""

    entity: str
    channel: str  # the removed channel
    to: tuple[str, ...]  # the channels it is still routed to; (): every channel

    def describe(self) -> str:
        if self.to:
            return f"{self.entity}: no longer routed to {self.channel}; it still alerts {', '.join(self.to)}"
        return (f"{self.entity}: no longer routed to {self.channel}; it now alerts every channel "
                f"(`veille track edit {shlex.quote(self.entity)} --to NAME` routes it again)")


@dataclass(frozen=True, slots=True)
class ChannelRemoved:
    name: str
    unsent: int  # alerts cancelled
    rerouted: tuple[Rerouted, ...]


def find_channel(s: Session, name: str) -> Channel:
    channel = s.scalar(select(Channel).where(Channel.name == name.strip()))
    if channel is None or pauses.removed(channel.options):
        raise NotFoundError(f"no channel named {name!r} (see `veille channels list`)")
    return channel


def view(channel: Channel, now: datetime | None = None) -> ChannelView:
    now = now or utcnow()
    options = channel.options or {}
    return ChannelView(
        channel.id, channel.name, channel.kind, state_of(channel, now),
        target=redact_target(channel.kind, channel.target),
        admin=channel.admin,
        digest=options.get("digest") or None,
        tz=options.get("tz") or "UTC",
        next_digest_at=channel.next_digest_at,
        state=channel.state,
        last_error=channel.last_error,
        since=channel.state_since,
        retry_after_until=channel.paused_until if channel.paused_until and channel.paused_until > now else None,
    )


def list_channels(db: Database, *, limit: int | None = None, now: datetime | None = None) -> list[ChannelView]:
    """Every channel but removed ones, by name."""
    if limit is not None and limit < 1:
        raise InvalidError("must be 1 or more", field="limit")
    rows = db.run(lambda s: [view(c, now) for c in s.scalars(select(Channel).order_by(Channel.name)) if is_listed(c)])
    return rows[:limit]


def channel_by_name(db: Database, name: str, *, now: datetime | None = None) -> ChannelView:
    return db.run(lambda s: view(find_channel(s, name), now))


def update_channel(
    ctx: pipeline.Context, name: str, data: Mapping[str, Any], *, now: datetime | None = None
) -> ChannelView:
    """Change a channel in place (its alerts and their history stay): ``name`` (entities routed to it follow
    the new name), ``target``, ``secret`` (webhooks; "" removes it), ``admin``, ``digest`` ("" or None: each
    alert as it comes) and ``tz``. Each value is checked as `channels add` checks it."""
    from veille.alerts import validate_target

    now = now or utcnow()

    def work(s: Session) -> ChannelView:
        channel = find_channel(s, name)
        options = dict(channel.options or {})
        if "target" in data:
            try:
                target = validate_target(channel.kind, str(data["target"]))
            except ValueError as exc:
                raise InvalidError(str(exc), field="target") from exc
            if len(target) > TARGET_SIZE:
                raise InvalidError(f"too long (at most {TARGET_SIZE} characters)", field="target")
            channel.target = target
        if "secret" in data:
            if channel.kind != "webhook":
                raise InvalidError("a secret is for webhook channels only", field="secret")
            if data["secret"]:
                options["secret"] = str(data["secret"])
            else:
                options.pop("secret", None)
        if "admin" in data:
            channel.admin = bool(data["admin"])
        if "digest" in data or "tz" in data:
            digest = data.get("digest", options.get("digest")) or None
            tz = data.get("tz", options.get("tz"))
            if digest is None:
                if data.get("tz"):
                    raise InvalidError("the time zone is that of a digest: give a digest too", field="tz")
                options.pop("digest", None)
                options.pop("tz", None)
                channel.next_digest_at = None
            else:
                try:
                    schedule = parse_schedule(str(digest), tz or None)
                except ValueError as exc:
                    raise schedule_error(exc) from exc
                options.update(digest=schedule.spec, tz=schedule.tz)
                channel.next_digest_at = schedule.next_after(now)
        if "name" in data and data["name"] != channel.name:
            new = str(data["name"] or "").strip()
            if not new or any(ch.isspace() for ch in new):
                raise InvalidError("the name must be one word, e.g. research-slack", field="name")
            if len(new) > NAME_SIZE:
                raise InvalidError(f"too long (at most {NAME_SIZE} characters)", field="name")
            if new in _names(s):
                raise ConflictError(f"a channel is already named {new!r}")
            for entity in _routed(s, channel.name):
                entity_options = dict(entity.options or {})
                entity_options["to"] = [new if n == channel.name else n for n in entity_options.get("to", [])]
                entity.options = entity_options
            channel.name = new
        channel.options = options
        s.flush()
        return view(channel, now)

    return ctx.db.run(work)


def is_listed(channel: Channel) -> bool:
    """Whether a channel is shown and usable: every one but removed ones."""
    return pauses.removed(channel.options) is None


# --------------------------------------------------------------------------- pausing


def pause_channel(
    db: Database, name: str, *, duration: str | None = None, until: str | None = None, now: datetime | None = None
) -> ChannelView:
    """Mute a channel for ``duration``, until ``until``, or until resumed."""
    now = now or utcnow()
    end = pause_end(duration=duration, until=until, now=now)

    def work(s: Session) -> ChannelView:
        channel = find_channel(s, name)
        pauses.pause(channel, end)
        return view(channel, now)

    return db.run(work)


def resume_channel(db: Database, name: str, *, now: datetime | None = None) -> ChannelView:
    """Unmute a channel; the alerts and digests its pause held back are due at once."""
    now = now or utcnow()

    def work(s: Session) -> ChannelView:
        channel = find_channel(s, name)
        pauses.resume(channel)
        outbox.resume_held(s, channel.id, now)
        return view(channel, now)

    return db.run(work)


# --------------------------------------------------------------------------- removing


def _routed(s: Session, name: str) -> list[Entity]:
    return [e for e in s.scalars(select(Entity).order_by(Entity.name)) if name in ((e.options or {}).get("to") or ())]


def _unsent(s: Session, channel_id: int) -> int:
    return s.scalar(
        select(func.count()).select_from(Alert).where(Alert.channel_id == channel_id, Alert.status.in_(UNSENT))
    ) or 0


def channel_removal_impact(db: Database, name: str) -> ChannelImpact:
    def work(s: Session) -> ChannelImpact:
        channel = find_channel(s, name)
        routed = _routed(s, channel.name)
        only = [e.name for e in routed if set((e.options or {}).get("to") or ()) == {channel.name}]
        return ChannelImpact(channel.name, channel.kind, _unsent(s, channel.id), tuple(e.name for e in routed),
                             tuple(only))

    return db.run(work)


def remove_channel(db: Database, name: str, *, now: datetime | None = None) -> ChannelRemoved:
    """Remove a channel: its unsent alerts are cancelled, entities routed to it stop naming it (one routed to
    it alone alerts every channel afterwards), and the row is kept as history (see the module's text)."""
    from veille.alerts import redact_target

    now = now or utcnow()

    def work(s: Session) -> ChannelRemoved:
        channel = find_channel(s, name)
        gone = channel.name
        unsent = rowcount(s.execute(
            update(Alert).where(Alert.channel_id == channel.id, Alert.status.in_(UNSENT))
            .values(status="cancelled", last_error="channel removed")
        ))
        s.execute(
            update(Digest).where(Digest.channel_id == channel.id, Digest.status == "pending")
            .values(status="cancelled", last_error="channel removed")
        )
        rerouted = []
        for entity in _routed(s, gone):
            options = dict(entity.options or {})
            left = [n for n in options.get("to") or () if n != gone]
            if left:
                options["to"] = left
            else:
                options.pop("to", None)
            entity.options = options
            rerouted.append(Rerouted(entity.name, gone, tuple(left)))
        kept: dict[str, Any] = {k: v for k, v in (channel.options or {}).items() if k in ("digest", "tz")}
        kept["removed"] = {"name": gone, "at": now.isoformat()}
        suffix = f" (removed {channel.id})"
        channel.name = gone[: NAME_SIZE - len(suffix)] + suffix
        channel.options = kept
        channel.target = redact_target(channel.kind, channel.target)  # no secret kept
        channel.admin, channel.next_digest_at = False, None
        pauses.pause(channel, None)
        return ChannelRemoved(gone, unsent, tuple(rerouted))

    return db.run(work)


# --------------------------------------------------------------------------- history


def alert_history(s: Session, article_id: int, story_id: int | None) -> list[dict[str, Any]]:
    """The alerts of an article (or of its story: a copy's alert is its story's), channel by channel, removed
    channels included: ``channel``, ``status`` (sent, pending, queued, failed, cancelled...), ``sent_at``,
    ``channel_removed``."""
    return alert_histories(s, [(article_id, story_id)])[article_id]


def alert_histories(s: Session, articles: Iterable[tuple[int, int | None]]) -> dict[int, list[dict[str, Any]]]:
    """:func:`alert_history` of each (article id, story id), in one query (a page of matches): by article id."""
    pairs = dict(articles)
    found: dict[int, list[dict[str, Any]]] = {article_id: [] for article_id in pairs}
    if not pairs:
        return found
    stories = sorted({story_id for story_id in pairs.values() if story_id is not None})
    where: ColumnElement[bool] = Alert.article_id.in_(sorted(pairs))
    if stories:
        where = or_(where, Alert.story_id.in_(stories))
    by_story: dict[int, list[int]] = {}
    for article_id, story_id in pairs.items():
        if story_id is not None:
            by_story.setdefault(story_id, []).append(article_id)
    rows = s.execute(
        select(Alert.article_id, Alert.story_id, Alert.status, Alert.sent_at, Channel.name, Channel.options)
        .join(Channel, Channel.id == Alert.channel_id).where(where).order_by(Alert.id)
    ).all()
    for alert_article, alert_story, status, sent_at, channel, options in rows:
        record = pauses.removed(options)
        entry = {
            "channel": str(record.get("name", channel)) if record else channel,
            "status": status,
            "sent_at": sent_at.isoformat() if sent_at else None,
            "channel_removed": record is not None,
        }
        owners = set(by_story.get(alert_story, ()) if alert_story is not None else ())
        if alert_article in pairs:
            owners.add(alert_article)
        for article_id in sorted(owners):
            found[article_id].append(entry)
    return found


def _joined(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
