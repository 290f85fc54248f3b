"""The article links of a listing page (a newsroom, a blog index, a section front): what a page source reads.

:func:`find_article_links` reads a page's HTML and returns the links to individual articles in its listing, each
with its title and, when the page gives one near it, its date. It fetches nothing and never changes the page.

What counts, in the order the rules apply (each one a reader would state):

- **Where a link is.** Links in the page's navigation, banner and footer (``<nav>``, ``<aside>``, a page-level
  ``<header>``/``<footer>``, ARIA roles navigation/banner/contentinfo/complementary/search, forms) and in small
  containers whose class or id names a menu, breadcrumb, pagination, tag list, social or share buttons, a
  newsletter or login box are never articles.
- **Which site.** Only links on the page's own site (its registrable domain, with any subdomain: the public
  suffix list that ships with the ``tld`` package, read locally) unless ``any_site``; never social networks.
- **What the address says.** Paths that name a tag, category, author, topic, search, login, subscription,
  legal or contact page, a feed, a file, the page itself or a page above it are not articles. An article's
  address usually has a date (``/2024/05/17/``), a slug of several words (``/news/claude-opus-4-6``), a long
  numeric id (``-093510948.html``) or a page suffix (``.html``): each adds to the link's score.
- **What the link says.** A headline has words (four or more, or a long run of CJK characters); a link of one or
  two words ("More", "Tech Support") is a menu entry unless its address is clearly an article's. A heading in
  or around the link adds to the score, and so does a date in the link's card (``<time datetime>``, or a
  date written out: "Apr 6, 2026", "12.11.2018", "3 hours ago").
- **The listing as a whole.** A card is the largest element around a link that holds no other article
  link; cards with the same parent form a block. When the page's largest block dates its items, blocks whose
  items carry no date at all are side boxes (top news, videos, downloads) and are dropped.
- **Embedded JSON.** Links in JSON-LD (``ItemList``/``itemListElement``, ``blogPost``, articles in ``@graph``),
  in Next.js' ``__NEXT_DATA__`` and in other ``application/json`` scripts are read from that JSON: lists of
  objects with an address (``url``, ``href``, ``link``, ``permalink``, ``path``, or a ``slug`` under the
  page's own path) and a title, with their date when given. They pass the same address rules and scoring,
  the JSON's title and date counting as the card's. A page rendered in the browser from that JSON is read
  that way; beside a listing the HTML shows, a JSON list adds links only when it is that listing's data
  (half its links are shown), since a page's state also holds menus and "most read" lists.

Measured on hand-labelled pages with ``python -m veille.eval listing``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

from veille.pages.decode import decode_html
from veille.pages.metadata import parse_datetime
from veille.pages.parsers import LXML_LOCK, page_parser
from veille.pages.urls import normalize_url, url_key

log = logging.getLogger(__name__)

MAX_LINKS = 500  # article links kept from one page, in page order
MAX_JSON_CHARS = 5_000_000  # an embedded JSON document larger than this is not read
MAX_TITLE = 500
ACCEPT = 3.0  # the score a link needs

# --------------------------------------------------------------------------- the rules' words

# Path segments that name a page about articles, never an article.
NOT_ARTICLE_SEGMENTS = frozenset({
    "tag", "tags", "category", "categories", "categorie", "kategorie", "rubrique", "author", "authors", "auteur",
    "autor", "topic", "topics", "theme", "themes", "search", "recherche", "suche", "login", "logout", "signin",
    "sign-in", "signup", "sign-up", "register", "subscribe", "subscription", "subscriptions", "newsletter",
    "newsletters", "account", "accounts", "profile", "user", "users", "auth", "cart", "checkout", "about",
    "about-us", "contact", "contact-us", "kontakt", "impressum", "privacy", "privacy-policy", "terms",
    "terms-of-service", "terms-of-use", "legal", "cookies", "cookie-policy", "careers", "jobs", "help", "faq",
    "feed", "feeds", "rss", "atom", "sitemap", "share", "sharer", "intent", "wp-login.php", "wp-admin",
    "page", "pages", "archive", "archives", "press-kit", "advertise", "mentions-legales",
})
# First host labels of a site's service hosts (login.example.com, status.example.com).
NOT_ARTICLE_HOSTS = frozenset({
    "login", "signin", "auth", "account", "accounts", "mail", "webmail", "search", "help", "support", "status",
    "shop", "store", "jobs", "careers", "subscribe", "subscriptions", "my", "id", "sso", "checkout",
})
SOCIAL_SITES = frozenset({
    "facebook.com", "twitter.com", "x.com", "linkedin.com", "instagram.com", "youtube.com", "youtu.be",
    "tiktok.com", "pinterest.com", "reddit.com", "t.me", "telegram.me", "wa.me", "whatsapp.com", "threads.net",
    "bsky.app", "mastodon.social", "flipboard.com", "tumblr.com", "discord.gg", "discord.com", "vk.com",
    "snapchat.com", "github.com", "apple.com", "spotify.com", "google.com", "feedly.com", "news.google.com",
})
NOT_PAGE_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".ico", ".pdf", ".zip", ".gz", ".mp3", ".mp4", ".m4a",
    ".mov", ".avi", ".css", ".js", ".json", ".xml", ".rss", ".atom", ".txt", ".csv", ".doc", ".docx", ".xls",
    ".xlsx", ".ppt", ".pptx", ".dmg", ".exe", ".apk",
)
PAGE_SUFFIXES = (".html", ".htm", ".shtml", ".php", ".aspx", ".asp", ".jsp", ".cms", ".ece")
INDEX_PAGES = frozenset({"index.html", "index.htm", "index.php", "index.shtml", "default.aspx", "default.asp"})
# Containers whose links are never articles.
SKIPPED_TAGS = frozenset({"nav", "aside", "form", "menu", "dialog", "select", "button", "template", "noscript"})
SKIPPED_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar",
                           "dialog", "alertdialog", "tablist"})
SKIPPED_CLASS_WORDS = frozenset({
    "nav", "navbar", "navigation", "menu", "submenu", "megamenu", "breadcrumb", "breadcrumbs", "pagination",
    "pager", "paging", "tags", "tagcloud", "tag-cloud", "keywords", "social", "share", "sharing", "sharebar",
    "newsletter", "subscribe", "subscription", "login", "signin", "cookie", "cookies", "consent", "skip",
    "sidebar", "sitemap", "toolbar",
})
# A container counts as a menu by its class only when it is small: a page-wide wrapper's class
# ("standard-navigation-site") says nothing about the links inside it.
SMALL_CONTAINER = 0.4
SKIPPED_RELS = frozenset({"tag", "author", "next", "prev", "sponsored", "license", "search", "help"})
SECTIONING = frozenset({"article", "aside", "main", "nav", "section"})
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
CARD_LEVELS = 6  # how far above a link its card may reach

_CLASS_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_SPLIT = re.compile(r"[\s_\-]+")
_SPACES = re.compile(r"\s+")
_SLUG_TOKENS = re.compile(r"[\W_]+", re.UNICODE)
_LONG_ID = re.compile(r"\d{5,}")
_URL_DATE = re.compile(
    r"/(?P<y>(?:19|20)\d{2})/(?P<m>0?[1-9]|1[0-2])(?:/(?P<d>0?[1-9]|[12]\d|3[01]))?(?=/|$)"
    r"|(?<!\d)(?P<y2>(?:19|20)\d{2})-(?P<m2>0[1-9]|1[0-2])-(?P<d2>0[1-9]|[12]\d|3[01])(?!\d)"
    r"|(?<!\d)(?P<y3>(?:19|20)\d{2})(?P<m3>0[1-9]|1[0-2])(?P<d3>0[1-9]|[12]\d|3[01])(?!\d)"
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")

MONTHS = {
    # English
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4, "may": 5,
    "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
    # French
    "janv": 1, "janvier": 1, "févr": 2, "fevr": 2, "février": 2, "fevrier": 2, "mars": 3, "avr": 4, "avril": 4,
    "mai": 5, "juin": 6, "juil": 7, "juillet": 7, "août": 8, "aout": 8, "déc": 12, "décembre": 12,
    "decembre": 12, "octobre": 10, "novembre": 11, "septembre": 9,
    # German
    "januar": 1, "jänner": 1, "februar": 2, "märz": 3, "maerz": 3, "juni": 6, "juli": 7, "okt": 10,
    "oktober": 10, "dez": 12, "dezember": 12,
    # Spanish, Italian
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12, "gennaio": 1, "febbraio": 2, "aprile": 4,
    "maggio": 5, "giugno": 6, "luglio": 7, "settembre": 9, "ottobre": 10, "dicembre": 12,
}
_MONTH = "|".join(sorted((re.escape(name) for name in MONTHS), key=len, reverse=True))
_TEXT_DATE = re.compile(
    rf"(?<!\w)(?P<mon1>{_MONTH})\.?\s+(?P<day1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year1>(?:19|20)\d{{2}})(?!\d)"
    rf"|(?<!\d)(?P<day2>\d{{1,2}})(?:er|\.)?\s+(?:de\s+)?(?P<mon2>{_MONTH})\.?,?\s+(?:de\s+)?(?P<year2>(?:19|20)\d{{2}})(?!\d)"
    r"|(?<!\d)(?P<day3>\d{1,2})\.(?P<mon3>\d{1,2})\.(?P<year3>(?:19|20)\d{2})(?!\d)"
    r"|(?<!\d)(?P<a4>\d{1,2})/(?P<b4>\d{1,2})/(?P<year4>(?:19|20)\d{2})(?!\d)"
    r"|(?<!\d)(?P<year5>(?:19|20)\d{2})-(?P<mon5>\d{2})-(?P<day5>\d{2})(?!\d)",
    re.IGNORECASE,
)
_RELATIVE_DATE = re.compile(
    r"\b\d+\s*(?:min(?:ute)?s?|h(?:ou)?rs?|hours?|days?)\s+ago\b|\bil y a \d+\s*(?:min|h|heures?|jours?)\b"
    r"|\bvor \d+\s*(?:Min(?:uten)?|Std|Stunden?|Tag(?:en)?)\b|\b(?:yesterday|today|hier|aujourd'hui|gestern|heute)\b",
    re.IGNORECASE,
)

# JSON fields, in the order they are tried
JSON_URL_FIELDS = ("url", "href", "link", "permalink", "canonical_url", "canonicalUrl", "uri", "path", "fullPath",
                   "full_path")
JSON_TITLE_FIELDS = ("headline", "title", "name", "heading")
JSON_DATE_FIELDS = ("datePublished", "publishedAt", "published_at", "publishDate", "publish_date", "publishedOn",
                    "published", "date", "pubDate", "firstPublishedAt", "first_published_at", "createdAt",
                    "created_at", "dateCreated")


@dataclass(frozen=True, slots=True)
class ListingLink:
    """One article a listing page links to."""

    url: str  # normalized (veille.pages.urls.normalize_url)
    title: str | None
    published: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "title": self.title,
                "published": self.published.astimezone(UTC).isoformat() if self.published else None}


# --------------------------------------------------------------------------- sites


def registrable_domain(host: str) -> str:
    """``news.example.co.uk`` -> ``example.co.uk``, from the public suffix list the ``tld`` package ships (read
    locally, never fetched). An IP address, ``localhost`` or a host under no known suffix is its own site."""
    host = host.lower().rstrip(".").removeprefix("www.")
    if not host or host.replace(".", "").isdigit() or ":" in host or "." not in host:
        return host
    from tld import get_fld  # its list loads on first use (a few ms)

    try:
        found = get_fld(host, fix_protocol=True, fail_silently=True)
    except Exception:  # the tld package's own errors: the host is then its own site
        found = None
    return found.lower() if isinstance(found, str) and found else host


def same_site(url: str, site: str) -> bool:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host == site or host.endswith("." + site)


def _social(host: str) -> bool:
    host = host.removeprefix("www.").removeprefix("m.")
    return any(host == site or host.endswith("." + site) for site in SOCIAL_SITES)


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True, slots=True)
class _Address:
    url: str
    key: str
    score: float
    date: datetime | None


class _Page:
    """What the address rules need to know about the listing page itself."""

    def __init__(self, base_url: str, *, any_site: bool) -> None:
        self.url = normalize_url(base_url)
        self.key = url_key(self.url)
        parts = urlsplit(self.url)
        self.host = (parts.hostname or "").lower()
        self.site = registrable_domain(self.host)
        self.any_site = any_site
        path = parts.path.rstrip("/")
        # the page's own path and the ones above it ("/news" above "/news/page/2") are not articles
        self.above = {url_key(f"{parts.scheme}://{parts.netloc}{path[:i] or '/'}")
                      for i in range(len(path) + 1) if i == len(path) or path[i] == "/"}

    def address(self, href: str, base: str) -> _Address | None:
        """The link's address and its score, or None when it can't be an article."""
        href = href.strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            return None
        try:
            url = normalize_url(href, base=base)
            key = url_key(url)
        except ValueError:
            return None
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if key == self.key or key in self.above or (parts.query and url_key(url.split("?", 1)[0]) in self.above):
            return None  # the page itself, a page above it, or the page with a query (sorting, paging)
        if _social(host):
            return None
        if not self.any_site and not same_site(url, self.site):
            return None
        if host != self.host and host.split(".", 1)[0] in NOT_ARTICLE_HOSTS:
            return None
        path = parts.path
        segments = [s for s in path.lower().split("/") if s]
        if not segments:
            return None  # a home page
        if any(s in NOT_ARTICLE_SEGMENTS for s in segments):
            return None
        last = segments[-1]
        if last.endswith(NOT_PAGE_SUFFIXES):
            return None
        if re.fullmatch(r"\d{1,3}", last) and len(segments) >= 2 and segments[-2] in ("page", "p", "seite"):
            return None
        return _Address(url, key, _address_score(path, segments), url_date(path))


def _address_score(path: str, segments: list[str]) -> float:
    score = 0.0
    if _URL_DATE.search(path):
        score += 2
    slug = segments[-1]
    if slug in INDEX_PAGES and len(segments) >= 2:
        slug = segments[-2]
    elif slug.endswith(PAGE_SUFFIXES):
        score += 1
    stem = slug.rsplit(".", 1)[0] if slug.endswith(PAGE_SUFFIXES) else slug
    stem = _URL_DATE.sub("", "/" + stem).strip("/")
    tokens = [t for t in _SLUG_TOKENS.split(stem) if t and not _LONG_ID.fullmatch(t)]
    alphabetic = [t for t in tokens if sum(c.isalpha() for c in t) >= 2]
    if len(tokens) >= 3 and len(alphabetic) >= 2:
        score += 2
    if _LONG_ID.search(slug) or (len(segments) >= 2 and re.fullmatch(r"\d{4,}", segments[-1])):
        score += 1.5
    return score


def url_date(path: str) -> datetime | None:
    """The date an address carries (``/2024/05/17/``, ``2024-05-17``, ``20240517``), or None."""
    match = _URL_DATE.search(path)
    if not match:
        return None
    year = match.group("y") or match.group("y2") or match.group("y3")
    month = match.group("m") or match.group("m2") or match.group("m3")
    day = match.group("d") or match.group("d2") or match.group("d3") or "1"
    return _date(int(year), int(month), int(day))


def _date(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


# --------------------------------------------------------------------------- text


def clean(text: str | None) -> str:
    return _SPACES.sub(" ", text or "").strip()


def text_date(text: str) -> tuple[bool, datetime | None]:
    """Whether ``text`` gives a date, and the date when it can be read unambiguously."""
    match = _TEXT_DATE.search(text)
    if match is None:
        return bool(_RELATIVE_DATE.search(text)), None
    groups = match.groupdict()
    if groups["mon1"]:
        return True, _date(int(groups["year1"]), MONTHS[groups["mon1"].lower()], int(groups["day1"]))
    if groups["mon2"]:
        return True, _date(int(groups["year2"]), MONTHS[groups["mon2"].lower()], int(groups["day2"]))
    if groups["mon3"]:
        return True, _date(int(groups["year3"]), int(groups["mon3"]), int(groups["day3"]))
    if groups["year4"]:
        first, second = int(groups["a4"]), int(groups["b4"])
        if first > 12:
            return True, _date(int(groups["year4"]), second, first)
        if second > 12:
            return True, _date(int(groups["year4"]), first, second)
        return True, None  # 03/04/2024: a date, but which one
    return True, _date(int(groups["year5"]), int(groups["mon5"]), int(groups["day5"]))


def _title_score(title: str, heading: bool) -> float:
    words = len(title.split())
    if _CJK.search(title):
        long_enough, short = len(title.replace(" ", "")) >= 10, len(title.replace(" ", "")) < 5
    else:
        long_enough, short = words >= 4 or (words >= 2 and len(title) >= 30), words <= 2
    if not title:
        return 0.0  # an image link: its card says the rest
    if short:  # a menu entry, unless its address is clearly an article's, or it heads a card
        return 1.0 if heading else -1.0
    return (2.0 if long_enough else 1.0) + (1.0 if heading else 0.0)


# --------------------------------------------------------------------------- the page's tree


def _class_words(element: HtmlElement) -> set[str]:
    raw = f"{element.get('class') or ''} {element.get('id') or ''}"
    if not raw.strip():
        return set()
    words = set()
    for piece in _SPLIT.split(raw):
        if not piece:
            continue
        words.add(piece.lower())
        words.update(w.lower() for w in _CLASS_WORDS.findall(piece))
    return words


def _is_page_region(element: HtmlElement) -> bool:
    """A ``<header>``/``<footer>`` that is the page's banner or footer: not inside a sectioning element."""
    parent = element.getparent()
    while parent is not None:
        if parent.tag in SECTIONING:
            return False
        parent = parent.getparent()
    return True


