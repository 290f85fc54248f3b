"""Explain: why a page did or did not alert (`veille explain`, the API, the web page's explain view).

A page is fetched through the guarded client (or given as HTML), extracted as the workers extract it, and
matched against the tracked entities (or one of them, even paused). When veille has stored the page, the
feed's own title and summary of it are matched too, and what was done with it is said (alerted, or kept
without an alert and why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from veille import http, pipeline
from veille.manage.articles import StoredArticle, StoredMatch, find_article
from veille.manage.errors import InvalidError, OperationError
from veille.manage.matches import MatchView
from veille.matching import Explanation, TermHit, fold_term

if TYPE_CHECKING:
    from veille.pages.extract import Article


@dataclass(frozen=True, slots=True)
class Explained:
    url: str  # where the page was read (after redirects), or the file's URL
    article: Article
    explanations: tuple[Explanation, ...]
    stored: StoredArticle | None
    entity: str | None = None  # the one entity asked about, if any
    not_mentioned: tuple[str, ...] = field(default=())  # that entity, when the page does not mention it
    feed_title: str = ""  # the feed's title of the item, when it was matched too (it says more than the page's)
    feed_summary: str = ""  # the feed's summary of the item as matched (its words)
    fetched: bool = True  # False: explained from what veille stored, the page not fetched again

    def stored_match(self, entity: str) -> StoredMatch | None:
        return self.stored.match(entity) if self.stored is not None else None

    def as_json(self) -> dict[str, Any]:
        """As every face shows it (`veille explain --json`, the API)."""
        article = self.article
        result: dict[str, Any] = {
            "url": self.url,
            "canonical_url": article.canonical_url,
            "title": article.title or "",
            "published": article.published.astimezone(UTC).isoformat() if article.published else None,
            "language": article.language,
            "text": article.text or "",
            "matches": [],
            "vetoed": [],
        }
        for explanation in self.explanations:
            places = [_place(t) for t in explanation.terms]
            if explanation.hit is not None:
                hit = explanation.hit
                known = self.stored_match(hit.entity)
                result["matches"].append({
                    "entity": hit.entity,
                    "term": hit.term,
                    "snippet": hit.snippet,
                    "highlight": list(hit.highlight),
                    "count": hit.count,
                    "in_title": hit.in_title,
                    "in_first_paragraph": hit.in_first_paragraph,
                    "where": list(hit.where),
                    "found": places,
                    "stored": None if known is None else {"alerted": known.alerted, "reason": known.reason,
                                                          "where": list(known.where)},
                })
            elif explanation.veto is not None:
                veto = explanation.veto
                result["vetoed"].append({"entity": veto.entity, "reason": veto.reason, "term": veto.term,
                                         "found": places})
        if self.not_mentioned:
            result["not_mentioned"] = list(self.not_mentioned)
        return result


def _place(found: TermHit) -> dict[str, Any]:
    return {
        "term": found.term,
        "role": found.role,
        "where": found.where,
        "start": found.start,
        "end": found.end,
        "snippet": found.snippet,
        "highlight": list(found.highlight),
    }


def fetch(ctx: pipeline.Context, url: str) -> tuple[str, Article]:
    """Fetch and extract a page through the guarded client; OperationError says why it can't be had."""
    from veille.pages.fetch import fetch_page

    settings = ctx.settings

    async def get() -> Any:
        async with http.make_client(settings) as client:
            return await fetch_page(client, url, max_bytes=settings.max_page_bytes)

    try:
        http.check_scheme(url)
    except ValueError as exc:  # urlsplit refuses e.g. an unclosed IPv6 bracket
        raise InvalidError(f"not a URL: {url} ({exc})", field="url") from exc
    except http.BlockedAddressError as exc:
        raise InvalidError(f"{url}: {exc}", field="url") from exc
    try:
        page = pipeline.run_async(get())
    except http.BlockedAddressError as exc:
        raise InvalidError(f"{url}: {exc}", field="url") from exc
    except http.FetchError as exc:
        raise OperationError(f"{url}: {exc}") from exc
    if page.article is None:
        raise OperationError(f"{url}: skipped: {page.skipped}")
    return page.url, page.article


def extract(html: bytes, *, url: str) -> Article:
    """Extract given HTML as if it had been fetched from ``url``."""
    from veille.pages.extract import extract_article

    return extract_article(html, url=url)


