"""The stages an article goes through, as plain functions.

``veille poll`` calls :func:`poll_once`, which runs every stage in-process; the Celery
tasks call the same stage functions one step at a time. Each stage claims its rows with a
conditional UPDATE and relies on unique constraints, so running a stage twice for the
same ids (a redelivered task, two workers racing) is harmless.

    claim_due_feeds -> poll_feeds -> fetch_pages -> match_articles -> deliver_alerts
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veille import http
from veille.alerts import AlertError, AlertMessage, EntityMention, make_transport
from veille.feeds.parse import FeedEntry, FeedParseError, parse_feed
from veille.feeds.schedule import next_poll
from veille.matching import EntitySpec, Matcher, MatchReport
from veille.pages.extract import html_to_text
from veille.pages.fetch import FetchedPage, fetch_page
from veille.pages.urls import normalize_url, url_key
from veille.settings import Settings
from veille.storage.db import Database, database, rowcount
from veille.storage.models import Alert, Article, Attempt, Channel, Entity, Entry, Feed, Match, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PAGE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    db: Database


def make_context(settings: Settings) -> Context:
    return Context(settings=settings, db=database(settings.resolved_database_url))


def run_async(coro: Any) -> Any:
    """Run a coroutine from sync code (CLI, Celery tasks)."""
    return asyncio.run(coro)


def _insert(session: Session, model: type[Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(model)
    return sqlite_insert(model)


# --------------------------------------------------------------------------- feeds


@dataclass(frozen=True, slots=True)
class FeedResult:
    feed_id: int
    status: str                                # "ok", "not modified", "error"
    new_articles: tuple[int, ...] = ()         # need a page fetch
    ready_articles: tuple[int, ...] = ()       # carry their own full text: go straight to matching
    entries: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _FeedRequest:
    feed_id: int
    url: str
    etag: str | None
    last_modified: str | None


def claim_due_feeds(ctx: Context, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Claim the feeds whose ``next_poll_at`` has passed: each claim moves ``next_poll_at`` one interval
    ahead with a conditional UPDATE, so two dispatchers never claim the same feed for the same interval."""
    now = now or utcnow()

    def work(s: Session) -> list[int]:
        due = s.execute(
            select(Feed.id, Feed.next_poll_at, Feed.interval)
            .where(Feed.enabled.is_(True), Feed.next_poll_at <= now)
            .order_by(Feed.next_poll_at)
            .limit(limit)
        ).all()
        claimed = []
        for feed_id, due_at, interval in due:
            lease = now + timedelta(seconds=max(interval, 30.0))
            rows = rowcount(s.execute(
                update(Feed).where(Feed.id == feed_id, Feed.next_poll_at == due_at).values(next_poll_at=lease)
            ))
            if rows == 1:
                claimed.append(feed_id)
        return claimed

    return ctx.db.run(work)


async def _fetch_feeds(ctx: Context, requests: Sequence[_FeedRequest]) -> list[http.Response | http.FetchError]:
    settings = ctx.settings
    limiter = http.HostLimiter(settings.per_host_concurrency, settings.fetch_concurrency)
    async with http.make_client(settings) as client:

        async def one(request: _FeedRequest) -> http.Response | http.FetchError:
            headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"}
            if request.etag:
                headers["If-None-Match"] = request.etag
            if request.last_modified:
                headers["If-Modified-Since"] = request.last_modified
            try:
                async with limiter.slot(request.url):
                    return await http.fetch(client, request.url, max_bytes=settings.max_feed_bytes, headers=headers)
            except http.FetchError as exc:
                return exc

        return await asyncio.gather(*(one(r) for r in requests))


