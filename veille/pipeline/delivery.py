"""Delivery: claim an outbox row, send it through its channel, record the attempt.

The outbox has one row per (story, channel). Sending one:

1. **Claim**: a conditional UPDATE moves it from ``pending`` (due) to ``sending``; a second worker, or a
   redelivered task, finds nothing to claim. A ``sending`` row left by a crash is claimed again once stale.
2. **Pause**: a receiver that answered 429 or 503 with ``Retry-After`` pauses its channel until then
   (``channels.paused_until``): no message of that channel is sent meanwhile; the claimed alert goes back
   to ``pending``, due when the pause ends. A channel the user paused (``veille channels pause``) holds its
   alerts the same way, until its pause ends or it is resumed; a removed channel's alerts are cancelled.
3. **Summary**: when more than ``alert_summary_after`` alerts wait for the channel, the claim takes them
   all (up to :data:`SUMMARY_MAX`) and they go out as one summary message.
4. **Flood control**: a Slack webhook gets at most one message per second, whatever the number of worker
   processes: the channel's next free send slot (``channels.next_send_at``) is claimed with a conditional
   UPDATE and the sender waits for its slot. Nothing is dropped; an alert whose slot is too far away goes
   back to ``pending``, due at that slot.
5. **Send and record**: every attempt is recorded. Success marks the alert ``sent`` and the channel ``ok``.
   A transient failure (timeout, 5xx, 429) schedules the next attempt in the database (``next_attempt_at``):
   after exactly the ``Retry-After`` delay when the receiver gave one, else after an exponential backoff
   with jitter (30 s, 1 min, 2 min ... at most 6 h apart), for at most ``delivery_retry_for`` (24 h) after
   the alert was created; then it fails. A permanent failure (Slack 404/410, ``no_service``,
   ``invalid_token``, ``channel_not_found``; SMTP 5xx on the recipient...) fails the alert at once and marks
   the channel ``failing`` until a delivery or ``veille channels test`` succeeds.

The one case that can repeat a message: a worker killed after the receiver accepted it and before step 5
recorded it. The row is still ``sending`` and is sent again once stale.
"""


from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from veille import stories
from veille.alerts import AlertError, AlertMessage, DigestMessage, EntityMention, Transport, make_transport
from veille.pipeline.context import Context
from veille.settings import Settings
from veille.storage import pauses
from veille.storage.db import rowcount
from veille.storage.models import Alert, Article, Attempt, Channel, Entity, Feed, Match, utcnow

log = logging.getLogger(__name__)

SEND_INTERVAL = {"slack": 1.0}  # seconds between two messages to one channel of this kind
MAX_SLOT_WAIT = 20.0  # a sender waits this long at most for its slot; later slots are rescheduled
SUMMARY_MAX = 50  # alerts in one summary message
RETRY_CAP = 6 * 3600.0
PAUSE_RECHECK = timedelta(days=1)  # alerts held by a pause without an end are looked at again this often


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    alert_id: int
    status: str          # sent, pending (retry later), failed, skipped (not ours to send)
    error: str | None = None
    retry_at: datetime | None = None  # pending: when it is due again
    carried: tuple[int, ...] = ()  # ids of the alerts the message carried (a summary carries several)

    @property
    def alerts(self) -> int:
        return len(self.carried) or 1


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


# --- routing ----------------------------------------------------------------------------------


def routed_to(options: Mapping[str, Any] | None, channel_name: str) -> bool:
    """Whether an entity with these options sends to the channel (``--to`` names; none means every one)."""
    names = (options or {}).get("to")
    return not names or channel_name in names


def route_channels(channels: Sequence[Channel], entities: Sequence[Entity]) -> list[Channel]:
    """The channels an article matching ``entities`` goes to: each entity's ``--to`` channels, or every
    channel for an entity without ``--to``. A ``--to`` name that no longer exists is skipped with a warning."""
    by_name = {c.name: c for c in channels}
    chosen: dict[int, Channel] = {}
    for entity in entities:
        names = (entity.options or {}).get("to")
        if not names:
            chosen.update((c.id, c) for c in channels)
            continue
        missing = [n for n in names if n not in by_name]
        if missing:
            log.warning("entity routed to missing channels", extra={"entity": entity.name, "channels": missing})
        chosen.update((by_name[n].id, by_name[n]) for n in names if n in by_name)
    return sorted(chosen.values(), key=lambda c: c.id)


