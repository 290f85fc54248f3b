"""The languages a search can ask for, as two-letter ISO 639-1 codes (``en``, ``fr``), and what each provider
calls them: GDELT's ``sourcelang:`` names, Google News' edition (``hl``, ``gl``, ``ceid``)."""

from __future__ import annotations

from collections.abc import Iterable

# the languages GDELT DOC 2.0 searches (``sourcelang:french``), by ISO 639-1 code
GDELT_NAMES: dict[str, str] = {
    "af": "afrikaans", "ar": "arabic", "az": "azerbaijani", "be": "belarusian", "bg": "bulgarian", "bn": "bengali",
    "bs": "bosnian", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "et": "estonian", "eu": "basque", "fa": "persian", "fi": "finnish",
    "fr": "french", "gl": "galician", "gu": "gujarati", "he": "hebrew", "hi": "hindi", "hr": "croatian",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "is": "icelandic", "it": "italian", "ja": "japanese",
    "ka": "georgian", "kk": "kazakh", "kn": "kannada", "ko": "korean", "lt": "lithuanian", "lv": "latvian",
    "mk": "macedonian", "ml": "malayalam", "mn": "mongolian", "mr": "marathi", "ms": "malay", "ne": "nepali",
    "nl": "dutch", "no": "norwegian", "pa": "punjabi", "pl": "polish", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "si": "sinhalese", "sk": "slovak", "sl": "slovenian", "so": "somali", "sq": "albanian",
    "sr": "serbian", "sv": "swedish", "sw": "swahili", "ta": "tamil", "te": "telugu", "th": "thai",
    "tl": "tagalog", "tr": "turkish", "uk": "ukrainian", "ur": "urdu", "vi": "vietnamese", "zh": "chinese",
}

# Google News editions (hl, gl, ceid) where the plain rule (hl=fr, gl=FR, ceid=FR:fr) is not the one Google uses
GOOGLE_EDITIONS: dict[str, tuple[str, str, str]] = {
    "en": ("en-US", "US", "US:en"),
    "pt": ("pt-BR", "BR", "BR:pt-419"),
    "zh": ("zh-CN", "CN", "CN:zh-Hans"),
    "ja": ("ja", "JP", "JP:ja"),
    "ko": ("ko", "KR", "KR:ko"),
    "sv": ("sv", "SE", "SE:sv"),
    "uk": ("uk", "UA", "UA:uk"),
    "ar": ("ar", "EG", "EG:ar"),
    "hi": ("hi", "IN", "IN:hi"),
    "he": ("he", "IL", "IL:he"),
    "cs": ("cs", "CZ", "CZ:cs"),
    "da": ("da", "DK", "DK:da"),
    "el": ("el", "GR", "GR:el"),
    "fa": ("fa", "IR", "IR:fa"),
    "vi": ("vi", "VN", "VN:vi"),
    "ms": ("ms", "MY", "MY:ms"),
    "sr": ("sr", "RS", "RS:sr"),
    "sl": ("sl", "SI", "SI:sl"),
    "et": ("et", "EE", "EE:et"),
    "ur": ("ur", "PK", "PK:ur"),
    "ta": ("ta", "IN", "IN:ta"),
    "te": ("te", "IN", "IN:te"),
    "bn": ("bn", "BD", "BD:bn"),
    "ca": ("ca", "ES", "ES:ca"),
}

LANGUAGES = frozenset(GDELT_NAMES)


def check_languages(codes: Iterable[str], *, setting: str = "--lang") -> list[str]:
    """The codes, lower-cased, stripped, each once, in the order given; ValueError naming ``setting`` for a code
    veille does not know."""
    found = [c.strip().lower() for c in codes if c.strip()]
    unknown = [c for c in found if c not in LANGUAGES]
    if unknown:
        raise ValueError(f"{setting}: unknown language {', '.join(map(repr, unknown))}: use two-letter ISO 639-1 "
                         f"codes such as en, fr, de, es")
    return list(dict.fromkeys(found))


def google_edition(code: str) -> tuple[str, str, str]:
    """Google News' (hl, gl, ceid) for a language: ("fr", "FR", "FR:fr")."""
    if code in GOOGLE_EDITIONS:
        return GOOGLE_EDITIONS[code]
    return code, code.upper(), f"{code.upper()}:{code}"
