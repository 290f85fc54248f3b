"""WebSub subscriptions: recorded when a polled feed names a hub, requested, verified, renewed, dropped.

The life of a row of ``websub_subscriptions`` (W3C WebSub, sections 5 and 6):

    poll names a hub  -> note_hub          row "pending", due now (nothing at all when VEILLE_PUBLIC_URL is unset)
    dispatcher tick   -> claim_due         rows whose next_attempt_at passed, claimed by a conditional UPDATE
                      -> send_requests     POST hub.mode=subscribe to the hub (guarded client: the hub is a
                                           stranger's URL); a 2xx waits for the hub's verification, a failure
                                           is retried with backoff (after three, the row says "failed")
    hub's GET         -> verify            challenge echoed only for the row's token, mode and topic;
                                           row "active", lease recorded, renewal due before the lease ends
    hub's GET denied  -> verify            row "denied", the hub's reason kept, asked again a day later
    feed removed      -> (feed_id NULL)    the next tick unsubscribes (or just drops a row with no live lease)
    feed drops its hub-> note_hub          row "unsubscribing", same

Callback URLs are ``{VEILLE_PUBLIC_URL}/websub/{subscription id}/{token}``: the token is 32 random URL-safe
characters per subscription, so a callback can't be found by guessing, and the id (not the feed's) keeps the
URL the same after the feed is removed, when the hub must be told to unsubscribe that very callback.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from veille import http
from veille.storage.db import rowcount
from veille.storage.models import Feed, WebSubSubscription, utcnow

if TYPE_CHECKING:
    from veille.feeds.parse import ParsedFeed
    from veille.pipeline.context import Context
    from veille.settings import Settings

log = logging.getLogger(__name__)

CLAIM_FOR = 600.0            # a claimed row is not claimed again for this long (the request's own time)
VERIFY_WAIT = 3600.0         # a request the hub accepted but never verified is sent again after this
FIRST_RETRY = 60.0           # a failed request is retried after this, doubling ...
MAX_RETRY = 86400.0          # ... up to a day
DENIED_RETRY = 86400.0       # a hub that denied the subscription is asked again a day later
FAILED_AFTER = 3             # failures in a row after which a pending row says "failed"
RENEW_MARGIN = 86400.0       # renewal is sent a fifth of the lease before it ends, at most a day before
MAX_CHALLENGE = 1024
MAX_REASON = 500


def new_token() -> str:
    return secrets.token_urlsafe(24)


def new_secret() -> str:
    return secrets.token_urlsafe(32)  # hub.secret: under the spec's 200 bytes


def callback_url(settings: Settings, sub: WebSubSubscription) -> str:
    return f"{settings.public_url}/websub/{sub.id}/{sub.token}"


def renew_at(now: datetime, lease: float) -> datetime:
    """When to renew a lease granted at ``now``: before it ends by a fifth of it, at most a day."""
    return now + timedelta(seconds=lease - min(lease / 5, RENEW_MARGIN))


def _live(sub: WebSubSubscription, now: datetime) -> bool:
    """The hub may still be sending to this callback (a verified lease not yet ended)."""
    return sub.expires_at is not None and sub.expires_at > now


# --------------------------------------------------------------------------- discovery (the poller's hook)


def note_hub(s: Session, settings: Settings, feed: Feed, parsed: ParsedFeed) -> None:
    """Record or update the feed's hub after a successful poll: a new hub (or topic) is due for a subscription
    now; a feed that no longer names a hub is unsubscribed. Nothing at all when VEILLE_PUBLIC_URL is unset
    (no hub could reach the callback). Writes only when something changed."""
    if not settings.public_url:
        return
    sub = s.scalar(select(WebSubSubscription).where(WebSubSubscription.feed_id == feed.id))
    hub = parsed.hubs[0] if parsed.hubs else parsed.hub
    now = utcnow()
    if not hub:
        if sub is None or sub.state == "unsubscribing":
            return
        if _live(sub, now):
            sub.state, sub.next_attempt_at, sub.updated_at = "unsubscribing", now, now
        else:
            s.delete(sub)
        log.info("feed no longer names a WebSub hub", extra={"feed_id": feed.id})
        return
    hub = hub[:2048]
    topic = (parsed.topic or feed.url)[:2048]
    if sub is not None and sub.hub == hub and sub.topic == topic and sub.state != "unsubscribing":
        return
    if sub is None:
        from veille.pipeline.context import _insert

        # two pollers of the same feed at once: the unique feed_id keeps one row, the other insert does nothing
        s.execute(_insert(s, WebSubSubscription).values(
            feed_id=feed.id, hub=hub, topic=topic, token=new_token(), secret=new_secret(), state="pending",
            next_attempt_at=now, attempts=0, pushes=0, created_at=now, updated_at=now,
        ).on_conflict_do_nothing())
    else:  # another hub or topic: a new subscription, with a new callback and secret
        sub.hub, sub.topic, sub.token, sub.secret = hub, topic, new_token(), new_secret()
        sub.state, sub.lease_seconds, sub.expires_at, sub.attempts, sub.last_error = "pending", None, None, 0, None
        sub.next_attempt_at, sub.updated_at = now, now
    log.info("feed names a WebSub hub: subscription due", extra={"feed_id": feed.id, "hub": hub})


# --------------------------------------------------------------------------- requests to hubs (the dispatcher)


def claim_due(ctx: Context, *, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Claim the subscriptions whose next request is due (one indexed query when none is): each claim moves
    ``next_attempt_at`` ahead with a conditional UPDATE, so two dispatchers never send the same request."""
    if not ctx.settings.public_url:
        return []
    now = now or utcnow()

    def work(s: Session) -> list[int]:
        orphans = list(s.scalars(select(WebSubSubscription.id).where(
            WebSubSubscription.feed_id.is_(None), WebSubSubscription.state != "unsubscribing")))
        if orphans:  # their feed was removed: unsubscribe now
            s.execute(update(WebSubSubscription).where(WebSubSubscription.id.in_(orphans))
                      .values(state="unsubscribing", next_attempt_at=now, updated_at=now))
        due = s.execute(
            select(WebSubSubscription.id, WebSubSubscription.next_attempt_at)
            .where(WebSubSubscription.next_attempt_at <= now)
            .order_by(WebSubSubscription.next_attempt_at)
            .limit(limit)
        ).all()
        claimed = []
        for sub_id, due_at in due:
            rows = rowcount(s.execute(
                update(WebSubSubscription)
                .where(WebSubSubscription.id == sub_id, WebSubSubscription.next_attempt_at == due_at)
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_FOR))
            ))
            if rows == 1:
                claimed.append(sub_id)
        return claimed

    return ctx.db.run(work)


