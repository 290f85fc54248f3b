"""The matcher: which entities an article mentions, found in one pass over its folded text.

Every entity compiles to a query tree: either its `query`, or
    (name OR aliases OR exact aliases) AND NOT (excludes...) AND (require...)
All the terms of all the trees go into one Aho-Corasick automaton, built once. For an article, the
automaton runs once over the folded title and once over the folded text, whatever the number of
entities; only the entities one of whose terms was found are then looked at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import ahocorasick

from veille.matching.normalize import Folded, fold, is_word_char, spellings
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
    terms,
)
from veille.matching.snippet import Snippets

FIRST_PARAGRAPH = 500  # characters, when the text has no blank line
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_TITLE, _TEXT = 0, 1


@dataclass(frozen=True, slots=True)
class EntitySpec:
    id: int
    name: str  # as the user typed it
    aliases: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()  # an exclusion anywhere in title or text vetoes the entity
    exact_aliases: tuple[str, ...] = ()  # case-sensitive aliases (Meta, FAIR, Grok)
    require: tuple[str, ...] = ()  # context words, one must appear; in capitals (AI) case-sensitive
    exact: bool = False  # the name itself is case-sensitive
    query: str | None = None  # when set it alone decides (the other options are ignored), name is a label
    min_mentions: int = 1  # fewer hits of the name and aliases -> veto
    in_title: bool = False  # the name or an alias must be in the title, else veto


@dataclass(frozen=True, slots=True)
class Hit:
    entity_id: int
    entity: str  # EntitySpec.name
    term: str  # the alias / word / query term that hit, as the user wrote it
    snippet: str  # the sentence around the best hit (in the title if any), in the article's characters
    highlight: tuple[int, int]  # [start, end) of the hit inside `snippet`
    count: int  # hits of all the entity's terms in title and text
    in_title: bool
    in_first_paragraph: bool


@dataclass(frozen=True, slots=True)
class Veto:
    entity_id: int
    entity: str
    reason: str  # e.g. 'excluded by "vent"', 'no context word (AI, LLM) found', 'not in the title'
    term: str | None  # the term that hit before the veto


@dataclass(frozen=True, slots=True)
class MatchReport:
    matches: tuple[Hit, ...]  # entities that alert, in EntitySpec order
    vetoed: tuple[Veto, ...]


@dataclass(frozen=True, slots=True)
class _Entity:
    spec: EntitySpec
    tree: Node
    mentions: tuple[int, ...]  # ids of the terms whose hits are mentions of the entity
    by_query: bool


_Span = tuple[int, int, int, int]  # (where: _TITLE or _TEXT, start, end, term id), in the original strings


class Matcher:
    """Matches articles against a fixed list of entities; build once, reuse for many articles."""

    def __init__(self, entities: Iterable[EntitySpec]) -> None:
        self._terms: list[Term] = []
        self._term_ids: dict[Term, int] = {}
        self._mentioned_by: list[list[int]] = []
        self._entities: list[_Entity] = []
        for spec in entities:
            self._add(spec)
        self._automaton = self._build()

    def match(self, *, title: str, text: str, url: str | None = None) -> MatchReport:
        found: dict[int, list[_Span]] = {}
        for where, source in ((_TITLE, title), (_TEXT, text)):
            folded = fold(source)
            for term_id, start, end in self._scan(folded):
                found.setdefault(term_id, []).append((where, *folded.span(start, end), term_id))
        candidates = sorted({i for term_id in found for i in self._mentioned_by[term_id]})
        check = _Check(found, self._term_ids, _host(url))
        first_paragraph = _first_paragraph_end(text) if candidates else 0
        snippets = (Snippets(title), Snippets(text))
        matches: list[Hit] = []
        vetoed: list[Veto] = []
        for index in candidates:
            entity = self._entities[index]
            spec = entity.spec
            spans = _distinct([span for term_id in entity.mentions for span in found.get(term_id, ())])
            reason = check.failure(entity.tree)
            if reason is None and not entity.by_query:
                reason = _option_failure(spec, spans)
            best = spans[0]  # title first, then the earliest
            term = self._terms[best[3]].phrase
            if reason is not None:
                vetoed.append(Veto(spec.id, spec.name, reason, term))
                continue
            shown, highlight = snippets[best[0]].around(best[1], best[2])
            matches.append(
                Hit(
                    entity_id=spec.id,
                    entity=spec.name,
                    term=term,
                    snippet=shown,
                    highlight=highlight,
                    count=len(spans),
                    in_title=best[0] == _TITLE,
                    in_first_paragraph=any(w == _TEXT and s < first_paragraph for w, s, _, _ in spans),
                )
            )
        return MatchReport(matches=tuple(matches), vetoed=tuple(vetoed))

    def _add(self, spec: EntitySpec) -> None:
        if spec.query is not None:
            try:
                tree = parse_query(spec.query)
            except QuerySyntaxError as error:
                message = f"entity {spec.id} ({spec.name}): {error.message}"
                raise QuerySyntaxError(message, error.position) from error
            mentions = [term for term, positive in terms(tree) if positive]
        else:
            tree, mentions = _compile(spec)
        index = len(self._entities)
        ids = tuple(dict.fromkeys(self._term_id(term) for term in mentions))
        for term, _ in terms(tree):
            self._term_id(term)
        for term_id in ids:
            self._mentioned_by[term_id].append(index)
        self._entities.append(_Entity(spec, tree, ids, by_query=spec.query is not None))

    def _term_id(self, term: Term) -> int:
        if term not in self._term_ids:
            self._term_ids[term] = len(self._terms)
            self._terms.append(term)
            self._mentioned_by.append([])
        return self._term_ids[term]

    def _build(self) -> ahocorasick.Automaton | None:
        keys: dict[str, dict[tuple[int, str | None], None]] = {}
        for term_id, term in enumerate(self._terms):
            for lower, cased in spellings(term.phrase):
                keys.setdefault(lower, {})[(term_id, cased if term.exact else None)] = None
        if not keys:
            return None
        automaton = ahocorasick.Automaton()
        for key, refs in keys.items():
            automaton.add_word(key, (len(key), is_word_char(key[0]), is_word_char(key[-1]), tuple(refs)))
        automaton.make_automaton()
        return automaton

    def _scan(self, folded: Folded) -> Iterator[tuple[int, int, int]]:
        """(term id, start, end) of every whole-word hit in the folded text."""
        if self._automaton is None:
            return
        text, cased = folded.text, folded.cased
        for last, (length, bounded_left, bounded_right, refs) in self._automaton.iter(text):
            start, end = last + 1 - length, last + 1
            if bounded_left and start > 0 and is_word_char(text[start - 1]):
                continue
            if bounded_right and end < len(text) and is_word_char(text[end]):
                continue
            for term_id, exact in refs:
                if exact is None or cased[start:end] == exact:
                    yield term_id, start, end


def _compile(spec: EntitySpec) -> tuple[Node, list[Term]]:
    """The tree of an entity without a query, and its mention terms."""
    mentions = [
        term
        for term in (
            Term(spec.name, exact=spec.exact),
            *(Term(alias) for alias in spec.aliases),
            *(Term(alias, exact=True) for alias in spec.exact_aliases),
        )
        if _searchable(term.phrase)
    ]
    if not mentions:
        raise ValueError(f"entity {spec.id} ({spec.name!r}): no name or alias with a letter or digit")
    parts: list[Node] = [Or(tuple(mentions))]
    excludes = [Term(word) for word in spec.excludes if _searchable(word)]
    if excludes:
        parts.append(Not(Or(tuple(excludes))))
    require = [Term(word, exact=word.isupper()) for word in spec.require if _searchable(word)]
    if require:
        parts.append(Or(tuple(require), label="context word"))
    return And(tuple(parts)), mentions


def _searchable(phrase: str) -> bool:
    return any(char.isalnum() for char in phrase)


def _option_failure(spec: EntitySpec, spans: list[_Span]) -> str | None:
    if len(spans) < spec.min_mentions:
        return f"only {len(spans)} mention{'' if len(spans) == 1 else 's'}, needs {spec.min_mentions}"
    if spec.in_title and spans[0][0] != _TITLE:
        return "not in the title"
    return None


def _distinct(spans: list[_Span]) -> list[_Span]:
    """The spans in order, title first, without those overlapping an earlier or longer one
    ("Mistral" inside "Mistral AI" is one mention)."""
    kept: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s[0], s[1], -s[2])):
        if kept and kept[-1][0] == span[0] and span[1] < kept[-1][2]:
            continue
        kept.append(span)
    return kept


def _first_paragraph_end(text: str) -> int:
    """Where the first paragraph ends: at the first blank line, or after FIRST_PARAGRAPH characters."""
    start = len(text) - len(text.lstrip())
    blank = _BLANK_LINE.search(text, start)
    return blank.start() if blank else start + FIRST_PARAGRAPH


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


class _Check:
    """Evaluates trees against the hits of one article; `failure` says why one does not hold."""

    def __init__(self, found: dict[int, list[_Span]], term_ids: dict[Term, int], host: str | None) -> None:
        self._found = found
        self._term_ids = term_ids
        self._host = host

    def failure(self, node: Node) -> str | None:
        """None if the tree holds, else a sentence saying which part failed."""
        match node:
            case Term(phrase=phrase):
                return None if self._hits(node) else f'"{phrase}" not found'
            case InTitle(term=term):
                in_title = any(span[0] == _TITLE for span in self._hits(term))
                return None if in_title else f'"{term.phrase}" not in the title'
            case Site(domain=domain):
                ok = self._host is not None and (self._host == domain or self._host.endswith("." + domain))
                return None if ok else f"not on {domain}"
            case And(children=children):
                return next((reason for child in children if (reason := self.failure(child))), None)
            case Or(children=children, label=label):
                failures: list[str] = []
                for child in children:
                    if (reason := self.failure(child)) is None:
                        return None
                    failures.append(reason)
                if all(isinstance(child, Term) for child in children):
                    words = ", ".join(child.phrase for child in children if isinstance(child, Term))
                    return f"no {label} ({words}) found" if label else f"none of ({words}) found"
                return " and ".join(failures)
            case Not(child=child):
                return None if self.failure(child) is not None else f"excluded by {self._witness(child)}"
        raise TypeError(f"not a query node: {node!r}")

    def _hits(self, term: Term) -> list[_Span]:
        return self._found.get(self._term_ids[term], [])

    def _witness(self, node: Node) -> str:
        """What made a (holding) node hold, for an exclusion's reason."""
        for term, positive in terms(node):
            if positive and self._hits(term):
                return f'"{term.phrase}"'
        return render(node)
