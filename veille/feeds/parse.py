"""Parse a feed's raw bytes into plain, frozen entries.

feedparser gets the raw bytes and the response headers, so it can honour the HTTP
charset and the XML declaration itself. It never fetches anything: only bytes are given.

Hostile XML: feedparser drops every entity declaration but plain text ones before parsing
(so nested entities, the "billion laughs", are never expanded) and its expat parser does
not load external entities or DTDs (so an XXE pointing at /etc/passwd or at a URL reads
nothing). :func:`parse_feed` also reports such declarations in ``ParsedFeed.notes``.

Limits: at most MAX_ENTRIES entries per feed and MAX_ENTRY_CHARS characters per entry
field; what is cut is said in ``ParsedFeed.notes``, which the poller records on the feed.
"""

from __future__ import annotations

import calendar
import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from veille.feeds.words import title_words

log = logging.getLogger(__name__)

MAX_ENTRIES = 500
MAX_ENTRY_CHARS = 500_000

# feedparser must never resolve external entities or go to the network
feedparser.RESOLVE_RELATIVE_URIS = True
feedparser.SANITIZE_HTML = True


class FeedParseError(ValueError):
    """The bytes are not a feed: the message says what was found instead."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    key: str                    # the entry's identity inside its feed: GUID, else link
    guid: str | None
    link: str | None
    title: str
    summary: str                # HTML or text from the feed
    content: str                # full content (content:encoded, Atom content), may be ""
    published: datetime | None
    author: str | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    site_url: str | None
    entries: tuple[FeedEntry, ...]
    ttl: int | None             # minutes, RSS <ttl>
    hub: str | None             # WebSub hub, if the feed names one (the first of ``hubs``)
    warning: str | None         # feedparser's bozo message for a feed that parsed anyway
    notes: tuple[str, ...] = ()  # limits applied and declarations refused, for the feed's record
    hubs: tuple[str, ...] = ()   # every WebSub hub named: the HTTP Link header's, else the document's
    topic: str | None = None     # the feed's self URL (WebSub topic): the Link header's, else the document's


# An entity declaration and what follows its name: a quoted value, or SYSTEM/PUBLIC for an external one.
_ENTITY = re.compile(rb"""<!ENTITY\s+(%\s*)?[^\s>]+\s+(SYSTEM\b|PUBLIC\b|"[^"]*"|'[^']*')""", re.IGNORECASE)
_REFERENCE = re.compile(rb"[&%][A-Za-z_:][\w.:-]*;")
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")


def unsafe_entities(content: bytes) -> int:
    """How many entity declarations in the prolog are external, parameter or nested ones (never honoured)."""
    first = _FIRST_ELEMENT.search(content)
    prolog = content[: first.start()] if first else content[:65536]
    count = 0
    for match in _ENTITY.finditer(prolog):
        parameter, value = match.group(1), match.group(2)
        if parameter or value.upper() in (b"SYSTEM", b"PUBLIC") or _REFERENCE.search(value):
            count += 1
    return count


def _date(entry: Mapping[str, Any]) -> datetime | None:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(field)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _text(value: Any, limit: int = MAX_ENTRY_CHARS) -> str:
    return str(value or "")[:limit]


def _title(entry: Mapping[str, Any]) -> str:
    """The item's title as text (feedparser gives the markup of a title the feed marks as HTML)."""
    detail = entry.get("title_detail") or {}
    return title_words(_text(entry.get("title"), 2000), html="html" in str(detail.get("type") or ""))[:2000]


def _longest(entry: Mapping[str, Any]) -> int:
    """The length of the entry's longest text field, before any cut."""
    lengths = [len(str(entry.get("summary") or ""))]
    lengths += [len(str(part.get("value") or "")) for part in entry.get("content") or []]
    return max(lengths)


def _content(entry: Mapping[str, Any]) -> str:
    parts = entry.get("content") or []
    best = ""
    for part in parts:
        value = _text(part.get("value"))
        if len(value) > len(best):
            best = value
    return best


def _limit_notes(entries: int, cut: int) -> list[str]:
    """What the entry limits left out, for the feed's record."""
    notes = []
    if entries > MAX_ENTRIES:
        notes.append(f"parser: the feed has {entries} entries, only the first {MAX_ENTRIES} were read")
    if cut:
        notes.append(f"parser: {cut} entr{'y' if cut == 1 else 'ies'} cut to {MAX_ENTRY_CHARS} characters")
    return notes


