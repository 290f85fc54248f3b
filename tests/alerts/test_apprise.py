"""Apprise channel against a real loopback receiver: Apprise's json:// and ntfy:// services."""

from __future__ import annotations

import json

import pytest

from veille.alerts import AlertError, DigestMessage, make_transport, validate_target
from veille.alerts.apprise import AppriseTransport
from veille.settings import Settings

from .conftest import Receiver, Reply, make_message


def test_json_service_receives_the_alert_as_markdown(receiver: Receiver, settings: Settings) -> None:
    url = f"json://127.0.0.1:{receiver.port}/hook"
    transport = make_transport("apprise", url, {}, settings)
    assert isinstance(transport, AppriseTransport)
    transport.send(make_message(also_covered_by=(("Other News", "https://other.example/moshi"),)))

    [request] = receiver.requests
    assert request.path == "/hook"
    body = json.loads(request.body)
    assert body["title"] == "Kyutai, Mistral AI: Kyutai and Mistral AI release an open model"
    message = body["message"]
    assert "**[Kyutai and Mistral AI release an open model](https://news.example/articles/42?utm=x&id=7)**" in message
    assert "The Paris lab **Kyutai** said on Wednesday" in message
    assert "Also covered by [Other News](https://other.example/moshi)" in message


def test_ntfy_service_posts_to_its_topic(receiver: Receiver, settings: Settings) -> None:
    make_transport("apprise", f"ntfy://127.0.0.1:{receiver.port}/veille-alerts", {}, settings).send(make_message())

    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["topic"] == "veille-alerts"
    assert body["title"].startswith("Kyutai, Mistral AI: ")
    assert "**Kyutai**" in body["message"]


def test_feed_text_is_inert_markdown(receiver: Receiver, settings: Settings) -> None:
    message = make_message(title="Click [here](javascript:alert(1)) *now* @everyone", source="<b>Feed</b>")
    make_transport("apprise", f"json://127.0.0.1:{receiver.port}/hook", {}, settings).send(message)

    text = json.loads(receiver.requests[0].body)["message"]
    assert "](javascript:" not in text
    assert r"\[here\]\(javascript:alert\(1\)\)" in text
    assert r"\*now\*" in text
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert "<b>" not in text


def test_digest_is_one_post_grouped_by_entity(receiver: Receiver, settings: Settings) -> None:
    first = make_message(title="Kyutai ships Moshi", url="https://a.example/1")
    second = make_message(title="Mistral raises", url="https://b.example/2", mentions=first.mentions[1:])
    digest = DigestMessage("Daily digest", (first, second), period="until Thu 03 Dec 2026, 08:00 Europe/Paris")
    make_transport("apprise", f"json://127.0.0.1:{receiver.port}/hook", {}, settings).send_digest(digest)

    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["title"] == "Daily digest: 2 articles (Kyutai, Mistral AI)"
    text = body["message"]
    assert text.index("**Kyutai** (1)") < text.index("**Mistral AI** (2)")
    assert text.count("[Kyutai ships Moshi](https://a.example/1)") == 2  # listed under both of its entities
    assert "[Mistral raises](https://b.example/2)" in text


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(404, True), (410, True), (401, True), (403, True), (400, True), (500, False), (503, False), (429, False)],
)
def test_status_handling(receiver: Receiver, settings: Settings, status: int, permanent: bool) -> None:
    receiver.reply = Reply(status, b"nope")
    transport = make_transport("apprise", f"ntfy://127.0.0.1:{receiver.port}/secret-topic-42", {}, settings)
    with pytest.raises(AlertError) as caught:
        transport.send(make_message())
    assert caught.value.permanent is permanent
    message = str(caught.value)
    assert message.startswith(f"apprise: ntfy://127.0.0.1:{receiver.port}/…: ")
    assert f"error={status}" in message
    assert "secret-topic-42" not in message  # an ntfy topic is its password
    assert len(receiver.requests) == 1


def test_connection_refused_is_transient(refused_port: int, settings: Settings) -> None:
    with pytest.raises(AlertError, match="Connection error") as caught:
        make_transport("apprise", f"json://127.0.0.1:{refused_port}/hook", {}, settings).send(make_message())
    assert caught.value.permanent is False


def test_send_text(receiver: Receiver, settings: Settings) -> None:
    make_transport("apprise", f"json://127.0.0.1:{receiver.port}/", {}, settings).send_text("veille\ntest", "It works.")
    body = json.loads(receiver.requests[0].body)
    assert body["title"] == "veille test"
    assert "It works." in body["message"]


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("not a url", "expected a service URL"),
        ("pigeon://coop/42", "pigeon:// is not a URL Apprise can send to"),
        ("discord://", "discord:// is not a URL Apprise can send to"),
        ("ntfy://host/topic with space", "must not contain spaces"),
    ],
)
def test_urls_apprise_cannot_use_are_refused_up_front(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        validate_target("apprise", url)


def test_refused_urls_do_not_echo_their_token() -> None:
    with pytest.raises(ValueError) as caught:
        validate_target("apprise", "pigeon://user:hunter2@coop/token-abc")
    assert "hunter2" not in str(caught.value) and "token-abc" not in str(caught.value)


def test_repr_hides_the_token(settings: Settings) -> None:
    transport = make_transport("apprise", "ntfy://ntfy.sh/my-secret-topic", {}, settings)
    assert "my-secret-topic" not in repr(transport)
