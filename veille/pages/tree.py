"""Parse a page once, and prepare the tree for trafilatura once its metadata is read."""

from __future__ import annotations

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

from veille.pages.parsers import page_parser

# Never article text: dropped before extraction. trafilatura drops them too, but only after
# running its XPath heuristics over them; its external fallbacks (readability, jusText) never do.
_INERT = ("style", "svg", "template", "link", "iframe", "noscript", "nav", "footer", "aside", "button",
          "select", "input", "option", "video", "audio", "canvas", "map", "object", "embed", "picture")
# The elements trafilatura deletes when empty (its CUT_EMPTY_ELEMS).
_EMPTY_CUT = ("article", "b", "blockquote", "dd", "div", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "i",
              "li", "main", "p", "pre", "q", "section", "span", "strong")


def parse_html(html: str) -> HtmlElement | None:
    """The page's tree, parsed the way trafilatura parses it (so its heuristics see the same tree).

    lxml reads UTF-8 bytes faster than a str and without trafilatura's clean-up pass; that pass (the one of
    :func:`trafilatura.utils.load_html`) is kept for the pages the fast parse cannot read. Both parse with
    this thread's own parser, never trafilatura's shared one (:mod:`veille.pages.parsers`).
    """
    parser = page_parser()
    try:
        tree = lxml.html.fromstring(html.encode("utf-8", errors="replace"), parser=parser)
    except (etree.ParserError, ValueError):
        tree = None
    if tree is None or len(tree) == 0:
        tree = _load_html(html, parser)
    return tree


def _load_html(html: str, parser: lxml.html.HTMLParser) -> HtmlElement | None:
    """:func:`trafilatura.utils.load_html` for a str, with ``parser`` instead of trafilatura's shared one."""
    from trafilatura.utils import is_dubious_html, repair_faulty_html

    beginning = html[:50].lower()
    html = repair_faulty_html(html, beginning)
    tree: HtmlElement | None = None
    from_bytes = False
    try:
        tree = lxml.html.fromstring(html, parser=parser)  # a str first
    except ValueError:  # "Unicode strings with encoding declaration are not supported"
        tree, from_bytes = _from_bytes(html, parser), True
    except Exception:  # as trafilatura: a page lxml cannot read is no page, never an error
        tree = None
    if (tree is None or len(tree) < 1) and not from_bytes:
        tree = _from_bytes(html, parser)
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        return None  # not HTML at all
    return tree


def _from_bytes(html: str, parser: lxml.html.HTMLParser) -> HtmlElement | None:
    try:
        return lxml.html.fromstring(html.encode("utf8", "surrogatepass"), parser=parser)
    except Exception:  # as trafilatura: a page lxml cannot read is no page, never an error
        return None


def prepare_for_extraction(tree: HtmlElement) -> None:
    """Drop what never holds article text and protect the text trafilatura would lose.

    Call it after the metadata is read: ``<head>`` is emptied but for its JSON-LD, which
    trafilatura reads to recognize forum threads.
    """
    for head in tree.iter("head"):
        for child in list(head):
            if not _is_json_ld(child):
                head.remove(child)
    for script in list(tree.iter("script")):
        if not _is_json_ld(script):
            script.drop_tree()  # keeps the tail text
    etree.strip_elements(tree, *_INERT, with_tail=False)
    _rescue_tails(tree)
    _unlink_contacts(tree)


def _is_json_ld(element: HtmlElement) -> bool:
    return element.tag == "script" and "ld+json" in (element.get("type") or "").lower()


def _rescue_tails(tree: HtmlElement) -> None:
    """Move the text that follows an empty element out of its tail.

    In precision mode trafilatura deletes empty elements with their tails, so
    ``<strong></strong>par un dirigeant`` would lose "par un dirigeant".
    """
    for element in tree.iter(*_EMPTY_CUT):
        if not (element.tail and element.tail.strip()) or element.text_content():
            continue
        previous, parent = element.getprevious(), element.getparent()
        while previous is not None and previous.tag in _EMPTY_CUT and not previous.text_content():
            previous = previous.getprevious()  # about to be deleted too: not a safe home
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        elif parent is not None:
            parent.text = (parent.text or "") + element.tail
        else:
            continue
        element.tail = None


def _unlink_contacts(tree: HtmlElement) -> None:
    """Turn ``mailto:`` and ``tel:`` links into plain text.

    They lead to no other page, so their text is content; left as links, a paragraph that is
    only an e-mail address reads as a link box to trafilatura's precision mode.
    """
    for link in list(tree.iter("a")):
        if (link.get("href") or "").strip().lower().startswith(("mailto:", "tel:")):
            link.drop_tag()