def poll_feeds(ctx: Context, feed_ids: Sequence[int]) -> list[FeedResult]:
    """Fetch the feeds concurrently (conditional GET) and store their new entries."""
    feeds = ctx.db.run(lambda s: s.scalars(select(Feed).where(Feed.id.in_(feed_ids))).all())
    requests = [_FeedRequest(f.id, f.url, f.etag, f.last_modified) for f in feeds]
    responses: list[http.Response | http.FetchError] = run_async(_fetch_feeds(ctx, requests))
    results = []
    for request, response in zip(requests, responses, strict=True):
        try:
            results.append(ctx.db.run(_store_feed, ctx, request.feed_id, response))
        except Exception as exc:  # a broken feed is a recorded error, never a crashed worker
            log.exception("storing feed failed", extra={"feed_id": request.feed_id})
            results.append(_record_feed_error(ctx, request.feed_id, f"store: {type(exc).__name__}: {exc}"))
    return results


def _record_feed_error(ctx: Context, feed_id: int, message: str, retry_after: float | None = None) -> FeedResult:
    def work(s: Session) -> FeedResult:
        feed = s.get(Feed, feed_id)
        if feed is not None:
            now = utcnow()
            feed.failures += 1
            feed.last_status, feed.last_error, feed.last_poll_at = "error", message, now
            feed.next_poll_at = next_poll(now, feed.interval, failures=feed.failures, retry_after=retry_after)
        return FeedResult(feed_id=feed_id, status="error", error=message)

    return ctx.db.run(work)


def _store_feed(s: Session, ctx: Context, feed_id: int, response: http.Response | http.FetchError) -> FeedResult:
    feed = s.get(Feed, feed_id)
    if feed is None:
        return FeedResult(feed_id=feed_id, status="error", error="feed was removed")
    now = utcnow()
    feed.last_poll_at = now
    if isinstance(response, http.FetchError):
        feed.failures += 1
        feed.last_status, feed.last_error = "error", f"fetcher: {response}"
        feed.next_poll_at = next_poll(now, feed.interval, failures=feed.failures, retry_after=response.retry_after)
        log.warning("feed fetch failed", extra={"feed_id": feed_id, "feed_url": feed.url, "error": str(response)})
        return FeedResult(feed_id=feed_id, status="error", error=feed.last_error)
    if response.status == 304:
        feed.failures, feed.last_status, feed.last_error = 0, "not modified", None
        feed.next_poll_at = next_poll(now, feed.interval)
        return FeedResult(feed_id=feed_id, status="not modified")
    try:
        parsed = parse_feed(response.content, url=response.url, headers=dict(response.headers))
    except FeedParseError as exc:
        feed.failures += 1
        feed.last_status, feed.last_error = "error", str(exc)
        feed.next_poll_at = next_poll(now, feed.interval, failures=feed.failures)
        return FeedResult(feed_id=feed_id, status="error", error=str(exc))
    feed.etag = response.headers.get("ETag")
    feed.last_modified = response.headers.get("Last-Modified")
    feed.title = feed.title or parsed.title
    feed.site_url = feed.site_url or parsed.site_url
    feed.failures, feed.last_status, feed.last_error = 0, "ok", None
    feed.next_poll_at = next_poll(now, feed.interval)
    new: list[int] = []
    ready: list[int] = []
    for entry in parsed.entries:
        stored = _store_entry(s, ctx, feed, entry, base_url=response.url)
        if stored is not None:
            article_id, has_text = stored
            (ready if has_text else new).append(article_id)
    return FeedResult(
        feed_id=feed_id, status="ok", new_articles=tuple(new), ready_articles=tuple(ready), entries=len(parsed.entries)
    )


def _feed_text(ctx: Context, feed: Feed, entry: FeedEntry) -> str | None:
    """The entry's own full text, when the feed carries the article and the feed's setting allows it."""
    if feed.feed_text == "never" or not entry.content:
        return None
    text = html_to_text(entry.content)
    if feed.feed_text == "always" or len(text) >= ctx.settings.feed_text_min_chars:
        return text
    return None


