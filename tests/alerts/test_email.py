from __future__ import annotations

from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from veille.alerts import AlertError, EntityMention, make_transport
from veille.alerts.email import EmailTransport, SmtpConfig
from veille.settings import Settings

from .conftest import SmtpServer, TlsFiles, make_message


def _settings(settings: Settings, smtp_url: str | None) -> Settings:
    return settings.model_copy(update={"smtp_url": smtp_url})


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}"
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_alert_arrives_with_text_and_html(smtp_server: SmtpServer, settings: Settings) -> None:
    config = _settings(settings, f"smtp://127.0.0.1:{smtp_server.port}")
    mentions = (EntityMention("Hervé Jégou", "Jégou", "Le chercheur Jégou rejoint Kyutai", (13, 18)),)
    message = make_message(title="<script>alert(1)</script> Hervé Jégou rejoint Kyutai", mentions=mentions)
    make_transport("email", "Ops@Example.ORG", {}, config).send(message)

    [delivered] = smtp_server.delivered
    assert delivered.mail_from == "veille@veille.test"
    assert delivered.rcpt_tos == ["Ops@example.org"]
    email = delivered.message
    assert email.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "text/html"]
    assert email["Subject"] == "[veille] Hervé Jégou: <script>alert(1)</script> Hervé Jégou rejoint Kyutai"
    raw_subject = delivered.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "=?utf-8?" in raw_subject.lower()  # RFC 2047, the headers stay ASCII
    assert email["From"] == "veille@veille.test"
    assert email["To"] == "Ops@example.org"
    assert email["Message-ID"].startswith("<") and email["Message-ID"].endswith("@veille.test>")
    assert parsedate_to_datetime(email["Date"]).tzinfo is not None
    assert email["Auto-Submitted"] == "auto-generated"

    text = _part(email, "plain")
    assert "Le chercheur *Jégou* rejoint Kyutai" in text
    assert "https://news.example/articles/42?utm=x&id=7" in text
    html = _part(email, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Hervé Jégou rejoint Kyutai" in html
    assert "<mark" in html and "<strong>Jégou</strong></mark>" in html
    assert 'href="https://news.example/articles/42?utm=x&amp;id=7"' in html


def test_title_cannot_inject_headers(smtp_server: SmtpServer, settings: Settings) -> None:
    config = _settings(settings, f"smtp://127.0.0.1:{smtp_server.port}")
    message = make_message(title="Hello\r\nBcc: x@y.example\r\n\r\nforged body")
    make_transport("email", "ops@example.org", {}, config).send(message)

    [delivered] = smtp_server.delivered
    assert delivered.rcpt_tos == ["ops@example.org"]
    email = delivered.message
    assert email["Bcc"] is None
    assert email["Subject"] == "[veille] Kyutai, Mistral AI: Hello Bcc: x@y.example forged body"
    headers = delivered.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers


def test_send_text_is_a_plain_message(smtp_server: SmtpServer, settings: Settings) -> None:
    config = _settings(settings, f"smtp://127.0.0.1:{smtp_server.port}")
    make_transport("email", "ops@example.org", {}, config).send_text("veille test\nmessage", "It works.\nBye")

    email = smtp_server.delivered[0].message
    assert email.get_content_type() == "text/plain"
    assert email["Subject"] == "veille test message"
    assert email.get_content().replace("\r\n", "\n") == "It works.\nBye\n"


def test_missing_smtp_url_is_permanent(settings: Settings) -> None:
    with pytest.raises(AlertError, match="VEILLE_SMTP_URL is not set") as caught:
        make_transport("email", "ops@example.org", {}, settings).send(make_message())
    assert caught.value.permanent is True


def test_connection_refused_is_transient(refused_port: int, settings: Settings) -> None:
    config = _settings(settings, f"smtp://127.0.0.1:{refused_port}")
    with pytest.raises(AlertError, match="connection refused") as caught:
        make_transport("email", "ops@example.org", {}, config).send(make_message())
    assert caught.value.permanent is False


def test_silent_server_times_out_transiently(silent_port: int, settings: Settings) -> None:
    config = _settings(settings, f"smtp://127.0.0.1:{silent_port}")
    with pytest.raises(AlertError, match="timed out") as caught:
        EmailTransport("ops@example.org", config, timeout=0.3).send(make_message())
    assert caught.value.permanent is False


@pytest.mark.parametrize(
    ("rcpt_reply", "data_reply", "permanent", "said"),
    [
        ("550 5.1.1 No such user", None, True, "550"),
        ("553 5.1.3 Bad address", None, True, "553"),
        ("450 4.2.1 Mailbox busy", None, False, "450"),
        ("451 4.3.0 Try again later", None, False, "451"),
        (None, "554 5.6.0 Message rejected as spam", True, "554"),
        (None, "552 5.3.4 Message too big", True, "552"),
        (None, "451 4.3.0 Local problem", False, "451"),
        (None, "421 4.7.0 Closing connection", False, "421"),
    ],
)
def test_smtp_refusals(
    smtp_server: SmtpServer,
    settings: Settings,
    rcpt_reply: str | None,
    data_reply: str | None,
    permanent: bool,
    said: str,
) -> None:
    smtp_server.rcpt_reply, smtp_server.data_reply = rcpt_reply, data_reply
    config = _settings(settings, f"smtp://127.0.0.1:{smtp_server.port}")
    with pytest.raises(AlertError) as caught:
        make_transport("email", "ops@example.org", {}, config).send(make_message())
    assert caught.value.permanent is permanent
    assert said in str(caught.value)
    assert str(caught.value).startswith("email: ")
    assert smtp_server.delivered == []


def test_login_with_percent_encoded_password(smtp_auth_server: SmtpServer, settings: Settings) -> None:
    config = _settings(settings, f"smtp://alerts:p%40ss%3Aw%2Frd@127.0.0.1:{smtp_auth_server.port}")
    make_transport("email", "ops@example.org", {}, config).send(make_message())
    assert smtp_auth_server.logins == ["alerts"]
    assert len(smtp_auth_server.delivered) == 1


def test_refused_login_is_permanent_and_hides_the_password(
    smtp_auth_server: SmtpServer, settings: Settings
) -> None:
    config = _settings(settings, f"smtp://alerts:wrong-pass@127.0.0.1:{smtp_auth_server.port}")
    with pytest.raises(AlertError, match="535") as caught:
        make_transport("email", "ops@example.org", {}, config).send(make_message())
    assert caught.value.permanent is True
    assert "check the user and password in VEILLE_SMTP_URL" in str(caught.value)
    assert "wrong-pass" not in str(caught.value)
    assert smtp_auth_server.delivered == []


def test_non_ascii_password_is_permanent(smtp_auth_server: SmtpServer, settings: Settings) -> None:
    config = _settings(settings, f"smtp://alerts:p%C3%A4ss@127.0.0.1:{smtp_auth_server.port}")
    with pytest.raises(AlertError, match="ASCII user and password") as caught:
        make_transport("email", "ops@example.org", {}, config).send(make_message())
    assert caught.value.permanent is True
    assert "päss" not in str(caught.value)


def test_starttls_on_a_server_without_it_is_permanent(smtp_server: SmtpServer, settings: Settings) -> None:
    config = _settings(settings, f"smtp://127.0.0.1:{smtp_server.port}?starttls=true")
    with pytest.raises(AlertError, match="STARTTLS") as caught:
        make_transport("email", "ops@example.org", {}, config).send(make_message())
    assert caught.value.permanent is True
    assert smtp_server.delivered == []


def test_invalid_smtp_url_is_permanent(settings: Settings) -> None:
    config = _settings(settings, "imap://user:hunter2@mail.example")
    with pytest.raises(AlertError, match="smtp:// or smtps://") as caught:
        make_transport("email", "ops@example.org", {}, config).send(make_message())
    assert caught.value.permanent is True
    assert "hunter2" not in str(caught.value)


def test_bad_sender_setting_is_permanent(smtp_server: SmtpServer, settings: Settings) -> None:
    config = settings.model_copy(
        update={"smtp_url": f"smtp://127.0.0.1:{smtp_server.port}", "email_from": "veille@x\r\nBcc: y@z"}
    )
    with pytest.raises(AlertError, match="headers") as caught:
        make_transport("email", "ops@example.org", {}, config).send(make_message())
    assert caught.value.permanent is True
    assert smtp_server.delivered == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", SmtpConfig("mail.example", 25)),
        ("smtp://mail.example:2525", SmtpConfig("mail.example", 2525)),
        ("smtp://u:p@mail.example?starttls=true", SmtpConfig("mail.example", 587, "u", "p", starttls=True)),
        ("smtp://u:p@mail.example:25?starttls=1", SmtpConfig("mail.example", 25, "u", "p", starttls=True)),
        ("smtp://mail.example?starttls=false", SmtpConfig("mail.example", 25)),
        ("smtps://u%40x.org:p%3A%2F@mail.example", SmtpConfig("mail.example", 465, "u@x.org", "p:/", True)),
        ("SMTPS://mail.example:4650", SmtpConfig("mail.example", 4650, implicit_tls=True)),
        ("smtp://apikey:@smtp.example", SmtpConfig("smtp.example", 25, "apikey", "")),
    ],
)
def test_smtp_url_forms(url: str, expected: SmtpConfig) -> None:
    assert SmtpConfig.from_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mail.example:25", "smtp:// or smtps://"),
        ("http://mail.example", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://mail.example:notaport", "invalid port"),
        ("smtp://mail.example?starttls=maybe", "starttls must be true or false"),
        ("smtps://mail.example?starttls=true", "not both"),
    ],
)
def test_smtp_url_mistakes(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        SmtpConfig.from_url(url)


def test_smtps_delivers_over_implicit_tls(
    tls_files: TlsFiles, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))  # trust the test CA, as an operator's CA
    server = SmtpServer(login=("alerts", "secret"), ssl_context=tls_files.server_context())
    try:
        config = _settings(settings, f"smtps://alerts:secret@127.0.0.1:{server.port}")
        make_transport("email", "ops@example.org", {}, config).send(make_message())
    finally:
        server.close()
    assert len(server.delivered) == 1


def test_starttls_upgrades_before_login(
    tls_files: TlsFiles, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    server = SmtpServer(tls_context=tls_files.server_context(), require_starttls=True)
    try:
        config = _settings(settings, f"smtp://127.0.0.1:{server.port}?starttls=true")
        make_transport("email", "ops@example.org", {}, config).send(make_message())
        plain = _settings(settings, f"smtp://127.0.0.1:{server.port}")
        with pytest.raises(AlertError, match=r"530 .*add \?starttls=true") as caught:
            make_transport("email", "ops@example.org", {}, plain).send(make_message())
    finally:
        server.close()
    assert len(server.delivered) == 1
    assert caught.value.permanent is True


def test_untrusted_certificate_is_permanent(
    tls_files: TlsFiles, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    server = SmtpServer(ssl_context=tls_files.server_context())
    try:
        config = _settings(settings, f"smtps://127.0.0.1:{server.port}")
        with pytest.raises(AlertError, match="certificate not trusted") as caught:
            make_transport("email", "ops@example.org", {}, config).send(make_message())
    finally:
        server.close()
    assert caught.value.permanent is True
    assert server.delivered == []
