"""The settings page in a real browser (Chromium driven by Playwright) against `veille web` as a process: an
API token shown once (and working on /api/v1/me), listed, revoked after a confirmation (refused at once);
another user added, who can sign in; your own password changed (the current one checked, the new one typed
twice), which ends your other sessions but not this one; a POST without its CSRF token is refused. And the
operation under it, accounts.change_password."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import browser, page, problems, sign_in  # noqa: F401 (fixtures)
from tests.test_pages import PASSWORD, site  # noqa: F401 (fixture)
from tests.webserver import Web
from veille.manage import InvalidError, accounts
from veille.storage.db import Database

NEW_PASSWORD = "a longer one this time"


def test_an_api_token_is_shown_once_works_and_is_revoked(site: Web, page: Page) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_text("No API token.")).to_be_visible()
    page.get_by_label("New token's name").fill("dashboard")
    page.get_by_role("button", name="Create a token").click()
    expect(page.get_by_text("copy it now, it will not be shown again")).to_be_visible()
    token = page.get_by_label("Token", exact=True).input_value()
    assert len(token) >= 32
    expect(page.locator("#token-dashboard")).to_contain_text("never")  # not used yet

    with httpx.Client(base_url=site.url, trust_env=False) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json() == {"via": "token", "user": "alice", "token": "dashboard"}

        page.goto(f"{site.url}/settings")
        assert token not in page.content()  # never shown again
        expect(page.locator("#token-dashboard")).not_to_contain_text("never")  # last used: just now

        # the same name again is refused next to the field
        page.get_by_label("New token's name").fill("dashboard")
        page.get_by_role("button", name="Create a token").click()
        expect(page.locator("#e-token_name")).to_contain_text("a token named 'dashboard' already exists")

        page.get_by_role("link", name="Revoke dashboard").click()
        expect(page.get_by_text("Revoke the API token dashboard?")).to_be_visible()
        page.get_by_role("button", name="Revoke the token").click()
        expect(page.get_by_role("status")).to_contain_text("Token dashboard revoked.")
        expect(page.get_by_text("No API token.")).to_be_visible()
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert problems(page, expected=(422,)) == []  # the refused name answered 422


def test_add_a_user_and_change_your_own_password(site: Web, page: Page, browser: Browser) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    other = browser.new_context()  # alice signed in elsewhere too
    elsewhere = other.new_page()
    sign_in(elsewhere, site.url, password=PASSWORD)

    page.goto(f"{site.url}/settings")
    page.locator("#f-user_name").fill("bob")
    page.locator("#f-user_password").fill("bob's password")
    page.locator("#f-user_again").fill("bob's passwort")
    page.get_by_role("button", name="Add the user").click()
    expect(page.locator("#e-user_again")).to_contain_text("the two passwords differ")
    expect(page.locator("#f-user_name")).to_have_value("bob")
    page.locator("#f-user_password").fill("bob's password")
    page.locator("#f-user_again").fill("bob's password")
    page.get_by_role("button", name="Add the user").click()
    expect(page.get_by_role("status")).to_contain_text("Added user bob")
    expect(page.get_by_role("cell", name="bob", exact=True)).to_be_visible()

    # the current password is checked; the new one typed twice and checked like any
    page.get_by_label("Current password").fill("not it at all")
    page.locator("#f-new").fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change my password").click()
    expect(page.locator("#e-current")).to_contain_text("that is not your current password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.locator("#f-new").fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Change my password").click()
    expect(page.locator("#e-new")).to_contain_text("at least 8 characters")
    page.get_by_label("Current password").fill(PASSWORD)
    page.locator("#f-new").fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change my password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")

    page.goto(f"{site.url}/feeds")  # this session goes on
    expect(page).to_have_url(f"{site.url}/feeds")
    elsewhere.goto(f"{site.url}/feeds")  # the other one is signed out
    expect(elsewhere).to_have_url(f"{site.url}/login?next=/feeds")
    other.close()

    page.get_by_role("button", name="Sign out alice").click()
    page.get_by_label("Name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong name or password")  # the old one no longer works
    sign_in(page, site.url, password=NEW_PASSWORD)
    page.get_by_role("button", name="Sign out alice").click()
    sign_in(page, site.url, name="bob", password="bob's password")
    assert problems(page, expected=(401, 422)) == []  # a refused sign-in is 401, a refused form 422


def test_a_settings_form_posted_without_its_csrf_token_is_refused(site: Web, page: Page) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=site.url, cookies=cookies, trust_env=False) as client:
        for path, data in (("/settings/tokens", {"token_name": "stolen"}),
                           ("/settings/users", {"user_name": "mallory", "user_password": "x" * 12,
                                                "user_again": "x" * 12}),
                           ("/settings/password", {"current": PASSWORD, "new": "x" * 12, "new_again": "x" * 12})):
            assert client.post(path, data=data).status_code == 403, path
        page_text = client.get("/settings").text
        assert "No API token." in page_text and "mallory" not in page_text
    assert "stolen" not in site.veille("tokens", "list").stdout


# --------------------------------------------------------------------------- the operation under the form


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


def test_change_password_checks_the_current_one_and_gives_the_new_stamp(db: Database) -> None:
    accounts.add_user(db, name="alice", password=PASSWORD)
    before = accounts.verify_password(db, name="alice", password=PASSWORD)
    assert before is not None
    with pytest.raises(InvalidError, match="not your current password") as wrong:
        accounts.change_password(db, name="alice", current="guess guess", new=NEW_PASSWORD)
    assert wrong.value.field == "current"
    with pytest.raises(InvalidError, match="at least 8") as short:
        accounts.change_password(db, name="alice", current=PASSWORD, new="short")
    assert short.value.field == "password"
    assert accounts.verify_password(db, name="alice", password=PASSWORD) is not None  # unchanged so far

    after = accounts.change_password(db, name="alice", current=PASSWORD, new=NEW_PASSWORD)
    assert after.id == before.id and after.stamp != before.stamp
    assert accounts.session_user(db, user_id=after.id, stamp=after.stamp) == after  # this session goes on
    assert accounts.session_user(db, user_id=before.id, stamp=before.stamp) is None  # older ones end
    assert accounts.verify_password(db, name="alice", password=PASSWORD) is None
    assert accounts.verify_password(db, name="alice", password=NEW_PASSWORD) is not None
    with pytest.raises(InvalidError):  # the old one is no longer current
        accounts.change_password(db, name="alice", current=PASSWORD, new="yet another one")
