"""A generated news farm on loopback: N feeds of M items over H virtual hosts, real article pages.

Each virtual host is its own loopback address (127.0.0.1, 127.0.0.2, ...) on one port, so a client's
per-host limits apply as they would on the web. Feeds are RSS 2.0 with an ETag and a Last-Modified
date, and answer 304 to a matching conditional GET. Every response (feeds and pages, not the control
endpoints) waits ``latency`` seconds first, like a distant server. Pages are gzip-compressed when the
client accepts it.

Control endpoints, on the first host:

    GET  /_farm/stats               JSON: requests, statuses and bytes by kind (feed, page), first/last times
    POST /_farm/mark                forget the first-request times (the next request of each kind sets them)
    POST /_farm/publish?feed=K      a new item on top of feed K, published now; JSON {"url", "published"}

The server is a small asyncio HTTP/1.1 server with keep-alive: one process serves thousands of
concurrent requests with little CPU, so the farm is not what a benchmark measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import json
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from veille.bench.pages import PageTemplate, load_templates

_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


@dataclass(slots=True)
class Item:
    number: int
    url: str
    title: str
    published: float
    template: PageTemplate


@dataclass(slots=True)
class FeedState:
    index: int
    host: str
    items: list[Item] = field(default_factory=list)
    version: int = 0
    modified: float = 0.0
    body: bytes = b""

    @property
    def etag(self) -> str:
        return f'"feed-{self.index}-v{self.version}"'

    @property
    def last_modified(self) -> str:
        return email.utils.formatdate(self.modified, usegmt=True)


@dataclass(slots=True)
class Counter:
    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    first: float | None = None
    last: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "statuses": {str(k): v for k, v in self.statuses.items()}, "first": self.first, "last": self.last}


class Farm:
    """The farm's content and counters; :meth:`serve` puts it on the network."""

    def __init__(
        self,
        templates: list[PageTemplate],
        *,
        feeds: int,
        items: int,
        hosts: int,
        latency: float,
        port: int,
        keep: int = 50,
    ) -> None:
        if port <= 0:
            raise ValueError("the farm needs a concrete port (make_farm picks one free on every host)")
        if not 1 <= hosts <= 250:
            raise ValueError("hosts must be between 1 and 250 (one loopback address each)")
        self.templates = templates
        self.latency = latency
        self.port = port
        self.keep = keep  # items listed in a feed, newest first
        self.hosts = [f"127.0.0.{h + 1}" for h in range(hosts)]
        self.counters: dict[str, Counter] = defaultdict(Counter)
        self._gzip_cache: dict[str, bytes] = {}
        self._next_page = 0
        now = time.time()
        self.feeds = [FeedState(i, self.hosts[i % hosts]) for i in range(feeds)]
        for feed in self.feeds:
            for number in range(items):
                # older items first; the newest was published a minute ago
                feed.items.insert(0, self._item(feed, number, now - 60 * (items - number)))
            self._render(feed, now - 60)
        self._items_by_path = {urlsplit(i.url).path: i for f in self.feeds for i in f.items}

    def feed_url(self, index: int) -> str:
        feed = self.feeds[index]
        return f"http://{feed.host}:{self.port}/f{index}/feed.xml"

    def _item(self, feed: FeedState, number: int, published: float) -> Item:
        template = self.templates[self._next_page % len(self.templates)]
        self._next_page += 1
        url = f"http://{feed.host}:{self.port}/f{feed.index}/a{number}.html"
        return Item(number, url, f"Farm story {number} of feed {feed.index}", published, template)

    def _render(self, feed: FeedState, modified: float) -> None:
        feed.version += 1
        feed.modified = modified
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
            f"<title>Farm feed {feed.index}</title><link>http://{feed.host}:{self.port}/f{feed.index}/</link>",
            "<description>A generated feed of the veille bench farm.</description>",
        ]
        for item in feed.items[: self.keep]:
            parts.append(
                f"<item><title>{escape(item.title)}</title><link>{escape(item.url)}</link>"
                f'<guid isPermaLink="true">{escape(item.url)}</guid>'
                f"<pubDate>{email.utils.formatdate(item.published, usegmt=True)}</pubDate>"
                f"<description>Story {item.number} of farm feed {feed.index}, from page "
                f"{escape(item.template.name[:12])}.</description></item>"
            )
        parts.append("</channel></rss>")
        feed.body = "".join(parts).encode("utf-8")

    def publish(self, index: int) -> Item:
        """A new item on top of feed ``index``, published now."""
        feed = self.feeds[index]
        now = time.time()
        item = self._item(feed, max((i.number for i in feed.items), default=-1) + 1, now)
        feed.items.insert(0, item)
        self._items_by_path[urlsplit(item.url).path] = item
        self._render(feed, now)
        return item

    def stats(self) -> dict[str, Any]:
        return {kind: counter.as_dict() for kind, counter in self.counters.items()}

    # ------------------------------------------------------------------ HTTP

    def _respond(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[str, int, dict[str, str], bytes]:
        """(kind, status, headers, body) for one request."""
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/_farm/"):
            if path == "/_farm/stats":
                return "control", 200, {"Content-Type": "application/json"}, json.dumps(self.stats()).encode()
            if path == "/_farm/mark" and method == "POST":
                for one in self.counters.values():
                    one.first = None
                return "control", 200, {"Content-Type": "text/plain"}, b"ok\n"
            if path == "/_farm/publish" and method == "POST":
                query = parse_qs(parts.query)
                try:
                    index = int(query["feed"][0])
                    self.feeds[index]  # an IndexError for an unknown feed
                except (KeyError, ValueError, IndexError):
                    return "control", 400, {"Content-Type": "text/plain"}, b"feed=K with an existing feed index\n"
                item = self.publish(index)
                body = json.dumps({"url": item.url, "published": item.published}).encode()
                return "control", 200, {"Content-Type": "application/json"}, body
            return "control", 404, {"Content-Type": "text/plain"}, b"not found\n"
        if method not in ("GET", "HEAD"):
            return "other", 405, {"Content-Type": "text/plain"}, b"GET only\n"
        if path.endswith("/feed.xml"):
            try:
                feed = self.feeds[int(path.split("/")[1].removeprefix("f"))]
            except (ValueError, IndexError):
                return "other", 404, {"Content-Type": "text/plain"}, b"no such feed\n"
            validators = {"ETag": feed.etag, "Last-Modified": feed.last_modified}
            if _not_modified(headers, feed):
                return "feed", 304, validators, b""
            return "feed", 200, {"Content-Type": "application/rss+xml; charset=utf-8", **validators}, feed.body
        found = self._items_by_path.get(path)
        if found is None:
            return "other", 404, {"Content-Type": "text/plain"}, b"not found\n"
        item = found
        page_headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "max-age=300"}
        if "gzip" in headers.get("accept-encoding", ""):
            compressed = self._gzip_cache.get(path)
            if compressed is None:
                compressed = gzip.compress(item.template.render(item.url), compresslevel=1)
                self._gzip_cache[path] = compressed
            return "page", 200, {**page_headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}, compressed
        return "page", 200, page_headers, item.template.render(item.url)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                kind, status, out_headers, body = self._respond(method, target, headers)
                if kind != "control" and self.latency:
                    await asyncio.sleep(self.latency)
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                lines_out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
                             f"Date: {email.utils.formatdate(usegmt=True)}", "Server: veille-bench-farm"]
                lines_out += [f"{k}: {v}" for k, v in out_headers.items()]
                lines_out.append(f"Content-Length: {len(body)}")
                if close:
                    lines_out.append("Connection: close")
                payload = ("\r\n".join(lines_out) + "\r\n\r\n").encode("latin-1")
                if method != "HEAD":
                    payload += body
                now = time.time()
                counter = self.counters[kind]
                counter.requests += 1
                counter.bytes_in += len(head) + length
                counter.bytes_out += len(payload)
                counter.statuses[status] += 1
                counter.first = counter.first or now
                counter.last = now
                writer.write(payload)
                await writer.drain()
                if close:
                    return
        except ConnectionError:
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def serve(self, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
        """Listen on every host's address at ``self.port`` until ``stop`` is set (or forever)."""
        servers = []
        for host in self.hosts:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, self.port))
            servers.append(await asyncio.start_server(self._handle, sock=sock, backlog=1024))
        if ready is not None:
            ready.set()
        try:
            if stop is None:
                await asyncio.Event().wait()
            else:
                await stop.wait()
        finally:
            for server in servers:
                server.close()


