"""Limits and politeness: every hostile or broken answer ends in a clear recorded error, and veille is a
polite client (per-host concurrency, Retry-After, a User-Agent that says who to contact).

Real servers on loopback: the HTTP fixture, and raw sockets for the answers no HTTP server library
gives (one byte a second, nothing at all, an endless body, a full accept queue).
"""

from __future__ import annotations

import asyncio
import gzip
import random
import select
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import brotli
import pytest
from sqlalchemy import select as sql_select

from tests.conftest import HTTPFixture, Request, Route
from tests.helpers import rss, veille
from veille import __version__, http, pipeline
from veille.feeds.parse import MAX_ENTRIES, MAX_ENTRY_CHARS
from veille.settings import Settings
from veille.storage.db import Database
from veille.storage.models import Article, Feed, utcnow

FEED = rss([{"title": "Kyutai", "link": "https://example.org/a", "guid": "a"}])


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, allow_private_addresses=True, **values)  # type: ignore[call-arg]


def fetch(url: str, config: Settings | None = None, **kwargs: Any) -> http.Response:
    async def go() -> http.Response:
        async with http.make_client(config or settings()) as client:
            return await http.fetch(client, url, **{"max_bytes": 1_000_000, **kwargs})

    return asyncio.run(go())


class RawServer:
    """A TCP server on 127.0.0.1 running ``handle(connection)`` in a thread per connection."""

    def __init__(self, handle: Callable[[socket.socket], None], *, backlog: int = 16, accept: bool = True) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.stopped = threading.Event()
        self.connections = 0
        if accept:
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: socket.socket) -> None:
        with connection:
            try:
                read_request(connection)
                self.handle(connection)
            except OSError:
                pass

    def url(self, path: str = "/feed.xml") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


