"""What every request and every response goes through, whatever route answers.

- :class:`SecurityHeaders`: the headers every response carries (a Content-Security-Policy that allows no
  inline script, ``nosniff``, no framing, ``Referrer-Policy``, ``Cache-Control: no-store`` unless the route
  set its own), on errors too.
- :class:`BodyGuard`: a request body over its cap is refused with 413 before any of it is read (a declared
  ``Content-Length``) or as soon as the bytes read pass the cap (a chunked body). The rest of the body is
  then discarded by uvicorn as it arrives, never kept, for at most ``timeout`` seconds (the request-head
  deadline below): closing at once would make the kernel reset the connection while the client still sends,
  and the client would lose the 413. A body that does not arrive in time (no byte for ``timeout`` seconds,
  or not all of it within three times that) is cut off with 408 and the connection closed.
- :func:`guarded_protocol`: uvicorn's HTTP protocol with a deadline on the request head, so a client that
  connects and sends nothing, or trickles its headers (slowloris), is disconnected after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
       "base-uri 'self'; form-action 'self'")
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """Adds :data:`HEADERS` to every response that does not set them itself; answers 500 (with them) when
    the application fails before it started its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if started:
                raise
            log.exception("web request failed", extra={"path": scope.get("path")})
            await plain(send_with_headers, 500, "internal error", scope, close=True)


def wants_json(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/api/")


async def plain(send: Send, status: int, message: str, scope: Scope, *, close: bool = False,
                headers: dict[str, str] | None = None) -> None:
    """A small error answer: ``{"error": message}`` under /api/, else the message as text."""
    if wants_json(scope):
        body, kind = json.dumps({"error": message}).encode(), b"application/json"
    else:
        body, kind = f"{message}\n".encode(), b"text/plain; charset=utf-8"
    raw = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body if scope.get("method") != "HEAD" else b""})


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class BodyGuard:
    """Caps request bodies (``cap_for(path)`` bytes) and the time they take to arrive (see the module)."""

    def __init__(self, app: ASGIApp, *, cap_for: Callable[[str], int], timeout: float) -> None:
        self.app = app
        self.cap_for = cap_for
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await plain(send, 400, "unreadable Content-Length", scope, close=True)
                return
            if int(declared) > cap:
                log.warning("request refused: body too large", extra={"path": _loggable(scope["path"]),
                                                                       "bytes": int(declared), "cap": cap})
                await plain(send, 413, f"request body over the {cap}-byte cap", scope)
                return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3 * self.timeout
        read = 0
        done = declared is not None and int(declared) == 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal read, done
            if done:  # the body is in: what follows is a disconnect, which may come whenever it comes
                return await receive()
            left = deadline - loop.time()
            if left <= 0:
                raise BodyTimeout
            try:
                message = await asyncio.wait_for(receive(), min(self.timeout, left))
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > cap:
                    raise BodyTooLarge
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            log.warning("request refused: body too large", extra={"path": _loggable(scope["path"]), "cap": cap})
            await plain(send, 413, f"request body over the {cap}-byte cap", scope)
        except BodyTimeout:
            if started:
                raise
            log.info("request cut off: body too slow", extra={"path": _loggable(scope["path"])})
            await plain(send, 408, "too slow: the request body did not arrive in time", scope, close=True)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _loggable(path: str) -> str:
    """A path for the log: a WebSub callback's token is a secret."""
    head, sep, _ = path.partition("/websub/")
    return f"{head}/websub/..." if sep else path


def guarded_protocol(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, whose connections must send a complete request head within ``timeout``
    seconds of connecting or of the previous response (uvicorn alone waits for ever for the first one)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(timeout, self._head_too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
                log.debug("connection closed: no complete request head in time")
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedProtocol
