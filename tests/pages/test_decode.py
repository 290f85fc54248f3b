from __future__ import annotations

import codecs

import pytest

from tests.pages.conftest import fixture_bytes
from veille.pages.decode import decode_html


def test_charset_only_in_meta_iso_8859_1() -> None:
    text = decode_html(fixture_bytes("latin1_meta.html"))
    assert "Fête de la musique : le programme à Besançon" in text
    assert "l’après-midi" in text  # byte 0x92: read as windows-1252, as browsers do


def test_meta_http_equiv_found_in_first_4_kb() -> None:
    page = b'<html><head><meta http-equiv="content-type" content="text/html;charset=ISO-8859-15">'
    assert decode_html(page + "<p>co\u00fbt 5 \u20ac</p>".encode("iso-8859-15")).endswith("<p>coût 5 €</p>")


def test_meta_after_4_kb_is_not_read() -> None:
    page = b"<html><!--" + b"x" * 5000 + b'--><meta charset="iso-8859-1"><p>caf\xc3\xa9</p>'
    assert decode_html(page).endswith("<p>café</p>")  # detection: valid UTF-8


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
def test_byte_order_mark(bom: bytes, codec: str) -> None:
    page = bom + "<p>Zoë à l’école</p>".encode(codec)
    assert decode_html(page) == "<p>Zoë à l’école</p>"


def test_bom_wins_over_meta() -> None:
    page = codecs.BOM_UTF8 + '<meta charset="windows-1252"><p>é</p>'.encode()
    assert decode_html(page) == '<meta charset="windows-1252"><p>é</p>'


def test_http_charset_wins_over_meta() -> None:
    # The spec order: the HTTP charset parameter first, even when the page says otherwise.
    page = '<meta charset="utf-8"><p>café</p>'.encode("cp1252")
    assert decode_html(page, "text/html; charset=ISO-8859-1") == '<meta charset="utf-8"><p>café</p>'
    wrong = '<meta charset="iso-8859-1"><p>café</p>'.encode()
    assert decode_html(wrong, 'text/html; charset="utf-8"') == '<meta charset="iso-8859-1"><p>café</p>'


def test_wrong_http_charset_is_not_second_guessed() -> None:
    page = "<p>café</p>".encode()
    assert decode_html(page, "text/html; charset=iso-8859-1") == "<p>cafÃ©</p>"


def test_unknown_charset_names_fall_through() -> None:
    page = '<meta charset="x-no-such-thing"><p>Düsseldorf</p>'.encode("cp1252")
    assert "Düsseldorf" in decode_html(page, "text/html; charset=bogus")


def test_utf16_meta_means_utf8() -> None:
    assert decode_html('<meta charset="utf-16"><p>é</p>'.encode()) == '<meta charset="utf-16"><p>é</p>'


def test_detection_without_any_declaration() -> None:
    text = "<p>Voilà un texte français assez long pour la détection, évidemment écrit à la main.</p>"
    assert decode_html(text.encode("cp1252")) == text
    assert decode_html(text.encode("utf-8")) == text


def test_undecodable_bytes_never_raise() -> None:
    assert isinstance(decode_html(b"\xff\xfe\xfa" * 10, "text/html; charset=utf-8"), str)
    assert decode_html(b"") == ""


def test_utf8_bytes_under_a_latin1_meta_are_read_as_utf8() -> None:
    """A template declaring ISO-8859-1 around UTF-8 text: the accents must survive, or names never match."""
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Hervé Jégou, d’Iliad</p></body></html>'
    assert "Hervé Jégou, d’Iliad" in decode_html(page.encode("utf-8"))
    # real Latin-1 bytes under the same declaration still decode as Latin-1 (windows-1252)
    assert "Hervé Jégou, d’Iliad" in decode_html(page.encode("cp1252"))
    # the server's header is never overruled
    assert "HervÃ©" in decode_html(page.encode("utf-8"), "text/html; charset=iso-8859-1")