def is_digest(channel: Channel) -> bool:
    """Alerts for this channel wait for its digest instead of going out one by one."""
    return bool((channel.options or {}).get("digest"))


# --- messages ---------------------------------------------------------------------------------


def build_message(s: Session, alert: Alert, channel: Channel | None = None) -> AlertMessage:
    """The message for an alert: its article, the mentions of the entities routed to ``channel``, and the
    other outlets that carried the story."""
    article = s.get_one(Article, alert.article_id)
    rows = s.execute(
        select(Match, Entity.name, Entity.options).join(Entity, Entity.id == Match.entity_id)
        .where(Match.article_id == article.id).order_by(Match.id)
    ).all()
    if channel is not None:
        rows = [r for r in rows if routed_to(r[2], channel.name)] or rows
    feed = s.get(Feed, article.feed_id) if article.feed_id else None
    url = article.canonical_url or article.url
    source = (feed.title if feed and feed.title else None) or urlsplit(url).hostname or "unknown source"
    return AlertMessage(
        title=article.title or url,
        url=url,
        source=source,
        published=article.published_at,
        mentions=tuple(
            EntityMention(entity=name, term=m.term, snippet=m.snippet, highlight=(m.hl_start, m.hl_end))
            for m, name, _ in rows
        ),
        also_covered_by=stories.also_covered_by(s, alert.story_id or article.story_id, article.id),
    )


