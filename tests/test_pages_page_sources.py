"""Page sources (#14) through the web faces: the feeds page offers to watch a page that has no feed (in a real
browser against `veille web` as a process), and the API adds one with ``"page": true``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser import browser, page, problems, sign_in  # noqa: F401 (fixtures)
from tests.conftest import HTTPFixture, Route
from tests.test_api import api_client, cli_json
from tests.test_pages import PASSWORD, site  # noqa: F401 (fixture)
from tests.webserver import Web

NEWSROOM = (
    b"<!DOCTYPE html><html><head><title>Lab newsroom</title></head><body><header><nav><a href='/'>Home</a>"
    b"<a href='/research'>Research</a></nav></header><main><ul>"
    b"<li><a href='/news/kyutai-shows-a-speech-model'><h3>Kyutai shows a speech model to the press</h3></a>"
    b"<time datetime='2026-04-02'>April 2</time></li>"
    b"<li><a href='/news/kyutai-opens-its-weights'><h3>Kyutai opens the weights of its model</h3></a></li>"
    b"</ul></main><footer><a href='/legal/privacy'>Privacy policy</a></footer></body></html>"
)


@pytest.fixture
def newsroom(web: HTTPFixture) -> HTTPFixture:
    web.routes["/news"] = Route(NEWSROOM, "text/html; charset=utf-8")
    web.routes["/empty"] = Route(b"<html><head><title>Soon</title></head><body><p>Soon.</p></body></html>")
    return web


def test_the_feeds_page_offers_to_watch_a_page_without_a_feed(site: Web, newsroom: HTTPFixture,  # noqa: F811
                                                              page: Page) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    page.goto(f"{site.url}/feeds")

    # a page naming no feed: why, and the offer to watch it
    page.get_by_label("Address of a feed").fill(newsroom.url("/news"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#e-url")).to_contain_text("no feed found")
    page.get_by_role("button", name="Watch this page").click()
    expect(page.get_by_role("status")).to_contain_text("Watching page 1: Lab newsroom, adaptive interval, "
                                                       "2 article links now")
    row = page.locator("#feed-1")
    expect(row).to_contain_text(newsroom.url("/news"))
    expect(row.locator(".badge", has_text="page")).to_be_visible()

    # a page where no article link is found: said, and it can be watched anyway
    page.get_by_label("Address of a feed").fill(newsroom.url("/empty"))
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("button", name="Watch this page").click()
    expect(page.locator("#e-url")).to_contain_text(f"no article links found at {newsroom.url('/empty')}")
    expect(page.get_by_role("button", name="Watch this page")).to_have_count(0)
    page.get_by_role("button", name="Add it anyway").click()
    expect(page.get_by_role("status")).to_contain_text("Watching page 2: Soon")
    assert [(f["kind"], f["url"]) for f in cli_json(site, "feeds", "list")] == [
        ("page", newsroom.url("/news")), ("page", newsroom.url("/empty"))]
    assert problems(page, expected=(422,)) == []


def test_the_api_adds_a_page_source(make_web: Callable[..., Web], newsroom: HTTPFixture) -> None:
    server = make_web().start()
    with api_client(server, headers={"Authorization": f"Bearer {server.token('tests')}"}) as client:
        refused = client.post("/api/v1/feeds", json={"url": newsroom.url("/news")})
        assert refused.status_code == 422
        assert "no feed found" in refused.json()["error"] and "--page" in refused.json()["error"]

        added = client.post("/api/v1/feeds", json={"url": newsroom.url("/news"), "page": True, "any_site": True,
                                                   "every": "1h"})
        assert added.status_code == 201, added.text
        source = added.json()
        assert (source["kind"], source["options"], source["title"], source["every"]) == (
            "page", {"any_site": True}, "Lab newsroom", "1h")
        assert client.get("/api/v1/feeds").json() == [source] == cli_json(server, "feeds", "list")

        empty = client.post("/api/v1/feeds", json={"url": newsroom.url("/empty"), "page": True})
        assert empty.status_code == 422
        assert empty.json()["error"].startswith(f"no article links found at {newsroom.url('/empty')}")
        wrong = client.post("/api/v1/feeds", json={"url": newsroom.url("/news"), "any_site": True})
        assert wrong.status_code == 422 and "page" in wrong.json()["error"]
