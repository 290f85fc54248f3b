"""The entities pages in a real browser (Chromium driven by Playwright) against `veille web` as a process, with
articles stored by `veille poll` from a loopback feed: add an entity through the form while the preview says
what it would have matched (the Mistral AI lab, and the mistral wind vetoed by an exclusion), save, edit,
pause, resume, remove; the same with JavaScript off, through the Preview and Save buttons."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser import browser, page, problems, sign_in  # noqa: F401 (fixtures)
from tests.conftest import HTTPFixture, Route
from tests.helpers import rss
from tests.test_track_cli import ARTICLES
from tests.webserver import Web
from veille.clock import utcnow

PASSWORD = "correct horse battery"
WIND, LAB, LLAMA = "/meteo/mistral-provence", "/ia/mistral-llm", "/tech/meta-llama"


def title(path: str) -> str:
    return ARTICLES[path][0]


@pytest.fixture
def site(make_web: Callable[..., Web], web: HTTPFixture) -> Web:
    """`veille web` with a user, a channel, and three stored articles: the Mistral lab's new model, the mistral
    wind over Provence, Llama (which mentions neither)."""
    items = [{"title": title(p), "link": web.url(p), "guid": p} for p in (WIND, LAB, LLAMA)]
    web.routes["/rss.xml"] = Route(rss(items), "application/rss+xml")
    for path in (WIND, LAB, LLAMA):
        web.routes[path] = Route(ARTICLES[path][1], "text/html; charset=utf-8")
    web.routes["/slack"] = Route(b"ok", "text/plain")
    server = make_web().start()
    for args in (("users", "add", "alice", "--password-stdin"), ("feeds", "add", web.url("/rss.xml")),
                 ("channels", "add", "slack", web.url("/slack"), "--name", "research"),
                 ("channels", "add", "slack", web.url("/slack"), "--name", "press"), ("poll",)):
        done = server.veille(*args, input=PASSWORD + "\n")
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return server


@pytest.fixture
def no_js(browser: Browser) -> Iterator[Page]:  # noqa: F811
    """A page in a browser context with JavaScript disabled."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.errors = errors  # type: ignore[attr-defined]
    yield opened
    context.close()


def tracked(site: Web) -> list[dict[str, Any]]:
    done = site.veille("track", "list", "--json")
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def field(tab: Page, label: str) -> Locator:
    """The field whose label starts with ``label`` (a label goes on with its hint)."""
    return tab.get_by_label(re.compile(rf"^{re.escape(label)}( |$)"))


@contextlib.contextmanager
def previewed(tab: Page) -> Iterator[None]:
    """Wait for the preview that what the block does to the form asks for."""
    with tab.expect_response(lambda r: r.url.endswith("/entities/preview") and r.request.method == "POST"):
        yield


def preview_hits(tab: Page) -> Locator:
    return tab.locator("#preview li.hit")


def preview_vetoed(tab: Page) -> Locator:
    return tab.locator("#preview li.vetoed")


