"""Polling: claim due feeds, fetch them concurrently with conditional GET, store new entries once.

A feed row is a source of one of several kinds (``Feed.kind``): "feed" (RSS, Atom, JSON Feed), "page" (an HTML
listing page whose article links are its items, :mod:`veille.pipeline.page_sources`)... Every kind is fetched,
scheduled, backed off and health-checked the same way; only how an answer becomes items differs: that is
:data:`READERS`, one function per kind (and :data:`ACCEPT`, the Accept header its requests send). A new kind
plugs in there.
"""


from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, case, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from veille import http, websub
from veille.feeds.schedule import MAX_BACKOFF, WINDOW, Publishing, adaptive_interval, next_poll
from veille.feeds.words import feed_words
from veille.health import FeedNotice, recovered_notice, report_feed_health
from veille.pages.urls import normalize_url, url_key
from veille.pipeline.context import Context, _insert, run_async
from veille.storage import pauses
from veille.storage.db import rowcount
from veille.storage.models import Article, Entry, Feed, UTCDateTime, utcnow

if TYPE_CHECKING:
    from veille.feeds.parse import FeedEntry, ParsedFeed

# feedparser and lxml are imported when a feed has changed (parse_feed, html_to_text): polls that get 304
# pay nothing for them.

log = logging.getLogger(__name__)

MAX_URL = 2048  # the URL columns' size

# feeds


@dataclass(frozen=True, slots=True)
class FeedResult:
    feed_id: int
    status: str                                # "ok", "not modified", "error", "deferred" (host asked to wait)
    new_articles: tuple[int, ...] = ()         # need a page fetch
    ready_articles: tuple[int, ...] = ()       # carry their own full text: go straight to matching
    entries: int = 0
    quiet: int = 0                             # of the new articles, those whose matches alert nobody (backlog)
    error: str | None = None
    notice: FeedNotice | None = None           # "recovered", when the feed works again after a failing notice


@dataclass(frozen=True, slots=True)
class _FeedRequest:
    feed_id: int
    url: str
    etag: str | None
    last_modified: str | None
    accept: str = ""
    provider: str | None = None  # a search source's provider (veille.search): asked in its turn


# --------------------------------------------------------------------------- source kinds


class SourceError(Exception):
    """A source's answer holds no items it can give: the message is recorded as the source's error."""


@dataclass(frozen=True, slots=True)
class SourceItems:
    """What one answer of a source holds, whatever its kind."""

    entries: tuple[FeedEntry, ...]
    title: str | None = None  # the source's own title, kept when the user gave none
    site_url: str | None = None
    ttl: int | None = None  # minutes (RSS <ttl>): a hint for the adaptive interval
    notes: tuple[str, ...] = ()  # recorded on the source (limits applied, a flood taken as backlog)
    backlog: bool = False  # the new items are taken as a first poll's: the backfill rule decides which alert
    parsed: ParsedFeed | None = None  # a feed's, for WebSub


# reads one answer (status 200) of a source: (session, context, source, response, now) -> items; raises
# SourceError for an answer that gives none
ReadItems = Callable[[Session, Context, Feed, http.Response, datetime], SourceItems]


def read_feed(s: Session, ctx: Context, feed: Feed, response: http.Response, now: datetime) -> SourceItems:
    """A feed (RSS, Atom, JSON Feed): its entries."""
    from veille.feeds.parse import FeedParseError, parse_feed

    try:
        parsed = parse_feed(response.content, url=response.url, headers=dict(response.headers))
    except FeedParseError as exc:
        raise SourceError(str(exc)) from exc
    return SourceItems(parsed.entries, title=parsed.title, site_url=parsed.site_url, ttl=parsed.ttl,
                       notes=parsed.notes, parsed=parsed)


def read_page(s: Session, ctx: Context, feed: Feed, response: http.Response, now: datetime) -> SourceItems:
    """A listing page: its article links (:func:`veille.pipeline.page_sources.read_page`)."""
    from veille.pipeline.page_sources import read_page as read

    return read(s, ctx, feed, response, now)


