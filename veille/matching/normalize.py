"""Folding: the one canonical form that articles and the words users type are compared in.

`fold` maps a text to lowercase, accent-free text with single spaces and keeps, for every folded
character, the index of the original character it came from, so that a hit found in the folded
text can be shown in the original. `spellings` gives the keys a user's term is looked up under:
its folded form plus the German umlaut spellings, so that Schölkopf, Schoelkopf and Scholkopf
find each other.

Per character: NFKC; typographic apostrophes and quotes to ASCII; hyphens and dashes to a space
(so `Kyutai-backed` mentions Kyutai); every Unicode space to a space, runs collapsed; soft hyphens,
zero-width and other format or control characters removed; ligatures spelled out (œ -> oe,
ß -> ss); Latin, Greek and Cyrillic diacritics removed (é -> e, ö -> o, ά -> α); casefold.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from itertools import chain, repeat

_PUNCTUATION = {
    **dict.fromkeys("'’‘‛ʼʹ´`′＇", "'"),
    **dict.fromkeys('"«»“”„‟″‹›＂', '"'),
    **dict.fromkeys("-‐‑‒–—―−⁃﹘﹣－", " "),
    "™": "™",  # NFKC would glue "TM" to the word before it
    "℠": "℠",
}
_LETTERS = {
    "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "ẞ": "SS", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i",
}  # fmt: skip
_DIACRITICS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
# Scripts written without spaces between words: names in them match inside longer runs of text.
_SPACELESS = (
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1100, 0x11FF), (0x1780, 0x17FF), (0x3040, 0x30FF),
    (0x3130, 0x318F), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF), (0x20000, 0x3FFFF),
)  # fmt: skip

_LOWER: dict[int, str] = {}  # str.translate tables, filled on first sight of each character
_CASED: dict[int, str] = {}
_LENGTH: dict[str, int] = {}
_UNEVEN: set[str] = set()  # characters that do not fold to exactly one character
_SPACE_RUNS = re.compile(" {2,}")


@dataclass(frozen=True, slots=True)
class Folded:
    """A folded text: `text` is casefolded, `cased` is the same text before casefolding (same length,
    for case-sensitive terms), `offsets[i]` is the index in `source` of the character `text[i]`
    came from."""

    source: str
    text: str
    cased: str
    offsets: list[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `source` that the folded span [start, end) came from."""
        first, last = self.offsets[start], self.offsets[end - 1]
        stop = self.offsets[end] if end < len(self.offsets) else len(self.source)
        stop = max(stop, last + 1)
        # Take in the combining accents that folding dropped after the last character, but not the
        # soft hyphens or zero-width characters that follow it.
        while stop - 1 > last and not unicodedata.category(self.source[stop - 1]).startswith("M"):
            stop -= 1
        return first, stop


def fold(text: str) -> Folded:
    """Fold `text` for matching, keeping the way back to the original characters."""
    chars = set(text)
    for char in chars.difference(_LENGTH):
        _learn(char)
    lower = text.translate(_LOWER)
    cased = text.translate(_CASED)
    if _UNEVEN.isdisjoint(chars):
        offsets = list(range(len(text)))
    else:
        offsets = list(chain.from_iterable(map(repeat, range(len(text)), map(_LENGTH.__getitem__, text))))
    if "  " in lower:
        lower, cased, offsets = _collapse_spaces(lower, cased, offsets)
    return Folded(source=text, text=lower, cased=cased, offsets=offsets)


def fold_term(term: str) -> str:
    """The folded form of a term a user typed (a name, an alias, a query word)."""
    return fold(unicodedata.normalize("NFC", term)).text.strip(" ")


@cache
def is_word_char(char: str) -> bool:
    """Whether `char` continues a word: a hit next to one is not a whole word. Characters of scripts
    written without spaces (Chinese, Japanese, Korean, Thai...) never do."""
    if not (char.isalnum() or char == "_" or unicodedata.category(char).startswith("M")):
        return False
    code = ord(char)
    return not any(lo <= code <= hi for lo, hi in _SPACELESS)


def spellings(term: str) -> list[tuple[str, str]]:
    """The (casefolded, cased) keys `term` is looked up under: its folded form and its umlaut
    spellings. A vowel typed with an umlaut also matches with a following e (ö -> oe); a typed
    `ae`/`oe`/`ue` also matches without the e (Schoelkopf -> Scholkopf); in words of four letters
    or more a plain a/o/u before a consonant also matches with an e (Scholkopf -> Schoelkopf).
    Where that would turn ordinary words into others it is not done: not after a vowel or q
    (jouer, Feuer, question), not before a final s (does, vues), not for French œu/œil or Boeing,
    not when the e had a diaeresis (Citroën is not citron)."""
    source = unicodedata.normalize("NFC", term)
    folded = fold(source)
    lower, cased = folded.text.strip(" "), folded.cased.strip(" ")
    if not lower:
        return []
    shift = len(folded.text) - len(folded.text.lstrip(" "))
    origin = [source[i] for i in folded.offsets[shift : shift + len(lower)]]
    sites = _umlaut_sites(lower, origin)
    if len(sites) <= 4:
        choices = [[s for bit, s in enumerate(sites) if mask >> bit & 1] for mask in range(1 << len(sites))]
    else:  # too many to combine: each spelling change on its own
        choices = [[], *([s] for s in sites)]
    keys = dict.fromkeys(_respell(lower, cased, chosen) for chosen in choices)
    return list(keys)


