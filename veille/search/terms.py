"""What an entity's searches look for (:class:`SearchTerms`), from its definition.

- The name and the aliases, any of them (a multi-word one as a phrase).
- Case-sensitive aliases (``--alias-exact Meta``) only when the entity has context words (``--require``) and
  the provider can ask for all of them: search engines ignore case, so alone "Meta" would bring every article
  saying "meta"; with its context ("Meta" with AI) it finds what the matcher is after.
- The context words (``--require``), one of which must appear, as a group; the excluded words (``--exclude``)
  as ``-word``, where the provider supports it.
- A query entity (``--query``) searches for what the query is about: its looked-for words (the first word or
  group of an AND, every branch of an OR), the other looked-for words of a top-level AND as context, its
  top-level ``-word`` as exclusions; ``site:`` and case are left to the matcher.

Whatever a search brings back is matched like any article: the query only has to find the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

from veille.matching.query import And, InTitle, Node, Not, Or, Site, Term, parse_query
from veille.search.base import SearchTerms


def entity_terms(
    *, name: str, aliases: Sequence[str] = (), exact_aliases: Sequence[str] = (), exclude: Sequence[str] = (),
    require: Sequence[str] = (), query: str | None = None,
) -> SearchTerms:
    if query:
        return query_terms(query)
    subject = [name, *aliases, *(exact_aliases if require else ())]
    context = (tuple(require),) if require else ()
    guarded = tuple(a for a in _unique(exact_aliases) if a not in (name, *aliases)) if require else ()
    return SearchTerms(subject=_unique(subject), context=context, exclude=_unique(exclude), guarded=guarded)


def query_terms(query: str) -> SearchTerms:
    """What a query is about (see the module's description)."""
    node = parse_query(query)
    if isinstance(node, And):
        subject: list[str] = []
        context: list[tuple[str, ...]] = []
        exclude: list[str] = []
        for child in node.children:
            if isinstance(child, Not):
                if isinstance(child.child, Term | InTitle):
                    exclude.append(_word(child.child))
                continue
            words = _subject(child)
            if not words:
                continue
            if not subject:
                subject = words
            else:
                context.append(tuple(words))
        return SearchTerms(subject=_unique(subject), context=tuple(context), exclude=_unique(exclude))
    return SearchTerms(subject=_unique(_subject(node)))


def _subject(node: Node) -> list[str]:
    """The words a node looks for, any of which: a term; every branch of an OR; an AND's first one."""
    match node:
        case Term() | InTitle():
            return [_word(node)]
        case Or(children=children):
            return [w for child in children for w in _subject(child)]
        case And(children=children):
            for child in children:
                found = _subject(child) if not isinstance(child, Not) else []
                if found:
                    return found
            return []
        case Not() | Site():
            return []
    return []


def _word(node: Term | InTitle) -> str:
    return node.term.phrase if isinstance(node, InTitle) else node.phrase


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(i for i in dict.fromkeys(" ".join(i.split()) for i in items) if i)
