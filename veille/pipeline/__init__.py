"""The stages an article goes through, as plain functions.

``veille poll`` calls :func:`poll_once`, which runs every stage in-process; the Celery
tasks call the same stage functions one step at a time. Each stage claims its rows with a
conditional UPDATE and relies on unique constraints, so running a stage twice for the
same ids (a redelivered task, two workers racing) is harmless.

    claim_due_feeds -> poll_feeds -> fetch_pages -> match_articles -> deliver_alerts
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from veille.pipeline.context import Context, make_context, run_async
    from veille.pipeline.delivery import DeliveryResult, build_message, deliver_alert, deliver_alerts
    from veille.pipeline.feeds import FeedResult, claim_due_feeds, poll_feeds
    from veille.pipeline.match import Matcher, entity_spec, load_matcher, match_articles, match_text
    from veille.pipeline.outbox import retry_delay
    from veille.pipeline.pages import fetch_pages
    from veille.pipeline.poll import PollSummary, count_pending, poll_once
    from veille.pipeline.recovery import Backlog, claim_backlog

# Each name is imported from its stage module on first use: a command or task loads only the stages it runs
# (matching, extraction and the alert transports cost a tenth of a second each to import).
_WHERE = {
    "Context": "context", "make_context": "context", "run_async": "context",
    "DeliveryResult": "delivery", "build_message": "delivery", "deliver_alert": "delivery",
    "deliver_alerts": "delivery", "retry_delay": "outbox",
    "FeedResult": "feeds", "claim_due_feeds": "feeds", "poll_feeds": "feeds",
    "Matcher": "match", "entity_spec": "match", "load_matcher": "match", "match_articles": "match",
    "match_text": "match",
    "fetch_pages": "pages",
    "PollSummary": "poll", "count_pending": "poll", "poll_once": "poll",
    "Backlog": "recovery", "claim_backlog": "recovery",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"veille.pipeline.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Backlog",
    "Context",
    "DeliveryResult",
    "FeedResult",
    "Matcher",
    "PollSummary",
    "build_message",
    "claim_backlog",
    "claim_due_feeds",
    "count_pending",
    "deliver_alert",
    "deliver_alerts",
    "entity_spec",
    "fetch_pages",
    "load_matcher",
    "make_context",
    "match_articles",
    "match_text",
    "poll_feeds",
    "poll_once",
    "retry_delay",
    "run_async",
]
