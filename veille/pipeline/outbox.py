"""The outbox: one state machine for every message veille sends to a channel.

Two tables are outboxes: ``alerts`` (one row per (story, channel); :mod:`veille.pipeline.delivery`) and
``digests`` (one row per (channel, due time), carrying its window's alerts; :mod:`veille.digests`). An
:class:`Outbox` names the table and what is its own: what a claim gathers, how the message is composed.

1. **Claim**: a conditional UPDATE moves the row from ``pending`` (due) to ``sending``; a second worker, or a
   redelivered task, finds nothing to claim. A ``sending`` row left by a crash is claimed again once stale.
2. **Pause**: while the receiver's ``Retry-After`` lasts (``channels.paused_until``) or the user's pause
   (``veille channels pause``), the claimed row goes back to ``pending``, due when the pause ends; giving it
   back is not an attempt. A removed channel's rows are cancelled.
3. **Flood control**: at most one message per second to a Slack webhook, across processes: the channel's
   next send slot (``channels.next_send_at``) is claimed with a conditional UPDATE and waited for; a slot
   more than ``MAX_SLOT_WAIT`` away puts the row back to ``pending``, due then.
4. **Send and record**: every attempt is recorded (one per alert carried). Success marks the row ``sent``. A
   transient failure is retried (``next_attempt_at``) after exactly the ``Retry-After`` when there is one,
   else after a backoff with jitter (30 s, 1 min ... at most 6 h apart), until ``VEILLE_DELIVERY_RETRY_FOR``
   after the row was created or ``VEILLE_DELIVERY_MAX_ATTEMPTS``; then it fails. A permanent one fails at once.

**The channel's state** follows every send to it by one rule (:func:`record_channel`), whatever sent it (an
alert, a digest, ``veille channels test``, an admin notice): a success sets it ``ok`` and clears its error; a
failure records the error, pauses the channel for its ``Retry-After``, and sets it ``failing`` when permanent
(a transient one leaves the state). Sends outside the outbox (:func:`send_now`) pass the same gate: nothing
while the receiver's ``Retry-After`` lasts, the Slack send slot waited for.

The one case that can repeat a message: a worker killed after the receiver accepted it and before step 4
recorded it. The row is still ``sending`` and is sent again once stale.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from veille.alerts import AlertError, AlertMessage, DigestMessage, Transport, make_transport
from veille.pipeline.context import Context
from veille.settings import Settings
from veille.storage import pauses
from veille.storage.db import rowcount
from veille.storage.models import Alert, Attempt, Channel, Digest, utcnow

log = logging.getLogger(__name__)

SEND_INTERVAL = {"slack": 1.0}  # seconds between two messages to one channel of this kind
MAX_SLOT_WAIT = 20.0  # a sender waits this long at most for its slot; later slots are rescheduled
RETRY_CAP = 6 * 3600.0
PAUSE_RECHECK = timedelta(days=1)  # rows held by a user's pause without an end are looked at again this often

Clock = Callable[[], datetime]  # where the outbox reads the time: utcnow in service, a frozen time in tests
Message = AlertMessage | DigestMessage
Row = Alert | Digest


# --- retries ----------------------------------------------------------------------------------


def retry_delay(attempts: int, first: float = 30.0) -> float:
    """Exponential backoff with jitter: ``first``, twice that, four times ... capped at 6 h, each +-20 %."""
    return min(RETRY_CAP, first * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)


def next_attempt(
    settings: Settings, *, created_at: datetime, attempts: int, error: AlertError, now: datetime
) -> datetime | None:
    """When to try again after a transient failure, or None when it is time to give up."""
    deadline = created_at + timedelta(seconds=settings.delivery_retry_for)
    if now >= deadline or attempts >= settings.delivery_max_attempts:
        return None
    if error.retry_after is not None:  # the receiver said when: exactly then
        return now + timedelta(seconds=error.retry_after)
    return min(now + timedelta(seconds=retry_delay(attempts, settings.delivery_first_retry)), deadline)


# --- the channel ------------------------------------------------------------------------------


def record_channel(channel: Channel, error: AlertError | None, now: datetime) -> None:
    """The channel's state after a send to it (the one rule: see the module's text)."""
    if error is None:
        if channel.state != "ok":
            channel.state, channel.state_since = "ok", now
        channel.last_error = None
        return
    channel.last_error = str(error)
    if error.retry_after is not None:
        until = now + timedelta(seconds=error.retry_after)
        if channel.paused_until is None or channel.paused_until < until:
            channel.paused_until = until
    if error.permanent and channel.state != "failing":
        channel.state, channel.state_since = "failing", now


def resume_held(s: Session, channel_id: int, now: datetime) -> None:
    """A resumed channel's held rows are due at once (not those waiting for a retry, which record their error)."""
    for model in (Alert, Digest):
        s.execute(
            update(model).where(model.channel_id == channel_id, model.status == "pending",
                                model.next_attempt_at > now, model.last_error.is_(None))
            .values(next_attempt_at=now, **_requeue(model))
        )


