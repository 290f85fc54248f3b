"""The overview, /matches, /matches/{id} and /explain in a real browser (Chromium driven by Playwright) against
`veille web` as a process, after a real poll of loopback feeds and pages: what was found, filtered and searched,
why it matched and where its alert went; the service's heartbeat; failing feeds; text from feeds shown as text."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import browser, page, problems, sign_in  # noqa: F401 (fixtures)
from tests.conftest import HTTPFixture, Route
from tests.helpers import rss
from tests.webserver import Web

PASSWORD = "correct horse battery"
XSS = "<img src=x onerror=alert(1)>"
FILLER = ("Les chercheurs publient le code et les poids du système en accès libre, comme ils l'avaient promis "
          "lors de la création du laboratoire à Paris il y a deux ans, et leurs résultats sont publics.")


def article(title: str, body: str) -> bytes:
    from html import escape

    return (f'<html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title></head><body><article>'
            f"<h1>{escape(title)}</h1><p>{escape(body)}</p><p>{FILLER}</p></article></body></html>").encode()


PAGES = {
    "/moshi": ("Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi, un modèle vocal en accès libre.", None),
    "/fonds": ("Une levée de fonds record", "La start-up lève six cents millions d'euros auprès de ses investisseurs.",
               "<p>Mistral AI lève des fonds.</p>"),  # the entity is named in the feed's summary only
    "/vent": ("Le vent souffle", "Le mistral, ce vent du nord, souffle fort sur la Provence cette semaine.", None),
    "/xss": (XSS, "Kyutai répond aux questions des journalistes sur son nouveau modèle de langue.", None),
}


@dataclass
class Polled:
    site: Web
    pages: HTTPFixture


@pytest.fixture
def site(make_web: Callable[..., Web]) -> Web:
    web = make_web().start()
    done = web.veille("users", "add", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return web


def run(site: Web, *args: str) -> str:
    done = site.veille(*args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture
def polled(site: Web, web: HTTPFixture) -> Polled:
    """One feed of four pages (one titled like an HTML tag, one item linking to javascript:), a feed that
    fails, Kyutai and Mistral AI (alias Mistral, excluded by "vent") tracked, a webhook channel; one poll."""
    items = []
    for path, (title, body, summary) in PAGES.items():
        web.routes[path] = Route(article(title, body))
        items.append({"title": title, "link": web.url(path), "guid": path, "description": summary})
    items.append({"title": "Kyutai en bref", "link": "javascript:alert(1)", "guid": "js",
                  "description": "Kyutai, en bref, dans un lien qui n'en est pas un."})
    web.routes["/feed.xml"] = Route(rss(items, title="Le Journal"), "application/rss+xml")
    web.routes["/broken.xml"] = Route(rss([], title="Broken"), "application/rss+xml")
    web.routes["/hook"] = Route(b"ok", "text/plain")
    run(site, "feeds", "add", web.url("/feed.xml"))
    run(site, "feeds", "add", web.url("/broken.xml"))
    web.routes["/broken.xml"] = Route(b"gone for maintenance", "text/plain", 503)
    run(site, "track", "add", "Kyutai")
    run(site, "track", "add", "Mistral AI", "--alias", "Mistral", "--exclude", "vent")
    run(site, "channels", "add", "webhook", web.url("/hook"), "--name", "hook")
    run(site, "poll")
    return Polled(site, web)


def no_dialog(tab: Page) -> list[str]:
    """Every alert/confirm/prompt a page opens (none must: feed text is never markup)."""
    opened: list[str] = []
    tab.on("dialog", lambda dialog: (opened.append(dialog.message), dialog.dismiss()))
    return opened


# --------------------------------------------------------------------------- the overview


def test_the_overview_after_a_poll(polled: Polled, page: Page) -> None:  # noqa: F811
    site = polled.site
    sign_in(page, site.url, password=PASSWORD)
    alerts = page.locator("table").filter(has_text="Entity").first
    row = alerts.locator("tr").filter(has_text="Kyutai ouvre Moshi")
    expect(row).to_contain_text("Kyutai")
    expect(row).to_contain_text("Le Journal")
    expect(row.locator("time")).to_have_text(re.compile(r"^\d+ (s|min) ago$"))
    expect(row.get_by_role("link", name="Kyutai ouvre Moshi")).to_have_attribute("href", polled.pages.url("/moshi"))
    expect(alerts.locator("tr").filter(has_text="Une levée de fonds record")).to_contain_text("Mistral AI")
    expect(page.get_by_text("Le vent souffle")).to_have_count(0)  # vetoed: no alert

    failing = page.locator("#failing + .table-wrap")
    expect(failing).to_contain_text("Broken")
    expect(failing).to_contain_text("503")
    expect(failing.locator("tr").filter(has_text="Le Journal")).to_have_count(0)

    chart = page.locator("figure.chart")
    expect(chart.locator("svg polyline")).to_have_count(2)
    expect(chart.locator("figcaption")).to_contain_text("Kyutai (3)")
    expect(chart.locator("figcaption")).to_contain_text("Mistral AI (1)")
    expect(page.get_by_text("not running")).to_be_visible()  # no heartbeat yet
    assert problems(page) == []


def test_the_overview_says_whether_the_service_runs(site: Web, page: Page) -> None:  # noqa: F811
    from veille.clock import utcnow
    from veille.manage import status
    from veille.storage.db import database

    db = database(site.env["VEILLE_DATABASE_URL"])
    try:
        status.record_heartbeat(db, name=status.BEAT, kind="beat", now=utcnow() - timedelta(hours=3))
        sign_in(page, site.url, password=PASSWORD)
        card = page.locator(".card").filter(has_text="Service")
        expect(card).to_contain_text("not running (last seen 3 h ago)")

        now = utcnow()
        status.record_heartbeat(db, name=status.BEAT, kind="beat", now=now)
        status.record_heartbeat(db, name="worker@host:12", kind="worker", host="host", pid=12, now=now)
        page.reload()
        expect(card.locator(".badge")).to_have_text("running")
        expect(card).to_contain_text(re.compile(r"running, beat \d+ s ago"))
        expect(page.get_by_text("No match in the last 30 days.")).to_be_visible()
    finally:
        db.dispose()
    assert problems(page) == []


# --------------------------------------------------------------------------- text from feeds is text


def test_a_title_that_looks_like_html_is_text_and_a_javascript_link_no_link(polled: Polled, page: Page) -> None:  # noqa: F811
    site = polled.site
    opened = no_dialog(page)
    sign_in(page, site.url, password=PASSWORD)
    for path in ("/", "/matches"):
        page.goto(f"{site.url}{path}")
        expect(page.get_by_text(XSS).first).to_be_visible()
        expect(page.get_by_text("Kyutai en bref").first).to_be_visible()
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("a[href^='javascript']").count() == 0
    page.get_by_role("link", name=re.compile(r"Why it matched \(Kyutai: <img")).click()
    expect(page.get_by_role("heading", name=XSS, level=1)).to_be_visible()
    expect(page.get_by_text(XSS).first).to_be_visible()
    assert page.locator("img[src=x]").count() == 0
    page.goto(f"{site.url}/matches")
    page.get_by_role("link", name="Why it matched (Kyutai: Kyutai en bref)").click()
    expect(page.get_by_role("heading", name="Kyutai en bref", level=1)).to_be_visible()
    expect(page.get_by_text("javascript:alert(1)").first).to_be_visible()  # shown, not followed
    assert page.locator("a[href^='javascript']").count() == 0
    assert opened == []
    assert problems(page) == []


# --------------------------------------------------------------------------- /matches


def test_matches_filtered_searched_and_explained(polled: Polled, page: Page) -> None:  # noqa: F811
    site, pages = polled.site, polled.pages
    sign_in(page, site.url, password=PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Matches").click()
    expect(page).to_have_url(f"{site.url}/matches")
    rows = page.locator("li.match")
    expect(rows).to_have_count(4)
    expect(page.locator("#count")).to_contain_text("1–4 of 4 matches")
    moshi = rows.filter(has_text="Kyutai ouvre Moshi")
    expect(moshi.locator(".snippet strong")).to_have_text("Kyutai")
    expect(moshi.get_by_text("alerted")).to_be_visible()
    expect(moshi).to_contain_text("Le Journal")

    page.get_by_label("Entity").select_option("Mistral AI")  # htmx: the results change, the address too
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Une levée de fonds record")
    expect(page).to_have_url(re.compile(r"entity=Mistral(%20|\+)AI"))
    page.get_by_label("Entity").select_option("")

    page.get_by_label("Search").fill("modèle vocal")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Kyutai ouvre Moshi")
    page.get_by_label("Search").fill("introuvable")
    expect(page.locator("#count")).to_have_text("No match with these filters.")
    page.get_by_label("Search").fill("moshi")
    expect(rows).to_have_count(1)

    rows.first.get_by_role("link", name=re.compile("Why it matched")).click()
    expect(page).to_have_url(re.compile(r"/matches/\d+$"))
    expect(page.get_by_role("heading", name="Kyutai ouvre Moshi", level=1)).to_be_visible()
    kyutai = page.get_by_role("article", name="Kyutai")
    expect(kyutai.locator(".badge")).to_have_text("match")
    expect(kyutai.locator("tbody tr")).to_have_count(2)
    expect(kyutai.locator("tbody tr").filter(has_text="the page's title")).to_contain_text("mention")
    expect(kyutai.locator("tbody tr").filter(has_text="the text")).to_contain_text("Le laboratoire Kyutai publie")
    expect(page.locator(".readable mark").first).to_have_text("Kyutai")  # the hit marked in the extracted text
    sent = page.locator("section").filter(has=page.get_by_role("heading", name="Where the alert went"))
    expect(sent.locator("tbody tr")).to_contain_text(["hook"])
    expect(sent.locator("tbody tr").first).to_contain_text("sent")

    page.goto(f"{site.url}/matches?entity=Mistral+AI")  # found in the feed's summary only
    page.get_by_role("link", name=re.compile("Why it matched")).click()
    mistral = page.get_by_role("article", name="Mistral AI")
    expect(mistral.locator("tbody tr")).to_contain_text(["the feed's summary"])
    expect(page.get_by_role("heading", name="The feed's summary")).to_be_visible()
    assert all(request.path != "/fonds" for request in pages.requests[-3:])  # the page was not fetched again
    assert problems(page) == []

    missing = page.goto(f"{site.url}/matches/999999")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("heading", name="No such match")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("no match 999999")


def test_matches_without_javascript(polled: Polled, browser: Browser) -> None:  # noqa: F811
    site = polled.site
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, site.url, password=PASSWORD)
        page.goto(f"{site.url}/matches")
        page.get_by_label("Entity").select_option("Kyutai")
        page.get_by_label("Period").select_option("1d")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"/matches\?entity=Kyutai&feed=&since=1d&q=$"))
        expect(page.locator("li.match")).to_have_count(3)
        page.get_by_label("Search").fill("journalistes")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("li.match")).to_have_count(1)
        page.goto(f"{site.url}/matches?since=soon")
        expect(page.locator(".field-error")).to_contain_text("soon")
        page.goto(f"{site.url}/matches?entity=Nobody")
        expect(page.locator(".field-error")).to_contain_text("not tracked: Nobody")
    finally:
        context.close()


def test_pages_of_fifty(site: Web, web: HTTPFixture, page: Page) -> None:  # noqa: F811
    items = []
    for n in range(55):
        path = f"/a{n}"
        web.routes[path] = Route(article(f"Kyutai, épisode {n}", f"Kyutai publie le numéro {n} de sa série "
                                         f"d'articles sur les modèles, avec des détails sur le sujet {n * 7919}."))
        items.append({"title": f"Kyutai, épisode {n}", "link": web.url(path), "guid": path})
    web.routes["/feed.xml"] = Route(rss(items, title="La Série"), "application/rss+xml")
    run(site, "feeds", "add", web.url("/feed.xml"))
    run(site, "track", "add", "Kyutai")
    run(site, "poll")
    sign_in(page, site.url, password=PASSWORD)
    page.goto(f"{site.url}/matches")
    expect(page.locator("li.match")).to_have_count(50)
    expect(page.locator("#count")).to_have_text("1–50 of 55 matches")
    expect(page.get_by_role("link", name="← Newer")).to_have_count(0)
    page.get_by_role("link", name="Older →").click()
    expect(page).to_have_url(f"{site.url}/matches?offset=50")
    expect(page.locator("li.match")).to_have_count(5)
    expect(page.locator("#count")).to_have_text("51–55 of 55 matches")
    page.get_by_role("link", name="← Newer").click()
    expect(page.locator("li.match")).to_have_count(50)
    assert problems(page) == []


# --------------------------------------------------------------------------- /explain


def test_explain_any_page(polled: Polled, page: Page) -> None:  # noqa: F811
    site, pages = polled.site, polled.pages
    pages.routes["/new"] = Route(article("Mistral AI et Kyutai", "Mistral AI et Kyutai signent un accord "
                                         "pour partager des données d'entraînement."))
    pages.routes["/file.pdf"] = Route(b"%PDF-1.4 not a page", "application/pdf")
    sign_in(page, site.url, password=PASSWORD)
    page.goto(f"{site.url}/explain")
    page.get_by_label("Page URL").fill(pages.url("/new"))
    page.get_by_role("button", name="Explain").click()
    expect(page.get_by_role("heading", name="Mistral AI et Kyutai", level=2)).to_be_visible()
    expect(page.get_by_role("article", name="Kyutai").locator(".badge")).to_have_text("match")
    expect(page.get_by_role("article", name="Mistral AI").locator("tbody tr").first).to_contain_text("the page's title")
    assert pages.hits("/new")  # fetched now

    page.get_by_label("Page URL").fill(pages.url("/vent"))  # stored, and vetoed
    page.get_by_role("button", name="Explain").click()
    mistral = page.get_by_role("article", name="Mistral AI")
    expect(mistral.locator(".badge")).to_have_text("vetoed")
    expect(mistral).to_contain_text('excluded by "vent"')
    expect(mistral.locator("tbody tr").filter(has_text="the page's title")).to_contain_text("exclusion")

    page.get_by_label("Page URL").fill(pages.url("/file.pdf"))
    page.get_by_role("button", name="Explain").click()
    expect(page.locator(".field-error")).to_contain_text("/file.pdf")
    expect(page.get_by_label("Page URL")).to_have_value(pages.url("/file.pdf"))
    assert problems(page, expected=(422,)) == []


def test_explain_refuses_a_private_address(make_web: Callable[..., Web], web: HTTPFixture, page: Page) -> None:  # noqa: F811
    site = make_web(VEILLE_ALLOW_PRIVATE_ADDRESSES="0").start()
    done = site.veille("users", "add", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    web.routes["/inside"] = Route(article("Kyutai interne", "Kyutai, une page du réseau interne."))
    sign_in(page, site.url, password=PASSWORD)
    page.goto(f"{site.url}/explain?url={web.url('/inside')}")
    expect(page.locator(".field-error")).to_contain_text("127.0.0.1")
    expect(page.get_by_label("Page URL")).to_have_attribute("aria-invalid", "true")
    assert web.hits("/inside") == []  # never asked
    page.goto(f"{site.url}/explain?url=ftp://example.org/x")
    expect(page.locator(".field-error")).to_be_visible()
    assert problems(page, expected=(422,)) == []


def test_a_desktop_and_a_phone_see_the_same(polled: Polled, browser: Browser) -> None:  # noqa: F811
    site = polled.site
    for width in (1280, 360):
        context = browser.new_context(viewport={"width": width, "height": 800})
        try:
            page = context.new_page()
            sign_in(page, site.url, password=PASSWORD)
            for path in ("/", "/matches", "/explain"):
                page.goto(f"{site.url}{path}")
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, (width, path, overflow)
        finally:
            context.close()
