from __future__ import annotations

import pytest

from veille.matching.normalize import fold, fold_term, spellings


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
