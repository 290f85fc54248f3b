"""Find the feed behind a URL: the URL itself, the page's ``<link rel=alternate>`` feeds, or common paths.

:func:`discover` fetches the URL once. A feed is its own only candidate. An HTML page offers the
feeds it declares (``<link rel="alternate" type="application/rss+xml|atom+xml|feed+json">``,
relative hrefs resolved against ``<base href>`` and the page's final URL); when it declares none,
the paths sites usually publish feeds at are tried in order until one answers with a feed.

Every candidate is fetched through the client it is given (the guarded one: the URLs come from
strangers' pages) and parsed with :func:`veille.feeds.parse.parse_feed`, so only a URL that
really serves a feed is offered. Nothing here raises for a bad answer: each candidate carries
the reason it cannot be used.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import lxml.html
from lxml import etree

from veille import http
from veille.feeds.parse import FeedParseError, parse_feed
from veille.pages.decode import decode_html
from veille.pages.fetch import media_type, not_html_reason
from veille.pages.parsers import fragment_parser

__all__ = [
    "COMMON_PATHS", "FEED_TYPES", "Candidate", "Discovery", "FeedLink", "common_path_urls", "discover", "feed_links",
]

FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})
COMMON_PATHS = ("/feed", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/rss")
# A page may declare many feeds (one per category, per comment thread): the first ones are the site's.
MAX_LINKS = 10

How = Literal["given", "link", "path"]


@dataclass(frozen=True, slots=True)
class Candidate:
    url: str
    how: How  # "given": the URL itself; "link": declared by the page; "path": a common path
    title: str | None  # the feed's own title, else the link's title attribute
    entries: int | None  # entries read, None when it is not a usable feed
    error: str | None = None  # why it is not a usable feed

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Discovery:
    url: str  # the URL given
    candidates: tuple[Candidate, ...]  # in the order tried
    # when no feed was found: what was tried and why it failed, a few words each, in order
    tried: tuple[str, ...] = ()
    unreachable: bool = False  # the URL itself gave no answer (DNS, refused, 4xx, 5xx, timeout, too large)
    blocked: bool = False  # the address guard refused the URL (a redirect to a private address)

    @property
    def feed(self) -> Candidate | None:
        """The first usable candidate."""
        return next((c for c in self.candidates if c.ok), None)

    @property
    def feeds(self) -> list[Candidate]:
        """Every usable candidate: one when the URL is a feed; the feeds an HTML page declares; or the
        first common path that serves one."""
        return [c for c in self.candidates if c.ok]

    @property
    def error(self) -> str | None:
        """Why no feed was found, None when one was: ``cannot fetch URL: reason`` when the URL gave no
        answer, else ``no feed found at URL (what was tried; ...)``."""
        if self.feed is not None:
            return None
        if self.unreachable or self.blocked:
            return f"cannot fetch {self.url}: {self.candidates[0].error}"
        return f"no feed found at {self.url} ({'; '.join(self.tried)})"


@dataclass(frozen=True, slots=True)
class FeedLink:
    url: str
    type: str
    title: str | None


def _feed_scheme(href: str) -> str:
    """``feed://host/x`` and ``feed:https://host/x``, as some sites write them, to plain http(s)."""
    lowered = href[:12].lower()
    if lowered.startswith("feed:http://") or lowered.startswith("feed:https:/"):
        return href[5:]
    if lowered.startswith("feed://"):
        return "http://" + href[7:]
    return href


def feed_links(content: bytes | str, *, base_url: str, content_type: str | None = None) -> list[FeedLink]:
    """The feeds an HTML page declares with ``<link rel=alternate>``, absolute, in page order, once each."""
    html = decode_html(content, content_type) if isinstance(content, bytes) else content
    try:
        tree = lxml.html.fromstring(html.encode("utf-8", errors="replace"), parser=fragment_parser())
    except (etree.ParserError, ValueError):
        return []
    base = base_url
    for element in tree.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base = urljoin(base_url, href)
            break
    links: list[FeedLink] = []
    seen: set[str] = set()
    for element in tree.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        kind = media_type(element.get("type"))
        href = (element.get("href") or "").strip()
        if "alternate" not in rel or kind not in FEED_TYPES or not href:
            continue
        url = urljoin(base, _feed_scheme(href))
        if urlsplit(url).scheme.lower() not in ("http", "https") or url in seen:
            continue
        seen.add(url)
        title = " ".join((element.get("title") or "").split()) or None
        links.append(FeedLink(url, kind, title))
        if len(links) >= MAX_LINKS:
            break
    return links


