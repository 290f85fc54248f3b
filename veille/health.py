"""Feed health: one "feed failing" notice to the admin channels after N consecutive failures, one "recovered"
notice when the feed works again.

The feed row records the streak (``failures``, ``failing_since``) and whether its failing notice went out
(``failing_notified``). The failing notice is claimed with a conditional UPDATE before it is sent, so two
workers polling at once never both send it; the recovered notice is decided in the same transaction that
records the successful poll. Notices go to every channel marked ``admin`` and not paused, through the channel's
``send_text``, the way every message to a channel is sent (:func:`veille.pipeline.outbox.send_now`: not while
its receiver's Retry-After lasts, in its send slot, the outcome recorded as the channel's state); when none is
configured they are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from veille.storage import pauses
from veille.storage.db import rowcount
from veille.storage.models import Channel, Feed

if TYPE_CHECKING:
    from veille.alerts import Transport
    from veille.pipeline.context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedNotice:
    """A message about one feed's health, for the admin channels."""

    feed_id: int
    kind: str  # "failing" or "recovered"
    subject: str
    body: str

    def send(self, transport: Transport) -> None:
        transport.send_text(self.subject, self.body)


def _name(feed: Feed) -> str:
    return feed.title or feed.url


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "an unknown time"


def failing_notice(feed: Feed) -> FeedNotice:
    body = (
        f"The feed {feed.url} has failed {feed.failures} times in a row since {_when(feed.failing_since)}.\n"
        f"Last error: {feed.last_error or 'unknown'}\n"
        f"veille keeps trying, less often after each failure (at most a day apart); next try at "
        f"{_when(feed.next_poll_at)}.\n"
        f"You will get one more message when it works again. `veille status` shows every feed's state."
    )
    return FeedNotice(feed.id, "failing", f"veille: feed failing: {_name(feed)}", body)


def recovered_notice(feed: Feed, *, failures: int, since: datetime | None) -> FeedNotice:
    body = f"The feed {feed.url} works again, after {failures} failures in a row since {_when(since)}."
    return FeedNotice(feed.id, "recovered", f"veille: feed recovered: {_name(feed)}", body)


def claim_failing_notices(s: Session, feed_ids: Sequence[int], threshold: int) -> list[FeedNotice]:
    """Mark the feeds that reached ``threshold`` consecutive failures as notified; their notices are returned
    once, whoever else runs this at the same time."""
    notices = []
    for feed_id in feed_ids:
        claimed = rowcount(s.execute(
            update(Feed)
            .where(Feed.id == feed_id, Feed.failing_notified.is_(False), Feed.failures >= max(1, threshold))
            .values(failing_notified=True)
        ))
        if claimed == 1:
            feed = s.get(Feed, feed_id)
            if feed is not None:
                s.refresh(feed)
                notices.append(failing_notice(feed))
    return notices


def _unclaim(s: Session, feed_id: int) -> None:
    s.execute(update(Feed).where(Feed.id == feed_id, Feed.failures > 0).values(failing_notified=False))


def send_notices(ctx: Context, notices: Sequence[FeedNotice]) -> list[int]:
    """Send each notice to every admin channel that is not paused; returns, per notice, how many channels accepted it
    (-1 when there is no admin channel: the notice was logged)."""
    from veille.pipeline.outbox import send_now

    if not notices:
        return []
    channels = ctx.db.run(
        lambda s: s.execute(
            select(Channel.id, Channel.name).where(Channel.admin.is_(True), pauses.active(Channel)).order_by(Channel.id)
        ).all()
    )
    delivered = []
    for notice in notices:
        if not channels:
            log.warning("%s (no admin channel: add one with `veille channels add ... --admin`)", notice.subject,
                        extra={"feed_id": notice.feed_id})
            delivered.append(-1)
            continue
        accepted = 0
        for channel_id, name in channels:
            error = send_now(ctx, channel_id, notice.send)
            if error is not None:
                log.warning("feed health notice not sent", extra={"feed_id": notice.feed_id,
                                                                  "channel": name, "error": str(error)})
                continue
            accepted += 1
        log.info("feed health notice sent", extra={"feed_id": notice.feed_id, "kind": notice.kind,
                                                   "channels": accepted})
        delivered.append(accepted)
    return delivered


def report_feed_health(
    ctx: Context, failed_feed_ids: Sequence[int], recovered: Sequence[FeedNotice] = ()
) -> list[FeedNotice]:
    """Send the failing notices now due for ``failed_feed_ids`` and the given recovered notices.

    A failing notice that no admin channel accepted is given back (the next failed poll tries again);
    returns the notices that went out (or were logged for want of an admin channel).
    """
    failing = ctx.db.run(claim_failing_notices, failed_feed_ids, ctx.settings.feed_failing_after) \
        if failed_feed_ids else []
    notices = [*failing, *recovered]
    if not notices:
        return []
    sent = []
    for notice, accepted in zip(notices, send_notices(ctx, notices), strict=True):
        if accepted == 0 and notice.kind == "failing":
            ctx.db.run(_unclaim, notice.feed_id)
            continue
        sent.append(notice)
    return sent
