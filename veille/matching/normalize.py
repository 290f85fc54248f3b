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
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import product

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

# Characters beyond ASCII that fold to themselves (same case, no accent, one character), as hex
# code points and ranges: generated from `_fold_char` over the BMP, every one checked by the tests.
_IDENTITY = """
00A1-00A7 00A9 00AC 00AE 00B0-00B1 00B6-00B7 00BF 00D7 00F7 0126-0127 0138 014A-014B 0166-0167
0180-019F 01A2-01AE 01B1-01C3 01DD 01E4-01E5 01F6-01F7 021C-021D 0220-0225 0234-02AF 02BA-02BB
02BD-02D7 02DE-02DF 02E5-02FF 0370-0373 0375-0379 037B-037D 037F-0383 038B 038D 0391-03A9 03B1-03C9
03CF 03D7-03EF 03F3 03F6-03F8 03FA-03FF 0402 0404-0406 0408-040B 040F-0418 041A-0438 043A-044F 0452
0454-0456 0458-045B 045F-0475 0478-04C0 04C3-04CF 04D4-04D5 04D8-04D9 04E0-04E1 04E8-04E9 04F6-04F7
04FA-0586 0588-05FF 0606-061B 061D-0674 0679-06DC 06DE-070E 0710-088F 0892-08E1 08E3-0957 0960-09DB
09DE 09E0-0A32 0A34-0A35 0A37-0A58 0A5C-0A5D 0A5F-0B5B 0B5E-0E32 0E34-0EB2 0EB4-0EDB 0EDE-0F0B
0F0D-0F42 0F44-0F4C 0F4E-0F51 0F53-0F56 0F58-0F5B 0F5D-0F68 0F6A-0F72 0F74 0F7A-0F80 0F82-0F92
0F94-0F9C 0F9E-0FA1 0FA3-0FA6 0FA8-0FAB 0FAD-0FB8 0FBA-10FB 10FD-167F 1681-180D 180F-1AAF 1B00-1D2B
1D2F 1D3B 1D4E 1D6B-1D77 1D79-1D9A 1E9C-1E9D 1E9F 1EFA-1EFF 1F16-1F17 1F1E-1F1F 1F46-1F47 1F4E-1F4F
1F58 1F5A 1F5C 1F5E 1F7E-1F7F 1FB5 1FC5 1FD4-1FD5 1FDC 1FF0-1FF1 1FF5 1FFF 2016 201A 2020-2023 2027
2030-2031 2035 2038 203B 203D 203F-2042 2044-2046 204A-2056 2058-205E 2065 2072-2073 208F 209D-20A7
20A9-20CF 2104 2108 2114 2117-2118 211E-2120 2122-2123 2125 2127 2129 212E 2132 213A 2141-2144
214A-214F 2180-2188 218A-2199 219C-21AD 21AF-21CC 21D0-2203 2205-2208 220A-220B 220D-2211 2213-2223
2225 2227-222B 222E 2231-2240 2242-2243 2245-2246 2248 224A-225F 2261 2263-226C 2272-2273 2276-2277
227A-227F 2282-2283 2286-2287 228A-22AB 22B0-22DF 22E4-22E9 22EE-2328 232B-245F 24EB-2A0B 2A0D-2A73
2A77-2ADB 2ADD-2C7B 2C7E-2D6E 2D70-2E9E 2EA0-2EF2 2EF4-2EFF 2FD6-2FFF 3001-3035 3037 303B-309A
309D-309E 30A0-30FE 3100-3130 318F-3191 31A0-31FF 321F 3248-324F 327F 3400-A69B A69E-A76F A771-A7F1
A7F5-A7F7 A7FA-AB5B AB60-AB68 AB6A-D7FF E000-F8FF FA0E-FA0F FA11 FA13-FA14 FA1F FA21 FA23-FA24
FA27-FA29 FA6E-FA6F FADA-FAFF FB07-FB12 FB18-FB1C FB1E FB37 FB3D FB3F FB42 FB45 FBB2-FBD2 FD3E-FD4F
FD90-FD91 FDC8-FDEF FDFD-FE0F FE1A-FE1F FE45-FE46 FE53 FE67 FE6C-FE6F FE73 FE75 FEFD-FEFE FF00
FFBF-FFC1 FFC8-FFC9 FFD0-FFD1 FFD8-FFD9 FFDD-FFDF FFE7 FFEF-FFF8 FFFC-FFFF
"""


def _identity_class() -> str:
    parts = [r"\x20-\x2c\x2e-\x5f\x61-\x7e"]  # printable ASCII but "-" and "`"
    for item in _IDENTITY.split():
        lo, _, hi = item.partition("-")
        parts.append(f"\\u{lo}-\\u{hi}" if hi else f"\\u{lo}")
    return "".join(parts)


# A character that may fold to something else than itself: the next one `_fold_cased` replaces.
_OTHER = re.compile(f"[^{_identity_class()}]")
_MAX_REPLACED = 48  # distinct characters replaced one by one; beyond, one str.translate pass


