"""`veille poll`: every stage in-process, once."""


from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from veille.pipeline.context import Context
from veille.pipeline.feeds import FeedResult, claim_due_feeds, poll_feeds
from veille.pipeline.recovery import claim_backlog
from veille.storage import pauses
from veille.storage.models import Alert, Article, Feed, Match, utcnow

if TYPE_CHECKING:
    from veille.pipeline.delivery import DeliveryResult

# The later stages are imported when there is something for them to do: a poll of unchanged feeds is mostly
# start-up, and extraction, matching and the alert transports each take a tenth of a second to import.

log = logging.getLogger(__name__)
T = TypeVar("T")
MATCH_GROUP = 25

# veille poll


@dataclass(slots=True)
class PollSummary:
    feeds: list[FeedResult] = field(default_factory=list)
    pages: int = 0  # pages fetched and extracted
    pages_failed: int = 0  # pages that could not be had (retried later, or matched on the feed's own words)
    articles_checked: int = 0  # articles run through the matcher
    articles_matched: int = 0  # of which at least one tracked entity matched
    kept: dict[str, int] = field(default_factory=dict)  # matched articles that alert nobody, by reason
    alerts: list[DeliveryResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.alerts if r.status == status)

    @property
    def failed(self) -> bool:
        """Whether any feed, page or delivery failed (`veille poll --check`)."""
        return (
            any(r.status == "error" for r in self.feeds) or self.pages_failed > 0
            or any(r.status in ("failed", "pending") for r in self.alerts)
        )


def _in_batches(ids: Sequence[int], size: int, work: Callable[[Sequence[int]], list[T]]) -> list[T]:
    out: list[T] = []
    for start in range(0, len(ids), size):
        out.extend(work(ids[start : start + size]))
    return out


def poll_once(ctx: Context) -> PollSummary:
    """Every stage in-process: poll every feed not paused now, fetch, match, deliver. Each request is tried once.
    Search sources are polled only when due: a provider is asked each query once per VEILLE_SEARCH_INTERVAL,
    however often `veille poll` runs."""
    started = time.monotonic()
    summary = PollSummary()
    now = utcnow()
    feed_ids = ctx.db.run(lambda s: list(s.scalars(
        select(Feed.id).where(pauses.active(Feed, now), Feed.kind != "search").order_by(Feed.id)
    )))
    # claimed, as the service claims them: two `veille poll` at once do not both ask a provider the same query
    feed_ids += sorted(claim_due_feeds(ctx, now=now, limit=100_000, kind="search"))
    summary.feeds = _in_batches(feed_ids, 200, lambda ids: poll_feeds(ctx, ids))
    backlog = claim_backlog(ctx, stale=False)
    to_fetch = sorted({a for r in summary.feeds for a in r.new_articles} | set(backlog.fetch))
    # Pages are matched in small groups as they are stored, while the next ones are fetched and extracted
    # (in a pool of processes, one per core): the stages overlap instead of waiting for each other.
    new_alerts: list[int] = []
    matched: set[int] = set()
    waiting: list[int] = []

    def match_waiting() -> None:
        if not waiting:
            return
        from veille.pipeline.match import match_articles

        # in id order (the order the feeds listed them), not the order the pages came back in: the first article
        # of a story, which carries its alert, must not depend on which server answered faster
        new_alerts.extend(match_articles(ctx, sorted(waiting)))
        matched.update(waiting)
        waiting.clear()

    def page_ready(article_id: int) -> None:
        waiting.append(article_id)
        if len(waiting) >= MATCH_GROUP:
            match_waiting()

    if to_fetch:
        from veille.pages.fetch import extraction_processes
        from veille.pipeline.pages import fetch_pages

        with extraction_processes(ctx.settings.poll_processes or None):
            fetch_pages(ctx, to_fetch, then=page_ready)
    match_waiting()
    rest = sorted(({a for r in summary.feeds for a in r.ready_articles} | set(backlog.match)) - matched)
    waiting.extend(rest)
    match_waiting()
    summary.articles_checked = len(matched)
    ctx.db.run(_count_outcomes, summary, to_fetch, sorted(matched))
    to_deliver = sorted(set(new_alerts) | set(backlog.deliver))
    if to_deliver:
        from veille.pipeline.delivery import deliver_alerts

        summary.alerts = deliver_alerts(ctx, to_deliver)
    from veille.digests import send_due_digests  # here: veille.digests imports this package

    send_due_digests(ctx)
    summary.seconds = time.monotonic() - started
    return summary


def _count_outcomes(s: Session, summary: PollSummary, fetched: Sequence[int], matched: Sequence[int]) -> None:
    """Pages fetched and failed, articles matched and kept without an alert, from what the stages stored."""
    for start in range(0, len(fetched), 500):
        ids = fetched[start : start + 500]
        rows = s.execute(select(Article.state, Article.error).where(Article.id.in_(ids))).all()
        summary.pages_failed += sum(1 for state, error in rows if error is not None)
        summary.pages += sum(1 for state, error in rows if error is None and state in ("fetched", "matched",
                                                                                        "duplicate"))
    for start in range(0, len(matched), 500):
        ids = matched[start : start + 500]
        outcomes = s.execute(
            select(Match.article_id, func.max(case((Match.alerted.is_(True), 1), else_=0)), func.max(Match.reason))
            .where(Match.article_id.in_(ids)).group_by(Match.article_id)
        ).all()
        summary.articles_matched += len(outcomes)
        for _, alerted, reason in outcomes:
            if not alerted:
                summary.kept[reason or "no alert"] = summary.kept.get(reason or "no alert", 0) + 1


def count_pending(s: Session) -> tuple[int, int]:
    pending = s.scalar(select(func.count()).select_from(Alert).where(Alert.status.in_(("pending", "sending")))) or 0
    failed = s.scalar(select(func.count()).select_from(Alert).where(Alert.status == "failed")) or 0
    return pending, failed
