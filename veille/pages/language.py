"""A small language guesser: writing system first, then common function words.

It knows the languages veille's feeds are mostly written in and answers None when unsure;
a page's own ``lang`` attribute is read elsewhere (:mod:`veille.pages.metadata`).
"""

from __future__ import annotations

import re
from collections import Counter

_WORDS = re.compile(r"[^\W\d_]+")
_SAMPLE_CHARS = 3000
_MIN_HITS = 8


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent words that are rare in the other listed languages.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and of to is that for with was this are have from has were which their they would been will "
        "not but what when who said about there"
    ),
    "fr": _words(
        "le la les des est une dans pour qui pas sur que sont avec mais par ses aux ont cette nous leur "
        "été comme tout elle plus"
    ),
    "de": _words(
        "der die und das ist nicht mit sich auf den dem des ein eine auch wird sind nach bei wie oder "
        "noch werden hat zum zur"
    ),
    "es": _words(
        "el los las del que por una con para como pero más está sus fue son este esta también ha muy "
        "entre hay cuando"
    ),
    "it": _words(
        "il di della che per sono non una gli nel alla anche del delle più come dei questo hanno stato "
        "essere degli sulla è ma si ci lo ha"
    ),
    "pt": _words(
        "não uma para com que dos das por mais como foi são está seu sua também pelo pela muito ser "
        "quando isso ele na no em os às ao"
    ),
    "id": _words(
        "yang dan di ini itu dengan untuk tidak dari dalam akan pada juga ada ke karena bisa atau oleh "
        "mereka kita sudah saya"
    ),
    "nl": _words(
        "het een van dat niet zijn voor met ook maar wordt naar bij door heeft deze nog worden hij werd "
        "zich er uit"
    ),
}
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _code, _stopwords in STOPWORDS.items():
    for _word in _stopwords:
        _LANGUAGES_OF[_word] = (*_LANGUAGES_OF.get(_word, ()), _code)

_SCRIPTS = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
)


def detect_language(text: str) -> str | None:
    """An ISO 639-1 code when the text clearly reads as one known language, else None."""
    sample = text[:_SAMPLE_CHARS]
    words = _WORDS.findall(sample.lower())
    if not words:
        return None
    if not sample.isascii():
        letters = sum(map(len, words))
        for code, script in _SCRIPTS:
            # Japanese mixes kana with Chinese characters: a little kana is enough to tell it apart.
            if len(script.findall(sample)) > letters * (0.1 if code == "ja" else 0.3):
                return code
    hits: Counter[str] = Counter()
    for word in words:
        languages = _LANGUAGES_OF.get(word)
        if languages:
            hits.update(languages)
    ranked = hits.most_common(2)
    if not ranked or ranked[0][1] < _MIN_HITS:
        return None
    if len(ranked) > 1 and ranked[0][1] < 1.5 * ranked[1][1]:
        return None
    return ranked[0][0]