@dataclass(slots=True)
class _Candidate:
    address: _Address
    anchors: list[HtmlElement] = field(default_factory=list)
    title: str = ""
    heading: bool = False
    dated: bool = False
    date: datetime | None = None
    json: bool = False  # read from embedded JSON
    json_list: bool = False  # from a list the page declares (JSON-LD ItemList, blogPost)
    block: HtmlElement | None = None
    order: int = 0

    @property
    def score(self) -> float:
        score = self.address.score + _title_score(self.title, self.heading)
        if self.dated:
            score += 2
        if self.json_list:
            score += 1
        return score

    @property
    def published(self) -> datetime | None:
        return self.date or self.address.date


def _anchor_title(anchor: HtmlElement) -> tuple[str, bool]:
    """The anchor's headline: a heading inside it, else its own text, else its image's alt; and whether a
    heading holds it."""
    for heading in anchor.iter(*HEADINGS):
        text = clean(heading.text_content())
        if text:
            return text, True
    text = _card_text(anchor)
    inside_heading = any(parent.tag in HEADINGS for parent in anchor.iterancestors())
    if not text:
        for image in anchor.iter("img"):
            text = clean(image.get("alt"))
            if text:
                break
    if not text:
        text = clean(anchor.get("title") or anchor.get("aria-label"))
    return text, inside_heading


