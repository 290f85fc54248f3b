"""Digests: a channel's alerts gathered into one message per period, grouped by entity.

``veille channels add email me@example.org --digest daily@08:00 --tz Europe/Paris``. Schedules::

    hourly              every hour at :00        hourly@:30     every hour at :30
    daily               every day at 08:00       daily@18:15    every day at 18:15
    weekly              Mondays at 08:00         weekly@fri 17:00

Times are in the channel's time zone (``--tz``, an IANA name; UTC when not given), daylight saving
included. Alerts for a digest channel are created ``queued`` instead of ``pending``. The beat's
``send_digests`` task calls :func:`send_due_digests`:

1. a due channel is claimed by moving its ``next_digest_at`` to the next period with a conditional
   UPDATE, and a ``digests`` row is inserted for (channel, due time), unique: two beats never both claim
   a window. The channel's queued alerts are attached to that row in the same transaction;
   A channel the user paused is skipped: its queued alerts wait, and a window that fell due during the pause
   is claimed when the pause ends;
2. a digest with no alert is recorded ``empty`` and not sent;
3. the digest is sent as one message by the outbox alerts use (:mod:`veille.pipeline.outbox`): the same
   pauses, send slot, retries and channel state; every attempt is recorded on its alerts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veille.alerts import DigestMessage
from veille.pipeline import outbox
from veille.pipeline.context import Context
from veille.pipeline.delivery import build_message
from veille.pipeline.outbox import Clock
from veille.storage import pauses
from veille.storage.db import rowcount
from veille.storage.models import Alert, Channel, Digest, utcnow

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_TIME = (8, 0)
_SPEC = re.compile(
    r"^(?P<every>hourly|daily|weekly)"
    r"(?:@(?:(?P<weekday>[a-z]{3})\s*)?(?P<hour>\d{1,2})?:(?P<minute>\d{2})|@(?P<day_only>[a-z]{3}))?$"
)


@dataclass(frozen=True, slots=True)
class Schedule:
    every: str  # hourly, daily, weekly
    hour: int
    minute: int
    weekday: int  # 0 = Monday (weekly only)
    tz: str

    @property
    def spec(self) -> str:
        """The canonical spelling, as ``--digest`` takes it."""
        if self.every == "hourly":
            return f"hourly@:{self.minute:02d}"
        at = f"{self.hour:02d}:{self.minute:02d}"
        return f"daily@{at}" if self.every == "daily" else f"weekly@{WEEKDAYS[self.weekday]} {at}"

    def describe(self) -> str:
        if self.every == "hourly":
            return f"hourly digest at :{self.minute:02d} ({self.tz})"
        at = f"{self.hour:02d}:{self.minute:02d}"
        if self.every == "daily":
            return f"daily digest at {at} {self.tz}"
        return f"weekly digest on {WEEKDAYS[self.weekday].capitalize()} at {at} {self.tz}"

    @property
    def title(self) -> str:
        return f"{self.every.capitalize()} digest"

    def next_after(self, now: datetime) -> datetime:
        """The first due time strictly after ``now``, in UTC."""
        zone = ZoneInfo(self.tz)
        local = now.astimezone(zone)
        if self.every == "hourly":
            candidate = local.replace(minute=self.minute, second=0, microsecond=0).astimezone(UTC)
            while candidate <= now:
                candidate += timedelta(hours=1)
            return candidate
        day = local.date()
        if self.every == "weekly":
            day += timedelta(days=(self.weekday - day.weekday()) % 7)
        step = timedelta(days=7 if self.every == "weekly" else 1)
        candidate = self._at(day, zone)
        while candidate <= now:
            day += step
            candidate = self._at(day, zone)
        return candidate

    def _at(self, day: date, zone: ZoneInfo) -> datetime:
        return datetime.combine(day, clock(self.hour, self.minute), tzinfo=zone).astimezone(UTC)


def parse_schedule(spec: str, tz: str | None = None) -> Schedule:
    """``daily@08:00``, ``hourly``, ``weekly@mon 08:00`` ... in time zone ``tz``; ValueError says what to write."""
    zone_name = (tz or "UTC").strip()
    try:
        ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"--tz: unknown time zone {zone_name!r} (use an IANA name such as Europe/Paris)") from exc
    text = " ".join(spec.strip().lower().split())
    match = _SPEC.match(text)
    hint = "use hourly, hourly@:30, daily, daily@08:00, weekly or weekly@mon 08:00"
    if not match:
        raise ValueError(f"--digest: cannot read {spec!r}; {hint}")
    every = match["every"]
    weekday_name = match["weekday"] or match["day_only"]
    if weekday_name is not None and weekday_name not in WEEKDAYS:
        raise ValueError(f"--digest: {spec!r}: unknown day {weekday_name!r}; use one of {', '.join(WEEKDAYS)}")
    if weekday_name is not None and every != "weekly":
        raise ValueError(f"--digest: {spec!r}: a day is for weekly digests only, e.g. weekly@{weekday_name} 08:00")
    if every == "hourly" and match["hour"] is not None:
        raise ValueError(f"--digest: {spec!r}: an hourly digest takes minutes only, e.g. hourly@:30")
    if every != "hourly" and match["minute"] is not None and match["hour"] is None:
        raise ValueError(f"--digest: {spec!r}: give the hour, e.g. {every}@08:00")
    hour = int(match["hour"]) if match["hour"] is not None else (0 if every == "hourly" else DEFAULT_TIME[0])
    minute = int(match["minute"]) if match["minute"] is not None else (0 if every == "hourly" else DEFAULT_TIME[1])
    if hour > 23 or minute > 59:
        raise ValueError(f"--digest: {spec!r}: not a time of day")
    weekday = WEEKDAYS.index(weekday_name) if weekday_name else 0
    return Schedule(every=every, hour=hour, minute=minute, weekday=weekday, tz=zone_name)


def schedule_of(channel: Channel) -> Schedule | None:
    """The channel's digest schedule, None for an immediate channel."""
    options = channel.options or {}
    spec = options.get("digest")
    if not spec:
        return None
    return parse_schedule(str(spec), options.get("tz"))


