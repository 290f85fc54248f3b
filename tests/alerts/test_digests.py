"""Digests (and burst summaries) on every channel: one message, grouped by entity, feed text escaped."""

from __future__ import annotations

import json
import logging
from email.message import EmailMessage

import pytest

from veille.alerts import DigestMessage, EntityMention, make_transport
from veille.alerts.render import SLACK_MAX_BLOCKS, digest_subject, digest_text, slack_digest_payload
from veille.settings import Settings

from .conftest import Receiver, SmtpServer, make_message

KYUTAI = EntityMention("Kyutai", "Kyutai", "The Paris lab Kyutai said on Wednesday", (14, 20))
MISTRAL = EntityMention("Mistral AI", "Mistral", "while Mistral released weights", (6, 13))


def digest() -> DigestMessage:
    return DigestMessage(
        "Daily digest",
        (
            make_message(title="Kyutai ships Moshi", url="https://a.example/1", mentions=(KYUTAI,),
                         also_covered_by=(("Other News", "https://other.example/moshi"),)),
            make_message(title="Both labs <!channel> team up", url="https://b.example/2", mentions=(KYUTAI, MISTRAL)),
            make_message(title="Mistral raises", url="https://c.example/3", mentions=(MISTRAL,)),
        ),
        period="until Thu 03 Dec 2026, 08:00 Europe/Paris",
    )


def test_grouped_by_entity_in_order_of_first_appearance() -> None:
    groups = digest().by_entity()
    assert [(entity, [i.title for i in items]) for entity, items in groups] == [
        ("Kyutai", ["Kyutai ships Moshi", "Both labs <!channel> team up"]),
        ("Mistral AI", ["Both labs <!channel> team up", "Mistral raises"]),
    ]


def test_subject_and_text() -> None:
    assert digest_subject(digest()) == "[veille] Daily digest: 3 articles (Kyutai, Mistral AI)"
    text = digest_text(digest())
    assert text.startswith("Daily digest: 3 articles\nuntil Thu 03 Dec 2026, 08:00 Europe/Paris\n")
    assert text.index("== Kyutai (2) ==") < text.index("== Mistral AI (2) ==")
    assert "The Paris lab *Kyutai* said on Wednesday" in text
    assert "Also covered by: Other News <https://other.example/moshi>" in text


def test_email_digest_is_one_message_with_text_and_html(smtp_server: SmtpServer, settings: Settings) -> None:
    config = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{smtp_server.port}"})
    make_transport("email", "me@example.org", {}, config).send_digest(digest())

    [delivered] = smtp_server.delivered
    email = delivered.message
    assert email["Subject"] == "[veille] Daily digest: 3 articles (Kyutai, Mistral AI)"
    assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "text/html"]
    html_part = email.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)
    html = html_part.get_content()
    assert "Both labs &lt;!channel&gt; team up" in html
    assert '<a href="https://other.example/moshi"' in html
    assert html.index(">Kyutai (2)</h3>") < html.index(">Mistral AI (2)</h3>")


def test_slack_digest_escapes_feed_text(receiver: Receiver, settings: Settings) -> None:
    make_transport("slack", receiver.url(), {}, settings).send_digest(digest())

    [request] = receiver.requests
    payload = json.loads(request.body)
    assert payload["text"] == "Daily digest: 3 articles (Kyutai, Mistral AI)"
    blocks = json.dumps(payload["blocks"])
    assert "<!channel>" not in blocks and "&lt;!channel&gt;" in blocks
    assert "<https://a.example/1|Kyutai ships Moshi>" in blocks
    assert "_also covered by_ <https://other.example/moshi|Other News>" in blocks


def test_slack_digest_stays_within_slack_limits() -> None:
    items = tuple(
        make_message(title=f"Article {i} " + "x" * 150, url=f"https://n.example/{i}", mentions=(KYUTAI, MISTRAL))
        for i in range(400)
    )
    payload = slack_digest_payload(DigestMessage("Weekly digest", items))
    blocks = payload["blocks"]
    assert len(blocks) <= SLACK_MAX_BLOCKS
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    last = blocks[-1]["elements"][0]["text"]
    assert last.startswith("… and ") and "more" in last
    shown = sum(json.dumps(b).count("https://n.example/") for b in blocks)
    assert shown + int(last.split()[2]) == 800  # every listing is shown or counted


def test_webhook_digest_body(receiver: Receiver, settings: Settings) -> None:
    make_transport("webhook", receiver.url(), {}, settings).send_digest(digest())
    body = json.loads(receiver.requests[0].body)
    assert body["event"] == "digest" and body["title"] == "Daily digest"
    assert [a["url"] for a in body["alerts"]] == ["https://a.example/1", "https://b.example/2", "https://c.example/3"]
    assert body["alerts"][0]["also_covered_by"] == [{"outlet": "Other News", "url": "https://other.example/moshi"}]


def test_log_digest_one_line_per_article(caplog: pytest.LogCaptureFixture, settings: Settings) -> None:
    with caplog.at_level(logging.INFO, logger="veille.alerts"):
        make_transport("log", "", {}, settings).send_digest(digest())
    assert len(caplog.records) == 3
    assert caplog.records[0].getMessage().startswith("Daily digest: [veille] Kyutai: Kyutai ships Moshi")
