"""A page that fails is retried with backoff, and logged when it starts failing and when that ends, not on
every poll. `veille poll` runs as a real process against pages on loopback that answer 503."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import HTTPFixture, Request, Route
from tests.helpers import rss, veille
from veille.storage.models import Article, utcnow

VEILLE = str(Path(sys.executable).with_name("veille"))

pytestmark = pytest.mark.usefixtures("veille_env")


def page(title: str, body: str) -> bytes:
    paragraphs = "".join(f"<p>{body} Paragraph {i} says a little more about it, in plain words.</p>" for i in range(4))
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{paragraphs}</article>"
            "</body></html>").encode()


def poll(env: dict[str, str]) -> str:
    done = subprocess.run([VEILLE, "poll"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def articles() -> dict[str, tuple[str, str | None, str | None]]:
    from veille import pipeline
    from veille.settings import get_settings

    get_settings.cache_clear()
    ctx = pipeline.make_context(get_settings())
    return ctx.db.run(lambda s: {a.url: (a.state, a.text_source, a.error) for a in s.scalars(select(Article))})


def retry_times() -> list[tuple[datetime, datetime]]:
    """(when the page last failed, when it may be fetched again) for each page waiting to be retried."""
    from veille import pipeline
    from veille.settings import get_settings

    get_settings.cache_clear()
    ctx = pipeline.make_context(get_settings())
    return ctx.db.run(lambda s: [(_utc(a.state_at), _utc(a.next_attempt_at)) for a in s.scalars(
        select(Article).where(Article.next_attempt_at.is_not(None)))])


def _utc(value: datetime | None) -> datetime:
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_a_failing_page_is_retried_with_backoff_and_logged_once_per_change(
    veille_env: dict[str, str], web: HTTPFixture
) -> None:
    answers = {"/flaky": 0, "/down": 0}

    def flaky(request: Request) -> Route:  # 503 twice, then the page
        answers["/flaky"] += 1
        if answers["/flaky"] <= 2:
            return Route(b"busy", "text/plain", 503)
        return Route(page("Moshi", "Kyutai publishes Moshi, a voice model."))

    def down(request: Request) -> Route:  # 503 for ever
        answers["/down"] += 1
        return Route(b"busy", "text/plain", 503)

    web.routes["/flaky"] = flaky  # type: ignore[assignment]
    web.routes["/down"] = down  # type: ignore[assignment]
    web.routes["/feed.xml"] = Route(rss([
        {"title": "Moshi", "link": web.url("/flaky"), "guid": "flaky"},
        {"title": "Helium", "link": web.url("/down"), "guid": "down",
         "description": "Kyutai publishes Helium, a small model."},
    ]), "application/rss+xml")
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    env = {**os.environ, **veille_env, "VEILLE_LOG_LEVEL": "INFO", "VEILLE_PAGE_RETRY": "5s"}

    def wait_until_due(delay: float) -> None:
        """Sleep until both pages may be fetched again, checking that the wait is ``delay`` (+10 % jitter)."""
        due = retry_times()
        assert all(delay - 0.5 <= (at - failed).total_seconds() <= delay * 1.1 + 0.5 for failed, at in due), due
        time.sleep(max(0.0, max((at - utcnow()).total_seconds() for _, at in due)) + 0.2)

    logs = [poll(env)]  # attempt 1: both fail
    assert answers == {"/flaky": 1, "/down": 1}
    logs.append(poll(env))  # too soon (a poll takes a second or two): neither is fetched again
    assert answers == {"/flaky": 1, "/down": 1}
    wait_until_due(5)
    logs.append(poll(env))  # attempt 2: both fail again
    assert answers == {"/flaky": 2, "/down": 2}
    logs.append(poll(env))  # the second wait is twice as long
    assert answers == {"/flaky": 2, "/down": 2}
    wait_until_due(10)
    logs.append(poll(env))  # attempt 3: one recovers, the other is given up
    assert answers == {"/flaky": 3, "/down": 3}
    logs.append(poll(env))
    assert answers == {"/flaky": 3, "/down": 3}  # done with, both

    lines = [line for text in logs for line in text.splitlines()]

    def count(words: str, url: str) -> int:
        return sum(1 for line in lines if words in line and url in line)

    for url in (web.url("/flaky"), web.url("/down")):
        assert count("page fetch failed", url) == 1, lines  # once, when it started failing
    assert count("page fetched at attempt 3", web.url("/flaky")) == 1, lines
    assert count("page given up", web.url("/down")) == 1, lines
    assert count("page given up", web.url("/flaky")) == 0 and count("page fetched", web.url("/down")) == 0
    found = articles()
    assert found[web.url("/flaky")] == ("matched", "page", None)
    state, source, error = found[web.url("/down")]
    assert (state, source) == ("matched", "feed-only") and "503" in (error or "")
    matched = {m["url"] for m in veille("matches", "--json").json()}
    assert matched == {web.url("/flaky"), web.url("/down")}
