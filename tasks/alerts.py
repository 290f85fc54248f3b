"""Delivery: one task per outbox row; retries are scheduled in the database, not as countdowns."""

from __future__ import annotations

from tasks.common import context
from veille import pipeline
from worker.application import app


@app.task(acks_late=True, time_limit=120, soft_time_limit=100)
def deliver(alert_id: int) -> None:
    pipeline.deliver_alert(context(), alert_id)
