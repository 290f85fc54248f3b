"""The founding example: a French article about Kyutai, every name typed plainly."""

from __future__ import annotations

import pytest

from veille.matching import EntitySpec, Hit, Matcher

ENTITIES = [
    EntitySpec(1, "Kyutai"),
    EntitySpec(2, "Xavier Niel"),
    EntitySpec(3, "Iliad"),
    EntitySpec(4, "Scaleway"),
    EntitySpec(5, "Herve Jegou"),
    EntitySpec(6, "Yann LeCun"),
    EntitySpec(7, "Bernhard Scholkopf"),
    EntitySpec(8, "Mistral AI", aliases=("Mistral",), excludes=("vent",)),
    EntitySpec(9, "OpenAI"),
    EntitySpec(10, "Meta Platforms", exact_aliases=("Meta",)),
    EntitySpec(11, "Anthropic"),  # not in the article
    EntitySpec(12, "Kyutai (requête)", query='Kyutai ("330 millions de dollars" OR IA) -crypto'),
]


@pytest.fixture
def hits(kyutai_fr: tuple[str, str]) -> dict[int, Hit]:
    title, text = kyutai_fr
    report = Matcher(ENTITIES).match(title=title, text=text, url="https://www.example.fr/tech/kyutai")
    assert report.vetoed == ()
    assert [hit.entity_id for hit in report.matches] == sorted(hit.entity_id for hit in report.matches)
    return {hit.entity_id: hit for hit in report.matches}


def test_every_name_typed_plainly_hits_once_and_the_absent_one_not(hits: dict[int, Hit]) -> None:
    assert sorted(hits) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]


@pytest.mark.parametrize(
    ("entity_id", "highlight", "count", "in_title", "in_first_paragraph"),
    [
        (1, "Kyutai", 3, True, True),
        (2, "Xavier Niel", 3, True, True),
        (3, "Iliad", 1, False, True),  # « d’Iliad »
        (4, "Scale\u00adway", 1, False, False),  # a soft hyphen inside the word
        (5, "Hervé Jégou", 1, False, False),
        (6, "Yann LeCun", 1, False, False),
        (7, "Bernhard Schölkopf", 1, False, False),  # across a line break, shown as a space
        (8, "Mistral AI", 1, False, False),  # "souvent" does not exclude
        (9, "OpenAI", 3, False, False),  # d’OpenAI, qu’OpenAI, OpenAI’s
        (10, "Meta", 1, False, False),  # not "métadonnées"
        (12, "Kyutai", 3, True, True),  # Kyutai 3 ("330 millions de dollars" and IA are context words)
    ],
)
def test_hit_details(
    hits: dict[int, Hit], entity_id: int, highlight: str, count: int, in_title: bool, in_first_paragraph: bool
) -> None:
    hit = hits[entity_id]
    assert hit.snippet[hit.highlight[0] : hit.highlight[1]] == highlight
    assert (hit.count, hit.in_title, hit.in_first_paragraph) == (count, in_title, in_first_paragraph)
    assert len(hit.snippet) <= 304


def test_snippets_are_sentences_of_the_original(hits: dict[int, Hit], kyutai_fr: tuple[str, str]) -> None:
    title, _ = kyutai_fr
    assert hits[1].snippet == title
    assert hits[5].snippet == (
        "L’équipe scientifique est dirigée par Hervé Jégou, passé par Meta, où il travaillait sur la "
        "recherche fondamentale."
    )
    assert hits[3].snippet.startswith("Xavier Niel, le fondateur d’Iliad,")
    assert "prestigieux\u00a0: Yann LeCun" in hits[6].snippet  # NBSP kept


def test_meta_as_an_exact_alias_ignores_metadonnees_and_metadata() -> None:
    matcher = Matcher([EntitySpec(10, "Meta Platforms", exact_aliases=("Meta",))])
    report = matcher.match(title="", text="Les métadonnées, la metadata, les META-données et le métavers.")
    assert report.matches == () and report.vetoed == ()