def _store_entry(s: Session, ctx: Context, feed: Feed, entry: FeedEntry, *, base_url: str) -> tuple[int, bool] | None:
    """Record one feed item; returns (article id, has full text) when the article is new to veille."""
    if s.scalar(select(Entry.id).where(Entry.feed_id == feed.id, Entry.key == entry.key)) is not None:
        return None
    link = None
    if entry.link:
        try:
            link = normalize_url(entry.link, base=base_url)
        except ValueError:
            link = None
    key = url_key(link) if link else f"guid:{feed.id}:{entry.key}"
    article_id = s.scalar(select(Article.id).where(or_(Article.url_key == key, Article.canonical_key == key)))
    created = False
    full_text = None
    if article_id is None:
        full_text = _feed_text(ctx, feed, entry)
        values = dict(
            url_key=key,
            url=link or entry.link or "",
            guid=entry.guid,
            feed_id=feed.id,
            title=entry.title or None,
            feed_summary=entry.summary or None,
            feed_content=entry.content or None,
            text=full_text,
            author=entry.author,
            published_at=entry.published,
            state="fetched" if (full_text is not None or not link) else "new",
        )
        if not link:  # nothing to fetch: match on what the feed says
            values["text"] = full_text or html_to_text(entry.content or entry.summary)
        result = s.execute(_insert(s, Article).values(**values).on_conflict_do_nothing())
        article_id = s.scalar(select(Article.id).where(Article.url_key == key))
        created = rowcount(result) > 0
    s.execute(
        _insert(s, Entry).values(feed_id=feed.id, key=entry.key, article_id=article_id).on_conflict_do_nothing()
    )
    if not created or article_id is None:
        return None
    return article_id, full_text is not None or not link


# --------------------------------------------------------------------------- pages


def _claim_articles(ctx: Context, article_ids: Sequence[int]) -> list[tuple[int, str]]:
    """Claim articles that need a page fetch (new, or a fetch interrupted long ago)."""
    now = utcnow()
    stale = now - timedelta(seconds=ctx.settings.stale_after)

    def work(s: Session) -> list[tuple[int, str]]:
        claimed = []
        for article_id in article_ids:
            rows = rowcount(s.execute(
                update(Article)
                .where(
                    Article.id == article_id,
                    or_(Article.state == "new", (Article.state == "fetching") & (Article.state_at < stale)),
                )
                .values(state="fetching", state_at=now, attempts=Article.attempts + 1)
            ))
            if rows == 1:
                url = s.scalar(select(Article.url).where(Article.id == article_id))
                claimed.append((article_id, url or ""))
        return claimed

    return ctx.db.run(work)


async def _fetch_pages(ctx: Context, targets: Sequence[tuple[int, str]]) -> list[FetchedPage | http.FetchError]:
    settings = ctx.settings
    limiter = http.HostLimiter(settings.per_host_concurrency, settings.fetch_concurrency)
    async with http.make_client(settings) as client:

        async def one(url: str) -> FetchedPage | http.FetchError:
            try:
                async with limiter.slot(url):
                    return await fetch_page(client, url, max_bytes=settings.max_page_bytes)
            except http.FetchError as exc:
                return exc

        return await asyncio.gather(*(one(url) for _, url in targets))


def fetch_pages(ctx: Context, article_ids: Sequence[int]) -> list[int]:
    """Fetch and extract the articles' pages concurrently; returns the ids ready for matching."""
    targets = _claim_articles(ctx, article_ids)
    if not targets:
        return []
    pages: list[FetchedPage | http.FetchError] = run_async(_fetch_pages(ctx, targets))
    ready = []
    for (article_id, url), page in zip(targets, pages, strict=True):
        try:
            if ctx.db.run(_store_page, article_id, page):
                ready.append(article_id)
        except Exception:
            log.exception("storing page failed", extra={"article_id": article_id, "entry_url": url})
            ctx.db.run(_page_failed, article_id, "store: internal error", final=False)
    return ready


def _fallback_text(article: Article) -> str:
    return html_to_text(article.feed_content or article.feed_summary or "")


def _page_failed(s: Session, article_id: int, error: str, *, final: bool) -> bool:
    article = s.get(Article, article_id)
    if article is None:
        return False
    article.error = error
    article.state_at = utcnow()
    if final or article.attempts >= MAX_PAGE_ATTEMPTS:
        # the page can't be had: match on what the feed itself says rather than miss a mention
        article.text = _fallback_text(article)
        article.state = "fetched"
        return True
    article.state = "new"
    return False


