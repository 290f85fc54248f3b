"""A page's HTML to an :class:`Article`: its main text and what it says about itself.

The page is parsed once. The metadata is read from that tree first; then the tree is
stripped of what never holds article text and handed to :func:`veille.pages.maintext.main_text`.
Nothing here raises on bad HTML: a page with no text gives an Article whose text is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from veille.pages import metadata
from veille.pages.decode import decode_html
from veille.pages.language import detect_language
from veille.pages.maintext import main_text
from veille.pages.parsers import LXML_LOCK
from veille.pages.text import html_to_text
from veille.pages.tree import parse_html, prepare_for_extraction
from veille.pages.urls import normalize_url

__all__ = ["Article", "extract_article", "html_to_text"]


@dataclass(frozen=True, slots=True)
class Article:
    url: str
    canonical_url: str  # <link rel=canonical> or og:url, normalized; else the normalized url
    title: str
    text: str  # main text only, paragraphs separated by "\n\n"
    published: datetime | None  # tz-aware (UTC when the page gives no offset)
    language: str | None  # ISO 639-1, e.g. "fr"
    author: str | None
    amp_canonical: bool = False  # an AMP page whose canonical page is another one


def extract_article(html: str | bytes, *, url: str, content_type: str | None = None) -> Article:
    """Main text and metadata of the page at ``url`` (bytes are decoded with ``content_type``).

    Safe to call from any thread: the lxml work runs on one thread at a time (:mod:`veille.pages.parsers`).
    """
    if isinstance(html, bytes):
        html = decode_html(html, content_type)
    with LXML_LOCK:
        return _extract(html, url)


def _extract(html: str, url: str) -> Article:
    try:
        page_url = normalize_url(url)
    except ValueError:
        page_url = url
    tree = parse_html(html)
    if tree is None:
        return Article(page_url, page_url, "", "", None, None, None)
    meta = metadata.meta_values(tree)
    objects = metadata.json_ld(tree)
    canonical = metadata.canonical_url(tree, page_url, meta)
    title = metadata.title(tree, page_url, meta, objects)
    published = metadata.published(tree, page_url, meta, objects)
    author = metadata.author(tree, page_url, meta, objects)
    declared = metadata.declared_language(tree, meta)
    amp = metadata.amp_canonical(tree, page_url, canonical)
    prepare_for_extraction(tree)
    text = main_text(tree, page_url, title=title, objects=objects)
    return Article(
        url=page_url,
        canonical_url=canonical,
        title=title,
        text=text,
        published=published,
        # the text's own language wins: templates often declare the site's default language
        language=detect_language(text or title) or declared,
        author=author,
        amp_canonical=amp,
    )
