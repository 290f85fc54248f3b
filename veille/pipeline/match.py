"""Matching: every tracked entity over each article, matches stored, the article put in its story, one outbox
row per (story, channel) for the channels its entities are routed to."""


from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from veille.feeds.words import feed_words
from veille.matching import EntitySpec, Hit, Matcher, MatchReport, fold_term
from veille.pipeline.context import Context, _insert
from veille.pipeline.delivery import is_digest, route_channels
from veille.storage import pauses
from veille.storage.db import rowcount
from veille.storage.models import Alert, Article, Channel, Entity, Match, utcnow
from veille.stories import assign_story, fingerprint

log = logging.getLogger(__name__)

# matching


_matcher_cache: dict[str, Any] = {}


def load_matcher(s: Session, now: datetime | None = None) -> tuple[Matcher, dict[int, Entity]]:
    """A matcher for the entities not paused at ``now``, rebuilt only when they (or their definitions) change."""
    entities = s.scalars(select(Entity).where(pauses.active(Entity, now)).order_by(Entity.id)).all()
    signature = repr([(e.id, e.name, e.aliases, e.excludes, e.options) for e in entities])
    if _matcher_cache.get("signature") != signature:
        _matcher_cache["matcher"] = Matcher(entity_spec(e) for e in entities)
        _matcher_cache["signature"] = signature
    return _matcher_cache["matcher"], {e.id: e for e in entities}


def entity_spec(entity: Entity) -> EntitySpec:
    options = entity.options or {}
    return EntitySpec(
        id=entity.id,
        name=entity.name,
        aliases=tuple(entity.aliases or ()),
        excludes=tuple(entity.excludes or ()),
        exact_aliases=tuple(options.get("exact_aliases", ())),
        require=tuple(options.get("require", ())),
        exact=bool(options.get("exact", False)),
        query=options.get("query"),
        min_mentions=int(options.get("min_mentions", 1)),
        in_title=bool(options.get("in_title", False)),
    )


def match_text(matcher: Matcher, *, title: str, text: str, url: str | None) -> MatchReport:
    return matcher.match(title=title or "", text=text or "", url=url)


def article_places(article: Article) -> dict[str, str]:
    """What of a stored article is matched: the page's title and text, and the feed's own title and summary
    of the item where they say something the page may not (keyword arguments of :meth:`Matcher.match`)."""
    title = article.title or ""
    feed_title = article.feed_title or ""
    if feed_title and fold_term(feed_title) == fold_term(title):
        feed_title = ""
    summary = ""
    if article.text_source not in ("feed", "feed-only"):  # else the text is already the feed's own
        summary = feed_words(article.feed_content or article.feed_summary)
    return {"title": title, "text": article.text or "", "feed_title": feed_title, "feed_summary": summary}


def match_article(matcher: Matcher, article: Article) -> MatchReport:
    return matcher.match(url=article.canonical_url or article.url, **article_places(article))


def match_articles(ctx: Context, article_ids: Sequence[int]) -> list[int]:
    """Match the articles against every tracked entity; store matches and one outbox row per (story, channel).
    Returns the ids of alerts created now that are to be sent now (not those waiting for a digest, nor a
    story's later copies, whose alert already exists)."""
    if not article_ids:
        return []
    # the entities and channels once per batch: with 10,000 entities, loading them is most of an article's cost
    setup = ctx.db.run(_setup)
    created: list[int] = []
    for article_id in article_ids:
        created.extend(ctx.db.run(_match_one, article_id, setup))
    return created


@dataclass(frozen=True, slots=True)
class _Setup:
    matcher: Matcher
    entities: dict[int, Entity]
    channels: list[Channel]


def _setup(s: Session) -> _Setup:
    matcher, entities = load_matcher(s)
    # a paused (muted) channel gets no alert at all, so resuming it brings no flood
    channels = list(s.scalars(select(Channel).where(pauses.active(Channel)).order_by(Channel.id)))
    return _Setup(matcher, entities, channels)


def store_match(
    s: Session, article_id: int, entity_id: int, hit: Hit, now: datetime, *, reason: str | None = None
) -> None:
    """One match row per (article, entity); a second call for the same pair changes nothing. ``reason``: why
    it alerts nobody ("backlog", "too old"), None when it alerts."""
    s.execute(
        _insert(s, Match)
        .values(
            article_id=article_id,
            entity_id=entity_id,
            term=hit.term,
            snippet=hit.snippet,
            hl_start=hit.highlight[0],
            hl_end=hit.highlight[1],
            count=hit.count,
            in_title=hit.in_title,
            matched_at=now,
            alerted=reason is None,
            reason=reason,
            found_in=list(hit.where),
        )
        .on_conflict_do_nothing()
    )


def _match_one(s: Session, article_id: int, setup: _Setup) -> list[int]:
    article = s.get(Article, article_id)
    if article is None or article.state != "fetched":
        return []
    matcher, entities = setup.matcher, setup.entities
    report = match_article(matcher, article)
    prints = fingerprint(article) if report.matches and article.story_id is None else None  # before any write
    now = utcnow()
    for hit in report.matches:
        store_match(s, article_id, hit.entity_id, hit, now, reason=article.quiet)
    claimed = rowcount(s.execute(
        update(Article).where(Article.id == article_id, Article.state == "fetched")
        .values(state="matched", matched_at=now, state_at=now)
    ))
    if claimed != 1 or not report.matches:
        return []
    # one story per group of near-duplicates; its first alert per channel is the only one (unique index)
    story_id = assign_story(s, article, prints)
    if article.quiet is not None:  # backlog: a real match, kept and shown, that alerts nobody
        log.info("match kept without an alert (%s): %s", article.quiet, article.title,
                 extra={"article_id": article_id, "reason": article.quiet})
        return []
    targets = route_channels(setup.channels, [entities[h.entity_id] for h in report.matches if h.entity_id in entities])
    if not targets:
        names = ", ".join(entities[h.entity_id].name for h in report.matches)
        log.info("ALERT %s: %s <%s>", names, article.title, article.canonical_url or article.url,
                 extra={"article_id": article_id})
        return []
    alert_ids = []
    for channel in targets:
        waits = is_digest(channel)  # digest channels: queued for the next digest, not sent one by one
        s.execute(
            _insert(s, Alert)
            .values(article_id=article_id, story_id=story_id, channel_id=channel.id,
                    status="queued" if waits else "pending", next_attempt_at=now,
                    enqueued_at=None if waits else now, created_at=now)
            .on_conflict_do_nothing()
        )
        alert_id = s.scalar(select(Alert.id).where(
            Alert.article_id == article_id, Alert.channel_id == channel.id, Alert.status == "pending"
        ))
        if alert_id is not None:
            alert_ids.append(alert_id)
    if not alert_ids and s.scalar(select(Alert.id).where(Alert.article_id == article_id).limit(1)) is None:
        # every channel already has the story's alert, from another outlet's copy: this one is "also covered by"
        s.execute(update(Match).where(Match.article_id == article_id).values(alerted=False, reason="same story"))
    return alert_ids
