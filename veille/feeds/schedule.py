"""When a feed is polled next: its interval, or exponential backoff after failures."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_BACKOFF = 24 * 3600.0


def backoff_delay(interval: float, failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive errors: the interval doubled per failure after the
    first, with up to 10 % jitter so feeds that failed together do not retry together; never over 24 h."""
    if failures <= 0:
        return interval
    delay = interval * 2 ** min(failures - 1, 32) * random.uniform(1.0, 1.1)
    return min(MAX_BACKOFF, max(interval, delay))


def next_poll(now: datetime, interval: float, *, failures: int = 0, retry_after: float | None = None) -> datetime:
    """The next poll time: ``interval`` after ``now``; after ``failures`` consecutive errors, the backoff of
    :func:`backoff_delay`; never before a server's Retry-After (itself honoured up to 24 h)."""
    delay = backoff_delay(interval, failures)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_BACKOFF))
    return now + timedelta(seconds=delay)