def explain(
    ctx: pipeline.Context, *, url: str, html: bytes | None = None, entity: str | None = None
) -> Explained:
    """Why the page at ``url`` (fetched, or ``html`` read as that page) did or did not alert: for every tracked
    entity it mentions (or only ``entity``, paused or not), every term found and where, the veto if any, and
    what veille did with the page when it has stored it."""
    if not url.strip():
        raise InvalidError("a URL is needed", field="url")
    chosen = None
    if entity:
        from veille.manage.entities import find_entity

        chosen = ctx.db.run(find_entity, entity)
        matcher = pipeline.Matcher([pipeline.entity_spec(chosen)])  # even when paused
    else:
        matcher = ctx.db.run(pipeline.load_matcher)[0]
    if html is None:
        url, article = fetch(ctx, url)
    else:
        article = extract(html, url=url)
    title, text = article.title or "", article.text or ""
    stored = find_article(ctx, article.canonical_url or url) or find_article(ctx, url)
    feed_title = feed_summary = ""
    if stored is not None:
        from veille.feeds.words import feed_words

        if stored.feed_title and fold_term(stored.feed_title) != fold_term(title):
            feed_title = stored.feed_title
        feed_summary = feed_words(stored.feed_summary)
    _, explanations = matcher.explain(
        title=title, text=text, url=article.canonical_url or url, feed_title=feed_title, feed_summary=feed_summary
    )
    missing = (chosen.name,) if chosen is not None and not explanations else ()
    return Explained(url=url, article=article, explanations=explanations, stored=stored,
                     entity=chosen.name if chosen is not None else None, not_mentioned=missing,
                     feed_title=feed_title, feed_summary=feed_summary)


@dataclass(frozen=True, slots=True)
class MatchExplained:
    """A stored match (``/matches/{id}``) and its article explained again from what veille stored."""

    match: MatchView
    explained: Explained


def explain_match(ctx: pipeline.Context, match_id: int) -> MatchExplained:
    """The match ``match_id`` with its alerts, and its article matched again, as stored (its text, the feed's
    title and summary; the page is not fetched), against today's definitions: its entity first (even paused),
    then every other tracked entity the article mentions. Parses the stored summary's HTML: run it where lxml
    may run."""
    from veille.manage.matches import get_match

    match = get_match(ctx, match_id)
    return MatchExplained(match, explain_article(ctx, article_id=match.article_id, entity=match.entity,
                                                 others=True))


def explain_article(
    ctx: pipeline.Context, *, article_id: int, entity: str | None = None, others: bool = False
) -> Explained:
    """Why the stored article ``article_id`` matches or not, from its stored text, feed title and summary (as
    :func:`veille.pipeline.match.article_places` gives them to the matcher; nothing fetched): for every tracked
    entity it mentions; or only ``entity`` (paused or not); or, with ``others``, ``entity`` first, then the
    other tracked entities it mentions."""
    from veille.manage.articles import stored_article
    from veille.manage.entities import find_entity
    from veille.manage.errors import NotFoundError
    from veille.pages.extract import Article as PageArticle
    from veille.pipeline.match import article_places
    from veille.storage.models import Article as StoredRow

    def load(s: Session) -> tuple[StoredRow, StoredArticle, list[pipeline.Matcher]]:
        row = s.get(StoredRow, article_id)
        if row is None:
            raise NotFoundError(f"no article {article_id}")
        chosen = find_entity(s, entity) if entity else None
        matchers = []
        if chosen is None or others:
            active, entities = pipeline.load_matcher(s)
            matchers.append(active)
            if chosen is not None and chosen.id in entities:
                chosen = None  # already in the tracked entities' matcher
        if chosen is not None:
            matchers.append(pipeline.Matcher([pipeline.entity_spec(chosen)]))  # paused, or asked about alone
        return row, stored_article(s, row), matchers

    row, stored, matchers = ctx.db.run(load)
    places = article_places(row)
    url = row.canonical_url or row.url
    explanations: list[Explanation] = []
    for matcher in matchers:
        explanations += matcher.explain(title=places["title"], text=places["text"], url=url,
                                        feed_title=places["feed_title"], feed_summary=places["feed_summary"])[1]
    wanted = fold_term(entity) if entity else None
    explanations.sort(key=lambda e: fold_term(e.entity) != wanted)  # the entity asked about first
    article = PageArticle(url=row.url, canonical_url=url, title=row.title or "", text=row.text or "",
                          published=row.published_at, language=row.language, author=row.author)
    missing = (entity,) if entity and not any(fold_term(e.entity) == wanted for e in explanations) else ()
    return Explained(url=url, article=article, explanations=tuple(explanations), stored=stored,
                     entity=entity if entity and not others else None, not_mentioned=missing,
                     feed_title=places["feed_title"], feed_summary=places["feed_summary"], fetched=False)
