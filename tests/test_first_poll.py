"""The first hour (#11): a feed's first poll alerts only on what is recent, the feed's own words are matched,
and the poll summary counts what a user can check.

Through `veille poll` against loopback feeds, pages and a Slack receiver, as a user would run it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tests.conftest import HTTPFixture, Route
from tests.helpers import Result, rss, veille

pytestmark = pytest.mark.usefixtures("veille_env")


def ago(**delta: float) -> str:
    return format_datetime(datetime.now(UTC) - timedelta(**delta), usegmt=True)


def page(title: str, *paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body>'
        f"<nav><a href='/'>Home</a></nav><main><article><h1>{title}</h1>{body}</article></main>"
        "<footer>All rights reserved.</footer></body></html>"
    ).encode()


FILLER = (
    "The laboratory said the new system was trained over several months on its own computing cluster, and "
    "that the weights would be published under an open licence for researchers and companies alike."
)


def story(number: int, name: str = "Kyutai") -> bytes:
    """A page about `name`, different enough from the others that no two are one story."""
    topics = ["speech", "vision", "robotics", "translation", "music", "chemistry", "weather", "law"]
    topic = topics[number % len(topics)]
    return page(
        f"{name} shows a {topic} model",
        f"{name} presented a {topic} model on day {number} of its research programme in Paris. {FILLER}",
        f"Independent researchers who tried the {topic} system said it was promising. "
        f"Item {number} ends here with a remark on {topic} number {number * 7}.",
    )


def slack_posts(web: HTTPFixture) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in web.hits("/slack", "POST")]


def alerted_titles(web: HTTPFixture) -> list[str]:
    return sorted(post["text"] for post in slack_posts(web))


def matches(entity: str | None = None) -> list[dict[str, Any]]:
    args = ["matches", "--json"] + (["--entity", entity] if entity else [])
    result = veille(*args)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = result.json()
    return rows


def publish(web: HTTPFixture, items: list[dict[str, str]], etag: str) -> None:
    web.routes["/feed.xml"] = Route(rss(items, title="Lab News"), "application/rss+xml", etag=etag)


def watch(web: HTTPFixture, *feed_options: str) -> None:
    web.routes["/slack"] = Route(b"ok", "text/plain")
    assert veille("feeds", "add", web.url("/feed.xml"), *feed_options).exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("channels", "add", "slack", web.url("/slack"), "--name", "research").exit_code == 0


def poll() -> Result:
    result = veille("poll")
    assert result.exit_code == 0, result.stderr
    return result


def item(web: HTTPFixture, number: int, published: str, name: str = "Kyutai") -> dict[str, str]:
    path = f"/news/{number}"
    web.routes[path] = Route(story(number, name), "text/html")
    return {"title": f"{name} shows model {number}", "link": web.url(path), "guid": f"item-{number}",
            "pubDate": published}


# --- 1. no flood on the first poll ---------------------------------------------------------------------------


def test_first_poll_alerts_only_within_the_backfill_window_and_keeps_the_rest_as_backlog(web: HTTPFixture) -> None:
    items = [item(web, 1, ago(hours=2)), item(web, 2, ago(days=3)), item(web, 3, ago(days=400)),
             item(web, 4, "")]  # undated: backlog
    publish(web, items, '"v1"')
    watch(web)

    first = poll()

    posts = slack_posts(web)
    assert len(posts) == 1, posts
    assert "/news/1" in json.dumps(posts[0])
    rows = {row["url"].rsplit("/", 1)[-1]: row for row in matches()}
    assert set(rows) == {"1", "2", "3", "4"}  # every item matched and kept
    assert rows["1"]["alerted"] is True and rows["1"]["reason"] is None
    for kept in ("2", "3", "4"):
        assert rows[kept]["alerted"] is False, rows[kept]
        assert rows[kept]["reason"] == "backlog"
    assert "4 articles matched: 1 alerted, 3 kept without an alert (3 backlog" in first.stdout, first.stdout

    # the next poll brings one new item: it alerts, the backlog does not come back
    items.append(item(web, 5, ago(minutes=5)))
    publish(web, items, '"v2"')
    poll()
    assert len(slack_posts(web)) == 2
    assert "/news/5" in json.dumps(slack_posts(web)[-1])


def test_backfill_setting_widens_or_closes_the_window(web: HTTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(web, [item(web, 1, ago(hours=2)), item(web, 2, ago(days=3)), item(web, 3, ago(days=10))], '"v1"')
    monkeypatch.setenv("VEILLE_BACKFILL", "7d")
    watch(web)
    poll()
    posts = json.dumps(slack_posts(web))
    assert len(slack_posts(web)) == 2 and "/news/1" in posts and "/news/2" in posts
    kept = [row for row in matches() if not row["alerted"]]
    assert [row["url"].rsplit("/", 1)[-1] for row in kept] == ["3"]


def test_a_feeds_own_backfill_wins_over_the_setting(web: HTTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(web, [item(web, 1, ago(hours=2)), item(web, 2, ago(days=3))], '"v1"')
    monkeypatch.setenv("VEILLE_BACKFILL", "0")
    watch(web, "--backfill", "7d")
    poll()
    assert len(slack_posts(web)) == 2
    assert all(row["alerted"] for row in matches())


def test_backfill_zero_alerts_on_nothing_already_there(web: HTTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(web, [item(web, 1, ago(minutes=10))], '"v1"')
    monkeypatch.setenv("VEILLE_BACKFILL", "0")
    watch(web)
    first = poll()
    assert slack_posts(web) == []
    assert [row["reason"] for row in matches()] == ["backlog"]
    assert "1 article matched: 0 alerted, 1 kept without an alert (1 backlog" in first.stdout, first.stdout


def test_after_the_first_poll_an_archive_item_older_than_max_age_alerts_nobody(web: HTTPFixture) -> None:
    items = [item(web, 1, ago(days=5))]
    publish(web, items, '"v1"')
    watch(web)
    poll()
    assert slack_posts(web) == []  # backlog

    # the feed re-publishes an old article of its archive, and a two-day-old one it had not listed
    items += [item(web, 2, ago(days=45)), item(web, 3, ago(days=2))]
    publish(web, items, '"v2"')
    second = poll()
    posts = slack_posts(web)
    assert len(posts) == 1 and "/news/3" in json.dumps(posts[0]), posts
    reasons = {row["url"].rsplit("/", 1)[-1]: row["reason"] for row in matches()}
    assert reasons == {"1": "backlog", "2": "too old", "3": None}
    assert "1 too old" in second.stdout, second.stdout


def test_explain_says_a_stored_article_was_kept_as_backlog(web: HTTPFixture) -> None:
    publish(web, [item(web, 1, ago(days=3))], '"v1"')
    watch(web)
    poll()
    explained = veille("explain", web.url("/news/1"), "--json")
    assert explained.exit_code == 0, explained.stderr
    [hit] = explained.json()["matches"]
    assert hit["entity"] == "Kyutai"
    assert hit["stored"] == {"alerted": False, "reason": "backlog", "where": ["title", "text", "feed-title"]}
    text = veille("explain", web.url("/news/1"))
    assert "kept without an alert (backlog: already there at the feed's first poll)" in text.stdout, text.stdout


# --- 2. the feed's own words count ---------------------------------------------------------------------------


def test_a_mention_only_in_the_feed_title_or_summary_alerts(web: HTTPFixture) -> None:
    # the pages never name Kyutai: one item names it in its feed title, the other in its feed summary
    web.routes["/a"] = Route(story(1, "The Paris laboratory"), "text/html")
    web.routes["/b"] = Route(story(2, "A French lab"), "text/html")
    publish(web, [
        {"title": "Kyutai: the Paris laboratory shows a speech model", "link": web.url("/a"), "guid": "a"},
        {"title": "A French lab shows a vision model", "link": web.url("/b"), "guid": "b",
         "description": "<p>The lab, <b>Kyutai</b>, was founded in 2023.</p>"},
    ], '"v1"')
    watch(web)
    poll()
    assert len(slack_posts(web)) == 2
    where = {row["url"].rsplit("/", 1)[-1]: row["where"] for row in matches()}
    assert where == {"a": ["feed-title"], "b": ["feed-summary"]}


def test_snippet_comes_from_the_page_text_when_it_has_the_hit(web: HTTPFixture) -> None:
    web.routes["/c"] = Route(story(3), "text/html")
    publish(web, [{"title": "A model", "link": web.url("/c"), "guid": "c",
                   "description": "Kyutai, in a summary sentence that the page does not have."}], '"v1"')
    watch(web)
    poll()
    [row] = matches()
    assert row["where"] == ["title", "text", "feed-summary"]
    assert "in a summary sentence" not in row["snippet"]


def test_wordpress_footer_and_share_lines_of_a_summary_mention_nothing(web: HTTPFixture) -> None:
    web.routes["/d"] = Route(story(4, "A small lab"), "text/html")
    summary = (
        "<p>A small lab shows a new model.</p>"
        '<p>The post <a href="https://x.example/d">A small lab shows a new model</a> appeared first on '
        '<a href="https://x.example">Kyutai Watch</a>.</p><p>Share on Facebook, Twitter</p>'
    )
    publish(web, [{"title": "A small lab shows a new model", "link": web.url("/d"), "guid": "d",
                   "description": summary}], '"v1"')
    watch(web)
    poll()
    assert slack_posts(web) == []
    assert matches() == []


def test_a_title_that_reads_like_markup_keeps_its_characters(web: HTTPFixture) -> None:
    # an item without a link: its title and summary are all there is (no page to fetch)
    web.routes["/feed.xml"] = Route(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://t/</link>'
        b"<description>d</description><item><title>Kyutai explains &lt;b&gt;</title><guid isPermaLink='false'>e"
        b"</guid><description>&lt;p&gt;How &lt;i&gt;bold&lt;/i&gt; works.&lt;/p&gt;</description><pubDate>"
        + ago(minutes=1).encode() + b"</pubDate></item></channel></rss>",
        "application/rss+xml",
    )
    watch(web)
    poll()
    [row] = matches()
    assert row["title"] == "Kyutai explains <b>"
    [post] = slack_posts(web)
    assert "Kyutai explains &lt;b&gt;" in post["text"], post  # Slack's own escaping of the three characters


# --- 8. counts that mean what they say -----------------------------------------------------------------------


def test_poll_summary_counts_articles_pages_and_failures_and_check_exits_1(web: HTTPFixture) -> None:
    publish(web, [item(web, 1, ago(minutes=30)), item(web, 2, ago(minutes=20), name="Nobody"),
                  {"title": "Gone", "link": web.url("/missing"), "guid": "gone", "pubDate": ago(minutes=10)}],
            '"v1"')
    watch(web)
    # two entities in one article count as one article matched
    assert veille("track", "add", "vision").exit_code == 0
    result = veille("poll", "--check")
    assert result.exit_code == 1, result.stdout  # a page failed (404)
    assert "polled 1 feed (1 ok, 0 not modified, 0 failed); 3 new articles; 2 pages fetched, 1 failed" in result.stdout
    assert "1 article matched" in result.stdout, result.stdout
    assert "alerts: 1 sent, 0 to retry, 0 failed" in result.stdout

    # a 404 is final: the article was matched on the feed's own words, and nothing fails on the next poll
    publish(web, [item(web, 1, ago(minutes=30))], '"v2"')
    again = veille("poll", "--check")
    assert "polled 1 feed (1 ok, 0 not modified, 0 failed); 0 new articles; 0 pages fetched, 0 failed" in again.stdout
    assert again.exit_code == 0, again.stdout