@dataclass(frozen=True, slots=True)
class _Request:
    sub_id: int
    token: str
    feed_id: int | None
    mode: str             # "subscribe" or "unsubscribe"
    hub: str
    form: dict[str, str]


@dataclass(frozen=True, slots=True)
class RequestResult:
    subscription_id: int
    feed_id: int | None
    mode: str
    ok: bool
    error: str | None = None


def _plan(s: Session, settings: Settings, ids: Sequence[int], now: datetime) -> list[_Request]:
    """What to send for each claimed row; rows with nothing to say to their hub are dropped here."""
    requests = []
    for sub in s.scalars(select(WebSubSubscription).where(WebSubSubscription.id.in_(ids))):
        leaving = sub.feed_id is None or sub.state == "unsubscribing"
        if leaving and not _live(sub, now):
            s.delete(sub)  # no verified lease left: the hub has nothing to stop
            continue
        form = {"hub.mode": "unsubscribe" if leaving else "subscribe", "hub.topic": sub.topic,
                "hub.callback": callback_url(settings, sub)}
        if not leaving:
            form["hub.secret"] = sub.secret
            form["hub.lease_seconds"] = str(int(settings.websub_lease))
        requests.append(_Request(sub.id, sub.token, sub.feed_id, form["hub.mode"], sub.hub, form))
    return requests


async def _post(client: httpx.AsyncClient, url: str, form: Mapping[str, str]) -> str | None:
    """POST the form to the hub; None when it accepted (2xx), else what went wrong, hub's words included."""
    try:
        http.check_scheme(url)
        async with asyncio.timeout(float(getattr(client, "deadline", 60.0))):
            async with client.stream("POST", url, data=dict(form), follow_redirects=False) as response:
                if 200 <= response.status_code < 300:
                    return None
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_REASON:
                        break
                said = " ".join(body[:MAX_REASON].decode("utf-8", "replace").split())
                return f"HTTP {response.status_code}" + (f": {said}" if said else "")
    except http.FetchError as exc:
        return str(exc)
    except TimeoutError:
        return "no answer in time"
    except ValueError as exc:  # an unparsable URL
        return f"invalid hub URL: {exc}"
    except httpx.HTTPError as exc:
        return http.describe(exc) if isinstance(exc, httpx.ConnectError) else f"{type(exc).__name__}: {exc}"


def _record(s: Session, request: _Request, error: str | None, now: datetime) -> None:
    """The hub's answer, recorded with conditional UPDATEs: the hub may verify (in the callback server's
    process) before its answer to the request arrives, and that verification must stand."""
    same = (WebSubSubscription.id == request.sub_id, WebSubSubscription.token == request.token)
    if error is None:
        later = now + timedelta(seconds=VERIFY_WAIT)
        if request.mode == "subscribe":
            s.execute(update(WebSubSubscription).where(*same, WebSubSubscription.state != "active")
                      .values(state="pending", attempts=0, last_error=None, updated_at=now))
        else:
            s.execute(update(WebSubSubscription).where(*same).values(state="unsubscribing", attempts=0,
                                                                      last_error=None, updated_at=now))
        s.execute(update(WebSubSubscription).where(*same, WebSubSubscription.next_attempt_at < later)
                  .values(next_attempt_at=later))
        return
    sub = s.scalar(select(WebSubSubscription).where(*same))
    if sub is None:
        return
    sub.attempts = (sub.attempts or 0) + 1
    sub.last_error = f"{request.mode}: {error}"[:2000]
    delay = min(MAX_RETRY, FIRST_RETRY * 2 ** (sub.attempts - 1))
    if sub.state == "active" and sub.expires_at is not None:  # a renewal: retried before the lease ends
        delay = min(delay, max(FIRST_RETRY, (sub.expires_at - now).total_seconds() / 2))
    elif sub.state in ("pending", "denied") and sub.attempts >= FAILED_AFTER:
        sub.state = "failed"
    sub.next_attempt_at, sub.updated_at = now + timedelta(seconds=delay), now


