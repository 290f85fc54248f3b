"""Bytes to text for HTML pages.

The encoding is taken from, in order: the HTTP ``charset`` parameter, a byte order mark,
a ``<meta charset>`` or ``http-equiv`` declaration in the first 4 KB, charset-normalizer's
guess; failing all of them, UTF-8 with replacement characters. A declared name Python does
not know falls through to the next step. Labels are read the way browsers read them
(``iso-8859-1`` and ``ascii`` mean windows-1252, ``gb2312`` means gb18030).
"""

from __future__ import annotations

import codecs
import re
from email.message import Message

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Browser label semantics (WHATWG Encoding Standard) for the labels that differ from Python's.
_ALIASES = {
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "l1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "iso_8859-1": "cp1252", "windows-1252": "cp1252",
    "iso-8859-9": "cp1254", "latin5": "cp1254",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "windows-31j": "cp932",
    "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "tis-620": "cp874", "iso-8859-11": "cp874",
    "x-mac-roman": "mac-roman",
}
_META_SCAN = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.()+-]+)""", re.IGNORECASE)


_CP1252_GAPS = "veille-cp1252-gaps"


def _cp1252_gaps(error: UnicodeError) -> tuple[str, int]:
    """Browsers map the five bytes windows-1252 leaves undefined to the same code points."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_CP1252_GAPS, _cp1252_gaps)


def lookup_encoding(label: str | None) -> str | None:
    """Python's codec name for an encoding label, or None when the label names no known encoding."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def http_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header value, as written."""
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset if isinstance(charset, str) else None


def bom_encoding(content: bytes) -> str | None:
    for bom, name in _BOMS:
        if content.startswith(bom):
            return name
    return None


def meta_charset(content: bytes) -> str | None:
    """The encoding a ``<meta>`` tag in the first 4 KB declares (``charset=`` or ``http-equiv``)."""
    match = _META_CHARSET.search(content[:_META_SCAN])
    if not match:
        return None
    name = lookup_encoding(match.group(1).decode("ascii", "replace"))
    # A page whose <meta> could be read as ASCII is not UTF-16 or UTF-32, whatever it says.
    if name and name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return name


def detect_encoding(content: bytes) -> str | None:
    """A guess from the bytes alone: valid UTF-8 first (cheap and usual), then charset-normalizer."""
    try:
        content.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # imported on demand: most pages never get here

    sample = content if len(content) <= 64_000 else content[:32_000] + content[-32_000:]
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    # Ties are common on short Latin-script pages: break them toward the web's usual windows-1252.
    for match in matches:
        as_good = (match.chaos, -match.coherence) <= (best.chaos, -best.coherence)
        if as_good and "cp1252" in match.could_be_from_charset:
            return "cp1252"
    return lookup_encoding(best.encoding)


def _decode(content: bytes, encoding: str) -> str:
    if encoding == "utf-8":
        encoding = "utf-8-sig"  # a BOM is not text
    elif encoding.startswith(("utf-16", "utf-32")) and bom_encoding(content) == encoding:
        content = content[4 if encoding.startswith("utf-32") else 2 :]
    elif encoding == "cp1252":
        return content.decode("cp1252", errors=_CP1252_GAPS)
    return content.decode(encoding, errors="replace")


def decode_html(content: bytes, content_type: str | None = None) -> str:
    """The text of an HTML page, from its bytes and (optionally) its Content-Type header."""
    encoding = lookup_encoding(http_charset(content_type)) or bom_encoding(content)
    if encoding is None:
        encoding = meta_charset(content)
        if encoding in _SINGLE_BYTE_WESTERN and _is_utf8(content):
            # a template that says Latin-1 around UTF-8 bytes: "Hervé" would read "HervÃ©" and never match.
            # Bytes that decode as UTF-8 with multi-byte sequences are UTF-8 (the odds that real Latin-1 text
            # does are negligible); only the <meta> guess is overruled, never the server's header
            encoding = "utf-8"
    encoding = encoding or detect_encoding(content) or "utf-8"
    return _decode(content, encoding)


_SINGLE_BYTE_WESTERN = {"cp1252", "iso8859-15"}


def _is_utf8(content: bytes) -> bool:
    if content.isascii():
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
