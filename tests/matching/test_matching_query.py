from __future__ import annotations

import pytest

from veille.matching.query import (
    And,
    InTitle,
    Node,
    Not,
    Or,
    QuerySyntaxError,
    Site,
    Term,
    looks_like_query,
    parse_query,
    render,
    terms,
)

K, M, V = Term("Kyutai"), Term("Mistral"), Term("vent")


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("Kyutai", K),
        ('"Mistral AI"', Term("Mistral AI")),
        ("“Mistral AI”", Term("Mistral AI")),
        ("«\u00a0Mistral AI\u00a0»", Term("Mistral AI")),
        ("Kyutai Mistral", And((K, M))),
        ("Kyutai AND Mistral", And((K, M))),
        ("Kyutai OR Mistral", Or((K, M))),
        ("Kyutai | Mistral", Or((K, M))),
        ("Kyutai or Mistral", And((K, Term("or"), M))),  # only the uppercase keyword is OR
        ("Mistral -vent", And((M, Not(V)))),
        ('Mistral -"vent froid"', And((M, Not(Term("vent froid"))))),
        ("Kyutai-backed", Term("Kyutai-backed")),  # a hyphen inside a word is not an exclusion
        ("+Meta", Term("Meta", exact=True)),
        ("C++", Term("C++")),
        ("intitle:Kyutai", InTitle(K)),
        ('intitle:"Mistral AI"', InTitle(Term("Mistral AI"))),
        ("Kyutai site:lemonde.fr", And((K, Site("lemonde.fr")))),
        ("Kyutai site:https://www.LeMonde.fr/tech/", And((K, Site("www.lemonde.fr")))),
        ("Kyutai -site:lemonde.fr", And((K, Not(Site("lemonde.fr"))))),
        # OR binds tighter than juxtaposition, as in Google
        ("Kyutai Mistral OR vent", And((K, Or((M, V))))),
        ("(Kyutai Mistral) OR vent", Or((And((K, M)), V))),
        ("Kyutai (Mistral)", And((K, M))),
        (
            '"Mistral AI" OR (Mistral (LLM OR modèle)) -vent',
            And(
                (
                    Or((Term("Mistral AI"), And((M, Or((Term("LLM"), Term("modèle"))))))),
                    Not(V),
                )
            ),
        ),
    ],
)
def test_parse_query(query: str, tree: Node) -> None:
    assert parse_query(query) == tree


def test_nesting_up_to_the_limit_is_read() -> None:
    assert parse_query("(" * 32 + "Kyutai" + ")" * 32) == Term("Kyutai")


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ("", "the query is empty", 0),
        ("   ", "the query is empty", 0),
        ('Kyutai "Mistral AI', "quote is never closed", 7),
        ("(Kyutai OR Mistral", "'(' is never closed", 0),
        ("Kyutai)", "unexpected ')' with no '(' before it", 6),
        ("Kyutai ()", "empty parentheses", 7),
        ("OR Kyutai", "OR needs a word or phrase before it", 0),
        ("Kyutai OR", "OR needs a word or phrase after it", 7),
        ("Kyutai OR OR Mistral", "OR needs a word or phrase after it", 7),
        ("Kyutai AND", "AND needs a word or phrase on both sides", 7),
        ("Kyutai - vent", "'-' must be directly followed by a word or phrase", 7),
        ("Kyutai -", "'-' must be directly followed by a word or phrase", 7),
        ("+site:a.fr", "'+' (case-sensitive) applies to a word or phrase", 0),
        ('Kyutai ""', "empty phrase", 7),
        ("Kyutai …", "nothing to search for in '…'", 7),
        ("intitle: Kyutai", "intitle: needs a word or phrase right after it", 0),
        ("Kyutai site:", "site: needs a word or phrase right after it", 7),
        ("Kyutai site:exa!mple.com", "not a site name: 'exa!mple.com'", 7),
        ("Kyutai ”", "closing quote ” with no opening quote", 7),
        ("-vent", "the query looks for nothing: add a word or phrase that is not excluded", 0),
        ("site:lemonde.fr", "the query looks for nothing: add a word or phrase that is not excluded", 0),
        # deeper nesting would exhaust Python's recursion (a RecursionError, a crash of the API request)
        ("(" * 5000 + "Kyutai" + ")" * 5000, "too many nested parentheses (at most 32)", 32),
        ("-(" * 40 + "Kyutai" + ")" * 40, "too many nested parentheses (at most 32)", 65),
    ],
)
def test_bad_query_says_what_and_where(query: str, message: str, position: int) -> None:
    with pytest.raises(QuerySyntaxError) as raised:
        parse_query(query)
    assert (raised.value.message, raised.value.position) == (message, position)
    assert f"position {position}" in str(raised.value)


@pytest.mark.parametrize(
    "query",
    [
        '"Mistral AI" OR (Mistral (LLM OR modèle)) -vent',
        "intitle:Kyutai -site:lemonde.fr +Meta",
        '-(vent OR "vent froid") Mistral',
        '"site:lemonde.fr" OR "OR" Kyutai-backed',
    ],
)
def test_render_parses_back_to_the_same_tree(query: str) -> None:
    tree = parse_query(query)
    assert parse_query(render(tree)) == tree


def test_terms_know_which_are_excluded() -> None:
    tree = parse_query("intitle:Kyutai -(vent OR -Mistral) site:a.fr")
    assert list(terms(tree)) == [(K, True), (V, False), (M, True)]


@pytest.mark.parametrize(
    ("text", "is_query"),
    [
        ("Mistral AI", False),
        ("Jean-Paul Sartre", False),
        ("AT&T", False),
        ("C++", False),
        ("Yann LeCun", False),
        ("site web", False),
        ('"Mistral AI"', True),
        ("Mistral OR Kyutai", True),
        ("Mistral -vent", True),
        ("+Meta", True),
        ("(Mistral)", True),
        ("intitle:Kyutai", True),
        ("Kyutai site:lemonde.fr", True),
        ("« Mistral AI »", True),
    ],
)
def test_looks_like_query(text: str, is_query: bool) -> None:
    assert looks_like_query(text) is is_query
