"""What a page says about itself: canonical URL, AMP, title, date, author, declared language.

Every function reads a parsed lxml tree and never changes it.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from veille.pages.urls import normalize_url, url_key

JsonObject = dict[str, Any]

_ARTICLE_TYPES = re.compile(r"(Article|BlogPosting|Report|Posting)$")
_TITLE_SEPARATORS = re.compile(r"\s+(?:[|\-–—·•»]|::)\s+")
_SPACES = re.compile(r"\s+")
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?"
)
_PUBLISHED_META = (
    "article:published_time", "og:published_time", "og:article:published_time", "datepublished",
    "pubdate", "publishdate", "publish-date", "publish_date", "parsely-pub-date", "sailthru.date",
    "dc.date.issued", "dcterms.issued", "dc.date", "dcterms.date", "dcterms.created", "date",
)
_AUTHOR_META = ("author", "article:author", "parsely-author", "sailthru.author", "byl", "dc.creator")
# Host labels that name no site: top-level domains and generic subdomains.
_GENERIC_LABELS = frozenset(
    {"com", "org", "net", "fr", "co", "uk", "de", "io", "info", "eu", "ch", "be", "ca", "gov", "edu",
     "www", "blog", "blogs", "news", "edition", "amp", "mobile", "web", "english", "beta"}
)


def clean_text(value: str | None) -> str:
    """Whitespace collapsed, entities a page escaped twice decoded."""
    if not value:
        return ""
    if "&" in value:
        value = html.unescape(value)
    return _SPACES.sub(" ", value).strip()


def meta_values(tree: HtmlElement) -> dict[str, str]:
    """``<meta>`` contents keyed by lower-cased property, name or itemprop; the first one wins."""
    values: dict[str, str] = {}
    for element in tree.iter("meta"):
        content = element.get("content")
        if not content or not content.strip():
            continue
        for attribute in ("property", "name", "itemprop", "http-equiv"):
            key = element.get(attribute)
            if key:
                values.setdefault(key.strip().lower(), content.strip())
    return values


def json_ld(tree: HtmlElement) -> list[JsonObject]:
    """Every JSON-LD object on the page, ``@graph`` members and nested lists flattened."""
    objects: list[JsonObject] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text.strip().rstrip(";"), strict=False)
        except ValueError:
            continue
        objects.extend(_flatten(data))
    return objects


def _flatten(data: Any) -> Iterator[JsonObject]:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _flatten(data["@graph"])


def _types(obj: JsonObject) -> list[str]:
    kind = obj.get("@type", [])
    return [kind] if isinstance(kind, str) else [k for k in kind if isinstance(k, str)]


def article_objects(objects: list[JsonObject]) -> list[JsonObject]:
    """The JSON-LD objects that describe an article, or every object when none does."""
    articles = [obj for obj in objects if any(_ARTICLE_TYPES.search(t) for t in _types(obj))]
    return articles or objects


# --- URLs ---------------------------------------------------------------------------------------


def canonical_url(tree: HtmlElement, url: str, meta: dict[str, str]) -> str:
    """The page's own idea of its address: ``<link rel=canonical>``, then ``og:url``, else ``url``.

    A canonical that is a site's home page while the page is not is a template mistake (every
    article would then be the same page) and is passed over.
    """
    candidates = [
        link.get("href", "")
        for link in tree.iter("link")
        if "canonical" in (link.get("rel") or "").lower().split()
    ]
    candidates.append(meta.get("og:url", ""))
    base = _base_href(tree, url)
    page_is_home = _is_home(url)
    for candidate in candidates:
        if not candidate.strip():
            continue
        try:
            canonical = normalize_url(candidate, base=base)
        except ValueError:
            continue
        if page_is_home or not _is_home(canonical):
            return canonical
    try:
        return normalize_url(url)
    except ValueError:  # a file:// page, say: keep it as it is
        return url


def _is_home(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


def _base_href(tree: HtmlElement, url: str) -> str:
    for base in tree.iter("base"):
        href = base.get("href")
        if href:
            try:
                return normalize_url(href, base=url)
            except ValueError:
                break
    return url


def is_amp(tree: HtmlElement) -> bool:
    """True for an AMP page (``<html amp>`` or ``<html ⚡>``)."""
    root = tree.getroottree().getroot()
    return root.tag == "html" and any(name in ("amp", "⚡") for name in root.attrib)


def amp_canonical(tree: HtmlElement, url: str, canonical: str) -> bool:
    """An AMP page whose canonical page is another one: the caller may fetch that instead."""
    try:
        return is_amp(tree) and url_key(canonical) != url_key(url)
    except ValueError:
        return False


# --- title --------------------------------------------------------------------------------------


def title(tree: HtmlElement, url: str, meta: dict[str, str], objects: list[JsonObject] | None = None) -> str:
    """og:title, the first ``<h1>``, JSON-LD headline, ``<title>``; a site name before or after it removed."""
    sites = site_names(url, meta)
    candidates = [meta.get("og:title"), meta.get("twitter:title")]
    candidates.extend(h1.text_content() for h1 in tree.iter("h1"))
    candidates.extend(_as_str(obj.get("headline")) for obj in article_objects(objects or []))
    candidates.extend(t.text_content() for t in tree.iter("title"))
    for candidate in candidates:
        text = clean_text(candidate)
        if text:
            return strip_site_name(text, sites)
    return ""


def _compact(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in folded if char.isalnum() and char.isascii())


def site_names(url: str, meta: dict[str, str]) -> set[str]:
    """Compact spellings of the site's name: og:site_name, application-name, the host's labels."""
    names = {_compact(meta.get(key, "")) for key in ("og:site_name", "application-name", "twitter:site")}
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    labels = host.split(".")
    names.add(_compact(host))
    names.add(_compact("".join(labels[:-1])))
    names.update(label for label in labels if len(label) >= 3 and label not in _GENERIC_LABELS)
    names.discard("")
    return names


def _is_site_name(segment: str, sites: set[str]) -> bool:
    compact = _compact(segment)
    if not compact:
        return False
    if compact in sites:
        return True
    # "BBC News" on bbc.com, "Le Monde.fr", "The Guardian": short segments that contain the host's name
    return len(segment.split()) <= 4 and any(len(site) >= 3 and site in compact for site in sites)


def strip_site_name(text: str, sites: set[str]) -> str:
    """``Headline | Le Monde`` -> ``Headline``; ``Le Monde - Headline`` -> ``Headline``."""
    parts = _TITLE_SEPARATORS.split(text)
    if len(parts) < 2:
        return text
    for index in range(1, len(parts)):
        if _is_site_name(parts[index], sites):
            return _rejoin(text, parts[:index])
    if _is_site_name(parts[0], sites):
        return _rejoin(text, parts[1:])
    return text


def _rejoin(text: str, parts: list[str]) -> str:
    """The span of ``text`` the ``parts`` cover, separators included."""
    start = text.find(parts[0])
    end = text.rfind(parts[-1]) + len(parts[-1])
    return text[start:end].strip() if start >= 0 and end > start else parts[0]


# --- date ---------------------------------------------------------------------------------------


def parse_datetime(value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time as an aware datetime (UTC when the page gives no offset)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d{10}(\d{3})?", value):  # Unix time, in seconds or milliseconds
        seconds = int(value[:10])
        return datetime.fromtimestamp(seconds, tz=UTC)
    match = _ISO_DATE.match(value)
    if not match:
        return None
    text = match.group(0).replace(" ", "T", 1).replace(",", ".").rstrip()
    if "T" in text and re.search(r"T\d:", text):
        text = text.replace("T", "T0", 1)
    try:
        parsed = datetime.fromisoformat(text.replace(" ", ""))
    except ValueError:
        return None
    if not 1990 <= parsed.year <= 2100:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def published(
    tree: HtmlElement, url: str, meta: dict[str, str], objects: list[JsonObject]
) -> datetime | None:
    """JSON-LD datePublished, then article:published_time and kin, then ``<time datetime>``, then htmldate."""
    for obj in article_objects(objects):
        found = parse_datetime(_as_str(obj.get("datePublished")) or _as_str(obj.get("dateCreated")))
        if found:
            return found
    for key in _PUBLISHED_META:
        found = parse_datetime(meta.get(key))
        if found:
            return found
    times = [t for t in tree.iter("time") if t.get("datetime")]
    preferred = [t for t in times if t.get("pubdate") is not None or t.get("itemprop") == "datePublished"]
    for element in preferred + times:
        found = parse_datetime(element.get("datetime"))
        if found:
            return found
    return _htmldate(tree, url)


def _htmldate(tree: HtmlElement, url: str) -> datetime | None:
    from htmldate import find_date  # costly to import; only pages without a machine-readable date need it

    try:
        found = find_date(tree, extensive_search=False, original_date=True, url=url)
    except Exception:  # htmldate is a heuristic; a failure there must not lose the article
        return None
    if not found:
        return None
    try:
        return datetime.combine(date.fromisoformat(found), time(), tzinfo=UTC)
    except ValueError:
        return None


def _as_str(value: Any) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


# --- author -------------------------------------------------------------------------------------


def author(tree: HtmlElement, url: str, meta: dict[str, str], objects: list[JsonObject]) -> str | None:
    """JSON-LD ``author`` names, else the author meta tags, else ``itemprop=author`` or ``rel=author``.

    A name that is the site's own ("BBC News", "The Economist") is no author.
    """
    sites = site_names(url, meta)
    for obj in article_objects(objects):
        publisher = obj.get("publisher")
        if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
            sites.add(_compact(publisher["name"]))
    for names in _author_candidates(tree, meta, objects):
        cleaned = [clean_author(name) for name in names]
        kept = [name for name in dict.fromkeys(cleaned) if name and _compact(name) not in sites]
        if kept:
            return ", ".join(kept[:5])
    return None


def _author_candidates(
    tree: HtmlElement, meta: dict[str, str], objects: list[JsonObject]
) -> Iterator[list[str]]:
    """Lists of names, best source first; the markup is only searched when the metadata has none."""
    for obj in article_objects(objects):
        yield list(_names(obj.get("author")))
    for key in _AUTHOR_META:
        if key in meta:
            yield [meta[key]]
    yield [_itemprop_name(element) for element in tree.xpath("//*[@itemprop='author']")]
    yield [link.text_content() for link in tree.xpath("//a[@rel='author']")]


def _itemprop_name(element: HtmlElement) -> str:
    name = element.find(".//*[@itemprop='name']")
    if name is not None:
        return str(name.get("content") or name.text_content())
    return str(element.get("content") or element.text_content())


def _names(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _names(item)
    elif isinstance(value, dict):
        yield from _names(value.get("name"))


def clean_author(value: str | None) -> str:
    """A person's name from a byline: "By Jane Doe, CNN" -> "Jane Doe, CNN"; "" for URLs and e-mails."""
    name = clean_text(value)
    name = re.sub(r"^(?:by|par|de|von)\s+", "", name, flags=re.IGNORECASE)
    if not name or len(name) > 100 or "://" in name or name.startswith("www.") or "@" in name:
        return ""
    return name


# --- language -----------------------------------------------------------------------------------


def declared_language(tree: HtmlElement, meta: dict[str, str]) -> str | None:
    """The primary subtag of ``<html lang>`` (or ``xml:lang``, or Content-Language), lower-cased."""
    root = tree.getroottree().getroot()
    for value in (
        root.get("lang"),
        root.get("{http://www.w3.org/XML/1998/namespace}lang"),
        root.get("xml:lang"),
        meta.get("content-language"),
        meta.get("og:locale"),
    ):
        code = primary_subtag(value)
        if code:
            return code
    return None


def primary_subtag(value: str | None) -> str | None:
    if not value:
        return None
    code = re.split(r"[-_,;\s]", value.strip().lower(), maxsplit=1)[0]
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None
