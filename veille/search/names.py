"""The providers' names, as VEILLE_SEARCH_PROVIDERS takes them (read when the settings are: nothing heavy here)."""

from __future__ import annotations

from collections.abc import Iterable

NAMES = ("gdelt", "hn", "google-news")


def check_providers(names: Iterable[str]) -> list[str]:
    """The names, each once; ValueError for one veille does not know (an empty list: searches are off)."""
    found = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in found if n not in NAMES]
    if unknown:
        raise ValueError(f"VEILLE_SEARCH_PROVIDERS: unknown provider {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(NAMES)})")
    return list(dict.fromkeys(found))
