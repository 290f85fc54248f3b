"""The match views of the operations layer (the web page's /matches and /matches/{id}): a page of matches in a
fixed number of queries, and a stored match explained again from what veille stored, without fetching the page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss, veille
from veille.manage import NotFoundError
from veille.manage.explain import explain_match
from veille.manage.matches import filter_choices, find_matches
from veille.pipeline import Context, make_context
from veille.settings import Settings

pytestmark = pytest.mark.usefixtures("veille_env")

FILLER = ("Les chercheurs publient le code et les poids du système en accès libre, comme ils l'avaient promis "
          "lors de la création du laboratoire à Paris il y a deux ans, et leurs résultats sont publics.")


def page(title: str, body: str) -> bytes:
    return (f'<html lang="fr"><head><meta charset="utf-8"><title>{title}</title></head><body><article>'
            f"<h1>{title}</h1><p>{body}</p><p>{FILLER}</p></article></body></html>").encode()


ARTICLES = {
    "/moshi": ("Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi, un modèle vocal.", ""),
    "/fonds": ("Une levée de fonds record", "La start-up lève six cents millions d'euros.",
               "<p>Mistral AI lève des fonds.</p>"),  # named in the feed's summary only
    "/vent": ("Le vent souffle", "Le mistral, ce vent du nord, souffle sur la Provence.", ""),  # vetoed
    "/recrute": ("Kyutai recrute", "Kyutai recrute des chercheurs en apprentissage.", ""),
    "/musique": ("Kyutai et la musique", "Kyutai présente un modèle qui compose des mélodies.", ""),
}


@pytest.fixture
def polled(web: HTTPFixture, database_url: str, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Context:
    """Five pages in one feed, Kyutai and Mistral AI (alias Mistral, excluded by "vent") tracked, a webhook
    channel, one poll."""
    monkeypatch.setenv("VEILLE_DATABASE_URL", database_url)
    veille_env["VEILLE_DATABASE_URL"] = database_url
    items = []
    for path, (title, body, summary) in ARTICLES.items():
        web.routes[path] = Route(page(title, body))
        items.append({"title": title, "link": web.url(path), "guid": path, "description": summary or None})
    web.routes["/feed.xml"] = Route(rss(items, title="Le Journal"), "application/rss+xml")
    web.routes["/hook"] = Route(b"ok", "text/plain")
    for args in (("feeds", "add", web.url("/feed.xml")), ("track", "add", "Kyutai"),
                 ("track", "add", "Mistral AI", "--alias", "Mistral", "--exclude", "vent"),
                 ("channels", "add", "webhook", web.url("/hook"), "--name", "hook"), ("poll",)):
        done = veille(*args)
        assert done.exit_code == 0, (args, done.stdout, done.stderr)
    return make_context(Settings(database_url=database_url))


@contextmanager
def counted(ctx: Context) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", record)


def test_a_page_of_matches_costs_the_same_queries_however_long(polled: Context) -> None:
    with counted(polled) as one:
        short = find_matches(polled, limit=1)
    with counted(polled) as every:
        full = find_matches(polled, limit=50)
    assert short.total == full.total == 4 and len(full.items) == 4
    assert len(every) == len(one)  # no query per row (it was two per row: the story's copies, the alerts)
    assert all(m.alerts and m.alerts[0]["channel"] == "hook" for m in full.items)
    assert full.items[0].article_id and len({m.article_id for m in full.items}) == 4


def test_a_stored_match_is_explained_from_what_was_stored(polled: Context, web: HTTPFixture) -> None:
    (kyutai,) = [m for m in find_matches(polled, entity="Kyutai", query="moshi").items]
    (mistral,) = find_matches(polled, entity="Mistral AI").items
    fetched = len(web.requests)

    found = explain_match(polled, kyutai.id)
    assert found.match.id == kyutai.id and found.match.entity == "Kyutai"
    assert [a["channel"] for a in found.match.alerts] == ["hook"] and found.match.alerts[0]["status"] == "sent"
    assert found.match.alerts[0]["sent_at"]
    explained = found.explained
    assert not explained.fetched and explained.article.title == "Kyutai ouvre Moshi"
    assert "Le laboratoire Kyutai publie Moshi" in explained.article.text
    first = explained.explanations[0]
    assert first.entity == "Kyutai" and first.hit is not None
    assert {t.where for t in first.terms} == {"title", "text"}
    for term in first.terms:  # each place's span is the term in that place's own characters
        source = explained.article.title if term.where == "title" else explained.article.text
        assert source[term.start:term.end] == "Kyutai"

    summary_only = explain_match(polled, mistral.id).explained
    (hit,) = [e for e in summary_only.explanations if e.entity == "Mistral AI"]
    assert hit.hit is not None and {t.where for t in hit.terms} == {"feed-summary"}
    assert "Mistral AI lève des fonds." in summary_only.feed_summary
    assert len(web.requests) == fetched  # nothing was fetched


def test_the_vetoed_entity_and_a_paused_one_are_explained(polled: Context, web: HTTPFixture) -> None:
    from veille.manage.articles import find_article
    from veille.manage.explain import explain_article

    stored = find_article(polled, web.url("/vent"))
    assert stored is not None and stored.matches == ()
    vetoed = explain_article(polled, article_id=stored.id)
    (mistral,) = vetoed.explanations
    assert mistral.hit is None and mistral.veto is not None and "vent" in mistral.veto.reason
    assert {(t.role, t.where) for t in mistral.terms} >= {("mention", "text"), ("exclusion", "title")}

    (kyutai,) = find_matches(polled, entity="Kyutai", query="moshi").items
    assert veille("track", "pause", "Kyutai").exit_code == 0
    again = explain_match(polled, kyutai.id).explained  # paused: still explained, and first
    assert again.explanations[0].entity == "Kyutai" and again.explanations[0].hit is not None


def test_an_unknown_match_and_the_filter_choices(polled: Context) -> None:
    with pytest.raises(NotFoundError, match="no match 999999"):
        explain_match(polled, 999999)
    choices = filter_choices(polled)
    assert choices.entities == ("Kyutai", "Mistral AI")
    assert [title for _, title in choices.feeds] == ["Le Journal"]


def test_a_search_counts_up_to_a_cap_in_one_statement(polled: Context) -> None:
    exact = find_matches(polled, query="kyutai", limit=2)
    assert (exact.total, exact.more, len(exact.items)) == (3, False, 2)
    with counted(polled) as statements:
        capped = find_matches(polled, query="kyutai", limit=1, count_up_to=2)
    assert (capped.total, capped.more, len(capped.items)) == (2, True, 1)  # "more than 2"
    assert sum("FROM matches" in s and ("articles_fts" in s or "search @@" in s) for s in statements) == 1
    assert capped.items[0].id == exact.items[0].id
    under = find_matches(polled, query="kyutai", limit=1, count_up_to=10)
    assert (under.total, under.more) == (3, False)
    later = find_matches(polled, query="kyutai", limit=1, offset=2, count_up_to=10)
    assert (later.total, later.more, [m.id for m in later.items]) == (3, False, [find_matches(polled).items[-1].id])
    past = find_matches(polled, query="kyutai", limit=1, offset=5, count_up_to=10)
    assert (past.total, past.more, past.items) == (3, False, ())
    by_feed = find_matches(polled, feed="1", query="moshi")
    assert [m.title for m in by_feed.items] == ["Kyutai ouvre Moshi"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_plans_each_search_for_its_own_words(database_url: str) -> None:
    """psycopg would prepare a statement after its 5th run, and PostgreSQL could then reuse one plan for any
    word: a search for a word every article has was planned like a rare one's (0.3 s instead of 20 ms)."""
    from sqlalchemy import text

    from veille.storage.db import Database

    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            for _ in range(8):
                connection.execute(text("SELECT count(*) FROM pg_class WHERE relname = :name"), {"name": "x"})
            prepared = connection.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()
        assert prepared == 0
    finally:
        db.dispose()


def test_a_search_with_more_than_it_counted_says_so(polled: Context) -> None:
    from veille.manage.matches import MatchPage
    from veille.web.forms import Errors
    from veille.web.pages.matches import PAGE, Filters
    from veille.web.templating import environment

    items = find_matches(polled, limit=PAGE).items
    html = environment.get_template("_match_results.html").render(
        found=MatchPage(1000, items, more=True), chosen=Filters(q="kyutai", offset=4), errors=Errors(),
        page_size=len(items), reason_text=str, fragment=True)
    assert "5–8 of more than 1,000 matches with “kyutai”" in html
    assert 'rel="next" href="/matches?q=kyutai&amp;offset=8"' in html  # counting stopped: there are more
    assert 'rel="prev" href="/matches?q=kyutai"' in html
