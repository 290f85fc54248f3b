from __future__ import annotations

import pytest

from veille.pages.urls import normalize_url, url_key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # tracking parameters go, the others stay in their order
        ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?b=2&UTM_Campaign=x&a=1", "https://example.com/a?b=2&a=1"),
        ("https://example.com/a?fbclid=IwAR0abc", "https://example.com/a"),
        ("https://example.com/a?gclid=1&dclid=2&msclkid=3&yclid=4", "https://example.com/a"),
        ("https://example.com/a?mc_cid=1&mc_eid=2&page=3", "https://example.com/a?page=3"),
        ("https://example.com/a?ref=twitter&ref_src=twsrc", "https://example.com/a"),
        ("https://example.com/a?igshid=abc&_hsenc=p2&_hsmi=99", "https://example.com/a"),
        ("https://example.com/a?spm=a2c4&cmpid=nl&xtor=RSS-3&at_medium=custom", "https://example.com/a"),
        ("https://example.com/a?refresh=1&reference=2", "https://example.com/a?refresh=1&reference=2"),
        ("https://example.com/a?q=%26x&utm_term=", "https://example.com/a?q=%26x"),
        # scheme, host, port, fragment, trailing '?'
        ("HTTPS://Example.COM:443/Path#section", "https://example.com/Path"),
        ("http://example.com:80/", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        # percent-encoding: unreserved decoded, others upper-case, raw characters encoded
        ("https://example.com/%7euser/%2fx", "https://example.com/~user/%2Fx"),
        ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
        ("https://example.com/café au lait", "https://example.com/caf%C3%A9%20au%20lait"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        # internationalized host names become IDNA
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_normalize_url_resolves_against_base() -> None:
    assert normalize_url("../c?utm_source=x&d=1", base="https://example.com/a/b/") == "https://example.com/a/c?d=1"
    assert normalize_url("//cdn.example.com/x", base="https://example.com/") == "https://cdn.example.com/x"


@pytest.mark.parametrize("url", ["mailto:a@example.com", "/relative/path", "ftp://example.com/file", ""])
def test_normalize_url_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(url)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://www.example.com/story/", "https://example.com/story"),
        ("https://example.com/story?utm_source=x", "https://EXAMPLE.com/story#comments"),
        ("https://www.example.com/", "http://example.com"),
        ("https://example.com/a/?id=3", "https://example.com/a?id=3"),
    ],
)
def test_url_key_folds_variants(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/a?id=3", "https://example.com/a?id=4"),
        ("https://example.com/a", "https://example.com/b"),
        ("https://news.example.com/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com/a"),
    ],
)
def test_url_key_keeps_different_pages_apart(a: str, b: str) -> None:
    assert url_key(a) != url_key(b)


def test_url_key_shape() -> None:
    assert url_key("https://www.example.com/a/b/?x=1&fbclid=2") == "example.com/a/b?x=1"
