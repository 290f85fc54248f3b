"""OPML import and export. Folder outlines become tags, and tags folders.

What a user set on a feed that OPML has no word for is written as attributes in veille's own XML namespace,
``xmlns:veille="https://veille.example/ns/opml/1"`` (a name, not a page), which other readers ignore::

    <outline type="rss" text="Lab" xmlUrl="https://lab.example/feed.xml"
             veille:every="10m" veille:backfill="7d" veille:feedText="never"
             veille:paused="true" veille:resumeAt="2026-12-01T08:00:00+00:00"/>

``every``: the fixed interval (absent: adaptive); ``backfill``: how far back the first poll alerts (absent:
``VEILLE_BACKFILL``); ``feedText``: auto (absent), always or never; ``paused``/``resumeAt``: paused, until
then (no ``resumeAt``: until resumed). A file without them reads as plain OPML. A value veille can't read
refuses the whole file, naming the outline.

A page source (a listing page without a feed, watched for its article links) is written as a link outline,
which other readers keep as a bookmark rather than subscribe to as a feed it is not::

    <outline type="link" text="Anthropic News" url="https://www.anthropic.com/news"
             htmlUrl="https://www.anthropic.com/news" veille:kind="page" veille:anySite="true"/>

``kind``: "page" (absent: a feed); ``anySite``: its article links may be on other sites (absent: false). An
outline with ``veille:kind="page"`` takes its address from ``url``, else ``xmlUrl``, else ``htmlUrl``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from veille.settings import format_duration, parse_duration

NAMESPACE = "https://veille.example/ns/opml/1"
_NS = f"{{{NAMESPACE}}}"
FEED_TEXT = ("auto", "always", "never")
KINDS = ("feed", "page")  # what an outline may be: a feed, or a listing page watched for its article links


class OPMLError(ValueError):
    """The file is not OPML veille can read."""


@dataclass(frozen=True, slots=True)
class OPMLFeed:
    url: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    site_url: str | None = None
    every: float | None = None  # a fixed interval, seconds; None: adaptive
    backfill: float | None = None  # seconds; None: VEILLE_BACKFILL
    paused: bool = False
    resume_at: datetime | None = None  # paused until then; None: until resumed
    feed_text: str | None = None  # auto, always, never; None: auto
    kind: str = "feed"  # "page": a listing page whose article links are its items
    any_site: bool = False  # a page's article links may be on other sites


@dataclass(slots=True)
class OPMLResult:
    feeds: list[OPMLFeed] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)   # outlines whose xmlUrl is not an http(s) URL


def _duration(outline: ET.Element, name: str, where: str, *, zero: bool) -> float | None:
    value = outline.get(_NS + name)
    if value is None:
        return None
    try:
        seconds = parse_duration(value.strip())
    except ValueError as exc:
        raise OPMLError(f"opml: {where}: veille:{name}: {exc}") from exc
    if seconds < 0 or (seconds == 0 and not zero):
        raise OPMLError(f"opml: {where}: veille:{name}: {value!r} must be {'at least' if zero else 'above'} zero")
    return seconds


def _boolean(outline: ET.Element, name: str, where: str) -> bool:
    text = (outline.get(_NS + name) or "false").strip().lower()
    if text not in ("true", "false"):
        raise OPMLError(f"opml: {where}: veille:{name}: expected true or false, not {text!r}")
    return text == "true"


def _kind(outline: ET.Element, where: str) -> str:
    kind = (outline.get(_NS + "kind") or "feed").strip()
    if kind not in KINDS:
        raise OPMLError(f"opml: {where}: veille:kind: expected {' or '.join(KINDS)}, not {kind!r}")
    return kind


def _veille_attributes(outline: ET.Element, where: str) -> dict[str, object]:
    """The veille:* attributes of one feed outline, checked."""
    paused = _boolean(outline, "paused", where)
    resume_text = outline.get(_NS + "resumeAt")
    resume_at = None
    if resume_text is not None:
        try:
            resume_at = datetime.fromisoformat(resume_text.strip())
        except ValueError as exc:
            raise OPMLError(f"opml: {where}: veille:resumeAt: not an ISO 8601 time: {resume_text!r}") from exc
        resume_at = resume_at.replace(tzinfo=UTC) if resume_at.tzinfo is None else resume_at.astimezone(UTC)
    feed_text = outline.get(_NS + "feedText")
    if feed_text is not None and feed_text.strip() not in FEED_TEXT:
        raise OPMLError(f"opml: {where}: veille:feedText: expected one of {', '.join(FEED_TEXT)}, not {feed_text!r}")
    return {
        "every": _duration(outline, "every", where, zero=False),
        "backfill": _duration(outline, "backfill", where, zero=True),
        "paused": paused,
        "resume_at": resume_at,
        "feed_text": feed_text.strip() if feed_text is not None else None,
        "kind": _kind(outline, where),
        "any_site": _boolean(outline, "anySite", where),
    }


def parse_opml(content: bytes) -> OPMLResult:
    if b"<!ENTITY" in content[:4096].upper():
        raise OPMLError("opml: entity declarations are refused")
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise OPMLError(f"opml: not well-formed XML: {exc}") from exc
    body = root.find("body")
    if root.tag.lower() != "opml" or body is None:
        raise OPMLError("opml: no <opml><body> element")
    result = OPMLResult()

    def walk(node: ET.Element, tags: tuple[str, ...]) -> None:
        for outline in node.findall("outline"):
            url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
            if (outline.get(_NS + "kind") or "").strip() == "page":  # a page source: its own address
                url = (outline.get("url") or url or outline.get("htmlUrl") or "").strip()
            title = (outline.get("title") or outline.get("text") or "").strip() or None
            if url:
                if url.lower().startswith(("http://", "https://")):
                    attributes = _veille_attributes(outline, f"outline {url}")
                    result.feeds.append(OPMLFeed(
                        url=url, title=None if title == url else title, tags=tags, site_url=outline.get("htmlUrl"),
                        **attributes,  # type: ignore[arg-type]
                    ))
                else:
                    result.invalid.append(url)
            if len(outline):
                walk(outline, (*tags, title) if (title and not url) else tags)

    walk(body, ())
    return result


def render_opml(feeds: Iterable[OPMLFeed], *, title: str = "veille feeds", now: datetime | None = None) -> str:
    ET.register_namespace("veille", NAMESPACE)
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = (now or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], ET.Element] = {(): body}

    def folder(tags: tuple[str, ...]) -> ET.Element:
        if tags not in folders:
            parent = folder(tags[:-1])
            folders[tags] = ET.SubElement(parent, "outline", text=tags[-1], title=tags[-1])
        return folders[tags]

    for feed in feeds:
        if feed.kind == "page":  # a link outline, not a feed to subscribe to
            attrs = {"type": "link", "text": feed.title or feed.url, "url": feed.url, "htmlUrl": feed.url,
                     _NS + "kind": "page"}
            if feed.any_site:
                attrs[_NS + "anySite"] = "true"
        else:
            attrs = {"type": "rss", "text": feed.title or feed.url, "xmlUrl": feed.url}
        if feed.title:
            attrs["title"] = feed.title
        if feed.site_url and feed.kind != "page":
            attrs["htmlUrl"] = feed.site_url
        if feed.every is not None:
            attrs[_NS + "every"] = format_duration(feed.every)
        if feed.backfill is not None:
            attrs[_NS + "backfill"] = format_duration(feed.backfill)
        if feed.feed_text is not None and feed.feed_text != "auto":
            attrs[_NS + "feedText"] = feed.feed_text
        if feed.paused:
            attrs[_NS + "paused"] = "true"
            if feed.resume_at is not None:
                attrs[_NS + "resumeAt"] = feed.resume_at.astimezone(UTC).isoformat(timespec="seconds")
        ET.SubElement(folder(tuple(feed.tags)), "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
