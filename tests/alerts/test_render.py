from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.alerts import EntityMention
from veille.alerts.render import (
    format_published,
    html_body,
    iso_published,
    slack_escape,
    slack_link,
    slack_payload,
    slack_url,
    split_snippet,
    subject,
    text_body,
)

from .conftest import make_message


@pytest.mark.parametrize(
    ("snippet", "highlight", "expected"),
    [
        ("the lab Kyutai said", (8, 14), ("the lab ", "Kyutai", " said")),
        ("Kyutai said", (0, 6), ("", "Kyutai", " said")),
        ("said Kyutai", (5, 11), ("said ", "Kyutai", "")),
        ("a  Kyutai  b", (1, 11), ("a ", "Kyutai", " b")),  # spaces inside the hit move out
        ("line\none Kyutai\r\nnext", (9, 15), ("line one ", "Kyutai", " next")),
        ("short", (3, 99), ("sho", "rt", "")),  # clamped, never trusted
        ("short", (9, 2), ("short", "", "")),
        ("no hit here", (4, 4), ("no h", "", "it here")),
    ],
)
def test_split_snippet(snippet: str, highlight: tuple[int, int], expected: tuple[str, str, str]) -> None:
    mention = EntityMention("Kyutai", "Kyutai", snippet, highlight)
    assert split_snippet(mention) == expected


def test_split_snippet_cuts_long_text_around_the_hit() -> None:
    snippet = "a" * 2000 + " Kyutai " + "b" * 2000
    before, hit, after = split_snippet(EntityMention("Kyutai", "Kyutai", snippet, (2001, 2007)), limit=100)
    assert hit == "Kyutai"
    assert before.startswith("…") and after.endswith("…")
    assert len(before) + len(hit) + len(after) <= 103


@pytest.mark.parametrize(
    ("published", "text", "iso"),
    [
        (None, None, None),
        (datetime(2024, 7, 3, 9, 30), "2024-07-03 09:30 UTC", "2024-07-03T09:30:00Z"),
        (
            datetime(2024, 7, 3, 11, 30, tzinfo=timezone(timedelta(hours=2))),
            "2024-07-03 09:30 UTC",
            "2024-07-03T09:30:00Z",
        ),
    ],
)
def test_published_is_shown_in_utc(published: datetime | None, text: str | None, iso: str | None) -> None:
    assert format_published(published) == text
    assert iso_published(published) == iso


def test_subject_lists_entities_and_strips_line_breaks() -> None:
    message = make_message(title="Big\r\nBcc: x@y.z\u2028news")
    assert subject(message) == "[veille] Kyutai, Mistral AI: Big Bcc: x@y.z news"
    assert subject(make_message(mentions=())) == "[veille] Kyutai and Mistral AI release an open model"
    long_subject = subject(make_message(title="word " * 200))
    assert len(long_subject) < 260 and long_subject.endswith("…")


def test_text_body_marks_the_hit() -> None:
    body = text_body(make_message(also_covered_by=(("Other Outlet", "https://other.example/x"),)))
    assert "Kyutai and Mistral AI release an open model\nhttps://news.example/articles/42" in body
    assert "Example News · 2024-07-03 09:30 UTC" in body
    assert "The Paris lab *Kyutai* said on Wednesday" in body
    assert "Mistral AI (Mistral):\n  while *Mistral* released weights" in body
    assert "  - Other Outlet: https://other.example/x" in body


def test_slack_escape_escapes_ampersand_first() -> None:
    assert slack_escape("a & b <!channel> &amp; >") == "a &amp; b &lt;!channel&gt; &amp;amp; &gt;"


def test_slack_url_cannot_break_out_of_a_link() -> None:
    url = slack_url("https://example.org/a|b c>d<e?x=1&y=2")
    assert url == "https://example.org/a%7Cb%20c%3Ed%3Ce?x=1&amp;y=2"
    assert slack_link("javascript:alert(1)", "click <me>") == "click &lt;me&gt;"


