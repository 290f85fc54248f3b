"""Entity matching: which tracked entities an article mentions, with a snippet for each.

Build a `Matcher` once from the `EntitySpec`s, then call `match(title=..., text=..., url=...)` for
each article: the `MatchReport` lists a `Hit` per entity that alerts and a `Veto` per entity that
was mentioned but ruled out, with the reason.
"""

from veille.matching.matcher import EntitySpec, Hit, Matcher, MatchReport, Veto
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
    parse_query,
    render,
)

__all__ = [
    "And",
    "EntitySpec",
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
    "Veto",
    "fold",
    "fold_term",
    "parse_query",
    "render",
]
