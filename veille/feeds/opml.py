"""OPML import and export. Folder outlines become tags."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime


class OPMLError(ValueError):
    """The file is not OPML veille can read."""


@dataclass(frozen=True, slots=True)
class OPMLFeed:
    url: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    site_url: str | None = None


@dataclass(slots=True)
class OPMLResult:
    feeds: list[OPMLFeed] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)   # outlines whose xmlUrl is not an http(s) URL


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
                    result.feeds.append(OPMLFeed(url=url, title=title, tags=tags, site_url=outline.get("htmlUrl")))
                else:
                    result.invalid.append(url)
            if len(outline):
                walk(outline, (*tags, title) if (title and not url) else tags)

    walk(body, ())
    return result


def render_opml(feeds: Iterable[OPMLFeed], *, title: str = "veille feeds") -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
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
        ET.SubElement(folder(tuple(feed.tags)), "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
