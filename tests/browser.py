"""A real browser for the page tests: Debian's Chromium driven by Playwright (`make test` installs both).

A browser test never skips: when Chromium can't start, the fixture's error fails the test, so CI can't pass
without the pages having been driven for real. ``VEILLE_TEST_CHROMIUM`` names another binary."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("VEILLE_TEST_CHROMIUM", "/usr/bin/chromium")
# as root, without the sandbox; without background networking (this machine's network is closed)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module. Not for the whole session: Playwright's sync API keeps its event loop
    running in the main thread while it is started, so a test of another module that runs asyncio in the
    test process would fail ("asyncio.run() cannot be called from a running event loop"), and two modules
    importing this fixture would each start Playwright, which can't run twice at once."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookie from another test) and its page; console errors are collected on
    ``page.errors`` (a Content-Security-Policy violation shows up there)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.errors = errors  # type: ignore[attr-defined]  # see problems()
    yield opened
    context.close()


def sign_in(page: Page, base_url: str, name: str = "alice", password: str = "correct horse battery") -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


def problems(page: Page, *, expected: tuple[int, ...] = ()) -> list[str]:
    """The page's script errors and CSP violations; a resource that answered with an ``expected`` status
    (a refused sign-in is a 401) is not one."""
    answered = tuple(f"status of {status} " for status in expected)
    errors: list[str] = page.errors  # type: ignore[attr-defined]
    return [e for e in errors if not (e.startswith("Failed to load resource") and any(a in e for a in answered))]
