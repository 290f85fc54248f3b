"""Page sources (#14): a listing page without a feed, watched through `veille feeds add URL --page`.

Through the `veille` command against loopback servers that serve listing pages (HTML cards, Next.js JSON) and
the articles they link to, with a Slack receiver, as a user would run it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, HTTPFixture, Route
from tests.helpers import Result, rss, veille

pytestmark = pytest.mark.usefixtures("veille_env")

FILLER = ("The laboratory said the new system was trained over several months on its own computing cluster, and "
          "that the weights would be published under an open licence for researchers and companies alike.")
TOPICS = ["speech", "vision", "robotics", "translation", "music", "chemistry", "weather", "law", "maths", "games"]


def article(number: int) -> bytes:
    topic = TOPICS[number % len(TOPICS)]
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Kyutai shows a {topic} model"
            f"</title></head><body><main><article><h1>Kyutai shows a {topic} model</h1>"
            f"<p>Kyutai presented a {topic} model on day {number} of its research programme in Paris. {FILLER}</p>"
            f"<p>Independent researchers who tried the {topic} system said it was promising. Item {number} ends "
            f"here with a remark on {topic} number {number * 7}.</p></article></main></body></html>").encode()


def today(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def newsroom(items: list[tuple[int, str]], *, extra: str = "") -> bytes:
    """A lab's newsroom: its menus and footer, and one card per (article number, ISO date or "")."""
    cards = "".join(
        f"<li class='post'><a href='/news/kyutai-shows-model-number-{n}'><h3>Kyutai shows a new model, "
        f"number {n}</h3></a>{f'<time datetime={date!r}>{date[:10]}</time>' if date else ''}"
        f"<a href='/tag/models'>Models</a></li>"
        for n, date in items
    )
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Lab newsroom</title></head><body>"
            f"<header><nav><a href='/'>Home</a> <a href='/research'>Research</a> <a href='/news'>News</a></nav>"
            f"</header><main><h1>News</h1><ul class='posts'>{cards}</ul>{extra}"
            f"<nav class='pagination'><a href='/news?page=2'>Older posts</a></nav></main>"
            f"<footer><a href='/legal/privacy'>Privacy policy</a> <a href='https://x.com/lab'>Follow us</a></footer>"
            f"</body></html>").encode()


def serve_articles(web: HTTPFixture, numbers: range | list[int]) -> None:
    for n in numbers:
        web.routes[f"/news/kyutai-shows-model-number-{n}"] = Route(article(n), "text/html")


def publish(web: HTTPFixture, items: list[tuple[int, str]], etag: str, **options: str) -> None:
    web.routes["/news"] = Route(newsroom(items, **options), "text/html; charset=utf-8", etag=etag)


def slack_posts(web: HTTPFixture) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in web.hits("/slack", "POST")]


