"""Delivery: claim an outbox row, send it through its channel, record the attempt."""


from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from veille.alerts import AlertError, AlertMessage, EntityMention, make_transport
from veille.pipeline.context import Context
from veille.storage.db import rowcount
from veille.storage.models import Alert, Article, Attempt, Channel, Entity, Feed, Match, utcnow

log = logging.getLogger(__name__)

# delivery


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
