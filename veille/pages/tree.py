"""Parse a page once, and prepare the tree for trafilatura once its metadata is read."""

from __future__ import annotations

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

# Never article text: dropped before extraction. trafilatura drops them too, but only after
# running its XPath heuristics over them; its external fallbacks (readability, jusText) never do.
_INERT = ("style", "svg", "template", "link", "iframe", "noscript", "nav", "footer", "aside", "button",
          "select", "input", "option", "video", "audio", "canvas", "map", "object", "embed", "picture")
# The elements trafilatura deletes when empty (its CUT_EMPTY_ELEMS).
_EMPTY_CUT = ("article", "b", "blockquote", "dd", "div", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "i",
              "li", "main", "p", "pre", "q", "section", "span", "strong")


def parse_html(html: str) -> HtmlElement | None:
    """The page's tree, parsed the way trafilatura parses it (so its heuristics see the same tree).

    lxml reads UTF-8 bytes faster than a str and without trafilatura's clean-up pass; that pass
    (:func:`trafilatura.utils.load_html`) is kept for the pages the fast parse cannot read.
    """
    from trafilatura.utils import HTML_PARSER, load_html

    try:
        tree = lxml.html.fromstring(html.encode("utf-8", errors="replace"), parser=HTML_PARSER)
    except (etree.ParserError, ValueError):
        tree = None
    if tree is None or len(tree) == 0:
        tree = load_html(html)
    return tree


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
