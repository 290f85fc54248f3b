"""The one HTTP client factory: timeouts, size caps, User-Agent, address guard, per-host politeness.

Feed and page URLs are chosen by strangers, so the client built by
:func:`make_client` with ``guarded=True`` resolves each host itself, checks every
address against :class:`AddressGuard`, and connects to the checked address (a DNS
answer that changes between the check and the connection cannot slip through).
Every redirect hop opens its connection through the same backend, so it is checked
again. Channel URLs are the operator's and use ``guarded=False``.

:func:`fetch` reads the body itself, undoing gzip, deflate and brotli step by step, so a
body is refused as soon as it passes the size cap, once decoded or on the wire, or expands
like a decompression bomb; and it gives each request a total deadline, so a server that
trickles one byte a second is cut off even though no single read times out.

:class:`HostLimiter` keeps at most N requests per host in flight and remembers, for the
whole process, hosts that answered 429 or 503 with ``Retry-After``: their next requests
are refused with :class:`HostDeferredError` until that time.

Exceptions:
    FetchError              any failure to get a usable response; ``transient`` says if a retry may help
      BlockedAddressError   the URL's scheme or address is refused by the guard (permanent)
      TooLargeError         the body passed the size cap, decoded or not, or the expansion ratio (permanent)
      HostDeferredError     the host asked to wait (Retry-After) and the time has not come (transient)
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import socket
import ssl
import time
import typing
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC
from urllib.parse import urlsplit

import httpcore
import httpx

from veille.settings import Settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# A decoded body may be at most MAX_RATIO times larger than what came over the wire, once it
# passes RATIO_FLOOR bytes (small bodies of repeated markup compress very well, harmlessly).
MAX_RATIO = 100.0
RATIO_FLOOR = 1024 * 1024
# Raw bytes read per step, and decoded bytes produced per step: a bomb is stopped after one step.
_RAW_CHUNK = 16 * 1024
_DECODED_STEP = 64 * 1024
# The total deadline of one request (every redirect included) is this many times the read timeout.
DEADLINE_FACTOR = 3.0
# Nobody waits longer than this for a Retry-After, whatever the server says.
MAX_RETRY_AFTER = 24 * 3600.0
# A 429 without Retry-After still keeps the host quiet this long.
DEFAULT_429_WAIT = 60.0


class FetchError(Exception):
    """A request that gave no usable response. ``transient`` is True when retrying later may help."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool = True,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


class BlockedAddressError(FetchError):
    """The URL's scheme or the address it resolves to is refused by the address guard."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class TooLargeError(FetchError):
    """The response body is larger than the configured cap (on the wire or decoded), or a decompression bomb."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class HostDeferredError(FetchError):
    """The host answered 429 or 503 with Retry-After a moment ago; it is not asked again before then."""

    def __init__(self, host: str, wait: float) -> None:
        super().__init__(
            f"{host} asked to be left alone (Retry-After): next request in {wait:.0f}s", transient=True,
            retry_after=wait,
        )
        self.host = host


