"""The web page in a real browser (Chromium driven by Playwright) against `veille web` as a process: sign in,
the overview, CSRF, sign out; pages safe by construction."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser import browser, page, problems, sign_in  # noqa: F401 (fixtures)
from tests.webserver import Web

PASSWORD = "correct horse battery"


@pytest.fixture
def site(make_web: Callable[..., Web]) -> Web:
    web = make_web().start()
    done = web.veille("users", "add", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return web


def test_sign_in_see_the_overview_and_sign_out(site: Web, page: Page) -> None:  # noqa: F811
    page.goto(f"{site.url}/")
    expect(page).to_have_url(f"{site.url}/login?next=/")  # a page without a session: to /login
    page.get_by_label("Name").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong name or password")

    sign_in(page, site.url, password=PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_text("never started")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "veille_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain HTTP here

    page.get_by_role("button", name="Sign out alice").click()
    expect(page).to_have_url(f"{site.url}/login")
    page.goto(f"{site.url}/")
    expect(page).to_have_url(f"{site.url}/login?next=/")
    assert problems(page, expected=(401,)) == []  # no script error, no CSP violation


def test_a_post_without_the_csrf_token_is_refused(site: Web, page: Page) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=site.url, cookies=cookies, trust_env=False) as client:
        refused = client.post("/logout", data={})
        assert refused.status_code == 403
        assert client.get("/", follow_redirects=False).status_code == 200  # still signed in
