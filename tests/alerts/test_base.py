from __future__ import annotations

import logging

import pytest

from veille.alerts import AlertError, make_transport, validate_target
from veille.alerts.email import EmailTransport
from veille.alerts.log import LogTransport
from veille.alerts.slack import SlackTransport
from veille.alerts.webhook import WebhookTransport
from veille.settings import Settings

from .conftest import make_message


def test_alert_error_is_transient_by_default() -> None:
    error = AlertError("slack: HTTP 500")
    assert str(error) == "slack: HTTP 500"
    assert error.permanent is False
    assert error.retry_after is None
    permanent = AlertError("gone", permanent=True, retry_after=3.0)
    assert (permanent.permanent, permanent.retry_after) == (True, 3.0)


def test_entities_follow_mentions_in_order() -> None:
    assert make_message().entities == ("Kyutai", "Mistral AI")
    assert make_message(mentions=()).entities == ()


@pytest.mark.parametrize(
    ("kind", "target", "expected"),
    [
        ("slack", "https://hooks.slack.com/services/T0/B0/xyz", "https://hooks.slack.com/services/T0/B0/xyz"),
        ("slack", "  http://127.0.0.1:8080/hook \n", "http://127.0.0.1:8080/hook"),
        ("webhook", "https://mattermost.internal/hooks/abc?x=1", "https://mattermost.internal/hooks/abc?x=1"),
        ("webhook", "HTTP://EXAMPLE.ORG/", "HTTP://EXAMPLE.ORG/"),
        ("email", "alice@example.org", "alice@example.org"),
        ("email", " Alice.Smith+veille@Example.ORG ", "Alice.Smith+veille@example.org"),
        ("email", "ops@localhost", "ops@localhost"),
        ("email", "hervé@exemple.fr", "hervé@exemple.fr"),
        ("log", "", ""),
        ("log", "stdout", "stdout"),
    ],
)
def test_validate_target_accepts_and_normalizes(kind: str, target: str, expected: str) -> None:
    assert validate_target(kind, target) == expected


@pytest.mark.parametrize(
    ("kind", "target", "complaint"),
    [
        ("slack", "hooks.slack.com/services/T0/B0/xyz", "http or https URL"),
        ("slack", "ftp://example.org/hook", "http or https URL"),
        ("webhook", "javascript:alert(1)", "http or https URL"),
        ("webhook", "https://", "http or https URL"),
        ("webhook", "", "http or https URL"),
        ("webhook", "https://example.org/a b", "spaces"),
        ("webhook", "https://example.org/a\r\nX-Evil: 1", "spaces"),
        ("webhook", "https://example.org:99999/", "port"),
        ("email", "", "not an email address"),
        ("email", "alice", "not an email address"),
        ("email", "alice@", "not an email address"),
        ("email", "@example.org", "not an email address"),
        ("email", "a@b@example.org", "not an email address"),
        ("email", "alice smith@example.org", "not an email address"),
        ("email", "alice@example..org", "not an email address"),
        ("email", "alice@example.org\r\nBcc: x@y.z", "not an email address"),
        ("email", "Alice <alice@example.org>", "not an email address"),
    ],
)
def test_validate_target_refuses(kind: str, target: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        validate_target(kind, target)


def test_unknown_kind_is_a_clear_value_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"unknown alert channel kind 'pigeon'; expected one of: apprise, email, log"):
        make_transport("pigeon", "x", {}, settings)
    with pytest.raises(ValueError, match="unknown alert channel kind"):
        validate_target("pigeon", "x")


def test_make_transport_builds_each_kind(settings: Settings) -> None:
    slack = make_transport("slack", "https://hooks.slack.com/services/x", {}, settings)
    assert isinstance(slack, SlackTransport)
    assert isinstance(make_transport("email", "a@example.org", {}, settings), EmailTransport)
    assert isinstance(make_transport("log", "", {}, settings), LogTransport)
    hook = make_transport("webhook", "https://example.org/hook", {"secret": "s3cret"}, settings)
    assert isinstance(hook, WebhookTransport)
    assert "s3cret" not in repr(hook)


def test_make_transport_validates_the_target(settings: Settings) -> None:
    with pytest.raises(ValueError, match="http or https URL"):
        make_transport("slack", "not a url", {}, settings)
    with pytest.raises(ValueError, match="secret"):
        make_transport("webhook", "https://example.org/hook", {"secret": 42}, settings)


def test_slack_transport_repr_hides_the_webhook_token(settings: Settings) -> None:
    transport = make_transport("slack", "https://hooks.slack.com/services/T0/B0/token123", {}, settings)
    assert "token123" not in repr(transport)


def test_log_transport_logs_the_alert_at_info(caplog: pytest.LogCaptureFixture, settings: Settings) -> None:
    transport = make_transport("log", "", {}, settings)
    with caplog.at_level(logging.INFO, logger="veille.alerts"):
        transport.send(make_message(title="Kyutai\nships Moshi"))
    [record] = caplog.records
    assert record.name == "veille.alerts"
    assert record.levelno == logging.INFO
    text = record.getMessage()
    assert "\n" not in text
    assert "[veille] Kyutai, Mistral AI: Kyutai ships Moshi" in text
    assert "https://news.example/articles/42" in text
    assert "Example News" in text
    assert "The Paris lab [Kyutai] said" in text


def test_log_transport_logs_notices(caplog: pytest.LogCaptureFixture, settings: Settings) -> None:
    with caplog.at_level(logging.INFO, logger="veille.alerts"):
        make_transport("log", "", {}, settings).send_text("veille test message", "channel works")
    assert caplog.records[0].getMessage() == "notice: veille test message: channel works"
