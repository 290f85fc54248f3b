"""Email through the operator's SMTP server (``VEILLE_SMTP_URL``), text and HTML alternatives.

``VEILLE_SMTP_URL`` forms::

    smtp://host:25                       plain SMTP (a local relay)
    smtp://user:pass@host:587?starttls=true
    smtps://user:pass@host:465           implicit TLS

User and password are percent-decoded. SMTP answers map to AlertError as: 5xx on the sender,
a recipient or the data, and a refused login (535), are permanent; 4xx, refused connections,
timeouts and dropped connections are transient.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from veille.alerts.base import AlertError, AlertMessage, DigestMessage
from veille.alerts.render import (
    digest_html,
    digest_subject,
    digest_text,
    html_body,
    one_line,
    subject,
    text_body,
    truncate,
)
from veille.settings import Settings

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    implicit_tls: bool = False
    starttls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """Parse ``smtp://`` / ``smtps://`` URLs; ValueError names what is wrong (never the password)."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError(f"VEILLE_SMTP_URL must start with smtp:// or smtps://, not {scheme or '(none)'}://")
        if not parts.hostname:
            raise ValueError("VEILLE_SMTP_URL has no host (expected smtp://user:pass@host:port)")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError("VEILLE_SMTP_URL has an invalid port") from exc
        starttls = False
        for value in parse_qs(parts.query).get("starttls", []):
            if value.lower() not in _TRUE | _FALSE:
                raise ValueError(f"VEILLE_SMTP_URL: starttls must be true or false, not {value!r}")
            starttls = value.lower() in _TRUE
        implicit = scheme == "smtps"
        if implicit and starttls:
            raise ValueError("VEILLE_SMTP_URL: use smtps:// (implicit TLS) or ?starttls=true, not both")
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 587 if starttls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            implicit_tls=implicit,
            starttls=starttls,
        )


class EmailTransport:
    """Sends to one address with settings.smtp_url, from settings.email_from."""

    def __init__(self, to: str, settings: Settings, *, timeout: float | None = None) -> None:
        self.to = to
        self._settings = settings
        self._timeout = timeout if timeout is not None else settings.http_timeout

    def send(self, message: AlertMessage) -> None:
        email = self._envelope(subject(message))
        email.set_content(text_body(message))
        email.add_alternative(html_body(message), subtype="html")
        self._deliver(email)

    def send_digest(self, digest: DigestMessage) -> None:
        email = self._envelope(digest_subject(digest))
        email.set_content(digest_text(digest))
        email.add_alternative(digest_html(digest), subtype="html")
        self._deliver(email)

    def send_text(self, subject: str, body: str) -> None:
        email = self._envelope(truncate(one_line(subject), 250))
        email.set_content(body if body.endswith("\n") else body + "\n")
        self._deliver(email)

    def _envelope(self, subject_line: str) -> EmailMessage:
        email = EmailMessage(policy=SMTP)
        try:
            email["Subject"] = subject_line
            email["From"] = self._settings.email_from
            email["To"] = self.to
        except (ValueError, IndexError) as exc:
            raise AlertError(f"email: cannot build the message headers: {exc}", permanent=True) from exc
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = make_msgid(domain=_domain(self._settings.email_from))
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        return email

    def _deliver(self, email: EmailMessage) -> None:
        if not self._settings.smtp_url:
            raise AlertError("email: VEILLE_SMTP_URL is not set", permanent=True)
        try:
            config = SmtpConfig.from_url(self._settings.smtp_url)
        except ValueError as exc:
            raise AlertError(f"email: {exc}", permanent=True) from exc
        where = f"{config.host}:{config.port}"
        try:
            client = _connect(config, self._timeout)
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_error(exc, where) from exc
        try:
            if config.starttls:
                client.starttls(context=ssl.create_default_context())
            if config.username is not None:
                client.login(config.username, config.password or "")
            client.send_message(email, to_addrs=[self.to])
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            client.close()  # no QUIT: the server may be gone or hung, and waiting again helps no one
            raise smtp_error(exc, where) from exc
        _quit(client)

    def __repr__(self) -> str:
        return f"EmailTransport({self.to!r})"


def _connect(config: SmtpConfig, timeout: float) -> smtplib.SMTP:
    if config.implicit_tls:
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(config.host, config.port, timeout=timeout, context=context)
    return smtplib.SMTP(config.host, config.port, timeout=timeout)


def _quit(client: smtplib.SMTP) -> None:
    """Say goodbye after a delivery, without letting a failed QUIT turn it into an error."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _domain(address: str) -> str | None:
    _, addr = parseaddr(address)
    try:
        return Address(addr_spec=addr).domain or None
    except (ValueError, IndexError):
        return None


def smtp_error(exc: smtplib.SMTPException | OSError | UnicodeError, where: str) -> AlertError:
    """The AlertError an exception raised while talking to the SMTP server means."""
    if isinstance(exc, UnicodeError):  # smtplib sends logins and plain addresses as ASCII only
        return AlertError(
            f"email: {where}: cannot send non-ASCII text in the SMTP dialogue; "
            "use an ASCII user and password in VEILLE_SMTP_URL",
            permanent=True,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = list(exc.recipients.values())
        detail = "; ".join(f"{code} {_text(text)}" for code, text in answers)
        permanent = bool(answers) and all(code >= 500 for code, _ in answers)
        return AlertError(f"email: {where} refused the recipient: {detail}", permanent=permanent)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AlertError(
            f"email: {where} refused the login ({exc.smtp_code} {_text(exc.smtp_error)}); "
            "check the user and password in VEILLE_SMTP_URL",
            permanent=exc.smtp_code >= 500,
        )
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 530:
        return AlertError(
            f"email: {where} answered 530 {_text(exc.smtp_error)}; the server wants TLS or a login: "
            "add ?starttls=true (or use smtps://) and user:password to VEILLE_SMTP_URL",
            permanent=True,
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return AlertError(
            f"email: {where} refused the sender {exc.sender} ({exc.smtp_code} {_text(exc.smtp_error)}); "
            "check VEILLE_EMAIL_FROM",
            permanent=exc.smtp_code >= 500,
        )
    if isinstance(exc, smtplib.SMTPResponseException):  # data, HELO, connect greeting, other replies
        return AlertError(
            f"email: {where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
            permanent=exc.smtp_code >= 500,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        hint = "check smtps:// or ?starttls= in VEILLE_SMTP_URL"
        return AlertError(f"email: {where}: {exc} ({hint})", permanent=True)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message
        return AlertError(f"email: {where}: TLS certificate not trusted: {reason}", permanent=True)
    if isinstance(exc, TimeoutError | socket.timeout):
        return AlertError(f"email: timed out talking to {where}")
    if isinstance(exc, ConnectionRefusedError):
        return AlertError(f"email: connection refused by {where}; is the SMTP server running?")
    return AlertError(f"email: {where}: {type(exc).__name__}: {exc}")


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    return truncate(one_line(text), 200)
