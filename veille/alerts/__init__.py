"""Alert channels (Slack, email, webhook, Apprise, log) behind one small contract; see :mod:`veille.alerts.base`."""

from veille.alerts.base import (
    KINDS,
    AlertError,
    AlertMessage,
    DigestMessage,
    EntityMention,
    Transport,
    make_transport,
    redact_target,
    validate_target,
)

__all__ = [
    "KINDS",
    "AlertError",
    "AlertMessage",
    "DigestMessage",
    "EntityMention",
    "Transport",
    "make_transport",
    "redact_target",
    "validate_target",
]