class _Table(dict[int, str]):
    """A str.translate table that learns the characters it has not seen yet."""

    def __missing__(self, code: int) -> str:
        _learn(chr(code))
        return self[code]


_LOWER = _Table()  # code point -> casefolded form
_CASED = _Table()  # code point -> cased form, of the same length
_UNEVEN: set[str] = set()  # characters that do not fold to exactly one character
_UNSAFE: set[str] = set()  # characters whose cased form does not casefold to their casefolded form
_SPACE_RUNS = re.compile("  +")  # faster than " {2,}": the regex engine looks for two spaces at once


class Folded:
    """A folded text: `text` is casefolded, `cased` is the same text before casefolding (same length,
    for case-sensitive terms). `offset(i)` is the index in `source` of the character `text[i]` came
    from; it is worked out on demand, since only hits need it."""

    __slots__ = ("_maps", "_spaced", "_uneven", "cased", "source", "text")

    def __init__(
        self, source: str, text: str, cased: str, *, uneven: Iterable[str] = (), spaced: str | None = None
    ) -> None:
        self.source = source
        self.text = text
        self.cased = cased
        self._uneven = tuple(uneven)  # characters of `source` that fold to zero or several characters
        self._spaced = spaced  # the folded text before its runs of spaces were collapsed, if it had any
        self._maps: _Maps | None = None

    @property
    def aligned(self) -> bool:
        """Whether every character of `text` came from the character of `source` at the same index."""
        return not self._uneven and self._spaced is None

    @property
    def offsets(self) -> list[int]:
        """`offset(i)` for every character of `text`."""
        return [self.offset(i) for i in range(len(self.text))]

    def offset(self, i: int) -> int:
        """The index in `source` of the character `text[i]` came from."""
        if self.aligned:
            return i
        maps = self._maps or self._build_maps()
        k = bisect_right(maps.collapsed_at, i) - 1
        i += maps.collapsed[k] if k >= 0 else 0
        k = bisect_right(maps.starts, i) - 1
        if k < 0:
            return i
        return maps.sources[k] if i < maps.ends[k] else i + maps.shifts[k]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of `source` that the folded span [start, end) came from."""
        first, last = self.offset(start), self.offset(end - 1)
        stop = self.offset(end) if end < len(self.text) else len(self.source)
        stop = max(stop, last + 1)
        # Take in the combining accents that folding dropped after the last character, but not the
        # soft hyphens or zero-width characters that follow it.
        while stop - 1 > last and not unicodedata.category(self.source[stop - 1]).startswith("M"):
            stop -= 1
        return first, stop

    def _build_maps(self) -> _Maps:
        maps = _Maps()
        if self._spaced is not None:
            removed = 0
            for run_start, run_end in map(re.Match.span, _SPACE_RUNS.finditer(self._spaced)):
                maps.collapsed_at.append(run_start - removed + 1)
                removed += run_end - run_start - 1
                maps.collapsed.append(removed)
        if self._uneven:
            moved = 0
            lengths = {char: len(_LOWER[ord(char)]) for char in self._uneven}
            for found in re.finditer("[" + re.escape("".join(sorted(self._uneven))) + "]", self.source):
                where, length = found.start(), lengths[found.group()]
                maps.starts.append(where + moved)
                maps.ends.append(where + moved + length)
                maps.sources.append(where)
                moved += length - 1
                maps.shifts.append(-moved)
        self._maps = maps
        return maps


@dataclass(slots=True)
class _Maps:
    """How folding moved the characters of one text. Collapsing runs of spaces: from folded index
    `collapsed_at[k]` on, `collapsed[k]` spaces were removed before. Characters that did not fold to
    one: the k-th of them, `source[sources[k]]`, became the characters [starts[k], ends[k]) of the
    uncollapsed folded text; after them, an index i of that text came from `i + shifts[k]`."""

    collapsed_at: list[int] = field(default_factory=list)
    collapsed: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    shifts: list[int] = field(default_factory=list)


def fold(text: str) -> Folded:
    """Fold `text` for matching, keeping the way back to the original characters."""
    cased, uneven, unsafe = _fold_cased(text)
    spaced = None
    if "  " in cased:  # the cased and casefolded forms have their spaces in the same places
        spaced = cased
        cased = _SPACE_RUNS.sub(" ", cased)
    if unsafe:
        lower = text.translate(_LOWER)
        lower = _SPACE_RUNS.sub(" ", lower) if spaced is not None else lower
    else:
        # Casefolding the cased form gives the casefolded form, character for character (the tests
        # check every character; `_UNSAFE` keeps any exception met at run time).
        lower = cased.casefold()
    return Folded(text, lower, cased, uneven=uneven, spaced=spaced)


def _fold_cased(text: str) -> tuple[str, list[str], bool]:
    """The cased form of `text`; the characters of `text` that did not fold to exactly one; whether
    one of its characters is in `_UNSAFE`."""
    if text.isascii():
        cased = text.translate(_CASED)  # CPython's fast path for ASCII
        if len(cased) == len(text):
            return cased, [], False
        return cased, [c for c in _ASCII_UNEVEN if c in text], False
    # A text holds few distinct characters that fold to something else (é, ’, «, a line break), and
    # replacing each of them everywhere is much faster than translating character by character.
    cased, start, unsafe = text, 0, False
    uneven: list[str] = []
    for _ in range(_MAX_REPLACED):
        found = _OTHER.search(cased, start)
        if found is None:
            return cased, uneven, unsafe
        char = found.group()
        folded = _CASED[ord(char)]
        unsafe = unsafe or char in _UNSAFE
        if folded == char:
            start = found.end()
            continue
        if len(folded) != 1:
            uneven.append(char)
        cased = cased.replace(char, folded)
        start = found.start() + len(folded)
    # Many distinct characters (a script without a range in `_IDENTITY`): one pass over the rest;
    # folding is idempotent, so what was already replaced stays as it is.
    cased = cased.translate(_CASED)
    chars = set(text)
    return cased, [c for c in chars if c in _UNEVEN], not _UNSAFE.isdisjoint(chars)


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
    if folded.aligned:
        origin: Sequence[str] = source[shift : shift + len(lower)]
    else:
        origin = [source[folded.offset(i)] for i in range(shift, shift + len(lower))]
    sites = _umlaut_sites(lower, origin)
    if not sites:
        return [(lower, cased)]
    if len(sites) <= 4:
        keys = dict.fromkeys(_respell_all(lower, cased, sites))
    else:  # too many to combine: each spelling change on its own
        keys = dict.fromkeys(_respell(lower, cased, chosen) for chosen in [[], *([s] for s in sites)])
    return list(keys)


def _umlaut_sites(lower: str, origin: Sequence[str]) -> list[tuple[int, str]]:
    """Where a spelling may change: (i, "add") inserts an e after lower[i], (i, "drop") removes it."""
    sites: list[tuple[int, str]] = []
    lengths: list[int] | None = None  # of the word around each letter, worked out when first needed
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
        elif after[:1] in _CONSONANTS and (lengths := lengths or _word_lengths(lower))[i] >= 4:
            final_s = after[:1] == "s" and not after[1:].isalpha()
            if not final_s:
                sites.append((i, "add"))
    return sites


_CONSONANTS = frozenset("bcdfghjklmnpqrstvwxz")


def _word_lengths(text: str) -> list[int]:
    """For each character of `text`, the length of the run of letters it is in (0 for the others)."""
    lengths = [0] * len(text)
    start = None
    for i, char in enumerate(text + " "):
        if char.isalpha() and i < len(text):
            if start is None:
                start = i
        elif start is not None:
            lengths[start:i] = [i - start] * (i - start)
            start = None
    return lengths


def _respell(lower: str, cased: str, sites: list[tuple[int, str]]) -> tuple[str, str]:
    out_lower, out_cased = list(lower), list(cased)
    for i, kind in sorted(sites, reverse=True):
        if kind == "drop":
            del out_lower[i], out_cased[i]
        else:
            out_lower.insert(i + 1, "e")
            out_cased.insert(i + 1, "E" if _shouted(cased, i) else "e")
    return "".join(out_lower), "".join(out_cased)


def _respell_all(lower: str, cased: str, sites: list[tuple[int, str]]) -> Iterator[tuple[str, str]]:
    """Every combination of the spelling changes: the text cut at the sites, each site a choice."""
    parts_lower: list[tuple[str, ...]] = []
    parts_cased: list[tuple[str, ...]] = []
    last = 0
    for i, kind in sorted(sites):
        if kind == "drop":
            parts_lower += [(lower[last:i],), (lower[i], "")]
            parts_cased += [(cased[last:i],), (cased[i], "")]
        else:
            parts_lower += [(lower[last : i + 1],), ("", "e")]
            parts_cased += [(cased[last : i + 1],), ("", "E" if _shouted(cased, i) else "e")]
        last = i + 1
    parts_lower.append((lower[last:],))
    parts_cased.append((cased[last:],))
    return zip(map("".join, product(*parts_lower)), map("".join, product(*parts_cased)), strict=True)


def _shouted(cased: str, i: int) -> bool:
    """Whether the letter at i is written in capitals, as is the rest of the word (SCHÖLKOPF)."""
    return cased[i].isupper() and (i + 1 == len(cased) or cased[i + 1].isupper())


def _learn(char: str) -> None:
    cased, lower = _fold_char(char)
    _LOWER[ord(char)] = lower
    _CASED[ord(char)] = cased
    if len(lower) != 1:
        _UNEVEN.add(char)
    if cased.casefold() != lower:
        _UNSAFE.add(char)


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
            cased = _LETTERS.get(cased, cased)  # Ǣ -> Æ -> AE
    lower = "".join(c for c in cased.casefold() if not _is_diacritic(c))
    if len(lower) != len(cased):
        cased = lower
    return cased, lower


def _is_diacritic(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _DIACRITICS)


for _code in range(0x250):
    _learn(chr(_code))
_ASCII_UNEVEN = tuple(c for c in map(chr, range(128)) if c in _UNEVEN)  # the control characters
