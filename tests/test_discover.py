"""Feed autodiscovery: `veille feeds add SITE` finds the site's feed; `--dry-run` lists what it found."""

from __future__ import annotations

import shlex

import pytest

from tests.conftest import HTTPFixture, Route
from tests.helpers import atom, rss, veille
from veille.feeds.discover import FeedLink, common_path_urls, feed_links

pytestmark = pytest.mark.usefixtures("veille_env")

BASE = "https://lab.example/blog/post.html"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<link rel="alternate" type="application/rss+xml" href="/feed.xml" title="Lab news">',
         [FeedLink("https://lab.example/feed.xml", "application/rss+xml", "Lab news")]),
        ('<link rel="alternate" type="application/atom+xml" href="atom.xml">',  # relative to the page's folder
         [FeedLink("https://lab.example/blog/atom.xml", "application/atom+xml", None)]),
        ('<base href="https://cdn.lab.example/site/"><link rel="alternate" type="application/feed+json" href="f.json">',
         [FeedLink("https://cdn.lab.example/site/f.json", "application/feed+json", None)]),
        ('<LINK REL="Alternate Feed" TYPE="Application/RSS+XML; charset=utf-8" HREF="//other.example/rss">',
         [FeedLink("https://other.example/rss", "application/rss+xml", None)]),
        ('<link rel="alternate" type="application/rss+xml" href="feed://lab.example/rss">',
         [FeedLink("http://lab.example/rss", "application/rss+xml", None)]),
        ('<link rel="alternate" type="application/rss+xml" href="/a"><link rel="alternate" type="application/rss+xml"'
         ' href="https://lab.example/a"><link rel="alternate" type="application/atom+xml" href="/b">',
         [FeedLink("https://lab.example/a", "application/rss+xml", None),
          FeedLink("https://lab.example/b", "application/atom+xml", None)]),
        # not feeds: other rels, other types, a WordPress REST link, a script URL, no href
        ('<link rel="stylesheet" type="text/css" href="/s.css"><link rel="alternate" hreflang="fr" href="/fr/">'
         '<link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/2">'
         '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
         '<link rel="alternate" type="application/rss+xml">', []),
    ],
)
def test_feed_links(head: str, expected: list[FeedLink]) -> None:
    html = f"<!DOCTYPE html><html><head><title>Lab</title>{head}</head><body><p>Hello</p></body></html>"
    assert feed_links(html.encode(), base_url=BASE) == expected


def test_common_paths_under_the_page_folder_then_at_the_root() -> None:
    assert common_path_urls("https://lab.example/") == [
        "https://lab.example/feed", "https://lab.example/rss.xml", "https://lab.example/atom.xml",
        "https://lab.example/feed.xml", "https://lab.example/index.xml", "https://lab.example/rss",
    ]
    urls = common_path_urls("https://lab.example/blog/?page=2")
    assert urls[:2] == ["https://lab.example/blog/feed", "https://lab.example/blog/rss.xml"]
    assert urls[6:8] == ["https://lab.example/feed", "https://lab.example/rss.xml"]
    assert len(urls) == 12


def site_page(*links: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><title>Some Lab</title>" + "".join(links) + "</head>"
        "<body><h1>Some Lab</h1><p>We build models.</p></body></html>"
    ).encode()


NEWS = [
    {"title": "Kyutai releases Moshi", "link": "https://lab.example/moshi", "guid": "moshi"},
    {"title": "A new lab in Paris", "link": "https://lab.example/paris", "guid": "paris"},
]