# --------------------------------------------------------------------------- address guard


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is, or None for a public one."""
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.version == 4 and ip in _CGNAT:
        return "carrier-grade NAT"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "private"
    return None


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """Which addresses a guarded client may connect to."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressGuard:
        return cls(allow_private=settings.allow_private_addresses, allowed_networks=settings.networks)

    def _allowed(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.allowed_networks if net.version == ip.version)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` is refused, or None when it may be used."""
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"address guard: {address!r} is not an IP address"
        if self.allow_private or self._allowed(ip):
            return None
        embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        if embedded is not None:  # IPv4-mapped, 6to4, NAT64: judged by the IPv4 address they lead to
            if self._allowed(embedded):
                return None
            inner = _kind(embedded)
            kind = f"{inner} (IPv4 {embedded} inside IPv6)" if inner else None
        else:
            kind = _kind(ip)
        if kind is None:
            return None
        return (
            f"address guard: {address} is a {kind} address; set VEILLE_ALLOW_PRIVATE_ADDRESSES=1 "
            f"or add it to VEILLE_ALLOWED_NETWORKS to allow it"
        )

    def check_address(self, address: str) -> None:
        reason = self.refusal(address)
        if reason:
            raise BlockedAddressError(reason)


def check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedAddressError(f"only http and https URLs are fetched, not {scheme or 'a relative URL'}: {url}")


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise FetchError(f"cannot resolve {host}: {reason}", transient=True) from exc
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


async def check_url(url: str, guard: AddressGuard) -> None:
    """Refuse at once a URL the fetcher would refuse (scheme, then every resolved address)."""
    check_scheme(url)
    parts = urlsplit(url)
    if not parts.hostname:
        raise BlockedAddressError(f"URL has no host: {url}")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise BlockedAddressError(f"URL has an invalid port: {url}") from exc
    for address in await resolve(parts.hostname, port):
        guard.check_address(address)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, checks every address, and connects to a checked address; TLS still verifies the host name."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except FetchError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        refusals = [r for r in map(self._guard.refusal, addresses) if r]
        if refusals:
            raise httpcore.ConnectError(refusals[0])
        last: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            peer = stream.get_extra_info("server_addr")
            if peer is not None:
                reason = self._guard.refusal(str(peer[0]))
                if reason:
                    await stream.aclose()
                    raise httpcore.ConnectError(reason)
            return stream
        raise last or httpcore.ConnectError(f"cannot connect to {host}:{port}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[typing.Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("address guard: unix sockets are refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# --------------------------------------------------------------------------- content decoding


def _brotli_module() -> typing.Any:
    """The brotli module when it can bound its output per call (brotli >= 1.1), else None."""
    try:
        import brotli
    except ImportError:
        return None
    try:
        brotli.Decompressor().process(b"", output_buffer_limit=1)
    except TypeError:
        return None
    except Exception:  # an empty input is fine for every version that accepts the keyword
        return brotli
    return brotli


_BROTLI = _brotli_module()
ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI is not None else "gzip, deflate"


class _Decoder:
    """Undoes one Content-Encoding in steps of at most ``_DECODED_STEP`` bytes, so the caller can stop early."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib: typing.Any = None
        self._brotli: typing.Any = None
        self._first = True
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding == "br" and _BROTLI is not None:
            self._brotli = _BROTLI.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            if self._zlib is not None:
                yield from self._inflate(data)
            elif self._brotli is not None:
                yield from self._unbrotli(data)
            elif data:
                yield data
        except zlib.error as exc:
            raise FetchError(f"cannot decode the {self.encoding} body: {exc}", transient=False) from exc
        except Exception as exc:
            if _BROTLI is not None and isinstance(exc, _BROTLI.error):
                raise FetchError(f"cannot decode the {self.encoding} body: {exc}", transient=False) from exc
            raise

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        if self._first and self.encoding == "deflate" and data:
            self._first = False
            probe = self._zlib.copy()
            try:
                probe.decompress(data[:64], 1)
            except zlib.error:  # a raw deflate stream without the zlib header, as some servers send
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        pending = data
        while True:
            out = self._zlib.decompress(pending, _DECODED_STEP)
            if out:
                yield out
            pending = self._zlib.unconsumed_tail
            if not pending and len(out) < _DECODED_STEP:
                return

    def _unbrotli(self, data: bytes) -> Iterator[bytes]:
        # the output limit is a hint (a call may return a little more), and output can still be pending
        # when the decompressor says it accepts more input: drain it with empty calls
        out = self._brotli.process(data, output_buffer_limit=_DECODED_STEP)
        while out:
            yield out
            out = self._brotli.process(b"", output_buffer_limit=_DECODED_STEP)

    def flush(self) -> bytes:
        if self._zlib is not None:
            try:
                return bytes(self._zlib.flush())
            except zlib.error as exc:
                raise FetchError(f"cannot decode the {self.encoding} body: {exc}", transient=False) from exc
        return b""


def _decoder(headers: httpx.Headers) -> _Decoder:
    values = [v.strip().lower() for v in headers.get("Content-Encoding", "").split(",") if v.strip()]
    values = [v for v in values if v != "identity"]
    if len(values) > 1:
        raise FetchError(f"body encoded {len(values)} times ({', '.join(values)}) is refused", transient=False)
    return _Decoder(values[0] if values else "identity")


# --------------------------------------------------------------------------- client


class Client(httpx.AsyncClient):
    """httpx's client, carrying the total deadline :func:`fetch` gives each request."""

    def __init__(self, *, deadline: float, **kwargs: typing.Any) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline


@functools.lru_cache(maxsize=1)
def ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle, which cost more CPU than
    fetching and extracting a page did (measured by the bench: 120 -> 42 ms of CPU per article)."""
    return httpx.create_ssl_context()


def make_client(settings: Settings, *, guarded: bool = True, http2: bool = True) -> httpx.AsyncClient:
    """An async client with veille's User-Agent and timeouts; ``guarded`` for stranger-chosen URLs.

    Timeouts: connect ``min(10 s, VEILLE_HTTP_TIMEOUT)``, each read ``VEILLE_HTTP_TIMEOUT``, and a total
    deadline per request of ``DEADLINE_FACTOR`` times that (see :func:`fetch`).
    """
    limits = httpx.Limits(max_connections=max(10, settings.fetch_concurrency * 2), max_keepalive_connections=20)
    transport = httpx.AsyncHTTPTransport(verify=ssl_context(), http2=http2, limits=limits, retries=0)
    if guarded:
        # httpx builds its pool without a way to pass a network backend; rebuild it with ours.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=GuardedBackend(AddressGuard.from_settings(settings)),
        )
    return Client(
        deadline=settings.http_timeout * DEADLINE_FACTOR,
        transport=transport,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        timeout=httpx.Timeout(settings.http_timeout, connect=min(10.0, settings.http_timeout)),
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        trust_env=False,
    )


def make_sync_client(settings: Settings, *, timeout: float | None = None) -> httpx.Client:
    """A sync client for the operator's own endpoints (webhooks): no address guard, same User-Agent."""
    return httpx.Client(
        verify=ssl_context(),
        headers={"User-Agent": settings.user_agent},
        timeout=httpx.Timeout(timeout or settings.http_timeout),
        follow_redirects=False,
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": UTC, as HTTP dates always are
        when = when.replace(tzinfo=UTC)
    try:
        seconds = when.timestamp()
    except (OverflowError, ValueError, OSError):
        return None
    return max(0.0, seconds - (now if now is not None else time.time()))


@dataclass(slots=True)
class Response:
    """What a fetch brought back: final URL after redirects, status, headers, decoded body bytes."""

    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    elapsed: float = 0.0
    redirects: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- politeness


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def host_wait(error: FetchError) -> float | None:
    """How long a host asked to be left alone, from a 429 or 503 answer."""
    if isinstance(error, HostDeferredError) or error.status not in (429, 503):
        return None
    if error.retry_after is not None:
        return min(MAX_RETRY_AFTER, error.retry_after) if error.retry_after > 0 else None
    return DEFAULT_429_WAIT if error.status == 429 else None


class HostWaits:
    """Hosts that asked to be left alone, and until when; one per process, shared by every limiter."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def defer(self, host: str, seconds: float) -> None:
        until = time.monotonic() + min(MAX_RETRY_AFTER, max(0.0, seconds))
        self._until[host] = max(self._until.get(host, 0.0), until)

    def remaining(self, host: str) -> float:
        until = self._until.get(host)
        if until is None:
            return 0.0
        left = until - time.monotonic()
        if left <= 0:
            self._until.pop(host, None)
            return 0.0
        return left

    def clear(self) -> None:
        self._until.clear()


HOST_WAITS = HostWaits()


class HostLimiter:
    """At most ``per_host`` concurrent requests to one host and ``total`` in all; hosts that answered 429 or 503
    with Retry-After are refused (:class:`HostDeferredError`) until then, across every limiter of the process.

    ``deferred`` maps each host this limiter saw ask for a pause to the number of seconds asked.
    """

    def __init__(self, per_host: int, total: int, *, waits: HostWaits | None = None) -> None:
        self._per_host = max(1, per_host)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self._per_host))
        self._total = asyncio.Semaphore(max(1, total))
        self.waits = waits if waits is not None else HOST_WAITS
        self.deferred: dict[str, float] = {}

    def _refuse_if_waiting(self, host: str) -> None:
        left = self.waits.remaining(host)
        if left > 0:
            raise HostDeferredError(host, left)

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        host = host_of(url)
        self._refuse_if_waiting(host)
        async with self._hosts[host], self._total:
            self._refuse_if_waiting(host)  # the host may have asked for a pause while this request queued
            try:
                yield
            except FetchError as exc:
                wait = host_wait(exc)
                if wait:
                    self.waits.defer(host, wait)
                    self.deferred[host] = max(self.deferred.get(host, 0.0), wait)
                raise


# --------------------------------------------------------------------------- fetch


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    deadline: float | None = None,
    max_ratio: float = MAX_RATIO,
) -> Response:
    """GET ``url``, following redirects, reading at most ``max_bytes`` of body (on the wire and decoded).

    The whole request, redirects included, must end within ``deadline`` seconds (default: the client's).
    4xx and 5xx answers other than 304 raise FetchError (transient for 408, 425, 429 and 5xx).
    """
    try:
        check_scheme(url)
    except ValueError as exc:  # urlsplit refuses e.g. an unclosed IPv6 bracket
        raise FetchError(f"invalid URL {url!r}: {exc}", transient=False) from exc
    limit = deadline if deadline is not None else float(getattr(client, "deadline", 60.0))
    try:
        async with asyncio.timeout(limit):
            return await _fetch(client, url, max_bytes=max_bytes, headers=headers, max_ratio=max_ratio)
    except TimeoutError as exc:
        raise FetchError(f"no complete answer within {limit:g}s (total deadline)") from exc


async def _fetch(
    client: httpx.AsyncClient, url: str, *, max_bytes: int, headers: dict[str, str] | None, max_ratio: float
) -> Response:
    started = time.monotonic()
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code >= 400:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                transient = response.status_code in (408, 425, 429) or response.status_code >= 500
                raise FetchError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    transient=transient,
                    status=response.status_code,
                    retry_after=retry_after,
                )
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > max_bytes:
                raise TooLargeError(f"body of {int(declared)} bytes is over the {max_bytes}-byte cap")
            content = await _read_body(response, max_bytes=max_bytes, max_ratio=max_ratio)
            return Response(
                url=str(response.url),
                status=response.status_code,
                headers=response.headers,
                content=content,
                elapsed=time.monotonic() - started,
                redirects=[str(r.url) for r in response.history],
            )
    except FetchError:
        raise
    except httpx.TooManyRedirects as exc:
        raise FetchError(f"more than {client.max_redirects} redirects", transient=False) from exc
    except httpx.ConnectError as exc:
        message = describe(exc)
        if message.startswith("address guard:"):
            raise BlockedAddressError(message) from exc
        raise FetchError(f"cannot connect: {message}") from exc
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from exc
    except httpx.UnsupportedProtocol as exc:
        raise BlockedAddressError(describe(exc)) from exc
    except httpx.InvalidURL as exc:  # not an HTTPError: the URL, or a redirect's Location, can't be parsed
        raise FetchError(f"invalid URL: {describe(exc)}", transient=False) from exc
    except (httpx.HTTPError, httpcore.ProtocolError) as exc:
        raise FetchError(f"{type(exc).__name__}: {describe(exc)}") from exc


async def _read_body(response: httpx.Response, *, max_bytes: int, max_ratio: float) -> bytes:
    decoder = _decoder(response.headers)
    chunks: list[bytes] = []
    raw = decoded = 0

    def take(piece: bytes) -> None:
        nonlocal decoded
        decoded += len(piece)
        if decoded > max_bytes:
            what = "decompressed body" if decoder.encoding != "identity" else "body"
            raise TooLargeError(f"{what} is over the {max_bytes}-byte cap")
        if decoded > RATIO_FLOOR and decoded > raw * max_ratio:
            raise TooLargeError(
                f"{decoder.encoding} body expands more than {max_ratio:g} times ({raw} bytes gave over {decoded}): "
                f"refused as a decompression bomb"
            )
        chunks.append(piece)

    async for chunk in response.aiter_raw(_RAW_CHUNK):
        raw += len(chunk)
        if raw > max_bytes:
            raise TooLargeError(f"body is over the {max_bytes}-byte cap")
        for piece in decoder.decode(chunk):
            take(piece)
    tail = decoder.flush()
    if tail:
        take(tail)
    return b"".join(chunks)
