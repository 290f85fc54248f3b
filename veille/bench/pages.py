"""Article pages for the farm: real pages from the extraction benchmark, made to name a tracked entity.

Each page is a real news page (``<data>/extraction-benchmark/html/*.html.gz``) with three changes:
its canonical links (``rel=canonical``, ``rel=amphtml``, ``og:url``) are removed and replaced by one
pointing at the farm's own URL for the article (otherwise every copy of a page would be one article);
:data:`SENTENCE`, which names :data:`ENTITY`, is put at the start of the first paragraph of the article
body; and after it comes a run of words drawn from the page's own text in an order seeded by the
article's URL, as long as 60 % of the body, so two articles made from the same page share well under
80 % of their word 4-shingles and are two stories to veille, not one story told twice.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

ENTITY = "Kyutai"
SENTENCE = b"Kyutai researchers were asked about this story on the record. "

_CANONICAL = re.compile(
    rb"<link\b[^>]*\brel\s*=\s*[\"']?(?:canonical|amphtml)\b[^>]*>"
    rb"|<meta\b[^>]*\bproperty\s*=\s*[\"']?og:url\b[^>]*>",
    re.IGNORECASE,
)
_HEAD = re.compile(rb"<head\b[^>]*>", re.IGNORECASE)
_PARAGRAPH = re.compile(rb"<p\b[^>]*>(.*?)</p\s*>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(rb"<[^>]+>")
_WORD = re.compile(r"\w+")


class FarmDataError(RuntimeError):
    """The benchmark data is missing or unusable; the message says where it was looked for."""


_FALLBACK_WORDS = (
    "model", "data", "team", "lab", "research", "release", "open", "weights", "paper", "compute", "chips",
    "startup", "funding", "round", "product", "launch", "users", "market", "policy", "safety", "agents",
    "training", "inference", "benchmark", "language", "vision", "speech",
)


@dataclass(frozen=True, slots=True)
class PageTemplate:
    """A page split where the farm writes the article's own canonical link and its own words."""

    name: str
    head: bytes         # up to the end of <head ...>: the canonical link goes here
    middle: bytes       # up to the injection point, just after SENTENCE
    tail: bytes
    vocabulary: tuple[str, ...] = _FALLBACK_WORDS
    extra_words: int = 150

    def render(self, url: str) -> bytes:
        rng = random.Random(url)
        words = " ".join(rng.choice(self.vocabulary) for _ in range(self.extra_words))
        return (self.head + b'<link rel="canonical" href="' + url.encode("ascii") + b'">' + self.middle
                + words.encode("ascii") + b". " + self.tail)


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


_HIDDEN = re.compile(rb"<script\b.*?</script\s*>|<style\b.*?</style\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_RUN = 3  # paragraphs after a candidate that are looked at to tell the article from a caption quoting it
_ASIDE = re.compile(rb"class\s*=\s*[\"']?[^\"'>]*(?:caption|comment|quote)", re.IGNORECASE)
_ASIDE_WINDOW = 400  # bytes before a paragraph where a caption's or a comment's container is looked for


def _injection_point(html: bytes, body: str | None) -> int | None:
    """Where the sentence goes: the start of the article's first paragraph, that is, of the first
    paragraph of the ground-truth body that the next paragraphs also continue, and that is not in a photo
    or video caption or a reader's comment (they may quote the lead); never inside a script (JSON-LD
    carries the body as a string) or an HTML comment. Without a ground truth, or when no paragraph
    qualifies, the first paragraph of 200 characters or more."""
    known = _words(body) if body else ""
    hidden = [m.span() for m in _HIDDEN.finditer(html)]
    paragraphs = [m for m in _PARAGRAPH.finditer(html) if not any(a <= m.start() < b for a, b in hidden)]
    texts = [_TAGS.sub(b"", m.group(1)).decode("utf-8", "replace") for m in paragraphs]
    words = [_words(text) for text in texts]

    def aside(i: int) -> bool:  # a photo or video caption, a reader's comment, a quote: no article starts there
        start = paragraphs[i].start()
        return bool(_ASIDE.search(html, max(0, start - _ASIDE_WINDOW), paragraphs[i].start(1)))

    fallback = next((paragraphs[i].start(1) for i, text in enumerate(texts)
                     if len(text.strip()) >= 200 and not aside(i)), None)
    if not known:
        return fallback

    def in_body(i: int, least: int) -> bool:  # at least `least` characters of words, starting as the body does
        return len(words[i]) >= least and words[i][:60] in known

    def continued(i: int) -> int:
        return sum(1 for j in range(i + 1, min(i + 1 + _RUN, len(texts))) if in_body(j, 20))

    candidates = [i for i in range(len(texts)) if in_body(i, 40) and not aside(i)]
    if not candidates:
        return fallback
    best = max(candidates, key=lambda i: (continued(i), -i))
    return paragraphs[best].start(1)


def prepare(html: bytes, name: str = "", body: str | None = None) -> PageTemplate | None:
    """The page with its canonical links removed and the entity sentence injected, or None when
    it has no paragraph to carry the sentence. ``body`` is the page's ground-truth article text."""
    html = _CANONICAL.sub(b"", html)
    at = _injection_point(html, body)
    if at is None:
        return None
    head = _HEAD.search(html, 0, at)
    split = head.end() if head else 0
    text = body or _TAGS.sub(b" ", html[at:]).decode("utf-8", "replace")
    found = _WORD.findall(text)
    vocabulary = tuple(sorted({w for w in found if w.isascii() and w.isalpha() and len(w) > 2})) or _FALLBACK_WORDS
    if len(vocabulary) < 30:
        vocabulary = tuple(sorted(set(vocabulary) | set(_FALLBACK_WORDS)))
    extra = max(150, int(len(found) * 0.6)) if body else 300
    return PageTemplate(name, html[:split], html[split:at] + SENTENCE, html[at:], vocabulary, extra)


def load_templates(data: Path) -> list[PageTemplate]:
    """Every usable page of ``<data>/extraction-benchmark/html``, in file-name order."""
    folder = data / "extraction-benchmark" / "html"
    files = sorted(folder.glob("*.html.gz"))
    if not files:
        raise FarmDataError(
            f"no pages in {folder}: pass --data (or BENCH_DATA=...) pointing at the shared data folder "
            f"that holds extraction-benchmark/html/*.html.gz"
        )
    truth_file = data / "extraction-benchmark" / "ground-truth.json"
    truth: dict[str, dict[str, str]] = json.loads(truth_file.read_text("utf-8")) if truth_file.exists() else {}
    templates = []
    for f in files:
        body = truth.get(f.name.removesuffix(".html.gz"), {}).get("articleBody")
        template = prepare(gzip.decompress(f.read_bytes()), f.name, body)
        if template is not None:
            templates.append(template)
    if not templates:
        raise FarmDataError(f"none of the {len(files)} pages in {folder} has a paragraph to carry the entity")
    return templates
