"""Real parts for tests: a loopback HTTP server, an SMTP server, a throwaway Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.webserver import Web

FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- HTTP


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    delay: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HTTPFixture:
    """A real HTTP server on 127.0.0.1 serving `routes`; every request is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, Route | Callable[[Request], Route]] = {}
        self.requests: list[Request] = []
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                fixture.requests.append(request)
                route = fixture.routes.get(self.path.split("?")[0]) or fixture.routes.get(self.path)
                if callable(route):
                    route = route(request)
                if route is None:
                    route = Route(b"not found", "text/plain", 404)
                if route.delay:
                    time.sleep(route.delay)
                if route.etag and request.headers.get("if-none-match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                if route.etag:
                    self.send_header("ETag", route.etag)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(route.body)

            do_GET = do_POST = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up (a killed worker, a cut-off fetch) is not a server error

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str, method: str = "GET") -> list[Request]:
        return [r for r in self.requests if r.path.split("?")[0] == path and r.method == method]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def web() -> Iterator[HTTPFixture]:
    server = HTTPFixture()
    yield server
    server.close()


# --------------------------------------------------------------------------- SMTP


class SMTPFixture:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        fixture = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                fixture.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[SMTPFixture]:
    server = SMTPFixture()
    yield server
    server.close()


# --------------------------------------------------------------------------- Redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server on a free port when the binary is on PATH, else REDIS_URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        url = os.environ.get("REDIS_URL")
        if not url:
            pytest.skip("needs redis-server on PATH or REDIS_URL")
        yield url
        return
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


# --------------------------------------------------------------------------- databases


def _postgres_database(base_url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"veille_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite always; PostgreSQL when VEILLE_TEST_POSTGRES_URL is set (CI sets it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'veille.db'}"
        return
    base = os.environ.get("VEILLE_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("PostgreSQL storage tests need VEILLE_TEST_POSTGRES_URL")
    yield from _postgres_database(base)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'veille.db'}"


# --------------------------------------------------------------------------- veille


@pytest.fixture
def veille_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[dict[str, str]]:
    """Environment for a veille process or in-process CLI: its own data dir and database, loopback allowed."""
    from veille.settings import get_settings

    for key in list(os.environ):
        if key.startswith("VEILLE_") and key != "VEILLE_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    env = {
        "VEILLE_DATA_DIR": str(tmp_path / "data"),
        "VEILLE_DATABASE_URL": sqlite_url,
        "VEILLE_ALLOW_PRIVATE_ADDRESSES": "1",
        "VEILLE_CONTACT_URL": "https://veille.test/contact",
        "VEILLE_LOG_LEVEL": "WARNING",
        # `veille run` starts the web server: each test on a port of its own, never the default 8080
        "VEILLE_WEB_LISTEN": f"127.0.0.1:{free_port()}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


@pytest.fixture
def make_web(veille_env: dict[str, str], database_url: str, tmp_path: Path) -> Iterator[Callable[..., Web]]:
    """Make `veille web` processes (:class:`tests.webserver.Web`, started with ``.start()``) on the test's
    database, each on a free port, with extra settings as keyword arguments; all stopped after the test."""
    from tests.webserver import Web

    started: list[Web] = []

    def make(**env: str) -> Web:
        merged = {**os.environ, **veille_env, "VEILLE_DATABASE_URL": database_url, "VEILLE_WEB_TIMEOUT": "2s",
                  "VEILLE_LOG_LEVEL": "INFO", **env}
        web = Web(merged, tmp_path / f"web-{len(started)}.log")
        started.append(web)
        return web

    yield make
    for web in started:
        web.stop()