def parse_feed(content: bytes, *, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse ``content`` (RSS, Atom, RDF or JSON Feed); raise FeedParseError when nothing usable is found."""
    if _JSON_START.match(content):
        return parse_json_feed(content, url=url, headers=headers)
    wanted = ("content-type", "content-location", "content-language")
    response_headers = {k.lower(): v for k, v in (headers or {}).items() if k.lower() in wanted}
    try:
        parsed = feedparser.parse(content, response_headers=response_headers, resolve_relative_uris=True,
                                  sanitize_html=True)
        parsed["feed"]
    except Exception as exc:  # feedparser raises many kinds on garbage
        raise FeedParseError(f"parser: cannot parse feed: {type(exc).__name__}: {exc}") from exc
    if not parsed.get("version") and not parsed.entries:
        bozo = parsed.get("bozo_exception")
        head = content[:200].lstrip().lower()
        what = "an HTML page" if head.startswith((b"<!doctype html", b"<html")) else "no feed"
        detail = f" ({bozo})" if bozo else ""
        raise FeedParseError(f"parser: {what} at {url}{detail}")
    feed = parsed.get("feed", {})
    notes: list[str] = []
    refused = unsafe_entities(content)
    if refused:
        notes.append(f"parser: {refused} XML entity declaration(s) refused (external, parameter or nested "
                     f"entities are never loaded nor expanded)")
    entries: list[FeedEntry] = []
    cut = 0
    for raw in parsed.entries[:MAX_ENTRIES]:
        if _longest(raw) > MAX_ENTRY_CHARS:
            cut += 1
        link = _text(raw.get("link"), 2048).strip() or None
        guid = _text(raw.get("id"), 2048).strip() or None
        key = guid or link
        if not key:
            continue
        entries.append(
            FeedEntry(
                key=key,
                guid=guid,
                link=link,
                title=_title(raw),
                summary=_text(raw.get("summary")),
                content=_content(raw),
                published=_date(raw),
                author=_text(raw.get("author"), 500).strip() or None,
            )
        )
    notes.extend(_limit_notes(len(parsed.entries), cut))
    _log_notes(notes, url)
    hubs, topic = websub_links(
        headers, url,
        hubs=[str(link.get("href") or "") for link in feed.get("links", []) if link.get("rel") == "hub"],
        topic=next((str(link.get("href") or "") for link in feed.get("links", []) if link.get("rel") == "self"), None),
    )
    ttl_text = str(feed.get("ttl") or "").strip()
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    return ParsedFeed(
        title=_text(feed.get("title"), 1000).strip() or None,
        site_url=_text(feed.get("link"), 2048).strip() or None,
        entries=tuple(entries),
        ttl=int(ttl_text) if ttl_text.isdigit() else None,
        hub=hubs[0] if hubs else None,
        warning=str(bozo) if bozo else None,
        notes=tuple(notes),
        hubs=hubs,
        topic=topic,
    )


# --------------------------------------------------------------------------- WebSub discovery (W3C WebSub 4)

# One link of an HTTP Link header (RFC 8288): <target> then ;-separated parameters, up to the next link.
_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,"=]+(?:=\s*(?:"[^"]*"|[^;,"]*))?)*)')
_REL = re.compile(r'(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|([^;\s]*))', re.IGNORECASE)
MAX_HUBS = 5


def link_header(value: str) -> list[tuple[str, set[str]]]:
    """The (target, rel values) of each link in an HTTP Link header; malformed parts are skipped."""
    links = []
    for match in _LINK.finditer(value or ""):
        rel = _REL.search(match.group(2))
        rels = set((rel.group(1) or rel.group(2) or "").lower().split()) if rel else set()
        links.append((match.group(1).strip(), rels))
    return links


def _absolute(url: str, href: str) -> str | None:
    """An http(s) URL for ``href`` read at ``url``, or None (hubs and topics must be absolute web URLs)."""
    href = href.strip()
    if not href or len(href) > 2048:
        return None
    try:
        absolute = urljoin(url, href)
    except ValueError:
        return None
    return absolute if absolute.lower().startswith(("http://", "https://")) else None


def websub_links(headers: Mapping[str, str] | None, url: str, *, hubs: list[str],
                 topic: str | None) -> tuple[tuple[str, ...], str | None]:
    """The feed's WebSub hubs and topic (self URL). The HTTP ``Link`` header wins over the document's links,
    as the spec says; ``hubs`` and ``topic`` are the document's."""
    header = next((v for k, v in (headers or {}).items() if k.lower() == "link"), "")
    links = link_header(header)
    header_hubs = [target for target, rels in links if "hub" in rels]
    header_topic = next((target for target, rels in links if "self" in rels), None)
    chosen: list[str] = []
    for href in header_hubs or hubs:
        absolute = _absolute(url, href)
        if absolute and absolute not in chosen:
            chosen.append(absolute)
    self_url = _absolute(url, header_topic) if header_topic else None
    if self_url is None and topic:
        self_url = _absolute(url, topic)
    return tuple(chosen[:MAX_HUBS]), self_url


def _log_notes(notes: list[str], url: str) -> None:
    for note in notes:
        log.warning(note, extra={"feed_url": url})


# --------------------------------------------------------------------------- JSON Feed (jsonfeed.org)

_JSON_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*\{")
_JSON_FEED_VERSION = "https://jsonfeed.org/version/"


def _string(value: Any, limit: int = MAX_ENTRY_CHARS) -> str:
    """A JSON value as text: strings and numbers only (a hostile feed may put anything anywhere)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value)[:limit]


def _json_author(node: Mapping[str, Any]) -> str | None:
    authors = node.get("authors")
    candidates = list(authors) if isinstance(authors, list) else []
    candidates.append(node.get("author"))
    for author in candidates:
        if isinstance(author, dict):
            name = _string(author.get("name"), 500).strip()
            if name:
                return name
    return None


def _json_date(value: Any) -> datetime | None:
    text = _string(value, 64).strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_json_feed(content: bytes, *, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse a JSON Feed (versions 1 and 1.1); FeedParseError for JSON that is not one."""
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FeedParseError(f"parser: not valid JSON at {url} ({exc})") from exc
    if not isinstance(document, dict) or not _string(document.get("version")).startswith(_JSON_FEED_VERSION):
        raise FeedParseError(f"parser: a JSON document that is not a JSON Feed at {url}")
    items = document.get("items")
    items = items if isinstance(items, list) else []
    notes: list[str] = []
    entries: list[FeedEntry] = []
    cut = 0
    for item in items[:MAX_ENTRIES]:
        if not isinstance(item, dict):
            continue
        content_html = item.get("content_html")
        raw_content = content_html if isinstance(content_html, str) else item.get("content_text")
        longest = max(len(_string(value, MAX_ENTRY_CHARS + 1)) for value in (raw_content, item.get("summary")))
        if longest > MAX_ENTRY_CHARS:
            cut += 1
        link_text = _string(item.get("url") or item.get("external_url"), 2048).strip()
        try:
            link = urljoin(url, link_text) if link_text else None
        except ValueError:  # e.g. an unclosed IPv6 bracket: kept as written, the poller sees it is no URL
            link = link_text
        guid = _string(item.get("id"), 2048).strip() or None
        key = guid or link
        if not key:
            continue
        entries.append(
            FeedEntry(
                key=key,
                guid=guid,
                link=link,
                title=html.unescape(_string(item.get("title"), 2000)).strip(),
                summary=_string(item.get("summary")),
                content=_string(raw_content),
                published=_json_date(item.get("date_published")) or _json_date(item.get("date_modified")),
                author=_json_author(item) or _json_author(document),
            )
        )
    notes.extend(_limit_notes(len(items), cut))
    _log_notes(notes, url)
    listed = document.get("hubs")
    listed = listed if isinstance(listed, list) else []
    hubs, topic = websub_links(
        headers, url, hubs=[_string(h.get("url"), 2048) for h in listed if isinstance(h, dict)],
        topic=_string(document.get("feed_url"), 2048) or None,
    )
    return ParsedFeed(
        title=html.unescape(_string(document.get("title"), 1000)).strip() or None,
        site_url=_string(document.get("home_page_url"), 2048).strip() or None,
        entries=tuple(entries),
        ttl=None,
        hub=hubs[0] if hubs else None,
        warning=None,
        notes=tuple(notes),
        hubs=hubs,
        topic=topic,
    )
