"""What the feed poller does differently for a search source (``feeds.kind`` "search"): wait for the
provider's turn before asking (:func:`before_request`), and read its answer as hits (:func:`read_hits`), each
hit then stored like a feed's item (conditional GET, the first poll's backlog rule, one article per canonical
URL, the page fetched, extracted and matched)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from veille import http
from veille.feeds.parse import FeedEntry, FeedParseError, ParsedFeed
from veille.search.base import Hit, SearchError
from veille.search.providers import PROVIDERS
from veille.search.slots import wait_turn
from veille.settings import Settings
from veille.storage.db import Database


class ProviderOffError(http.FetchError):
    """The source's provider is not in VEILLE_SEARCH_PROVIDERS: it is not asked."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"the {provider} search provider is off (VEILLE_SEARCH_PROVIDERS): not asked; "
                         "`veille track edit NAME --search` removes this source", transient=False)


def provider_of(options: Mapping[str, Any] | None) -> str:
    return str((options or {}).get("provider") or "")


async def before_request(settings: Settings, db: Database, provider: str) -> None:
    """Wait for the provider's turn (GDELT: one request every 5 s, across processes). Raises
    :class:`ProviderOffError` for a provider that is off, :class:`veille.search.slots.ProviderBusy` when its
    turn is too far away (the source is put off until then)."""
    if provider not in settings.search_provider_names or provider not in PROVIDERS:
        raise ProviderOffError(provider or "unknown")
    await wait_turn(db, provider, PROVIDERS[provider].spacing)


def read_hits(options: Mapping[str, Any] | None, response: http.Response, *, title: str | None) -> ParsedFeed:
    """A search answer as a feed's items; FeedParseError (recorded as the source's error) when the provider
    refused the query or answered something unreadable."""
    name = provider_of(options)
    kind = PROVIDERS.get(name)
    if kind is None:
        raise FeedParseError(f"unknown search provider {name!r}")
    try:
        hits = kind("").parse(response)
    except SearchError as exc:
        raise FeedParseError(str(exc)) from exc
    names = kind.names_publishers
    entries = tuple(dict.fromkeys(_entry(hit, publisher=names) for hit in hits if hit.url))
    return ParsedFeed(title=title, site_url=None, entries=entries, ttl=None, hub=None, warning=None)


def _entry(hit: Hit, *, publisher: bool) -> FeedEntry:
    """A hit as a feed item: no summary (what is matched is the article itself, and the hit's title); the
    publisher's name kept as the item's author where the provider gives one (Google News' <source>)."""
    return FeedEntry(key=(hit.key or hit.url)[:2048], guid=hit.key, link=hit.url, title=hit.title, summary="",
                     content="", published=hit.published, author=(hit.source or None) if publisher else None)