def test_add_an_entity_with_its_live_preview_edit_pause_resume_and_remove_it(site: Web, page: Page) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    page.get_by_role("link", name="Entities").click()
    expect(page.get_by_role("heading", name="Entities")).to_be_visible()
    page.get_by_role("link", name="Add an entity").click()
    expect(page).to_have_url(f"{site.url}/entities/new")

    # the preview follows what is typed
    field(page, "Name").fill("Mistral AI")
    expect(page.locator("#preview")).to_contain_text("0 stored articles of the last 30 days would have matched")
    field(page, "Aliases").fill("Mistral")
    expect(page.locator("#preview")).to_contain_text("2 stored articles of the last 30 days would have matched")
    expect(preview_hits(page)).to_have_count(2)
    field(page, "Exclusions").fill("vent")
    expect(page.locator("#preview")).to_contain_text("1 stored article of the last 30 days would have matched")
    expect(preview_hits(page)).to_have_count(1)
    expect(preview_hits(page).first).to_contain_text(title(LAB))
    expect(preview_hits(page).first.locator("strong")).to_have_text("Mistral")  # the hit, highlighted
    expect(preview_vetoed(page)).to_have_count(1)
    expect(preview_vetoed(page).first).to_contain_text(f'{title(WIND)}: excluded by "vent"')
    expect(page.locator("#preview")).not_to_contain_text(title(LLAMA))

    # a query that can't be parsed: its error next to the query field, as the user typed it kept
    field(page, "Query").fill('"Mistral AI" OR')
    expect(page.locator("#preview")).to_contain_text("Query: OR needs a word or phrase after it (at position 13)")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#e-query")).to_have_text("OR needs a word or phrase after it (at position 13)")
    expect(field(page, "Query")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "Query")).to_have_value('"Mistral AI" OR')
    expect(field(page, "Exclusions")).to_have_value("vent")
    assert tracked(site) == []

    for action in (lambda: field(page, "Query").fill(""), lambda: field(page, "research").check(),
                   lambda: field(page, "Backfill").fill("7d")):
        with previewed(page):  # each change, its preview: none is cut short by the next page
            action()
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"{site.url}/entities/\d+$"))
    expect(page.get_by_role("status")).to_contain_text(
        "Now tracking Mistral AI. Backfill 7d: 1 of 3 stored articles matched, 1 new alert.")
    (saved,) = tracked(site)
    assert (saved["aliases"], saved["exclude"], saved["to"], saved["matches"]) == (["Mistral"], ["vent"],
                                                                                   ["research"], 1)

    # edit: the page opens with the saved definition's preview, which follows the changes
    expect(preview_hits(page)).to_have_count(1)
    field(page, "Exclusions").fill("")
    expect(preview_hits(page)).to_have_count(2)
    expect(preview_vetoed(page)).to_have_count(0)
    field(page, "Context words").fill("LLM, modèle")
    expect(preview_hits(page)).to_have_count(1)
    expect(preview_vetoed(page).first).to_contain_text(f"{title(WIND)}: no context word (LLM, modèle)")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved Mistral AI.")
    (edited,) = tracked(site)
    assert (edited["id"], edited["exclude"], edited["require"]) == (saved["id"], [], ["LLM", "modèle"])
    assert edited["matches"] == 1  # an edit keeps the matches

    # pause for 7 days: /entities says until when; resume from there
    expect(preview_hits(page)).to_have_count(1)  # the saved definition's preview, loaded with the page
    before = utcnow()
    page.get_by_role("button", name="Pause for 7 days").click()
    after = utcnow()
    expect(page.get_by_role("status")).to_contain_text("Mistral AI is paused until")
    page.get_by_role("link", name="Entities", exact=True).first.click()
    row = page.locator(f"#entity-{saved['id']}")
    ends = {f"paused until {t + timedelta(days=7):%Y-%m-%d %H:%M} UTC" for t in (before, after)}
    expect(row).to_contain_text(re.compile("|".join(map(re.escape, ends))))
    expect(row.locator("td").nth(2)).to_have_text("1")  # matches of the last 7 days
    expect(row.locator("td").nth(3)).to_have_text("1")  # and of the last 30
    assert tracked(site)[0]["paused"] is True
    row.get_by_role("button", name="Resume Mistral AI").click()
    expect(page.get_by_role("status")).to_contain_text("Mistral AI is tracked again.")
    expect(page.locator(f"#entity-{saved['id']}")).to_contain_text("active")
    assert tracked(site)[0]["paused"] is False

    # remove: the browser asks, saying what goes with it
    page.get_by_role("link", name="Edit Mistral AI").click()
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    expect(preview_hits(page)).to_have_count(1)
    page.once("dialog", accept)
    page.get_by_role("button", name="Remove Mistral AI…").click()
    expect(page).to_have_url(f"{site.url}/entities")
    expect(page.get_by_role("status")).to_contain_text("Stopped tracking Mistral AI; its 1 match went with it.")
    assert asked == ["Stop tracking Mistral AI? Its 1 match goes with it; the articles and the alerts already sent "
                     "stay."]
    assert tracked(site) == []
    assert problems(page, expected=(422,)) == []  # no script error, no CSP violation