def run(*args: str) -> Result:
    result = veille(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def watch_page(web: HTTPFixture, *options: str) -> int:
    web.routes["/slack"] = Route(b"ok", "text/plain")
    added = run("feeds", "add", web.url("/news"), "--page", *options)
    run("track", "add", "Kyutai")
    run("channels", "add", "slack", web.url("/slack"), "--name", "research")
    return int(added.stdout.strip())


def sources() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = run("feeds", "list", "--json").json()
    return rows


def matched() -> dict[str, dict[str, Any]]:
    return {row["url"].rsplit("-", 1)[-1]: row for row in run("matches", "--json").json()}


# --------------------------------------------------------------------------- adding one


def test_dry_run_prints_the_links_it_would_take_and_stores_nothing(web: HTTPFixture) -> None:
    publish(web, [(1, today(hours=1)), (2, "")], '"v1"')

    text = run("feeds", "add", web.url("/news"), "--page", "--dry-run")
    assert text.stdout.splitlines() == [web.url("/news/kyutai-shows-model-number-1"),
                                        web.url("/news/kyutai-shows-model-number-2")]
    assert "would take 2 article links from Lab newsroom" in text.stderr

    as_json = run("feeds", "add", web.url("/news"), "--page", "--dry-run", "--json").json()
    assert [link["url"] for link in as_json] == text.stdout.splitlines()
    assert as_json[0]["title"] == "Kyutai shows a new model, number 1"
    assert as_json[0]["published"].startswith(today(hours=1)[:10])
    assert as_json[1]["published"] is None
    assert sources() == []


def test_a_page_without_a_feed_is_refused_with_an_offer_of_page_then_added_as_a_page_source(web: HTTPFixture) -> None:
    publish(web, [(1, "")], '"v1"')

    refused = veille("feeds", "add", web.url("/news"))
    assert refused.exit_code == 1
    assert "no feed found" in refused.stderr and "--page" in refused.stderr, refused.stderr
    assert sources() == []

    source_id = watch_page(web)
    [row] = sources()
    assert row["id"] == source_id
    assert row["kind"] == "page" and row["options"] == {"any_site": False}
    assert row["title"] == "Lab newsroom"
    table = run("feeds", "list").stdout.splitlines()
    assert table[0].split("\t")[:3] == ["id", "url", "kind"]
    assert table[1].split("\t")[:3] == [str(source_id), web.url("/news"), "page"]


def test_a_page_where_no_article_link_is_found_is_refused_unless_forced(web: HTTPFixture) -> None:
    publish(web, [], '"v1"')
    refused = veille("feeds", "add", web.url("/news"), "--page")
    assert refused.exit_code == 1
    assert "no article links found" in refused.stderr and "--any-site" in refused.stderr, refused.stderr
    assert sources() == []
    dry = veille("feeds", "add", web.url("/news"), "--page", "--dry-run")
    assert dry.exit_code == 1 and dry.stdout == ""
    forced = run("feeds", "add", web.url("/news"), "--page", "--force")
    assert "no article links found" in forced.stderr
    assert [row["kind"] for row in sources()] == ["page"]


def test_bad_option_combinations_are_usage_errors(web: HTTPFixture) -> None:
    publish(web, [(1, "")], '"v1"')
    for args, word in ((["--any-site"], "--page"), (["--page", "--json"], "--dry-run"),
                       (["--page", "--feed-text", "never"], "--feed-text")):
        result = veille("feeds", "add", web.url("/news"), *args)
        assert result.exit_code == 2, result.stderr
        assert word in result.stderr
    assert sources() == []


# --------------------------------------------------------------------------- polling one


def test_first_poll_follows_the_backfill_rule_then_one_new_article_is_one_entry_and_one_alert(
    web: HTTPFixture,
) -> None:
    serve_articles(web, range(1, 6))
    # on the first poll: dated today (alerts), dated three days ago and undated (backlog)
    items = [(1, today(hours=2)), (2, today(days=3)), (3, "")]
    publish(web, items, '"v1"')
    watch_page(web)

    first = run("poll")
    assert "3 new articles" in first.stdout, first.stdout
    posts = slack_posts(web)
    assert len(posts) == 1 and "number-1" in json.dumps(posts[0]), posts
    rows = matched()
    assert {key: (row["alerted"], row["reason"]) for key, row in rows.items()} == {
        "1": (True, None), "2": (False, "backlog"), "3": (False, "backlog")}

    # unchanged: a conditional GET, nothing new
    again = run("poll")
    assert "1 not modified" in again.stdout and "0 new articles" in again.stdout, again.stdout

    # the page gains one article (undated, on top) and drops its oldest: one entry, one alert, nothing deleted
    publish(web, [(4, ""), *items[:2]], '"v2"')
    second = run("poll")
    assert "1 new article;" in second.stdout, second.stdout
    posts = slack_posts(web)
    assert len(posts) == 2 and "number-4" in json.dumps(posts[-1]), posts
    assert set(matched()) == {"1", "2", "3", "4"}
    assert matched()["4"]["alerted"] is True
    feed_id = sources()[0]["id"]
    assert len(run("matches", "--json", "--feed", str(feed_id)).json()) == 4  # the dropped one is kept


def test_a_layout_change_that_removes_every_article_link_is_a_source_error_not_a_flood(web: HTTPFixture) -> None:
    serve_articles(web, range(1, 3))
    publish(web, [(1, ""), (2, "")], '"v1"')
    watch_page(web)
    run("poll")
    assert sources()[0]["last_status"] == "ok"

    # the new layout: the menus and footer are still there, every article link is gone
    web.routes["/news"] = Route(
        b"<html><head><title>Lab newsroom</title></head><body><header><nav><a href='/'>Home</a>"
        b"<a href='/research'>Research</a></nav></header><main><div id='app'>Loading...</div></main>"
        b"<footer><a href='/legal/privacy'>Privacy policy</a><a href='/careers'>Careers</a></footer></body></html>",
        "text/html", etag='"v2"')
    polled = veille("poll", "--check")
    assert polled.exit_code == 1
    assert "1 failed" in polled.stdout and "0 new articles" in polled.stdout, polled.stdout
    assert "no article links found on the page" in polled.stderr
    [row] = sources()
    assert row["last_status"] == "error" and "no article links found" in row["error"]
    assert row["failures"] == 1
    assert slack_posts(web) == []
    assert set(matched()) == {"1", "2"}  # the links it stopped seeing are kept
    status = run("status", "--all")
    assert "page" in status.stdout and "no article links found" in status.stdout, status.stdout
    [reported] = run("status", "--json").json()["feeds"]
    assert (reported["kind"], reported["last_status"]) == ("page", "error")


def test_a_later_poll_that_finds_many_new_links_at_once_takes_them_as_backlog(web: HTTPFixture) -> None:
    serve_articles(web, range(1, 16))
    publish(web, [(1, ""), (2, "")], '"v1"')
    watch_page(web)
    run("poll")
    assert slack_posts(web) == []  # the first poll: undated, backlog

    # thirteen new links at once beside the two known ones: taken as a first poll's (undated: backlog)
    publish(web, [(n, "") for n in range(1, 16)], '"v2"')
    second = run("poll")
    assert "13 new articles" in second.stdout, second.stdout
    assert slack_posts(web) == []
    assert {row["reason"] for row in matched().values()} == {"backlog"}
    [row] = sources()
    assert row["last_status"] == "ok"
    assert "13 new links at once (2 known): taken as backlog" in row["error"], row

    # after that, one more new link is news again
    serve_articles(web, [16])
    publish(web, [(n, "") for n in range(1, 17)], '"v3"')
    run("poll")
    assert len(slack_posts(web)) == 1 and "number-16" in json.dumps(slack_posts(web)[0])


def test_a_page_rendered_from_embedded_json_is_polled_from_that_json(web: HTTPFixture) -> None:
    page = (FIXTURES / "listing" / "nextjs.html").read_text(encoding="utf-8")
    web.routes["/blog"] = Route(page.encode(), "text/html")
    for slug in ("le-chat-gets-a-memory", "a-small-model-for-phones", "open-weights-for-researchers"):
        web.routes[f"/blog/{slug}"] = Route(article(len(slug)), "text/html")
    dry = run("feeds", "add", web.url("/blog"), "--page", "--dry-run").stdout.splitlines()
    assert dry == [web.url("/blog/le-chat-gets-a-memory"), web.url("/blog/a-small-model-for-phones"),
                   web.url("/blog/open-weights-for-researchers")]
    run("feeds", "add", web.url("/blog"), "--page")
    run("track", "add", "Kyutai")
    polled = run("poll")
    assert "3 new articles" in polled.stdout and "3 pages fetched" in polled.stdout, polled.stdout
    titles = sorted(row["title"] for row in run("matches", "--json").json())
    assert len(titles) == 3 and all(title.startswith("Kyutai shows") for title in titles)


def test_any_site_takes_links_to_other_sites(web: HTTPFixture) -> None:
    serve_articles(web, [1])
    other = "<p><a href='http://localhost:{port}/2026/01/02/kyutai-opens-an-office-in-london'>Kyutai opens an " \
            "office in London, the paper says</a></p>"
    publish(web, [(1, "")], '"v1"', extra=other.format(port=web.port))
    own = run("feeds", "add", web.url("/news"), "--page", "--dry-run").stdout.splitlines()
    assert own == [web.url("/news/kyutai-shows-model-number-1")]
    wide = run("feeds", "add", web.url("/news"), "--page", "--any-site", "--dry-run").stdout.splitlines()
    assert wide == [*own, f"http://localhost:{web.port}/2026/01/02/kyutai-opens-an-office-in-london"]


# --------------------------------------------------------------------------- OPML, starter list


def test_opml_export_keeps_a_page_source_and_import_restores_it(web: HTTPFixture, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    publish(web, [(1, "")], '"v1"')
    web.routes["/feed.xml"] = Route(rss([{"title": "Hello", "link": web.url("/hello")}]), "application/rss+xml")
    run("feeds", "add", web.url("/news"), "--page", "--any-site", "--every", "2h")
    run("feeds", "add", web.url("/feed.xml"))
    exported = run("feeds", "export").stdout
    assert 'veille:kind="page"' in exported and 'veille:anySite="true"' in exported, exported
    assert exported.count("veille:kind") == 1  # a feed is a plain outline
    path = tmp_path / "sources.opml"
    path.write_text(exported, encoding="utf-8")

    monkeypatch.setenv("VEILLE_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    run("feeds", "import", str(path))
    restored = {row["url"]: row for row in sources()}
    page = restored[web.url("/news")]
    assert (page["kind"], page["options"], page["every"]) == ("page", {"any_site": True}, "2h")
    assert restored[web.url("/feed.xml")]["kind"] == "feed"


def test_a_backup_keeps_a_page_source(web: HTTPFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(web, [(1, "")], '"v1"')
    run("feeds", "add", web.url("/news"), "--page", "--any-site")
    run("export", "-o", str(tmp_path / "backup.json"))
    [saved] = json.loads((tmp_path / "backup.json").read_text())["feeds"]
    assert (saved["kind"], saved["any_site"]) == ("page", True)

    monkeypatch.setenv("VEILLE_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    run("import", str(tmp_path / "backup.json"))
    [row] = sources()
    assert (row["url"], row["kind"], row["options"]) == (web.url("/news"), "page", {"any_site": True})


# --------------------------------------------------------------------------- the service


VEILLE = str(Path(sys.executable).with_name("veille"))


@pytest.mark.slow
def test_the_service_polls_a_page_source(web: HTTPFixture, veille_env: dict[str, str], tmp_path: Path) -> None:
    from tests.test_service import wait_for

    serve_articles(web, range(1, 4))
    publish(web, [(1, today(minutes=30)), (2, "")], '"v1"')
    watch_page(web, "--every", "3s")
    log = tmp_path / "service.log"
    env = {**os.environ, **veille_env, "VEILLE_LOG_LEVEL": "INFO", "VEILLE_DISPATCH_EVERY": "1s"}
    env.pop("VEILLE_BROKER_URL", None)  # the embedded broker
    with log.open("ab") as out:
        service = subprocess.Popen([VEILLE, "run", "--concurrency", "2", "--no-web"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: len(slack_posts(web)) == 1, 60, "the alert of the first poll", log)
        assert "number-1" in json.dumps(slack_posts(web)[0])
        publish(web, [(3, ""), (1, today(minutes=30)), (2, "")], '"v2"')
        wait_for(lambda: len(slack_posts(web)) == 2, 30, "the alert for the new article", log)
        assert "number-3" in json.dumps(slack_posts(web)[1])
        service.send_signal(signal.SIGTERM)
        assert service.wait(30) == 0
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait(10)
    assert len(slack_posts(web)) == 2
