"""The founding example through `veille poll`: two feeds, one French article, Slack and email, exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, HTTPFixture, Route, SMTPFixture
from tests.helpers import atom, rss, veille

ARTICLE = "/ia/kyutai-premier-modele"
SECOND = "/ia/mistral-nouveau-modele"

pytestmark = pytest.mark.usefixtures("veille_env")


def article_bytes() -> bytes:
    # declared ISO-8859-1 in <meta> only (the HTTP header has no charset), bytes as browsers read that label
    return (FIXTURES / "kyutai-fr.html").read_text(encoding="utf-8").encode("cp1252")


def serve(web: HTTPFixture) -> None:
    web.routes["/rss.xml"] = Route(
        rss(
            [{
                "title": "Kyutai dévoile son premier modèle",
                "link": web.url(ARTICLE) + "?utm_source=rss&utm_medium=feed",
                "guid": "kyutai-1",
                "description": "Le laboratoire parisien présente Moshi.",
            }],
            title="Journal de la Tech (RSS)",
            encoding="iso-8859-1",
        ),
        "application/rss+xml",
        etag='"rss-1"',
    )
    web.routes["/atom.xml"] = Route(
        atom([{"title": "Kyutai dévoile son premier modèle", "link": web.url(ARTICLE), "id": "urn:kyutai"}],
             title="Journal de la Tech (Atom)"),
        "application/atom+xml",
        etag='"atom-1"',
    )
    web.routes[ARTICLE] = Route(article_bytes(), "text/html")
    web.routes["/slack"] = Route(b"ok", "text/plain")


def slack_posts(web: HTTPFixture) -> list[dict]:
    return [json.loads(r.body) for r in web.hits("/slack", "POST")]


def setup_watch(web: HTTPFixture, smtp: SMTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_SMTP_URL", smtp.url)
    monkeypatch.setenv("VEILLE_EMAIL_FROM", "veille@test.example")
    assert veille("feeds", "add", web.url("/rss.xml")).exit_code == 0
    assert veille("feeds", "add", web.url("/atom.xml"), "--every", "5m").exit_code == 0
    for name in ("Kyutai", "Herve Jegou", "Bernhard Scholkopf", "Iliad", "Xavier Niel", "Yann LeCun"):
        assert veille("track", "add", name).exit_code == 0
    assert veille("track", "add", "Mistral AI", "--alias", "Mistral").exit_code == 0
    # named in the article, but the exclusion word is there too: vetoed
    assert veille("track", "add", "Scaleway", "--exclude", "supercalculateurs").exit_code == 0
    # named only in the "most read" sidebar and in the footer: must not alert
    assert veille("track", "add", "Anthropic").exit_code == 0
    assert veille("track", "add", "Hugging Face").exit_code == 0
    assert veille("channels", "add", "slack", web.url("/slack")).exit_code == 0
    assert veille("channels", "add", "email", "analyst@test.example").exit_code == 0


EXPECTED = {"Kyutai", "Herve Jegou", "Bernhard Scholkopf", "Iliad", "Xavier Niel", "Yann LeCun", "Mistral AI"}


def test_one_alert_per_channel_then_304_then_one_more(
    web: HTTPFixture, smtp: SMTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(web)
    setup_watch(web, smtp, monkeypatch)
    web.requests.clear()

    first = veille("poll")
    assert first.exit_code == 0, first.stderr

    posts = slack_posts(web)
    assert len(posts) == 1, posts
    assert len(smtp.messages) == 1
    text = posts[0]["text"] + json.dumps(posts[0].get("blocks"), ensure_ascii=False)
    for name in EXPECTED:
        assert name in text, name
    assert "Scaleway" not in posts[0]["text"] and "Anthropic" not in text and "Hugging Face" not in text
    assert "Kyutai" in str(smtp.messages[0]["Subject"])
    assert len(web.hits(ARTICLE)) == 1, "the article listed by two feeds is fetched once"
    agents = {r.headers.get("user-agent", "") for r in web.requests}
    assert agents and all(a.startswith("veille/") and "https://veille.test/contact" in a for a in agents), agents

    matches = veille("matches", "--json").json()
    assert {m["entity"] for m in matches} == EXPECTED
    assert all(m["url"].startswith("https://journal-tech.example/") for m in matches)  # canonical
    assert all("utm_" not in m["url"] for m in matches)
    by_entity = {m["entity"]: m for m in matches}
    assert "Hervé Jégou" in by_entity["Herve Jegou"]["snippet"]

    # second poll: conditional requests, 304, no page, no alert
    web.requests.clear()
    second = veille("poll")
    assert second.exit_code == 0
    feed_requests = web.hits("/rss.xml") + web.hits("/atom.xml")
    assert len(feed_requests) == 2
    assert all(r.headers.get("if-none-match") for r in feed_requests)
    assert not web.hits(ARTICLE)
    assert len(slack_posts(web)) == 0 and len(smtp.messages) == 1

    # a new item: exactly one new alert per channel
    web.routes[SECOND] = Route(
        "<html><head><title>Mistral AI lance un modèle</title></head><body><article><h1>Mistral AI lance un "
        "nouveau modèle</h1><p>La start-up Mistral AI publie un modèle de raisonnement. Elle rejoint ainsi "
        "OpenAI et les autres laboratoires qui misent sur le raisonnement, selon plusieurs chercheurs interrogés "
        "par notre rédaction cette semaine à Paris.</p></article></body></html>".encode(),
        "text/html; charset=utf-8",
    )
    web.routes["/atom.xml"] = Route(
        atom([
            {"title": "Kyutai dévoile son premier modèle", "link": web.url(ARTICLE), "id": "urn:kyutai"},
            {"title": "Mistral AI lance un modèle", "link": web.url(SECOND), "id": "urn:mistral"},
        ]),
        "application/atom+xml",
        etag='"atom-2"',
    )
    web.requests.clear()
    third = veille("poll")
    assert third.exit_code == 0
    posts = slack_posts(web)
    assert len(posts) == 1 and "Mistral AI" in posts[0]["text"]
    assert len(smtp.messages) == 2


def test_feed_errors_are_recorded_and_poll_still_succeeds(web: HTTPFixture) -> None:
    web.routes["/broken.xml"] = Route(b"<html><body>not a feed</body></html>", "text/html")
    web.routes["/gone.xml"] = Route(b"gone", "text/plain", 500)
    added = veille("feeds", "add", web.url("/broken.xml"), "--force")  # refused without --force
    assert added.exit_code == 0 and "warning: no feed found" in added.stderr
    assert veille("feeds", "add", web.url("/gone.xml"), "--force").exit_code == 0
    result = veille("poll")
    assert result.exit_code == 0
    status = veille("status", "--json").json()
    errors = {f["url"]: f["error"] for f in status["feeds"]}
    assert "HTML page" in errors[web.url("/broken.xml")] or "feed" in errors[web.url("/broken.xml")]
    assert "500" in errors[web.url("/gone.xml")]
    assert veille("status").exit_code == 0
    assert veille("status", "--check").exit_code == 1


def test_feeds_add_refuses_guarded_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_ALLOW_PRIVATE_ADDRESSES", "0")
    for url in ("http://127.0.0.1:9/feed", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/rss",
                "http://[::1]/feed"):
        result = veille("feeds", "add", url)
        assert result.exit_code != 0, url
        assert "address guard" in result.stderr
    result = veille("feeds", "add", "file:///etc/passwd")
    assert result.exit_code != 0 and "http" in result.stderr
    assert veille("feeds", "list", "--json").json() == []


def test_opml_round_trip(tmp_path: Path) -> None:
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        """<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
        <outline text="Labs"><outline text="Lab A" xmlUrl="https://a.example/feed.xml"/>
          <outline text="Nested"><outline text="Lab B" xmlUrl="https://b.example/rss"/></outline></outline>
        <outline text="Bad" xmlUrl="ftp://c.example/feed"/>
        <outline text="Top" xmlUrl="https://d.example/atom.xml"/></body></opml>""",
        encoding="utf-8",
    )
    first = veille("feeds", "import", str(opml))
    assert first.exit_code == 0
    assert "added 3" in first.stdout and "invalid 1" in first.stdout
    again = veille("feeds", "import", str(opml))
    assert "added 0" in again.stdout and "skipped 3" in again.stdout
    feeds = {f["url"]: f["tags"] for f in veille("feeds", "list", "--json").json()}
    assert feeds["https://b.example/rss"] == ["Labs", "Nested"]
    exported = tmp_path / "exported.opml"
    exported.write_text(veille("feeds", "export").stdout, encoding="utf-8")
    for url in list(feeds):
        assert veille("feeds", "remove", url).exit_code == 0
    assert "added 3" in veille("feeds", "import", str(exported)).stdout
    assert {f["url"]: f["tags"] for f in veille("feeds", "list", "--json").json()} == feeds
