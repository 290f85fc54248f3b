"""Snippets: the sentence around a hit, in the article's own characters."""

from __future__ import annotations

import re

LIMIT = 300  # characters, not counting the "…" marks of a cut

# The end of a sentence: . ! ? … (with closing quotes) before a space, a CJK full stop, a blank line.
# A single capital before the dot is an initial (M. Niel, J. Smith), not the end of a sentence.
_SENTENCE_END = re.compile(r"(?<![\s(][A-Z])[.!?…]+[\"'»”’)\]]*(?=\s)|[。！？]+|\n[^\S\n]*\n")
_LINE_BREAKS = str.maketrans("\n\r\t\v\f", "     ")  # shown as spaces, one for one
_SPACE = re.compile(r"\s")
_WINDOW = 4 * LIMIT  # how far to look for the ends of a sentence


def snippet(source: str, start: int, end: int, *, limit: int = LIMIT) -> tuple[str, tuple[int, int]]:
    """The sentence of `source` around the hit [start, end), cut to about `limit` characters on word
    boundaries with "…", and where the hit is inside it. Line breaks inside it show as spaces."""
    lo = max(0, start - _WINDOW)
    for boundary in _SENTENCE_END.finditer(source, lo, start):
        lo = boundary.end()
    after = _SENTENCE_END.search(source, end, min(len(source), end + _WINDOW))
    hi = after.end() if after else min(len(source), end + _WINDOW)
    while lo < start and source[lo].isspace():
        lo += 1
    while hi > end and source[hi - 1].isspace():
        hi -= 1
    head = tail = ""
    if hi - lo > limit:
        room = max(0, limit - (end - start))
        cut_lo = max(lo, start - room // 2)
        cut_hi = min(hi, cut_lo + max(limit, end - cut_lo))
        cut_lo = max(lo, min(start, cut_hi - limit))
        if cut_lo > lo:
            space = _SPACE.search(source, cut_lo, start)
            lo, head = (space.end() if space else start), "… "
        if cut_hi < hi:
            spaces = [m.start() for m in _SPACE.finditer(source, end, cut_hi)]
            hi, tail = (spaces[-1] if spaces else end), " …"
        while lo < start and source[lo].isspace():
            lo += 1
        while hi > end and source[hi - 1].isspace():
            hi -= 1
    shift = len(head) - lo
    return head + source[lo:hi].translate(_LINE_BREAKS) + tail, (start + shift, end + shift)
