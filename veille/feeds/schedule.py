"""When a feed is polled next: its interval, or exponential backoff after failures."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_BACKOFF = 24 * 3600.0


def next_poll(now: datetime, interval: float, *, failures: int = 0, retry_after: float | None = None) -> datetime:
    """The next poll time: ``interval`` after ``now``; after ``failures`` consecutive errors, the interval
    doubled per failure (capped at 24 h, with 10 % jitter); never before a server's Retry-After."""
    delay = interval
    if failures > 0:
        delay = min(MAX_BACKOFF, interval * 2 ** min(failures - 1, 16))
        delay *= random.uniform(1.0, 1.1)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay)