def reserve_slot(ctx: Context, channel_id: int, interval: float, *, max_wait: float = MAX_SLOT_WAIT
                 ) -> tuple[datetime, bool]:
    """Claim the channel's next send slot (``interval`` seconds after the previous one) with a conditional
    UPDATE, so concurrent senders in any process get distinct slots. Returns (slot, claimed); a slot more
    than ``max_wait`` away is not claimed."""

    def work(s: Session) -> tuple[datetime, bool]:
        for _ in range(50):
            current = s.scalar(select(Channel.next_send_at).where(Channel.id == channel_id))
            now = utcnow()
            slot = max(now, current) if current is not None else now
            if (slot - now).total_seconds() > max_wait:
                return slot, False
            same = Channel.next_send_at.is_(None) if current is None else Channel.next_send_at == current
            claimed = rowcount(s.execute(
                update(Channel).where(Channel.id == channel_id, same)
                .values(next_send_at=slot + timedelta(seconds=interval))
            ))
            if claimed == 1:
                return slot, True
        return utcnow() + timedelta(seconds=interval), False

    return ctx.db.run(work)


def wait_for_slot(ctx: Context, channel_id: int, kind: str) -> datetime | None:
    """Flood control before a send: wait for the channel's slot. None when the message may go now; else the
    time it should be tried again (the slot was too far away)."""
    interval = SEND_INTERVAL.get(kind)
    if not interval:
        return None
    slot, claimed = reserve_slot(ctx, channel_id, interval)
    if not claimed:
        return slot
    wait = (slot - utcnow()).total_seconds()
    if wait > 0:
        time.sleep(wait)
    return None


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A channel as a send needs it, read in a transaction and used outside it."""

    id: int
    name: str
    kind: str
    target: str
    options: dict[str, Any]
    paused_until: datetime | None  # the receiver's Retry-After

    @classmethod
    def of(cls, c: Channel) -> Target:
        return cls(c.id, c.name, c.kind, c.target, dict(c.options or {}), c.paused_until)


def send_message(transport: Transport, message: Message) -> None:
    if isinstance(message, DigestMessage):
        transport.send_digest(message)
    else:
        transport.send(message)


@dataclass(frozen=True, slots=True)
class Sent:
    """One send: its error (None: accepted) and duration; with ``later``, not sent: the slot is then."""

    error: AlertError | None = None
    duration: float = 0.0
    later: datetime | None = None


def transmit(ctx: Context, channel: Target, send: Callable[[Transport], None]) -> Sent:
    """Open the channel's transport, wait for its send slot, send. Records nothing."""
    try:  # before waiting for the slot, so the send starts on time
        transport = make_transport(channel.kind, channel.target, channel.options, ctx.settings)
    except ValueError as exc:  # a target that no longer validates
        return Sent(AlertError(str(exc), permanent=True))
    later = wait_for_slot(ctx, channel.id, channel.kind)
    if later is not None:
        return Sent(later=later)
    started = time.monotonic()
    try:
        send(transport)
    except AlertError as exc:
        return Sent(exc, time.monotonic() - started)
    except Exception as exc:  # a bug in a transport must not lose the message
        log.exception("transport crashed", extra={"channel": channel.name})
        return Sent(AlertError(f"{type(exc).__name__}: {exc}"), time.monotonic() - started)
    return Sent(None, time.monotonic() - started)


