"""Matches: which stored articles named which tracked entity, newest first (`veille matches`, later the web
page and the API)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from veille.manage.errors import InvalidError, NotFoundError
from veille.pipeline import Context
from veille.storage import search
from veille.storage.models import Article, Entity, Entry, Feed, Match, utcnow


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
    article_id: int = 0  # the stored article's id

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
    total: int  # every match the filters select (with ``more``: at least that many)
    items: tuple[MatchView, ...]  # the page of them asked for
    more: bool = False  # more than ``total`` match: counting stopped there (``count_up_to``)


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
    count_up_to: int | None = None,
    now: datetime | None = None,
) -> MatchPage:
    """:func:`list_matches` a page at a time: ``limit`` matches after the first ``offset``, and how many the
    filters select in all, or, with ``count_up_to``, up to that many (``more`` says there are more: counting
    every match of a word most articles have would read every article)."""
    from veille.matching import fold_term

    if limit is not None and limit < 1:
        raise InvalidError("must be 1 or more", field="limit")
    if since is not None and since <= timedelta(0):
        raise InvalidError("must be longer than zero", field="since")
    if offset < 0:
        raise InvalidError("must be 0 or more", field="offset")
    now = now or utcnow()

    def load(s: Session) -> MatchPage:
        # on ``matches`` alone: ``articles`` is joined for the page's rows only (its rows hold the texts)
        statement = select(Match.id)
        if entity is not None:
            entity_id = s.scalar(select(Entity.id).where(Entity.name_key == fold_term(entity)))
            if entity_id is None:
                raise NotFoundError(f"not tracked: {entity} (see `veille track list`)")
            statement = statement.where(Match.entity_id == entity_id)
        if feed is not None:
            feed_id = _feed_id(s, feed)
            if feed_id is None:
                raise NotFoundError(f"no feed {feed} (see `veille feeds list`)")
            # the articles the feed listed (its entries: an article several feeds list is in each)
            statement = statement.where(Match.article_id.in_(select(Entry.article_id).where(Entry.feed_id == feed_id)))
        if since is not None:
            statement = statement.where(Match.matched_at >= now - since)
        searched = search.article_ids(s, query) if query else None
        if searched is not None:
            statement = statement.where(Match.article_id.in_(searched))
        if alerted is not None:
            statement = statement.where(Match.alerted.is_(alerted))
        newest = statement.order_by(Match.matched_at.desc(), Match.id.desc())
        if count_up_to is not None and offset <= count_up_to:
            # one statement for the page and the count: the ids up to the cap, newest first (a search's
            # condition is evaluated once, not once to count and again for the page)
            wanted = max(limit or 0, count_up_to + 1 - offset)
            found = list(s.scalars(newest.offset(offset).limit(wanted) if offset else newest.limit(wanted)))
            ids = found[:limit] if limit is not None else found
            if offset + len(found) > count_up_to:
                return MatchPage(count_up_to, _views(s, ids), True)
            if found or not offset:  # else past the end: how far it is is counted below
                return MatchPage(offset + len(found), _views(s, ids))
        # the total (counted up to ``count_up_to`` past it), then the page's ids, then those rows in full
        counted = statement if count_up_to is None else statement.limit(count_up_to + 1)
        total = s.scalar(select(func.count()).select_from(counted.subquery())) or 0
        more = count_up_to is not None and total > count_up_to
        newest = newest.offset(offset) if offset else newest
        if limit is not None:
            newest = newest.limit(limit)
        ids = list(s.scalars(newest))
        return MatchPage(count_up_to if more and count_up_to is not None else total, _views(s, ids), more)

    return ctx.db.run(load)


def get_match(ctx: Context, match_id: int) -> MatchView:
    """One match by its id (the web page's ``/matches/{id}``), with its story and its alerts."""
    def load(s: Session) -> MatchView:
        found = _views(s, [match_id])
        if not found:
            raise NotFoundError(f"no match {match_id}: it may have gone with its entity (see `veille matches`)")
        return found[0]

    return ctx.db.run(load)


def _views(s: Session, ids: Sequence[int]) -> tuple[MatchView, ...]:
    """The matches of ``ids``, in that order, each with its story's other copies and its alerts: four queries
    for the whole page, whatever its length."""
    from veille.manage.channels import alert_histories
    from veille.stories import copies_of

    if not ids:
        return ()
    rows = s.execute(
        select(Match, Entity.name, Article.id, Article.title, Article.url, Article.canonical_url,
               Article.published_at, Article.story_id, Feed.title, Feed.url)
        .join(Entity, Entity.id == Match.entity_id)
        .join(Article, Article.id == Match.article_id)
        .outerjoin(Feed, Feed.id == Article.feed_id)
        .where(Match.id.in_(ids))
    ).all()
    by_id = {row[0].id: row for row in rows}
    copies = copies_of(s, (row[7] for row in rows if row[7] is not None))
    alerts = alert_histories(s, ((row[2], row[7]) for row in rows))
    views = []
    for match_id in ids:
        if match_id not in by_id:
            continue
        match, entity, article_id, title, url, canonical, published, story, feed_title, feed_url = by_id[match_id]
        views.append(MatchView(
            id=match.id,
            entity=entity,
            title=title,
            url=canonical or url,
            feed=feed_title or feed_url,
            snippet=match.snippet,
            highlight=(match.hl_start, match.hl_end),
            term=match.term,
            count=match.count,
            in_title=match.in_title,
            published=published,
            matched_at=match.matched_at,
            alerted=bool(match.alerted),
            reason=match.reason,
            where=tuple(match.found_in or ()),
            story=story,
            also_covered_by=tuple(Copy(c.outlet, c.url) for c in copies.get(story, ()) if c.article_id != article_id)
            if story is not None else (),
            alerts=tuple(alerts.get(article_id, ())),
            article_id=article_id,
        ))
    return tuple(views)


def _feed_id(s: Session, id_or_url: str) -> int | None:
    from veille.manage.feeds import as_id

    id_or_url = id_or_url.strip()
    if (feed_id := as_id(id_or_url)) is not None:
        return s.scalar(select(Feed.id).where(Feed.id == feed_id))
    return s.scalar(select(Feed.id).where(Feed.url == id_or_url))


@dataclass(frozen=True, slots=True)
class Choices:
    """What the matches can be filtered by: every tracked entity's name, every feed (id, title or URL)."""

    entities: tuple[str, ...]
    feeds: tuple[tuple[int, str], ...]


def filter_choices(ctx: Context) -> Choices:
    def load(s: Session) -> Choices:
        names = tuple(s.scalars(select(Entity.name).order_by(Entity.name_key)))
        feeds = tuple((feed_id, title or url) for feed_id, title, url in
                      s.execute(select(Feed.id, Feed.title, Feed.url).order_by(func.lower(func.coalesce(Feed.title,
                                                                                                      Feed.url)))))
        return Choices(names, feeds)

    return ctx.db.run(load)
