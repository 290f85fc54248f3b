"""Adaptive poll intervals: a feed without `--every` is polled as often as it publishes, never before the
server's TTL, Cache-Control or Expires says its copy is stale, always within the min and max settings; a
feed added with `--every` keeps its interval.

Real parts: `veille poll` in process against loopback HTTP feeds, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tests.conftest import HTTPFixture, Request, Route
from tests.helpers import rss, veille
from veille.feeds.schedule import Publishing, adaptive_interval, freshness_lifetime

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HOUR, DAY = 3600.0, 86400.0
BOUNDS: dict[str, Any] = {"default": 900.0, "minimum": 60.0, "maximum": DAY}


def interval(publishing: Publishing | None, previous: float = 900.0, **extra: Any) -> float:
    return adaptive_interval(now=NOW, previous=previous, publishing=publishing, **{**BOUNDS, **extra})


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# --------------------------------------------------------------------------- how often it publishes


@pytest.mark.parametrize(("publishing", "previous", "expected"), [
    # nothing stored yet: the default, VEILLE_POLL_INTERVAL
    (None, 900.0, 900.0),
    # an item a minute all week: half a minute, held at the 60 s minimum
    (Publishing(items=7 * 24 * 60, oldest=ago(7 * DAY)), 900.0, 60.0),
    # an item every ten minutes: polled every five
    (Publishing(items=7 * 24 * 6, oldest=ago(7 * DAY)), 900.0, 300.0),
    # 84 items over the week (one every two hours): polled hourly
    (Publishing(items=84, oldest=ago(7 * DAY)), 3 * HOUR, HOUR),
    # four a day: every three hours
    (Publishing(items=28, oldest=ago(7 * DAY)), 3 * HOUR, 3 * HOUR),
    # a first poll's backlog, 40 items of the last hour: measured over six hours at least, not a burst
    (Publishing(items=40, oldest=ago(HOUR)), 900.0, 6 * HOUR / 40 / 2),
    # one item in three days: half of three days, held at the one-day maximum
    (Publishing(items=1, oldest=ago(3 * DAY)), DAY, DAY),
])
def test_the_interval_follows_how_often_the_feed_publishes(
    publishing: Publishing | None, previous: float, expected: float
) -> None:
    assert interval(publishing, previous) == pytest.approx(expected)


def test_a_busy_feed_is_polled_more_often_than_a_quiet_one() -> None:
    busy = interval(Publishing(items=500, oldest=ago(2 * DAY)))
    quiet = interval(Publishing(items=5, oldest=ago(2 * DAY)))
    assert BOUNDS["minimum"] <= busy < quiet <= BOUNDS["maximum"]


def test_a_silent_feed_slows_down_step_by_step_to_the_maximum() -> None:
    steps, current = [], 900.0
    for _ in range(8):
        current = interval(Publishing(items=0), current)
        steps.append(current)
    assert steps == [1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 57600.0, DAY, DAY]


def test_a_feed_that_wakes_up_is_polled_often_again_at_once() -> None:
    assert interval(Publishing(items=300, oldest=ago(DAY)), previous=DAY) == pytest.approx(DAY / 300 / 2)


def test_a_304_never_shortens_the_interval() -> None:
    publishing = Publishing(items=40, oldest=ago(6 * HOUR))  # 270 s by its rhythm
    assert interval(publishing, previous=HOUR, unchanged=True) == HOUR
    assert interval(publishing, previous=HOUR) == pytest.approx(270.0)


# --------------------------------------------------------------------------- what the server says


BUSY = Publishing(items=7 * 24 * 60, oldest=ago(7 * DAY))  # held at the 60 s minimum by its rhythm


@pytest.mark.parametrize(("ttl", "headers", "expected"), [
    (None, {}, 60.0),
    (30 * 60.0, {}, 1800.0),                                            # <ttl>30</ttl>
    (30 * DAY, {}, DAY),                                                # a month-long TTL: the maximum
    (None, {"Cache-Control": "public, max-age=7200"}, 7200.0),
    (None, {"cache-control": 'max-age="600"'}, 600.0),
    (None, {"Cache-Control": "max-age=7200", "Age": "7000"}, 200.0),    # a cache's copy, nearly stale
    (None, {"Cache-Control": "max-age=99999999"}, DAY),                 # never beyond the maximum
    (None, {"Cache-Control": "max-age=5"}, 60.0),                       # never below the minimum
    (None, {"Cache-Control": "no-cache", "Expires": format_datetime(NOW + timedelta(hours=5))}, 60.0),
    (None, {"Expires": format_datetime(NOW + timedelta(hours=2), usegmt=True)}, 7200.0),
    (None, {"Expires": format_datetime(NOW + timedelta(hours=3), usegmt=True),
            "Date": format_datetime(NOW + timedelta(hours=1), usegmt=True)}, 7200.0),  # the server's clock
    (None, {"Expires": "0"}, 60.0),                                     # already expired
    (None, {"Cache-Control": "max-age=900", "Expires": format_datetime(NOW + timedelta(hours=5))}, 900.0),
    (HOUR, {"Cache-Control": "max-age=600"}, HOUR),                     # the longer of the two
])
def test_ttl_cache_control_and_expires_are_waited_for_within_the_bounds(
    ttl: float | None, headers: dict[str, str], expected: float
) -> None:
    assert interval(BUSY, ttl=ttl, headers=headers) == pytest.approx(expected)


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"Cache-Control": "private"}, None),
    ({"Cache-Control": "max-age=abc"}, None),
    ({"Cache-Control": "no-store"}, 0.0),
    ({"Cache-Control": "max-age=60", "Age": "600"}, 0.0),
    ({"Expires": "not a date"}, 0.0),
    ({"Expires": format_datetime(NOW - timedelta(hours=1), usegmt=True)}, 0.0),
])
def test_freshness_lifetime(headers: dict[str, str], expected: float | None) -> None:
    assert freshness_lifetime(headers, now=NOW) == expected


# --------------------------------------------------------------------------- through `veille poll`


def items(prefix: str, *, count: int, age: timedelta, step: timedelta) -> list[dict[str, str]]:
    """Items without a link (nothing to fetch), published ``age``, ``age + step``, ... ago."""
    now = datetime.now(UTC)
    return [{"title": f"{prefix} {i}", "guid": f"{prefix}-{i}", "pubDate": format_datetime(now - age - i * step)}
            for i in range(count)]


def feeds_by_url(web: HTTPFixture) -> dict[str, dict[str, Any]]:
    result = veille("feeds", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return {row["url"].removeprefix(web.url("")): row for row in result.json()}


def waited(row: dict[str, Any]) -> float:
    return (datetime.fromisoformat(row["next_poll"]) - datetime.fromisoformat(row["last_poll"])).total_seconds()


@pytest.mark.usefixtures("veille_env")
def test_poll_learns_intervals_and_keeps_fixed_ones(
    web: HTTPFixture, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_DATABASE_URL", database_url)
    monkeypatch.setenv("VEILLE_MAX_POLL_INTERVAL", "3h")
    busy = items("busy", count=40, age=timedelta(minutes=1), step=timedelta(minutes=1))
    web.routes["/busy.xml"] = Route(rss(busy), "application/rss+xml", etag='"busy-1"')
    web.routes["/cached.xml"] = Route(rss(items("cached", count=40, age=timedelta(minutes=1),
                                                 step=timedelta(minutes=1))),
                                      "application/rss+xml", headers={"Cache-Control": "public, max-age=7200"})
    web.routes["/forever.xml"] = Route(rss(items("forever", count=3, age=timedelta(hours=1), step=timedelta(hours=1))),
                                       "application/rss+xml", headers={"Cache-Control": "max-age=31536000"})
    web.routes["/quiet.xml"] = Route(rss(items("quiet", count=3, age=timedelta(days=30), step=timedelta(days=10))),
                                     "application/rss+xml", etag='"quiet-1"')
    web.routes["/fixed.xml"] = Route(rss(items("fixed", count=40, age=timedelta(minutes=1),
                                               step=timedelta(minutes=1))),
                                     "application/rss+xml", headers={"Cache-Control": "max-age=7200"})
    for path in ("/busy.xml", "/cached.xml", "/forever.xml", "/quiet.xml"):
        assert veille("feeds", "add", web.url(path)).exit_code == 0
    assert veille("feeds", "add", web.url("/fixed.xml"), "--every", "5m").exit_code == 0

    assert veille("poll").exit_code == 0
    feeds = feeds_by_url(web)
    # 40 items in the last 40 minutes, counted over six hours: one every 9 minutes, polled every 4.5
    assert feeds["/busy.xml"]["interval"] == 270.0
    # as busy, but the server says its copy is good for two hours: not polled before
    assert feeds["/cached.xml"]["interval"] == 7200.0
    assert feeds["/cached.xml"]["every"] is None and feeds["/cached.xml"]["interval"] == 7200
    # a year's max-age: held at VEILLE_MAX_POLL_INTERVAL
    assert feeds["/forever.xml"]["interval"] == 3 * HOUR
    # nothing this month: slowing down, twice the 15-minute default
    assert feeds["/quiet.xml"]["interval"] == 1800.0
    # --every: fixed whatever the feed and its server say
    assert feeds["/fixed.xml"]["interval"] == 300.0
    assert feeds["/fixed.xml"]["interval_fixed"] is True
    assert feeds["/fixed.xml"]["interval_mode"] == "fixed" and feeds["/fixed.xml"]["every"] == "5m"
    for path, row in feeds.items():
        assert row["interval_mode"] == ("fixed" if path == "/fixed.xml" else "adaptive")
        assert waited(row) == pytest.approx(row["interval"], abs=0.001), path  # the next poll follows it

    # the second poll: 304s; one of them says, on the 304, to wait 20 minutes
    def busy_route(request: Request) -> Route:
        if request.headers.get("if-none-match") == '"busy-1"':
            return Route(b"", status=304, headers={"ETag": '"busy-1"', "Cache-Control": "max-age=1200"})
        return Route(rss(busy), "application/rss+xml", etag='"busy-1"')

    web.routes["/busy.xml"] = busy_route
    web.requests.clear()
    assert veille("poll").exit_code == 0
    assert len(web.hits("/busy.xml")) == len(web.hits("/quiet.xml")) == 1
    feeds = feeds_by_url(web)
    assert feeds["/busy.xml"]["last_status"] == feeds["/quiet.xml"]["last_status"] == "not modified"
    assert feeds["/busy.xml"]["interval"] == 1200.0
    assert feeds["/quiet.xml"]["interval"] == 3600.0  # still nothing new: twice as long again
    assert feeds["/fixed.xml"]["interval"] == 300.0
    for path, row in feeds.items():
        assert waited(row) == pytest.approx(row["interval"], abs=0.001), path

    # the busy feed publishes again, without the header: back to its own rhythm at once
    web.routes["/busy.xml"] = Route(rss(items("again", count=20, age=timedelta(seconds=30),
                                              step=timedelta(seconds=30)) + busy),
                                    "application/rss+xml", etag='"busy-2"')
    assert veille("poll").exit_code == 0
    assert feeds_by_url(web)["/busy.xml"]["interval"] == pytest.approx(6 * HOUR / 60 / 2)

    table = veille("feeds", "list")
    assert table.exit_code == 0 and "(fixed)" in table.stdout and "(adaptive)" in table.stdout