def _card_text(anchor: HtmlElement) -> str:
    """The anchor's text; for an anchor that wraps a whole card (a date, a kicker and a title, each in an
    element of its own, no text of its own around them), the longest of those pieces."""
    own = (anchor.text or "").strip() or any((child.tail or "").strip() for child in anchor)
    pieces = [clean(child.text_content()) for child in anchor
              if isinstance(child.tag, str) and child.tag != "time"]
    pieces = [piece for piece in pieces if piece]
    if own or len(pieces) < 2:
        return clean(anchor.text_content())
    return max(pieces, key=len)


class _Tree:
    def __init__(self, root: HtmlElement, page: _Page, base: str) -> None:
        self.root = root
        self.page = page
        self.base = base
        self.body = root.find(".//body")
        if self.body is None:
            self.body = root

    def anchors(self) -> Iterator[tuple[HtmlElement, _Address]]:
        """Every anchor outside the page's menus, banner and footer, with its address."""
        total = sum(1 for _ in self.body.iter("a")) or 1
        counts: dict[HtmlElement, int] = {}
        anchors = [a for a in self.body.iter("a") if a.get("href")]
        for anchor in anchors:
            for parent in anchor.iterancestors():
                counts[parent] = counts.get(parent, 0) + 1
                if parent is self.body:
                    break
        for anchor in anchors:
            if self._skipped(anchor, counts, total):
                continue
            address = self.page.address(anchor.get("href") or "", self.base)
            if address is not None:
                yield anchor, address

    def _skipped(self, anchor: HtmlElement, counts: dict[HtmlElement, int], total: int) -> bool:
        if set((anchor.get("rel") or "").lower().split()) & SKIPPED_RELS:
            return True
        for element in (anchor, *anchor.iterancestors()):
            if element is self.body:
                return False
            tag = element.tag if isinstance(element.tag, str) else ""
            if tag in SKIPPED_TAGS:
                return True
            if tag in ("header", "footer") and _is_page_region(element):
                return True
            if (element.get("role") or "").lower() in SKIPPED_ROLES:
                return True
            if (element.get("aria-hidden") or "").lower() == "true" and element is not anchor:
                return True
            if counts.get(element, 1) <= SMALL_CONTAINER * total and _class_words(element) & SKIPPED_CLASS_WORDS:
                return True
        return False