def _not_modified(headers: dict[str, str], feed: FeedState) -> bool:
    tag = headers.get("if-none-match")
    if tag is not None:
        return feed.etag in [t.strip() for t in tag.split(",")] or tag.strip() == "*"
    since = headers.get("if-modified-since")
    if since:
        try:
            when = email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
        return int(feed.modified) <= int(when)
    return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def make_farm(data: Path, *, feeds: int, items: int, hosts: int, latency: float, port: int = 0) -> Farm:
    """A farm over the benchmark pages in ``data``. With ``port=0``, a port free on every host."""
    templates = load_templates(data)
    if port == 0:
        port = _port_free_everywhere(min(hosts, 250))
    return Farm(templates, feeds=feeds, items=items, hosts=hosts, latency=latency, port=port)


def _port_free_everywhere(hosts: int) -> int:
    for _ in range(50):
        port = free_port()
        try:
            for h in range(hosts):
                with socket.socket() as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((f"127.0.0.{h + 1}", port))
        except OSError:
            continue
        return port
    raise OSError("no port free on every farm host address")


def run_farm(farm: Farm, ready_file: Path | None = None) -> None:
    """Serve until interrupted; write the farm's description to ``ready_file`` (JSON) once listening."""

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(farm.serve(ready))
        await ready.wait()
        description = {
            "port": farm.port,
            "hosts": farm.hosts,
            "pages": len(farm.templates),
            "feeds": [farm.feed_url(i) for i in range(len(farm.feeds))],
            "control": f"http://{farm.hosts[0]}:{farm.port}/_farm",
        }
        if ready_file is not None:
            tmp = ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(description))
            tmp.replace(ready_file)
        else:
            print(json.dumps(description), flush=True)
        await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
