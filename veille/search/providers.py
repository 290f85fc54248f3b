"""The providers veille knows, by name, each built on its base URL setting; which ones are on
(``VEILLE_SEARCH_PROVIDERS``, default ``gdelt,hn``: Google News is best effort and off unless named)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from veille.search.base import Provider
from veille.search.gdelt import Gdelt
from veille.search.google_news import GoogleNews
from veille.search.hn import HackerNews
from veille.search.names import NAMES

if TYPE_CHECKING:
    from veille.settings import Settings

PROVIDERS: dict[str, type[Provider]] = {"gdelt": Gdelt, "hn": HackerNews, "google-news": GoogleNews}
assert tuple(PROVIDERS) == NAMES


def base_url(settings: Settings, name: str) -> str:
    return {"gdelt": settings.gdelt_url, "hn": settings.hn_url, "google-news": settings.google_news_url}[name]


def provider(settings: Settings, name: str) -> Provider:
    """The provider ``name`` on the base URL the settings give it (KeyError for an unknown name)."""
    return PROVIDERS[name](base_url(settings, name))


def enabled(settings: Settings) -> list[Provider]:
    """The providers that are on, in the order the setting names them."""
    return [provider(settings, name) for name in settings.search_provider_names]
