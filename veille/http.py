"""The one HTTP client factory: timeouts, size cap, User-Agent, address guard.

Feed and page URLs are chosen by strangers, so the client built by
:func:`make_client` with ``guarded=True`` resolves each host itself, checks every
address against :class:`AddressGuard`, and connects to the checked address (a DNS
answer that changes between the check and the connection cannot slip through).
Every redirect hop opens its connection through the same backend, so it is checked
again. Channel URLs are the operator's and use ``guarded=False``.

Exceptions:
    FetchError              any failure to get a usable response; ``transient`` says if a retry may help
      BlockedAddressError   the URL's scheme or address is refused by the guard (permanent)
      TooLargeError         the body passed the size cap (permanent)
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
import time
import typing
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore
import httpx

from veille.settings import Settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


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
    """The response body is larger than the configured cap."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """Which addresses a guarded client may connect to."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressGuard:
        return cls(allow_private=settings.allow_private_addresses, allowed_networks=settings.networks)

    def refusal(self, address: str) -> str | None:
        """Why ``address`` is refused, or None when it may be used."""
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if self.allow_private or any(ip in net for net in self.allowed_networks if net.version == ip.version):
            return None
        if ip.is_loopback:
            kind = "loopback"
        elif ip.is_link_local:
            kind = "link-local"
        elif ip.version == 4 and ip in _CGNAT:
            kind = "carrier-grade NAT"
        elif ip.is_multicast:
            kind = "multicast"
        elif ip.is_unspecified:
            kind = "unspecified"
        elif ip.is_private or ip.is_reserved or not ip.is_global:
            kind = "private"
        else:
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
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host}: {exc.strerror}", transient=True) from exc
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
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in await resolve(parts.hostname, port):
        guard.check_address(address)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to the checked address; TLS still verifies the host name."""

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
        addresses = await resolve(host, port)
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


def make_client(settings: Settings, *, guarded: bool = True, http2: bool = True) -> httpx.AsyncClient:
    """An async client with veille's User-Agent and timeouts; ``guarded`` for stranger-chosen URLs."""
    limits = httpx.Limits(max_connections=max(10, settings.fetch_concurrency * 2), max_keepalive_connections=20)
    transport = httpx.AsyncHTTPTransport(http2=http2, limits=limits, retries=0)
    if guarded:
        # httpx builds its pool without a way to pass a network backend; rebuild it with ours.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=GuardedBackend(AddressGuard.from_settings(settings)),
        )
    return httpx.AsyncClient(
        transport=transport,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate, br"},
        timeout=httpx.Timeout(settings.http_timeout, connect=min(10.0, settings.http_timeout)),
        follow_redirects=True,
        max_redirects=settings.max_redirects,
        trust_env=False,
    )


def make_sync_client(settings: Settings, *, timeout: float | None = None) -> httpx.Client:
    """A sync client for the operator's own endpoints (webhooks): no address guard, same User-Agent."""
    return httpx.Client(
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
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass(slots=True)
class Response:
    """What a fetch brought back: final URL after redirects, status, headers, body bytes."""

    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    elapsed: float = 0.0
    redirects: list[str] = field(default_factory=list)


class HostLimiter:
    """At most ``per_host`` concurrent requests to one host, and a global cap."""

    def __init__(self, per_host: int, total: int) -> None:
        self._per_host = max(1, per_host)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self._per_host))
        self._total = asyncio.Semaphore(max(1, total))

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        async with self._total, self._hosts[host]:
            yield


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
) -> Response:
    """GET ``url``, following redirects, reading at most ``max_bytes`` of decoded body.

    4xx and 5xx answers other than 304 raise FetchError (transient for 408, 429 and 5xx).
    """
    check_scheme(url)
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
            declared = response.headers.get("Content-Length")
            encoded = "content-encoding" in response.headers
            if declared and declared.isdigit() and int(declared) > max_bytes and not encoded:
                raise TooLargeError(f"body of {int(declared)} bytes is over the {max_bytes}-byte cap")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise TooLargeError(f"body is over the {max_bytes}-byte cap")
                chunks.append(chunk)
            return Response(
                url=str(response.url),
                status=response.status_code,
                headers=response.headers,
                content=b"".join(chunks),
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
    except (httpx.HTTPError, httpcore.ProtocolError) as exc:
        raise FetchError(f"{type(exc).__name__}: {describe(exc)}") from exc
