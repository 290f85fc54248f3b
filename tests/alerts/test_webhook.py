from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime

import pytest

from veille import __version__
from veille.alerts import AlertError, make_transport
from veille.alerts.webhook import SIGNATURE_HEADER, WebhookTransport
from veille.settings import Settings

from .conftest import Receiver, Reply, make_message


def test_posts_the_documented_body(receiver: Receiver, settings: Settings) -> None:
    message = make_message(title="Hervé Jégou joins Kyutai", also_covered_by=(("Other", "https://other.example/x"),))
    make_transport("webhook", receiver.url("/in"), {}, settings).send(message)

    [request] = receiver.requests
    assert request.path == "/in"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["user-agent"].startswith(f"veille/{__version__} (+")
    assert SIGNATURE_HEADER.lower() not in request.headers
    assert json.loads(request.body.decode("utf-8")) == {
        "event": "alert",
        "title": "Hervé Jégou joins Kyutai",
        "url": "https://news.example/articles/42?utm=x&id=7",
        "source": "Example News",
        "published": "2024-07-03T09:30:00Z",
        "entities": ["Kyutai", "Mistral AI"],
        "mentions": [
            {
                "entity": "Kyutai",
                "term": "Kyutai",
                "snippet": "The Paris lab Kyutai said on Wednesday",
                "highlight": [14, 20],
            },
            {
                "entity": "Mistral AI",
                "term": "Mistral",
                "snippet": "while Mistral released weights",
                "highlight": [6, 13],
            },
        ],
        "also_covered_by": [{"outlet": "Other", "url": "https://other.example/x"}],
    }


def test_unknown_publication_time_is_null(receiver: Receiver, settings: Settings) -> None:
    make_transport("webhook", receiver.url(), {}, settings).send(make_message(published=None))
    assert json.loads(receiver.requests[0].body)["published"] is None


def test_naive_publication_time_is_taken_as_utc(receiver: Receiver, settings: Settings) -> None:
    message = make_message(published=datetime(2024, 1, 2, 3, 4))
    make_transport("webhook", receiver.url(), {}, settings).send(message)
    assert json.loads(receiver.requests[0].body)["published"] == "2024-01-02T03:04:00Z"


def test_signature_verifies_on_the_receiver(receiver: Receiver, settings: Settings) -> None:
    secret = "correct horse battery staple"
    make_transport("webhook", receiver.url(), {"secret": secret}, settings).send(make_message())

    request = receiver.requests[0]
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER.lower()], expected)
    wrong = "sha256=" + hmac.new(b"other", request.body, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(request.headers[SIGNATURE_HEADER.lower()], wrong)


def test_notices_are_signed_too(receiver: Receiver, settings: Settings) -> None:
    transport = make_transport("webhook", receiver.url(), {"secret": "s"}, settings)
    transport.send_text("veille test message", "channel works")

    request = receiver.requests[0]
    notice = {"event": "notice", "subject": "veille test message", "body": "channel works"}
    assert json.loads(request.body) == notice
    expected = "sha256=" + hmac.new(b"s", request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER.lower()] == expected


def test_empty_secret_means_unsigned(receiver: Receiver, settings: Settings) -> None:
    make_transport("webhook", receiver.url(), {"secret": ""}, settings).send(make_message())
    assert SIGNATURE_HEADER.lower() not in receiver.requests[0].headers


@pytest.mark.parametrize(
    ("status", "body", "headers", "permanent", "retry_after"),
    [
        (429, "", {"Retry-After": "12"}, False, 12.0),
        (503, "", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, False, 0.0),  # a date in the past
        (500, "", {}, False, None),
        (599, "", {}, False, None),
        (404, "", {}, True, None),
        (410, "", {}, True, None),
        (400, "no_service", {}, True, None),
        (422, "bad field", {}, True, None),
        (301, "", {"Location": "https://new.example/hook"}, True, None),
    ],
)
def test_status_handling(
    receiver: Receiver,
    settings: Settings,
    status: int,
    body: str,
    headers: dict[str, str],
    permanent: bool,
    retry_after: float | None,
) -> None:
    receiver.reply = Reply(status, body.encode(), headers)
    with pytest.raises(AlertError) as caught:
        make_transport("webhook", receiver.url(), {}, settings).send(make_message())
    assert (caught.value.permanent, caught.value.retry_after) == (permanent, retry_after)
    assert str(caught.value).startswith(f"webhook: HTTP {status}")
    assert len(receiver.requests) == 1


def test_redirect_names_the_new_url(receiver: Receiver, settings: Settings) -> None:
    receiver.reply = Reply(308, b"", {"Location": "https://new.example/hook"})
    expected = re.escape("redirects to https://new.example/hook; use the final URL")
    with pytest.raises(AlertError, match=expected):
        make_transport("webhook", receiver.url(), {}, settings).send(make_message())


def test_timeout_is_transient(receiver: Receiver, settings: Settings) -> None:
    receiver.reply = Reply(200, b"ok", delay=5)
    with pytest.raises(AlertError, match="timed out") as caught:
        WebhookTransport(receiver.url(), settings, timeout=0.3).send(make_message())
    assert caught.value.permanent is False


def test_connection_refused_is_transient(refused_port: int, settings: Settings) -> None:
    with pytest.raises(AlertError, match="cannot connect") as caught:
        make_transport("webhook", f"http://127.0.0.1:{refused_port}/", {}, settings).send(make_message())
    assert caught.value.permanent is False