def _cards(tree: _Tree, candidates: dict[str, _Candidate]) -> None:
    """Each candidate's card (the largest element around its first anchor holding no other candidate) gives
    its date and heading; the card's parent is its block."""
    under: dict[HtmlElement, set[str]] = {}
    for key, candidate in candidates.items():
        for anchor in candidate.anchors:
            for parent in anchor.iterancestors():
                under.setdefault(parent, set()).add(key)
                if parent is tree.body:
                    break
    for key, candidate in candidates.items():
        anchor = candidate.anchors[0]
        card: HtmlElement = anchor
        for level, parent in enumerate(anchor.iterancestors()):
            if parent is tree.body or level >= CARD_LEVELS or under.get(parent, set()) != {key}:
                break
            card = parent
        parent = card.getparent()
        candidate.block = parent if parent is not None else card
        if not candidate.heading and card is not anchor:
            headings = [h for h in card.iter(*HEADINGS) if clean(h.text_content())]
            if len(headings) == 1:
                candidate.heading = True
                if not candidate.title or len(candidate.title) > 200:
                    candidate.title = clean(headings[0].text_content())
        _card_date(card, candidate)


def _card_date(card: HtmlElement, candidate: _Candidate) -> None:
    for element in card.iter("time"):
        candidate.dated = True
        found = parse_datetime(element.get("datetime")) or text_date(clean(element.text_content()))[1]
        if found is not None:
            candidate.date = found
            return
    for element in card.iter():
        value = element.get("datetime") or element.get("data-date") or element.get("data-published")
        if value and parse_datetime(value):
            candidate.dated, candidate.date = True, parse_datetime(value)
            return
    text = clean(" ".join(card.itertext()))[:2000]  # "Announcements</span><span>Apr 7": two words
    dated, found = text_date(text)
    if dated:
        candidate.dated = True
        candidate.date = candidate.date or found


