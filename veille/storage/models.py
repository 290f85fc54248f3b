"""Tables. Every row records how far it got, so interrupted work can be found and resumed.

Unique constraints, not Python checks, make the pipeline's guarantees true:
one entry per (feed, item key), one article per normalized URL (and per canonical URL once known),
one match per (article, entity), one alert per (story, channel) and per (article, channel).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from veille.clock import utcnow

__all__ = ["utcnow"]  # re-exported: the models' default times, and what older imports expect


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(String(1024))
    site_url: Mapped[str | None] = mapped_column(String(2048))
    tags: Mapped[list[str]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    interval: Mapped[float] = mapped_column(Float)
    interval_fixed: Mapped[bool] = mapped_column(Boolean, default=False)
    # "auto": use the entry's own full text when long enough; "always"; "never" (always fetch the page)
    feed_text: Mapped[str] = mapped_column(String(16), default="auto")
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(256))
    next_poll_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_poll_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None]
    failing_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    # the first poll's items alert only when published within this window (seconds; None: VEILLE_BACKFILL)
    backfill: Mapped[float | None] = mapped_column(Float)
    first_ok_at: Mapped[datetime | None]  # the first successful poll; None: the next one is the first
    resume_at: Mapped[datetime | None]  # paused (enabled false) until then; None with enabled false: until resumed
    # "feed"; "page": an HTML listing page whose article links are its items; "search": a news search for
    # ``entity_id`` through one provider in one language
    kind: Mapped[str] = mapped_column(String(16), default="feed", server_default="feed")
    options: Mapped[dict[str, Any] | None] = mapped_column(default=dict)  # page: any_site; search: provider, lang...
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Article(Base):
    """One article, however many feeds list it. ``state``: new, fetching, fetched, matched, skipped, failed,
    duplicate (its canonical URL is another article's)."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url_key: Mapped[str] = mapped_column(String(2048), unique=True)
    canonical_key: Mapped[str | None] = mapped_column(String(2048), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    canonical_url: Mapped[str | None] = mapped_column(String(2048))
    guid: Mapped[str | None] = mapped_column(String(2048))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    title: Mapped[str | None] = mapped_column(Text)
    feed_summary: Mapped[str | None] = mapped_column(Text)
    feed_content: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(32))
    author: Mapped[str | None] = mapped_column(String(512))
    published_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="new", index=True)
    state_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    matched_at: Mapped[datetime | None]
    # stories.id, set when it matched: near-duplicates from other outlets share one (a plain column, so
    # migrations never have to copy this table on SQLite)
    story_id: Mapped[int | None] = mapped_column(Integer, index=True)
    feed_title: Mapped[str | None] = mapped_column(Text)  # the item's title in the feed (``title``: the page's)
    # why its matches alert nobody: "backlog" (already there at the feed's first poll, older than the backfill
    # window, or undated), "too old" (older than VEILLE_MAX_AGE when first seen); None: they alert
    quiet: Mapped[str | None] = mapped_column(String(16))
    # where ``text`` came from: "page" (extracted), "feed" (the feed's full text), "feed-only" (the page
    # could not be had or extracted: the feed's own words); None before it has text
    text_source: Mapped[str | None] = mapped_column(String(16))
    next_attempt_at: Mapped[datetime | None]  # a failed page fetch is retried from then (backoff)


