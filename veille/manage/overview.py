"""The overview: what the web page's front page shows (alerts of the last day, whether the service runs,
what is failing, and matches per day per entity over the last 30 days)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from veille.clock import utcnow
from veille.manage.channels import ChannelView, list_channels
from veille.manage.feeds import FeedView, failing_feeds
from veille.manage.matches import MatchView, find_matches
from veille.manage.status import Summary, summary
from veille.pipeline.context import Context
from veille.storage.models import Entity, Match

DAYS = 30
TOP = 8  # entities drawn on the chart; the others are summed as one line


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    counts: tuple[int, ...]  # one a day, oldest first

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True)
class Chart:
    days: tuple[date, ...]
    series: tuple[Series, ...]  # the busiest entities first

    @property
    def peak(self) -> int:
        return max((max(s.counts) for s in self.series), default=0)


@dataclass(frozen=True, slots=True)
class Overview:
    summary: Summary
    alerts: tuple[MatchView, ...]  # matches that alerted in the last day, newest first
    alerts_total: int
    failing_feeds: tuple[FeedView, ...]
    failing_channels: tuple[ChannelView, ...]
    chart: Chart


def overview(ctx: Context, *, now: datetime | None = None, limit: int = 50) -> Overview:
    now = now or utcnow()
    alerts = find_matches(ctx, since=timedelta(days=1), alerted=True, limit=limit, now=now)
    return Overview(
        summary=summary(ctx, now=now),
        alerts=alerts.items,
        alerts_total=alerts.total,
        failing_feeds=tuple(failing_feeds(ctx.db, now=now)),
        failing_channels=tuple(c for c in list_channels(ctx.db, now=now) if c.failing),
        chart=matches_per_day(ctx, now=now),
    )


def matches_per_day(ctx: Context, *, now: datetime | None = None, days: int = DAYS) -> Chart:
    """Matches per day (UTC) per entity over the last ``days`` days, today included."""
    now = now or utcnow()
    today = now.date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)

    def load(s: Session) -> list[tuple[str, date, int]]:
        day = _day(s)
        rows = s.execute(
            select(Entity.name, day.label("day"), func.count())
            .join(Entity, Entity.id == Match.entity_id)
            .where(Match.matched_at >= start)
            .group_by(Entity.name, day)
        ).all()
        return [(name, _as_date(value), count) for name, value, count in rows]

    by_entity: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    for name, day, count in ctx.db.run(load):
        index = (day - first).days
        if 0 <= index < days:
            by_entity[name][index] += count
    ranked = sorted(by_entity.items(), key=lambda item: (-sum(item[1]), item[0]))
    series = [Series(name, tuple(counts)) for name, counts in ranked[:TOP]]
    if len(ranked) > TOP:
        rest = [sum(values) for values in zip(*(counts for _, counts in ranked[TOP:]), strict=True)]
        series.append(Series(f"{len(ranked) - TOP} others", tuple(rest)))
    return Chart(tuple(first + timedelta(days=i) for i in range(days)), tuple(series))


def _day(s: Session) -> ColumnElement[Any]:
    """The UTC day of a match's time, in the session's SQL dialect."""
    if s.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", Match.matched_at))
    return func.date(Match.matched_at)  # SQLite stores UTC times as text


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
