"""Slack incoming webhooks: Block Kit message with a plain ``text`` fallback."""

from __future__ import annotations

import json

from veille.alerts.base import AlertMessage, DigestMessage
from veille.alerts.post import post
from veille.alerts.render import slack_digest_payload, slack_payload, slack_text_payload
from veille.settings import Settings

_NEW_HOOK = "create a new incoming webhook in Slack and update the channel"

# Error bodies Slack answers a webhook POST with (400/403/404/410), and what to do about them.
HINTS = {
    "no_service": f"the webhook was removed or disabled; {_NEW_HOOK}",
    "invalid_token": f"the webhook's token is invalid or revoked; {_NEW_HOOK}",
    "channel_not_found": f"the webhook's Slack channel was deleted; {_NEW_HOOK}",
    "channel_is_archived": "the Slack channel is archived; unarchive it or create a new webhook",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel; pick another channel",
    "no_active_hooks": "incoming webhooks are turned off for this Slack app; turn them back on",
}


class SlackTransport:
    """Posts to one Slack incoming webhook URL (the URL is a secret: errors name its host only)."""

    def __init__(self, url: str, settings: Settings, *, timeout: float | None = None) -> None:
        self.url = url
        self._settings = settings
        self._timeout = timeout

    def send(self, message: AlertMessage) -> None:
        self._post(slack_payload(message))

    def send_digest(self, digest: DigestMessage) -> None:
        self._post(slack_digest_payload(digest))

    def send_text(self, subject: str, body: str) -> None:
        self._post(slack_text_payload(subject, body))

    def _post(self, payload: dict[str, object]) -> None:
        content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        post(self._settings, self.url, content, kind="slack", timeout=self._timeout, hints=HINTS)

    def __repr__(self) -> str:
        return "SlackTransport(<webhook URL>)"