def test_the_entity_form_works_without_javascript(site: Web, no_js: Page) -> None:
    tab = no_js
    sign_in(tab, site.url, password=PASSWORD)
    tab.goto(f"{site.url}/entities/new")
    expect(tab.locator("#preview")).to_contain_text("shows here as you type (or with the Preview button)")
    field(tab, "Name").fill("Mistral AI")
    field(tab, "Aliases").fill("Mistral")
    field(tab, "Exclusions").fill("vent")
    tab.get_by_role("button", name="Preview").click()
    expect(preview_hits(tab)).to_have_count(1)
    expect(preview_hits(tab).first).to_contain_text(title(LAB))
    expect(preview_vetoed(tab).first).to_contain_text(f'{title(WIND)}: excluded by "vent"')
    expect(field(tab, "Aliases")).to_have_value("Mistral")  # what was typed, kept

    field(tab, "Query").fill("(Mistral")
    tab.get_by_role("button", name="Save").click()
    expect(tab.locator("#e-query")).to_contain_text("never closed")
    expect(field(tab, "Query")).to_have_value("(Mistral")
    field(tab, "Minimum mentions").fill("0")
    field(tab, "Query").fill("")
    tab.get_by_role("button", name="Save").click()
    expect(tab.locator("#e-min_mentions")).to_have_text("must be 1 or more")
    assert tracked(site) == []

    field(tab, "Minimum mentions").fill("1")
    field(tab, "press").check()
    tab.get_by_role("button", name="Save").click()
    expect(tab).to_have_url(re.compile(rf"{site.url}/entities/\d+$"))
    expect(tab.get_by_role("status")).to_contain_text("Now tracking Mistral AI.")
    expect(field(tab, "press")).to_be_checked()
    expect(field(tab, "research")).not_to_be_checked()
    edit_url = tab.url

    # the form is the whole definition: a bare name previews itself, not the tracked entity of that name
    tab.goto(f"{site.url}/entities/new")
    field(tab, "Name").fill("Mistral AI")
    tab.get_by_role("button", name="Preview").click()
    expect(tab.locator("#preview")).to_contain_text("0 stored articles of the last 30 days would have matched")
    tab.get_by_role("button", name="Save").click()
    expect(tab.locator("#e-name")).to_have_text("already tracked: Mistral AI")
    tab.goto(edit_url)

    # edit: Preview shows the changed definition's matches; Save keeps them
    field(tab, "Exclusions").fill("")
    tab.get_by_role("button", name="Preview").click()
    expect(preview_hits(tab)).to_have_count(2)
    assert tracked(site)[0]["exclude"] == ["vent"]  # a preview saves nothing
    field(tab, "Name").fill("Mistral")
    tab.get_by_role("button", name="Save").click()
    expect(tab.get_by_role("status")).to_contain_text("Saved Mistral.")
    (saved,) = tracked(site)
    assert (saved["name"], saved["exclude"], saved["to"]) == ("Mistral", [], ["press"])

    # pause until a date, then a date that has passed is refused next to the date field
    day = (utcnow() + timedelta(days=10)).date()
    field(tab, "Pause until").fill(day.isoformat())
    tab.get_by_role("button", name="Pause until this date").click()
    expect(tab.get_by_role("status")).to_contain_text(f"Mistral is paused until {day.isoformat()} 00:00 UTC")
    field(tab, "Pause until").fill("2001-01-01")
    tab.get_by_role("button", name="Pause until this date").click()
    expect(tab.locator("#e-until")).to_contain_text("has already passed")
    tab.goto(f"{site.url}/entities")
    expect(tab.locator(f"#entity-{saved['id']}")).to_contain_text(f"paused until {day.isoformat()} 00:00 UTC")

    # remove: without JavaScript, a confirmation page says what goes with it
    tab.get_by_role("link", name="Edit Mistral").click()
    tab.get_by_role("button", name="Remove Mistral…").click()
    expect(tab.get_by_role("heading", name="Remove Mistral?")).to_be_visible()
    expect(tab.get_by_text("Stop tracking Mistral? It has no match yet.")).to_be_visible()
    assert len(tracked(site)) == 1  # not yet
    tab.get_by_role("button", name="Remove Mistral", exact=True).click()
    expect(tab).to_have_url(f"{site.url}/entities")
    expect(tab.get_by_role("status")).to_contain_text("Stopped tracking Mistral.")
    assert tracked(site) == []
    assert problems(tab, expected=(422,)) == []  # the refused saves answered 422; nothing else went wrong


def test_entity_forms_refuse_a_post_without_the_csrf_token(site: Web, page: Page) -> None:  # noqa: F811
    sign_in(page, site.url, password=PASSWORD)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    form = {"name": "Kyutai", "action": "save"}
    with httpx.Client(base_url=site.url, cookies=cookies, trust_env=False) as client:
        assert client.post("/entities/new", data=form).status_code == 403
        assert client.post("/entities/preview", data=form).status_code == 403
        assert tracked(site) == []
        page.goto(f"{site.url}/entities/new")
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        assert token
        done = client.post("/entities/new", data={**form, "csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303, done.text  # the same form with its token
        (saved,) = tracked(site)
        for path in (f"/entities/{saved['id']}", f"/entities/{saved['id']}/pause", f"/entities/{saved['id']}/remove"):
            assert client.post(path, data={"for": "7d", "confirmed": "yes"}).status_code == 403, path
        assert tracked(site)[0]["paused"] is False
        assert client.get("/entities/999999").status_code == 404


def test_match_counts_are_of_the_last_7_and_30_days(database_url: str) -> None:
    """The numbers /entities shows, from one grouped query: a match 3 days old counts in both, one 20 days old
    in the 30 days only, one 40 days old in neither."""
    from veille.manage import entities
    from veille.storage.db import Database
    from veille.storage.models import Article, Entity, Match

    db = Database(database_url)
    db.upgrade()
    now = utcnow()

    def stock(s: Any) -> tuple[int, int]:
        kyutai, mistral = Entity(name="Kyutai", name_key="kyutai"), Entity(name="Mistral", name_key="mistral")
        s.add_all([kyutai, mistral])
        s.flush()
        for n, (entity, age) in enumerate([(kyutai, 3), (kyutai, 20), (kyutai, 40), (mistral, 29)]):
            article = Article(url=f"https://example.org/{n}", url_key=f"example.org/{n}", title=f"article {n}")
            s.add(article)
            s.flush()
            s.add(Match(article_id=article.id, entity_id=entity.id, term=entity.name, snippet="",
                        matched_at=now - timedelta(days=age)))
        return kyutai.id, mistral.id

    kyutai, mistral = db.run(stock)
    counts = entities.match_counts(db, now=now)
    assert counts == {kyutai: entities.RecentMatches(week=1, month=2), mistral: entities.RecentMatches(0, 1)}
    later = entities.match_counts(db, now=now + timedelta(days=12))  # the windows follow `now`
    assert later == {kyutai: entities.RecentMatches(0, 1)}
    db.dispose()
