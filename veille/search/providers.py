"""The providers veille knows, by name, each built on its base URL setting; which ones are on
(``VEILLE_SEARCH_PROVIDERS``, default ``gdelt,hn``: Google News is best effort and off unless named)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from veille.search.base import Provider
from veille.search.gdelt import Gdelt
from veille.search.google_news import GoogleNews
from veille.search.hn import HackerNews

if TYPE_CHECKING:
    from veille.settings import Settings

PROVIDERS: dict[str, type[Provider]] = {"gdelt": Gdelt, "hn": HackerNews, "google-news": GoogleNews}
DEFAULT = ("gdelt", "hn")


def check_providers(names: Iterable[str]) -> list[str]:
    """The names, each once; ValueError for one veille does not know (an empty list: searches are off)."""
    found = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in found if n not in PROVIDERS]
    if unknown:
        raise ValueError(f"VEILLE_SEARCH_PROVIDERS: unknown provider {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(PROVIDERS)})")
    return list(dict.fromkeys(found))


def base_url(settings: Settings, name: str) -> str:
    return {"gdelt": settings.gdelt_url, "hn": settings.hn_url, "google-news": settings.google_news_url}[name]


def provider(settings: Settings, name: str) -> Provider:
    """The provider ``name`` on the base URL the settings give it (KeyError for an unknown name)."""
    return PROVIDERS[name](base_url(settings, name))


def enabled(settings: Settings) -> list[Provider]:
    """The providers that are on, in the order the setting names them."""
    return [provider(settings, name) for name in settings.search_provider_names]
