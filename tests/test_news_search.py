"""Searches of the web's news for tracked entities (`veille track add NAME --search`): loopback servers stand in
for GDELT, Hacker News and Google News through their base URL settings, answering in each provider's real
format; publishers' pages and a user's feed are served by another loopback server, alerts go to a Slack-like
receiver. The shared captured responses (../shared/data/search-samples) are parsed when they are there."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import httpx
import pytest
from sqlalchemy import select, update

from tests.conftest import HTTPFixture, Request, Route
from tests.helpers import rss, veille
from veille import http
from veille.search.base import SearchError, SearchTerms
from veille.search.gdelt import Gdelt
from veille.search.google_news import GoogleNews
from veille.search.hn import HackerNews
from veille.search.terms import entity_terms, query_terms
from veille.storage.models import Article, Feed, utcnow

pytestmark = pytest.mark.usefixtures("veille_env")

SAMPLES = Path(os.environ.get("VEILLE_SEARCH_SAMPLES")
               or Path(__file__).resolve().parents[2] / "shared" / "data" / "search-samples")
GDELT_PATH = "/api/v2/doc/doc"
HN_PATH = "/hn/api/v1/search_by_date"
GOOGLE_PATH = "/gn/rss/search"
PYTHON = sys.executable
VEILLE = str(Path(sys.executable).with_name("veille"))

FILLER = ("Les chercheurs publient le code et les poids du système en accès libre, comme ils l'avaient promis lors "
          "de la création du laboratoire à Paris il y a deux ans. Plusieurs entreprises ont déjà annoncé qu'elles "
          "comptaient s'en servir dans leurs propres produits dès cette année.")


def page(title: str, body: str) -> bytes:
    return (f'<html lang="fr"><head><meta charset="utf-8"><title>{title}</title></head><body><article>'
            f"<h1>{title}</h1><p>{body} {FILLER}</p><p>{FILLER}</p></article></body></html>").encode()


def seen(ago: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) - ago).strftime("%Y%m%dT%H%M%SZ")


def gdelt_body(*articles: tuple[str, str, str]) -> bytes:
    """A GDELT DOC 2.0 artlist answer (the fields and layout of the captured sample) for (url, title, seendate)."""
    return json.dumps({"articles": [
        {"url": url, "url_mobile": "", "title": title, "seendate": when, "socialimage": "",
         "domain": "127.0.0.1", "language": "French", "sourcecountry": "France"}
        for url, title, when in articles
    ]}, ensure_ascii=False).encode()


def hn_body(*hits: dict[str, Any]) -> bytes:
    """An Algolia search_by_date answer with the top-level fields Hacker News' API sends."""
    full = [{"objectID": str(40000000 + i), "author": "someone", "points": 3, "num_comments": 0,
             "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
             "created_at_i": int(time.time()), "_tags": ["story", "author_someone", f"story_{i}"], **hit}
            for i, hit in enumerate(hits)]
    return json.dumps({"hits": full, "nbHits": len(full), "page": 0, "nbPages": 1, "hitsPerPage": 20,
                       "exhaustiveNbHits": True, "query": "kyutai", "params": "query=kyutai&tags=story",
                       "processingTimeMS": 1}).encode()


