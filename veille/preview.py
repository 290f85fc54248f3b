"""Tracking definitions against the articles already stored.

`preview` answers "which of the articles I already have would this definition have matched?" before
anything is saved (`veille track test`). `backfill` applies a newly tracked entity to the recent
articles, as if it had been tracked when they arrived (`veille track add --backfill 7d`): it stores
their matches and the outbox rows of the channels the entity is routed to, which the service's
dispatcher (or the next `veille poll`) then delivers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from veille.matching import EntitySpec, Hit, Matcher, Veto
from veille.pipeline.context import Context, _insert
from veille.pipeline.delivery import is_digest, route_channels
from veille.pipeline.match import entity_spec, match_article, store_match
from veille.storage import pauses, search
from veille.storage.models import Alert, Article, Channel, Entity, utcnow
from veille.stories import assign_story

log = logging.getLogger(__name__)

BATCH = 200  # articles read per transaction
STATES = ("fetched", "matched")  # articles whose text is known; the others have nothing to match yet


@dataclass(frozen=True, slots=True)
class Preview:
    """One stored article the definition mentions: `hit` if it would have alerted, else `veto`."""

    article_id: int
    title: str
    url: str
    seen_at: datetime  # when it was matched, or first seen
    hit: Hit | None
    veto: Veto | None

    def as_json(self) -> dict[str, Any]:
        """As every face shows it (`track test --json`, the API): the article, then the hit or the veto."""
        row: dict[str, Any] = {"article_id": self.article_id, "title": self.title, "url": self.url,
                               "seen_at": self.seen_at.isoformat()}
        if self.hit is not None:
            row.update(term=self.hit.term, snippet=self.hit.snippet, highlight=list(self.hit.highlight),
                       count=self.hit.count, in_title=self.hit.in_title,
                       in_first_paragraph=self.hit.in_first_paragraph, where=list(self.hit.where))
        if self.veto is not None:
            row.update(vetoed=self.veto.reason, term=self.veto.term)
        return row


@dataclass(frozen=True, slots=True)
class Backfill:
    articles: int  # stored articles in the window
    matched: int  # of which the entity matches
    alerts: int  # outbox rows created now (an article already alerted on a channel gets none)
    channels: tuple[str, ...]  # the channels the entity is routed to


def preview(ctx: Context, spec: EntitySpec, *, since: float, now: datetime | None = None) -> list[Preview]:
    """The stored articles from the last `since` seconds that `spec` mentions, newest first."""
    matcher = Matcher([spec])
    found: list[Preview] = []
    for article in _articles(ctx, since=since, now=now, keys=matcher.mention_keys(spec.id)):
        report = match_article(matcher, article)
        if not report.matches and not report.vetoed:
            continue
        found.append(
            Preview(
                article_id=article.id,
                title=article.title or "",
                url=_url(article),
                seen_at=_seen_at(article),
                hit=report.matches[0] if report.matches else None,
                veto=report.vetoed[0] if report.vetoed else None,
            )
        )
    found.sort(key=lambda p: (p.seen_at, p.article_id), reverse=True)
    return found


def backfill(ctx: Context, entity_id: int, *, since: float, now: datetime | None = None) -> Backfill:
    """Match the entity against the stored articles from the last `since` seconds; for each article it
    matches, store the match and one pending alert per channel the entity is routed to (nothing where the
    article, or its story, already has one for that channel). Running it twice creates nothing new."""
    entity = ctx.db.run(lambda s: s.get(Entity, entity_id))
    if entity is None:
        raise ValueError(f"no entity with id {entity_id}")
    matcher = Matcher([entity_spec(entity)])
    channels = tuple(c.name for c in ctx.db.run(_targets, entity_id))
    articles = ctx.db.run(_count, since, now)
    matched = alerts = 0
    for article in _articles(ctx, since=since, now=now, keys=matcher.mention_keys(entity_id)):
        report = match_article(matcher, article)
        if report.matches:
            matched += 1
            alerts += ctx.db.run(_store, entity_id, article.id, report.matches[0])
    return Backfill(articles=articles, matched=matched, alerts=alerts, channels=channels)


def _targets(s: Session, entity_id: int) -> list[Channel]:
    channels = s.scalars(select(Channel).where(pauses.active(Channel)).order_by(Channel.id)).all()
    return route_channels(channels, [s.get_one(Entity, entity_id)])


def _store(s: Session, entity_id: int, article_id: int, hit: Hit) -> int:
    """The match and the alerts of one article, in one transaction; returns the alerts created."""
    article = s.get(Article, article_id)
    if article is None:  # removed since it was read
        return 0
    now = utcnow()
    store_match(s, article_id, entity_id, hit, now)
    story_id = assign_story(s, article)
    targets = _targets(s, entity_id)
    if not targets:  # no channel: the alert goes to the log, as for new articles
        name = s.get_one(Entity, entity_id).name
        log.info("ALERT %s: %s <%s>", name, article.title, _url(article), extra={"article_id": article_id})
        return 0
    created = 0
    for channel in targets:
        waits = is_digest(channel)  # digest channels: queued for the next digest, like new articles
        inserted = s.execute(
            _insert(s, Alert)
            .values(
                article_id=article_id,
                story_id=story_id,
                channel_id=channel.id,
                status="queued" if waits else "pending",
                next_attempt_at=now,
                enqueued_at=None,  # not handed to a worker: the dispatcher (or `veille poll`) picks it up
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(Alert.id)  # a row only when inserted (rowcount is -1 here on PostgreSQL)
        ).first()
        created += inserted is not None
    if created:
        log.info("backfill alert", extra={"article_id": article_id, "entity_id": entity_id, "alerts": created})
    return created


def _articles(ctx: Context, *, since: float, now: datetime | None, keys: tuple[str, ...] = ()) -> Iterator[Article]:
    """The stored articles with a text, matched or first seen within the window, read in batches; with
    ``keys`` (the folded spellings of the entity's mentions), only those the search index finds one in."""
    cutoff = (now or utcnow()) - timedelta(seconds=since)
    last = 0
    while True:
        batch = ctx.db.run(_batch, cutoff, last, keys)
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def _window(cutoff: datetime) -> Any:
    return (Article.state.in_(STATES), or_(Article.matched_at >= cutoff, Article.first_seen_at >= cutoff))


def _batch(s: Session, cutoff: datetime, after: int, keys: tuple[str, ...]) -> list[Article]:
    statement = select(Article).where(Article.id > after, *_window(cutoff))
    candidates = search.any_phrase(s, keys) if keys else None
    if candidates is not None:
        statement = statement.where(candidates)
    return list(s.scalars(statement.order_by(Article.id).limit(BATCH)))


def _count(s: Session, since: float, now: datetime | None) -> int:
    """How many stored articles the window holds."""
    cutoff = (now or utcnow()) - timedelta(seconds=since)
    return s.scalar(select(func.count()).select_from(Article).where(*_window(cutoff))) or 0


def _url(article: Article) -> str:
    return article.canonical_url or article.url


def _seen_at(article: Article) -> datetime:
    return article.matched_at or article.first_seen_at
