"""Test-only: a page that crashes the extractor, in every Python process started with this folder first on
PYTHONPATH (Python imports ``sitecustomize`` at start-up).

veille's extractor is wrapped so that a page holding ``MARKER`` kills its process with ``os.abort()``, as a
native crash in lxml would (SIGABRT, as glibc's "double free or corruption"). The wrapper replaces
:func:`veille.pages.extract.extract_article` before anything imports it, so it is what ``veille poll``'s
pool processes, Celery's worker processes and ``veille extract`` call. Production code has no such switch.
"""

from __future__ import annotations

import functools
import os
from typing import Any

MARKER = "VEILLE-TEST-CRASH-THE-EXTRACTOR"


def _install() -> None:
    import veille.pages.extract as extract

    original = extract.extract_article

    @functools.wraps(original)
    def extract_article(html: str | bytes, **kwargs: Any) -> Any:
        text = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
        if MARKER in text:
            os.abort()
        return original(html, **kwargs)

    extract.extract_article = extract_article  # type: ignore[assignment]


if __name__ == "sitecustomize":  # at start-up only: tests import MARKER from here without the wrapper
    _install()
