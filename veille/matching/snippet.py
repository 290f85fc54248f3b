"""Snippets: the sentence around a hit, in the article's own characters."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

LIMIT = 300  # characters, not counting the "…" marks of a cut

# The end of a sentence: . ! ? … (with closing quotes) before a space, a CJK full stop, a blank line.
# A single capital before the dot is an initial (M. Niel, J. Smith), not the end of a sentence.
# Written to start with one character set, which lets the regex engine skip to the candidates fast:
# the same as (?<![\s(][A-Z])[.!?…]+["'»”’)\]]*(?=\s)|[。！？]+|\n[^\S\n]*\n
_SENTENCE_END = re.compile(
    r"[.!?…。！？\n](?:(?<=[.!?…])(?<![\s(][A-Z].)[.!?…]*[\"'»”’)\]]*(?=\s)|(?<=[。！？])[。！？]*|(?<=\n)[^\S\n]*\n)"
)
_SPACE = re.compile(r"\s")
_LINE_BREAK = re.compile(r"[\n\r\t\v\f]")  # shown as spaces, one for one


class Snippets:
    """Snippets of one text. Its sentence ends are found from the start of the text as far as the
    hits asked for need, so a hit near the start costs a short scan whatever the text's length."""

    def __init__(self, source: str, *, limit: int = LIMIT) -> None:
        self.source = source
        self.limit = limit
        self._found = _SENTENCE_END.finditer(source)
        self._starts: list[int] = []  # where each sentence end found so far begins...
        self._ends: list[int] = []  # ...and where it ends (the next sentence starts after it)
        self._done = False

    def around(self, start: int, end: int) -> tuple[str, tuple[int, int]]:
        """The sentence around the hit [start, end), cut to about `limit` characters on word
        boundaries with "…", and where the hit is inside it. Line breaks show as spaces."""
        source, limit = self.source, self.limit
        starts, ends = self._starts, self._ends
        while not self._done and (not starts or starts[-1] < end):  # up to the first end after the hit
            found = next(self._found, None)
            if found is None:
                self._done = True
            else:
                starts.append(found.start())
                ends.append(found.end())
        before = bisect_right(ends, start) - 1
        lo = ends[before] if before >= 0 else 0
        after = bisect_left(starts, end)
        hi = ends[after] if after < len(starts) else len(source)
        lo, hi = _strip(source, lo, hi, start, end)
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
            lo, hi = _strip(source, lo, hi, start, end)
        shift = len(head) - lo
        return head + _LINE_BREAK.sub(" ", source[lo:hi]) + tail, (start + shift, end + shift)


def snippet(source: str, start: int, end: int, *, limit: int = LIMIT) -> tuple[str, tuple[int, int]]:
    """The snippet of one hit; use `Snippets` for several hits in the same text."""
    return Snippets(source, limit=limit).around(start, end)


def _strip(source: str, lo: int, hi: int, start: int, end: int) -> tuple[int, int]:
    while lo < start and source[lo].isspace():
        lo += 1
    while hi > end and source[hi - 1].isspace():
        hi -= 1
    return lo, hi
