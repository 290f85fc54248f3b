"""What every news search provider is: one small interface (:class:`Provider`), the hits it finds
(:class:`Hit`), the words it is asked for (:class:`SearchTerms`) and the error of a provider that answers a
request with a refusal instead of results (:class:`SearchError`).

A provider turns an entity's words into its own query syntax (:meth:`Provider.queries`), a query and a
language into the URL it is asked at (:meth:`Provider.request`: the base URL the operator set, then the
provider's own path and query), and its answer into hits (:meth:`Provider.parse`). Everything else (when to
ask, politely, and what becomes of a hit) is the poller's: a hit is an item of its search source, fetched,
extracted and matched like a feed's.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from urllib.parse import urlencode, urlsplit

from veille import http


class SearchError(ValueError):
    """The provider answered, but with an error instead of results (GDELT's plain-text refusals, Google News'
    "This feed is not available."): the message says which provider and what it said."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One result: the article's URL (or the provider's link to it, when the provider hides the publisher's),
    its title, when it was published (or first seen by the provider), and who published it."""

    url: str
    title: str
    published: datetime | None
    source: str | None = None  # the publisher: a name (Google News' <source>) or a domain (GDELT)
    key: str | None = None  # the hit's identity at the provider when it is not its URL (Google News' guid)


@dataclass(frozen=True, slots=True)
class SearchTerms:
    """What to search for: any of ``subject`` (names, phrases), with one word of each ``context`` group, and
    none of ``exclude``. The ``guarded`` ones among the subject (case-sensitive aliases: "Meta") are worth
    asking only with the context: a provider that can't say all of it leaves them out."""

    subject: tuple[str, ...]
    context: tuple[tuple[str, ...], ...] = ()
    exclude: tuple[str, ...] = ()
    guarded: tuple[str, ...] = ()

    def names(self, *, whole_context: bool) -> list[str]:
        """The subject to ask a provider that can say the whole context (``whole_context``) or not."""
        return [t for t in self.subject if whole_context or t not in self.guarded]


_PLAIN = re.compile(r"^[\w.&'-]+$")


def clean(term: str) -> str:
    """A term without the quotes and brackets that would break a provider's query syntax."""
    return " ".join(re.sub(r"[\"“”«»„()]", " ", term).split())


def phrase(term: str) -> str:
    """A term as a query word: a single plain word as it is, anything else in double quotes."""
    term = clean(term)
    return term if _PLAIN.match(term) else f'"{term}"'


def any_of(terms: Sequence[str], *, quote_all: bool = False) -> str:
    """``"Kyutai"`` or ``("Kyutai" OR "Kyutai Labs")``."""
    words = [f'"{clean(t)}"' if quote_all else phrase(t) for t in terms]
    return words[0] if len(words) == 1 else "(" + " OR ".join(words) + ")"


class Provider(ABC):
    """A news search provider. ``base_url``: scheme, host and an optional path prefix (a setting)."""

    name: ClassVar[str]  # as VEILLE_SEARCH_PROVIDERS and the sources' options name it: "gdelt"
    label: ClassVar[str]  # as people write it: "GDELT"
    spacing: ClassVar[float] = 0.0  # seconds between two requests to it, across every process (0: no rule)
    languages: ClassVar[frozenset[str] | None] = None  # the languages it can search; None: every one
    names_publishers: ClassVar[bool] = False  # a hit's ``source`` is the publisher's name (kept as the author)

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def supports(self, lang: str) -> bool:
        return self.languages is None or lang in self.languages

    @abstractmethod
    def queries(self, terms: SearchTerms) -> list[str]:
        """The queries that find ``terms`` (one source each); none when it can't search for them."""

    @abstractmethod
    def request(self, query: str, lang: str) -> str:
        """The URL that asks ``query`` in ``lang``."""

    @abstractmethod
    def parse(self, response: http.Response) -> list[Hit]:
        """The hits of an answer; :class:`SearchError` when the answer is a refusal or unreadable."""

    def hides_publisher(self, url: str) -> bool:
        """Whether ``url`` is this provider's own link to an article (the publisher's URL is behind it)."""
        return False

    def _url(self, path: str, params: dict[str, str]) -> str:
        return f"{self.base_url}{path}?{urlencode(params, safe=':')}"

    def owns(self, url: str) -> bool:
        """Whether ``url`` is on this provider's host (and port), under its path prefix."""
        mine, other = urlsplit(self.base_url), urlsplit(url)
        return (other.scheme.lower(), other.netloc.lower()) == (mine.scheme.lower(), mine.netloc.lower()) and \
            other.path.startswith(mine.path)
