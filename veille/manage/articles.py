"""Stored articles: what veille already knows of a page, for `explain` and the match views."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from veille.pipeline.context import Context
from veille.storage.models import Article, Entity, Match

# Why a match alerted nobody, as a user reads it (matches.reason)
REASONS = {
    "backlog": "backlog: already there at the feed's first poll",
    "too old": "too old: published more than VEILLE_MAX_AGE before veille saw it",
    "same story": "same story: another outlet's copy already alerted",
}


def reason_text(reason: str | None) -> str:
    return REASONS.get(reason or "", reason or "no alert")


@dataclass(frozen=True, slots=True)
class StoredMatch:
    entity: str
    alerted: bool
    reason: str | None  # of REASONS, when it alerted nobody
    where: tuple[str, ...]  # feed-title, feed-summary, title, text


@dataclass(frozen=True, slots=True)
class StoredArticle:
    id: int
    url: str
    feed_title: str  # the item's title in the feed ("" if none)
    feed_summary: str | None  # the feed's summary or content HTML of the item
    text_source: str | None
    quiet: str | None
    matches: tuple[StoredMatch, ...]

    def match(self, entity: str) -> StoredMatch | None:
        return next((m for m in self.matches if m.entity == entity), None)


def find_article(ctx: Context, url: str) -> StoredArticle | None:
    """The stored article at ``url`` (its address or its canonical one, as veille normalizes them), or None.
    A copy found under another article's canonical URL is that article."""
    from veille.pages.urls import url_key

    try:
        key = url_key(url)
    except ValueError:
        return None
    return ctx.db.run(_find, key)


def _find(s: Session, key: str) -> StoredArticle | None:
    article = s.scalar(select(Article).where(or_(Article.url_key == key, Article.canonical_key == key)).limit(1))
    if article is not None and article.duplicate_of is not None:
        article = s.get(Article, article.duplicate_of) or article
    if article is None:
        return None
    return stored_article(s, article)


def stored_article(s: Session, article: Article) -> StoredArticle:
    """What veille did with ``article``: its matches, and what of it was matched besides the page."""
    rows = s.execute(
        select(Entity.name, Match.alerted, Match.reason, Match.found_in)
        .join(Entity, Entity.id == Match.entity_id)
        .where(Match.article_id == article.id)
        .order_by(Entity.name)
    ).all()
    return StoredArticle(
        id=article.id,
        url=article.canonical_url or article.url,
        feed_title=article.feed_title or "",
        feed_summary=article.feed_content or article.feed_summary,
        text_source=article.text_source,
        quiet=article.quiet,
        matches=tuple(StoredMatch(name, bool(alerted), reason, tuple(found_in or ())) for name, alerted, reason,
                      found_in in rows),
    )
