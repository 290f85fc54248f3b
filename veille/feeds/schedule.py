"""When a feed is polled next: its interval, or exponential backoff after failures; a feed's adaptive interval."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


# --------------------------------------------------------------------------- adaptive intervals

WINDOW = 7 * 86400.0    # how far back a feed's publishing is counted
MIN_SPAN = 6 * 3600.0   # the shortest time a rhythm is measured over: a first poll's backlog is not a burst
GAP_FRACTION = 0.5      # poll twice per expected item
MAX_GROWTH = 2.0        # from one poll to the next an interval at most doubles (it shrinks at once)


@dataclass(frozen=True, slots=True)
class Publishing:
    """What a feed published in the last :data:`WINDOW`: how many items, and when the oldest of them was
    published (or first seen, for an item without a date)."""

    items: int
    oldest: datetime | None = None


def publication_gap(publishing: Publishing, *, now: datetime) -> float | None:
    """The mean gap in seconds between the feed's recent items: the time from the oldest of them to now
    (at least :data:`MIN_SPAN`) divided by their number; None when nothing was published in the window."""
    if publishing.items <= 0 or publishing.oldest is None:
        return None
    span = min(WINDOW, max(MIN_SPAN, (now - publishing.oldest).total_seconds()))
    return span / publishing.items


def freshness_lifetime(headers: Mapping[str, str], *, now: datetime) -> float | None:
    """Seconds a response stays fresh by its own headers (RFC 9111): ``Cache-Control: max-age`` less ``Age``,
    else ``Expires`` less ``Date`` (or less now); 0 for ``no-cache``, ``no-store`` or an ``Expires`` that is
    not a date; None when the response says nothing about it."""
    fields = {key.lower(): value for key, value in headers.items()}
    age = _seconds(fields.get("age")) or 0.0
    directives: dict[str, str] = {}
    for part in fields.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    if "max-age" in directives:
        max_age = _seconds(directives["max-age"])
        if max_age is not None:
            return max(0.0, max_age - age)
    expires = fields.get("expires")
    if expires is None:
        return None
    when = _http_date(expires)
    if when is None:
        return 0.0  # "0", "-1": already expired
    date = _http_date(fields.get("date") or "") or now
    return max(0.0, (when - date).total_seconds() - age)


def adaptive_interval(
    *,
    now: datetime,
    previous: float,
    publishing: Publishing | None,
    default: float,
    minimum: float,
    maximum: float,
    ttl: float | None = None,
    headers: Mapping[str, str] | None = None,
    unchanged: bool = False,
) -> float:
    """The poll interval, in seconds, of a feed without a fixed one, after a successful poll.

    1. Its rhythm: :data:`GAP_FRACTION` of the mean gap between the items it published over the last seven
       days (:func:`publication_gap`): a feed that publishes every ten minutes is polled every five, one that
       publishes four times a day every three hours. A feed veille knows nothing of yet (``publishing`` is
       None: no item stored) starts at ``default``; a feed with nothing in the window heads for ``maximum``.
    2. It slows down step by step: at most :data:`MAX_GROWTH` times ``previous``; it speeds up at once. A 304
       (``unchanged``: nothing new) never shortens it.
    3. The server's word: never shorter than the feed's ``ttl`` (RSS ``<ttl>``, in seconds) nor than the
       response's freshness lifetime (``Cache-Control: max-age``, ``Expires``: :func:`freshness_lifetime`).
    4. Always within ``minimum`` and ``maximum`` (``min_poll_interval``, ``max_poll_interval``).
    """
    if publishing is None:
        rhythm = default
    else:
        gap = publication_gap(publishing, now=now)
        rhythm = maximum if gap is None else gap * GAP_FRACTION
    if previous > 0:
        rhythm = min(rhythm, previous * MAX_GROWTH)
        if unchanged:
            rhythm = max(rhythm, previous)
    floors = [ttl or 0.0]
    if headers is not None:
        floors.append(freshness_lifetime(headers, now=now) or 0.0)
    interval = max(rhythm, *floors)
    return min(maximum, max(minimum, interval))


def _seconds(value: str | None) -> float | None:
    value = (value or "").strip()
    return float(value) if value.isdigit() else None


def _http_date(value: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when