def _store_page(s: Session, article_id: int, page: FetchedPage | http.FetchError) -> bool:
    article = s.get(Article, article_id)
    if article is None or article.state != "fetching":
        return False
    if isinstance(page, http.FetchError):
        log.info("page fetch failed", extra={"article_id": article_id, "entry_url": article.url, "error": str(page)})
        return _page_failed(s, article_id, f"fetcher: {page}", final=not page.transient)
    if page.article is None:
        return _page_failed(s, article_id, f"skipped: {page.skipped}", final=True)
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
    article.language = extracted.language
    article.author = extracted.author or article.author
    article.published_at = article.published_at or extracted.published
    article.error = None
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


# --------------------------------------------------------------------------- matching


_matcher_cache: dict[str, Any] = {}


def load_matcher(s: Session) -> tuple[Matcher, dict[int, Entity]]:
    """A matcher for the enabled entities, rebuilt only when they change."""
    entities = s.scalars(select(Entity).where(Entity.enabled.is_(True)).order_by(Entity.id)).all()
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


def match_articles(ctx: Context, article_ids: Sequence[int]) -> list[int]:
    """Match the articles against every tracked entity; store matches and one outbox row per channel.
    Returns the ids of alerts created now."""
    created: list[int] = []
    for article_id in article_ids:
        created.extend(ctx.db.run(_match_one, article_id))
    return created