def send_requests(ctx: Context, subscription_ids: Sequence[int]) -> list[RequestResult]:
    """Send each claimed row's request to its hub (subscribe, renew or unsubscribe), concurrently, and record
    the answers. The hub's verification arrives later, at the callback server."""
    if not ctx.settings.public_url or not subscription_ids:
        return []
    from veille.pipeline.context import run_async

    now = utcnow()
    requests = ctx.db.run(_plan, ctx.settings, list(subscription_ids), now)
    if not requests:
        return []

    async def send() -> list[str | None]:
        settings = ctx.settings
        limiter = http.HostLimiter(settings.per_host_concurrency, settings.fetch_concurrency)
        async with http.make_client(settings) as client:

            async def one(request: _Request) -> str | None:
                try:
                    async with limiter.slot(request.hub):
                        return await _post(client, request.hub, request.form)
                except http.FetchError as exc:
                    return str(exc)

            return list(await asyncio.gather(*(one(r) for r in requests)))

    answers: list[str | None] = run_async(send())
    results = []
    done = utcnow()
    for request, error in zip(requests, answers, strict=True):
        ctx.db.run(_record, request, error, done)
        extra = {"feed_id": request.feed_id, "hub": request.hub, "mode": request.mode}
        if error is None:
            log.info("WebSub request accepted by the hub", extra=extra)
        else:
            log.warning("WebSub request failed", extra={**extra, "error": error})
        results.append(RequestResult(request.sub_id, request.feed_id, request.mode, error is None, error))
    return results


# --------------------------------------------------------------------------- the hub's verification (GET)


def find(s: Session, sub_id: int, token: str) -> WebSubSubscription | None:
    """The subscription a callback URL names, when its token is right (compared in constant time)."""
    sub = s.get(WebSubSubscription, sub_id)
    if sub is None or not hmac.compare_digest(sub.token.encode(), token.encode()):
        return None
    return sub


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""


NOT_FOUND = Answer(404, b"no such subscription\n")


def verify(ctx: Context, sub_id: int, token: str, query: Mapping[str, str], *,
           now: datetime | None = None) -> Answer:
    """Answer a hub's verification of intent (WebSub 5.3) or its denial (5.2).

    The challenge is echoed only when the token names a row, ``hub.topic`` is the row's topic and the mode is
    what veille asked for: subscribe for a pending or active row of a feed that still exists, unsubscribe for a
    row being unsubscribed. Anything else is 404, so nobody can subscribe or unsubscribe veille in its name."""
    mode = query.get("hub.mode", "")
    topic = query.get("hub.topic", "")
    challenge = query.get("hub.challenge", "")
    when = now or utcnow()

    def work(s: Session) -> Answer:
        sub = find(s, sub_id, token)
        if sub is None or topic != sub.topic:
            return NOT_FOUND
        extra = {"feed_id": sub.feed_id, "hub": sub.hub}
        if mode == "denied":
            reason = " ".join(query.get("hub.reason", "").split())[:MAX_REASON]
            sub.state, sub.updated_at = "denied", when
            sub.last_error = "the hub denied the subscription" + (f": {reason}" if reason else "")
            sub.expires_at, sub.next_attempt_at = None, when + timedelta(seconds=DENIED_RETRY)
            log.warning("WebSub subscription denied by the hub", extra={**extra, "error": reason})
            return Answer(200)
        if not challenge or len(challenge) > MAX_CHALLENGE:
            return NOT_FOUND
        if mode == "subscribe" and sub.feed_id is not None and sub.state in ("pending", "active"):
            lease_text = query.get("hub.lease_seconds", "").strip()
            lease = int(lease_text) if lease_text.isdigit() else int(ctx.settings.websub_lease)
            lease = max(1, min(lease, 10 * 365 * 86400))
            sub.state, sub.lease_seconds, sub.attempts, sub.last_error = "active", lease, 0, None
            sub.expires_at = when + timedelta(seconds=lease)
            sub.next_attempt_at, sub.updated_at = renew_at(when, lease), when
            log.info("WebSub subscription verified", extra={**extra, "lease": lease})
            return Answer(200, challenge.encode())
        if mode == "unsubscribe" and (sub.feed_id is None or sub.state == "unsubscribing"):
            s.delete(sub)
            log.info("WebSub unsubscription verified", extra=extra)
            return Answer(200, challenge.encode())
        return NOT_FOUND

    return ctx.db.run(work)
