from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.matching.normalize import _IDENTITY, _MAX_REPLACED, _fold_char, fold, fold_term, spellings


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Hervé Jégou", "herve jegou"),
        ("HERVÉ JÉGOU", "herve jegou"),
        ("Bernhard Schölkopf", "bernhard scholkopf"),
        ("Œuvre, cœur, æther", "oeuvre, coeur, aether"),
        ("Straße", "strasse"),
        ("ﬁnance", "finance"),  # NFKC
        ("ＯｐｅｎＡＩ", "openai"),  # fullwidth
        ("Scale\u00adway", "scaleway"),  # soft hyphen
        ("Open\u200bAI", "openai"),
        ("Open\u200cAI", "openai"),
        ("Open\u200dAI", "openai"),
        ("Open\u2060AI", "openai"),
        ("\ufeffOpenAI", "openai"),
        ("He\u0301rve\u0301", "herve"),  # decomposed accents
        ("Mistral\u00a0AI", "mistral ai"),  # NBSP
        ("Mistral\u202fAI", "mistral ai"),  # narrow NBSP
        ("Mistral\u2009AI", "mistral ai"),  # thin space
        ("Mistral\u3000AI", "mistral ai"),  # ideographic space
        ("Mistral \n\t  AI", "mistral ai"),  # runs collapse
        ("l’IA", "l'ia"),
        ("l‘IA", "l'ia"),
        ("lʼIA", "l'ia"),
        ("l´IA", "l'ia"),
        ("«\u00a0ouvert\u00a0»", '" ouvert "'),
        ("“open”", '"open"'),
        ("Kyutai-backed", "kyutai backed"),
        ("Kyutai\u2010backed", "kyutai backed"),
        ("Kyutai\u2011backed", "kyutai backed"),
        ("Kyutai\u2012backed", "kyutai backed"),
        ("Kyutai\u2013backed", "kyutai backed"),
        ("Kyutai\u2014backed", "kyutai backed"),
        ("Kyutai\u2015backed", "kyutai backed"),
        ("ЯНДЕКС", "яндекс"),
        ("Ёлка", "елка"),
        ("ΟΔΥΣΣΈΑΣ", "οδυσσεασ"),
        ("Οδυσσέας", "οδυσσεασ"),
        ("深度求索", "深度求索"),
        ("ソフトバンク", "ソフトバンク"),  # the dakuten stays: ト and ド differ
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text).text == folded


@pytest.mark.parametrize(
    ("text", "folded_span", "original"),
    [
        ("Selon Hervé Jégou, oui", "herve jegou", "Hervé Jégou"),
        ("Selon He\u0301rve\u0301 Jegou, oui", "herve jegou", "He\u0301rve\u0301 Jegou"),
        ("Le groupe Scale\u00adway.", "scaleway", "Scale\u00adway"),
        ("Die Straße hier", "strasse", "Straße"),
        ("Mistral\u00a0\u00a0AI lève", "mistral ai", "Mistral\u00a0\u00a0AI"),
        ("fin\u200b", "fin", "fin"),
    ],
)
def test_span_maps_back_to_original(text: str, folded_span: str, original: str) -> None:
    folded = fold(text)
    start = folded.text.index(folded_span)
    lo, hi = folded.span(start, start + len(folded_span))
    assert text[lo:hi] == original


def test_cased_text_keeps_case_and_aligns() -> None:
    folded = fold("Hervé Jégou, ŒUVRE et Straße")
    assert folded.cased == "Herve Jegou, OEUVRE et Strasse"
    assert len(folded.cased) == len(folded.text) == len(folded.offsets)


@pytest.mark.parametrize(("term", "folded"), [("  Hervé Jégou ", "herve jegou"), ("Jean-Paul", "jean paul")])
def test_fold_term(term: str, folded: str) -> None:
    assert fold_term(term) == folded


@pytest.mark.parametrize(
    "group",
    [
        ("Schölkopf", "Schoelkopf", "Scholkopf"),
        ("Müller", "Mueller", "Muller"),
        ("Jäger", "Jaeger", "Jager"),
        ("Göttingen", "Goettingen", "Gottingen"),
    ],
)
def test_umlaut_spellings_find_each_other(group: tuple[str, ...]) -> None:
    for term in group:
        keys = {lower for lower, _ in spellings(term)}
        assert {fold(other).text for other in group} <= keys


@pytest.mark.parametrize(
    ("term", "not_found"),
    [
        ("Citroën", "citron"),  # a diaeresis is not an umlaut
        ("Moët", "mot"),
        ("jouer", "jour"),
        ("question", "qustion"),
        ("DOS", "does"),
        ("vues", "vus"),
        ("cœur", "cour"),
        ("Boeing", "boing"),
    ],
)
def test_umlaut_spellings_leave_ordinary_words_alone(term: str, not_found: str) -> None:
    assert not_found not in {lower for lower, _ in spellings(term)}


def _reference_fold(text: str) -> tuple[str, str, list[int]]:
    """Folding one character at a time, the plain way: what `fold` must give, however it gets there."""
    lower: list[str] = []
    cased: list[str] = []
    offsets: list[int] = []
    for i, char in enumerate(text):
        char_cased, char_lower = _fold_char(char)
        lower.append(char_lower)
        cased.append(char_cased)
        offsets.extend([i] * len(char_lower))
    folded, folded_cased = "".join(lower), "".join(cased)
    keep = [j for j, c in enumerate(folded) if not (c == " " and j and folded[j - 1] == " ")]
    return "".join(folded[j] for j in keep), "".join(folded_cased[j] for j in keep), [offsets[j] for j in keep]


_TRICKY = "aéÉeœŒßẞǢ\u00ad\u200b\u0301’«»“”-–—\n\t  \u00a0\u202f\x00\x07…ﬁ½ΣςСЙй深ｶİı™Ǆ_1 .,"


@given(st.text(alphabet=st.sampled_from(_TRICKY) | st.characters(), max_size=60))
def test_fold_is_the_plain_per_character_fold(text: str) -> None:
    folded = fold(text)
    assert (folded.text, folded.cased, folded.offsets) == _reference_fold(text)


def test_fold_of_a_text_with_many_distinct_characters_takes_the_other_path() -> None:
    text = "".join(chr(c) for c in range(0x1E00, 0x1E00 + 3 * _MAX_REPLACED)) + " Ǣ œ ﬁ\u00ad x  y"
    folded = fold(text)
    assert (folded.text, folded.cased, folded.offsets) == _reference_fold(text)


def test_identity_ranges_fold_to_themselves() -> None:
    """Every character `fold` leaves alone without looking at it must indeed fold to itself, and
    every character's cased form must casefold to its folded form (`fold` relies on both)."""
    identity: set[int] = set()
    for item in _IDENTITY.split():
        lo, _, hi = item.partition("-")
        identity.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        cased, lower = _fold_char(char)
        assert cased.casefold() == lower, hex(code)
        assert all(_fold_char(c) == (c, c.casefold()) for c in cased), f"{hex(code)} does not fold once for all"
        if code in identity:
            assert (cased, lower) == (char, char.casefold()), hex(code)


def test_ligature_with_a_macron_folds_like_the_ligature() -> None:
    assert fold("Ǣ ǽ").text == "ae ae"
