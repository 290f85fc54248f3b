"""GDELT DOC 2.0 (https://blog.gdeltproject.org/gdelt-doc-2-0-api-debuts/): open data, the publisher's URL in
every hit, 65 languages (``sourcelang:``).

Request: ``{VEILLE_GDELT_URL}/api/v2/doc/doc?query=...&mode=artlist&format=json&sort=datedesc``, newest first.
Answer: ``{"articles": [{"url", "title", "seendate": "20240615T170000Z", "domain", "language", ...}]}`` (``{}``
when nothing matches). ``seendate`` is when GDELT saw the article, at 15-minute granularity: its date here.

GDELT asks for at most one request every 5 seconds (``spacing``: kept across processes by
:mod:`veille.search.slots`) and answers some errors with HTTP 200 and a plain-text body ("One or more of your
keywords were too short, too long or too common: ..."): :class:`SearchError`, recorded as the source's error.
Words shorter than 3 characters are refused by GDELT, so they are left out of its queries (a context group
with one is left out whole: the matcher still requires it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from veille import http
from veille.search.base import Hit, Provider, SearchError, SearchTerms, any_of, clean, phrase
from veille.search.languages import GDELT_NAMES

MIN_WORD = 3  # GDELT refuses shorter keywords


def _searchable(term: str) -> bool:
    term = clean(term)
    return len(term) >= MIN_WORD or " " in term


class Gdelt(Provider):
    name = "gdelt"
    label = "GDELT"
    spacing = 5.0
    languages = frozenset(GDELT_NAMES)

    def queries(self, terms: SearchTerms) -> list[str]:
        context = [group for group in terms.context if all(_searchable(w) for w in group)]
        names = [t for t in terms.names(whole_context=len(context) == len(terms.context)) if _searchable(t)]
        if not names:
            return []
        parts = [any_of(names)]
        parts += [any_of(group) for group in context]
        parts += [f"-{phrase(w)}" for w in terms.exclude if _searchable(w)]
        return [" ".join(parts)]

    def request(self, query: str, lang: str) -> str:
        return self._url("/api/v2/doc/doc", {"query": f"{query} sourcelang:{GDELT_NAMES[lang]}", "mode": "artlist",
                                             "format": "json", "sort": "datedesc"})

    def parse(self, response: http.Response) -> list[Hit]:
        text = response.content.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
        if not text:
            return []
        if not text.startswith("{"):
            if text[:200].lower().lstrip().startswith(("<!doctype", "<html")):
                raise SearchError("GDELT answered an HTML page instead of results (a query it can't read?)")
            first = text.splitlines()[0].strip()
            raise SearchError(f"GDELT refused the query: {first[:300]}")
        try:
            document = json.loads(text, strict=False)  # GDELT's titles sometimes carry raw control characters
        except json.JSONDecodeError as exc:
            raise SearchError(f"GDELT answered unreadable JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise SearchError("GDELT answered JSON that is not an object")
        articles = document.get("articles", [])
        if not isinstance(articles, list):
            raise SearchError("GDELT answered JSON whose articles are not a list")
        hits = []
        for item in articles:
            if not isinstance(item, dict):
                continue
            url = _string(item.get("url"))
            if not url:
                continue
            hits.append(Hit(url=url, title=_string(item.get("title")), published=seen_date(item.get("seendate")),
                            source=_string(item.get("domain")) or None))
        return hits


def _string(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def seen_date(value: Any) -> datetime | None:
    """``20240615T170000Z`` as a UTC datetime; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
