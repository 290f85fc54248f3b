"""Pages: claim articles, fetch and extract them concurrently, store text and canonical URL."""


from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veille import http
from veille.feeds.schedule import backoff_delay
from veille.feeds.words import feed_words
from veille.pages.fetch import ExtractorCrashed, FetchedPage, fetch_page
from veille.pages.urls import url_key
from veille.pipeline.context import MAX_PAGE_ATTEMPTS, Context, run_async
from veille.search.links import UnresolvedLink, hiding_provider, unresolved
from veille.search.slots import wait_turn
from veille.storage.models import Article, utcnow

log = logging.getLogger(__name__)

Page = FetchedPage | http.FetchError | ExtractorCrashed | UnresolvedLink

# pages


def _claim_articles(ctx: Context, article_ids: Sequence[int]) -> tuple[list[tuple[int, str]], list[int]]:
    """Claim articles that need a page fetch (new, or a fetch interrupted long ago): one conditional UPDATE for
    the whole batch, RETURNING what it claimed (SQLite 3.35+ and PostgreSQL). Returns the claimed (id, url)
    pairs, and the articles given up instead: claimed ``MAX_PAGE_ATTEMPTS`` times already, each claim ended
    with no result (the worker died: a native crash in the extractor kills its process, however Celery then
    replaces it), so they get the feed's own text and go to matching without another try."""
    if not article_ids:
        return [], []
    now = utcnow()
    stale = now - timedelta(seconds=ctx.settings.stale_after)

    def work(s: Session) -> tuple[list[tuple[int, str]], list[int]]:
        gave_up = _give_up_interrupted(s, article_ids, stale, now)
        rows = s.execute(
            update(Article)
            .where(
                Article.id.in_(list(article_ids)),
                or_(Article.state == "new", (Article.state == "fetching") & (Article.state_at < stale)),
                or_(Article.next_attempt_at.is_(None), Article.next_attempt_at <= now),  # a failed page waits
            )
            .values(state="fetching", state_at=now, attempts=Article.attempts + 1)
            .returning(Article.id, Article.url)
            .execution_options(synchronize_session=False)
        ).all()
        claimed = {article_id: url or "" for article_id, url in rows}
        targets = [(article_id, claimed[article_id]) for article_id in dict.fromkeys(article_ids)
                   if article_id in claimed]
        return targets, gave_up

    return ctx.db.run(work)


def _give_up_interrupted(s: Session, article_ids: Sequence[int], stale: datetime, now: datetime) -> list[int]:
    rows = s.execute(
        update(Article)
        .where(
            Article.id.in_(list(article_ids)), Article.state == "fetching", Article.state_at < stale,
            Article.attempts >= MAX_PAGE_ATTEMPTS,
        )
        .values(state="fetched", state_at=now)
        .returning(Article.id)
        .execution_options(synchronize_session=False)
    ).all()
    gave_up = [article_id for (article_id,) in rows]
    for article_id in gave_up:
        article = s.get(Article, article_id)
        if article is None:
            continue
        article.error = (f"extract: the page was never extracted: its worker died {article.attempts} times "
                         "(the extractor crashed, or the service was stopped)")
        _use_feed_text(article)
        log.warning("page given up: its worker died on it every time; matching the feed's own text",
                    extra={"article_id": article_id, "entry_url": article.url, "attempts": article.attempts})
    return gave_up


async def _fetch_pages(
    ctx: Context, targets: Sequence[tuple[int, str]], store: Callable[[int, str, Page], None]
) -> None:
    settings = ctx.settings
    limiter = http.HostLimiter(settings.per_host_concurrency, settings.fetch_concurrency)
    pending = {article_id for article_id, _ in targets}
    renewing = asyncio.create_task(_keep_claimed(ctx, pending))
    try:
        async with http.make_client(settings) as client:

            async def one(article_id: int, url: str) -> None:
                page: Page
                hiding = hiding_provider(settings, url)  # a search link hiding the publisher's URL (Google News)
                try:
                    if hiding is not None:  # resolved in the provider's turn, across processes
                        await wait_turn(ctx.db, hiding.name, hiding.spacing)
                    async with limiter.slot(url):
                        page = await fetch_page(client, url, max_bytes=settings.max_page_bytes)
                    if hiding is not None:
                        page = unresolved(hiding, url, page.url) or page
                except (http.FetchError, ExtractorCrashed) as exc:
                    page = exc
                pending.discard(article_id)
                store(article_id, url, page)  # at once: no page waits in memory for the slowest of its batch

            await asyncio.gather(*(one(article_id, url) for article_id, url in targets))
    finally:
        renewing.cancel()


async def _keep_claimed(ctx: Context, pending: set[int]) -> None:
    """Renew the claim on the articles still waiting for their page, a few times per ``stale_after``.

    A batch's last pages may wait minutes for their host's turn (2 at a time, each up to the HTTP timeout).
    Without renewal, the dispatcher would take them for interrupted work and hand them to a second worker,
    which fetches them again from a host that is already slow. A worker that dies stops renewing, so its
    articles are still recovered after ``stale_after``."""
    every = max(0.2, ctx.settings.stale_after / 3)
    while True:
        await asyncio.sleep(every)
        if pending:
            try:
                ctx.db.run(_renew_claims, list(pending))
            except Exception:  # a missed renewal costs at most a duplicate fetch
                log.warning("renewing page claims failed", exc_info=True)


