"""Polling: the beat's dispatcher and the feed poll."""

from __future__ import annotations

import logging
import time

from tasks.common import context
from veille import pipeline, websub
from veille.manage import status
from worker.application import app

log = logging.getLogger(__name__)

# feeds per poll task: 10 measured 48.6 -> 50.8 first-poll articles/s against 20 (page fetches start sooner)
BATCH = 10

_last_beat = float("-inf")  # monotonic time of this process's last "beat" heartbeat


def beat_heartbeat() -> None:
    """The beat ticked and a worker runs its tasks: the ``beat`` heartbeat, at most every few seconds."""
    global _last_beat
    ctx = context()
    if time.monotonic() - _last_beat < status.heartbeat_every(ctx.settings):
        return
    _last_beat = time.monotonic()
    try:
        status.record_heartbeat(ctx.db, name=status.BEAT, kind="beat",
                                stale_after=status.alive_within(ctx.settings))
    except Exception as exc:  # never let the heartbeat stop the dispatch
        log.warning("beat heartbeat not recorded: %s", exc)


@app.task(acks_late=True, time_limit=60, soft_time_limit=50)
def dispatch() -> None:
    """Claim due feeds and enqueue their polls; re-enqueue work a crash interrupted or a retry awaits."""
    from tasks.alerts import deliver
    from tasks.pages import fetch_later, fetch_pages, match_later

    ctx = context()
    beat_heartbeat()
    feed_ids = pipeline.claim_due_feeds(ctx)
    for start in range(0, len(feed_ids), BATCH):
        poll_feeds.delay(feed_ids[start : start + BATCH])
    backlog = pipeline.claim_backlog(ctx)
    interrupted = set(backlog.interrupted)
    fetch_later([a for a in backlog.fetch if a not in interrupted])
    for article_id in backlog.interrupted:  # alone: a page that killed its worker must not take others with it
        fetch_pages.delay([article_id])
    match_later(backlog.match)
    for alert_id in backlog.deliver:
        deliver.delay(alert_id)
    subscriptions = websub.claim_due(ctx)  # WebSub requests due (none when VEILLE_PUBLIC_URL is unset)
    if subscriptions:
        websub_requests.delay(subscriptions)
    if feed_ids or backlog.fetch or backlog.match or backlog.deliver:
        log.info("dispatched %d feeds, resumed %d fetches, %d matches, %d deliveries", len(feed_ids),
                 len(backlog.fetch), len(backlog.match), len(backlog.deliver))


@app.task(acks_late=True)
def poll_feeds(feed_ids: list[int]) -> None:
    """Poll a batch of feeds concurrently; enqueue page fetches and matches for new articles."""
    from tasks.pages import fetch_later, match_later

    results = pipeline.poll_feeds(context(), feed_ids)
    fetch_later([a for r in results for a in r.new_articles])
    match_later([a for r in results for a in r.ready_articles])


@app.task(acks_late=True, time_limit=120, soft_time_limit=100)
def websub_requests(subscription_ids: list[int]) -> None:
    """Send claimed WebSub requests to their hubs: subscribe, renew before the lease ends, unsubscribe."""
    websub.send_requests(context(), subscription_ids)
