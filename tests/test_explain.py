"""`veille explain`: why a page did or didn't alert, from a URL or a saved file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HTTPFixture, Route
from tests.helpers import veille

pytestmark = pytest.mark.usefixtures("veille_env")

PAGE = (
    '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Le mistral souffle sur la Provence</title>'
    '<link rel="canonical" href="https://meteo.example/provence/mistral"></head><body>'
    "<nav><a href='/'>Accueil</a> <a href='/ia'>Anthropic et OpenAI : le dossier</a></nav><main><article>"
    "<h1>Le mistral souffle sur la Provence</h1>"
    "<p>Le mistral, un vent froid venu du nord, souffle à plus de cent kilomètres par heure ce mardi sur la "
    "vallée du Rhône. Météo-France a placé trois départements en vigilance orange jusqu’à jeudi.</p>"
    "<p>Rien à voir avec Mistral AI, sourit un prévisionniste : la start-up parisienne n’a pas encore de "
    "modèle capable de calmer les rafales. Les chercheurs de Kyutai non plus, ajoute-t-il.</p>"
    "</article></main><footer>Lire aussi : Anthropic lève des fonds.</footer></body></html>"
)


@pytest.fixture
def tracked() -> None:
    assert veille("track", "add", "Mistral AI", "--alias", "Mistral", "--exclude", "vent").exit_code == 0
    assert veille("track", "add", "Kyutai", "--require", "IA,LLM").exit_code == 0
    assert veille("track", "add", "Météo-France", "--min-mentions", "2").exit_code == 0
    assert veille("track", "add", "Anthropic").exit_code == 0  # only in the navigation and the footer


def test_explain_a_url_as_json(web: HTTPFixture, tracked: None) -> None:
    web.routes["/article"] = Route(PAGE.encode(), "text/html; charset=utf-8")
    result = veille("explain", web.url("/article"), "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["title"] == "Le mistral souffle sur la Provence"
    assert "Rien à voir avec Mistral AI" in data["text"] and "Anthropic" not in data["text"]
    assert data["matches"] == []
    vetoed = {v["entity"]: v for v in data["vetoed"]}
    assert set(vetoed) == {"Mistral AI", "Kyutai", "Météo-France"}  # Anthropic: not in the article itself
    assert vetoed["Mistral AI"]["reason"] == 'excluded by "vent"'
    assert vetoed["Kyutai"]["reason"] == "no context word (IA, LLM) found"
    assert vetoed["Météo-France"]["reason"] == "only 1 mention, needs 2"

    found = [(f["term"], f["role"], f["where"]) for f in vetoed["Mistral AI"]["found"]]
    assert found == [
        ("Mistral", "mention", "title"),
        ("Mistral", "mention", "text"),
        ("vent", "exclusion", "text"),
        ("Mistral AI", "mention", "text"),
    ]
    exclusion = vetoed["Mistral AI"]["found"][2]
    assert data["text"][exclusion["start"] : exclusion["end"]] == "vent"
    assert exclusion["snippet"].startswith("Le mistral, un vent froid venu du nord")
    assert exclusion["snippet"][slice(*exclusion["highlight"])] == "vent"


def test_explain_a_saved_file_for_one_entity(tmp_path: Path, tracked: None) -> None:
    saved = tmp_path / "article.html"
    saved.write_text(PAGE.replace("Les chercheurs de Kyutai", "Les chercheurs en IA de Kyutai"), encoding="utf-8")
    data = veille("explain", str(saved), "--entity", "kyutai", "--json").json()
    (match,) = data["matches"]
    assert data["vetoed"] == []
    assert (match["entity"], match["term"], match["count"], match["in_title"]) == ("Kyutai", "Kyutai", 1, False)
    assert match["snippet"][slice(*match["highlight"])] == "Kyutai"
    assert [(f["term"], f["role"]) for f in match["found"]] == [("IA", "context word"), ("Kyutai", "mention")]

    quiet = veille("explain", str(saved), "--entity", "Anthropic", "--json").json()
    assert quiet["matches"] == quiet["vetoed"] == [] and quiet["not_mentioned"] == ["Anthropic"]
    text = veille("explain", str(saved), "--entity", "Anthropic")
    assert "Anthropic is not mentioned" in text.stdout


def test_explain_prints_why_each_entity_did_or_did_not_alert(web: HTTPFixture, tracked: None) -> None:
    web.routes["/article"] = Route(PAGE.encode(), "text/html; charset=utf-8")
    result = veille("explain", web.url("/article"))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "https://meteo.example/provence/mistral" in out
    assert 'vetoed Mistral AI: excluded by "vent"' in out
    assert "exclusion 'vent' in the text at" in out and "Le mistral, un vent froid venu du nord" in out
    assert "mention 'Mistral' in the title at 3: Le mistral souffle sur la Provence" in out
    assert "vetoed Kyutai: no context word (IA, LLM) found" in out
    assert "Anthropic" not in out.split("vetoed", 1)[1]


def test_explain_refuses_what_it_cannot_read(tmp_path: Path, tracked: None) -> None:
    missing = veille("explain", str(tmp_path / "nope.html"))
    assert missing.exit_code == 1 and "cannot read" in missing.stderr
    saved = tmp_path / "article.html"
    saved.write_text(PAGE, encoding="utf-8")
    unknown = veille("explain", str(saved), "--entity", "OpenAI")
    assert unknown.exit_code == 1 and "not tracked: OpenAI" in unknown.stderr
