"""The feeds page in a real browser (Chromium driven by Playwright) against `veille web` as a process, with a
loopback site to discover feeds on: add by a page's URL (a page naming two feeds: pick one; naming one: added
at once; no answer: add it anyway), OPML upload and download, edit, pause and resume, remove after the
confirmation; a POST without its CSRF token is refused. And the operation under the list: each feed's items
counted in one query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import event

from tests.browser import browser, page, problems, sign_in  # noqa: F401 (fixtures)
from tests.conftest import HTTPFixture, Route, free_port
from tests.helpers import atom, rss
from tests.test_pages import PASSWORD, site  # noqa: F401 (fixture)
from tests.webserver import Web
from veille.manage import feeds
from veille.storage.db import Database
from veille.storage.models import Article, Entry, Feed

NEWS = [{"title": "Kyutai releases Moshi", "link": "https://lab.example/moshi", "guid": "moshi"},
        {"title": "A new lab in Paris", "link": "https://lab.example/paris", "guid": "paris"}]
COMMENTS = [{"title": "Re: Moshi", "link": "https://lab.example/moshi#c1", "id": "c1"}]


def html_page(*links: tuple[str, str, str]) -> bytes:
    """A site's page declaring feeds: (type, href, title) each."""
    heads = "".join(f'<link rel="alternate" type="{kind}" href="{href}" title="{title}">'
                    for kind, href, title in links)
    return f"<!doctype html><html><head><title>Some Lab</title>{heads}</head><body><p>Hi</p></body></html>".encode()


@pytest.fixture
def lab(web: HTTPFixture) -> HTTPFixture:
    """A loopback site: /blog names two feeds, /news names one, and the feeds themselves."""
    web.routes["/blog"] = Route(html_page(("application/rss+xml", "/feed.xml", "Posts"),
                                          ("application/atom+xml", "/comments.xml", "Comments")))
    web.routes["/news"] = Route(html_page(("application/rss+xml", "/news.xml", "News")))
    web.routes["/feed.xml"] = Route(rss(NEWS, title="Some Lab posts"), "application/rss+xml")
    web.routes["/comments.xml"] = Route(atom(COMMENTS, title="Comments on Some Lab"), "application/atom+xml")
    web.routes["/news.xml"] = Route(rss(NEWS[:1], title="Some Lab news"), "application/rss+xml")
    return web