def google_rss(items: list[dict[str, str]], *, query: str = "Kyutai") -> bytes:
    """A Google News RSS search answer as Google writes it (title "Headline - Publisher", guid, source)."""
    now = format_datetime(datetime.now(UTC), usegmt=True)
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?><rss version="2.0" '
             'xmlns:media="http://search.yahoo.com/mrss/"><channel><generator>NFE/5.0</generator>'
             f"<title>{escape(query)} - Google News</title><link>https://news.google.com/search?q={escape(query)}"
             "</link><language>fr</language><webMaster>news-webmaster@google.com</webMaster>"
             f"<lastBuildDate>{now}</lastBuildDate><description>Google News</description>"]
    for item in items:
        parts.append(
            f"<item><title>{escape(item['title'])} - {escape(item['publisher'])}</title><link>{escape(item['link'])}"
            f'</link><guid isPermaLink="false">{escape(item["guid"])}</guid><pubDate>{item.get("date", now)}'
            f'</pubDate><description>&lt;a href="{escape(item["link"])}"&gt;{escape(item["title"])}&lt;/a&gt;'
            f'</description><source url={quoteattr(item.get("site", "https://example.org"))}>'
            f"{escape(item['publisher'])}</source></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def answer(content: bytes, status: int = 200, content_type: str = "application/json") -> http.Response:
    return http.Response(url="https://provider.test/", status=status, headers=httpx.Headers({"Content-Type":
                                                                                              content_type}),
                         content=content)


@pytest.fixture
def on_database(database_url: str, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The test's veille on SQLite, and on PostgreSQL when VEILLE_TEST_POSTGRES_URL is set."""
    monkeypatch.setenv("VEILLE_DATABASE_URL", database_url)
    veille_env["VEILLE_DATABASE_URL"] = database_url
    return database_url


@pytest.fixture
def providers(veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[HTTPFixture]:
    """One loopback server standing in for the three providers: GDELT at its root, Hacker News under /hn, Google
    News under /gn (the base URL settings take a path prefix)."""
    server = HTTPFixture()
    for key, value in (("VEILLE_GDELT_URL", server.url("")), ("VEILLE_HN_URL", server.url("/hn")),
                       ("VEILLE_GOOGLE_NEWS_URL", server.url("/gn"))):
        monkeypatch.setenv(key, value)
        veille_env[key] = value
    yield server
    server.close()


def db_run(work: Any) -> Any:
    from veille.pipeline import make_context
    from veille.settings import get_settings

    get_settings.cache_clear()
    return make_context(get_settings()).db.run(work)


def make_due() -> None:
    """Time has passed: every search source is due (their next poll is in the past)."""
    db_run(lambda s: s.execute(update(Feed).where(Feed.kind == "search")
                               .values(next_poll_at=utcnow() - timedelta(seconds=1))))


def sources() -> list[dict[str, Any]]:
    listed = veille("feeds", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    return [f for f in listed.json() if f["kind"] == "search"]


def slack_posts(web: HTTPFixture) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in web.hits("/slack", "POST")]


def post_text(post: dict[str, Any]) -> str:
    return post["text"] + json.dumps(post.get("blocks"), ensure_ascii=False)


def matches() -> list[dict[str, Any]]:
    found = veille("matches", "--json")
    assert found.exit_code == 0, found.stderr
    result: list[dict[str, Any]] = found.json()
    return result


def env_of(veille_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**os.environ, **veille_env, **extra}


# --------------------------------------------------------------------------- what is searched for


def test_the_words_searched_for_an_entity() -> None:
    plain = entity_terms(name="Kyutai", aliases=["Kyutai Labs"], exact_aliases=["KYU"], exclude=["vent"])
    assert plain == SearchTerms(subject=("Kyutai", "Kyutai Labs"), exclude=("vent",))  # KYU: no context, not asked
    with_context = entity_terms(name="Meta AI", exact_aliases=["Meta"], require=["AI", "LLM"])
    assert with_context == SearchTerms(subject=("Meta AI", "Meta"), context=(("AI", "LLM"),), guarded=("Meta",))
    # "Meta" is asked only where the context goes with it: Google News; not GDELT (AI is too short for it) nor
    # Hacker News (no OR)
    assert GoogleNews("http://g.test").queries(with_context) == ['("Meta AI" OR "Meta") (AI OR LLM)']
    assert Gdelt("http://gdelt.test").queries(with_context) == ['"Meta AI"']
    assert HackerNews("http://hn.test").queries(with_context) == ['"Meta AI"']
    # a query entity: what the query is about
    assert query_terms('"Mistral AI" OR (Mistral LLM) -vent') == SearchTerms(subject=("Mistral AI", "Mistral"),
                                                                            exclude=("vent",))
    assert query_terms("Mistral (LLM OR modèle) -vent site:lemonde.fr") == SearchTerms(
        subject=("Mistral",), context=(("LLM", "modèle"),), exclude=("vent",))

    gdelt, hn, google = Gdelt("http://gdelt.test"), HackerNews("http://hn.test/prefix"), GoogleNews("http://g.test")
    terms = SearchTerms(subject=("Kyutai", "Kyutai Labs"), context=(("AI", "LLM"),), exclude=("vent",))
    # GDELT refuses words under 3 characters: the context group with AI is left to the matcher
    assert gdelt.queries(terms) == ['(Kyutai OR "Kyutai Labs") -vent']
    url = gdelt.request(gdelt.queries(terms)[0], "fr")
    assert url.startswith("http://gdelt.test/api/v2/doc/doc?query=")
    assert "sourcelang:french" in url and "mode=artlist&format=json&sort=datedesc" in url
    assert hn.queries(terms) == ["Kyutai -vent", '"Kyutai Labs" -vent']  # no OR at Algolia: one query a name
    assert hn.request("Kyutai", "en") == "http://hn.test/prefix/api/v1/search_by_date?query=Kyutai&tags=story"
    assert not hn.supports("fr")
    assert google.queries(terms) == ['("Kyutai" OR "Kyutai Labs") (AI OR LLM) -vent']
    assert "hl=fr&gl=FR&ceid=FR:fr" in google.request("x", "fr") and "hl=en-US&gl=US&ceid=US:en" in \
        google.request("x", "en")


# --------------------------------------------------------------------------- the providers' answers


def test_gdelt_answers_are_read_and_its_plain_text_errors_are_search_errors() -> None:
    gdelt = Gdelt("http://gdelt.test")
    hits = gdelt.parse(answer(gdelt_body(("https://a.example/1", "Kyutai ouvre Moshi", "20240615T170000Z"))))
    assert [(h.url, h.title, h.published, h.source) for h in hits] == [
        ("https://a.example/1", "Kyutai ouvre Moshi", datetime(2024, 6, 15, 17, tzinfo=UTC), "127.0.0.1")]
    assert gdelt.parse(answer(b"{}")) == [] and gdelt.parse(answer(b"")) == []
    # an HTTP 200 whose body is a plain-text refusal
    with pytest.raises(SearchError, match="GDELT refused the query: One or more of your keywords were too short"):
        gdelt.parse(answer(b"One or more of your keywords were too short, too long or too common: (ai)\n", 200,
                           "text/plain"))
    with pytest.raises(SearchError, match="unreadable JSON"):
        gdelt.parse(answer(b'{"articles": [{"url": '))


def test_hacker_news_hits_without_an_article_url_are_skipped() -> None:
    hits = HackerNews("http://hn.test").parse(answer(hn_body(
        {"title": "Kyutai releases Moshi", "url": "https://kyutai.example/moshi"},
        {"title": "Ask HN: is Kyutai hiring?", "url": None, "story_text": "..."},
        {"title": "Show HN: a Kyutai demo"},
    )))
    assert [(h.url, h.title) for h in hits] == [("https://kyutai.example/moshi", "Kyutai releases Moshi")]
    assert hits[0].published is not None
    with pytest.raises(SearchError):
        HackerNews("http://hn.test").parse(answer(b'{"message": "invalid parameters", "status": 400}'))


def test_google_news_items_keep_title_publisher_date_and_the_refusal_feed_is_an_error() -> None:
    google = GoogleNews("https://news.google.com")
    link = "https://news.google.com/rss/articles/CBMiAU_yqLOpaque?oc=5"
    hits = google.parse(answer(google_rss([{"title": "Kyutai ouvre Moshi", "publisher": "Le Journal", "link": link,
                                            "guid": "CBMiAU_yqLOpaque"}]), content_type="application/xml"))
    assert [(h.url, h.title, h.source, h.key) for h in hits] == [
        (link, "Kyutai ouvre Moshi", "Le Journal", "CBMiAU_yqLOpaque")]
    assert hits[0].published is not None
    assert google.hides_publisher(link) and not google.hides_publisher("https://lejournal.example/a")


SAMPLED = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the captured provider responses are not at {SAMPLES} "
                                                          "(set VEILLE_SEARCH_SAMPLES to their folder)")


@SAMPLED
def test_the_captured_gdelt_answers() -> None:
    gdelt = Gdelt("https://api.gdeltproject.org")
    hits = gdelt.parse(answer((SAMPLES / "gdelt" / "vizhinjam_2024.json").read_bytes()))
    assert len(hits) == 4
    assert hits[0].url.startswith("https://www.thehindu.com/") and hits[0].source == "thehindu.com"
    assert hits[0].published == datetime(2024, 6, 15, 17, 0, tzinfo=UTC)
    assert "വിഴിഞ്ഞം" in hits[1].title
    with pytest.raises(SearchError, match="too short, too long or too common"):
        gdelt.parse(answer((SAMPLES / "gdelt" / "keyword_error.txt").read_bytes(), content_type="text/plain"))
    with pytest.raises(SearchError, match="one every 5 seconds"):  # should it ever come with a 200
        gdelt.parse(answer((SAMPLES / "gdelt" / "rate_limited.txt").read_bytes(), content_type="text/plain"))


@SAMPLED
def test_the_captured_google_news_answers() -> None:
    google = GoogleNews("https://news.google.com")
    hits = google.parse(answer((SAMPLES / "google-news" / "search.rss").read_bytes(), content_type="application/xml"))
    assert len(hits) == 97
    first = hits[0]
    assert first.title == "Airbus or Boeing: United to close historic order for more than 100 wide-body aircraft"
    assert first.source == "Aviacionline" and first.published == datetime(2022, 10, 15, 11, 50, 57, tzinfo=UTC)
    assert not any(h.title.endswith(f" - {h.source}") for h in hits)
    # 2022: the links were the publishers' own, nothing to resolve
    assert not any(google.hides_publisher(h.url) for h in hits)
    with pytest.raises(SearchError, match="This feed is not available"):
        google.parse(answer((SAMPLES / "google-news" / "not_found.rss").read_bytes(), content_type="application/xml"))


# --------------------------------------------------------------------------- track add --search and the sources


def test_track_add_search_makes_the_sources_edit_and_remove_take_them_away(providers: HTTPFixture) -> None:
    added = veille("track", "add", "Kyutai", "--alias", "Kyutai Labs", "--exclude", "vent", "--search",
                   "--lang", "fr,en")
    assert added.exit_code == 0, added.stderr
    assert "searching the web's news for Kyutai: gdelt (fr, en), hn (en), every 15m" in added.stdout
    found = sources()
    assert {(f["search"]["provider"], f["search"]["lang"], f["search"]["query"]) for f in found} == {
        ("gdelt", "fr", '(Kyutai OR "Kyutai Labs") -vent'), ("gdelt", "en", '(Kyutai OR "Kyutai Labs") -vent'),
        ("hn", "en", "Kyutai -vent"), ("hn", "en", '"Kyutai Labs" -vent'),
    }
    assert all(f["entity"] == "Kyutai" and f["every"] == "15m" for f in found)
    assert "search: Kyutai (gdelt, fr)" in {f["title"] for f in found}
    # spread over the interval, never all at once
    polls = {f["next_poll"] for f in found}
    assert len(polls) == 4
    assert all(datetime.fromisoformat(p) <= datetime.now(UTC) + timedelta(minutes=15) for p in polls)

    listed = veille("feeds", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["id", "url", "kind"]
    assert all(line.split("\t")[2] == "search" for line in lines[1:])

    assert veille("track", "add", "Mistral", "--lang", "fr").exit_code == 2  # languages are of searches
    assert veille("track", "add", "Mistral", "--search", "--lang", "xx").exit_code == 2

    # an alias more: the sources follow the definition
    assert veille("track", "edit", "Kyutai", "--alias", "Moshi").exit_code == 0
    assert ("hn", "en", "Moshi -vent") in {(f["search"]["provider"], f["search"]["lang"], f["search"]["query"])
                                           for f in sources()}
    paused = veille("track", "pause", "Kyutai")
    assert paused.exit_code == 0
    assert all(f["paused"] for f in sources())
    assert veille("track", "resume", "Kyutai").exit_code == 0
    assert not any(f["paused"] for f in sources())

    edited = veille("track", "edit", "Kyutai", "--no-search")
    assert edited.exit_code == 0, edited.stderr
    assert "not searching the web's news for Kyutai" in edited.stdout
    assert sources() == []
    assert veille("track", "edit", "Kyutai", "--search", "--lang", "de").exit_code == 0
    assert [(f["search"]["provider"], f["search"]["lang"]) for f in sources()] == [("gdelt", "de")]
    removed = veille("track", "remove", "Kyutai", "--yes")
    assert removed.exit_code == 0, removed.stderr
    assert sources() == []


def test_a_paused_entity_searches_nothing(providers: HTTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_SEARCH_PROVIDERS", "hn")
    providers.routes[HN_PATH] = Route(hn_body())
    assert veille("track", "add", "Kyutai", "--search").exit_code == 0
    assert veille("track", "pause", "Kyutai", "--for", "1d").exit_code == 0
    make_due()
    assert veille("poll").exit_code == 0
    assert providers.hits(HN_PATH) == []
    assert veille("track", "resume", "Kyutai").exit_code == 0
    assert veille("poll").exit_code == 0
    assert len(providers.hits(HN_PATH)) == 1


# --------------------------------------------------------------------------- hits through fetch, match, alert


KYUTAI, STARTUPS, OLD, LATER = "/news/kyutai-moshi", "/news/startups", "/news/kyutai-archive", "/news/kyutai-later"


def serve_publisher(web: HTTPFixture) -> None:
    web.routes[KYUTAI] = Route(page("Kyutai ouvre Moshi à tous", "Le laboratoire Kyutai publie Moshi, un modèle "
                                                                  "vocal qui répond en deux cents millisecondes."))
    web.routes[STARTUPS] = Route(page("Les start-up parisiennes lèvent des fonds", "Plusieurs jeunes pousses de "
                                                                                 "l'intelligence artificielle lèvent "
                                                                                 "des fonds ce trimestre."))
    web.routes[OLD] = Route(page("Kyutai, un an après", "Retour sur la première année du laboratoire Kyutai."))
    web.routes[LATER] = Route(page("Kyutai recrute", "Le laboratoire Kyutai annonce trois arrivées."))
    web.routes["/slack"] = Route(b"ok", "text/plain")


def test_gdelt_hits_are_fetched_matched_and_alerted_once_with_a_feed_listing_the_same_story(
    on_database: str, web: HTTPFixture, providers: HTTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_SEARCH_PROVIDERS", "gdelt")
    serve_publisher(web)
    # the user's own feed lists the story too (with tracking parameters)
    web.routes["/rss.xml"] = Route(rss([{"title": "Kyutai ouvre Moshi à tous", "link": web.url(KYUTAI) +
                                         "?utm_source=rss&utm_medium=feed", "guid": "k1"}]), "application/rss+xml")
    providers.routes[GDELT_PATH] = Route(gdelt_body(
        (web.url(KYUTAI), "Kyutai ouvre Moshi à tous", seen()),
        # found by the search engine (a sidebar, a tag page), but the article itself does not name Kyutai
        (web.url(STARTUPS), "Les start-up parisiennes lèvent des fonds", seen()),
        # already there at the search's first poll, and older than the backfill window: backlog
        (web.url(OLD), "Kyutai, un an après", seen(timedelta(days=3))),
    ))
    assert veille("feeds", "add", web.url("/rss.xml")).exit_code == 0
    assert veille("channels", "add", "slack", web.url("/slack")).exit_code == 0
    assert veille("track", "add", "Kyutai", "--search").exit_code == 0
    assert veille("poll").exit_code == 0
    assert providers.hits(GDELT_PATH) == [], "a search is asked when it is due, not at every `veille poll`"
    assert len(slack_posts(web)) == 1  # the feed's item

    make_due()
    first = veille("poll")
    assert first.exit_code == 0, first.stderr
    [request] = providers.hits(GDELT_PATH)
    assert "sourcelang:english" in httpx.URL(request.path).params["query"]
    posts = slack_posts(web)
    assert len(posts) == 1, "the story found by the search and by the feed is one article, alerted once"
    found = {m["url"]: m for m in matches()}
    assert set(found) == {web.url(KYUTAI), web.url(OLD)}  # the start-ups article does not name Kyutai
    assert found[web.url(OLD)]["alerted"] is False and found[web.url(OLD)]["reason"] == "backlog"
    assert len(web.hits(KYUTAI)) == 1  # one article: its page fetched once
    articles = db_run(lambda s: s.scalars(select(Article.url).where(Article.url.like("%kyutai-moshi%"))).all())
    assert len(articles) == 1

    # asked again only once the interval has passed; a new hit then alerts, naming its publisher
    assert veille("poll").exit_code == 0
    assert len(providers.hits(GDELT_PATH)) == 1
    providers.routes[GDELT_PATH] = Route(gdelt_body((web.url(LATER), "Kyutai recrute", seen()),
                                                    (web.url(KYUTAI), "Kyutai ouvre Moshi à tous", seen())))
    make_due()
    assert veille("poll").exit_code == 0
    assert len(providers.hits(GDELT_PATH)) == 2
    posts = slack_posts(web)
    assert len(posts) == 2
    assert web.url(LATER) in post_text(posts[1]) and "127.0.0.1 (found by GDELT)" in post_text(posts[1])


def test_a_gdelt_plain_text_error_is_the_sources_recorded_error(
    web: HTTPFixture, providers: HTTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_SEARCH_PROVIDERS", "gdelt")
    providers.routes[GDELT_PATH] = Route(
        b"One or more of your keywords were too short, too long or too common: (kyutai)\n", "text/plain")
    assert veille("track", "add", "Kyutai", "--search").exit_code == 0
    make_due()
    polled = veille("poll")
    assert polled.exit_code == 0, polled.stderr
    assert "1 failed" in polled.stdout
    [source] = sources()
    assert source["last_status"] == "error"
    assert source["error"] == ("GDELT refused the query: One or more of your keywords were too short, too long or "
                               "too common: (kyutai)")
    assert datetime.fromisoformat(source["next_poll"]) > datetime.now(UTC) + timedelta(minutes=14)
    status = veille("status")
    assert "search: Kyutai (gdelt, en)" in status.stdout and "GDELT refused the query" in status.stdout


def test_google_news_links_resolved_by_their_redirect_or_matched_on_their_title(
    web: HTTPFixture, providers: HTTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_SEARCH_PROVIDERS", "google-news")
    serve_publisher(web)
    web.routes["/rss.xml"] = Route(rss([{"title": "Kyutai ouvre Moshi à tous", "link": web.url(KYUTAI),
                                         "guid": "k1"}]), "application/rss+xml")
    # Google's page for a link it does not redirect: a script, and words that must not be matched
    interstitial = page("Google News", "Mistral et les autres : ouvrez cette page dans votre navigateur.")
    links = {key: providers.url(f"/gn/rss/articles/{key}") + "?oc=5" for key in ("CBMiA", "CBMiB", "CBMiC")}
    providers.routes["/gn/rss/articles/CBMiA"] = Route(b"", status=302, headers={"Location": web.url(KYUTAI)})
    providers.routes["/gn/rss/articles/CBMiB"] = Route(interstitial)
    providers.routes["/gn/rss/articles/CBMiC"] = Route(interstitial)
    providers.routes[GOOGLE_PATH] = Route(google_rss([
        {"title": "Kyutai ouvre Moshi à tous", "publisher": "Le Journal", "link": links["CBMiA"], "guid": "CBMiA"},
        {"title": "Kyutai lève des fonds", "publisher": "La Gazette", "link": links["CBMiB"], "guid": "CBMiB"},
        {"title": "Les start-up parisiennes lèvent des fonds", "publisher": "Le Monde", "link": links["CBMiC"],
         "guid": "CBMiC"},
    ]), "application/xml; charset=utf-8")
    assert veille("channels", "add", "slack", web.url("/slack")).exit_code == 0
    assert veille("track", "add", "Kyutai", "--search", "--lang", "fr").exit_code == 0
    assert veille("track", "add", "Mistral").exit_code == 0
    assert veille("feeds", "add", web.url("/rss.xml")).exit_code == 0
    make_due()
    polled = veille("poll")
    assert polled.exit_code == 0, polled.stderr
    [search] = providers.hits(GOOGLE_PATH)
    assert "hl=fr&gl=FR&ceid=FR:fr" in search.path
    posts = slack_posts(web)
    assert len(posts) == 2, [post_text(p) for p in posts]  # the story (found twice) once, the unresolved link once
    by_url = {m["url"]: m for m in matches()}
    assert set(by_url) == {web.url(KYUTAI), links["CBMiB"]}, by_url
    assert {m["entity"] for m in by_url.values()} == {"Kyutai"}  # Google's own page was not matched (Mistral)
    story = next(p for p in posts if web.url(KYUTAI) in post_text(p))  # the resolved link: the publisher's URL
    assert links["CBMiA"] not in post_text(story)
    unresolved = next(p for p in posts if links["CBMiB"] in post_text(p))  # links to the Google News page
    assert "La Gazette (found by Google News)" in post_text(unresolved)
    assert by_url[links["CBMiB"]]["where"] in (["title"], ["feed-title"], ["title", "feed-title"])
    # resolved once, in Google's turn: each link asked once; the unresolved ones are not failures
    assert [len(providers.hits(f"/gn/rss/articles/{key}")) for key in ("CBMiA", "CBMiB", "CBMiC")] == [1, 1, 1]
    assert re.search(r"pages? fetched, 0 failed", polled.stdout), polled.stdout

    # the next search lists the same links: nothing is asked or alerted again
    make_due()
    assert veille("poll").exit_code == 0
    assert len(providers.hits(GOOGLE_PATH)) == 2
    assert [len(providers.hits(f"/gn/rss/articles/{key}")) for key in ("CBMiA", "CBMiB", "CBMiC")] == [1, 1, 1]
    assert len(slack_posts(web)) == 2


# --------------------------------------------------------------------------- politeness


@pytest.mark.parametrize("status", [429, 503])
def test_a_provider_asking_to_wait_is_waited_for_not_hammered(
    providers: HTTPFixture, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("VEILLE_SEARCH_PROVIDERS", "hn")
    providers.routes[HN_PATH] = Route(b'{"message": "slow down"}', "application/json", status,
                                      headers={"Retry-After": "3600"})
    assert veille("track", "add", "Kyutai", "--alias", "Kyutai Labs", "--search").exit_code == 0
    assert len(sources()) == 2  # two queries to the same host
    make_due()
    env = env_of(veille_env, VEILLE_SEARCH_PROVIDERS="hn", VEILLE_PER_HOST_CONCURRENCY="1")

    def poll() -> subprocess.CompletedProcess[str]:  # each `veille poll` a process of its own, as cron runs it
        done = subprocess.run([VEILLE, "poll"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    first = poll()
    assert len(providers.hits(HN_PATH)) == 1, "the second query waits: the host said when to come back"
    assert "1 deferred" in first.stdout
    later = datetime.now(UTC) + timedelta(seconds=3500)
    assert all(datetime.fromisoformat(f["next_poll"]) > later for f in sources())
    for _ in range(3):
        poll()
    assert len(providers.hits(HN_PATH)) == 1
    # once the time has come, asked again
    providers.routes[HN_PATH] = Route(hn_body())
    make_due()
    poll()
    assert len(providers.hits(HN_PATH)) == 3


def test_gdelt_is_asked_at_most_once_every_5_seconds_across_processes(
    on_database: str, providers: HTTPFixture, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_SEARCH_PROVIDERS", "gdelt")
    arrivals: list[float] = []

    def gdelt(request: Request) -> Route:
        arrivals.append(time.monotonic())
        return Route(gdelt_body())

    providers.routes[GDELT_PATH] = gdelt
    for name in ("Kyutai", "Mistral AI"):
        assert veille("track", "add", name, "--search").exit_code == 0
    ids = [str(f["id"]) for f in sources()]
    assert len(ids) == 2
    env = env_of(veille_env, VEILLE_SEARCH_PROVIDERS="gdelt")
    script = ("import sys; from veille.pipeline import make_context, poll_feeds; from veille.settings import "
              "get_settings; print(poll_feeds(make_context(get_settings()), [int(sys.argv[1])])[0].status)")
    workers = [subprocess.Popen([PYTHON, "-c", script, feed_id], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for feed_id in ids]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [out.strip() for out, _ in outputs] == ["ok", "ok"], outputs
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 4.9, arrivals


# --------------------------------------------------------------------------- the other faces


def test_the_api_and_the_entity_form_turn_searches_on_and_off(providers: HTTPFixture, make_web: Any) -> None:
    from tests.test_api import api_client
    from tests.webserver import sign_in

    server = make_web(VEILLE_SEARCH_PROVIDERS="gdelt").start()
    headers = {"Authorization": f"Bearer {server.token('tests')}"}
    with api_client(server, headers=headers) as client:
        made = client.post("/api/v1/entities", json={"name": "Kyutai", "search": True, "lang": ["fr", "en"]})
        assert made.status_code == 201, made.text
        assert made.json()["search"] is True and made.json()["lang"] == ["fr", "en"]
        feeds = client.get("/api/v1/feeds").json()
        assert sorted((f["kind"], f["entity"], f["search"]["lang"]) for f in feeds) == [
            ("search", "Kyutai", "en"), ("search", "Kyutai", "fr")]
        refused = client.post("/api/v1/entities", json={"name": "Mistral", "search": True, "lang": ["xx"]})
        assert refused.status_code == 422 and refused.json()["field"] == "lang"
        changed = client.patch(f"/api/v1/entities/{made.json()['id']}", json={"search": False})
        assert changed.status_code == 200 and changed.json()["search"] is False
        assert client.get("/api/v1/feeds").json() == []

    done = server.veille("users", "add", "alice", "--password-stdin", input="correct horse battery\n")
    assert done.returncode == 0, done.stderr
    with server.client() as browser:
        assert sign_in(browser, "alice", "correct horse battery", next_path="/entities").status_code in (200, 303)
        form = browser.get("/entities/new")
        assert "Search the web&#39;s news" in form.text or "Search the web's news" in form.text
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        saved = browser.post("/entities/new", data={"csrf_token": token, "name": "Mistral AI", "search": "on",
                                                    "lang": "fr", "min_mentions": "1", "action": "save"})
        assert saved.status_code == 303, saved.text
    listed = server.veille("feeds", "list", "--json")
    assert [(f["entity"], f["search"]["lang"]) for f in json.loads(listed.stdout)] == [("Mistral AI", "fr")]


def test_a_backup_restores_the_searches_from_the_entities(
    providers: HTTPFixture, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VEILLE_SEARCH_PROVIDERS", "gdelt")
    assert veille("track", "add", "Kyutai", "--search", "--lang", "fr").exit_code == 0
    exported = veille("export", "-o", str(tmp_path / "backup.json"))
    assert exported.exit_code == 0, exported.stderr
    document = json.loads((tmp_path / "backup.json").read_text())
    assert document["feeds"] == []  # a search is not a feed to restore: the entity's definition makes it
    assert [(e["name"], e["search"], e["lang"]) for e in document["entities"]] == [("Kyutai", True, ["fr"])]
    monkeypatch.setenv("VEILLE_DATABASE_URL", f"sqlite:///{tmp_path / 'restored.db'}")
    restored = veille("import", str(tmp_path / "backup.json"))
    assert restored.exit_code == 0, restored.stderr
    assert [(f["entity"], f["search"]["provider"], f["search"]["lang"]) for f in sources()] == [
        ("Kyutai", "gdelt", "fr")]
