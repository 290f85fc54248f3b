"""Pauses, as every face asks for them: for a duration (``7d``, ``12h``) or until a date, or until resumed.

The rule of what a pause does lives in :mod:`veille.storage.pauses`; this module reads what the user asked
for and says it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

from veille.manage.errors import InvalidError
from veille.settings import parse_duration
from veille.storage import pauses
from veille.storage.models import utcnow

MAX_PAUSE = 100 * 365 * 86400.0  # seconds: longer would pass the year 9999 (an overflow, not an error)


@dataclass(frozen=True, slots=True)
class PauseState:
    paused: bool
    until: datetime | None  # when the pause ends; None while paused: until resumed

    def describe(self) -> str:
        """"paused until 2026-12-09 10:00 UTC", "paused", or "" when not paused."""
        if not self.paused:
            return ""
        return f"paused until {format_time(self.until)}" if self.until else "paused"


def state_of(row: pauses.Pausable, now: datetime | None = None) -> PauseState:
    paused, until = pauses.paused_until(row, now)
    return PauseState(paused, until)


def format_time(when: datetime | None) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when else ""


def pause_end(*, duration: str | None = None, until: str | None = None, now: datetime | None = None) -> datetime | None:
    """When a pause ends: ``duration`` from ``now`` (``7d``), or ``until`` (``2026-12-09``: that day at 00:00 UTC;
    an ISO date and time, UTC unless it gives an offset); neither: None, until resumed."""
    now = now or utcnow()
    if duration is not None and until is not None:
        raise InvalidError("pause for a duration or until a date, not both", field="for")
    if duration is not None:
        try:
            seconds = parse_duration(duration.strip())
        except ValueError as exc:
            raise InvalidError(str(exc), field="for") from exc
        if seconds <= 0:
            raise InvalidError("must be longer than zero", field="for")
        if seconds > MAX_PAUSE:
            raise InvalidError("too long: pause for at most 100 years, or until resumed (no end)", field="for")
        return now + timedelta(seconds=seconds)
    if until is not None:
        end = parse_until(until)
        if end <= now:
            raise InvalidError(f"{format_time(end)} has already passed", field="until")
        return end
    return None


def parse_until(text: str) -> datetime:
    value = text.strip()
    try:
        if len(value) == 10:  # YYYY-MM-DD
            return datetime.combine(date.fromisoformat(value), clock(0, 0), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidError(
            f"not a date: {text!r} (use YYYY-MM-DD, or a date and time such as 2026-12-09T10:00 or "
            "2026-12-09T10:00+01:00; UTC unless an offset is given)",
            field="until",
        ) from exc
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00: past the last representable moment
        raise InvalidError(f"out of range: {text!r}", field="until") from exc