# --- sending ----------------------------------------------------------------------------------


DigestResult = outbox.Outcome  # what became of a digest


def claim_due_digests(ctx: Context, *, clock: Clock = utcnow) -> list[DigestResult]:
    """Claim every digest window that is due at ``clock()``: one ``digests`` row per (channel, due time), the
    channel's queued alerts attached to it. Returns the new digests (empty ones are recorded, not sent)."""
    now = clock()

    def work(s: Session) -> list[DigestResult]:
        claimed = []
        # a paused channel's windows are not claimed: its queued alerts wait, and a window that fell due during
        # the pause is claimed as soon as the pause ends
        for channel in s.scalars(select(Channel).where(pauses.active(Channel, now)).order_by(Channel.id)).all():
            try:
                schedule = schedule_of(channel)
            except ValueError as exc:
                log.warning("bad digest schedule", extra={"channel": channel.name, "error": str(exc)})
                continue
            if schedule is None:
                continue
            due = channel.next_digest_at
            if due is None:  # set when the channel was added; repaired here if not
                s.execute(update(Channel).where(Channel.id == channel.id, Channel.next_digest_at.is_(None))
                          .values(next_digest_at=schedule.next_after(now)))
                continue
            if due > now:
                continue
            moved = rowcount(s.execute(
                update(Channel).where(Channel.id == channel.id, Channel.next_digest_at == due)
                .values(next_digest_at=schedule.next_after(now))
            ))
            if moved != 1:
                continue  # another beat claimed it
            digest = Digest(channel_id=channel.id, due_at=due, status="pending", next_attempt_at=now, created_at=now)
            try:
                with s.begin_nested():
                    s.add(digest)
                    s.flush()
            except IntegrityError:
                continue  # this window was already claimed
            attached = rowcount(s.execute(
                update(Alert).where(Alert.channel_id == channel.id, Alert.status == "queued")
                .values(status="digest", digest_id=digest.id)
            ))
            digest.items = attached
            if attached == 0:
                digest.status = "empty"
            claimed.append(DigestResult(digest.id, digest.status))
        return claimed

    return ctx.db.run(work)


def send_due_digests(ctx: Context, *, clock: Clock = utcnow) -> list[DigestResult]:
    """Claim the due windows, then send every digest that is due (new ones, retries, interrupted ones)."""
    now = clock()
    claimed = claim_due_digests(ctx, clock=lambda: now)
    stale = now - timedelta(seconds=ctx.settings.stale_after)
    due = ctx.db.run(lambda s: list(s.scalars(
        select(Digest.id).where(outbox.claimable(Digest, now, stale)).order_by(Digest.id)
    )))
    results = [r for r in claimed if r.status == "empty"]
    results += [send_digest(ctx, digest_id, clock=clock) for digest_id in due]
    return results


def _gather(s: Session, ctx: Context, digest: Digest, channel: Channel, now: datetime) -> tuple[list[int], list[int]]:
    return [digest.id], list(s.scalars(select(Alert.id).where(Alert.digest_id == digest.id).order_by(Alert.id)))


def _compose(s: Session, ctx: Context, claim: outbox.Claim) -> DigestMessage:
    digest = s.get_one(Digest, claim.ids[0])
    channel = s.get_one(Channel, claim.channel.id)
    try:
        schedule = schedule_of(channel)
    except ValueError:
        schedule = None
    zone = schedule.tz if schedule else "UTC"
    return DigestMessage(
        title=schedule.title if schedule else "Digest",
        items=tuple(build_message(s, alert, channel) for alert in outbox.load_alerts(s, claim.alert_ids)),
        period=f"until {digest.due_at.astimezone(ZoneInfo(zone)):%a %d %b %Y, %H:%M} {zone}",
    )


DIGESTS = outbox.Outbox(Digest, "digest", _gather, _compose)


def send_digest(ctx: Context, digest_id: int, *, clock: Clock = utcnow) -> DigestResult:
    """Claim one due digest, send it as one message, record the attempt. Safe to call twice."""
    return outbox.deliver(ctx, DIGESTS, digest_id, clock=clock)
