"""Full-text search over stored articles (`veille matches --search`, the API's `q`): every word, accents and
case ignored, on SQLite (FTS5) and PostgreSQL (tsvector), through the same operation."""

from __future__ import annotations

import pytest

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss, veille
from veille.manage.matches import find_matches
from veille.pipeline import make_context
from veille.settings import Settings

pytestmark = pytest.mark.usefixtures("veille_env")

FILLER = ("Les chercheurs publient le code et les poids du système en accès libre, comme ils l'avaient promis "
          "lors de la création du laboratoire à Paris il y a deux ans.")


def page(title: str, body: str) -> bytes:
    return (f'<html lang="fr"><head><meta charset="utf-8"><title>{title}</title></head><body><article>'
            f"<h1>{title}</h1><p>{body} {FILLER}</p><p>{title}: {body[::-1]}</p></article></body></html>").encode()


@pytest.fixture
def stored(web: HTTPFixture, database_url: str, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VEILLE_DATABASE_URL", database_url)
    veille_env["VEILLE_DATABASE_URL"] = database_url
    articles = {
        "/a": ("Kyutai recrute Hervé Jégou", "Le laboratoire Kyutai annonce l'arrivée d'Hervé Jégou, venu de Meta."),
        "/b": ("Kyutai ouvre Moshi", "Kyutai publie Moshi, un modèle vocal qui répond en deux cents millisecondes."),
        "/c": ("Kyutai et la musique", "Kyutai présente un modèle qui compose des mélodies pour les films."),
    }
    for path, (title, body) in articles.items():
        web.routes[path] = Route(page(title, body), "text/html")
    items = [{"title": t, "link": web.url(p), "guid": p} for p, (t, _) in articles.items()]
    web.routes["/feed.xml"] = Route(rss(items), "application/rss+xml")
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("poll").exit_code == 0
    return database_url


def titles(*args: str) -> list[str]:
    result = veille("matches", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return sorted(row["title"] for row in result.json())


def test_search_finds_every_word_whatever_the_accents_and_case(stored: str) -> None:
    assert titles("--search", "herve JEGOU") == ["Kyutai recrute Hervé Jégou"]
    assert titles("--search", "modèle") == ["Kyutai et la musique", "Kyutai ouvre Moshi"]
    assert titles("--search", "moshi millisecondes") == ["Kyutai ouvre Moshi"]
    assert titles("--search", "moshi mélodies") == []  # every word must be there
    assert titles("--search", '"Moshi" (vocal') == ["Kyutai ouvre Moshi"]  # quotes and brackets are not operators
    assert len(titles("--search", "   ")) == 3  # no word: no filter


def test_a_page_of_matches_and_the_total(stored: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    ctx = make_context(Settings(database_url=stored))
    page = find_matches(ctx, query="kyutai", limit=2, offset=0)
    assert page.total == 3 and len(page.items) == 2
    rest = find_matches(ctx, query="kyutai", limit=2, offset=2)
    assert rest.total == 3 and len(rest.items) == 1
    assert {m.title for m in page.items} | {m.title for m in rest.items} == {
        "Kyutai recrute Hervé Jégou", "Kyutai ouvre Moshi", "Kyutai et la musique"}


@pytest.mark.parametrize(("tracked", "title", "body"), [
    ("Kyutai", "Un fonds Kyutai-backed", "Le fonds soutenu par le laboratoire investit dans la voix."),
    ("Herve Jegou", "Nomination", "Hervé Jégou rejoint le laboratoire parisien comme directeur scientifique."),
    ("Bernhard Schoelkopf", "Tübingen", "Bernhard Schölkopf dirige l'institut Max Planck de Tübingen."),
    ("Iliad", "Le groupe", "Les équipes d’Iliad et de Scaleway ont annoncé un partenariat."),
    ("月之暗面", "Moonshot", "La start-up chinoise 月之暗面科技 a levé des fonds cette semaine."),
])
def test_the_search_index_skips_articles_but_never_a_mention_the_matcher_finds(
    web: HTTPFixture, tracked: str, title: str, body: str
) -> None:
    """`track test` reads only the articles the index says may mention the name: whatever the spelling, the
    hyphens, the apostrophes or the script, it finds what reading every article would."""
    web.routes["/m"] = Route(page(title, body), "text/html")
    web.routes["/other"] = Route(page("Autre chose", "Un article sans rapport avec le sujet du test."), "text/html")
    items = [{"title": title, "link": web.url("/m"), "guid": "m"},
             {"title": "Autre chose", "link": web.url("/other"), "guid": "o"}]
    web.routes["/feed.xml"] = Route(rss(items), "application/rss+xml")
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("poll").exit_code == 0
    found = veille("track", "test", tracked, "--json")
    assert found.exit_code == 0, found.stderr
    assert [row["url"] for row in found.json()] == [web.url("/m")]


def test_a_name_only_in_the_feed_title_is_previewed(web: HTTPFixture) -> None:
    web.routes["/p"] = Route(page("Un laboratoire parisien", "Le laboratoire publie un modèle vocal."), "text/html")
    web.routes["/feed.xml"] = Route(rss([{"title": "Kyutai publie un modèle", "link": web.url("/p"), "guid": "p"}]),
                                    "application/rss+xml")
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("poll").exit_code == 0
    [row] = veille("track", "test", "Kyutai", "--json").json()
    assert row["where"] == ["feed-title"]