def _drop_side_boxes(accepted: list[_Candidate]) -> list[_Candidate]:
    """On a page whose main listing dates its items, the blocks whose items carry no date at all are side
    boxes (top news, videos, downloads)."""
    blocks: dict[HtmlElement, list[_Candidate]] = {}
    for candidate in accepted:
        if candidate.block is not None and not candidate.json:
            blocks.setdefault(candidate.block, []).append(candidate)
    if not blocks:
        return accepted
    largest = max(blocks.values(), key=len)
    if len(largest) < 3 or sum(_has_date(c) for c in largest) < 0.8 * len(largest):
        return accepted
    undated = {block for block, members in blocks.items() if not any(_has_date(c) for c in members)}
    return [c for c in accepted if c.block not in undated]


def _has_date(candidate: _Candidate) -> bool:
    return candidate.dated or candidate.address.date is not None


# --------------------------------------------------------------------------- embedded JSON


@dataclass(frozen=True, slots=True)
class _JsonItem:
    href: str
    title: str
    date: datetime | None
    declared: bool  # a list the page declares as one (JSON-LD ItemList, blogPost)


def _scripts(root: HtmlElement) -> Iterator[tuple[str, Any]]:
    for script in root.iter("script"):
        kind = (script.get("type") or "").strip().lower()
        ident = script.get("id") or ""
        if kind not in ("application/ld+json", "application/json") and ident != "__NEXT_DATA__":
            continue
        text = (script.text or "").strip()
        if not text or len(text) > MAX_JSON_CHARS:
            continue
        try:
            data = json.loads(text.rstrip(";"), strict=False)
        except ValueError:
            continue
        yield ("ld" if kind == "application/ld+json" else "json"), data


