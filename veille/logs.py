"""Logging: one line per event, with the keys the pipeline passes in ``extra`` appended as key=value."""

from __future__ import annotations

import logging
import sys

KEYS = ("feed_id", "feed_url", "entry_url", "article_id", "alert_id", "channel", "attempt", "delay", "error")
NOISY = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "trafilatura": logging.WARNING,
    "htmldate": logging.WARNING,
    "charset_normalizer": logging.WARNING,
    "readability": logging.WARNING,
    "alembic": logging.WARNING,
    # Celery logs every task received and succeeded; the dispatcher runs every few seconds
    "celery.app.trace": logging.WARNING,
    "celery.worker.strategy": logging.WARNING,
    "celery.beat": logging.WARNING,
}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [f"{key}={getattr(record, key)!s}" for key in KEYS if getattr(record, key, None) is not None]
        return f"{line} {' '.join(pairs)}" if pairs else line


def configure(level: str = "INFO") -> None:
    """Log to stderr at ``level``; idempotent."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_veille", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._veille = True  # type: ignore[attr-defined]
        handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name, noisy_level in NOISY.items():
        logging.getLogger(name).setLevel(max(noisy_level, root.level))
