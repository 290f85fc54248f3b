"""`veille feeds add` checks the URL by fetching it once: what does not answer, or is not a feed and names
none, is refused and nothing is stored (`--force` adds it anyway, never past the address guard); the check
fetch stores no entry and no validator, so the first poll is the feed's first poll; `--backfill` is stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import HTTPFixture, Route, free_port
from tests.helpers import rss, veille
from veille.storage.db import Database
from veille.storage.models import Entry, Feed

pytestmark = pytest.mark.usefixtures("veille_env")

VEILLE = str(Path(sys.executable).with_name("veille"))
NEWS = [
    {"title": "Kyutai releases Moshi", "link": "https://lab.example/moshi", "guid": "moshi",
     "pubDate": "Mon, 02 Nov 2026 10:00:00 +0000"},
    {"title": "A new lab in Paris", "link": "https://lab.example/paris", "guid": "paris",
     "pubDate": "Sun, 01 Nov 2026 10:00:00 +0000"},
]


def database() -> Database:
    return Database(os.environ["VEILLE_DATABASE_URL"])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """`veille ARGS` as its own process."""
    return subprocess.run([VEILLE, *args], env=dict(os.environ), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(b"gone", "text/plain", 404), "HTTP 404 Not Found"),
        (Route(b"oops", "text/plain", 500), "HTTP 500 Internal Server Error"),
        (Route(b"", "text/plain", 410), "HTTP 410 Gone"),
    ],
)
def test_a_url_that_answers_with_an_error_is_refused(web: HTTPFixture, route: Route, reason: str) -> None:
    web.routes["/feed.xml"] = route
    url = web.url("/feed.xml")

    result = run("feeds", "add", url, "--every", "5m")

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == (f"error: cannot fetch {url}: {reason}; if it is a feed that is down today, "
                                     "add it anyway with --force")
    assert veille("feeds", "list", "--json").json() == []


def test_no_answer_at_all_is_refused(web: HTTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}/feed.xml"  # nothing listens there
    refused = veille("feeds", "add", closed)
    assert refused.exit_code == 1 and f"error: cannot fetch {closed}: cannot connect" in refused.stderr

    unknown = "http://veille-test.invalid/feed.xml"  # .invalid never resolves
    no_dns = veille("feeds", "add", unknown)
    assert no_dns.exit_code == 1 and f"error: cannot fetch {unknown}: cannot" in no_dns.stderr
    assert "veille-test.invalid" in no_dns.stderr

    monkeypatch.setenv("VEILLE_HTTP_TIMEOUT", "1")
    web.routes["/slow.xml"] = Route(rss(NEWS), "application/rss+xml", delay=3)
    slow = veille("feeds", "add", web.url("/slow.xml"))
    assert slow.exit_code == 1 and f"error: cannot fetch {web.url('/slow.xml')}: " in slow.stderr
    assert "timed out" in slow.stderr or "no complete answer" in slow.stderr
    assert veille("feeds", "list", "--json").json() == []


def test_force_adds_a_feed_that_is_down_today_with_a_warning(web: HTTPFixture) -> None:
    web.routes["/feed.xml"] = Route(b"maintenance", "text/plain", 503)
    url = web.url("/feed.xml")

    forced = run("feeds", "add", url, "--force", "--every", "10m", "--tag", "labs")

    assert forced.returncode == 0, forced.stderr
    [feed] = veille("feeds", "list", "--json").json()
    assert forced.stdout == f"{feed['id']}\n"
    assert f"warning: cannot fetch {url}: HTTP 503 Service Unavailable; added anyway (--force)" in forced.stderr
    assert f"added feed {feed['id']}: {url} (every 10m)" in forced.stderr
    assert (feed["url"], feed["tags"], feed["interval"], feed["interval_fixed"]) == (url, ["labs"], 600, True)

    web.routes["/feed.xml"] = Route(rss(NEWS, title="Back up"), "application/rss+xml")
    assert veille("poll").exit_code == 0  # the day it is back, it is polled like any other
    assert count(Entry) == 2


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/rss",
                                 "file:///etc/passwd", "ftp://lab.example/feed"])
def test_force_never_passes_the_address_guard(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("VEILLE_ALLOW_PRIVATE_ADDRESSES", "0")
    result = veille("feeds", "add", url, "--force")
    assert result.exit_code == 1
    assert "refused" in result.stderr and ("address guard" in result.stderr or "only http and https" in result.stderr)
    assert veille("feeds", "list", "--json").json() == []


def test_force_never_follows_a_redirect_to_a_guarded_address(web: HTTPFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_ALLOW_PRIVATE_ADDRESSES", "0")
    monkeypatch.setenv("VEILLE_ALLOWED_NETWORKS", "127.0.0.1/32")
    web.routes["/feed.xml"] = Route(b"", "text/plain", 302, headers={"Location": "http://10.1.2.3/rss"})
    result = veille("feeds", "add", web.url("/feed.xml"), "--force")
    assert result.exit_code == 1
    assert f"error: refused: cannot fetch {web.url('/feed.xml')}: address guard" in result.stderr
    assert veille("feeds", "list", "--json").json() == []


def count(model: type[Entry] | type[Feed]) -> int:
    return database().run(lambda s: int(s.scalar(select(func.count()).select_from(model)) or 0))


def test_the_check_fetch_stores_no_entry_and_no_validator(web: HTTPFixture) -> None:
    web.routes["/feed.xml"] = Route(rss(NEWS, title="Lab RSS"), "application/rss+xml", etag='"v1"',
                                    headers={"Last-Modified": "Mon, 02 Nov 2026 10:00:00 GMT"})
    added = veille("feeds", "add", web.url("/feed.xml"))
    assert added.exit_code == 0, added.stderr
    assert "ok: Lab RSS, 2 entries" in added.stderr
    [check] = web.hits("/feed.xml")

    feed = database().run(lambda s: s.scalars(select(Feed)).one())
    assert (feed.etag, feed.last_modified, feed.first_ok_at, feed.last_poll_at) == (None, None, None, None)
    assert count(Entry) == 0

    web.requests.clear()
    assert veille("poll").exit_code == 0
    [first] = web.hits("/feed.xml")
    # a full fetch, as if add had not looked: no If-None-Match / If-Modified-Since, every item is new
    assert "if-none-match" not in first.headers and "if-modified-since" not in first.headers
    assert count(Entry) == 2
    web.requests.clear()
    assert veille("poll").exit_code == 0
    [second] = web.hits("/feed.xml")
    assert second.headers.get("if-none-match") == '"v1"'  # validators come from the poll, not from add
    assert check.headers.get("if-none-match") is None


def test_backfill_is_stored_and_listed(web: HTTPFixture) -> None:
    web.routes["/a.xml"] = Route(rss(NEWS), "application/rss+xml")
    web.routes["/b.xml"] = Route(rss(NEWS), "application/rss+xml")
    web.routes["/c.xml"] = Route(rss(NEWS), "application/rss+xml")
    week = veille("feeds", "add", web.url("/a.xml"), "--backfill", "3d")
    assert week.exit_code == 0, week.stderr
    assert "backfill 3d" in week.stderr
    assert veille("feeds", "add", web.url("/b.xml"), "--backfill", "0").exit_code == 0
    assert veille("feeds", "add", web.url("/c.xml")).exit_code == 0
    listed = {f["url"]: f["backfill"] for f in veille("feeds", "list", "--json").json()}
    assert listed == {web.url("/a.xml"): 259200, web.url("/b.xml"): 0, web.url("/c.xml"): None}


@pytest.mark.parametrize(("value", "complaint"), [("soon", "--backfill: not a duration: 'soon'"),
                                                   ("-1d", "--backfill: not a duration: '-1d'")])
def test_a_bad_backfill_is_a_usage_error(web: HTTPFixture, value: str, complaint: str) -> None:
    web.routes["/a.xml"] = Route(rss(NEWS), "application/rss+xml")
    result = veille("feeds", "add", web.url("/a.xml"), "--backfill", value)
    assert result.exit_code == 2 and complaint in result.stderr
    assert web.requests == []  # refused before any fetch
    assert veille("feeds", "list", "--json").json() == []