def _match_one(s: Session, article_id: int) -> list[int]:
    article = s.get(Article, article_id)
    if article is None or article.state != "fetched":
        return []
    matcher, entities = load_matcher(s)
    report = match_text(
        matcher, title=article.title or "", text=article.text or "", url=article.canonical_url or article.url
    )
    now = utcnow()
    for hit in report.matches:
        s.execute(
            _insert(s, Match)
            .values(
                article_id=article_id,
                entity_id=hit.entity_id,
                term=hit.term,
                snippet=hit.snippet,
                hl_start=hit.highlight[0],
                hl_end=hit.highlight[1],
                count=hit.count,
                in_title=hit.in_title,
                matched_at=now,
            )
            .on_conflict_do_nothing()
        )
    claimed = rowcount(s.execute(
        update(Article).where(Article.id == article_id, Article.state == "fetched")
        .values(state="matched", matched_at=now, state_at=now)
    ))
    if claimed != 1 or not report.matches:
        return []
    channels = s.scalars(select(Channel).where(Channel.enabled.is_(True))).all()
    if not channels:
        names = ", ".join(entities[h.entity_id].name for h in report.matches)
        log.info("ALERT %s: %s <%s>", names, article.title, article.canonical_url or article.url,
                 extra={"article_id": article_id})
        return []
    alert_ids = []
    for channel in channels:
        s.execute(
            _insert(s, Alert)
            .values(article_id=article_id, channel_id=channel.id, status="pending", next_attempt_at=now,
                    enqueued_at=now, created_at=now)
            .on_conflict_do_nothing()
        )
        alert_id = s.scalar(select(Alert.id).where(Alert.article_id == article_id, Alert.channel_id == channel.id))
        if alert_id is not None:
            alert_ids.append(alert_id)
    return alert_ids


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    alert_id: int
    status: str          # sent, pending (retry later), failed, skipped (not ours to send)
    error: str | None = None


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: 30 s, 1 min, 2 min ... capped at 6 h."""
    return min(6 * 3600.0, 30.0 * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)


def build_message(s: Session, alert: Alert) -> AlertMessage:
    article = s.get_one(Article, alert.article_id)
    rows = s.execute(
        select(Match, Entity.name).join(Entity, Entity.id == Match.entity_id)
        .where(Match.article_id == article.id).order_by(Match.id)
    ).all()
    feed = s.get(Feed, article.feed_id) if article.feed_id else None
    url = article.canonical_url or article.url
    source = (feed.title if feed and feed.title else None) or urlsplit(url).hostname or "unknown source"
    return AlertMessage(
        title=article.title or url,
        url=url,
        source=source,
        published=article.published_at,
        mentions=tuple(
            EntityMention(entity=name, term=m.term, snippet=m.snippet, highlight=(m.hl_start, m.hl_end))
            for m, name in rows
        ),
    )


def deliver_alert(ctx: Context, alert_id: int) -> DeliveryResult:
    """Claim one pending alert, send it, record the attempt. Safe to call twice."""
    now = utcnow()
    stale = now - timedelta(seconds=ctx.settings.stale_after)

    def claim(s: Session) -> tuple[AlertMessage, Channel] | None:
        rows = rowcount(s.execute(
            update(Alert)
            .where(
                Alert.id == alert_id,
                Alert.next_attempt_at <= now,
                or_(Alert.status == "pending", (Alert.status == "sending") & (Alert.claimed_at < stale)),
            )
            .values(status="sending", claimed_at=now, attempts=Alert.attempts + 1)
        ))
        if rows != 1:
            return None
        alert = s.get_one(Alert, alert_id)
        return build_message(s, alert), s.get_one(Channel, alert.channel_id)

    claimed = ctx.db.run(claim)
    if claimed is None:
        return DeliveryResult(alert_id, "skipped")
    message, channel = claimed
    started = time.monotonic()
    error: AlertError | None = None
    try:
        make_transport(channel.kind, channel.target, channel.options or {}, ctx.settings).send(message)
    except AlertError as exc:
        error = exc
    except Exception as exc:  # a bug in a transport must not lose the alert
        log.exception("transport crashed", extra={"alert_id": alert_id})
        error = AlertError(f"{type(exc).__name__}: {exc}")
    duration = time.monotonic() - started
    return ctx.db.run(_record_delivery, ctx, alert_id, channel.id, error, duration)


def _record_delivery(
    s: Session, ctx: Context, alert_id: int, channel_id: int, error: AlertError | None, duration: float
) -> DeliveryResult:
    alert = s.get_one(Alert, alert_id)
    channel = s.get_one(Channel, channel_id)
    now = utcnow()
    s.add(Attempt(alert_id=alert_id, at=now, ok=error is None, error=str(error) if error else None, duration=duration))
    if error is None:
        alert.status, alert.sent_at, alert.last_error = "sent", now, None
        if channel.state != "ok":
            channel.state, channel.state_since, channel.last_error = "ok", now, None
        log.info("alert sent", extra={"alert_id": alert_id, "channel": channel.name})
        return DeliveryResult(alert_id, "sent")
    alert.last_error = str(error)
    if error.permanent or alert.attempts >= ctx.settings.delivery_max_attempts:
        alert.status = "failed"
        if error.permanent and channel.state != "failing":
            channel.state, channel.state_since = "failing", now
        channel.last_error = str(error)
        log.warning("alert failed", extra={"alert_id": alert_id, "channel": channel.name, "error": str(error)})
        return DeliveryResult(alert_id, "failed", str(error))
    delay = error.retry_after if error.retry_after is not None else retry_delay(alert.attempts)
    alert.status, alert.next_attempt_at, alert.enqueued_at = "pending", now + timedelta(seconds=delay), None
    channel.last_error = str(error)
    log.info("alert will be retried", extra={"alert_id": alert_id, "delay": round(delay, 1), "error": str(error)})
    return DeliveryResult(alert_id, "pending", str(error))


def deliver_alerts(ctx: Context, alert_ids: Iterable[int]) -> list[DeliveryResult]:
    """Deliver alerts: channels in parallel, each channel's alerts in order."""
    ids = list(alert_ids)
    if not ids:
        return []
    by_channel: dict[int, list[int]] = {}
    for alert_id, channel_id in ctx.db.run(
        lambda s: s.execute(select(Alert.id, Alert.channel_id).where(Alert.id.in_(ids)).order_by(Alert.id)).all()
    ):
        by_channel.setdefault(channel_id, []).append(alert_id)

    def send_all(group: list[int]) -> list[DeliveryResult]:
        return [deliver_alert(ctx, alert_id) for alert_id in group]

    with ThreadPoolExecutor(max_workers=min(8, len(by_channel)) or 1) as pool:
        return [r for results in pool.map(send_all, by_channel.values()) for r in results]


# --------------------------------------------------------------------------- recovery