def test_slack_blocks_layout() -> None:
    payload = slack_payload(make_message(also_covered_by=(("Other", "https://other.example/x"),)))
    assert payload["text"] == (
        "Kyutai, Mistral AI: Kyutai and Mistral AI release an open model "
        "https://news.example/articles/42?utm=x&amp;id=7"
    )
    blocks = payload["blocks"]
    assert blocks[0] == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*<https://news.example/articles/42?utm=x&amp;id=7|"
            "Kyutai and Mistral AI release an open model>*",
        },
    }
    context = blocks[1]["elements"][0]["text"]
    date = "<!date^1719999000^{date_short_pretty} {time}|2024-07-03 09:30 UTC>"
    assert context == f"Example News · {date}"
    assert blocks[2]["text"]["text"] == "Matched: *Kyutai*, *Mistral AI*"
    assert blocks[3]["text"]["text"] == "Kyutai\n>The Paris lab *Kyutai* said on Wednesday"
    assert blocks[4]["text"]["text"] == "Mistral AI (Mistral)\n>while *Mistral* released weights"
    assert blocks[5]["elements"][0]["text"] == "Also covered by <https://other.example/x|Other>"


def test_slack_blocks_stay_within_limits() -> None:
    mentions = tuple(EntityMention(f"E{i}", f"E{i}", "x" * 5000 + f" E{i}", (5001, 5003)) for i in range(80))
    payload = slack_payload(make_message(title="t" * 5000, mentions=mentions))
    assert len(payload["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in payload["blocks"] if "text" in b)


_ALLOWED_TOKEN = re.compile(
    r"<(https?://[^|<>\s]+\|[^<>]*|!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>]*)>"
)


@given(
    title=st.text(max_size=80),
    source=st.text(max_size=40),
    snippet=st.text(max_size=80),
    start=st.integers(-5, 90),
    end=st.integers(-5, 90),
)
def test_feed_text_never_becomes_slack_markup(
    title: str, source: str, snippet: str, start: int, end: int
) -> None:
    mention = EntityMention("Kyutai", "Kyutai", snippet, (start, end))
    payload = slack_payload(make_message(title=title, source=source, mentions=(mention,)))
    parts = [part for block in payload["blocks"] for part in [block.get("text"), *block.get("elements", [])]]
    texts = [payload["text"]] + [part["text"] for part in parts if part]
    for text in texts:
        # Every "<" or ">" left is one of our own link or date tokens, or the quote marker.
        rest = _ALLOWED_TOKEN.sub("", text).replace("\n>", "\n")
        assert "<" not in rest and ">" not in rest
    json.dumps(payload)


def test_html_body_escapes_feed_text_and_refuses_script_links() -> None:
    message = make_message(
        title="<script>alert(1)</script> & co",
        url="javascript:alert(2)",
        source='Evil "source"',
        mentions=(EntityMention("Kyutai", "Kyutai", "<b>Kyutai</b> & <img src=x onerror=y>", (3, 9)),),
        also_covered_by=(("<i>Other</i>", "https://other.example/?a=1&b=\"2\""),),
    )
    body = html_body(message)
    assert "<script>" not in body and "<img" not in body and "<b>" not in body and "<i>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in body
    assert "javascript:" not in body
    assert "Evil &quot;source&quot;" in body
    assert '&lt;b&gt;<mark style="background:#fff3a3"><strong>Kyutai</strong></mark>&lt;/b&gt;' in body
    assert 'href="https://other.example/?a=1&amp;b=&quot;2&quot;"' in body


def test_html_body_links_the_article() -> None:
    body = html_body(make_message())
    assert '<a href="https://news.example/articles/42?utm=x&amp;id=7"' in body
    assert "Example News · 2024-07-03 09:30 UTC" in body
    assert "Matched: <strong>Kyutai, Mistral AI</strong>" in body


def test_naive_and_aware_datetimes_agree() -> None:
    naive = make_message(published=datetime(2024, 1, 1, 12, 0))
    aware = make_message(published=datetime(2024, 1, 1, 12, 0, tzinfo=UTC))
    assert slack_payload(naive) == slack_payload(aware)