def send_now(
    ctx: Context, channel_id: int, send: Callable[[Transport], None], *, now: datetime | None = None
) -> AlertError | None:
    """Send one message outside the outbox (``veille channels test``, an admin notice) by the outbox's rules:
    not while the receiver's Retry-After pause lasts, in the channel's send slot, the outcome recorded on the
    channel as a delivery's is. Returns the error, None when the channel accepted it; a message not sent
    (the channel asked to wait, or is busy) changes nothing."""
    channel = ctx.db.run(lambda s: Target.of(s.get_one(Channel, channel_id)))
    if channel.paused_until is not None and channel.paused_until > (now or utcnow()):
        return AlertError(f"not sent: the receiver asked to wait until {channel.paused_until:%Y-%m-%d %H:%M:%S} "
                          "UTC (Retry-After); try again then")
    sent = transmit(ctx, channel, send)
    if sent.later is not None:
        return AlertError(f"not sent: the channel is busy sending alerts; its next free send slot is at "
                          f"{sent.later:%H:%M:%S} UTC")
    # recorded after the send, as a delivery's
    ctx.db.run(lambda s: record_channel(s.get_one(Channel, channel_id), sent.error, now or utcnow()))
    return sent.error


# --- the outbox -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    id: int  # the outbox row: an alert, a digest
    status: str  # sent, pending (due again at retry_at), failed, skipped (not ours to send), empty (a digest)
    error: str | None = None
    retry_at: datetime | None = None
    carried: tuple[int, ...] = ()  # the alerts the message carried (a summary, a digest: several)

    @property
    def items(self) -> int:
        return len(self.carried)

    @property
    def alerts(self) -> int:  # an alert sent alone carried itself
        return len(self.carried) or 1


@dataclass(frozen=True, slots=True)
class Claim:
    channel: Target
    ids: tuple[int, ...]  # the outbox rows claimed: one, or the alerts of a summary
    alert_ids: tuple[int, ...]  # the alerts the message carries: the rows themselves, or a digest's alerts


Gather = Callable[[Session, Context, Any, Channel, datetime], tuple[Sequence[int], Sequence[int]]]
Compose = Callable[[Session, Context, Claim], Message]


@dataclass(frozen=True, slots=True)
class Outbox:
    """An outbox table and what is its own: ``gather`` runs in the claim's transaction, once the row is
    claimed and its channel neither paused nor removed, and returns (the outbox rows claimed, the alerts the
    message carries); ``compose`` builds the message after the claim is committed (building it inside would
    hold SQLite's write lock, which every other worker waits for)."""

    model: type[Alert] | type[Digest]
    noun: str  # in the logs: "alert sent", "digest failed"
    gather: Gather
    compose: Compose


def _requeue(model: type[Row]) -> dict[str, Any]:
    """Columns reset when a row goes back to pending: an alert's ``enqueued_at`` (a new task may take it)."""
    return {"enqueued_at": None} if model is Alert else {}


def claimable(model: type[Row], now: datetime, stale_before: datetime) -> ColumnElement[bool]:
    """Due rows: pending, or sending since before ``stale_before`` (a crashed sender's)."""
    return and_(model.next_attempt_at <= now,
                or_(model.status == "pending", (model.status == "sending") & (model.claimed_at < stale_before)))


def deliver(ctx: Context, outbox: Outbox, row_id: int, *, clock: Clock = utcnow) -> Outcome:
    """Claim one due row, send its message, record the attempt. Safe to call twice."""
    claimed = ctx.db.run(_claim, ctx, outbox, row_id, clock())
    if not isinstance(claimed, Claim):
        return claimed
    try:
        message = ctx.db.run(outbox.compose, ctx, claimed)
    except Exception as exc:  # a message that can't be built is a failed attempt, never a stuck claim
        log.exception("building the %s message failed", outbox.noun, extra={f"{outbox.noun}_id": row_id})
        return ctx.db.run(_record, ctx, outbox, claimed, Sent(AlertError(f"message: {type(exc).__name__}: {exc}")),
                          clock())
    sent = transmit(ctx, claimed.channel, lambda transport: send_message(transport, message))
    if sent.later is not None:
        ctx.db.run(release, outbox.model, claimed.ids, sent.later)
        return Outcome(row_id, "pending", "waiting for the channel's send slot", retry_at=sent.later)
    return ctx.db.run(_record, ctx, outbox, claimed, sent, clock())


def claim_rows(s: Session, model: type[Row], ids: Sequence[int], now: datetime, *,
               stale_before: datetime | None = None) -> list[int]:
    """Claim each row still pending (and due, with ``stale_before``: a sending one that old too); the ids
    claimed, in order."""
    claimed = []
    for row_id in ids:
        due = claimable(model, now, stale_before) if stale_before is not None else model.status == "pending"
        if rowcount(s.execute(
            update(model).where(model.id == row_id, due)
            .values(status="sending", claimed_at=now, attempts=model.attempts + 1)
        )) == 1:
            claimed.append(row_id)
    return claimed