def test_add_feeds_by_a_page_url_picking_one_when_it_names_two(site: Web, lab: HTTPFixture,  # noqa: F811
                                                               page: Page) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    page.get_by_role("link", name="Feeds").click()
    expect(page.get_by_role("heading", name="Feeds", exact=True)).to_be_visible()
    expect(page.get_by_text("No feed yet")).to_be_visible()

    # a page naming two feeds: nothing added, both offered
    page.get_by_label("Address of a feed").fill(lab.url("/blog"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This page names 2 feeds: pick one")).to_be_visible()
    expect(page.get_by_text("No feed yet")).to_be_visible()
    expect(page.get_by_label("Some Lab posts")).to_be_checked()
    page.get_by_label("Comments on Some Lab").check()
    page.get_by_role("button", name="Add the chosen feed").click()
    expect(page.get_by_role("status")).to_contain_text("Added feed 1: Comments on Some Lab")
    expect(page.locator("tbody tr")).to_have_count(1)
    comments = page.locator("#feed-1")
    expect(comments).to_contain_text(lab.url("/comments.xml"))
    expect(comments).to_contain_text("not polled yet")
    expect(comments).to_contain_text("(adaptive)")

    # again: the one already added is shown as such and can't be picked
    page.get_by_label("Address of a feed").fill(lab.url("/blog"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_label("Comments on Some Lab")).to_be_disabled()
    expect(page.get_by_text("already added as feed 1")).to_be_visible()
    expect(page.get_by_label("Some Lab posts")).to_be_checked()

    # a page naming one feed (typed over the page that named two, a choice still checked): added at once
    page.get_by_label("Address of a feed").fill(lab.url("/news"))
    page.get_by_text("Options").click()
    page.get_by_label("Poll every").fill("10m")
    page.locator("#f-tags").fill("labs, paris")
    page.get_by_role("button", name="Add the chosen feed").click()
    expect(page.get_by_role("status")).to_contain_text(f"Added feed 2: Some Lab news (named by {lab.url('/news')})")
    news = page.locator("#feed-2")
    expect(news).to_contain_text(lab.url("/news.xml"))
    expect(news).to_contain_text("10m (fixed)")
    expect(news).to_contain_text("labs")

    # a bad interval is refused next to its field, what was typed kept
    page.get_by_label("Address of a feed").fill(lab.url("/feed.xml"))
    page.get_by_text("Options").click()
    page.get_by_label("Poll every").fill("often")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#e-every")).to_contain_text("not a duration: 'often'")
    expect(page.get_by_label("Address of a feed")).to_have_value(lab.url("/feed.xml"))

    # nothing answers: said next to the field, and "add it anyway" adds it
    down = f"http://127.0.0.1:{free_port()}/feed.xml"
    page.get_by_label("Poll every").fill("")
    page.get_by_label("Address of a feed").fill(down)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#e-url")).to_contain_text(f"cannot fetch {down}")
    page.get_by_role("button", name="Add it anyway").click()
    expect(page.get_by_role("status")).to_contain_text(f"Added feed 3: {down}")
    expect(page.get_by_role("status")).to_contain_text("Added anyway: cannot fetch")

    # a poll: the items column counts each feed's entries
    polled = site.veille("poll")
    assert polled.returncode == 0, polled.stderr
    page.reload()
    expect(page.locator("#feed-1 td").nth(4)).to_have_text("1")
    expect(page.locator("#feed-2 td").nth(4)).to_have_text("1")
    expect(page.locator("#feed-3 td").nth(4)).to_have_text("0")
    expect(page.locator("#feed-3")).to_contain_text("failing")
    expect(page.locator("#feed-3")).to_contain_text("1 failure in a row")
    expect(page.locator("#feed-2")).to_contain_text("polled")
    assert problems(page, expected=(422,)) == []  # a refused form answers 422


OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>my feeds</title></head><body>
  <outline text="labs" title="labs">
    <outline type="rss" text="Posts" title="Posts" xmlUrl="{posts}"/>
    <outline type="rss" text="News" title="News" xmlUrl="{news}"/>
  </outline>
  <outline type="rss" text="Not a feed" xmlUrl="javascript:alert(1)"/>
</body></opml>
"""


def test_opml_upload_download_edit_pause_and_remove(site: Web, lab: HTTPFixture, page: Page,  # noqa: F811
                                                    tmp_path: Path) -> None:
    sign_in(page, site.url, password=PASSWORD)
    page.goto(f"{site.url}/feeds")
    upload = tmp_path / "mine.opml"
    upload.write_text(OPML.format(posts=lab.url("/feed.xml"), news=lab.url("/news.xml")), encoding="utf-8")
    page.get_by_label("OPML file").set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_contain_text("Imported 2 new feeds from mine.opml")
    expect(page.get_by_role("status")).to_contain_text("not an http(s) address, skipped: javascript:alert(1)")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("#feed-1")).to_contain_text("Posts")
    expect(page.locator("#feed-1")).to_contain_text("labs")
    assert lab.requests == []  # an import fetches nothing

    # a file that is not OPML: said next to the field, nothing imported
    broken = tmp_path / "broken.opml"
    broken.write_text("<html>not opml", encoding="utf-8")
    page.get_by_label("OPML file").set_input_files(str(broken))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#e-opml")).to_contain_text("nothing was imported")
    expect(page.locator("tbody tr")).to_have_count(2)

    # edit: a fixed interval, a title, other tags
    page.get_by_role("link", name="News").click()
    expect(page.get_by_role("heading", name="News")).to_be_visible()
    page.get_by_label("Title").fill("Lab news")
    page.get_by_role("radio", name="Fixed").check()
    page.get_by_role("textbox", name="Every").fill("15m")
    page.locator("#f-tags").fill("paris")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved feed 2: 15m (fixed)")
    expect(page.get_by_role("heading", name="Lab news")).to_be_visible()
    page.get_by_role("textbox", name="Every").fill("soon")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#e-every")).to_contain_text("not a duration")

    # pause for 7 days: seen on its page and in the list; then resume
    page.goto(f"{site.url}/feeds/2")
    page.get_by_label("7 days").check()
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("Feed 2 paused until")
    page.get_by_role("link", name="Feeds", exact=True).first.click()
    expect(page.locator("#feed-2")).to_contain_text("paused until")
    expect(page.locator("#feed-2")).to_contain_text("after the pause")
    page.get_by_role("link", name="Lab news").click()
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status")).to_contain_text("Feed 2 resumed")
    page.get_by_role("radio", name="until a date").check()
    page.get_by_label("End date").fill("2001-01-01")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("has already passed")).to_be_visible()

    # download: the OPML holds both feeds, the edits and the folders
    page.goto(f"{site.url}/feeds")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download every feed as OPML").click()
    assert download.value.suggested_filename == "veille-feeds.opml"
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert lab.url("/feed.xml") in exported and lab.url("/news.xml") in exported
    assert 'title="Lab news"' in exported and 'text="paris"' in exported

    # remove: the confirmation says what goes, then it is gone
    page.goto(f"{site.url}/feeds/1")
    page.get_by_role("link", name="Remove this feed").click()
    expect(page.get_by_text(f"Remove feed 1 ({lab.url('/feed.xml')})? Its 0 entries go with it")).to_be_visible()
    page.get_by_role("button", name="Remove the feed").click()
    expect(page.get_by_role("status")).to_contain_text(f"Removed feed 1 ({lab.url('/feed.xml')})")
    expect(page.locator("tbody tr")).to_have_count(1)
    assert problems(page, expected=(422,)) == []  # a refused form answers 422


def test_a_feeds_form_posted_without_its_csrf_token_is_refused(site: Web, lab: HTTPFixture,  # noqa: F811
                                                               page: Page) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=site.url, cookies=cookies, trust_env=False) as client:
        refused = client.post("/feeds", data={"url": lab.url("/news")})
        assert refused.status_code == 403
        wrong = client.post("/feeds", data={"url": lab.url("/news"), "csrf_token": "forged"})
        assert wrong.status_code == 403
        assert client.get("/feeds/export").text.count("xmlUrl") == 0  # nothing added
    assert lab.requests == []  # nor fetched


def test_the_list_comes_a_hundred_feeds_a_page(site: Web, page: Page) -> None:  # noqa: F811
    outlines = "".join(f'<outline type="rss" text="Feed {n}" xmlUrl="http://127.0.0.1:9/{n}.xml"/>'
                       for n in range(1, 106))
    opml = f'<?xml version="1.0"?><opml version="2.0"><head/><body>{outlines}</body></opml>'
    with site.client(headers={"Authorization": f"Bearer {site.token()}"}) as client:
        imported = client.post("/api/v1/feeds/import", content=opml)
        assert imported.json()["added"] == 105, imported.text

    sign_in(page, site.url, password=PASSWORD)
    page.goto(f"{site.url}/feeds")
    expect(page.get_by_role("heading", name="105 feeds: 1 to 100")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(100)
    expect(page.locator("#feed-100")).to_contain_text("Feed 100")
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_role("heading", name="105 feeds: 101 to 105")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(5)
    expect(page.get_by_text("page 2 of 2")).to_be_visible()
    page.goto(f"{site.url}/feeds?page=last")
    expect(page.locator("#feed-105")).to_contain_text("Feed 105")
    page.goto(f"{site.url}/feeds?page=99")  # past the end: the last page
    expect(page.locator("tbody tr")).to_have_count(5)
    page.get_by_role("link", name="Previous").click()
    expect(page.locator("#feed-1")).to_contain_text("Feed 1")
    assert problems(page) == []


# --------------------------------------------------------------------------- the operation under the list


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


def test_feeds_are_listed_with_their_items_counted_in_one_query(db: Database) -> None:
    def fill(s: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        made = [Feed(url=f"https://lab.example/{n}.xml", interval=600) for n in range(3)]
        s.add_all(made)
        s.flush()
        for n in range(5):
            article = Article(url=f"https://lab.example/a{n}", url_key=f"lab.example/a{n}")
            s.add(article)
            s.flush()
            s.add(Entry(feed_id=made[0 if n < 3 else 2].id, key=f"k{n}", article_id=article.id))

    db.run(fill)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        listed = feeds.list_feeds(db, count_entries=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert [f.entries for f in listed] == [3, 0, 2]
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2  # the feeds, the counts
    assert [f.entries for f in feeds.list_feeds(db)] == [None, None, None]  # not counted unless asked
    assert [f.entries for f in feeds.list_feeds(db, count_entries=True, limit=2)] == [3, 0]
    assert [(f.id, f.entries) for f in feeds.list_feeds(db, count_entries=True, limit=5, offset=2)] == [(3, 2)]
    assert feeds.count_feeds(db) == 3
    assert feeds.get_feed(db, "3", count_entries=True).entries == 2
