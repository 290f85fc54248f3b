"""Feeds: edit in place, pause and resume, remove.

A paused feed is not polled (nor stored from a WebSub push); when the pause ends, or on ``resume``, it is
polled at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from veille.manage.errors import InvalidError, NotFoundError
from veille.manage.pauses import PauseState, pause_end, state_of
from veille.settings import parse_duration
from veille.storage import pauses
from veille.storage.db import Database
from veille.storage.models import Entry, Feed, utcnow

FEED_TEXT = ("auto", "always", "never")


@dataclass(frozen=True, slots=True)
class FeedView:
    id: int
    url: str
    title: str | None
    tags: tuple[str, ...]
    interval: float  # seconds
    interval_fixed: bool  # --every; else adaptive
    feed_text: str
    backfill: float | None  # seconds; None: VEILLE_BACKFILL
    first_polled: bool  # its first successful poll is done (--backfill no longer applies)
    next_poll_at: datetime
    pause: PauseState


@dataclass(frozen=True, slots=True)
class FeedChanges:
    """What ``feeds edit`` changes; None (or empty) leaves a value as it is."""

    every: str | None = None  # a fixed interval, "10m"
    adaptive: bool = False  # the interval learned from the feed again
    title: str | None = None  # "" goes back to the feed's own title (at the next poll)
    tags: tuple[str, ...] = ()  # added
    clear_tags: bool = False  # before adding ``tags``
    backfill: str | None = None  # the first poll's alert window, "7d"; "0": alert on nothing already there
    feed_text: str | None = None  # auto, always, never

    def is_empty(self) -> bool:
        return self == FeedChanges()


@dataclass(frozen=True, slots=True)
class FeedImpact:
    """What removing a feed takes with it."""

    id: int
    url: str
    entries: int

    def describe(self) -> str:
        entries = f"{self.entries} {'entry' if self.entries == 1 else 'entries'}"
        return f"Remove feed {self.id} ({self.url})? Its {entries} go with it; its articles, matches and alerts stay."


@dataclass(frozen=True, slots=True)
class FeedRemoved:
    id: int
    url: str
    entries: int


def find_feed(s: Session, id_or_url: str) -> Feed:
    text = id_or_url.strip()
    feed = s.get(Feed, int(text)) if text.isdigit() else s.scalar(select(Feed).where(Feed.url == text))
    if feed is None:
        raise NotFoundError(f"no feed {id_or_url} (see `veille feeds list`)")
    return feed


def view(feed: Feed, now: datetime | None = None) -> FeedView:
    return FeedView(
        id=feed.id,
        url=feed.url,
        title=feed.title,
        tags=tuple(feed.tags or ()),
        interval=feed.interval,
        interval_fixed=feed.interval_fixed,
        feed_text=feed.feed_text,
        backfill=feed.backfill,
        # a poll that worked is recorded in first_ok_at; last_status says so too for a feed whose latest poll did
        first_polled=feed.first_ok_at is not None or feed.last_status in ("ok", "not modified"),
        next_poll_at=feed.next_poll_at,
        pause=state_of(feed, now),
    )


def get_feed(db: Database, id_or_url: str, *, now: datetime | None = None) -> FeedView:
    return db.run(lambda s: view(find_feed(s, id_or_url), now))


def _seconds(text: str, name: str, *, zero: bool = False) -> float:
    try:
        seconds = parse_duration(text.strip())
    except ValueError as exc:
        raise InvalidError(str(exc), field=name) from exc
    if seconds < 0 or (seconds == 0 and not zero):
        raise InvalidError("must be longer than zero", field=name)
    return seconds


def edit_feed(db: Database, id_or_url: str, changes: FeedChanges, *, now: datetime | None = None) -> FeedView:
    """Change a feed in place (its entries, articles and state kept). A shorter fixed interval takes effect
    at once: the next poll is no later than one new interval from now."""
    now = now or utcnow()
    if changes.is_empty():
        raise InvalidError("nothing to change: give at least one option (see `veille feeds edit --help`)")
    if changes.every is not None and changes.adaptive:
        raise InvalidError("--every sets a fixed interval, --adaptive lets the feed's pace decide: give one")
    every = _seconds(changes.every, "every") if changes.every is not None else None
    backfill = _seconds(changes.backfill, "backfill", zero=True) if changes.backfill is not None else None
    if changes.feed_text is not None and changes.feed_text not in FEED_TEXT:
        raise InvalidError(f"must be {', '.join(FEED_TEXT[:-1])} or {FEED_TEXT[-1]}", field="feed_text")

    def work(s: Session) -> FeedView:
        feed = find_feed(s, id_or_url)
        if every is not None:
            feed.interval, feed.interval_fixed = every, True
            feed.next_poll_at = min(feed.next_poll_at, now + timedelta(seconds=every))
        if changes.adaptive:
            feed.interval_fixed = False
        if changes.title is not None:
            feed.title = changes.title.strip()[:1024] or None
        if changes.tags or changes.clear_tags:
            kept = [] if changes.clear_tags else list(feed.tags or ())
            feed.tags = [t for t in dict.fromkeys(t.strip() for t in [*kept, *changes.tags]) if t]
        if backfill is not None:
            feed.backfill = backfill
        if changes.feed_text is not None:
            feed.feed_text = changes.feed_text
        s.flush()
        return view(feed, now)

    return db.run(work)


def pause_feed(
    db: Database, id_or_url: str, *, duration: str | None = None, until: str | None = None,
    now: datetime | None = None,
) -> FeedView:
    """Stop polling a feed for ``duration``, until ``until``, or until resumed."""
    now = now or utcnow()
    end = pause_end(duration=duration, until=until, now=now)

    def work(s: Session) -> FeedView:
        feed = find_feed(s, id_or_url)
        pauses.pause(feed, end)
        return view(feed, now)

    return db.run(work)


def resume_feed(db: Database, id_or_url: str, *, now: datetime | None = None) -> FeedView:
    """Poll the feed again, at once."""
    now = now or utcnow()

    def work(s: Session) -> FeedView:
        feed = find_feed(s, id_or_url)
        pauses.resume(feed)
        feed.next_poll_at = now
        return view(feed, now)

    return db.run(work)


def feed_removal_impact(db: Database, id_or_url: str) -> FeedImpact:
    def work(s: Session) -> FeedImpact:
        feed = find_feed(s, id_or_url)
        return FeedImpact(feed.id, feed.url, _entries(s, feed.id))

    return db.run(work)


def remove_feed(db: Database, id_or_url: str) -> FeedRemoved:
    """Remove a feed and its entries; its articles stay, with their matches and alerts."""

    def work(s: Session) -> FeedRemoved:
        feed = find_feed(s, id_or_url)
        removed = FeedRemoved(feed.id, feed.url, _entries(s, feed.id))
        s.delete(feed)
        return removed

    return db.run(work)


def _entries(s: Session, feed_id: int) -> int:
    return s.scalar(select(func.count()).select_from(Entry).where(Entry.feed_id == feed_id)) or 0
