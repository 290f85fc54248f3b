from __future__ import annotations

import json

import pytest

from veille import __version__
from veille.alerts import AlertError, EntityMention, make_transport
from veille.alerts.slack import HINTS, SlackTransport
from veille.settings import Settings

from .conftest import USER_AGENT_CONTACT, Receiver, Reply, make_message


def test_posts_blocks_and_fallback_text_with_user_agent(receiver: Receiver, settings: Settings) -> None:
    make_transport("slack", receiver.url("/services/T0/B0/tok"), {}, settings).send(make_message())

    [request] = receiver.requests  # one attempt, no retry inside the transport
    assert request.method == "POST"
    assert request.path == "/services/T0/B0/tok"
    assert request.headers["user-agent"] == f"veille/{__version__} (+{USER_AGENT_CONTACT})"
    assert request.headers["content-type"].startswith("application/json")
    payload = json.loads(request.body)
    assert "Kyutai and Mistral AI release an open model" in payload["text"]
    assert "https://news.example/articles/42" in payload["text"]
    assert payload["text"].startswith("Kyutai, Mistral AI: ")
    texts = [json.dumps(block) for block in payload["blocks"]]
    assert payload["blocks"][0]["text"]["text"] == (
        "*<https://news.example/articles/42?utm=x&amp;id=7|Kyutai and Mistral AI release an open model>*"
    )
    assert payload["blocks"][1]["type"] == "context"
    assert "Example News" in texts[1] and "2024-07-03 09:30 UTC" in texts[1]
    assert "*Kyutai*, *Mistral AI*" in texts[2]
    assert "The Paris lab *Kyutai* said on Wednesday" in texts[3]


def test_feed_text_cannot_ping_or_forge_links(receiver: Receiver, settings: Settings) -> None:
    message = make_message(
        title="Alert <!channel> see <http://evil.example|click here> & win",
        source="<!here> Feed",
        mentions=(EntityMention("Kyutai", "Kyutai", "<@U123> Kyutai <!everyone>", (8, 14)),),
    )
    make_transport("slack", receiver.url(), {}, settings).send(message)

    raw = receiver.requests[0].body.decode()
    payload = json.loads(raw)
    strings = [payload["text"], *(json.dumps(b, ensure_ascii=False) for b in payload["blocks"])]
    for text in strings:
        assert "<!channel>" not in text and "<!here>" not in text and "<!everyone>" not in text
        assert "<http://evil" not in text and "<@U123>" not in text
    assert "Alert &lt;!channel&gt; see &lt;http://evil.example|click here&gt; &amp; win" in payload["text"]
    title_block = payload["blocks"][0]["text"]["text"]
    assert title_block == (
        "*<https://news.example/articles/42?utm=x&amp;id=7|"
        "Alert &lt;!channel&gt; see &lt;http://evil.example|click here&gt; &amp; win>*"
    )
    assert "&lt;!here&gt; Feed" in payload["blocks"][1]["elements"][0]["text"]
    assert "&lt;@U123&gt; *Kyutai* &lt;!everyone&gt;" in payload["blocks"][3]["text"]["text"]


def test_send_text_posts_an_escaped_text_message(receiver: Receiver, settings: Settings) -> None:
    transport = make_transport("slack", receiver.url(), {}, settings)
    transport.send_text("veille test message", "channel <#general> works")
    expected = {"text": "*veille test message*\nchannel &lt;#general&gt; works"}
    assert json.loads(receiver.requests[0].body) == expected


@pytest.mark.parametrize(
    ("status", "body", "headers", "permanent", "retry_after"),
    [
        (429, "rate_limited", {"Retry-After": "30"}, False, 30.0),
        (503, "", {"Retry-After": "7"}, False, 7.0),
        (503, "", {}, False, None),
        (500, "oops", {}, False, None),
        (502, "", {}, False, None),
        (504, "", {}, False, None),
        (408, "", {}, False, None),
        (404, "no_service", {}, True, None),
        (404, "", {}, True, None),
        (410, "", {}, True, None),
        (400, "invalid_payload", {}, True, None),
        (401, "", {}, True, None),
        (413, "", {}, True, None),
        (302, "", {"Location": "https://elsewhere.example/"}, True, None),
        *[(400, code, {}, True, None) for code in HINTS],
        *[(403, code, {}, True, None) for code in HINTS],
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
    transport = make_transport("slack", receiver.url("/services/T0/B0/secret-token"), {}, settings)
    with pytest.raises(AlertError) as caught:
        transport.send(make_message())
    assert caught.value.permanent is permanent
    assert caught.value.retry_after == retry_after
    message = str(caught.value)
    assert message.startswith(f"slack: HTTP {status}")
    assert "secret-token" not in message  # the webhook path is a credential
    if body in HINTS and status in (400, 403):
        assert HINTS[body] in message
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [200, 201, 204])
def test_any_2xx_is_delivered(receiver: Receiver, settings: Settings, status: int) -> None:
    receiver.reply = Reply(status, b"" if status == 204 else b"ok")
    make_transport("slack", receiver.url(), {}, settings).send(make_message())


def test_timeout_is_transient(receiver: Receiver, settings: Settings) -> None:
    receiver.reply = Reply(200, b"ok", delay=5)
    with pytest.raises(AlertError, match="timed out") as caught:
        SlackTransport(receiver.url(), settings, timeout=0.3).send(make_message())
    assert caught.value.permanent is False


def test_connection_refused_is_transient(refused_port: int, settings: Settings) -> None:
    transport = make_transport("slack", f"http://127.0.0.1:{refused_port}/hook", {}, settings)
    with pytest.raises(AlertError, match="cannot connect") as caught:
        transport.send(make_message())
    assert caught.value.permanent is False
