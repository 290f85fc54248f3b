"""The address guard (SSRF): what a stranger's feed or page URL may make veille connect to.

Real loopback servers on 127.0.0.1 and 127.0.0.2 (both loopback on Linux) stand for "the inside": a
refused URL is one whose server never sees a request, while the same URL with the guard opened reaches it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss, veille
from veille import http, pipeline
from veille.settings import Settings
from veille.storage.db import Database
from veille.storage.models import Article, Feed, utcnow


class Server:
    """A real HTTP server on ``host`` (any loopback address) answering every GET with ``answer(path)``."""

    def __init__(self, host: str, port: int = 0,
                 answer: Callable[[str], tuple[int, dict[str, str], bytes]] | None = None) -> None:
        self.paths: list[str] = []
        self.answer = answer or (lambda path: (200, {"Content-Type": "application/rss+xml"}, FEED))
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.paths.append(self.path)
                status, headers, body = server.answer(self.path)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


FEED = rss([{"title": "Inside", "link": "https://example.org/inside", "guid": "inside-1"}])


def redirect_to(target: str) -> Callable[[str], tuple[int, dict[str, str], bytes]]:
    return lambda path: (302, {"Location": target}, b"")


@pytest.fixture
def inside() -> Iterator[Server]:
    """The server a redirect must not reach: 127.0.0.2."""
    server = Server("127.0.0.2")
    yield server
    server.close()


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def fetch(url: str, config: Settings) -> http.Response:
    async def go() -> http.Response:
        async with http.make_client(config) as client:
            return await http.fetch(client, url, max_bytes=1_000_000)

    return asyncio.run(go())


# --------------------------------------------------------------------------- the guard's table

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.0.0.2", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("100.64.0.1", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "private"),  # "this network": 0.x reaches the host itself on Linux
    ("255.255.255.255", "private"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fc00::1", "private"),  # IPv6 unique local addresses (ULA)
    ("fd12:3456:789a::1", "private"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::a9fe:a9fe", "link-local (IPv4 169.254.169.254 inside IPv6)"),  # NAT64
    ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 inside IPv6)"),  # 6to4
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4007:80f::200e", "::ffff:93.184.216.34"]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_guard_refuses_non_public_addresses(address: str, kind: str) -> None:
    reason = http.AddressGuard().refusal(address)
    assert reason is not None and reason.startswith(f"address guard: {address} is a {kind}")
    assert "VEILLE_ALLOW_PRIVATE_ADDRESSES=1" in reason
    assert http.AddressGuard(allow_private=True).refusal(address) is None


@pytest.mark.parametrize("address", ALLOWED)
def test_guard_lets_public_addresses_through(address: str) -> None:
    assert http.AddressGuard().refusal(address) is None


def test_allowed_networks_open_only_their_own_addresses() -> None:
    guard = http.AddressGuard.from_settings(settings(allowed_networks="10.0.0.0/8, 127.0.0.1/32, fd00::/8"))
    assert guard.refusal("10.200.1.1") is None
    assert guard.refusal("127.0.0.1") is None
    assert guard.refusal("::ffff:127.0.0.1") is None  # the same address, IPv4-mapped
    assert guard.refusal("fd00::5") is None
    assert guard.refusal("127.0.0.2") is not None
    assert guard.refusal("192.168.0.1") is not None
    assert guard.refusal("169.254.169.254") is not None


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed", "gopher://127.0.0.1:70/x",
                                 "javascript:alert(1)", "data:text/xml,<rss/>", "dict://127.0.0.1:11211/",
                                 "//example.org/feed", "feed.xml"])
def test_schemes_other_than_http_and_https_are_refused(url: str) -> None:
    with pytest.raises(http.BlockedAddressError, match="only http and https"):
        asyncio.run(http.check_url(url, http.AddressGuard(allow_private=True)))
    with pytest.raises(http.BlockedAddressError):
        fetch(url, settings(allow_private_addresses=True))


# --------------------------------------------------------------------------- real connections


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "0177.0.0.1",
                                      "[::ffff:127.0.0.1]", "[::1]"])
def test_every_spelling_of_loopback_is_refused_before_connecting(web: HTTPFixture, spelling: str) -> None:
    web.routes["/feed.xml"] = Route(FEED, "application/rss+xml")
    url = f"http://{spelling}:{web.port}/feed.xml"
    with pytest.raises(http.BlockedAddressError, match="address guard"):
        asyncio.run(http.check_url(url, http.AddressGuard()))  # `veille feeds add`: refused at once
    if spelling == "0177.0.0.1":  # octal: the resolver says 127.0.0.1, httpx refuses to parse it at all
        with pytest.raises(http.FetchError, match="invalid URL"):
            fetch(url, settings(allow_private_addresses=True))
        assert web.requests == []
        return
    with pytest.raises(http.BlockedAddressError, match="address guard"):
        fetch(url, settings())
    assert web.requests == []
    if spelling != "[::1]":  # the server listens on IPv4 only
        assert fetch(url, settings(allow_private_addresses=True)).status == 200  # the guard, not the network
        assert len(web.requests) == 1


def test_redirect_hop_to_a_refused_address_is_refused(web: HTTPFixture, inside: Server) -> None:
    web.routes["/feed.xml"] = Route(b"", status=302, headers={"Location": inside.url("/secret")})
    only_first = settings(allowed_networks="127.0.0.1/32")
    with pytest.raises(http.BlockedAddressError, match=r"address guard: 127\.0\.0\.2 is a loopback address"):
        fetch(web.url("/feed.xml"), only_first)
    assert len(web.hits("/feed.xml")) == 1  # the first hop was allowed and made
    assert inside.paths == []  # the second never connected
    # control: with both addresses allowed the same redirect reaches 127.0.0.2
    assert fetch(web.url("/feed.xml"), settings(allowed_networks="127.0.0.0/8")).content == FEED
    assert inside.paths == ["/secret"]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/"])
def test_redirect_to_another_scheme_is_refused(web: HTTPFixture, target: str) -> None:
    web.routes["/feed.xml"] = Route(b"", status=301, headers={"Location": target})
    with pytest.raises(http.BlockedAddressError):
        fetch(web.url("/feed.xml"), settings(allow_private_addresses=True))


def test_dns_rebinding_connects_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend resolves once and connects to the address it checked: a resolver that answers something
    else the second time (a rebinding attack) is never asked again for the same connection."""
    checked = Server("127.0.0.1", answer=lambda path: (200, {"Content-Type": "text/plain"}, b"checked"))
    other = Server("127.0.0.2", port=checked.port, answer=lambda path: (200, {}, b"rebound"))
    answers: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["127.0.0.2"]

    monkeypatch.setattr(http, "resolve", rebinding)
    try:
        response = fetch(f"http://rebind.test:{checked.port}/", settings(allowed_networks="127.0.0.1/32"))
        assert response.content == b"checked"
        assert answers == ["rebind.test"]
        assert checked.paths == ["/"] and other.paths == []
    finally:
        checked.close()
        other.close()


