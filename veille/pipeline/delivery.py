"""Delivery of alerts: the outbox has one row per (story, channel), sent as it comes.

Claiming, pauses (the receiver's Retry-After, the user's), flood control, sending, recording and retries are
the outbox's, shared with digests: see :mod:`veille.pipeline.outbox`. What is the alerts' own is here:
routing an article's alert to channels, its message, and **summaries**: when more than
``alert_summary_after`` alerts wait for the channel, the claim takes them all (up to :data:`SUMMARY_MAX`)
and they go out as one summary message, retried and recorded as one.
"""


from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from veille import stories
from veille.alerts import AlertMessage, DigestMessage, EntityMention
from veille.pipeline import outbox
from veille.pipeline.context import Context
from veille.pipeline.outbox import next_attempt as next_attempt  # the retry policy, where it always was
from veille.pipeline.outbox import retry_delay as retry_delay
from veille.storage.models import Alert, Article, Channel, Entity, Feed, Match

log = logging.getLogger(__name__)

SUMMARY_MAX = 50  # alerts in one summary message


DeliveryResult = outbox.Outcome  # what became of an alert


# --- routing ----------------------------------------------------------------------------------


def routed_to(options: Mapping[str, Any] | None, channel_name: str) -> bool:
    """Whether an entity with these options sends to the channel (``--to`` names; none means every one)."""
    names = (options or {}).get("to")
    return not names or channel_name in names


def route_channels(channels: Sequence[Channel], entities: Sequence[Entity]) -> list[Channel]:
    """The channels an article matching ``entities`` goes to: each entity's ``--to`` channels, or every
    channel for an entity without ``--to``. A ``--to`` name that no longer exists is skipped with a warning."""
    by_name = {c.name: c for c in channels}
    chosen: dict[int, Channel] = {}
    for entity in entities:
        names = (entity.options or {}).get("to")
        if not names:
            chosen.update((c.id, c) for c in channels)
            continue
        missing = [n for n in names if n not in by_name]
        if missing:
            log.warning("entity routed to missing channels", extra={"entity": entity.name, "channels": missing})
        chosen.update((by_name[n].id, by_name[n]) for n in names if n in by_name)
    return sorted(chosen.values(), key=lambda c: c.id)


def is_digest(channel: Channel) -> bool:
    """Alerts for this channel wait for its digest instead of going out one by one."""
    return bool((channel.options or {}).get("digest"))


# --- messages ---------------------------------------------------------------------------------


def build_message(s: Session, alert: Alert, channel: Channel | None = None) -> AlertMessage:
    """The message for an alert: its article, the mentions of the entities routed to ``channel``, and the
    other outlets that carried the story."""
    article = s.get_one(Article, alert.article_id)
    rows = s.execute(
        select(Match, Entity.name, Entity.options).join(Entity, Entity.id == Match.entity_id)
        .where(Match.article_id == article.id).order_by(Match.id)
    ).all()
    if channel is not None:
        rows = [r for r in rows if routed_to(r[2], channel.name)] or rows
    feed = s.get(Feed, article.feed_id) if article.feed_id else None
    url = article.canonical_url or article.url
    source = (feed.title if feed and feed.title else None) or urlsplit(url).hostname or "unknown source"
    if feed is not None and feed.kind == "search":  # the publisher, not the search that found it
        from veille.search.links import source_label

        source = source_label(feed.options, url, publisher=article.author, resolved=article.canonical_url is not None)
    return AlertMessage(
        title=article.title or url,
        url=url,
        source=source,
        published=article.published_at,
        mentions=tuple(
            EntityMention(entity=name, term=m.term, snippet=m.snippet, highlight=(m.hl_start, m.hl_end))
            for m, name, _ in rows
        ),
        also_covered_by=stories.also_covered_by(s, alert.story_id or article.story_id, article.id),
    )


def summary_size(waiting: int) -> int:
    """How many of ``waiting`` alerts the next summary carries: all of them up to SUMMARY_MAX, else an even
    share, so a burst of 120 goes out as 40 + 40 + 40 rather than 50 + 50 + 20 single messages."""
    messages = -(-waiting // SUMMARY_MAX)
    return -(-waiting // messages)


def summary_message(messages: Sequence[AlertMessage], threshold: int) -> DigestMessage:
    return DigestMessage(
        title=f"{len(messages)} alerts at once",
        items=tuple(messages),
        period=f"more than {threshold} alerts were waiting for this channel: here they are in one message",
    )


# --- the alerts' outbox -------------------------------------------------------------------------


def _gather(s: Session, ctx: Context, alert: Alert, channel: Channel, now: datetime) -> tuple[list[int], list[int]]:
    """The claimed alert, and past the summary threshold every other alert waiting for its channel."""
    ids = [alert.id]
    waiting = s.scalar(
        select(func.count()).select_from(Alert)
        .where(Alert.channel_id == channel.id, Alert.status == "pending", Alert.id != alert.id)
    ) or 0
    if waiting + 1 > ctx.settings.alert_summary_after:
        others = s.scalars(
            select(Alert.id).where(Alert.channel_id == channel.id, Alert.status == "pending", Alert.id != alert.id)
            .order_by(Alert.id).limit(summary_size(waiting + 1) - 1)
        ).all()
        ids += outbox.claim_rows(s, Alert, others, now)
    return ids, ids


def _compose(s: Session, ctx: Context, claim: outbox.Claim) -> AlertMessage | DigestMessage:
    channel = s.get_one(Channel, claim.channel.id)
    messages = [build_message(s, alert, channel) for alert in outbox.load_alerts(s, claim.alert_ids)]
    return messages[0] if len(messages) == 1 else summary_message(messages, ctx.settings.alert_summary_after)


ALERTS = outbox.Outbox(Alert, "alert", _gather, _compose)


def deliver_alert(ctx: Context, alert_id: int) -> DeliveryResult:
    """Claim one pending alert (and, past the summary threshold, every alert waiting for its channel), send
    it, record the attempt. Safe to call twice."""
    return outbox.deliver(ctx, ALERTS, alert_id)


def mark_enqueued(ctx: Context, alert_id: int, at: datetime) -> None:
    """A task was scheduled to run at ``at``: the dispatcher leaves the alert alone until then (plus its
    stale period, in case that task is lost)."""
    ctx.db.run(lambda s: s.execute(
        update(Alert).where(Alert.id == alert_id, Alert.status == "pending").values(enqueued_at=at)
    ))


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
        results: list[DeliveryResult] = []
        carried: set[int] = set()
        for alert_id in group:
            if alert_id in carried:  # it went out in an earlier summary: no claim to try
                results.append(DeliveryResult(alert_id, "skipped", "carried by a summary"))
                continue
            result = deliver_alert(ctx, alert_id)
            carried.update(result.carried)
            results.append(result)
        return results

    with ThreadPoolExecutor(max_workers=min(8, len(by_channel)) or 1) as pool:
        return [r for results in pool.map(send_all, by_channel.values()) for r in results]
