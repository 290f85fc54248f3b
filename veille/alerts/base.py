"""Alert channels: the values they carry, the one contract they keep, and the factory.

A transport delivers one :class:`AlertMessage`, one :class:`DigestMessage` (a digest, or the summary
that replaces a burst of alerts) or a plain notice to one channel::

    transport = make_transport("slack", "https://hooks.slack.com/services/...", {}, settings)
    transport.send(message)          # returns when the channel accepted it
    transport.send_digest(digest)    # several articles in one message, grouped by entity

Exception contract:
    ``send``, ``send_digest`` and ``send_text`` either return (the channel accepted the message) or raise
    :class:`AlertError`; no other exception escapes a transport.

    AlertError.permanent = False   a retry may help (timeout, connection refused, 5xx, 429, SMTP 4xx).
                                   ``retry_after`` (seconds) is set when the channel said how long
                                   to wait (a ``Retry-After`` header); otherwise back off as usual.
    AlertError.permanent = True    retrying the same message to the same channel will not help
                                   (the webhook is gone, the token was revoked, the address was
                                   refused, SMTP is not configured): record the failure and tell
                                   the operator; the message says what to fix.

    The message always names the channel kind first (``"slack: ..."``, ``"email: ..."``) and
    never contains a password.

Configuration mistakes found before sending (an unknown kind, a target that is not a URL or
an address) raise ValueError from :func:`make_transport` and :func:`validate_target`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from veille.settings import Settings

KINDS = ("apprise", "email", "log", "slack", "webhook")


class AlertError(Exception):
    """A channel did not accept a message; ``permanent`` says whether a retry may help."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"AlertError({str(self)!r}, permanent={self.permanent}, retry_after={self.retry_after})"


@dataclass(frozen=True, slots=True)
class EntityMention:
    """Where one tracked entity was found: the term that hit and the text around it."""

    entity: str  # name as the user typed it
    term: str  # the name or alias that matched
    snippet: str  # plain text from the article
    highlight: tuple[int, int]  # [start, end) of the hit in snippet


@dataclass(frozen=True, slots=True)
class AlertMessage:
    """One article to announce on one channel."""

    title: str
    url: str  # canonical article URL
    source: str  # feed title or host
    published: datetime | None
    mentions: tuple[EntityMention, ...]  # one per matched entity, in order
    also_covered_by: tuple[tuple[str, str], ...] = ()  # (outlet, url)

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(mention.entity for mention in self.mentions)


@dataclass(frozen=True, slots=True)
class DigestMessage:
    """Several articles in one message: a scheduled digest, or the summary of a burst of alerts."""

    title: str  # "Daily digest", "25 alerts at once"
    items: tuple[AlertMessage, ...]
    period: str | None = None  # what it covers, e.g. "until 2026-12-03 08:00 Europe/Paris"

    @property
    def entities(self) -> tuple[str, ...]:
        """Every entity named in the items, in order of first appearance."""
        return tuple(dict.fromkeys(e for item in self.items for e in item.entities))

    def by_entity(self) -> list[tuple[str, list[AlertMessage]]]:
        """Items grouped by entity, entities in order of first appearance; an item naming two entities
        is listed under both, an item naming none under "Other"."""
        groups: dict[str, list[AlertMessage]] = {}
        for item in self.items:
            for entity in dict.fromkeys(item.entities) or ("Other",):
                groups.setdefault(entity, []).append(item)
        return list(groups.items())


class Transport(Protocol):
    """One configured channel. Every method returns, or raises AlertError."""

    def send(self, message: AlertMessage) -> None: ...

    def send_digest(self, digest: DigestMessage) -> None:
        """Several articles as one message, grouped by entity."""
        ...

    def send_text(self, subject: str, body: str) -> None:
        """A plain notice: a channel test, feed health, an admin message."""
        ...


_EMAIL = re.compile(
    r"""^(?P<local>[^@\s<>()\[\],;:"\\]{1,64})@(?P<domain>[\w-]+(?:\.[\w-]+)*)$""",
    re.UNICODE,
)


def validate_target(kind: str, target: str) -> str:
    """The normalized target for a channel of ``kind``, or ValueError saying what is wrong."""
    kind = _check_kind(kind)
    target = target.strip()
    if kind == "apprise":
        from veille.alerts.apprise import check_url

        return check_url(target)
    if kind in ("slack", "webhook"):
        parts = urlsplit(target)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{kind}: the target must be an http or https URL, not {target!r}")
        if any(ch.isspace() for ch in target):
            raise ValueError(f"{kind}: the URL must not contain spaces or line breaks: {target!r}")
        try:
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError as exc:
            raise ValueError(f"{kind}: the URL has an invalid port: {target!r}") from exc
        return target
    if kind == "email":
        match = _EMAIL.match(target)
        domain = match.group("domain") if match else ""
        if not match or len(domain) > 253 or any(not label or len(label) > 63 for label in domain.split(".")):
            raise ValueError(f"email: {target!r} is not an email address (expected name@example.org)")
        return f"{match.group('local')}@{domain.lower()}"
    return target  # log: the target is a free label


def make_transport(kind: str, target: str, options: Mapping[str, Any], settings: Settings) -> Transport:
    """The transport for one channel; ValueError for an unknown kind or a bad target."""
    kind = _check_kind(kind)
    target = validate_target(kind, target)
    if kind == "slack":
        from veille.alerts.slack import SlackTransport

        return SlackTransport(target, settings)
    if kind == "email":
        from veille.alerts.email import EmailTransport

        return EmailTransport(target, settings)
    if kind == "apprise":
        from veille.alerts.apprise import AppriseTransport

        return AppriseTransport(target)
    if kind == "webhook":
        from veille.alerts.webhook import WebhookTransport

        secret = options.get("secret")
        if secret is not None and not isinstance(secret, str):
            raise ValueError("webhook: options['secret'] must be a string")
        return WebhookTransport(target, settings, secret=secret or None)
    from veille.alerts.log import LogTransport

    return LogTransport(target)


def redact_target(kind: str, target: str) -> str:
    """A channel's target fit to show or log: an email address as is; a URL (its path and query hold
    tokens: Slack's webhook secret, an ntfy topic, a Discord token) reduced to its scheme and host."""
    if kind in ("email", "log"):
        return target
    parts = urlsplit(target.strip())
    if not parts.scheme:
        return "…"
    try:
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        host, port = "", ""
    hidden = parts.netloc != f"{host}{port}" or parts.path.strip("/") or parts.query or parts.fragment
    return f"{parts.scheme}://{host}{port}/" + ("…" if hidden else "")


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown alert channel kind {kind!r}; expected one of: {', '.join(KINDS)}")
    return kind
