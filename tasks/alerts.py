"""Delivery: one task per outbox row, and the beat's digest task. Retries are scheduled in the database
(``next_attempt_at``, re-enqueued by the dispatcher when due); only a retry due within a few minutes also
gets a countdown task, so it runs on time and never outlives the broker's visibility timeout."""

from __future__ import annotations

from datetime import datetime

from tasks.common import context
from veille import digests, pipeline
from veille.pipeline import delivery
from veille.pipeline.context import Context
from veille.storage.models import utcnow
from worker.application import app

COUNTDOWN_MAX = 300.0  # seconds; Redis's visibility timeout is 3600


@app.task(acks_late=True, time_limit=120, soft_time_limit=100)
def deliver(alert_id: int) -> None:
    ctx = context()
    result = pipeline.deliver_alert(ctx, alert_id)
    if result.status == "pending" and result.retry_at is not None:
        schedule_retry(ctx, result.id, result.retry_at)


def schedule_retry(ctx: Context, alert_id: int, at: datetime) -> None:
    """A retry due soon runs from a countdown (exactly on time); a later one waits for the dispatcher."""
    delay = (at - utcnow()).total_seconds()
    if delay > COUNTDOWN_MAX:
        return
    delivery.mark_enqueued(ctx, alert_id, at)
    deliver.apply_async((alert_id,), countdown=max(0.0, delay))


@app.task(acks_late=True, time_limit=600, soft_time_limit=540)
def send_digests() -> None:
    """Claim the digest windows that are due and send them (beat, every few seconds; two beats are harmless)."""
    digests.send_due_digests(context())