def read_search(s: Session, ctx: Context, feed: Feed, response: http.Response, now: datetime) -> SourceItems:
    """A search of the web's news: its hits (:func:`veille.search.poll.read_hits`), as entries."""
    from veille.feeds.parse import FeedParseError
    from veille.search.poll import read_hits

    try:
        parsed = read_hits(feed.options, response, title=feed.title)
    except FeedParseError as exc:
        raise SourceError(str(exc)) from exc
    return SourceItems(parsed.entries, title=parsed.title, notes=parsed.notes)


READERS: dict[str, ReadItems] = {"feed": read_feed, "page": read_page, "search": read_search}
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, */*;q=0.8"
ACCEPT: dict[str, str] = {"feed": FEED_ACCEPT, "page": "text/html, application/xhtml+xml;q=0.9, */*;q=0.8",
                          "search": "application/json, application/rss+xml, application/xml;q=0.9, */*;q=0.8"}


def claim_due_feeds(
    ctx: Context, *, now: datetime | None = None, limit: int = 500, kind: str | None = None
) -> list[int]:
    """Claim the feeds whose ``next_poll_at`` has passed (of one ``kind`` only, when given): each claim moves
    ``next_poll_at`` one interval ahead with a conditional UPDATE, so two dispatchers never claim the same feed
    for the same interval."""
    now = now or utcnow()

    def work(s: Session) -> list[int]:
        due = s.execute(
            select(Feed.id, Feed.next_poll_at, Feed.interval)
            .where(pauses.active(Feed, now), Feed.next_poll_at <= now,
                   *([Feed.kind == kind] if kind is not None else []))
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


async def _fetch_feeds(
    ctx: Context, requests: Sequence[_FeedRequest]
) -> tuple[list[http.Response | http.FetchError], dict[str, float]]:
    """Fetch the feeds concurrently, politely; returns the answers and the hosts that asked for a pause."""
    settings = ctx.settings
    limiter = http.HostLimiter(settings.per_host_concurrency, settings.fetch_concurrency)
    async with http.make_client(settings) as client:

        async def one(request: _FeedRequest) -> http.Response | http.FetchError:
            headers = {"Accept": request.accept or FEED_ACCEPT}
            if request.etag:
                headers["If-None-Match"] = request.etag
            if request.last_modified:
                headers["If-Modified-Since"] = request.last_modified
            try:
                if request.provider is not None:  # a search: the provider's own rule first (GDELT: one every 5 s)
                    from veille.search.poll import before_request

                    await before_request(settings, ctx.db, request.provider)
                async with limiter.slot(request.url):
                    return await http.fetch(client, request.url, max_bytes=settings.max_feed_bytes, headers=headers)
            except http.FetchError as exc:
                return exc

        responses = await asyncio.gather(*(one(r) for r in requests))
    return list(responses), dict(limiter.deferred)


def poll_feeds(ctx: Context, feed_ids: Sequence[int]) -> list[FeedResult]:
    """Fetch the feeds concurrently (conditional GET) and store their new entries; hosts that answered 429 or
    503 with Retry-After have all their feeds put off until then; feed health notices go out."""
    feeds = ctx.db.run(lambda s: s.scalars(select(Feed).where(Feed.id.in_(feed_ids)).order_by(Feed.id)).all())
    requests = [_FeedRequest(f.id, f.url, f.etag, f.last_modified, ACCEPT.get(f.kind or "feed", ""),
                             _search_provider(f)) for f in feeds]
    responses, deferred = run_async(_fetch_feeds(ctx, requests))
    stored = _store_unchanged(ctx, [(request.feed_id, response) for request, response in zip(
        requests, responses, strict=True) if isinstance(response, http.Response) and response.status == 304])
    results = []
    for request, response in zip(requests, responses, strict=True):
        if request.feed_id in stored:
            results.append(stored[request.feed_id])
            continue
        try:
            results.append(ctx.db.run(_store_feed, ctx, request.feed_id, response))
        except Exception as exc:  # a broken feed is a recorded error, never a crashed worker
            log.exception("storing feed failed", extra={"feed_id": request.feed_id})
            results.append(_record_feed_error(ctx, request.feed_id, f"store: {type(exc).__name__}: {exc}"))
    if deferred:
        ctx.db.run(defer_hosts, deferred)
    try:
        report_feed_health(
            ctx, [r.feed_id for r in results if r.status == "error"], [r.notice for r in results if r.notice]
        )
    except Exception:  # a notice that can't go out must not undo the poll
        log.exception("feed health notices failed")
    return results


def _store_unchanged(ctx: Context, answers: list[tuple[int, http.Response]]) -> dict[int, FeedResult]:
    """Record the feeds that answered 304 in one transaction (most polls are these); empty if that fails, and
    each is then stored on its own like any other answer."""
    if not answers:
        return {}

    def work(s: Session) -> dict[int, FeedResult]:
        s.scalars(select(Feed).where(Feed.id.in_([feed_id for feed_id, _ in answers]))).all()  # one query
        return {feed_id: _store_feed(s, ctx, feed_id, response) for feed_id, response in answers}

    try:
        return ctx.db.run(work)
    except Exception:
        log.exception("storing unchanged feeds together failed; storing them one by one")
        return {}


def defer_hosts(s: Session, waits: dict[str, float], *, now: datetime | None = None) -> int:
    """Put off every feed not paused on each host until the time it asked for (Retry-After); returns how many."""
    now = now or utcnow()
    moved = 0
    for host, seconds in waits.items():
        if not host:
            continue
        until = now + timedelta(seconds=min(seconds, MAX_BACKOFF))
        candidates = s.execute(
            select(Feed.id, Feed.url).where(
                pauses.active(Feed, now), Feed.url.contains(host, autoescape=True), Feed.next_poll_at < until
            )
        ).all()
        ids = [feed_id for feed_id, url in candidates if http.host_of(url) == host]
        if ids:
            moved += rowcount(s.execute(
                update(Feed).where(Feed.id.in_(ids), Feed.next_poll_at < until).values(next_poll_at=until)
            ))
            log.info("host asked for a pause: its feeds wait", extra={"host": host, "seconds": round(seconds),
                                                                      "feeds": len(ids)})
    return moved


def _failed(feed: Feed, now: datetime, message: str, retry_after: float | None = None) -> None:
    """Record one more consecutive failure: error, streak, exponential backoff (never before Retry-After)."""
    feed.failures = (feed.failures or 0) + 1
    if feed.failing_since is None:
        feed.failing_since = now
    feed.last_status, feed.last_error, feed.last_poll_at = "error", message, now
    feed.next_poll_at = next_poll(now, feed.interval, failures=feed.failures, retry_after=retry_after)


def _succeeded(feed: Feed, now: datetime, status: str, note: str | None = None) -> FeedNotice | None:
    """Record a working poll; the recovered notice when a failing notice went out for this streak."""
    notice = None
    if feed.failing_notified:
        notice = recovered_notice(feed, failures=feed.failures, since=feed.failing_since)
    feed.failures, feed.failing_since, feed.failing_notified = 0, None, False
    feed.last_status, feed.last_error, feed.last_poll_at = status, note, now
    feed.next_poll_at = next_poll(now, feed.interval)
    return notice


def _adapt_interval(
    s: Session, ctx: Context, feed: Feed, now: datetime, response: http.Response, *, ttl_minutes: int | None,
    unchanged: bool,
) -> None:
    """After a successful poll of a feed without ``--every``: its interval learned from how often it publishes
    and from the server's TTL, Cache-Control and Expires (:func:`adaptive_interval`), its next poll one
    interval away. A fixed interval never changes."""
    if feed.interval_fixed:
        return
    settings = ctx.settings
    feed.interval = round(adaptive_interval(
        now=now,
        previous=feed.interval,
        publishing=_publishing(s, feed.id, now),
        default=settings.poll_interval,
        minimum=settings.min_poll_interval,
        maximum=settings.max_poll_interval,
        ttl=ttl_minutes * 60.0 if ttl_minutes else None,
        headers=response.headers,
        unchanged=unchanged,
    ), 1)
    feed.next_poll_at = next_poll(now, feed.interval)


# The publishing-rate query, built once: building and caching a statement costs five times its run
# (1.4 ms against 0.28 ms a feed), and it runs after every successful poll.
_item_time = type_coerce(
    case((Article.published_at <= Entry.seen_at, Article.published_at), else_=Entry.seen_at), UTCDateTime()
)
_PUBLISHED = (
    select(func.count(), func.min(_item_time))
    .select_from(Entry)
    .join(Article, Article.id == Entry.article_id)
    .where(Entry.feed_id == bindparam("feed_id"), Entry.seen_at >= bindparam("since", type_=UTCDateTime()),
           _item_time >= bindparam("since", type_=UTCDateTime()), _item_time <= bindparam("now", type_=UTCDateTime()))
)
_ANY_ENTRY = select(Entry.id).where(Entry.feed_id == bindparam("feed_id")).limit(1)


def _publishing(s: Session, feed_id: int, now: datetime) -> Publishing | None:
    """What the feed published in the last week, from its stored entries (one query on the feed's entries): an
    item counts at its publication date, or when veille first saw it when it has no date or a date later than
    that. None when the feed has no entry at all (nothing is known of its rhythm yet)."""
    since = now - timedelta(seconds=WINDOW)
    items, oldest = s.execute(_PUBLISHED, {"feed_id": feed_id, "since": since, "now": now}).one()
    if not items and s.scalar(_ANY_ENTRY, {"feed_id": feed_id}) is None:
        return None
    return Publishing(items=int(items or 0), oldest=oldest)


def _record_feed_error(ctx: Context, feed_id: int, message: str, retry_after: float | None = None) -> FeedResult:
    def work(s: Session) -> FeedResult:
        feed = s.get(Feed, feed_id)
        if feed is not None:
            _failed(feed, utcnow(), message, retry_after)
        return FeedResult(feed_id=feed_id, status="error", error=message)

    return ctx.db.run(work)


def _store_feed(s: Session, ctx: Context, feed_id: int, response: http.Response | http.FetchError) -> FeedResult:
    feed = s.get(Feed, feed_id)
    if feed is None:
        return FeedResult(feed_id=feed_id, status="error", error="feed was removed")
    now = utcnow()
    if isinstance(response, http.HostDeferredError):
        # not the feed's fault and not a poll: try again once the host's pause is over
        feed.next_poll_at = now + timedelta(seconds=response.retry_after or feed.interval)
        return FeedResult(feed_id=feed_id, status="deferred", error=str(response))
    if isinstance(response, http.FetchError):
        _failed(feed, now, f"fetcher: {response}", response.retry_after)
        log.warning("feed fetch failed", extra={"feed_id": feed_id, "feed_url": feed.url, "error": str(response)})
        return FeedResult(feed_id=feed_id, status="error", error=feed.last_error)
    if response.status == 304:
        feed.first_ok_at = feed.first_ok_at or now
        notice = _succeeded(feed, now, "not modified")
        _adapt_interval(s, ctx, feed, now, response, ttl_minutes=None, unchanged=True)
        return FeedResult(feed_id=feed_id, status="not modified", notice=notice)
    reader = READERS.get(feed.kind or "feed")
    try:
        if reader is None:
            raise SourceError(f"unknown source kind {feed.kind!r} (this veille reads {', '.join(READERS)})")
        items = reader(s, ctx, feed, response, now)
    except SourceError as exc:
        _failed(feed, now, str(exc))
        return FeedResult(feed_id=feed_id, status="error", error=str(exc))
    feed.etag = _header(response, "ETag", 1024)
    feed.last_modified = _header(response, "Last-Modified", 256)
    feed.title = feed.title or (items.title or "")[:1024] or None
    feed.site_url = feed.site_url or (items.site_url or "")[:2048] or None
    if items.parsed is not None:
        websub.note_hub(s, ctx.settings, feed, items.parsed)  # WebSub: a hub named by the feed gets a subscription
    notice = _succeeded(feed, now, "ok", "; ".join(items.notes) or None)
    new: list[int] = []
    ready: list[int] = []
    quiet = 0
    for entry in items.entries:
        stored = _store_entry(s, ctx, feed, entry, base_url=response.url, now=now, backlog=items.backlog)
        if stored is not None:
            article_id, has_text, reason = stored
            (ready if has_text else new).append(article_id)
            quiet += reason is not None
    feed.first_ok_at = feed.first_ok_at or now
    _adapt_interval(s, ctx, feed, now, response, ttl_minutes=items.ttl, unchanged=False)
    return FeedResult(
        feed_id=feed_id, status="ok", new_articles=tuple(new), ready_articles=tuple(ready), entries=len(items.entries),
        quiet=quiet, notice=notice,
    )


def _search_provider(feed: Feed) -> str | None:
    """A search source's provider name (its requests wait for the provider's turn); None for other kinds."""
    return str((feed.options or {}).get("provider") or "") if feed.kind == "search" else None


def _header(response: http.Response, name: str, limit: int) -> str | None:
    """A validator header worth keeping (a hostile server may send a huge one: then it is dropped)."""
    value = response.headers.get(name)
    return value if value and len(value) <= limit else None


def quiet_reason(
    published: datetime | None, now: datetime, *, first_poll: bool, backfill: float, max_age: float
) -> str | None:
    """Why a new item's matches should alert nobody, or None when they alert.

    On a feed's first successful poll everything already there is backlog, except what was published within
    the backfill window (an undated item is backlog: nothing says it is recent). After that, an item is new,
    unless its date is older than ``max_age`` (a feed that re-publishes its archive)."""
    if first_poll:
        if published is None or backfill <= 0 or published < now - timedelta(seconds=backfill):
            return "backlog"
        return None
    if published is not None and published < now - timedelta(seconds=max_age):
        return "too old"
    return None


def _feed_text(ctx: Context, feed: Feed, entry: FeedEntry) -> str | None:
    """The entry's own full text, when the feed carries the article and the feed's setting allows it."""
    if feed.feed_text == "never" or not entry.content:
        return None
    text = feed_words(entry.content)
    if feed.feed_text == "always" or len(text) >= ctx.settings.feed_text_min_chars:
        return text
    return None


def _store_entry(
    s: Session, ctx: Context, feed: Feed, entry: FeedEntry, *, base_url: str, now: datetime, backlog: bool = False
) -> tuple[int, bool, str | None] | None:
    """Record one feed item; returns (article id, has full text, why it alerts nobody or None) when the article
    is new to veille. The feed's first successful poll (``first_ok_at`` not yet set) decides what is backlog, and
    so does a poll whose items are taken as backlog (``backlog``: a listing page that changed all at once)."""
    if s.scalar(select(Entry.id).where(Entry.feed_id == feed.id, Entry.key == entry.key)) is not None:
        return None
    link = None
    if entry.link:
        try:
            link = normalize_url(entry.link, base=base_url)
        except ValueError:
            link = None
    if link and len(link) > MAX_URL:  # a URL no browser would open; the feed's own text is matched instead
        link = None
    key = url_key(link) if link else f"guid:{feed.id}:{entry.key}"
    if len(key) > MAX_URL:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    article_id = s.scalar(select(Article.id).where(or_(Article.url_key == key, Article.canonical_key == key)))
    created = False
    full_text = None
    if article_id is None:
        full_text = _feed_text(ctx, feed, entry)
        quiet = quiet_reason(
            entry.published, now, first_poll=feed.first_ok_at is None or backlog,
            backfill=ctx.settings.backfill if feed.backfill is None else feed.backfill, max_age=ctx.settings.max_age,
        )
        values = dict(
            url_key=key,
            url=(link or entry.link or "")[:MAX_URL],
            guid=entry.guid,
            feed_id=feed.id,
            title=entry.title or None,
            feed_title=entry.title or None,
            feed_summary=entry.summary or None,
            feed_content=entry.content or None,
            text=full_text,
            text_source="feed" if full_text is not None else None,
            author=entry.author,
            published_at=entry.published,
            first_seen_at=now,
            quiet=quiet,
            state="fetched" if (full_text is not None or not link) else "new",
        )
        if not link:  # nothing to fetch: match on what the feed says
            values["text"] = full_text or feed_words(entry.content or entry.summary)
            values["text_source"] = "feed" if full_text is not None else "feed-only"
        # RETURNING says whether this INSERT made the row: psycopg reports no row count for it (-1), so a
        # count would call every article on PostgreSQL old, and leave it to the stale-work recovery
        inserted = s.scalar(_insert(s, Article).values(**values).on_conflict_do_nothing().returning(Article.id))
        created = inserted is not None
        article_id = inserted if created else s.scalar(select(Article.id).where(Article.url_key == key))
    s.execute(
        _insert(s, Entry).values(feed_id=feed.id, key=entry.key, article_id=article_id).on_conflict_do_nothing()
    )
    if not created or article_id is None:
        return None
    return article_id, full_text is not None or not link, quiet
