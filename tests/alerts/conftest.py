"""Real parts for the alert channel tests: an HTTP receiver and an SMTP server on loopback."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from veille.alerts import AlertMessage, EntityMention
from veille.settings import Settings

USER_AGENT_CONTACT = "https://veille.test/contact"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        contact_url=USER_AGENT_CONTACT,
        email_from="veille@veille.test",
        http_timeout=5.0,
        smtp_url=None,
    )


def make_message(
    *,
    title: str = "Kyutai and Mistral AI release an open model",
    url: str = "https://news.example/articles/42?utm=x&id=7",
    source: str = "Example News",
    published: datetime | None = datetime(2024, 7, 3, 9, 30, tzinfo=UTC),
    mentions: tuple[EntityMention, ...] | None = None,
    also_covered_by: tuple[tuple[str, str], ...] = (),
) -> AlertMessage:
    if mentions is None:
        mentions = (
            EntityMention("Kyutai", "Kyutai", "The Paris lab Kyutai said on Wednesday", (14, 20)),
            EntityMention("Mistral AI", "Mistral", "while Mistral released weights", (6, 13)),
        )
    return AlertMessage(title, url, source, published, mentions, also_covered_by)


# --------------------------------------------------------------------------- HTTP receiver


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is what some tests want


class Receiver:
    """A real HTTP server on 127.0.0.1 (port 0) that records each request and answers ``reply``."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.reply = Reply()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Captured(self.command, self.path, headers, body))
                reply = receiver.reply
                if reply.delay:
                    receiver._release.wait(reply.delay)
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (backlog) but never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


# --------------------------------------------------------------------------- SMTP server


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Controller(Controller):
    """aiosmtpd's Controller, able to listen on port 0 (it connects to itself once started)."""

    def _trigger_server(self) -> None:
        server: Any = self.server
        self.port = int(server.sockets[0].getsockname()[1])
        super()._trigger_server()


class SmtpServer:
    """A real aiosmtpd server on 127.0.0.1; set ``rcpt_reply``/``data_reply`` to refuse."""

    def __init__(self, *, login: tuple[str, str] | None = None, **controller_options: Any) -> None:
        self.delivered: list[Delivered] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.logins: list[str] = []
        server = self

        class Handler:
            async def handle_RCPT(
                self, smtp: Any, session: Any, envelope: Any, address: str, options: list[str]
            ) -> str:
                if server.rcpt_reply:
                    return server.rcpt_reply
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
                if server.data_reply:
                    return server.data_reply
                delivered = Delivered(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
                server.delivered.append(delivered)
                return "250 Message accepted"

        def authenticate(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            user = data.login.decode() if isinstance(data.login, bytes) else str(data.login)
            password = data.password.decode() if isinstance(data.password, bytes) else str(data.password)
            server.logins.append(user)
            ok = (user, password) == login
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

        if login is not None:
            controller_options.update(authenticator=authenticate, auth_require_tls=False)
        self.controller = _Controller(Handler(), hostname="127.0.0.1", port=0, **controller_options)
        self.controller.start()
        self.port = self.controller.port

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    server = SmtpServer(login=("alerts", "p@ss:w/rd"))
    yield server
    server.close()


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # a CA certificate that signed ``cert`` (point SSL_CERT_FILE here to trust it)
    cert: Path  # a server certificate for 127.0.0.1
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def make_tls_files(folder: Path) -> TlsFiles:
    """Write a throwaway CA and a certificate for 127.0.0.1 signed by it into ``folder``."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "veille test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files
