"""Links that hide the publisher's URL (Google News' ``/rss/articles/...``), resolved lazily: when the
article's page is fetched like any other (the guarded client follows its redirects), in the provider's turn
(:mod:`veille.search.slots`), once per link (the article, keyed by the link, keeps what it led to).

A fetch that ends on the publisher's site is the article: its canonical URL makes it one with the same story
found by a feed. A fetch that stays on the provider's site is :class:`UnresolvedLink`: a normal outcome, the
article matched on its title alone, its alert linking to the provider's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from veille.search.base import Provider
from veille.search.providers import PROVIDERS, provider
from veille.settings import Settings


@dataclass(frozen=True, slots=True)
class UnresolvedLink:
    """The provider's link led to no page of the publisher's (it stayed on ``final``, the provider's site)."""

    url: str
    final: str
    provider: str  # its label: "Google News"


def source_label(options: dict[str, object] | None, url: str, *, publisher: str | None, resolved: bool) -> str:
    """Where an article found by a search comes from, as its alert says it: ``lemonde.fr (found by GDELT)``;
    for a link that was never resolved, the publisher the provider named: ``Le Monde (found by Google News)``."""
    name = str((options or {}).get("provider") or "")
    kind = PROVIDERS.get(name)
    label = kind.label if kind is not None else "a search"
    named = publisher if kind is not None and kind.names_publishers and not resolved else None
    return f"{named or urlsplit(url).hostname or 'unknown source'} (found by {label})"


def hiding_provider(settings: Settings, url: str) -> Provider | None:
    """The provider whose link ``url`` is, when it hides the publisher's URL; else None."""
    for name in PROVIDERS:
        found = provider(settings, name)
        if found.hides_publisher(url):
            return found
    return None


def unresolved(hiding: Provider, url: str, final: str) -> UnresolvedLink | None:
    """:class:`UnresolvedLink` when the fetch of ``url`` ended on the provider's own site (``final``)."""
    return UnresolvedLink(url, final, hiding.label) if hiding.owns(final) else None
