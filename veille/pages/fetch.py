"""Fetch an article page and extract it.

Network failures raise :class:`veille.http.FetchError` (from :func:`veille.http.fetch`);
a page that is not HTML is not an error but a :class:`FetchedPage` with ``skipped`` set.
An AMP page whose canonical page is another one is replaced by that page, fetched once.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from dataclasses import dataclass

import httpx

from veille import http
from veille.pages.extract import Article, extract_article

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types servers send when they do not know: the body decides.
_UNKNOWN_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "text/plain"})
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title", b"<!--")


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # final URL, after redirects (the canonical page's when an AMP page was replaced)
    article: Article | None
    skipped: str | None = None  # why there is no article, e.g. "content type application/pdf is not HTML"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def not_html_reason(content_type: str | None, content: bytes) -> str | None:
    """Why a response is not an HTML page, or None when it is one."""
    kind = media_type(content_type)
    if kind in HTML_TYPES:
        return None
    if kind in _UNKNOWN_TYPES:
        start = content[:1024].removeprefix(codecs.BOM_UTF8).lstrip().lower()
        if start.startswith(_HTML_STARTS):
            return None
        if start.startswith(b"%pdf"):
            return "content is a PDF document, not HTML"
        if not kind:
            return "no content type, and the body does not look like HTML"
    return f"content type {kind} is not HTML"


async def fetch_page(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> FetchedPage:
    """GET ``url`` and extract its article; an AMP page is swapped for its canonical page."""
    page = await _fetch_and_extract(client, url, max_bytes=max_bytes)
    if page.article is None or not page.article.amp_canonical:
        return page
    canonical = page.article.canonical_url
    try:
        better = await _fetch_and_extract(client, canonical, max_bytes=max_bytes)
    except http.FetchError as exc:
        log.info("AMP canonical page not fetched, keeping the AMP page: %s", exc,
                 extra={"entry_url": page.url})
        return page
    if better.article is None or not better.article.text:
        return page
    return better


async def _fetch_and_extract(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> FetchedPage:
    response = await http.fetch(client, url, max_bytes=max_bytes)
    content_type = response.headers.get("Content-Type")
    reason = not_html_reason(content_type, response.content)
    if reason is None and not response.content.strip():
        reason = f"empty body (HTTP {response.status})"
    if reason is not None:
        return FetchedPage(url=response.url, article=None, skipped=reason)
    # Extraction is CPU work (tens of milliseconds): keep the event loop free for other fetches.
    article = await asyncio.to_thread(
        extract_article, response.content, url=response.url, content_type=content_type
    )
    return FetchedPage(url=response.url, article=article)
