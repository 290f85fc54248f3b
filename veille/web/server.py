"""`veille web`: the app under uvicorn, one process (one event loop; database work on a thread pool, parsing
on one thread: see veille.web.app).

Uvicorn's settings: the address from VEILLE_WEB_LISTEN; the request head within VEILLE_WEB_TIMEOUT
(veille.web.security.guarded_protocol) and an idle keep-alive connection closed after 5 s; at most
:data:`MAX_CONNECTIONS` connections and requests at once (more get 503); X-Forwarded-For and
X-Forwarded-Proto believed only from VEILLE_TRUSTED_PROXIES; no access log (a WebSub callback's path holds
its token); no Server header.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import threading
from typing import Any

import uvicorn

from veille.pipeline import Context
from veille.web.app import create_app
from veille.web.security import guarded_protocol
from veille.web.websub import OnArticles

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 200
KEEP_ALIVE = 5
GRACEFUL_SHUTDOWN = 5


def trusted(value: str) -> list[str]:
    """VEILLE_TRUSTED_PROXIES as uvicorn reads it: addresses, networks (host bits allowed) or ``*``."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return [str(ipaddress.ip_network(p, strict=False)) if "/" in p else p for p in parts]


def make_config(ctx: Context, app: Any, *, address: tuple[str, int] | None = None) -> uvicorn.Config:
    host, port = address or ctx.settings.listen_address
    proxies = trusted(ctx.settings.trusted_proxies)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(ctx.settings.web_timeout),
        lifespan="on",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or [],
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        server_header=False,
        access_log=False,
        log_config=None,
        workers=1,
    )


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv6 when the host is), for uvicorn to listen on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they are TCP; without
    # it every answer written in two parts waited for the client's delayed ACK, 40 ms on Linux
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(ctx: Context, on_articles: OnArticles | None = None, *, parent_pid: int | None = None,
          address: tuple[str, int] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, or until the process ``parent_pid`` is gone (when `veille run` started
    it). Raises OSError when the address cannot be bound (in use, not an address of this host)."""
    server = uvicorn.Server(make_config(ctx, create_app(ctx, on_articles=on_articles), address=address))
    listener = bind(server.config.host, server.config.port)  # an address in use: OSError, said by the caller
    stop = threading.Event()
    if parent_pid:
        def watch() -> None:
            while not stop.wait(1.0):
                if os.getppid() != parent_pid:
                    log.info("web server: parent gone, stopping")
                    server.should_exit = True
                    return

        threading.Thread(target=watch, name="veille-parent-watch", daemon=True).start()
    # uvicorn handles SIGTERM and SIGINT while it serves, then raises them again: these make that a clean exit
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    host, port = server.config.host, server.config.port
    log.info("web server listening", extra={"listen": f"{host}:{port}", "public_url": ctx.settings.public_url})
    try:
        server.run(sockets=[listener])
    finally:
        stop.set()
        listener.close()