def release(s: Session, model: type[Row], ids: Sequence[int], at: datetime) -> None:
    """Give claimed rows back, due at ``at``; the claim's attempt is not counted."""
    s.execute(
        update(model).where(model.id.in_(ids), model.status == "sending")
        .values(status="pending", attempts=model.attempts - 1, next_attempt_at=at, claimed_at=None,
                **_requeue(model))
    )


def _claim(s: Session, ctx: Context, outbox: Outbox, row_id: int, now: datetime) -> Claim | Outcome:
    model = outbox.model
    if not claim_rows(s, model, [row_id], now, stale_before=now - timedelta(seconds=ctx.settings.stale_after)):
        return Outcome(row_id, "skipped")
    row = cast(Row, s.get_one(model, row_id))
    channel = s.get_one(Channel, row.channel_id)
    if channel.paused_until is not None and channel.paused_until > now:
        release(s, model, [row_id], channel.paused_until)
        return Outcome(row_id, "pending", f"channel {channel.name} paused (Retry-After)",
                             retry_at=channel.paused_until)
    if pauses.removed(channel.options):  # it can't be sent any more; the row stays, as the channel's history
        s.execute(update(model).where(model.id == row_id, model.status == "sending").values(
            status="cancelled", attempts=model.attempts - 1, claimed_at=None, last_error="channel removed"))
        if model is Digest:  # and so do the alerts it carried
            s.execute(update(Alert).where(Alert.digest_id == row_id, Alert.status == "digest")
                      .values(status="cancelled", last_error="channel removed"))
        return Outcome(row_id, "skipped", "channel removed")
    if not pauses.is_active(channel, now):
        until = channel.resume_at or now + PAUSE_RECHECK  # its end; `channels resume` makes the row due at once
        release(s, model, [row_id], until)
        return Outcome(row_id, "pending", f"channel {channel.name} paused", retry_at=until)
    ids, alert_ids = outbox.gather(s, ctx, row, channel, now)
    return Claim(Target.of(channel), tuple(ids), tuple(alert_ids))


def load_alerts(s: Session, ids: Sequence[int]) -> list[Alert]:
    """The alerts of a message, in one query, by id."""
    return list(s.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id))) if ids else []


def _record(s: Session, ctx: Context, outbox: Outbox, claim: Claim, sent: Sent, now: datetime) -> Outcome:
    channel = s.get(Channel, claim.channel.id)
    alerts = load_alerts(s, claim.alert_ids)  # an alert's rows are then in the session: no query each
    rows = [cast(Row, r) for r in (s.get(outbox.model, i) for i in claim.ids) if r is not None]
    if channel is None or not rows:  # the channel was deleted while the message was on its way
        return Outcome(claim.ids[0], "skipped", "channel removed")
    apart = outbox.model is not Alert  # a digest's alerts are not claimed: they count its attempts here
    error, primary, carried = sent.error, rows[0], tuple(a.id for a in alerts)
    message = str(error) if error else None
    for alert in alerts:
        s.add(Attempt(alert_id=alert.id, at=now, ok=error is None, error=message, duration=sent.duration))
        if apart:
            alert.attempts += 1
    everything: list[Row] = [*rows, *alerts] if apart else rows
    record_channel(channel, error, now)
    noted = {f"{outbox.noun}_id": primary.id, "channel": channel.name}
    if error is None:
        for row in everything:
            row.status, row.sent_at, row.last_error = "sent", now, None
        log.info("%s sent", outbox.noun, extra={**noted, "alerts": len(alerts)})
        return Outcome(primary.id, "sent", carried=carried)
    retry_at = None if error.permanent else next_attempt(
        ctx.settings, created_at=primary.created_at, attempts=primary.attempts, error=error, now=now
    )
    if retry_at is None:
        if not error.permanent:
            message = f"{message} (gave up after {primary.attempts} attempts)"
        for row in everything:
            row.status, row.last_error = "failed", message
        log.warning("%s failed", outbox.noun, extra={**noted, "error": message})
        return Outcome(primary.id, "failed", message, carried=carried)
    for row in rows:
        row.status, row.next_attempt_at, row.last_error = "pending", retry_at, message
        for column, value in _requeue(outbox.model).items():
            setattr(row, column, value)
    delay = (retry_at - now).total_seconds()
    log.info("%s will be retried", outbox.noun, extra={**noted, "delay": round(delay, 1), "error": message})
    return Outcome(primary.id, "pending", message, retry_at=retry_at, carried=carried)
