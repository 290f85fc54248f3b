"""The channels page in a real browser (Chromium driven by Playwright) against `veille web` as a process, with
a loopback receiver: add a webhook channel with a test first (refused while the receiver fails), send a test
and see "ok", then the receiver's 404 as the channel's exact answer; pause and resume; remove after the
confirmation, which names the entity routed to it; a POST without its CSRF token is refused."""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import Page, expect

from tests.browser import browser, page, problems, sign_in  # noqa: F401 (fixtures)
from tests.conftest import HTTPFixture, Route
from tests.test_pages import PASSWORD, site  # noqa: F401 (fixture)
from tests.webserver import Web


def test_add_a_channel_test_it_ok_then_failing_pause_and_remove(site: Web, web: HTTPFixture,  # noqa: F811
                                                                page: Page) -> None:  # noqa: F811
    web.routes["/hook/XyZsecret"] = Route(b"gone", "text/plain", 404)
    sign_in(page, site.url, password=PASSWORD)
    page.get_by_role("link", name="Channels").click()
    expect(page.get_by_text("No channel yet")).to_be_visible()

    # "send a test first" (checked by default): the receiver answers 404, so nothing is added
    page.get_by_label("Kind", exact=True).select_option("webhook")
    page.get_by_label("Target").fill(web.url("/hook/XyZsecret"))
    page.locator("#f-name").fill("ops")
    page.get_by_role("button", name="Add the channel").click()
    expect(page.locator("#e-target")).to_contain_text(
        "the sample alert did not arrive, so the channel was not added: webhook: HTTP 404")
    expect(page.get_by_text("No channel yet")).to_be_visible()
    expect(page.get_by_label("Target")).to_have_value(web.url("/hook/XyZsecret"))  # kept as typed

    web.routes["/hook/XyZsecret"] = Route(b"", "text/plain", 204)
    page.get_by_role("button", name="Add the channel").click()
    expect(page.get_by_role("status")).to_contain_text("Added channel ops (webhook)")
    expect(page.get_by_role("status")).to_contain_text("the sample alert arrived")
    ops = page.locator("#channel-ops")
    expect(ops).to_contain_text("webhook")
    expect(ops).to_contain_text("each alert as it comes")
    expect(ops).not_to_contain_text("XyZsecret")  # the target redacted
    assert "XyZsecret" not in page.content()

    # send a test: ok
    page.get_by_role("button", name="Send a test to ops").click()
    expect(page.get_by_role("status")).to_contain_text("Test sent to ops: ok")
    expect(ops).to_contain_text("ok")
    sample = json.loads(web.hits("/hook/XyZsecret", "POST")[-1].body)
    assert "veille test alert" in json.dumps(sample)

    # the receiver now answers 404: its exact answer is shown, and the channel is failing
    web.routes["/hook/XyZsecret"] = Route(b"no such hook", "text/plain", 404)
    page.get_by_role("button", name="Send a test to ops").click()
    expect(page.get_by_role("alert")).to_contain_text("Test sent to ops: failed: webhook: HTTP 404")
    expect(ops).to_contain_text("failing")
    expect(ops.locator(".error-text")).to_contain_text("HTTP 404")
    assert len(web.hits("/hook/XyZsecret", "POST")) == 4

    # pause for a day, then resume
    ops.get_by_text("Pause…").click()
    ops.get_by_label("1 day").check()
    ops.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status")).to_contain_text("Channel ops paused until")
    expect(ops).to_contain_text("paused until")
    page.get_by_role("button", name="Resume ops").click()
    expect(page.get_by_role("status")).to_contain_text("Channel ops resumed")
    expect(ops).not_to_contain_text("paused")

    # remove: the confirmation names the entity routed to it alone
    tracked = site.veille("track", "add", "Kyutai", "--to", "ops")
    assert tracked.returncode == 0, tracked.stderr
    page.get_by_role("link", name="Remove ops").click()
    expect(page.get_by_text("Remove channel ops (webhook)? Kyutai is routed to it alone")).to_be_visible()
    page.get_by_role("button", name="Remove the channel").click()
    expect(page.get_by_role("status")).to_contain_text("Removed channel ops.")
    expect(page.get_by_role("status")).to_contain_text("Kyutai: no longer routed to ops; it now alerts every channel")
    expect(page.get_by_text("No channel yet")).to_be_visible()
    assert problems(page, expected=(422,)) == []  # the refused add answered 422


def test_a_channels_form_posted_without_its_csrf_token_is_refused(site: Web, web: HTTPFixture,  # noqa: F811
                                                                  page: Page) -> None:  # noqa: F811
    web.routes["/hook"] = Route(b"", "text/plain", 204)
    sign_in(page, site.url, password=PASSWORD)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=site.url, cookies=cookies, trust_env=False) as client:
        refused = client.post("/channels", data={"kind": "webhook", "target": web.url("/hook"), "test": "on"})
        assert refused.status_code == 403
        assert "No channel yet" in client.get("/channels").text
    assert web.requests == []
