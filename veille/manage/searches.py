"""An entity's searches of the web's news (``veille track add NAME --search``): the sources they are.

A search source is a row of ``feeds`` with ``kind`` "search", ``entity_id`` its entity (it goes with it: ON
DELETE CASCADE), ``options`` ``{"provider", "query", "lang"}`` and ``url`` the provider's request URL. There is
one per (provider, query, language): for each provider that is on (``VEILLE_SEARCH_PROVIDERS``) and can search
that language, each of the entity's languages (``lang``, else ``VEILLE_LANGUAGES``), each query the provider
makes of the entity's words (:mod:`veille.search.terms`; GDELT and Google News one, Hacker News one per name).
Each is asked once every ``VEILLE_SEARCH_INTERVAL`` (a fixed interval), the next polls spread over the
interval by a hash of the URL, and is paused while its entity is.

:func:`sync_searches` makes the rows what the entity's definition says: called by every change of an entity
(add, edit, rename, aliases, ``--search``/``--no-search``, languages), it creates the missing sources, updates
the kept ones and removes the others (their entries go, the articles stay). Two entities whose definitions
make the same request share one source, owned by the first: matching is done for every entity anyway; when
the owner stops asking, another entity that wants it takes it over.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from veille.manage.errors import InvalidError
from veille.search.base import Provider
from veille.search.languages import check_languages
from veille.search.providers import enabled
from veille.search.terms import entity_terms
from veille.settings import Settings
from veille.storage.db import Database
from veille.storage.models import Entity, Feed, utcnow

log = logging.getLogger(__name__)

KIND = "search"
URL_SIZE = 2048  # the feeds.url column


@dataclass(frozen=True, slots=True)
class WantedSource:
    provider: str
    query: str
    lang: str
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class SearchSources:
    """An entity's search sources after a change: how many there are, made, removed, and shared with another
    entity's identical request."""

    sources: tuple[WantedSource, ...] = ()
    created: int = 0
    removed: int = 0
    shared: int = 0

    def describe(self) -> str:
        """``gdelt (en, fr), hn (en)``, or ``none`` when no provider can search it."""
        by_provider: dict[str, list[str]] = {}
        for source in self.sources:
            langs = by_provider.setdefault(source.provider, [])
            if source.lang not in langs:
                langs.append(source.lang)
        return ", ".join(f"{p} ({', '.join(langs)})" for p, langs in by_provider.items()) or "none"


def check_lang(values: Iterable[str]) -> list[str]:
    """Language codes as ``--lang`` takes them (``fr,en`` or several values); InvalidError naming ``lang``."""
    try:
        return check_languages([c for v in values for c in v.split(",")])
    except ValueError as exc:
        raise InvalidError(str(exc).removeprefix("--lang: "), field="lang") from exc


def languages(settings: Settings, options: Mapping[str, Any]) -> tuple[str, ...]:
    """The languages an entity's searches use: its own, else VEILLE_LANGUAGES."""
    return tuple(options.get("lang") or ()) or settings.language_codes


def wanted(settings: Settings, entity: Entity) -> list[WantedSource]:
    """The sources the entity's definition asks for (none when its search is off)."""
    options = entity.options or {}
    if not options.get("search"):
        return []
    terms = entity_terms(name=entity.name, aliases=entity.aliases or (),
                         exact_aliases=options.get("exact_aliases", ()), exclude=entity.excludes or (),
                         require=options.get("require", ()), query=options.get("query"))
    found: dict[str, WantedSource] = {}
    for provider in enabled(settings):
        queries = provider.queries(terms)
        for lang in languages(settings, options):
            if not provider.supports(lang):
                continue
            for query in queries:
                url = provider.request(query, lang)
                if len(url) > URL_SIZE:
                    raise InvalidError(f"its {provider.label} search would be a URL over {URL_SIZE} characters: "
                                       "fewer or shorter aliases, or a shorter query", field="search")
                found.setdefault(url, WantedSource(provider.name, query, lang, url,
                                                   title(entity.name, provider, lang, query, len(queries))))
    return list(found.values())