def _str(value: Any) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("@id") or value.get("url")
    return value if isinstance(value, str) and value.strip() else None


def _json_date(obj: dict[str, Any]) -> datetime | None:
    for name in JSON_DATE_FIELDS:
        value = obj.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 10**9:
            value = str(int(value))
        found = parse_datetime(value) if isinstance(value, str) else None
        if found is not None:
            return found
    return None


def _json_ld_items(data: Any) -> Iterator[_JsonItem]:
    """Items of JSON-LD lists (``ItemList``, ``blogPost``, ``hasPart``) and articles in a ``@graph``."""
    stack = [data]
    seen = 0
    while stack and seen < 10_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        types = node.get("@type")
        types = [types] if isinstance(types, str) else [t for t in types or () if isinstance(t, str)]
        if "BreadcrumbList" in types:
            continue
        for name in ("itemListElement", "blogPost", "hasPart", "mainEntity"):
            members = node.get(name)
            if isinstance(members, dict):
                members = [members]
            if isinstance(members, list):
                for member in members:
                    item = member.get("item", member) if isinstance(member, dict) else member
                    if isinstance(item, str):
                        yield _JsonItem(item, "", None, True)
                    elif isinstance(item, dict):
                        href = _str(item.get("url")) or _str(item.get("@id"))
                        title = _str(item.get("headline")) or _str(item.get("name"))
                        if title is None and isinstance(member, dict):
                            title = _str(member.get("name"))
                        if href:
                            yield _JsonItem(href, clean(title)[:MAX_TITLE], _json_date(item), True)
                        stack.append(item)
        if any(re.search(r"(Article|BlogPosting|Report)$", t) for t in types):
            href = _str(node.get("url")) or _str(node.get("mainEntityOfPage"))
            title = _str(node.get("headline")) or _str(node.get("name"))
            if href and title:
                yield _JsonItem(href, clean(title)[:MAX_TITLE], _json_date(node), False)
        for key, value in node.items():
            if key not in ("itemListElement", "blogPost", "hasPart", "mainEntity") and isinstance(value, (dict, list)):
                stack.append(value)


