"""Is the service running, and what is failing: `veille status`, the banner of `veille run`, later the web page.

The service says it is alive in the ``heartbeats`` table. The beat's dispatcher writes the ``beat`` row at
each tick it gets through (so a fresh ``beat`` row means the beat ticks *and* a worker runs its tasks); each
worker process writes its own row (``worker@host:pid``) on start and then every few seconds, and deletes it
when it stops cleanly. The service is running when the beat was seen within :func:`alive_within` and a
worker still is."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.orm import Session

from veille.pipeline import Context
from veille.settings import Settings
from veille.storage import pauses
from veille.storage.db import Database, rowcount
from veille.storage.models import Alert, Article, Channel, Entity, Feed, Heartbeat, utcnow

if TYPE_CHECKING:
    from veille.manage.channels import ChannelView
    from veille.manage.feeds import FeedView

log = logging.getLogger(__name__)

BEAT = "beat"
MIN_WINDOW = 30.0  # seconds: a service seen more recently than this (or three dispatch ticks) is running
FORGET_AFTER = timedelta(days=7)  # rows of workers that died without a word are deleted after this


def alive_within(settings: Settings) -> float:
    """Seconds since its last heartbeat within which a process counts as alive."""
    return max(MIN_WINDOW, 3 * settings.dispatch_every)


def heartbeat_every(settings: Settings) -> float:
    """Seconds between two heartbeats of one process: three of them in every :func:`alive_within`."""
    return alive_within(settings) / 3


# --------------------------------------------------------------------------- writing


def record_heartbeat(
    db: Database, *, name: str, kind: str, host: str | None = None, pid: int | None = None,
    now: datetime | None = None, stale_after: float = MIN_WINDOW,
) -> None:
    """One UPSERT: ``name`` is alive at ``now``. A row last seen more than ``stale_after`` seconds ago is a
    new start: its ``started_at`` becomes ``now``."""
    now = now or utcnow()
    stale = now - timedelta(seconds=stale_after)

    def write(s: Session) -> None:
        if s.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            insert = pg_insert(Heartbeat)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            insert = sqlite_insert(Heartbeat)  # type: ignore[assignment]
        statement = insert.values(name=name, kind=kind, host=host, pid=pid, started_at=now, seen_at=now)
        restarted = Heartbeat.seen_at < stale
        statement = statement.on_conflict_do_update(
            index_elements=[Heartbeat.name],
            set_={"kind": kind, "host": host, "pid": pid, "seen_at": now,
                  "started_at": case((restarted, statement.excluded.started_at), else_=Heartbeat.started_at)},
        )
        s.execute(statement)

    db.run(write)


def forget_heartbeat(db: Database, *, name: str) -> None:
    """A process stopping cleanly: its row goes."""
    db.run(lambda s: s.execute(delete(Heartbeat).where(Heartbeat.name == name)))


def forget_dead_workers(db: Database, *, now: datetime | None = None) -> int:
    """Delete the rows of workers not seen for :data:`FORGET_AFTER` (killed ones never delete their own)."""
    cutoff = (now or utcnow()) - FORGET_AFTER
    return db.run(lambda s: rowcount(s.execute(
        delete(Heartbeat).where(Heartbeat.kind == "worker", Heartbeat.seen_at < cutoff)
    )))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class Worker:
    name: str
    host: str | None
    pid: int | None
    started_at: datetime
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """``last_beat`` None: the service never ran against this database. ``workers``: those seen alive."""

    running: bool
    last_beat: datetime | None
    workers: tuple[Worker, ...]
    now: datetime

    def describe(self) -> str:
        """``running, beat 4 s ago`` / ``not running (last seen 3 h ago)`` / ``never started``."""
        workers = f"{plural(len(self.workers), 'worker')} up"
        if self.last_beat is None:
            return f"not running (no beat yet, {workers}: is the beat running?)" if self.workers else "never started"
        age = since(self.last_beat, self.now)
        if self.running:
            return f"running, beat {age} ago"
        if self.workers:  # workers, but nothing dispatches their work
            return f"not running (beat last seen {age} ago, {workers}: is the beat running?)"
        return f"not running (last seen {age} ago)"


def service_status(ctx: Context, *, now: datetime | None = None) -> ServiceStatus:
    now = now or utcnow()
    return ctx.db.run(_service_status, ctx.settings, now)


def _service_status(s: Session, settings: Settings, now: datetime) -> ServiceStatus:
    window = timedelta(seconds=alive_within(settings))
    rows = s.scalars(select(Heartbeat).order_by(Heartbeat.name)).all()
    beat = next((r for r in rows if r.name == BEAT), None)
    workers = tuple(
        Worker(r.name, r.host, r.pid, r.started_at, r.seen_at)
        for r in rows if r.kind == "worker" and now - r.seen_at <= window
    )
    running = beat is not None and now - beat.seen_at <= window and bool(workers)
    return ServiceStatus(running=running, last_beat=beat.seen_at if beat else None, workers=workers, now=now)


def since(when: datetime, now: datetime) -> str:
    """How long ago, in one unit, rounded down: ``4 s``, ``12 min``, ``3 h``, ``2 d``."""
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass(frozen=True, slots=True)
class Counts:
    """Feeds or channels: ``ok`` (enabled and not failing), ``failing``, ``paused`` (disabled by a user)."""

    ok: int
    failing: int
    paused: int

    @property
    def total(self) -> int:
        return self.ok + self.failing + self.paused


@dataclass(frozen=True, slots=True)
class ChannelName:
    name: str
    kind: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class Summary:
    """What `veille status` says on its first line and `veille run` in its banner."""

    service: ServiceStatus
    feeds: Counts
    channels: Counts
    channel_names: tuple[ChannelName, ...]
    entities: int
    alerts_pending: int
    alerts_failed: int
    alerts_sent: int
    articles: int
    waiting_for_page: int

    @property
    def failing(self) -> bool:
        return bool(self.feeds.failing or self.channels.failing)

    def line(self) -> str:
        """``service: running, beat 4 s ago; 5 feeds: 4 ok, 1 failing; 2 channels ok; 3 alerts pending``."""
        alerts = f"{plural(self.alerts_pending, 'alert')} pending" if self.alerts_pending else "no alert pending"
        if self.alerts_failed:
            alerts += f", {self.alerts_failed} failed"
        parts = [f"service: {self.service.describe()}", counted(self.feeds, "feed"), self.where_alerts_go(short=True),
                 alerts]
        return "; ".join(parts)

    def where_alerts_go(self, *, short: bool = False) -> str:
        """``2 channels ok`` (short) or ``research (slack), ops (email)``; with none, the log."""
        if not self.channel_names:
            return "no channel: alerts go to the log"
        if short:
            return counted(self.channels, "channel")
        return ", ".join(f"{c.name} ({c.kind}{'' if c.enabled else ', paused'})" for c in self.channel_names)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def counted(counts: Counts, noun: str) -> str:
    """``5 feeds: 4 ok, 1 failing`` / ``2 channels ok`` / ``no feed``."""
    if not counts.total:
        return f"no {noun}"
    states = [(counts.ok, "ok"), (counts.failing, "failing"), (counts.paused, "paused")]
    present = [f"{n} {state}" for n, state in states if n]
    if len(present) == 1:
        return f"{plural(counts.total, noun)} {present[0].split(' ', 1)[1]}"
    return f"{plural(counts.total, noun)}: {', '.join(present)}"


def summary(ctx: Context, *, now: datetime | None = None) -> Summary:
    now = now or utcnow()

    def load(s: Session) -> Summary:
        # a pause whose end has passed counts as over; removed channels are history, not channels
        feeds = [(pauses.is_active(f, now), f.last_status)  # three columns, not a thousand whole feeds
                 for f in s.execute(select(Feed.enabled, Feed.resume_at, Feed.last_status))]
        channels = [c for c in s.scalars(select(Channel).order_by(Channel.name)) if pauses.removed(c.options) is None]
        by_status = dict(s.execute(select(Alert.status, func.count()).group_by(Alert.status)).all())
        waiting = s.scalar(select(func.count()).select_from(Article)
                           .where(or_(Article.state == "new", Article.state == "fetching")))
        return Summary(
            service=_service_status(s, ctx.settings, now),
            feeds=Counts(
                ok=sum(1 for enabled, status in feeds if enabled and status != "error"),
                failing=sum(1 for enabled, status in feeds if enabled and status == "error"),
                paused=sum(1 for enabled, _ in feeds if not enabled),
            ),
            channels=Counts(
                ok=sum(1 for c in channels if pauses.is_active(c, now) and c.state != "failing"),
                failing=sum(1 for c in channels if pauses.is_active(c, now) and c.state == "failing"),
                paused=sum(1 for c in channels if not pauses.is_active(c, now)),
            ),
            channel_names=tuple(ChannelName(c.name, c.kind, pauses.is_active(c, now)) for c in channels),
            entities=s.scalar(select(func.count()).select_from(Entity)) or 0,
            alerts_pending=by_status.get("pending", 0) + by_status.get("sending", 0),
            alerts_failed=by_status.get("failed", 0),
            alerts_sent=by_status.get("sent", 0),
            articles=s.scalar(select(func.count()).select_from(Article)) or 0,
            waiting_for_page=waiting or 0,
        )

    return ctx.db.run(load)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Everything `veille status` shows (and `GET /api/v1/status` answers)."""

    summary: Summary
    feeds: tuple[FeedView, ...]
    channels: tuple[ChannelView, ...]

    def as_json(self) -> dict[str, Any]:
        summary, service = self.summary, self.summary.service
        return {
            "service": {
                "running": service.running,
                "state": service.describe(),
                "last_beat": _iso(service.last_beat),
                "workers": [{"name": w.name, "host": w.host, "pid": w.pid, "started_at": _iso(w.started_at),
                             "last_seen": _iso(w.seen_at)} for w in service.workers],
            },
            "feeds": [f.as_json() for f in self.feeds],
            "channels": [c.as_json() for c in self.channels],
            "alerts": {"pending": summary.alerts_pending, "failed": summary.alerts_failed, "sent": summary.alerts_sent},
            "articles": {"total": summary.articles, "waiting_for_page": summary.waiting_for_page},
            "entities": summary.entities,
        }


def status_report(ctx: Context, *, now: datetime | None = None) -> StatusReport:
    from veille.manage.channels import list_channels
    from veille.manage.feeds import list_feeds

    now = now or utcnow()
    return StatusReport(summary(ctx, now=now), tuple(list_feeds(ctx.db, now=now)),
                        tuple(list_channels(ctx.db, now=now)))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None
