from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable

import brotli
import pytest

from tests.pages.conftest import Reply, Server, fixture_bytes
from veille.http import FetchError, TooLargeError, make_client
from veille.pages.fetch import FetchedPage, fetch_page, not_html_reason
from veille.settings import Settings

HTML = {"Content-Type": "text/html; charset=utf-8"}
MAX = 200_000


def fetch(url: str, max_bytes: int = MAX) -> FetchedPage:
    async def go() -> FetchedPage:
        async with make_client(Settings(allow_private_addresses=True)) as client:
            return await fetch_page(client, url, max_bytes=max_bytes)

    return asyncio.run(go())


def test_redirect_chain_keeps_the_final_url(server: Server) -> None:
    server.routes["/r1"] = Reply(status=302, headers={"Location": "/r2?utm_source=x"})
    server.routes["/r2?utm_source=x"] = Reply(status=301, headers={"Location": server.url("/article")})
    server.routes["/article"] = Reply(fixture_bytes("sidebar_lab.html"), headers=HTML)
    page = fetch(server.url("/r1"))
    assert page.url == server.url("/article")
    assert page.skipped is None and page.article is not None
    assert page.article.url == server.url("/article")
    assert page.article.text.startswith("The metropolitan council voted")
    assert server.paths == ["/r1", "/r2?utm_source=x", "/article"]


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"Content-Type": "application/pdf"}, b"%PDF-1.7\n", "content type application/pdf is not HTML"),
        ({"Content-Type": "application/octet-stream"}, b"%PDF-1.4\n", "content is a PDF document, not HTML"),
        ({"Content-Type": "image/png"}, b"\x89PNG\r\n", "content type image/png is not HTML"),
        ({"Content-Type": "application/json"}, b'{"a": 1}', "content type application/json is not HTML"),
    ],
)
def test_non_html_is_skipped_with_a_reason(
    server: Server, headers: dict[str, str], body: bytes, reason: str
) -> None:
    server.routes["/file"] = Reply(body, headers=headers)
    page = fetch(server.url("/file"))
    assert page == FetchedPage(url=server.url("/file"), article=None, skipped=reason)


def test_html_without_content_type_is_sniffed(server: Server) -> None:
    server.routes["/bare"] = Reply(fixture_bytes("sidebar_divs.html"), headers={})
    page = fetch(server.url("/bare"))
    assert page.article is not None and "Saône" in page.article.text


def test_empty_body_is_skipped(server: Server) -> None:
    server.routes["/empty"] = Reply(b"", headers=HTML)
    assert fetch(server.url("/empty")).skipped == "empty body (HTTP 200)"


def test_size_cap(server: Server) -> None:
    big = b"<html><body>" + b"<p>words words words</p>" * 20_000 + b"</body></html>"
    server.routes["/big"] = Reply(big, headers=HTML)
    with pytest.raises(TooLargeError):
        fetch(server.url("/big"), max_bytes=100_000)


def test_size_cap_counts_decompressed_bytes(server: Server) -> None:
    bomb = gzip.compress(b"<html><body><p>" + b" " * 2_000_000 + b"</p></body></html>")
    assert len(bomb) < 100_000
    server.routes["/bomb"] = Reply(bomb, headers={**HTML, "Content-Encoding": "gzip"})
    with pytest.raises(TooLargeError):
        fetch(server.url("/bomb"), max_bytes=100_000)


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("br", brotli.compress)])
def test_compressed_bodies_are_decoded(
    server: Server, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    body = compress(fixture_bytes("sidebar_lab.html"))
    server.routes["/z"] = Reply(body, headers={**HTML, "Content-Encoding": encoding})
    page = fetch(server.url("/z"))
    assert page.article is not None and "Part-Dieu station" in page.article.text


def test_charset_from_meta_when_http_gives_none(server: Server) -> None:
    server.routes["/fr"] = Reply(fixture_bytes("latin1_meta.html"), headers={"Content-Type": "text/html"})
    page = fetch(server.url("/fr"))
    assert page.article is not None and page.article.title == "Fête de la musique : le programme à Besançon"


def test_amp_page_is_replaced_by_its_canonical(server: Server) -> None:
    amp = fixture_bytes("amp_article.html").replace(
        b"https://rail.example.com/news/night-trains-alps", server.url("/article").encode()
    )
    server.routes["/amp/article"] = Reply(amp, headers=HTML)
    server.routes["/article"] = Reply(fixture_bytes("sidebar_lab.html"), headers=HTML)
    page = fetch(server.url("/amp/article"))
    assert page.url == server.url("/article")
    assert page.article is not None and page.article.text.startswith("The metropolitan council")
    assert server.paths == ["/amp/article", "/article"]


def test_amp_page_is_kept_when_its_canonical_fails(server: Server) -> None:
    amp = fixture_bytes("amp_article.html").replace(
        b"https://rail.example.com/news/night-trains-alps", server.url("/gone").encode()
    )
    server.routes["/amp/article"] = Reply(amp, headers=HTML)
    page = fetch(server.url("/amp/article"))
    assert page.url == server.url("/amp/article")
    assert page.article is not None and page.article.text.startswith("A night train")
    assert server.paths == ["/amp/article", "/gone"]  # fetched once, not retried


def test_http_errors_raise_fetch_error(server: Server) -> None:
    with pytest.raises(FetchError) as caught:
        fetch(server.url("/missing"))
    assert caught.value.status == 404 and not caught.value.transient


@pytest.mark.parametrize(
    ("content_type", "body", "html"),
    [
        ("text/html; charset=utf-8", b"", True),
        ("application/xhtml+xml", b"", True),
        ("TEXT/HTML", b"", True),
        (None, b"  <!DOCTYPE html><html>", True),
        (None, b"\xef\xbb\xbf<html><body>", True),
        ("text/plain", b"<html><body>", True),
        ("text/plain", b"just text", False),
        ("application/pdf", b"<html>", False),
    ],
)
def test_not_html_reason(content_type: str | None, body: bytes, html: bool) -> None:
    assert (not_html_reason(content_type, body) is None) is html