def _umlaut_sites(lower: str, origin: list[str]) -> list[tuple[int, str]]:
    """Where a spelling may change: (i, "add") inserts an e after lower[i], (i, "drop") removes it."""
    sites: list[tuple[int, str]] = []
    for i, char in enumerate(lower):
        if char not in "aou":
            continue
        if origin[i] in "äöüÄÖÜ":
            sites.append((i, "add"))
            continue
        before = lower[i - 1] if i else " "
        if origin[i] not in "aouAOU" or before in "aeiouyq":
            continue
        after = lower[i + 1 : i + 3]
        if after[:1] == "e" and origin[i + 1] in "eE":
            rest = lower[i + 2 : i + 4]
            final_s = rest[:1] == "s" and not rest[1:].isalpha()
            if rest[:1].isalpha() and not final_s and not (char == "o" and rest[:1] in "iu"):
                sites.append((i + 1, "drop"))
        elif after[:1] in _CONSONANTS and _word_length(lower, i) >= 4:
            final_s = after[:1] == "s" and not after[1:].isalpha()
            if not final_s:
                sites.append((i, "add"))
    return sites


_CONSONANTS = frozenset("bcdfghjklmnpqrstvwxz")


def _word_length(text: str, i: int) -> int:
    start, end = i, i
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    while end < len(text) and text[end].isalpha():
        end += 1
    return end - start


def _respell(lower: str, cased: str, sites: list[tuple[int, str]]) -> tuple[str, str]:
    if not sites:
        return lower, cased
    out_lower, out_cased = list(lower), list(cased)
    for i, kind in sorted(sites, reverse=True):
        if kind == "drop":
            del out_lower[i], out_cased[i]
        else:
            shout = cased[i].isupper() and (i + 1 == len(cased) or cased[i + 1].isupper())
            out_lower.insert(i + 1, "e")
            out_cased.insert(i + 1, "E" if shout else "e")
    return "".join(out_lower), "".join(out_cased)


def _collapse_spaces(lower: str, cased: str, offsets: list[int]) -> tuple[str, str, list[int]]:
    keep_lower: list[str] = []
    keep_cased: list[str] = []
    keep_offsets: list[int] = []
    last = 0
    for run in _SPACE_RUNS.finditer(lower):
        cut = run.start() + 1
        keep_lower.append(lower[last:cut])
        keep_cased.append(cased[last:cut])
        keep_offsets.extend(offsets[last:cut])
        last = run.end()
    keep_lower.append(lower[last:])
    keep_cased.append(cased[last:])
    keep_offsets.extend(offsets[last:])
    return "".join(keep_lower), "".join(keep_cased), keep_offsets


def _learn(char: str) -> None:
    cased, lower = _fold_char(char)
    _LOWER[ord(char)] = lower
    _CASED[ord(char)] = cased
    _LENGTH[char] = len(lower)
    if len(lower) != 1:
        _UNEVEN.add(char)


def _fold_char(char: str) -> tuple[str, str]:
    """(cased, casefolded) forms of one character, of equal length."""
    if char in _PUNCTUATION:
        return _PUNCTUATION[char], _PUNCTUATION[char]
    if char.isspace():
        return " ", " "
    if unicodedata.category(char) in ("Cc", "Cf", "Cs"):
        return "", ""
    compatible = unicodedata.normalize("NFKC", char)
    if compatible != char:
        pieces = [_fold_char(c) for c in compatible]
        return "".join(p[0] for p in pieces), "".join(p[1] for p in pieces)
    cased = _LETTERS.get(char, char)
    if len(cased) == 1:
        decomposed = unicodedata.normalize("NFD", cased)
        bare = "".join(c for c in decomposed if not _is_diacritic(c))
        if bare != decomposed:
            cased = unicodedata.normalize("NFC", bare)
    lower = "".join(c for c in cased.casefold() if not _is_diacritic(c))
    if len(lower) != len(cased):
        cased = lower
    return cased, lower


def _is_diacritic(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _DIACRITICS)


for _code in range(0x250):
    _learn(chr(_code))
