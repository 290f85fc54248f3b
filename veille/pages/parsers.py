"""lxml parsers that no two threads share, and the lock that keeps lxml on one thread at a time.

An lxml parser must never be used by two threads at once: trafilatura's one module-level ``HTML_PARSER``,
handed to every thread, crashed `veille extract` with ``double free or corruption`` and segmentation faults
(trafilatura's issues #840 and #925). So each thread gets its own parsers here, made on first use.

trafilatura and its readability port still parse with module-level parsers of their own (its
``load_html``, ``lxml.html``'s default parser in ``fragment_fromstring``), out of veille's reach. So every
way into lxml work from veille (:func:`veille.pages.extract.extract_article`,
:func:`veille.pages.text.html_to_text`, feed discovery) also holds :data:`LXML_LOCK`: in one process lxml
runs on one thread at a time, whoever calls. Extraction is CPU work that only fights over the GIL on
threads anyway; parallel extraction uses processes (:func:`veille.pages.fetch.extraction_processes`).
"""

from __future__ import annotations

import threading

from lxml.html import HTMLParser

# Reentrant: extract_article holds it and calls html_to_text, which takes it again.
LXML_LOCK = threading.RLock()

_local = threading.local()


def page_parser() -> HTMLParser:
    """This thread's parser for whole pages, configured as trafilatura's ``HTML_PARSER`` (its heuristics
    expect that tree: no comments, no processing instructions, no id index, no default doctype)."""
    parser: HTMLParser | None = getattr(_local, "page", None)
    if parser is None:
        parser = HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
                            remove_pis=True)
        _local.page = parser
    return parser


def fragment_parser() -> HTMLParser:
    """This thread's parser for HTML fragments (a feed's summary, a link list): lxml.html's defaults."""
    parser: HTMLParser | None = getattr(_local, "fragment", None)
    if parser is None:
        parser = HTMLParser()
        _local.fragment = parser
    return parser
