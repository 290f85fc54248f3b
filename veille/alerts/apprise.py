"""Apprise URLs for every other service: Discord, Teams, Telegram, ntfy, Matrix, Mattermost, Pushover...

``veille channels add apprise 'ntfy://ntfy.sh/my-topic'`` (see https://github.com/caronc/apprise/wiki for
the URL of each service). Alerts are sent as Markdown with the title on its own, and Apprise converts them
to what the service shows (HTML, plain text). Feed text is escaped for Markdown (:func:`render.md_escape`).

Apprise answers a send with True or False only; what went wrong is in its log. This transport reads the
warnings Apprise logs while it sends (on this thread only) and turns them into the AlertError message, and
an ``error=NNN`` status in them into permanence: 400, 401, 403, 404 and 410 are permanent (the URL,
token or topic is wrong or gone), anything else (timeouts, refused connections, 429, 5xx) is transient.
The channel's URL (which holds its token) never appears in a message: services are named by scheme and host.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from veille.alerts.base import AlertError, AlertMessage, DigestMessage, redact_target
from veille.alerts.render import digest_subject, md_body, md_digest, md_title, one_line, truncate

PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 410})
_STATUS = re.compile(r"error=(\d{3})\b")
_apprise_logger = logging.getLogger("apprise")
if _apprise_logger.level == logging.NOTSET:
    # Apprise logs payloads and URLs at INFO/DEBUG; its warnings (what went wrong) are what we need
    _apprise_logger.setLevel(logging.WARNING)
# Apprise's warnings name topics and hosts straight from the URL (an ntfy topic is its password): they are
# read by this module and logged by veille as a redacted AlertError, never passed on as they are
_apprise_logger.propagate = False
if logging.getLogger("urllib3").level == logging.NOTSET:
    logging.getLogger("urllib3").setLevel(logging.WARNING)  # Apprise's HTTP client logs URLs at DEBUG


def check_url(url: str) -> str:
    """``url`` if Apprise knows how to send to it, else ValueError (the message never repeats the URL:
    it may hold a token)."""
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        raise ValueError("apprise: expected a service URL such as ntfy://ntfy.sh/topic or discord://id/token")
    if any(ch.isspace() for ch in url):
        raise ValueError(f"apprise: the {scheme}:// URL must not contain spaces or line breaks")
    if _service(url) is None:
        raise ValueError(
            f"apprise: {scheme}:// is not a URL Apprise can send to (unknown service, or a token or "
            "address missing); see https://github.com/caronc/apprise/wiki"
        )
    return url


def _service(url: str) -> Any:
    import apprise

    return apprise.Apprise.instantiate(url)


class _ThreadRecords(logging.Handler):
    """Warnings Apprise logs on the current thread (two channels may send side by side)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


@contextmanager
def _captured() -> Iterator[list[str]]:
    handler = _ThreadRecords()
    _apprise_logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        _apprise_logger.removeHandler(handler)


class AppriseTransport:
    """Sends to one Apprise URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.label = redact_target("apprise", url)
        self._secrets = _secrets(url)

    def send(self, message: AlertMessage) -> None:
        self._notify(md_title(message), md_body(message))

    def send_digest(self, digest: DigestMessage) -> None:
        self._notify(digest_subject(digest).removeprefix("[veille] "), md_digest(digest))

    def send_text(self, subject: str, body: str) -> None:
        self._notify(truncate(one_line(subject), 250), body)

    def _notify(self, title: str, body: str) -> None:
        import apprise

        service = _service(self.url)
        if service is None:
            raise AlertError(f"apprise: {self.label} is not a URL Apprise can send to", permanent=True)
        with _captured() as lines:
            try:
                ok = service.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN)
            except Exception as exc:  # a plugin bug must not escape the transport contract
                raise AlertError(f"apprise: {self.label}: {type(exc).__name__}: {exc}") from exc
        if ok:
            return
        raise self._error(lines)

    def _error(self, lines: list[str]) -> AlertError:
        said = "; ".join(truncate(one_line(self._redact(line)), 300) for line in lines[-3:])
        detail = said or "the service did not accept the message"
        statuses = [int(code) for line in lines for code in _STATUS.findall(line)]
        permanent = bool(statuses) and statuses[-1] in PERMANENT_STATUSES
        hint = "; check the URL, its token or topic" if permanent else "; will retry"
        return AlertError(f"apprise: {self.label}: {detail}{hint}", permanent=permanent)

    def _redact(self, line: str) -> str:
        line = line.replace(self.url, self.label)
        for secret in self._secrets:
            line = line.replace(secret, "…")
        return line

    def __repr__(self) -> str:
        return f"AppriseTransport({self.label!r})"


def _secrets(url: str) -> list[str]:
    """The parts of an Apprise URL that may be tokens, topics or passwords, longest first."""
    parts = urlsplit(url)
    found = [unquote(p) for p in parts.path.split("/") if len(p) >= 3]
    found += [v for _, v in parse_qsl(parts.query) if len(v) >= 3]
    found += [unquote(x) for x in (parts.username, parts.password) if x and len(x) >= 3]
    return sorted(set(found), key=len, reverse=True)