@dataclass(slots=True)
class Backlog:
    """Work the database says is due: what a crash interrupted, what waits for a retry."""

    fetch: list[int] = field(default_factory=list)
    match: list[int] = field(default_factory=list)
    deliver: list[int] = field(default_factory=list)


def _ids(s: Session, query: Select[Any]) -> list[int]:
    return list(s.scalars(query).all())


def claim_backlog(ctx: Context, *, now: datetime | None = None, stale: bool = True, limit: int = 1000) -> Backlog:
    """Find work that is due and mark it as handed out.

    With ``stale=True`` (the service), only work untouched for ``stale_after`` is taken: it was
    interrupted by a crash or its message was lost. With ``stale=False`` (``veille poll``) all pending
    work is taken.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=ctx.settings.stale_after) if stale else now
    stale_claim = now - timedelta(seconds=ctx.settings.stale_after)

    def work(s: Session) -> Backlog:
        backlog = Backlog()
        backlog.fetch = _ids(
            s,
            select(Article.id).where(
                or_(Article.state == "new", Article.state == "fetching"), Article.state_at <= cutoff
            ).limit(limit),
        )
        backlog.match = _ids(
            s, select(Article.id).where(Article.state == "fetched", Article.state_at <= cutoff).limit(limit)
        )
        touched = backlog.fetch + backlog.match
        if touched and stale:
            s.execute(
                update(Article).where(Article.id.in_(touched), Article.state.in_(("new", "fetched")))
                .values(state_at=now)
            )
        backlog.deliver = _ids(
            s,
            select(Alert.id).where(
                Alert.next_attempt_at <= now,
                or_(Alert.enqueued_at.is_(None), Alert.enqueued_at <= cutoff),
                or_(Alert.status == "pending", (Alert.status == "sending") & (Alert.claimed_at <= stale_claim)),
            ).limit(limit),
        )
        if backlog.deliver:
            s.execute(update(Alert).where(Alert.id.in_(backlog.deliver)).values(enqueued_at=now))
        return backlog

    return ctx.db.run(work)


# --------------------------------------------------------------------------- veille poll


@dataclass(slots=True)
class PollSummary:
    feeds: list[FeedResult] = field(default_factory=list)
    pages: int = 0
    articles_matched: int = 0
    alerts: list[DeliveryResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.alerts if r.status == status)


def _in_batches(ids: Sequence[int], size: int, work: Callable[[Sequence[int]], list[T]]) -> list[T]:
    out: list[T] = []
    for start in range(0, len(ids), size):
        out.extend(work(ids[start : start + size]))
    return out


def poll_once(ctx: Context) -> PollSummary:
    """Every stage in-process: poll every enabled feed now, fetch, match, deliver. Each request is tried once."""
    started = time.monotonic()
    summary = PollSummary()
    feed_ids = ctx.db.run(lambda s: list(s.scalars(select(Feed.id).where(Feed.enabled.is_(True)).order_by(Feed.id))))
    summary.feeds = _in_batches(feed_ids, 200, lambda ids: poll_feeds(ctx, ids))
    backlog = claim_backlog(ctx, stale=False)
    to_fetch = sorted({a for r in summary.feeds for a in r.new_articles} | set(backlog.fetch))
    fetched = _in_batches(to_fetch, 200, lambda ids: fetch_pages(ctx, ids))
    summary.pages = len(to_fetch)
    to_match = sorted(set(fetched) | {a for r in summary.feeds for a in r.ready_articles} | set(backlog.match))
    new_alerts = match_articles(ctx, to_match)
    summary.articles_matched = len(to_match)
    summary.alerts = deliver_alerts(ctx, sorted(set(new_alerts) | set(backlog.deliver)))
    summary.seconds = time.monotonic() - started
    return summary


def count_pending(s: Session) -> tuple[int, int]:
    pending = s.scalar(select(func.count()).select_from(Alert).where(Alert.status.in_(("pending", "sending")))) or 0
    failed = s.scalar(select(func.count()).select_from(Alert).where(Alert.status == "failed")) or 0
    return pending, failed
