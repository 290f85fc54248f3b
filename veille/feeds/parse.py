"""Parse a feed's raw bytes into plain, frozen entries.

feedparser gets the raw bytes and the response headers, so it can honour the HTTP
charset and the XML declaration itself. It never fetches anything: only bytes are given.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

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
    hub: str | None             # WebSub hub, if the feed names one
    warning: str | None         # feedparser's bozo message for a feed that parsed anyway


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


def _content(entry: Mapping[str, Any]) -> str:
    parts = entry.get("content") or []
    best = ""
    for part in parts:
        value = _text(part.get("value"))
        if len(value) > len(best):
            best = value
    return best


def parse_feed(content: bytes, *, url: str, headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse ``content``; raise FeedParseError when nothing usable is found."""
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
    entries: list[FeedEntry] = []
    for raw in parsed.entries[:MAX_ENTRIES]:
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
                title=_text(raw.get("title"), 2000).strip(),
                summary=_text(raw.get("summary")),
                content=_content(raw),
                published=_date(raw),
                author=_text(raw.get("author"), 500).strip() or None,
            )
        )
    if len(parsed.entries) > MAX_ENTRIES:
        log.warning("feed has too many entries, kept the first %d", MAX_ENTRIES, extra={"feed_url": url})
    hub = next((link.get("href") for link in feed.get("links", []) if link.get("rel") == "hub"), None)
    ttl_text = str(feed.get("ttl") or "").strip()
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    return ParsedFeed(
        title=_text(feed.get("title"), 1000).strip() or None,
        site_url=_text(feed.get("link"), 2048).strip() or None,
        entries=tuple(entries),
        ttl=int(ttl_text) if ttl_text.isdigit() else None,
        hub=hub,
        warning=str(bozo) if bozo else None,
    )
