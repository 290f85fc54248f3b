"""Article bodies split into several sibling containers.

Some templates cut the body into chunks with an ad or an embed between them
(``<div class="article__body">`` three times). trafilatura keeps the first chunk only;
:func:`missing_chunks` finds the others: elements with the very same tag and class as
the container of the extracted paragraphs, close to it in the tree, in the same
``<article>`` and without a headline of their own (so a next story appended below is not taken).
"""

from __future__ import annotations

import re
from collections import Counter

from lxml.html import HtmlElement

_KEY_WORDS = 8
_KEY_CHARS = 120
_MIN_CHUNK = 400  # characters of new text a chunk must bring
_MAX_DISTANCE = 3  # levels from the container up to the ancestor it shares with a chunk
_SKIP_ANCESTORS = frozenset({"aside", "figure", "figcaption", "blockquote", "nav", "footer", "form"})
_WORDS = re.compile(r"\w+")


def paragraph_key(text: str) -> str:
    """The first words of a paragraph, punctuation and case aside: enough to recognize it."""
    return " ".join(_WORDS.findall(text[:_KEY_CHARS].casefold())[:_KEY_WORDS])


def missing_chunks(tree: HtmlElement, extracted: list[str]) -> list[str]:
    """Paragraphs of the body chunks the extraction left out, in document order."""
    keys = {paragraph_key(line) for text in extracted for line in text.split("\n")}
    keys.discard("")
    matched = [p for p in tree.iter("p") if paragraph_key(p.text_content()) in keys]
    if len(matched) < 2:
        return []
    container, count = Counter(p.getparent() for p in matched).most_common(1)[0]
    css_class = container.get("class") if container is not None else None
    if container is None or count < 2 or not css_class:
        return []
    found: list[str] = []
    for chunk in tree.iter(container.tag):
        if chunk is container or chunk.get("class") != css_class or not _is_sibling_chunk(container, chunk):
            continue
        texts = [" ".join(p.text_content().split()) for p in chunk.iter("p") if not _in_skipped(p, chunk)]
        texts = [text for text in texts if text and paragraph_key(text) not in keys]
        if sum(map(len, texts)) >= _MIN_CHUNK:  # a chunk is body text, not one stray line
            found.extend(texts)
    return found


def _is_sibling_chunk(container: HtmlElement, chunk: HtmlElement) -> bool:
    ancestors = list(container.iterancestors())
    if chunk in ancestors or container in chunk.iterancestors():
        return False  # nested, not side by side
    shared = next((a for a in chunk.iterancestors() if a in ancestors), None)
    if shared is None or ancestors.index(shared) >= _MAX_DISTANCE:
        return False
    if _article_of(container) != _article_of(chunk):
        return False
    return next(chunk.iter("h1"), None) is None


def _article_of(element: HtmlElement) -> HtmlElement | None:
    return next(element.iterancestors("article"), None)


def _in_skipped(element: HtmlElement, stop: HtmlElement) -> bool:
    for ancestor in element.iterancestors():
        if ancestor is stop:
            return False
        if ancestor.tag in _SKIP_ANCESTORS:
            return True
    return False