def _json_lists(data: Any, page_url: str) -> Iterator[list[_JsonItem]]:
    """Lists of two or more objects each with an address and a title, anywhere in a JSON document (Next.js'
    ``__NEXT_DATA__``, a page's state). A ``slug`` alone is taken under the page's own path."""
    stack = [data]
    seen = 0
    folder = page_url if page_url.endswith("/") else page_url + "/"
    while stack and seen < 200_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
            continue
        if not isinstance(node, list):
            continue
        items = []
        for member in node:
            if not isinstance(member, dict):
                continue
            href = next((v for f in JSON_URL_FIELDS if isinstance(v := member.get(f), str) and v.strip()), None)
            if href is None:
                slug = member.get("slug")
                if isinstance(slug, dict):
                    slug = slug.get("current")
                if isinstance(slug, str) and slug.strip() and "/" not in slug.strip("/"):
                    href = urljoin(folder, slug.strip("/"))
            title = next((v for f in JSON_TITLE_FIELDS if isinstance(v := member.get(f), str) and v.strip()), None)
            if href and title and not href.startswith(("data:", "#")):
                items.append(_JsonItem(href, clean(title)[:MAX_TITLE], _json_date(member), False))
        if len(items) >= 2:
            yield items
        stack.extend(v for v in node if isinstance(v, (dict, list)))


# --------------------------------------------------------------------------- the finder


@dataclass(frozen=True, slots=True)
class Listing:
    title: str | None  # the page's <title>
    links: tuple[ListingLink, ...]


