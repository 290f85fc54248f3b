"""Alert channels (Slack, email, webhook, log) behind one small contract; see :mod:`veille.alerts.base`."""

from veille.alerts.base import (
    KINDS,
    AlertError,
    AlertMessage,
    EntityMention,
    Transport,
    make_transport,
    validate_target,
)

__all__ = [
    "KINDS",
    "AlertError",
    "AlertMessage",
    "EntityMention",
    "Transport",
    "make_transport",
    "validate_target",
]
