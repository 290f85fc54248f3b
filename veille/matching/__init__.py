"""Entity matching: which tracked entities an article mentions, with a snippet for each.

Build a `Matcher` once from the `EntitySpec`s, then call `match(title=..., text=..., url=...)` for
each article: the `MatchReport` lists a `Hit` per entity that alerts and a `Veto` per entity that
was mentioned but ruled out, with the reason.
"""

from veille.matching.matcher import EntitySpec, Explanation, Hit, Matcher, MatchReport, TermHit, Veto
from veille.matching.normalize import Folded, fold, fold_term
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
)

__all__ = [
    "And",
    "EntitySpec",
    "Explanation",
    "Folded",
    "Hit",
    "InTitle",
    "MatchReport",
    "Matcher",
    "Node",
    "Not",
    "Or",
    "QuerySyntaxError",
    "Site",
    "Term",
    "TermHit",
    "Veto",
    "fold",
    "fold_term",
    "looks_like_query",
    "parse_query",
    "render",
]
