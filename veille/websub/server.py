"""The WebSub callback server: the standard library's threading HTTP server, nothing else to import.

Routes (the path may sit under a prefix, as behind a reverse proxy serving VEILLE_PUBLIC_URL):

    GET  .../websub/{id}/{token}   the hub's verification of intent, or its denial (:func:`subscriptions.verify`)
    POST .../websub/{id}/{token}   content distribution (:func:`push.receive`), at most VEILLE_MAX_FEED_BYTES
                                   with a Content-Length (411 without, 413 over it, read with a timeout)
    GET  /healthz                  "ok", for load balancers and compose health checks

At most ``MAX_BUSY`` requests are handled at once; more get 503 with Retry-After. Tokens are never logged.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from veille.websub import push, subscriptions

if TYPE_CHECKING:
    from veille.pipeline.context import Context

log = logging.getLogger(__name__)

MAX_BUSY = 8            # requests handled at once
READ_TIMEOUT = 20.0     # seconds a client may take per read (a slow body is cut off)
_PATH = re.compile(r"/websub/(\d{1,18})/([A-Za-z0-9_-]{16,64})/?$")

# Called with (new article ids, article ids ready for matching) after a push is stored and committed.
OnArticles = Callable[[Sequence[int], Sequence[int]], None]


class CallbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ctx: Context, address: tuple[str, int], on_articles: OnArticles | None = None) -> None:
        self.ctx = ctx
        self.on_articles = on_articles
        self.busy = threading.BoundedSemaphore(MAX_BUSY)
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("websub callback: connection error", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "veille-websub"
    sys_version = ""
    timeout = READ_TIMEOUT
    server: CallbackServer

    def log_message(self, format: str, *args: Any) -> None:  # the path holds the token: not logged
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> tuple[int, str] | None:
        match = _PATH.search(urlsplit(self.path).path)
        return (int(match.group(1)), match.group(2)) if match else None

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/healthz":
            self._answer(200, b"ok\n")
            return
        route = self._route()
        if route is None:
            self._answer(404, b"not found\n")
            return
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        self._busy(lambda: subscriptions.verify(self.server.ctx, route[0], route[1], query))

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            self._drop(404, b"not found\n")
            return
        length_text = (self.headers.get("Content-Length") or "").strip()
        if self.headers.get("Transfer-Encoding") or not length_text.isdigit():
            self._drop(411, b"a Content-Length is required\n")
            return
        length, cap = int(length_text), self.server.ctx.settings.max_feed_bytes
        if length > cap:
            log.warning("WebSub push refused: too large", extra={"bytes": length, "cap": cap})
            self._drop(413, f"body over the {cap}-byte cap\n".encode())
            return
        sub_id, token = route

        def work() -> subscriptions.Answer:
            body = self._read(length)
            if body is None:
                self.close_connection = True
                return subscriptions.Answer(400, b"incomplete body\n")
            result = push.receive(self.server.ctx, sub_id, token, dict(self.headers.items()), body)
            if (result.new_articles or result.ready_articles) and self.server.on_articles is not None:
                try:
                    self.server.on_articles(result.new_articles, result.ready_articles)
                except Exception:  # stored all the same: the dispatcher resumes them once stale
                    log.exception("WebSub push: new articles could not be handed on", extra={"feed_id": result.feed_id})
            return subscriptions.Answer(result.status, b"")

        self._busy(work)

    def _read(self, length: int) -> bytes | None:
        """The body, read in steps within a total deadline (each step within the socket's timeout)."""
        deadline = time.monotonic() + READ_TIMEOUT * 3
        chunks, left = [], length
        while left > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("body not received in time")
            chunk = self.rfile.read1(min(left, 65536)) if hasattr(self.rfile, "read1") else self.rfile.read(
                min(left, 65536))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _drop(self, status: int, body: bytes) -> None:
        """Answer without reading the body, then close (what was sent is not read)."""
        self.close_connection = True
        self._answer(status, body, {"Connection": "close"})

    def _busy(self, work: Callable[[], subscriptions.Answer]) -> None:
        if not self.server.busy.acquire(blocking=False):
            self.close_connection = True  # a POST's body is left unread
            self._answer(503, b"busy, try again\n", {"Retry-After": "5", "Connection": "close"})
            return
        try:
            answer = work()
        except TimeoutError:
            self.close_connection = True
            answer = subscriptions.Answer(408, b"too slow\n")
        except Exception:
            log.exception("WebSub callback failed")
            answer = subscriptions.Answer(500, b"internal error\n")
        finally:
            self.server.busy.release()
        self._answer(answer.status, answer.body)


def make_server(ctx: Context, on_articles: OnArticles | None = None,
                address: tuple[str, int] | None = None) -> CallbackServer:
    """A callback server bound to ``address`` (default VEILLE_LISTEN), not yet serving."""
    return CallbackServer(ctx, address or ctx.settings.listen_address, on_articles)


def serve(ctx: Context, on_articles: OnArticles | None = None, *, parent_pid: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT, or until the process ``parent_pid`` is gone (when `veille run` started it)."""
    server = make_server(ctx, on_articles)
    stop = threading.Event()

    def shutdown(*_: Any) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    if parent_pid:
        def watch() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent_pid:
                    log.info("WebSub callback server: parent gone, stopping")
                    shutdown()

        threading.Thread(target=watch, daemon=True).start()
    host = ctx.settings.listen_address[0]
    log.info("WebSub callback server listening", extra={"listen": f"{host}:{server.port}",
                                                         "public_url": ctx.settings.public_url})
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