def summary_size(waiting: int) -> int:
    """How many of ``waiting`` alerts the next summary carries: all of them up to SUMMARY_MAX, else an even
    share, so a burst of 120 goes out as 40 + 40 + 40 rather than 50 + 50 + 20 single messages."""
    messages = -(-waiting // SUMMARY_MAX)
    return -(-waiting // messages)


def summary_message(messages: Sequence[AlertMessage], threshold: int) -> DigestMessage:
    return DigestMessage(
        title=f"{len(messages)} alerts at once",
        items=tuple(messages),
        period=f"more than {threshold} alerts were waiting for this channel: here they are in one message",
    )


# --- channel state ----------------------------------------------------------------------------


def channel_ok(channel: Channel, now: datetime) -> None:
    if channel.state != "ok":
        channel.state, channel.state_since = "ok", now
    channel.last_error = None


def channel_error(channel: Channel, error: AlertError, now: datetime) -> None:
    """Record a failed send on the channel: its error, the pause a Retry-After asks for, and ``failing``
    when the error is permanent."""
    channel.last_error = str(error)
    if error.retry_after is not None:
        until = now + timedelta(seconds=error.retry_after)
        if channel.paused_until is None or channel.paused_until < until:
            channel.paused_until = until
    if error.permanent and channel.state != "failing":
        channel.state, channel.state_since = "failing", now


def reserve_slot(
    ctx: Context, channel_id: int, interval: float, *, max_wait: float = MAX_SLOT_WAIT
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
    """Flood control before a send: wait for the channel's slot. None when sent may go now; else the time
    the message should be tried again (the slot was too far away)."""
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


def open_transport(ctx: Context, channel: Channel | _Target) -> Transport:
    """The channel's transport; a target that no longer validates is a permanent AlertError."""
    try:
        return make_transport(channel.kind, channel.target, channel.options or {}, ctx.settings)
    except ValueError as exc:
        raise AlertError(str(exc), permanent=True) from exc


# --- one alert --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    id: int
    name: str
    kind: str
    target: str
    options: dict[str, Any]


@dataclass(slots=True)
class _Claim:
    channel: _Target
    alert_ids: list[int]
    messages: list[AlertMessage] = field(default_factory=list)


def deliver_alert(ctx: Context, alert_id: int) -> DeliveryResult:
    """Claim one pending alert (and, past the summary threshold, every alert waiting for its channel), send
    it, record the attempt. Safe to call twice."""
    claimed = ctx.db.run(_claim, ctx, alert_id, utcnow())
    if isinstance(claimed, DeliveryResult):
        return claimed
    channel = claimed.channel
    try:
        claimed.messages = ctx.db.run(_messages, claimed)
    except Exception as exc:  # a message that can't be built is a failed attempt, never a stuck claim
        log.exception("building the alert message failed", extra={"alert_id": alert_id})
        return ctx.db.run(_record_delivery, ctx, claimed.alert_ids, channel.id,
                          AlertError(f"message: {type(exc).__name__}: {exc}"), 0.0)
    try:
        transport = open_transport(ctx, channel)  # before waiting for the slot, so the send starts on time
    except AlertError as exc:
        return ctx.db.run(_record_delivery, ctx, claimed.alert_ids, channel.id, exc, 0.0)
    later = wait_for_slot(ctx, channel.id, channel.kind)
    if later is not None:
        ctx.db.run(_release, claimed.alert_ids, later)
        return DeliveryResult(alert_id, "pending", "waiting for the channel's send slot", retry_at=later)
    started = time.monotonic()
    error: AlertError | None = None
    try:
        if len(claimed.messages) == 1:
            transport.send(claimed.messages[0])
        else:
            transport.send_digest(summary_message(claimed.messages, ctx.settings.alert_summary_after))
    except AlertError as exc:
        error = exc
    except Exception as exc:  # a bug in a transport must not lose the alert
        log.exception("transport crashed", extra={"alert_id": alert_id, "channel": channel.name})
        error = AlertError(f"{type(exc).__name__}: {exc}")
    duration = time.monotonic() - started
    return ctx.db.run(_record_delivery, ctx, claimed.alert_ids, channel.id, error, duration)


def _claim(s: Session, ctx: Context, alert_id: int, now: datetime) -> _Claim | DeliveryResult:
    stale = now - timedelta(seconds=ctx.settings.stale_after)
    rows = rowcount(s.execute(
        update(Alert)
        .where(
            Alert.id == alert_id,
            Alert.next_attempt_at <= now,
            or_(Alert.status == "pending", (Alert.status == "sending") & (Alert.claimed_at < stale)),
        )
        .values(status="sending", claimed_at=now, attempts=Alert.attempts + 1)
    ))
    if rows != 1:
        return DeliveryResult(alert_id, "skipped")
    alert = s.get_one(Alert, alert_id)
    channel = s.get_one(Channel, alert.channel_id)
    if channel.paused_until is not None and channel.paused_until > now:
        _release(s, [alert_id], channel.paused_until)
        return DeliveryResult(alert_id, "pending", f"channel {channel.name} paused (Retry-After)",
                              retry_at=channel.paused_until)
    if not pauses.is_active(channel, now):
        return _hold(s, channel, alert_id, now)
    ids = [alert_id]
    waiting = s.scalar(
        select(func.count()).select_from(Alert)
        .where(Alert.channel_id == channel.id, Alert.status == "pending", Alert.id != alert_id)
    ) or 0
    if waiting + 1 > ctx.settings.alert_summary_after:
        others = s.scalars(
            select(Alert.id).where(Alert.channel_id == channel.id, Alert.status == "pending", Alert.id != alert_id)
            .order_by(Alert.id).limit(summary_size(waiting + 1) - 1)
        ).all()
        for other in others:
            if rowcount(s.execute(
                update(Alert).where(Alert.id == other, Alert.status == "pending")
                .values(status="sending", claimed_at=now, attempts=Alert.attempts + 1)
            )) == 1:
                ids.append(other)
    target = _Target(channel.id, channel.name, channel.kind, channel.target, dict(channel.options or {}))
    return _Claim(target, ids)


def held_until(channel: Channel, now: datetime) -> datetime:
    """When a message held back by the user's pause of ``channel`` is next looked at: the pause's end, or a
    day from now when it has none (``channels resume`` makes the channel's alerts due at once)."""
    return channel.resume_at or now + PAUSE_RECHECK


def _hold(s: Session, channel: Channel, alert_id: int, now: datetime) -> DeliveryResult:
    """A claimed alert of a channel the user paused waits for the pause to end; one of a removed channel is
    cancelled (it can't be sent any more; the row stays, as the channel's history)."""
    if pauses.removed(channel.options):
        s.execute(
            update(Alert).where(Alert.id == alert_id, Alert.status == "sending")
            .values(status="cancelled", attempts=Alert.attempts - 1, claimed_at=None, last_error="channel removed")
        )
        return DeliveryResult(alert_id, "skipped", "channel removed")
    until = held_until(channel, now)
    _release(s, [alert_id], until)
    return DeliveryResult(alert_id, "pending", f"channel {channel.name} paused", retry_at=until)


def _messages(s: Session, claim: _Claim) -> list[AlertMessage]:
    """The claimed alerts' messages, read after the claim is committed: on SQLite, building them inside the
    claim would hold the write lock that every other worker is waiting for."""
    channel = s.get_one(Channel, claim.channel.id)
    return [build_message(s, s.get_one(Alert, i), channel) for i in claim.alert_ids]


def _release(s: Session, alert_ids: Sequence[int], at: datetime) -> None:
    """Give claimed alerts back, due at ``at``; the claim's attempt is not counted."""
    s.execute(
        update(Alert).where(Alert.id.in_(alert_ids), Alert.status == "sending")
        .values(status="pending", attempts=Alert.attempts - 1, next_attempt_at=at, claimed_at=None,
                enqueued_at=None)
    )


def _record_delivery(
    s: Session, ctx: Context, alert_ids: Sequence[int], channel_id: int, error: AlertError | None, duration: float
) -> DeliveryResult:
    channel = s.get(Channel, channel_id)
    alerts = [a for a in (s.get(Alert, i) for i in alert_ids) if a is not None]
    if channel is None or not alerts:  # the channel was removed while the message was on its way
        return DeliveryResult(alert_ids[0], "skipped", "channel removed")
    primary = alerts[0]
    now = utcnow()
    message = str(error) if error else None
    for alert in alerts:
        s.add(Attempt(alert_id=alert.id, at=now, ok=error is None, error=message, duration=duration))
    if error is None:
        for alert in alerts:
            alert.status, alert.sent_at, alert.last_error = "sent", now, None
        channel_ok(channel, now)
        log.info("alert sent", extra={"alert_id": primary.id, "channel": channel.name, "alerts": len(alerts)})
        return DeliveryResult(primary.id, "sent", carried=tuple(a.id for a in alerts))
    channel_error(channel, error, now)
    retry_at = None if error.permanent else next_attempt(
        ctx.settings, created_at=primary.created_at, attempts=primary.attempts, error=error, now=now
    )
    if retry_at is None:
        if not error.permanent:
            message = f"{message} (gave up after {primary.attempts} attempts)"
        for alert in alerts:
            alert.status, alert.last_error = "failed", message
        log.warning("alert failed", extra={"alert_id": primary.id, "channel": channel.name, "error": message})
        return DeliveryResult(primary.id, "failed", message, carried=tuple(a.id for a in alerts))
    for alert in alerts:
        alert.status, alert.next_attempt_at, alert.enqueued_at, alert.last_error = "pending", retry_at, None, message
    delay = (retry_at - now).total_seconds()
    log.info("alert will be retried", extra={"alert_id": primary.id, "delay": round(delay, 1), "error": message})
    return DeliveryResult(primary.id, "pending", message, retry_at=retry_at, carried=tuple(a.id for a in alerts))


def mark_enqueued(ctx: Context, alert_id: int, at: datetime) -> None:
    """A task was scheduled to run at ``at``: the dispatcher leaves the alert alone until then (plus its
    stale period, in case that task is lost)."""
    ctx.db.run(lambda s: s.execute(
        update(Alert).where(Alert.id == alert_id, Alert.status == "pending").values(enqueued_at=at)
    ))


def deliver_alerts(ctx: Context, alert_ids: Iterable[int]) -> list[DeliveryResult]:
    """Deliver alerts: channels in parallel, each channel's alerts in order."""
    ids = list(alert_ids)
    if not ids:
        return []
    by_channel: dict[int, list[int]] = {}
    for alert_id, channel_id in ctx.db.run(
        lambda s: s.execute(select(Alert.id, Alert.channel_id).where(Alert.id.in_(ids)).order_by(Alert.id)).all()
    ):
        by_channel.setdefault(channel_id, []).append(alert_id)

    def send_all(group: list[int]) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        carried: set[int] = set()
        for alert_id in group:
            if alert_id in carried:  # it went out in an earlier summary: no claim to try
                results.append(DeliveryResult(alert_id, "skipped", "carried by a summary"))
                continue
            result = deliver_alert(ctx, alert_id)
            carried.update(result.carried)
            results.append(result)
        return results

    with ThreadPoolExecutor(max_workers=min(8, len(by_channel)) or 1) as pool:
        return [r for results in pool.map(send_all, by_channel.values()) for r in results]