def _renew_claims(s: Session, article_ids: list[int]) -> None:
    s.execute(
        update(Article).where(Article.id.in_(article_ids), Article.state == "fetching")
        .values(state_at=utcnow()).execution_options(synchronize_session=False)
    )


def fetch_pages(ctx: Context, article_ids: Sequence[int], *, then: Callable[[int], None] | None = None) -> list[int]:
    """Fetch and extract the articles' pages concurrently, storing each as it arrives; returns the ids ready
    for matching, in the order they became ready. ``then(article_id)`` is called for each as soon as it is
    stored (`veille poll` matches them while the next pages are still being fetched and extracted)."""
    targets, gave_up = _claim_articles(ctx, article_ids)
    ready: list[int] = []
    for article_id in gave_up:
        ready.append(article_id)
        if then is not None:
            then(article_id)

    def store(article_id: int, url: str, page: Page) -> None:
        try:
            stored = ctx.db.run(_store_page, article_id, page, ctx.settings.page_retry)
        except Exception:
            log.exception("storing page failed", extra={"article_id": article_id, "entry_url": url})
            ctx.db.run(_page_failed, article_id, "store: internal error", final=False, retry=ctx.settings.page_retry)
            return
        if stored:
            ready.append(article_id)
            if then is not None:
                then(article_id)

    if targets:
        run_async(_fetch_pages(ctx, targets, store))
    return ready


def _fallback_text(article: Article) -> str:
    return feed_words(article.feed_content or article.feed_summary)


def _use_feed_text(article: Article) -> None:
    """The page can't be had or extracted: match on what the feed itself says rather than miss a mention."""
    article.text = _fallback_text(article)
    article.text_source = "feed-only"
    article.state = "fetched"


def _page_failed(s: Session, article_id: int, error: str, *, final: bool, retry: float) -> bool:
    """Record a failed fetch. A transient one is tried again ``retry`` seconds later, then twice that (with
    jitter), up to ``MAX_PAGE_ATTEMPTS`` in all; a permanent one, or the last, falls back on the feed's text.
    Logged when the page starts failing and when it is given up, not at every retry."""
    article = s.get(Article, article_id)
    if article is None:
        return False
    first = article.error is None  # it had not failed before
    now = utcnow()
    article.error = error
    article.state_at = now
    extra = {"article_id": article_id, "entry_url": article.url, "attempts": article.attempts, "error": error}
    if final or article.attempts >= MAX_PAGE_ATTEMPTS:
        article.next_attempt_at = None
        _use_feed_text(article)
        log.warning("page given up (%s): matching the feed's own text", error, extra=extra)
        return True
    article.state = "new"
    article.next_attempt_at = now + timedelta(seconds=backoff_delay(retry, article.attempts))
    if first:
        log.warning("page fetch failed; retrying from %s", article.next_attempt_at.isoformat(timespec="seconds"),
                    extra=extra)
    else:
        log.debug("page fetch failed again", extra=extra)
    return False


def _title_only(article: Article, link: UnresolvedLink) -> bool:
    """A search link that never left its provider's site: not a failure, the article is its title (matched on
    it alone) and its link stays the provider's page."""
    _use_feed_text(article)
    article.error, article.next_attempt_at, article.state_at = None, None, utcnow()
    log.info("%s link not resolved to the publisher's page: matched on its title alone", link.provider,
             extra={"article_id": article.id, "entry_url": link.url})
    return True


def _store_page(s: Session, article_id: int, page: Page, retry: float = 60.0) -> bool:
    article = s.get(Article, article_id)
    if article is None or article.state != "fetching":
        return False
    if isinstance(page, http.FetchError):
        return _page_failed(s, article_id, f"fetcher: {page}", final=not page.transient, retry=retry)
    if isinstance(page, ExtractorCrashed):
        return _page_failed(s, article_id, f"extract: {page}", final=True, retry=retry)
    if isinstance(page, UnresolvedLink):
        return _title_only(article, page)
    if page.article is None:
        return _page_failed(s, article_id, f"skipped: {page.skipped}", final=True, retry=retry)
    extracted = page.article
    canonical = extracted.canonical_url or page.url
    canonical_key = url_key(canonical)
    owner = s.scalar(
        select(Article.id).where(
            or_(Article.canonical_key == canonical_key, Article.url_key == canonical_key), Article.id != article_id
        )
    )
    article.state_at = utcnow()
    if owner is not None:
        article.state, article.duplicate_of, article.canonical_url = "duplicate", owner, canonical
        return False
    article.canonical_url = canonical
    article.title = extracted.title or article.title
    article.text = extracted.text or _fallback_text(article)
    article.text_source = "page" if extracted.text else "feed-only"
    article.language = extracted.language
    article.author = extracted.author or article.author
    article.published_at = article.published_at or extracted.published
    if article.error is not None and article.attempts > 1:
        log.info("page fetched at attempt %d, after failing", article.attempts,
                 extra={"article_id": article_id, "entry_url": article.url})
    article.error = None
    article.next_attempt_at = None
    article.state = "fetched"
    try:
        with s.begin_nested():
            article.canonical_key = canonical_key
            s.flush()
    except IntegrityError:  # another worker stored the same canonical URL a moment ago
        article.canonical_key = None
        owner = s.scalar(select(Article.id).where(Article.canonical_key == canonical_key))
        article.state, article.duplicate_of = "duplicate", owner
        return False
    return True
