"""The clock: the one place veille reads the time of day. Code that needs "now" takes it as an argument
where tests must set it, and defaults to :func:`utcnow`."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