def test_dns_rebinding_between_feeds_add_and_the_fetch_is_refused(
    monkeypatch: pytest.MonkeyPatch, inside: Server
) -> None:
    """`feeds add` checks the first DNS answer; the fetcher resolves and checks again, and refuses the second."""
    answers: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        answers.append(host)
        return ["93.184.216.34"] if len(answers) == 1 else ["127.0.0.2"]

    monkeypatch.setattr(http, "resolve", rebinding)
    url = f"http://rebind.test:{inside.port}/feed.xml"
    asyncio.run(http.check_url(url, http.AddressGuard()))  # public on the first answer
    with pytest.raises(http.BlockedAddressError, match=r"127\.0\.0\.2 is a loopback"):
        fetch(url, settings())
    assert inside.paths == [] and len(answers) == 2


# --------------------------------------------------------------------------- through the product


@pytest.mark.usefixtures("veille_env")
@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fd00::1]/feed",
                                 "http://100.64.1.1/rss", "http://0x7f000001/feed", "http://[::ffff:10.0.0.1]/rss",
                                 "http://0.0.0.0:8080/feed"])
def test_feeds_add_refuses_at_once(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("VEILLE_ALLOW_PRIVATE_ADDRESSES", "0")
    result = veille("feeds", "add", url)
    assert result.exit_code == 1
    assert "refused" in result.stderr and "address guard" in result.stderr
    assert veille("feeds", "list", "--json").json() == []


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[pipeline.Context]:
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    db = Database(url)
    db.upgrade()
    yield pipeline.Context(settings=settings(database_url=url, allowed_networks="127.0.0.1/32"), db=db)
    db.dispose()


def test_poll_records_a_refused_redirect_as_the_feed_error(
    ctx: pipeline.Context, web: HTTPFixture, inside: Server
) -> None:
    web.routes["/feed.xml"] = Route(b"", status=302, headers={"Location": inside.url("/feed.xml")})
    feed_id = ctx.db.run(lambda s: _add_feed(s, web.url("/feed.xml")))
    [result] = pipeline.poll_feeds(ctx, [feed_id])
    assert result.status == "error" and "address guard: 127.0.0.2 is a loopback address" in (result.error or "")
    feed = ctx.db.run(lambda s: s.get_one(Feed, feed_id))
    assert feed.last_status == "error" and feed.last_error == result.error and feed.failures == 1
    assert inside.paths == []


def test_page_redirect_to_an_inside_address_is_refused_and_the_feed_text_used(
    ctx: pipeline.Context, web: HTTPFixture, inside: Server
) -> None:
    web.routes["/feed.xml"] = Route(
        rss([{"title": "Kyutai", "link": web.url("/article"), "guid": "a1",
              "description": "Kyutai publie un modèle."}]), "application/rss+xml")
    web.routes["/article"] = Route(b"", status=302, headers={"Location": inside.url("/admin")})
    feed_id = ctx.db.run(lambda s: _add_feed(s, web.url("/feed.xml")))
    [result] = pipeline.poll_feeds(ctx, [feed_id])
    assert result.new_articles
    assert pipeline.fetch_pages(ctx, list(result.new_articles)) == list(result.new_articles)
    article = ctx.db.run(lambda s: s.scalars(select(Article)).one())
    assert article.error is not None and "address guard" in article.error
    assert article.state == "fetched" and article.text == "Kyutai publie un modèle."
    assert inside.paths == []


def test_channel_urls_are_the_operators_and_not_guarded(web: HTTPFixture) -> None:
    from veille.alerts import make_transport

    web.routes["/slack"] = Route(b"ok", "text/plain")
    make_transport("slack", web.url("/slack"), {}, settings()).send_text("subject", "body")
    assert len(web.hits("/slack", "POST")) == 1


def _add_feed(s: Any, url: str) -> int:
    feed = Feed(url=url, interval=900.0, next_poll_at=utcnow() - timedelta(seconds=1))
    s.add(feed)
    s.flush()
    return int(feed.id)


# --------------------------------------------------------------------------- docs/reliability.md stays true

REPO = Path(__file__).resolve().parents[1]
RELIABILITY_TESTS = ("test_security.py", "test_limits.py", "test_hostile_feeds.py", "test_health.py",
                     "test_migrations.py", "test_backup.py", "test_faults.py")


def test_reliability_table_names_real_tests() -> None:
    import re

    table = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", table)
    assert len(named) > 60
    missing = [f"{path}::{name}" for path, name in named
               if not (REPO / path).exists() or f"def {name}(" not in (REPO / path).read_text(encoding="utf-8")]
    assert missing == [], f"docs/reliability.md names tests that do not exist: {missing}"
    listed = {name for _, name in named}
    unlisted = [f"{file}::{name}" for file in RELIABILITY_TESTS
                for name in re.findall(r"^def (test_\w+)\(", (REPO / "tests" / file).read_text(encoding="utf-8"), re.M)
                if name not in listed and name != "test_reliability_table_names_real_tests"]
    assert unlisted == [], f"add these tests to the table in docs/reliability.md: {unlisted}"
