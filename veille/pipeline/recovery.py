"""Recovery: work the database says is due, whatever the broker lost."""


from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from veille.pipeline.context import Context
from veille.storage.models import Alert, Article, utcnow

log = logging.getLogger(__name__)

# recovery


@dataclass(slots=True)
class Backlog:
    """Work the database says is due: what a crash interrupted, what waits for a retry."""

    fetch: list[int] = field(default_factory=list)
    # the part of ``fetch`` whose last claim ended with no result (its worker died): fetched one per task, so
    # that a page that crashes its worker takes no other page down with it again
    interrupted: list[int] = field(default_factory=list)
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
        fetching = s.execute(
            select(Article.id, Article.state).where(
                or_(Article.state == "new", Article.state == "fetching"), Article.state_at <= cutoff,
                or_(Article.next_attempt_at.is_(None), Article.next_attempt_at <= now),  # a failed page waits
            ).limit(limit)
        ).all()
        backlog.fetch = [article_id for article_id, _ in fetching]
        backlog.interrupted = [article_id for article_id, state in fetching if state == "fetching"]
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
