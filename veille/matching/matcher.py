"""The matcher: which entities an article mentions, found in one pass over its folded text.

Every entity compiles to a query tree: either its `query`, or
    (name OR aliases OR exact aliases) AND NOT (excludes...) AND (require...)
All the terms of all the trees go into one Aho-Corasick automaton, built once. For an article, the
automaton runs once over each of its folded places (the page's title and text, and the feed's own title and
summary of the item when given), whatever the number of entities; only the entities one of whose mention
terms was found are then looked at. The mention terms are the name and aliases, or what a query is about
(the first part of each AND: `Mistral (LLM OR modèle)` mentions Mistral; LLM and modèle are its context
words, as `--require` words are).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import methodcaller
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
_TITLE, _TEXT, _FEED_TITLE, _FEED_SUMMARY = 0, 1, 2, 3
PLACES = ("title", "text", "feed-title", "feed-summary")  # a hit's `where`, in this order of preference
_TITLES = (_TITLE, _FEED_TITLE)
# Letters in the order of their frequency in English and French news, each mapped to a character
# that sorts before the others (the rest keep their code points, which come later).
_BY_FREQUENCY = {ord(c): chr(1 + i) for i, c in enumerate("eatisnrolucdmphgfbvykwjxqz' 0123456789")}


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
    count: int  # mentions in the page's title and text (in the feed's title and summary when the page has none)
    in_title: bool  # in the page's title or the feed's title of the item
    in_first_paragraph: bool
    where: tuple[str, ...] = ()  # the places mentions were found, of PLACES, in that order


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
class TermHit:
    """One place where one of an entity's terms was found, for `Matcher.explain`."""

    term: str  # as the user wrote it
    role: str  # "mention" (name, alias, looked-for query term), "exclusion", "context word"
    in_title: bool  # in the page's title or the feed's title
    start: int  # [start, end) in the place `where` names
    end: int
    snippet: str
    highlight: tuple[int, int]
    where: str = "text"  # one of PLACES


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one entity that the article mentions alerts (`hit`) or not (`veto`), and every place its
    terms were found."""

    entity_id: int
    entity: str
    hit: Hit | None
    veto: Veto | None
    terms: tuple[TermHit, ...]


_Span = tuple[int, int, int, int]  # (where: an index of PLACES, start, end, term id), in the folded strings
_Found = dict[int, list[_Span]]  # term id -> its hits
_Test = Callable[[_Found, "str | None"], "str | None"]  # (hits, host) -> None if a tree holds, else why not


@dataclass(frozen=True, slots=True)
class _Entity:
    spec: EntitySpec
    tree: Node
    mentions: tuple[int, ...]  # ids of the terms whose hits are mentions of the entity
    by_query: bool


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: building creates some 100,000 tuples and strings that hold no
    cycles, and the collections their allocations would trigger cost a fifth of the build."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Matcher:
    """Matches articles against a fixed list of entities; build once, reuse for many articles."""

    def __init__(self, entities: Iterable[EntitySpec]) -> None:
        self._terms: list[Term] = []
        self._term_ids: dict[Term, int] = {}
        self._mentioned_by: list[list[int]] = []
        self._entities: list[_Entity] = []
        self._tests: list[_Test | None] = []  # each entity's tree, compiled when first needed
        with _no_cyclic_gc():
            for spec in entities:
                self._add(spec)
            self._automaton = self._build()

    def match(
        self, *, title: str, text: str, url: str | None = None, feed_title: str = "", feed_summary: str = ""
    ) -> MatchReport:
        """The entities the article alerts for, and those it mentions but that are ruled out. ``feed_title``
        and ``feed_summary`` are the feed's own words for the item, matched with the page's ``title`` and
        ``text`` (pass them only when they differ from those)."""
        sources = (title, text, feed_title, feed_summary)
        found, folds = self._find(sources)
        if not found:
            return MatchReport(matches=(), vetoed=())
        return self._report(found, folds, self._candidates(found), sources, url)

    def explain(
        self, *, title: str, text: str, url: str | None = None, entity_ids: Iterable[int] | None = None,
        feed_title: str = "", feed_summary: str = "",
    ) -> tuple[MatchReport, tuple[Explanation, ...]]:
        """`match`, and for each entity the article mentions (or only those of `entity_ids`), every
        place where one of its terms (mentions, exclusions, context words) was found."""
        sources = (title, text, feed_title, feed_summary)
        found, folds = self._find(sources)
        chosen = None if entity_ids is None else set(entity_ids)
        candidates = [i for i in self._candidates(found) if chosen is None or self._entities[i].spec.id in chosen]
        report = self._report(found, folds, candidates, sources, url)
        hits = {hit.entity_id: hit for hit in report.matches}
        vetoes = {veto.entity_id: veto for veto in report.vetoed}
        snippets = tuple(Snippets(source) for source in sources)
        explanations = []
        for index in candidates:
            entity = self._entities[index]
            roles: dict[int, str] = {}
            for term, positive in terms(entity.tree):
                term_id = self._term_ids[term]
                if term_id in entity.mentions:
                    roles[term_id] = "mention"
                else:
                    roles.setdefault(term_id, "context word" if positive else "exclusion")
            # mentions as they are counted ("Mistral" inside "Mistral AI" is one), then the other words
            mentions = _distinct([span for term_id in entity.mentions for span in found.get(term_id, ())])
            others = [span for term_id in roles if term_id not in entity.mentions for span in found.get(term_id, ())]
            places: list[TermHit] = []
            for where, start, end, term_id in sorted(mentions + others):
                source_start, source_end = folds[where].span(start, end)
                snippet, highlight = snippets[where].around(source_start, source_end)
                places.append(
                    TermHit(
                        self._terms[term_id].phrase, roles[term_id], where in _TITLES, source_start, source_end,
                        snippet, highlight, PLACES[where],
                    )
                )  # fmt: skip
            explanations.append(
                Explanation(
                    entity_id=entity.spec.id,
                    entity=entity.spec.name,
                    hit=hits.get(entity.spec.id),
                    veto=vetoes.get(entity.spec.id),
                    terms=tuple(places),
                )
            )
        return report, tuple(explanations)

    def mention_keys(self, entity_id: int) -> tuple[str, ...]:
        """Every folded spelling under which the entity's mentions (name, aliases, what its query is about) are
        looked up: an article that contains none of them can't mention it (a search index uses this to skip
        the articles that can't)."""
        keys: dict[str, None] = {}
        for entity in self._entities:
            if entity.spec.id == entity_id:
                for term_id in entity.mentions:
                    keys.update(dict.fromkeys(lower for lower, _ in spellings(self._terms[term_id].phrase)))
        return tuple(keys)

    def _find(self, sources: tuple[str, ...]) -> tuple[_Found, tuple[Folded, ...]]:
        """The hits of every term in the folded places, and those folded texts (which map a hit back to
        the original only when it is shown)."""
        found: _Found = {}
        folds = tuple(fold(source) if source else _EMPTY for source in sources)
        for where, folded in enumerate(folds):
            if not folded.text:
                continue
            for term_id, start, end in self._scan(folded):
                found.setdefault(term_id, []).append((where, start, end, term_id))
        return found, folds

    def _candidates(self, found: _Found) -> list[int]:
        """The entities (indexes, in spec order) one of whose mention terms was found."""
        mentioned_by = self._mentioned_by
        return sorted({i for term_id in found for i in mentioned_by[term_id]})

    def _report(
        self, found: _Found, folds: tuple[Folded, ...], candidates: list[int], sources: tuple[str, ...],
        url: str | None,
    ) -> MatchReport:
        host = _host(url)
        first_paragraph = _first_paragraph_end(sources[_TEXT]) if candidates else 0
        snippets: dict[int, Snippets] = {}
        matches: list[Hit] = []
        vetoed: list[Veto] = []
        for index in candidates:
            entity = self._entities[index]
            spec = entity.spec
            spans = _distinct([span for term_id in entity.mentions for span in found.get(term_id, ())])
            # the feed's words often repeat the page's: they count only when the page itself has no mention
            counted = [span for span in spans if span[0] <= _TEXT] or spans
            test = self._tests[index] or self._compile(index)
            reason = test(found, host)
            if reason is None and not entity.by_query:
                reason = _option_failure(spec, counted, in_title=any(span[0] in _TITLES for span in spans))
            best = spans[0]  # the page's title first, then its text, then the feed's title and summary
            term = self._terms[best[3]].phrase
            if reason is not None:
                vetoed.append(Veto(spec.id, spec.name, reason, term))
                continue
            place = best[0]
            if place not in snippets:
                snippets[place] = Snippets(sources[place])
            shown, highlight = snippets[place].around(*folds[place].span(best[1], best[2]))
            matches.append(
                Hit(
                    entity_id=spec.id,
                    entity=spec.name,
                    term=term,
                    snippet=shown,
                    highlight=highlight,
                    count=len(counted),
                    in_title=any(span[0] in _TITLES for span in spans),
                    in_first_paragraph=any(
                        w == _TEXT and folds[_TEXT].offset(s) < first_paragraph for w, s, _, _ in spans
                    ),
                    where=tuple(PLACES[w] for w in sorted({span[0] for span in spans})),
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
            mentions = _subjects(tree) or [term for term, positive in terms(tree) if positive]
        else:
            tree, mentions = _compile(spec)
        index = len(self._entities)
        ids = tuple(dict.fromkeys(self._term_id(term) for term in mentions))
        for term, _ in terms(tree):
            self._term_id(term)
        for term_id in ids:
            self._mentioned_by[term_id].append(index)
        self._entities.append(_Entity(spec, tree, ids, by_query=spec.query is not None))
        self._tests.append(None)

    def _compile(self, index: int) -> _Test:
        test = self._tests[index] = _compile_test(self._entities[index].tree, self._term_ids)
        return test

    def _term_id(self, term: Term) -> int:
        if term not in self._term_ids:
            self._term_ids[term] = len(self._terms)
            self._terms.append(term)
            self._mentioned_by.append([])
        return self._term_ids[term]

    def _build(self) -> ahocorasick.Automaton | None:
        keys: dict[str, list[tuple[int, str | None]]] = {}  # folded key -> (term id, cased form if exact)
        for term_id, term in enumerate(self._terms):
            for lower, cased in spellings(term.phrase):
                ref = (term_id, cased if term.exact else None)
                refs = keys.get(lower)
                if refs is None:
                    keys[lower] = [ref]
                elif ref not in refs:
                    refs.append(ref)
        if not keys:
            return None
        automaton = ahocorasick.Automaton()
        # pyahocorasick looks for a node's next letter in the order the letters were first added:
        # adding the keys in the order of an alphabet sorted by frequency makes the lookups short.
        for key in sorted(keys, key=methodcaller("translate", _BY_FREQUENCY)):
            automaton.add_word(key, (len(key), is_word_char(key[0]), is_word_char(key[-1]), tuple(keys[key])))
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


_EMPTY = fold("")


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


def _subjects(node: Node) -> list[Term] | None:
    """The terms a query is about: those of the first part of each AND that looks for something, the others
    being its context words (`Mistral (LLM OR modèle)` is about Mistral; `"Mistral AI" OR (Mistral LLM)`
    about "Mistral AI" and Mistral). Whenever the query holds, one of them is found; None when no such
    terms can be named (a part that only excludes, or `site:`)."""
    match node:
        case Term():
            return [node]
        case InTitle(term=term):
            return [term]
        case Or(children=children):
            found: list[Term] = []
            for child in children:
                if (part := _subjects(child)) is None:
                    return None
                found.extend(part)
            return found
        case And(children=children):
            return next((part for child in children if (part := _subjects(child)) is not None), None)
    return None  # Not, Site


def _searchable(phrase: str) -> bool:
    return any(char.isalnum() for char in phrase)


def _option_failure(spec: EntitySpec, spans: list[_Span], *, in_title: bool) -> str | None:
    if len(spans) < spec.min_mentions:
        return f"only {len(spans)} mention{'' if len(spans) == 1 else 's'}, needs {spec.min_mentions}"
    if spec.in_title and not in_title:
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


def _compile_test(node: Node, term_ids: dict[Term, int]) -> _Test:
    """A function that says why the tree does not hold for an article's hits (None if it does)."""
    match node:
        case Term(phrase=phrase):
            term_id, missing = term_ids[node], f'"{phrase}" not found'
            return lambda found, host: None if term_id in found else missing
        case InTitle(term=term):
            term_id, missing = term_ids[term], f'"{term.phrase}" not in the title'
            return lambda found, host: None if any(span[0] in _TITLES for span in found.get(term_id, ())) else missing
        case Site(domain=domain):
            elsewhere, suffix = f"not on {domain}", "." + domain
            return lambda found, host: (
                None if host is not None and (host == domain or host.endswith(suffix)) else elsewhere
            )
        case And(children=children):
            tests = tuple(_compile_test(child, term_ids) for child in children)

            def all_hold(found: _Found, host: str | None) -> str | None:
                for test in tests:
                    if (reason := test(found, host)) is not None:
                        return reason
                return None

            return all_hold
        case Or(children=children, label=label):
            tests = tuple(_compile_test(child, term_ids) for child in children)
            summary = None
            if all(isinstance(child, Term) for child in children):
                words = ", ".join(child.phrase for child in children if isinstance(child, Term))
                summary = f"no {label} ({words}) found" if label else f"none of ({words}) found"

            def one_holds(found: _Found, host: str | None) -> str | None:
                failures: list[str] = []
                for test in tests:
                    if (reason := test(found, host)) is None:
                        return None
                    failures.append(reason)
                return summary or " and ".join(failures)

            return one_holds
        case Not(child=child):
            inner = _compile_test(child, term_ids)
            witnesses = tuple((term_ids[term], f'"{term.phrase}"') for term, positive in terms(child) if positive)
            fallback = render(child)

            def excluded(found: _Found, host: str | None) -> str | None:
                if inner(found, host) is not None:
                    return None
                witness = next((quoted for term_id, quoted in witnesses if term_id in found), fallback)
                return f"excluded by {witness}"

            return excluded
    raise TypeError(f"not a query node: {node!r}")