def read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def raw() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handle: Callable[[socket.socket], None], **kwargs: Any) -> RawServer:
        servers.append(RawServer(handle, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Callable[..., pipeline.Context]]:
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    db = Database(url)
    db.upgrade()
    http.HOST_WAITS.clear()
    yield lambda **values: pipeline.Context(settings=settings(database_url=url, **values), db=db)
    http.HOST_WAITS.clear()
    db.dispose()


def add_feeds(context: pipeline.Context, *urls: str) -> list[int]:
    def work(s: Any) -> list[int]:
        feeds = [Feed(url=url, interval=900.0, next_poll_at=utcnow() - timedelta(seconds=1)) for url in urls]
        s.add_all(feeds)
        s.flush()
        return [int(f.id) for f in feeds]

    return context.db.run(work)


def feed_row(context: pipeline.Context, feed_id: int) -> Feed:
    return context.db.run(lambda s: s.get_one(Feed, feed_id))


# --------------------------------------------------------------------------- body size


def test_declared_body_over_the_cap_is_refused_before_reading(web: HTTPFixture) -> None:
    web.routes["/big.xml"] = Route(b"x" * 200_000, "application/rss+xml")
    with pytest.raises(http.TooLargeError, match="body of 200000 bytes is over the 100000-byte cap"):
        fetch(web.url("/big.xml"), max_bytes=100_000)


def test_endless_body_is_cut_at_the_cap_while_streaming(raw: Callable[..., RawServer]) -> None:
    sent = [0]

    def endless(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"<item>" + b"x" * 8186 + b"</item>"
        while sent[0] < 1_000_000_000:
            connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent[0] += len(chunk)

    server = raw(endless)
    started = time.monotonic()
    with pytest.raises(http.TooLargeError, match="body is over the 1000000-byte cap"):
        fetch(server.url(), max_bytes=1_000_000)
    assert time.monotonic() - started < 10
    assert sent[0] < 50_000_000  # stopped reading: the server could not push a 1 GB body


def test_gzip_bomb_is_refused_by_its_ratio(web: HTTPFixture) -> None:
    bomb = gzip.compress(b"\0" * 10 * 1024 * 1024)  # 10 MB of zeros: about 10 KB on the wire
    assert len(bomb) < 20_000
    web.routes["/bomb.xml"] = Route(bomb, "application/rss+xml", headers={"Content-Encoding": "gzip"})
    # the cap alone (10 MB, the default for feeds) would let it through: the ratio does not
    with pytest.raises(http.TooLargeError, match=r"gzip body expands more than 100 times .* decompression bomb"):
        fetch(web.url("/bomb.xml"), max_bytes=settings().max_feed_bytes)


@pytest.mark.parametrize(("encoding", "compress"), [
    ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send it
    ("br", brotli.compress),
])
def test_other_encodings_bombs_are_refused(web: HTTPFixture, encoding: str,
                                          compress: Callable[[bytes], bytes]) -> None:
    web.routes["/bomb.xml"] = Route(compress(b"\0" * 20 * 1024 * 1024), "application/rss+xml",
                                    headers={"Content-Encoding": encoding})
    with pytest.raises(http.TooLargeError, match="decompression bomb"):
        fetch(web.url("/bomb.xml"), max_bytes=64 * 1024 * 1024)


def test_decompressed_size_cap_applies_below_the_ratio(web: HTTPFixture) -> None:
    words = [f"mot{i}" for i in range(5000)]
    rng = random.Random(7)
    text = " ".join(rng.choice(words) for _ in range(300_000)).encode()  # ~2.4 MB, compresses ~3x
    body = gzip.compress(text)
    assert len(body) < 1_000_000 < len(text)
    web.routes["/big.xml"] = Route(body, "application/rss+xml", headers={"Content-Encoding": "gzip"})
    with pytest.raises(http.TooLargeError, match="decompressed body is over the 1000000-byte cap"):
        fetch(web.url("/big.xml"), max_bytes=1_000_000)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_honest_compressed_feeds_are_decoded(web: HTTPFixture, encoding: str) -> None:
    compress: dict[str, Callable[[bytes], bytes]] = {"gzip": gzip.compress, "deflate": zlib.compress,
                                                     "br": brotli.compress}
    body = rss([{"title": f"Article {i}", "link": f"https://example.org/{i}"} for i in range(2000)])
    web.routes["/feed.xml"] = Route(compress[encoding](body), "application/rss+xml",
                                    headers={"Content-Encoding": encoding})
    assert fetch(web.url("/feed.xml"), max_bytes=settings().max_feed_bytes).content == body


def test_a_bomb_is_a_recorded_feed_error(ctx: Callable[..., pipeline.Context], web: HTTPFixture) -> None:
    context = ctx()
    web.routes["/bomb.xml"] = Route(gzip.compress(b"\0" * 10 * 1024 * 1024), "application/rss+xml",
                                    headers={"Content-Encoding": "gzip"})
    [feed_id] = add_feeds(context, web.url("/bomb.xml"))
    [result] = pipeline.poll_feeds(context, [feed_id])
    feed = feed_row(context, feed_id)
    assert result.status == "error" and feed.last_status == "error"
    assert feed.last_error is not None and feed.last_error.startswith("fetcher: gzip body expands more than 100 times")


# --------------------------------------------------------------------------- time


def test_connect_timeout(raw: Callable[..., RawServer]) -> None:
    server = raw(lambda connection: None, backlog=0, accept=False)
    filler: list[socket.socket] = []
    for _ in range(64):  # fill the accept queue: then the kernel drops new SYNs and connecting hangs
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", server.port))
        filler.append(sock)
        if not select.select([], [sock], [], 0.2)[1]:
            break
    try:
        started = time.monotonic()
        with pytest.raises(http.FetchError, match=r"timed out \(ConnectTimeout\)"):
            fetch(server.url(), settings(http_timeout=1))
        assert time.monotonic() - started < 5
    finally:
        for sock in filler:
            sock.close()


def test_read_timeout(raw: Callable[..., RawServer]) -> None:
    server = raw(lambda connection: server.stopped.wait(30))  # reads the request, never answers
    started = time.monotonic()
    with pytest.raises(http.FetchError, match=r"timed out \(ReadTimeout\)"):
        fetch(server.url(), settings(http_timeout=1))
    assert time.monotonic() - started < 5


def trickle(server_stopped: threading.Event) -> Callable[[socket.socket], None]:
    def handle(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):  # one byte a second: no single read ever times out
            connection.sendall(b" ")
            if server_stopped.wait(1.0):
                return

    return handle


def test_one_byte_a_second_is_cut_by_the_total_deadline(
    ctx: Callable[..., pipeline.Context], raw: Callable[..., RawServer]
) -> None:
    stopped = threading.Event()
    server = raw(trickle(stopped))
    context = ctx(http_timeout=2)  # reads time out after 2 s; the whole request after 3 x 2 s
    [feed_id] = add_feeds(context, server.url())
    started = time.monotonic()
    [result] = pipeline.poll_feeds(context, [feed_id])
    took = time.monotonic() - started
    stopped.set()
    assert 5.5 < took < 12
    feed = feed_row(context, feed_id)
    assert result.status == "error" and feed.last_error == "fetcher: no complete answer within 6s (total deadline)"


# --------------------------------------------------------------------------- redirects


def test_too_many_redirects(web: HTTPFixture) -> None:
    for i in range(10):
        web.routes[f"/r{i}"] = Route(b"", status=302, headers={"Location": web.url(f"/r{i + 1}")})
    web.routes["/r10"] = Route(FEED, "application/rss+xml")
    with pytest.raises(http.FetchError, match="more than 5 redirects") as caught:
        fetch(web.url("/r0"), settings(max_redirects=5))
    assert not caught.value.transient
    assert len(web.requests) == 6
    assert fetch(web.url("/r5"), settings(max_redirects=5)).content == FEED  # five are fine


def test_redirect_loop(web: HTTPFixture) -> None:
    web.routes["/a"] = Route(b"", status=301, headers={"Location": web.url("/b")})
    web.routes["/b"] = Route(b"", status=301, headers={"Location": web.url("/a")})
    with pytest.raises(http.FetchError, match="redirects"):
        fetch(web.url("/a"))


# --------------------------------------------------------------------------- entries


def test_entries_per_feed_and_characters_per_entry(ctx: Callable[..., pipeline.Context], web: HTTPFixture) -> None:
    context = ctx()
    huge = "Kyutai " + "x" * (MAX_ENTRY_CHARS + 50_000)
    items = [{"title": f"Item {i}", "link": f"https://example.org/{i}", "guid": f"g{i}",
              "description": huge if i == 0 else "short"} for i in range(MAX_ENTRIES + 100)]
    web.routes["/feed.xml"] = Route(rss(items), "application/rss+xml")
    [feed_id] = add_feeds(context, web.url("/feed.xml"))
    [result] = pipeline.poll_feeds(context, [feed_id])
    assert result.status == "ok" and result.entries == MAX_ENTRIES
    feed = feed_row(context, feed_id)
    assert feed.last_status == "ok"
    note = feed.last_error or ""
    assert f"the feed has {MAX_ENTRIES + 100} entries, only the first {MAX_ENTRIES} were read" in note
    assert f"1 entry cut to {MAX_ENTRY_CHARS} characters" in (feed.last_error or "")
    longest = context.db.run(lambda s: max(len(a.feed_summary or "") for a in s.scalars(sql_select(Article))))
    assert longest == MAX_ENTRY_CHARS
    assert context.db.run(lambda s: len(s.scalars(sql_select(Article)).all())) == MAX_ENTRIES


# --------------------------------------------------------------------------- politeness


def counting(delay: float) -> tuple[Callable[[Request], Route], dict[str, int]]:
    """A route that records the most concurrent requests seen, overall and per Host header."""
    lock = threading.Lock()
    now: dict[str, int] = {}
    peak: dict[str, int] = {}

    def route(request: Request) -> Route:
        host = request.headers.get("host", "").split(":")[0]
        with lock:
            for key in (host, "*"):
                now[key] = now.get(key, 0) + 1
                peak[key] = max(peak.get(key, 0), now[key])
        time.sleep(delay)
        with lock:
            for key in (host, "*"):
                now[key] -= 1
        return Route(FEED, "application/rss+xml")

    return route, peak


@pytest.mark.usefixtures("veille_env")
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_per_host_concurrency(web: HTTPFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    route, peak = counting(0.3)
    web.routes["/feed.xml"] = route  # type: ignore[assignment]
    if limit != 2:
        monkeypatch.setenv("VEILLE_PER_HOST_CONCURRENCY", str(limit))
    outlines = "".join(f'<outline text="f" xmlUrl="http://{host}:{web.port}/feed.xml?n={i}"/>'
                       for host in ("127.0.0.1", "localhost") for i in range(6))
    opml = tmp_path / "feeds.opml"
    opml.write_text(f'<opml version="2.0"><head/><body>{outlines}</body></opml>')
    assert veille("feeds", "import", str(opml)).exit_code == 0
    assert veille("poll").exit_code == 0
    assert len(web.hits("/feed.xml")) == 12
    assert peak["127.0.0.1"] == limit and peak["localhost"] == limit  # never more per host (default 2)...
    assert peak["*"] == 2 * limit  # ...and the two hosts in parallel


@pytest.mark.parametrize("retry_after", ["120", "http-date"])
def test_retry_after_pauses_the_host_within_and_across_polls(
    ctx: Callable[..., pipeline.Context], web: HTTPFixture, retry_after: str
) -> None:
    context = ctx(per_host_concurrency=1)
    value = "120" if retry_after == "120" else formatdate(time.time() + 120, usegmt=True)
    web.routes["/busy.xml"] = Route(b"slow down", "text/plain", 429, headers={"Retry-After": value})
    web.routes["/ok.xml"] = Route(FEED, "application/rss+xml")
    busy = add_feeds(context, *(f"http://127.0.0.1:{web.port}/busy.xml?n={i}" for i in range(4)))
    other = add_feeds(context, *(f"http://localhost:{web.port}/ok.xml?n={i}" for i in range(2)))
    results = {r.feed_id: r for r in pipeline.poll_feeds(context, busy + other)}
    # within the poll: the first request got the 429, the host's other feeds were not requested
    assert len(web.hits("/busy.xml")) == 1
    assert sorted(r.status for r in results.values() if r.feed_id in busy) == ["deferred"] * 3 + ["error"]
    assert all(results[i].status == "ok" for i in other)
    now = utcnow()
    for feed_id in busy:
        feed = feed_row(context, feed_id)
        assert feed.next_poll_at >= now + timedelta(seconds=110)
        assert feed.failures == (1 if results[feed_id].status == "error" else 0)
    # the next poll in this process: still not asked
    pipeline.poll_feeds(context, busy)
    assert len(web.hits("/busy.xml")) == 1
    # another process (nothing in memory): the database keeps the host's feeds from being claimed
    http.HOST_WAITS.clear()
    assert not set(pipeline.claim_due_feeds(context, now=now + timedelta(seconds=60))) & set(busy)
    assert set(busy) <= set(pipeline.claim_due_feeds(context, now=now + timedelta(seconds=200)))


def test_503_with_retry_after_is_honoured_and_capped_at_a_day(
    ctx: Callable[..., pipeline.Context], web: HTTPFixture
) -> None:
    context = ctx()
    web.routes["/down.xml"] = Route(b"maintenance", "text/plain", 503, headers={"Retry-After": "9999999"})
    [feed_id] = add_feeds(context, web.url("/down.xml"))
    [result] = pipeline.poll_feeds(context, [feed_id])
    assert result.status == "error" and "503" in (result.error or "")
    wait = (feed_row(context, feed_id).next_poll_at - utcnow()).total_seconds()
    assert 23 * 3600 < wait <= 24 * 3600


@pytest.mark.usefixtures("veille_env")
def test_user_agent_names_the_contact_url(web: HTTPFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_CONTACT_URL", "https://ops.example.net/veille-bot")
    web.routes["/feed.xml"] = Route(rss([{"title": "Kyutai", "link": web.url("/article"), "guid": "1"}]),
                                    "application/rss+xml")
    web.routes["/article"] = Route(b"<html><body><article><p>Kyutai.</p></article></body></html>")
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("poll").exit_code == 0
    agents = {r.path.split("?")[0]: r.headers.get("user-agent") for r in web.requests}
    expected = f"veille/{__version__} (+https://ops.example.net/veille-bot)"
    assert agents == {"/feed.xml": expected, "/article": expected}
