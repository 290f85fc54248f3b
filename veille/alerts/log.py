"""The ``log`` channel: alerts written to the ``veille.alerts`` logger at INFO (no setup needed)."""

from __future__ import annotations

import logging

from veille.alerts import render
from veille.alerts.base import AlertMessage, DigestMessage

logger = logging.getLogger("veille.alerts")


class LogTransport:
    """Logs each alert on one line (feed text has its line breaks collapsed)."""

    def __init__(self, label: str = "") -> None:
        self.label = label

    def send(self, message: AlertMessage) -> None:
        snippets = []
        for mention in message.mentions:
            before, hit, after = render.split_snippet(mention, limit=160)
            marked = f"{before}[{hit}]{after}" if hit else before + after
            snippets.append(f"{render.one_line(mention.entity)}: {marked.strip()}")
        logger.info(
            "alert: %s <%s> from %s%s",
            render.subject(message),
            message.url,
            render.one_line(message.source) or "?",
            "".join(f" | {s}" for s in snippets),
            extra={"alert_url": message.url, "channel": self.label or "log"},
        )

    def send_digest(self, digest: DigestMessage) -> None:
        for item in digest.items:
            logger.info(
                "%s: %s <%s> from %s",
                render.one_line(digest.title),
                render.subject(item),
                item.url,
                render.one_line(item.source) or "?",
                extra={"alert_url": item.url, "channel": self.label or "log"},
            )

    def send_text(self, subject: str, body: str) -> None:
        logger.info(
            "notice: %s: %s",
            render.one_line(subject),
            render.one_line(body),
            extra={"channel": self.label or "log"},
        )
