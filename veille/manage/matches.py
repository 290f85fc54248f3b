"""Matches: which stored articles named which tracked entity, newest first (`veille matches`, later the web
page and the API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from veille.manage.errors import InvalidError, NotFoundError
from veille.pipeline import Context
from veille.storage import search
from veille.storage.models import Article, Entity, Feed, Match, utcnow


@dataclass(frozen=True, slots=True)
class Copy:
    """The same story from another outlet."""

    outlet: str
    url: str


@dataclass(frozen=True, slots=True)
class MatchView:
    """One match: an article that named an entity. ``alerted`` false: kept without an alert, ``reason`` says
    why ("backlog": already there when its feed was first polled; "too old"). ``where``: where the hits are
    (``feed-title``, ``feed-summary``, ``title``, ``text``). ``highlight``: the hit's span in ``snippet``."""

    id: int
    entity: str
    title: str | None
    url: str
    feed: str | None
    snippet: str
    highlight: tuple[int, int]
    term: str
    count: int
    in_title: bool
    published: datetime | None
    matched_at: datetime
    alerted: bool
    reason: str | None
    where: tuple[str, ...]
    story: int | None = None
    also_covered_by: tuple[Copy, ...] = field(default=())
    # the article's (or its story's) alerts, channel by channel, removed channels included: ``channel``,
    # ``status``, ``sent_at``, ``channel_removed``
    alerts: tuple[dict[str, Any], ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The match as every face shows it (`veille matches --json`, the API)."""
        return {
            "id": self.id,
            "entity": self.entity,
            "title": self.title,
            "url": self.url,
            "feed": self.feed,
            "snippet": self.snippet,
            "highlight": list(self.highlight),
            "term": self.term,
            "count": self.count,
            "in_title": self.in_title,
            "published": _iso(self.published),
            "matched_at": _iso(self.matched_at),
            "alerted": self.alerted,
            "reason": self.reason,
            "where": list(self.where),
            "story": self.story,
            "also_covered_by": [{"outlet": c.outlet, "url": c.url} for c in self.also_covered_by],
            "alerts": list(self.alerts),  # per channel, removed ones included
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


@dataclass(frozen=True, slots=True)
class MatchPage:
    total: int  # every match the filters select
    items: tuple[MatchView, ...]  # the page of them asked for


def list_matches(
    ctx: Context,
    *,
    entity: str | None = None,
    feed: str | None = None,
    since: timedelta | None = None,
    query: str | None = None,
    limit: int | None = None,
    now: datetime | None = None,
) -> list[MatchView]:
    """Matches, newest first: of one tracked entity (its name, folded like names are), of one feed (its id
    or URL), made within ``since`` of ``now``, of articles whose title or text has every word of ``query``;
    the first ``limit`` of them (None: all)."""
    return list(find_matches(ctx, entity=entity, feed=feed, since=since, query=query, limit=limit, now=now).items)


def find_matches(
    ctx: Context,
    *,
    entity: str | None = None,
    feed: str | None = None,
    since: timedelta | None = None,
    query: str | None = None,
    alerted: bool | None = None,
    limit: int | None = None,
    offset: int = 0,
    now: datetime | None = None,
) -> MatchPage:
    """:func:`list_matches` a page at a time: ``limit`` matches after the first ``offset``, and how many the
    filters select in all."""
    from veille.manage.channels import alert_history
    from veille.matching import fold_term
    from veille.stories import story_fields

    if limit is not None and limit < 1:
        raise InvalidError("must be 1 or more", field="limit")
    if since is not None and since <= timedelta(0):
        raise InvalidError("must be longer than zero", field="since")
    if offset < 0:
        raise InvalidError("must be 0 or more", field="offset")
    now = now or utcnow()

    def load(s: Session) -> MatchPage:
        statement = (
            select(Match, Entity.name, Article, Feed.title, Feed.url)
            .join(Entity, Entity.id == Match.entity_id)
            .join(Article, Article.id == Match.article_id)
            .outerjoin(Feed, Feed.id == Article.feed_id)
            .order_by(Match.matched_at.desc(), Match.id.desc())
        )
        if entity is not None:
            entity_id = s.scalar(select(Entity.id).where(Entity.name_key == fold_term(entity)))
            if entity_id is None:
                raise NotFoundError(f"not tracked: {entity} (see `veille track list`)")
            statement = statement.where(Match.entity_id == entity_id)
        if feed is not None:
            feed_id = _feed_id(s, feed)
            if feed_id is None:
                raise NotFoundError(f"no feed {feed} (see `veille feeds list`)")
            statement = statement.where(Article.feed_id == feed_id)
        if since is not None:
            statement = statement.where(Match.matched_at >= now - since)
        if query and query.strip():
            statement = statement.where(search.matches(s, query))
        if alerted is not None:
            statement = statement.where(Match.alerted.is_(alerted))
        total = s.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
        statement = statement.offset(offset) if offset else statement
        if limit is not None:
            statement = statement.limit(limit)
        return MatchPage(total, tuple(
            _view(match, name, article, feed_title or feed_url, story_fields(s, article),
                  alert_history(s, article.id, article.story_id))
            for match, name, article, feed_title, feed_url in s.execute(statement)
        ))

    return ctx.db.run(load)


def _feed_id(s: Session, id_or_url: str) -> int | None:
    from veille.manage.feeds import as_id

    id_or_url = id_or_url.strip()
    if (feed_id := as_id(id_or_url)) is not None:
        return s.scalar(select(Feed.id).where(Feed.id == feed_id))
    return s.scalar(select(Feed.id).where(Feed.url == id_or_url))


def _view(
    match: Match, entity: str, article: Article, feed: str | None, story: dict[str, Any],
    alerts: list[dict[str, Any]],
) -> MatchView:
    return MatchView(
        id=match.id,
        entity=entity,
        title=article.title,
        url=article.canonical_url or article.url,
        feed=feed,
        snippet=match.snippet,
        highlight=(match.hl_start, match.hl_end),
        term=match.term,
        count=match.count,
        in_title=match.in_title,
        published=article.published_at,
        matched_at=match.matched_at,
        alerted=bool(match.alerted),
        reason=match.reason,
        where=tuple(match.found_in or ()),
        story=story["story"],
        also_covered_by=tuple(Copy(c["outlet"], c["url"]) for c in story["also_covered_by"]),
        alerts=tuple(alerts),
    )
