"""WebSub content distribution (section 7): a hub POSTs the feed's new document to the callback.

The body must be signed: ``X-Hub-Signature: sha256=<hex>`` (sha1, sha256, sha384 or sha512), the HMAC of the
body with the subscription's ``hub.secret``. A push whose signature is missing or wrong is ignored, stores
nothing, and is still answered ``202``, exactly like an accepted one, as the spec allows: a forger learns
nothing by trying signatures. Unknown callbacks are ``404``; the callback of a removed feed ``410``.

An authentic push is stored like a polled document: parsed by the same parser, each entry stored by the
poller's own ``_store_entry`` (same identity rules, so an item seen by a poll and a push is one entry); the new
articles are returned so the caller can hand them to the page fetchers and matchers at once. A push with an
empty body (a "thin ping") makes the feed due for a poll now.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from veille.storage import pauses
from veille.storage.models import Feed, WebSubSubscription, utcnow
from veille.websub.subscriptions import find

if TYPE_CHECKING:
    from veille.feeds.parse import ParsedFeed
    from veille.pipeline.context import Context

log = logging.getLogger(__name__)

ALGORITHMS: dict[str, Callable[..., Any]] = {
    "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512,
}


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature`` is ``method=hex`` with the right HMAC of ``body`` (constant-time compare)."""
    if not header:
        return False
    method, _, given = header.strip().partition("=")
    algorithm = ALGORITHMS.get(method.strip().lower())
    if algorithm is None or not given:
        return False
    expected = hmac.new(secret.encode(), body, algorithm).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("ascii", "replace"))


@dataclass(frozen=True, slots=True)
class PushResult:
    status: int                            # the HTTP status to answer
    feed_id: int | None = None
    new_articles: tuple[int, ...] = ()     # need a page fetch
    ready_articles: tuple[int, ...] = ()   # carry their own full text: straight to matching
    entries: int = 0
    note: str = ""                         # what happened, for the log


ACCEPTED = 202


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def receive(ctx: Context, sub_id: int, token: str, headers: Mapping[str, str], body: bytes) -> PushResult:
    """Check and store one pushed document; the caller enqueues the new articles once this returns."""

    def load(s: Session) -> tuple[int, int | None, str, str, str] | None:
        sub = find(s, sub_id, token)
        if sub is None:
            return None
        return sub.id, sub.feed_id, sub.state, sub.secret, sub.topic

    found = ctx.db.run(load)
    if found is None:
        return PushResult(404, note="no such subscription")
    _, feed_id, state, secret, topic = found
    if feed_id is None or state == "unsubscribing":
        return PushResult(410, feed_id, note="the feed was removed or no longer names this hub")
    if not signature_ok(secret, body, _header(headers, "X-Hub-Signature")):
        log.warning("WebSub push ignored: missing or wrong signature", extra={"feed_id": feed_id})
        return PushResult(ACCEPTED, feed_id, note="ignored: missing or wrong X-Hub-Signature")
    if not body.strip():
        ctx.db.run(_poll_soon, sub_id, feed_id)
        return PushResult(ACCEPTED, feed_id, note="empty push: feed polled now")
    from veille.feeds.parse import FeedParseError, parse_feed

    wanted = {k: v for k, v in headers.items() if k.lower() in ("content-type", "link")}
    try:
        parsed = parse_feed(body, url=topic, headers=wanted)
    except FeedParseError as exc:
        ctx.db.run(_note_error, sub_id, f"push: {exc}")
        log.warning("WebSub push is not a feed", extra={"feed_id": feed_id, "error": str(exc)})
        return PushResult(ACCEPTED, feed_id, note=str(exc))
    return ctx.db.run(_store, ctx, sub_id, token, parsed, topic)


def _store(s: Session, ctx: Context, sub_id: int, token: str, parsed: ParsedFeed, topic: str) -> PushResult:
    from veille.pipeline.feeds import _store_entry

    sub = find(s, sub_id, token)
    feed = s.get(Feed, sub.feed_id) if sub is not None and sub.feed_id is not None else None
    if sub is None or feed is None:
        return PushResult(410, note="the feed was removed")
    now = utcnow()
    sub.pushes, sub.last_push_at = (sub.pushes or 0) + 1, now
    if not pauses.is_active(feed, now):
        return PushResult(ACCEPTED, feed.id, entries=len(parsed.entries), note="feed paused: nothing stored")
    new: list[int] = []
    ready: list[int] = []
    for entry in parsed.entries:
        stored = _store_entry(s, ctx, feed, entry, base_url=topic, now=now)
        if stored is not None:
            article_id, has_text, _ = stored
            (ready if has_text else new).append(article_id)
    log.info("WebSub push stored", extra={"feed_id": feed.id, "entries": len(parsed.entries),
                                           "new": len(new) + len(ready)})
    return PushResult(ACCEPTED, feed.id, tuple(new), tuple(ready), len(parsed.entries), note="stored")


def _poll_soon(s: Session, sub_id: int, feed_id: int) -> None:
    now = utcnow()
    sub = s.get(WebSubSubscription, sub_id)
    if sub is not None:
        sub.pushes, sub.last_push_at = (sub.pushes or 0) + 1, now
    feed = s.get(Feed, feed_id)
    if feed is not None and pauses.is_active(feed, now) and feed.next_poll_at > now:
        feed.next_poll_at = now


def _note_error(s: Session, sub_id: int, message: str) -> None:
    sub = s.get(WebSubSubscription, sub_id)
    if sub is not None:
        sub.last_error, sub.updated_at = message[:2000], utcnow()
