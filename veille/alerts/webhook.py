"""Generic JSON webhook, optionally signed.

Each alert is POSTed as ``application/json`` (UTF-8)::

    {
      "event": "alert",
      "title": "Kyutai releases Moshi",
      "url": "https://example.org/moshi",          # canonical article URL
      "source": "Example News",                     # feed title or host
      "published": "2024-07-03T09:00:00Z",          # ISO 8601 in UTC, or null
      "entities": ["Kyutai"],                       # matched entities, in order
      "mentions": [{"entity": "Kyutai", "term": "Kyutai",
                    "snippet": "...", "highlight": [12, 18]}],   # [start, end) of the hit
      "also_covered_by": [{"outlet": "Other News", "url": "https://..."}]
    }

Digests (and the summary sent instead of a burst of alerts) are one POST::

    {"event": "digest", "title": "Daily digest", "period": "..." or null,
     "alerts": [<an alert body as above>, ...]}

Notices (channel tests, admin messages) are ``{"event": "notice", "subject": ..., "body": ...}``.

With a secret, the header ``X-Veille-Signature: sha256=<hex>`` carries the HMAC-SHA256 of the
exact body bytes under that secret; receivers should compare with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from veille.alerts.base import AlertMessage, DigestMessage
from veille.alerts.post import post
from veille.alerts.render import iso_published
from veille.settings import Settings

SIGNATURE_HEADER = "X-Veille-Signature"


def alert_body(message: AlertMessage) -> dict[str, Any]:
    return {
        "event": "alert",
        "title": message.title,
        "url": message.url,
        "source": message.source,
        "published": iso_published(message.published),
        "entities": list(message.entities),
        "mentions": [
            {"entity": m.entity, "term": m.term, "snippet": m.snippet, "highlight": list(m.highlight)}
            for m in message.mentions
        ],
        "also_covered_by": [{"outlet": outlet, "url": url} for outlet, url in message.also_covered_by],
    }


def digest_body(digest: DigestMessage) -> dict[str, Any]:
    return {
        "event": "digest",
        "title": digest.title,
        "period": digest.period,
        "alerts": [alert_body(item) for item in digest.items],
    }


def sign(secret: str, body: bytes) -> str:
    """The ``X-Veille-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookTransport:
    """POSTs JSON to one URL; signs the body when given a secret."""

    def __init__(
        self, url: str, settings: Settings, *, secret: str | None = None, timeout: float | None = None
    ) -> None:
        self.url = url
        self._settings = settings
        self._secret = secret
        self._timeout = timeout

    def send(self, message: AlertMessage) -> None:
        self._post(alert_body(message))

    def send_digest(self, digest: DigestMessage) -> None:
        self._post(digest_body(digest))

    def send_text(self, subject: str, body: str) -> None:
        self._post({"event": "notice", "subject": subject, "body": body})

    def _post(self, payload: dict[str, Any]) -> None:
        content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {SIGNATURE_HEADER: sign(self._secret, content)} if self._secret else {}
        post(self._settings, self.url, content, kind="webhook", headers=headers, timeout=self._timeout)

    def __repr__(self) -> str:
        return f"WebhookTransport({self.url!r}, signed={self._secret is not None})"