class Entry(Base):
    """An item of one feed, pointing at its article."""

    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("feed_id", "key", name="uq_entries_feed_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(2048))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Entity(Base):
    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    name_key: Mapped[str] = mapped_column(String(512), unique=True)
    aliases: Mapped[list[str]] = mapped_column(default=list)
    excludes: Mapped[list[str]] = mapped_column(default=list)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    resume_at: Mapped[datetime | None]  # paused (enabled false) until then; None with enabled false: until resumed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("article_id", "entity_id", name="uq_matches_article_entity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), index=True)
    term: Mapped[str] = mapped_column(String(512))
    snippet: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)
    in_title: Mapped[bool] = mapped_column(Boolean, default=False)
    hl_start: Mapped[int] = mapped_column(Integer, default=0)
    hl_end: Mapped[int] = mapped_column(Integer, default=0)
    matched_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    alerted: Mapped[bool] = mapped_column(Boolean, default=True)  # false: kept without an alert, see ``reason``
    reason: Mapped[str | None] = mapped_column(String(32))  # why no alert: "backlog", "too old"
    found_in: Mapped[list[str] | None] = mapped_column(default=list)  # feed-title, feed-summary, title, text


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(2048))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default="ok")
    last_error: Mapped[str | None] = mapped_column(Text)
    state_since: Mapped[datetime] = mapped_column(default=utcnow)
    paused_until: Mapped[datetime | None]  # the receiver asked to wait (Retry-After): nothing is sent before
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    next_send_at: Mapped[datetime | None]  # flood control: the next free send slot, claimed by a conditional UPDATE
    next_digest_at: Mapped[datetime | None]  # digest channels: when the next digest is due
    resume_at: Mapped[datetime | None]  # paused by a user (enabled false) until then; None: until resumed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """The outbox: one row per (story, channel), and so per (article, channel). ``article_id`` is the article
    the alert shows. ``status``: pending, sending, sent, failed; on digest channels queued (waiting for the
    next digest), then digest (in digest ``digest_id``), then sent or failed."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("article_id", "channel_id", name="uq_alerts_article_channel"),
        Index("uq_alerts_story_channel", "story_id", "channel_id", unique=True),
        Index("ix_alerts_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    story_id: Mapped[int | None] = mapped_column(Integer)  # stories.id
    digest_id: Mapped[int | None] = mapped_column(Integer, index=True)  # digests.id


class Story(Base):
    """Near-duplicate articles: the same story from several outlets. ``article_id`` is the first one."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoryBand(Base):
    """MinHash LSH bands of a matched article's text: articles sharing a band are candidate copies."""

    __tablename__ = "story_bands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    band: Mapped[int] = mapped_column(BigInteger, index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    at: Mapped[datetime]  # the article's time: published, else first seen


class Digest(Base):
    """One digest message of one channel, claimed by inserting (channel, due time) once.
    ``status``: pending, sending, sent, failed, empty (nothing to send)."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("channel_id", "due_at", name="uq_digests_channel_due"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    items: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class Attempt(Base):
    """Every delivery attempt, successful or not."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)


class WebSubSubscription(Base):
    """A WebSub subscription of one feed to the hub it names. ``state``: pending (to request, or requested and
    awaiting the hub's verification), active (verified, until ``expires_at``), denied (the hub refused),
    failed (requests keep failing; retried with backoff), unsubscribing (the feed stopped naming a hub).
    ``feed_id`` is NULL once the feed is removed: the dispatcher then unsubscribes and deletes the row.
    ``next_attempt_at`` is when the dispatcher next sends a request (a subscription, a renewal before expiry,
    a retry, an unsubscription)."""

    __tablename__ = "websub_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"), unique=True)
    hub: Mapped[str] = mapped_column(String(2048))
    topic: Mapped[str] = mapped_column(String(2048))
    token: Mapped[str] = mapped_column(String(64), unique=True)  # in the callback URL: unguessable
    secret: Mapped[str] = mapped_column(String(128))             # hub.secret, the HMAC key of pushes
    state: Mapped[str] = mapped_column(String(16), default="pending")
    lease_seconds: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # requests that failed in a row
    last_error: Mapped[str | None] = mapped_column(Text)
    pushes: Mapped[int] = mapped_column(Integer, default=0)
    last_push_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Heartbeat(Base):
    """A process of the service saying it is alive: ``kind`` beat or worker, ``seen_at`` its last beat."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # "beat", "worker@host:pid"
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person who signs in to the web page. ``name_key`` (the name folded to lower case) is unique, so
    `Alice` and `alice` are one user; ``password_hash`` is ``scrypt$n$r$p$salt$hash`` (veille.manage.accounts)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()


class ApiToken(Base):
    """A token for the JSON API. Only the SHA-256 of the token is kept: the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()


class WebSecret(Base):
    """Secrets the web server generates on its first start and every web process shares (the key that signs
    session cookies and CSRF tokens), kept in the database so that processes on several hosts agree."""

    __tablename__ = "web_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