def test_add_a_site_page_adds_the_feed_it_declares(web: HTTPFixture) -> None:
    web.routes["/"] = Route(site_page(
        '<link rel="alternate" type="application/rss+xml" href="/broken.rss" title="Old feed">',
        '<link rel="alternate" type="application/atom+xml" href="feeds/news.atom" title="News">',
    ))
    web.routes["/broken.rss"] = Route(b"gone", "text/plain", 404)
    web.routes["/feeds/news.atom"] = Route(atom([dict(e, id=e["guid"]) for e in NEWS], title="Some Lab News"),
                                           "application/atom+xml")

    result = veille("feeds", "add", web.url("/"), "--every", "5m")

    assert result.exit_code == 0, result.stderr
    assert f"found {web.url('/feeds/news.atom')} (declared by the page at {web.url('/')})" in result.stderr
    assert "ok: Some Lab News, 2 entries" in result.stderr
    [feed] = veille("feeds", "list", "--json").json()
    assert feed["url"] == web.url("/feeds/news.atom") and feed["title"] == "Some Lab News"
    assert feed["interval"] == 300
    assert web.hits("/feed") == []  # declared feeds found: no common path guessed

    again = veille("feeds", "add", web.url("/"))
    assert again.exit_code == 1
    assert f"feed already added (id {feed['id']}): {web.url('/feeds/news.atom')}" in again.stderr


def test_no_declared_feed_tries_common_paths_in_order(web: HTTPFixture) -> None:
    web.routes["/"] = Route(site_page())
    web.routes["/feed"] = Route(site_page())  # an HTML page where a feed could be: not a feed
    web.routes["/rss.xml"] = Route(rss(NEWS, title="Lab RSS"), "application/rss+xml")
    web.routes["/atom.xml"] = Route(atom([dict(e, id=e["guid"]) for e in NEWS]), "application/atom+xml")

    result = veille("feeds", "add", web.url("/"))

    assert result.exit_code == 0, result.stderr
    assert f"found {web.url('/rss.xml')} (at a common feed path at {web.url('/')})" in result.stderr
    assert [f["url"] for f in veille("feeds", "list", "--json").json()] == [web.url("/rss.xml")]
    assert len(web.hits("/feed")) == 1 and web.hits("/atom.xml") == []  # the first feed found wins


def several_feeds_site(web: HTTPFixture) -> None:
    web.routes["/lab/"] = Route(site_page(
        '<link rel="alternate" type="application/rss+xml" href="rss" title="All posts">',
        '<link rel="alternate" type="application/atom+xml" href="/comments.atom" title="Comments">',
        '<link rel="alternate" type="application/rss+xml" href="/dead.rss">',
    ))
    web.routes["/lab/rss"] = Route(rss(NEWS, title="Lab posts"), "application/rss+xml")
    web.routes["/comments.atom"] = Route(atom([dict(NEWS[0], id="c1")], title="Lab comments"),
                                         "application/atom+xml")


def test_dry_run_lists_candidates_and_adds_nothing(web: HTTPFixture) -> None:
    several_feeds_site(web)

    result = veille("feeds", "add", web.url("/lab/"), "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [  # two feeds: neither would be added
        f"  {web.url('/lab/rss')}\t2 entries\tLab posts",
        f"  {web.url('/comments.atom')}\t1 entry\tLab comments",
    ]
    assert f"declared by the page but not a feed: {web.url('/dead.rss')}: HTTP 404" in result.stderr
    assert "would add none: 2 feeds found" in result.stderr
    assert veille("feeds", "list", "--json").json() == []


def test_a_page_naming_several_feeds_adds_none_and_prints_the_command_for_each(web: HTTPFixture) -> None:
    several_feeds_site(web)

    result = veille("feeds", "add", web.url("/lab/"), "--every", "10m", "--tag", "AI labs", "--backfill", "0")

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: 2 feeds found at {web.url('/lab/')}, nothing added: add the one you want"
    commands = [line.split("  # ")[0].strip() for line in lines[1:]]
    assert commands == [
        f"veille feeds add {web.url('/lab/rss')} --every 10m --tag 'AI labs' --backfill 0",
        f"veille feeds add {web.url('/comments.atom')} --every 10m --tag 'AI labs' --backfill 0",
    ]
    assert [line.split("  # ")[1] for line in lines[1:]] == ["2 entries: Lab posts", "1 entry: Lab comments"]
    assert veille("feeds", "list", "--json").json() == []

    # the printed command does what it says
    args = shlex.split(commands[1])[1:]
    assert veille(*args).exit_code == 0
    [feed] = veille("feeds", "list", "--json").json()
    assert (feed["url"], feed["title"], feed["tags"], feed["interval"], feed["interval_fixed"], feed["backfill"]) \
        == (web.url("/comments.atom"), "Lab comments", ["AI labs"], 600, True, 0)
    again = veille("feeds", "add", web.url("/lab/"))
    assert "  # 1 entry: Lab comments (already added, id 1)" in again.stderr