def title(name: str, provider: Provider, lang: str, query: str, queries: int) -> str:
    """``search: Kyutai (gdelt, fr)``; with the query when the provider makes several of the entity's words."""
    suffix = f": {query}" if queries > 1 else ""
    return f"search: {name} ({provider.name}, {lang}{suffix})"[:1024]


def first_poll(url: str, interval: float, now: datetime) -> datetime:
    """A new source's first poll: within one interval, at a point set by its URL, so that the searches of many
    entities are spread over the interval instead of asked all at once."""
    return now + timedelta(seconds=interval * (zlib.crc32(url.encode("utf-8")) % 10007) / 10007)


def sync_searches(s: Session, settings: Settings, entity: Entity, *, now: datetime | None = None) -> SearchSources:
    """Make the entity's search sources what its definition asks for (see the module's description)."""
    now = now or utcnow()
    sources = wanted(settings, entity)
    existing = {f.url: f for f in s.scalars(select(Feed).where(Feed.entity_id == entity.id, Feed.kind == KIND))}
    wanted_urls = {w.url for w in sources}
    removed = [f for url, f in existing.items() if url not in wanted_urls]
    for gone in removed:
        s.delete(gone)
    if removed:
        s.flush()
    created = shared = 0
    interval = settings.search_interval
    for source in sources:
        feed = existing.get(source.url)
        if feed is None:
            if s.scalar(select(Feed.id).where(Feed.url == source.url)) is not None:
                shared += 1  # another entity's search (or a feed someone added) asks it already
                continue
            feed = Feed(url=source.url, kind=KIND, entity_id=entity.id, tags=[], feed_text="never",
                        interval=interval, interval_fixed=True, next_poll_at=first_poll(source.url, interval, now))
            s.add(feed)
            created += 1
        elif feed.interval != interval or not feed.interval_fixed:  # VEILLE_SEARCH_INTERVAL changed
            feed.interval, feed.interval_fixed = interval, True
            feed.next_poll_at = min(feed.next_poll_at, first_poll(source.url, interval, now))
        feed.title = source.title
        feed.options = {"provider": source.provider, "query": source.query, "lang": source.lang}
        feed.enabled, feed.resume_at = entity.enabled, entity.resume_at
    s.flush()
    if removed:
        adopt(s, settings, {f.url for f in removed}, now=now, besides=entity.id)
    return SearchSources(tuple(sources), created, len(removed), shared)


def adopt(s: Session, settings: Settings, urls: set[str], *, now: datetime, besides: int | None = None) -> None:
    """Sources that were removed (``urls``) and that another searching entity wants: made again for it."""
    if not urls:
        return
    for other in s.scalars(select(Entity).where(Entity.id != (besides or -1)).order_by(Entity.id)):
        if not (other.options or {}).get("search"):
            continue
        try:
            if urls & {w.url for w in wanted(settings, other)}:
                sync_searches(s, settings, other, now=now)
        except InvalidError:  # its own definition is checked when it is edited; here it just keeps what it has
            log.warning("search sources of an entity not updated", extra={"entity": other.name})


def entity_sources(db: Database, entity_id: int) -> SearchSources:
    """The entity's search sources as they are stored."""

    def work(s: Session) -> SearchSources:
        rows = s.scalars(select(Feed).where(Feed.entity_id == entity_id, Feed.kind == KIND).order_by(Feed.id))
        return SearchSources(tuple(
            WantedSource(str((f.options or {}).get("provider", "")), str((f.options or {}).get("query", "")),
                         str((f.options or {}).get("lang", "")), f.url, f.title or "")
            for f in rows
        ))

    return db.run(work)


def follow_pause(s: Session, entity: Entity) -> None:
    """The entity's search sources paused, or resumed, with it."""
    for feed in s.scalars(select(Feed).where(Feed.entity_id == entity.id, Feed.kind == KIND)):
        feed.enabled, feed.resume_at = entity.enabled, entity.resume_at


def removed_entity_urls(s: Session, entity_id: int) -> set[str]:
    """The URLs of the entity's search sources (before it is removed: others may want them)."""
    return set(s.scalars(select(Feed.url).where(Feed.entity_id == entity_id, Feed.kind == KIND)))
