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


def _veille_attributes(outline: ET.Element, where: str) -> dict[str, object]:
    """The veille:* attributes of one feed outline, checked."""
    paused_text = (outline.get(_NS + "paused") or "false").strip().lower()
    if paused_text not in ("true", "false"):
        raise OPMLError(f"opml: {where}: veille:paused: expected true or false, not {paused_text!r}")
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
        "paused": paused_text == "true",
        "resume_at": resume_at,
        "feed_text": feed_text.strip() if feed_text is not None else None,
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
        attrs = {"type": "rss", "text": feed.title or feed.url, "xmlUrl": feed.url}
        if feed.title:
            attrs["title"] = feed.title
        if feed.site_url:
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
