"""Google-Alerts-like queries, parsed to a small tree that the matcher evaluates.

    Kyutai                 the word, whole, case- and accent-insensitive (folded like an alias)
    "Mistral AI"           the phrase (also “…” and «…»)
    Mistral LLM            both: juxtaposition is AND (an explicit AND is accepted and ignored)
    LLM OR modèle          either (also `|`); OR binds tighter than AND, as in Google:
                           `Mistral LLM OR modèle` is Mistral AND (LLM OR modèle)
    -vent, -"vent froid"   must not appear anywhere
    +Meta                  case-sensitive (Meta, not meta)
    ( ... )                grouping
    intitle:Kyutai         in the title (also intitle:"Mistral AI")
    site:lemonde.fr        the article's host is lemonde.fr or one of its subdomains

Entity names, aliases and options compile to the same tree (see `matcher`). A query must look for
at least one word or phrase. `QuerySyntaxError` says what is wrong and where.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from veille.matching.normalize import fold_term


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; `position` is the 0-based index of the offending character."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Term:
    phrase: str  # as the user wrote it
    exact: bool = False  # case-sensitive


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]
    label: str = ""  # what the alternatives are, for veto reasons ("context word")


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class InTitle:
    term: Term


@dataclass(frozen=True, slots=True)
class Site:
    domain: str  # lowercase host, e.g. "lemonde.fr"


Node = Term | And | Or | Not | InTitle | Site


def parse_query(text: str) -> Node:
    """Parse a query; raise QuerySyntaxError on a bad one."""
    node = _Parser(text).parse()
    if not any(positive for _, positive in terms(node)):
        raise QuerySyntaxError("the query looks for nothing: add a word or phrase that is not excluded", 0)
    return node


def looks_like_query(text: str) -> bool:
    """Whether what a user typed uses query syntax (quotes, parentheses, OR, AND, |, a leading - or +,
    intitle:, site:) rather than being a plain name like `Mistral AI` or `Jean-Paul Sartre`."""
    if any(char in _STOP for char in text):
        return True
    for word in text.split():
        if word in ("OR", "AND", "|") or (word[0] in "-+" and len(word) > 1):
            return True
        if word.partition(":")[0].lower() in ("intitle", "site") and ":" in word:
            return True
    return False


def terms(node: Node, positive: bool = True) -> Iterator[tuple[Term, bool]]:
    """Every term of the tree, with whether it is looked for (True) or excluded (False)."""
    match node:
        case Term():
            yield node, positive
        case InTitle(term=term):
            yield term, positive
        case And(children=children) | Or(children=children):
            for child in children:
                yield from terms(child, positive)
        case Not(child=child):
            yield from terms(child, not positive)
        case Site():
            pass


def render(node: Node) -> str:
    """The query text of a tree; `parse_query(render(tree)) == tree`."""
    match node:
        case Term(phrase=phrase, exact=exact):
            plain = _WORD.fullmatch(phrase) and phrase not in ("OR", "AND", "|")
            return ("+" if exact else "") + (phrase if plain else f'"{phrase}"')
        case InTitle(term=term):
            return "intitle:" + render(term)
        case Site(domain=domain):
            return "site:" + domain
        case Not(child=child):
            return "-" + (render(child) if isinstance(child, Term | InTitle | Site) else f"({render(child)})")
        case And(children=children):
            return " ".join(f"({render(c)})" if isinstance(c, Or | And) else render(c) for c in children)
        case Or(children=children):
            return " OR ".join(f"({render(c)})" if isinstance(c, And | Or) else render(c) for c in children)
    raise TypeError(f"not a query node: {node!r}")


_WORD = re.compile(r"[^\s()\"“”«»„:+\-][^\s()\"“”«»„:]*")
_QUOTES = {'"': '"', "“": "”", "«": "»", "„": "“"}
_STOP = frozenset('()"“”«»„')
_DOMAIN = re.compile(r"[\w-]+(\.[\w-]+)*")

MAX_DEPTH = 32  # parentheses inside parentheses


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # word, phrase, intitle, site, OR, AND, -, +, (, )
    value: str
    position: int


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_tokenize(text))
        self.index = 0
        self.depth = 0  # parentheses open at this point

    def parse(self) -> Node:
        if not self.tokens:
            raise QuerySyntaxError("the query is empty", 0)
        node = self._and()
        if (token := self._peek()) is not None:
            raise QuerySyntaxError("unexpected ')' with no '(' before it", token.position)
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _end(self) -> int:
        return len(self.text)

    def _and(self) -> Node:
        items: list[Node] = []
        while (token := self._peek()) is not None and token.kind != ")":
            if token.kind == "AND":
                self.index += 1
                nxt = self._peek()
                if not items or nxt is None or nxt.kind in (")", "OR", "AND"):
                    raise QuerySyntaxError("AND needs a word or phrase on both sides", token.position)
                continue
            if token.kind == "OR":
                raise QuerySyntaxError("OR needs a word or phrase before it", token.position)
            items.append(self._or())
        if not items:
            position = token.position if token is not None else self._end()
            raise QuerySyntaxError("expected a word or phrase", position)
        return _flatten(And, items)

    def _or(self) -> Node:
        items = [self._unary()]
        while (token := self._peek()) is not None and token.kind == "OR":
            self.index += 1
            nxt = self._peek()
            if nxt is None or nxt.kind in (")", "OR", "AND"):
                raise QuerySyntaxError("OR needs a word or phrase after it", token.position)
            items.append(self._unary())
        return _flatten(Or, items)

    def _unary(self) -> Node:
        token = self.tokens[self.index]
        self.index += 1
        if token.kind == "-":
            return Not(self._primary(self._next(token)))
        if token.kind == "+":
            node = self._primary(self._next(token))
            if not isinstance(node, Term):
                raise QuerySyntaxError("'+' (case-sensitive) applies to a word or phrase", token.position)
            return Term(node.phrase, exact=True)
        return self._primary(token)

    def _next(self, after: _Token) -> _Token:
        token = self._peek()
        if token is None:
            raise QuerySyntaxError(f"'{after.value}' must be followed by a word or phrase", after.position)
        self.index += 1
        return token

    def _primary(self, token: _Token) -> Node:
        match token.kind:
            case "(":
                if (nxt := self._peek()) is not None and nxt.kind == ")":
                    raise QuerySyntaxError("empty parentheses", token.position)
                if self.depth >= MAX_DEPTH:  # the parser and the matcher recurse once per level
                    raise QuerySyntaxError(f"too many nested parentheses (at most {MAX_DEPTH})", token.position)
                self.depth += 1
                node = self._and()
                self.depth -= 1
                if self._peek() is None:
                    raise QuerySyntaxError("'(' is never closed", token.position)
                self.index += 1
                return node
            case "word" | "phrase":
                return _term(token)
            case "intitle":
                return InTitle(_term(token))
            case "site":
                return Site(_domain(token))
        raise QuerySyntaxError(f"unexpected '{token.value}'", token.position)


def _flatten(kind: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        if isinstance(item, kind) and not (isinstance(item, Or) and item.label):
            flat.extend(item.children)
        else:
            flat.append(item)
    return kind(tuple(flat))


def _term(token: _Token) -> Term:
    if not token.value.strip():
        raise QuerySyntaxError("empty phrase", token.position)
    if not any(c.isalnum() for c in fold_term(token.value)):
        raise QuerySyntaxError(f"nothing to search for in {token.value!r}", token.position)
    return Term(token.value.strip())


def _domain(token: _Token) -> str:
    domain = token.value.strip().lower()
    domain = re.sub(r"^[a-z]+://", "", domain).split("/", 1)[0].removeprefix("*.").rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise QuerySyntaxError(f"not a site name: {token.value!r}", token.position)
    return domain


def _tokenize(text: str) -> Iterator[_Token]:
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            yield _Token(char, char, i)
            i += 1
        elif char in _QUOTES:
            phrase, end = _phrase(text, i)
            yield _Token("phrase", phrase, i)
            i = end
        elif char in "-+" and i + 1 < n and not text[i + 1].isspace() and text[i + 1] not in ")-+":
            yield _Token(char, char, i)
            i += 1
        elif char in "-+":
            raise QuerySyntaxError(f"'{char}' must be directly followed by a word or phrase", i)
        elif char in _STOP:
            raise QuerySyntaxError(f"closing quote {char} with no opening quote", i)
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in _STOP:
                i += 1
            word = text[start:i]
            if word in ("OR", "|", "AND"):
                yield _Token("AND" if word == "AND" else "OR", word, start)
                continue
            operator, colon, operand = word.partition(":")
            if not colon or operator.lower() not in ("intitle", "site"):
                yield _Token("word", word, start)
            elif operand:
                yield _Token(operator.lower(), operand, start)
            elif i < n and text[i] in _QUOTES:
                operand, i = _phrase(text, i)
                yield _Token(operator.lower(), operand, start)
            else:
                raise QuerySyntaxError(f"{operator}: needs a word or phrase right after it", start)


def _phrase(text: str, start: int) -> tuple[str, int]:
    """The phrase opened by the quote at `start`, and the index after its closing quote."""
    closing = _QUOTES[text[start]]
    end = text.find(closing, start + 1)
    if end < 0 and closing != '"':
        end = text.find('"', start + 1)
    if end < 0:
        raise QuerySyntaxError("quote is never closed", start)
    return text[start + 1 : end], end + 1