def _folder(page_url: str) -> str:
    """The folder of a page's path, without its final slash: ``/blog`` for ``/blog/post.html``, ``""`` at the root."""
    path = urlsplit(page_url).path
    return path[: path.rfind("/") + 1].rstrip("/")


def common_path_urls(page_url: str) -> list[str]:
    """Where sites usually publish feeds: under the page's folder (``/blog/feed``), then at the root."""
    parts = urlsplit(page_url)
    folder = _folder(page_url)
    prefixes = [folder, ""] if folder else [""]
    urls: list[str] = []
    for prefix in prefixes:
        for path in COMMON_PATHS:
            url = urlunsplit((parts.scheme, parts.netloc, prefix + path, "", ""))
            if url not in urls:
                urls.append(url)
    return urls


async def _check(client: httpx.AsyncClient, url: str, how: How, title: str | None, *, max_bytes: int) -> Candidate:
    """Fetch ``url`` and say whether it is a feed, with its title and entry count."""
    try:
        response = await http.fetch(client, url, max_bytes=max_bytes)
        parsed = parse_feed(response.content, url=response.url, headers=dict(response.headers))
    except (http.FetchError, FeedParseError) as exc:
        return Candidate(url, how, title, None, str(exc))
    return Candidate(url, how, parsed.title or title, len(parsed.entries))


async def discover(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> Discovery:
    """The feeds found at ``url`` (see the module's docstring)."""
    try:
        response = await http.fetch(client, url, max_bytes=max_bytes)
    except http.FetchError as exc:
        blocked = isinstance(exc, http.BlockedAddressError)
        return Discovery(url, (Candidate(url, "given", None, None, str(exc)),), (str(exc),),
                         unreachable=not blocked, blocked=blocked)
    try:
        parsed = parse_feed(response.content, url=response.url, headers=dict(response.headers))
    except FeedParseError as exc:
        not_feed = str(exc)
    else:
        return Discovery(url, (Candidate(url, "given", parsed.title, len(parsed.entries)),))
    given = Candidate(url, "given", None, None, not_feed)
    content_type = response.headers.get("Content-Type")
    not_html = not_html_reason(content_type, response.content)
    if not_html is not None:
        return Discovery(url, (given,), (f"not a feed: {not_feed}", f"not an HTML page either: {not_html}"))

    links = feed_links(response.content, base_url=response.url, content_type=content_type)
    declared = await asyncio.gather(
        *(_check(client, link.url, "link", link.title, max_bytes=max_bytes) for link in links)
    )
    tried: list[Candidate] = [given, *declared]
    if any(c.ok for c in declared):
        return Discovery(url, tuple(tried))

    seen = {c.url for c in tried} | {response.url}
    for candidate_url in common_path_urls(response.url):
        if candidate_url in seen:
            continue
        candidate = await _check(client, candidate_url, "path", None, max_bytes=max_bytes)
        tried.append(candidate)
        if candidate.ok:
            return Discovery(url, tuple(tried))

    if links:
        failed = ", ".join(f"{c.url}: {c.error}" for c in declared)
        count = f"the feed it declares ({failed}) cannot" if len(links) == 1 else \
            f"none of the {len(links)} feeds it declares ({failed}) can"
        why = f"{count} be read"
    else:
        why = 'it declares no feed (<link rel="alternate">)'
    paths = ", ".join(COMMON_PATHS)
    folder = _folder(response.url)
    where = f" (under {folder}/ and at the root)" if folder else ""
    return Discovery(url, tuple(tried), ("an HTML page", why, f"none of {paths}{where} is a feed"))