def find_article_links(
    content: bytes | str, base_url: str, *, any_site: bool = False, content_type: str | None = None
) -> list[ListingLink]:
    """The article links of a listing page, in page order (those read only from its JSON after), each once.

    ``base_url`` is the page's address (its ``<base href>`` wins for relative links); ``any_site``: links to
    other sites count too. Raises ValueError when ``base_url`` is not an http(s) URL.
    """
    return list(read_listing(content, base_url, any_site=any_site, content_type=content_type).links)


def read_listing(
    content: bytes | str, base_url: str, *, any_site: bool = False, content_type: str | None = None
) -> Listing:
    """:func:`find_article_links`, with the page's title."""
    page = _Page(base_url, any_site=any_site)
    html = decode_html(content, content_type) if isinstance(content, bytes) else content
    with LXML_LOCK:  # lxml on one thread at a time (veille.pages.parsers)
        root = _parse(html)
        if root is None:
            return Listing(None, ())
        title = next((clean(t.text_content()) for t in root.iter("title")), "")
        return Listing(title[:MAX_TITLE] or None, tuple(_find(root, page)))


def _parse(html: str) -> HtmlElement | None:
    try:
        return lxml.html.fromstring(html.encode("utf-8", errors="replace"), parser=page_parser())
    except (etree.ParserError, ValueError):
        return None


def _find(root: HtmlElement, page: _Page) -> list[ListingLink]:
    base = page.url
    for element in root.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            with contextlib.suppress(ValueError):
                base = normalize_url(href, base=page.url)
            break
    tree = _Tree(root, page, base)
    candidates: dict[str, _Candidate] = {}
    for order, (anchor, address) in enumerate(tree.anchors()):
        candidate = candidates.get(address.key)
        if candidate is None:
            candidate = candidates[address.key] = _Candidate(address, order=order)
        candidate.anchors.append(anchor)
        title, heading = _anchor_title(anchor)
        if heading and not candidate.heading:
            candidate.title, candidate.heading = title, True
        elif not candidate.heading and len(title) > len(candidate.title):
            candidate.title = title
    _cards(tree, candidates)
    _read_json(root, page, base, candidates)
    accepted = [c for c in candidates.values() if c.score >= ACCEPT]
    accepted = _drop_side_boxes(accepted)
    accepted.sort(key=lambda c: (c.json and not c.anchors, c.order))
    return [ListingLink(c.address.url, c.title[:MAX_TITLE] or None, c.published) for c in accepted[:MAX_LINKS]]


def _read_json(root: HtmlElement, page: _Page, base: str, candidates: dict[str, _Candidate]) -> None:
    """Add what the page's embedded JSON lists: titles and dates for the links also in its HTML, and the links
    only there. A list the page declares (JSON-LD) adds its links; another JSON list adds its links only when
    the HTML shows no article link (a page built in the browser) or when it is the listing's own data (half of
    its links are articles the HTML shows): a page's state also holds menus, "most read" and related lists."""
    order = len(candidates) + 1
    shown = {key for key, c in candidates.items() if c.score >= ACCEPT}
    for kind, data in _scripts(root):
        lists = [list(_json_ld_items(data))] if kind == "ld" else list(_json_lists(data, page.url))
        for items in lists:
            addressed = [(item, address) for item in items if (address := page.address(item.href, base))]
            listing = kind == "ld" or not shown or 2 * sum(a.key in shown for _, a in addressed) >= len(addressed)
            order = _add_json_items(addressed, candidates, order, new=listing)


def _add_json_items(
    addressed: list[tuple[_JsonItem, _Address]], candidates: dict[str, _Candidate], order: int, *, new: bool
) -> int:
    for item, address in addressed:
        candidate = candidates.get(address.key)
        if candidate is None:
            if not new:
                continue
            candidate = candidates[address.key] = _Candidate(address, order=order, json=True)
            order += 1
        if item.title and (not candidate.title or candidate.json):
            candidate.title = item.title
        if item.date is not None:
            candidate.dated, candidate.date = True, candidate.date or item.date
        candidate.json_list = candidate.json_list or item.declared
    return order

