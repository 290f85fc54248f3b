"""User pauses of feeds, entities and channels: the one rule of when a row counts as active.

A pause is ``enabled`` false plus ``resume_at``, when it ends (None: until resumed). A pause whose end has
passed counts as over everywhere at once, with no job to flip the row back: every query that selects the
active rows uses :func:`active`, and code holding a loaded row asks :func:`is_active`. Resuming sets
``enabled`` true and ``resume_at`` None.

A removed channel is kept (its alert history stays) as a channel paused for good: never active.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, or_

from veille.storage.models import utcnow


class Pausable(Protocol):
    enabled: bool
    resume_at: datetime | None


def active(model: Any, now: datetime | None = None) -> ColumnElement[bool]:
    """The SQL condition "not paused at ``now``" for Feed, Entity or Channel."""
    now = now or utcnow()
    return or_(model.enabled.is_(True), and_(model.resume_at.is_not(None), model.resume_at <= now))


def is_active(row: Pausable, now: datetime | None = None) -> bool:
    """:func:`active` for a loaded row."""
    if row.enabled:
        return True
    return row.resume_at is not None and row.resume_at <= (now or utcnow())


def paused_until(row: Pausable, now: datetime | None = None) -> tuple[bool, datetime | None]:
    """(paused, until when): (False, None) when active; (True, None) when paused until resumed."""
    if is_active(row, now):
        return False, None
    return True, row.resume_at


def pause(row: Pausable, until: datetime | None) -> None:
    row.enabled, row.resume_at = False, until


def resume(row: Pausable) -> None:
    row.enabled, row.resume_at = True, None


def removed(options: dict[str, Any] | None) -> dict[str, Any] | None:
    """A removed channel's record (``{"name": its name, "at": ISO time}``) from its options, else None.
    Removal renames the row (so the name is free again) and keeps it, paused for good."""
    record = (options or {}).get("removed")
    return record if isinstance(record, dict) else None
