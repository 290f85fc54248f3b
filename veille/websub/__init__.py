"""WebSub (W3C Recommendation, https://www.w3.org/TR/websub/): feeds that name a hub alert within seconds.

When ``VEILLE_PUBLIC_URL`` is set, a polled feed that names a hub (``<link rel="hub">``, or the HTTP
``Link`` header) gets a subscription: :mod:`veille.websub.subscriptions` records it, asks the hub, renews it
before its lease ends and unsubscribes when the feed is removed; the web server (:mod:`veille.web.websub`)
answers the hub's verification and takes its pushes, which :mod:`veille.websub.push` checks and stores like
a poll.
Polling goes on as before: a hub that stops pushing costs nothing but the seconds it saved.

Only the poller's hook is imported here; the server and the push handling are imported by what runs them.
"""

from veille.websub.subscriptions import claim_due, note_hub, send_requests, verify

__all__ = ["claim_due", "note_hub", "send_requests", "verify"]