def test_a_feed_url_is_added_as_given_with_one_request(web: HTTPFixture) -> None:
    web.routes["/news.xml"] = Route(rss(NEWS, title="Lab RSS"), "application/rss+xml")
    dry = veille("feeds", "add", web.url("/news.xml"), "--dry-run")
    assert dry.exit_code == 0 and dry.stdout == f"* {web.url('/news.xml')}\t2 entries\tLab RSS\n"
    web.requests.clear()
    result = veille("feeds", "add", web.url("/news.xml"))
    assert result.exit_code == 0, result.stderr
    assert "found" not in result.stderr and "ok: Lab RSS, 2 entries" in result.stderr
    assert [r.path for r in web.requests] == ["/news.xml"]
    assert [f["url"] for f in veille("feeds", "list", "--json").json()] == [web.url("/news.xml")]


def test_a_page_without_any_feed_is_refused_unless_forced(web: HTTPFixture) -> None:
    web.routes["/blog/index.html"] = Route(site_page())
    url = web.url("/blog/index.html")
    tried = (f"no feed found at {url} (an HTML page; it declares no feed (<link rel=\"alternate\">); none of "
             "/feed, /rss.xml, /atom.xml, /feed.xml, /index.xml, /rss (under /blog/ and at the root) is a feed)")
    dry = veille("feeds", "add", url, "--dry-run")
    assert dry.exit_code == 1 and dry.stdout == ""
    assert f"error: {tried}" in dry.stderr

    refused = veille("feeds", "add", url)
    assert refused.exit_code == 1 and refused.stdout == ""
    # an HTML page: it may be watched for its article links instead (#14)
    assert refused.stderr == (f"error: {tried}; if it is a listing page (a newsroom, a blog index), watch its "
                              "article links with --page\n")
    assert veille("feeds", "list", "--json").json() == []
    assert len(web.hits("/feed")) == 2 and len(web.hits("/blog/feed")) == 2  # both folders tried, each time

    forced = veille("feeds", "add", url, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert f"warning: {tried}; added anyway (--force)" in forced.stderr
    [feed] = veille("feeds", "list", "--json").json()
    assert feed["url"] == url and forced.stdout == f"{feed['id']}\n"


def test_a_document_that_is_neither_a_feed_nor_a_page(web: HTTPFixture) -> None:
    web.routes["/data.json"] = Route(b'{"items": []}', "application/json")
    result = veille("feeds", "add", web.url("/data.json"))
    assert result.exit_code == 1
    assert f"error: no feed found at {web.url('/data.json')} (not a feed: " in result.stderr
    assert "not an HTML page either: content type application/json is not HTML)" in " ".join(result.stderr.split())
    assert veille("feeds", "list", "--json").json() == []


def test_discovered_feeds_go_through_the_address_guard(web: HTTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_ALLOW_PRIVATE_ADDRESSES", "0")
    monkeypatch.setenv("VEILLE_ALLOWED_NETWORKS", "127.0.0.1/32")  # the site itself, not the rest of loopback
    web.routes["/"] = Route(site_page(
        f'<link rel="alternate" type="application/rss+xml" href="http://127.0.0.2:{web.port}/news.xml">',
    ))
    web.routes["/news.xml"] = Route(rss(NEWS), "application/rss+xml")
    web.routes["/feed"] = Route(rss(NEWS, title="Root feed"), "application/rss+xml")

    result = veille("feeds", "add", web.url("/"), "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert "declared by the page but not a feed: http://127.0.0.2" in result.stderr
    assert "address guard: 127.0.0.2 is a loopback address" in result.stderr
    assert web.hits("/news.xml") == []
    assert result.stdout.startswith(f"* {web.url('/feed')}\t2 entries\tRoot feed")
