"""HTML to plain text: trafilatura's main-text tree, and the HTML a feed carries.

Paragraphs are separated by a blank line; the lines of a list or table by one newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.html
from lxml import etree

from veille.pages.parsers import LXML_LOCK, fragment_parser

_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_ALL_SPACES = re.compile(r"[\s\u00a0\u200b]+")
_WORDS = re.compile(r"\w+")

# --- trafilatura's tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """One top-level element of the main text: a paragraph, heading, list, table or quote."""

    kind: str
    text: str


def body_blocks(body: etree._Element | None) -> list[Block]:
    """The blocks of trafilatura's ``<body>`` (its XML vocabulary: p, head, list, quote, table...)."""
    if body is None:
        return []
    from trafilatura.xml import xmltotxt  # trafilatura is imported with the extractor anyway

    blocks = []
    for child in body:
        text = _tidy(xmltotxt(child, False))
        if text:
            blocks.append(Block(str(child.tag), text))
    return blocks


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


# --- a feed's HTML ------------------------------------------------------------------------------

_SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object",
                   "embed", "canvas", "select", "button", "form"})
_LINE_BLOCKS = frozenset({"li", "tr", "dt", "dd", "option"})
_PARAGRAPH_BLOCKS = frozenset(
    {"p", "div", "section", "article", "header", "footer", "aside", "nav", "main", "h1", "h2", "h3", "h4",
     "h5", "h6", "ul", "ol", "dl", "blockquote", "pre", "table", "figure", "figcaption", "hr", "address",
     "details", "summary", "center", "body", "html"}
)
_PARAGRAPH = "\x00P\x00"
_LINE = "\x00L\x00"


def html_to_text(fragment: str) -> str:
    """A feed's ``content:encoded`` or summary HTML as plain text; scripts and styles dropped."""
    if not fragment:
        return ""
    fragment = fragment.replace("\x00", "")  # the walker's markers use it
    if not fragment.strip():
        return ""
    if "<" not in fragment and "&" not in fragment:
        plain = re.sub(r"\n\s*\n", _PARAGRAPH, fragment.strip())
        return _join(plain.replace("\n", _LINE))
    with LXML_LOCK:  # any thread may call (the WebSub callback server's do): lxml on one at a time
        try:
            root = lxml.html.fragment_fromstring(fragment, create_parent="div", parser=fragment_parser())
        except (etree.ParserError, ValueError):
            return ""
        pieces: list[str] = []
        _walk(root, pieces)
    return _join("".join(pieces))


def _walk(element: lxml.html.HtmlElement, pieces: list[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""  # comments and processing instructions
    if tag and tag.lower() not in _SKIP:
        tag = tag.lower()
        marker = _PARAGRAPH if tag in _PARAGRAPH_BLOCKS else _LINE if tag in _LINE_BLOCKS else ""
        if tag == "br":
            pieces.append(_LINE)
        elif tag in ("td", "th"):
            pieces.append(" ")
        pieces.append(marker)
        if element.text:
            pieces.append(element.text)
        for child in element:
            _walk(child, pieces)
        pieces.append(marker)
    if element.tail:
        pieces.append(element.tail)


def _join(raw: str) -> str:
    paragraphs = []
    for chunk in raw.split(_PARAGRAPH):
        lines = [_ALL_SPACES.sub(" ", line).strip() for line in chunk.split(_LINE)]
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs)
