"""The main text of a prepared page tree.

1. trafilatura in precision mode, comments excluded (the best of its modes on the benchmark);
2. if that finds little, trafilatura's balanced mode, kept when it finds much more;
3. the body chunks trafilatura skipped (:mod:`veille.pages.chunks`);
4. block clean-up: repeated headline, teasers, pitches (:mod:`veille.pages.boilerplate`);
5. if the page still yields almost nothing (a page rendered by JavaScript), its JSON-LD
   ``articleBody`` when that is much longer.
"""

from __future__ import annotations

import logging

from lxml.html import HtmlElement

from veille.pages.boilerplate import clean_blocks
from veille.pages.chunks import missing_chunks
from veille.pages.metadata import JsonObject, article_objects
from veille.pages.text import Block, body_blocks, html_to_text

log = logging.getLogger(__name__)

# Below this many characters an extraction may have missed the article.
SHORT_TEXT = 500
# How much longer a second opinion must be to replace a short extraction.
MUCH_LONGER = 2.0


def main_text(
    tree: HtmlElement, url: str, *, title: str = "", objects: list[JsonObject] | None = None
) -> str:
    """The article's text, paragraphs separated by blank lines; boilerplate left out."""
    blocks = trafilatura_blocks(tree, url, precise=True)
    if _length(blocks) < SHORT_TEXT:
        balanced = trafilatura_blocks(tree, url, precise=False)
        if _length(balanced) > MUCH_LONGER * _length(blocks):
            blocks = balanced
    extra = [Block("p", text) for text in missing_chunks(tree, [block.text for block in blocks])]
    text = "\n\n".join(block.text for block in clean_blocks(blocks + extra, title))
    if len(text) < SHORT_TEXT and objects:
        body = json_ld_body(objects)
        if len(body) > MUCH_LONGER * len(text):
            return body
    return text


def trafilatura_blocks(tree: HtmlElement, url: str, *, precise: bool) -> list[Block]:
    from trafilatura import bare_extraction

    try:
        document = bare_extraction(tree, url=url, include_comments=False, favor_precision=precise)
    except Exception:  # a bug deep in a heuristic must not lose the page's metadata
        log.warning("trafilatura failed", extra={"entry_url": url}, exc_info=True)
        return []
    if document is None or isinstance(document, dict):
        return []
    return body_blocks(document.body)


def json_ld_body(objects: list[JsonObject]) -> str:
    """The longest ``articleBody`` the page's JSON-LD gives, as plain text."""
    bodies = [body for obj in article_objects(objects) if isinstance(body := obj.get("articleBody"), str)]
    return html_to_text(max(bodies, key=len)) if bodies else ""


def _length(blocks: list[Block]) -> int:
    return sum(len(block.text) + 2 for block in blocks)
