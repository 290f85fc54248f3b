"""Hacker News, through the Algolia search API (https://hn.algolia.com/api): stories only, newest first.

Request: ``{VEILLE_HN_URL}/api/v1/search_by_date?query=...&tags=story``; one query per name (Algolia has no
OR): quoted phrases and ``-word`` exclusions are understood. Answer: ``{"hits": [{"objectID", "title", "url",
"created_at", "created_at_i", ...}], ...}``. A hit's ``url`` is the article; a story without one (Ask HN, a
text post) is skipped. English only: Hacker News is written in English. The API allows 10,000 requests an hour
from one address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from veille import http
from veille.search.base import Hit, Provider, SearchError, SearchTerms, clean, phrase


class HackerNews(Provider):
    name = "hn"
    label = "Hacker News"
    languages = frozenset({"en"})

    def queries(self, terms: SearchTerms) -> list[str]:
        # a context group of one word narrows every query (AND); groups of several can't be said without OR
        extra = [phrase(group[0]) for group in terms.context if len(group) == 1]
        extra += [f"-{clean(w)}" for w in terms.exclude if " " not in clean(w)]
        whole = all(len(group) == 1 for group in terms.context)
        return [" ".join([phrase(name), *extra]) for name in terms.names(whole_context=whole) if clean(name)]

    def request(self, query: str, lang: str) -> str:
        return self._url("/api/v1/search_by_date", {"query": query, "tags": "story"})

    def parse(self, response: http.Response) -> list[Hit]:
        import json

        try:
            document = json.loads(response.content.decode("utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            raise SearchError(f"Hacker News search answered unreadable JSON: {exc}") from exc
        if not isinstance(document, dict) or not isinstance(document.get("hits"), list):
            message = document.get("message") if isinstance(document, dict) else None
            raise SearchError(f"Hacker News search answered no hits: {message or 'not a search result'}")
        hits = []
        for item in document["hits"]:
            if not isinstance(item, dict):
                continue
            url = item.get("url")
            if not isinstance(url, str) or not url.strip():
                continue  # Ask HN, Show HN text posts: no article
            title = item.get("title") if isinstance(item.get("title"), str) else ""
            hits.append(Hit(url=url.strip(), title=" ".join(str(title).split()), published=_created(item),
                            source="Hacker News"))
        return hits


def _created(item: dict[str, Any]) -> datetime | None:
    stamp = item.get("created_at_i")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = item.get("created_at")
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None
