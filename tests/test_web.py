"""The web server as users and operators meet it: `veille web` as a real process on a free port, httpx or a raw
socket as the client, SQLite and (when VEILLE_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.webserver import VEILLE, Web, sign_in, wait_for
from veille.web.auth import FailureLimiter
from veille.web.security import CSP

HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff", "x-frame-options": "DENY",
           "referrer-policy": "same-origin"}


@pytest.fixture
def web(make_web: Callable[..., Web]) -> Web:
    return make_web().start()


def assert_secure_headers(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url, response.status_code, name)


def raw_request(port: int, head: bytes, body: bytes = b"", *, timeout: float = 15) -> tuple[bytes, bool]:
    """Send ``head`` and ``body`` on a socket of its own; return what came back and whether the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        received, closed = b"", False
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                received += chunk
        return received, closed


# --------------------------------------------------------------------------- probes


def test_healthz_and_readyz(web: Web, database_url: str) -> None:
    with web.client() as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
    # the schema goes back a revision (an old backup restored): not ready, and it says what to do
    from alembic import command
    from alembic.config import Config

    from veille.storage.db import MIGRATIONS, Database

    db = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    db.dispose()
    with web.client() as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["revision"] == "0005" and "veille init" in ready.json()["error"]
        assert ready.headers["retry-after"] == "5"
        assert client.get("/healthz").status_code == 200  # alive all the same


def test_readyz_says_503_while_the_database_is_unreachable(make_web: Callable[..., Web]) -> None:
    nowhere = free_port()  # nothing listens there
    web = make_web(VEILLE_DATABASE_URL=f"postgresql+psycopg://veille:s3cret@127.0.0.1:{nowhere}/veille").start()
    with web.client() as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "cannot reach the database" in ready.json()["error"] and "s3cret" not in ready.text
    assert_secure_headers(ready)


# --------------------------------------------------------------------------- headers, sizes, slow clients


def test_every_response_carries_the_security_headers(web: Web) -> None:
    token = web.token()
    with web.client() as client:
        responses = [
            client.get("/healthz"), client.get("/readyz"), client.get("/nowhere"), client.get("/api/v1/me"),
            client.get("/api/v1/nowhere"), client.get("/api/v1/me", headers={"X-Auth-Token": "wrong"}),
            client.get("/api/v1/nowhere", headers={"X-Auth-Token": token}),
            client.post("/api/v1/me", headers={"X-Auth-Token": token}),
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),
            client.get("/"), client.get("/login"), client.get("/websub/1/" + "x" * 32),
            client.post("/api/v1/me", content=b"x" * 5_000_000, headers={"X-Auth-Token": token}),
        ]
    assert [r.status_code for r in responses] == [200, 200, 404, 401, 401, 401, 404, 405, 200, 303, 200, 404, 413]
    for response in responses:
        assert_secure_headers(response)
    assert responses[3].json() == {"error": "authentication required: send Authorization: Bearer TOKEN or "
                                            "X-Auth-Token: TOKEN (`veille tokens create NAME` makes one)"}
    assert responses[6].json() == {"error": "no such endpoint"}
    assert responses[9].headers["location"] == "/login?next=/"


def test_a_10_mb_body_is_refused_unread_and_the_server_stays_fine(web: Web) -> None:
    token = web.token()
    assert web.process is not None
    status = Path(f"/proc/{web.process.pid}/status")

    def rss_kb() -> int:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read_text()).group(1))  # type: ignore[union-attr]

    before = rss_kb()
    ten_mb = b"x" * 10_000_000
    with web.client() as client:
        refused = client.post("/api/v1/me", content=ten_mb, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 413
        assert refused.json() == {"error": "request body over the 4194304-byte cap"}
        # announced but never sent: the answer comes at once; the connection is closed once the client has
        # not sent a new request head for VEILLE_WEB_TIMEOUT (2 s here)
        answer, closed = raw_request(web.port, b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n"
                                               b"Content-Type: application/x-www-form-urlencoded\r\n\r\n", b"name=")
        assert answer.startswith(b"HTTP/1.1 413 ") and closed
        # sent in chunks, without a length: cut at the cap (a sign-in form's: 16 KiB)
        def chunks() -> Iterator[bytes]:
            for _ in range(160):
                yield b"a" * 65536

        cut = client.post("/login", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert cut.status_code == 413 and cut.text == "request body over the 16384-byte cap\n"
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/me", headers={"X-Auth-Token": token}).status_code == 200
    assert rss_kb() - before < 8_000  # none of the bodies was kept in memory


def test_a_slow_client_is_cut_off(web: Web) -> None:
    """VEILLE_WEB_TIMEOUT is 2 s here: a body must arrive within 6 s, a request head within 2 s."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", web.port), timeout=15) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        sock.settimeout(0.4)
        answer = b""
        for _ in range(40):  # a byte every 0.4 s: never idle for 2 s, but far too slow
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(65536)
                break  # the answer, or the end: stop sending
            sock.sendall(b"a")
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 5 <= took < 12
    # a request head that never ends, and a connection that sends nothing: closed after 2 s
    for head in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b""):
        started = time.monotonic()
        answer, closed = raw_request(web.port, head, timeout=10)
        assert closed and answer == b"" and 1.5 <= time.monotonic() - started < 6
    with web.client() as client:
        assert client.get("/healthz").status_code == 200


# --------------------------------------------------------------------------- tokens


def test_the_api_needs_a_valid_token_sent_either_way(web: Web) -> None:
    token = web.token("ci")
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", token)
    with web.client() as client:
        for headers in ({}, {"Authorization": "Bearer " + "x" * 43}, {"X-Auth-Token": token[:-1]},
                        {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer"}):
            refused = client.get("/api/v1/me", headers=headers)
            assert refused.status_code == 401 and "error" in refused.json(), headers
            assert refused.headers["www-authenticate"].startswith("Bearer")
        for headers in ({"Authorization": f"Bearer {token}"}, {"X-Auth-Token": token}):
            me = client.get("/api/v1/me", headers=headers)
            assert me.status_code == 200 and me.json() == {"via": "token", "user": None, "token": "ci"}
    listed = web.veille("tokens", "list", "--json")
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "ci" and row["last_used_at"] is not None and token not in listed.stdout


def test_a_revoked_token_is_refused_at_once(web: Web) -> None:
    token = web.token("ci")
    with web.client(headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.get("/api/v1/me").status_code == 200
        assert web.veille("tokens", "revoke", "ci").returncode == 0
        refused = client.get("/api/v1/me")
        assert refused.status_code == 401 and refused.json() == {"error": "invalid or revoked token"}


def test_failed_attempts_are_limited_per_client_address(make_web: Callable[..., Web]) -> None:
    web = make_web(VEILLE_TRUSTED_PROXIES="127.0.0.1").start()
    token = web.token("ci")
    with web.client() as client:
        def me(value: str, client_address: str = "198.51.100.7") -> httpx.Response:
            return client.get("/api/v1/me", headers={"X-Auth-Token": value, "X-Forwarded-For": client_address})

        assert [me(f"wrong-{i}").status_code for i in range(5)] == [401] * 5
        limited = me("wrong-6")
        assert limited.status_code == 429 and 50 <= int(limited.headers["retry-after"]) <= 60
        assert "too many failed attempts" in limited.json()["error"]
        assert_secure_headers(limited)
        assert me(token).status_code == 429  # not even checked while the address is held back
        # another address (the trusted proxy says who the client is) is not held back
        assert me(token, "203.0.113.9").status_code == 200
        assert me("wrong", "203.0.113.9").status_code == 401
    # without a trusted proxy, X-Forwarded-For is not believed: a client cannot dodge the limit with it
    direct = make_web().start()
    with direct.client() as client:
        codes = [client.get("/api/v1/me", headers={"X-Auth-Token": "bad", "X-Forwarded-For": f"192.0.2.{i}"})
                 .status_code for i in range(7)]
    assert codes == [401] * 5 + [429] * 2


def test_the_limit_is_a_sliding_minute() -> None:
    now = [1000.0]
    limiter = FailureLimiter(clock=lambda: now[0])
    for _ in range(5):
        assert limiter.retry_after("a") is None
        limiter.fail("a")
        now[0] += 5
    # 5 failures within the minute (at 1000, 1005 ... 1020; now 1025): held back until the first is a minute old
    assert limiter.retry_after("a") == 35
    assert limiter.retry_after("b") is None
    now[0] = 1060.5  # the first failure left the window: 4 remain
    assert limiter.retry_after("a") is None
    limiter.fail("a")
    assert limiter.retry_after("a") == 5  # until the one at 1005 leaves


# --------------------------------------------------------------------------- sessions


def test_session_cookie_sign_in_csrf_and_sign_out(web: Web) -> None:
    assert web.veille("users", "add", "Alice", "--password-stdin", input="correct horse\n").returncode == 0
    with web.client() as client:
        page = client.get("/login")
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        # a form posted without its CSRF token: refused
        assert client.post("/login", data={"name": "alice", "password": "correct horse"}).status_code == 403
        wrong = sign_in(client, "alice", "wrong horse")
        assert wrong.status_code == 401 and "Wrong name or password." in wrong.text
        assert client.get("/api/v1/me").status_code == 401
        signed = sign_in(client, "alice", "correct horse")
        assert signed.status_code == 303 and signed.headers["location"] == "/api/v1/me"
        me = client.get("/api/v1/me")
        assert me.status_code == 200 and me.json() == {"via": "session", "user": "Alice", "token": None}
        # an API call that changes something, made with the cookie alone: needs the X-CSRF-Token header
        assert client.post("/api/v1/me").status_code == 403
        # a new password ends the session
        done = web.veille("users", "passwd", "alice", "--password-stdin", input="battery staple\n")
        assert done.returncode == 0, done.stderr
        assert client.get("/api/v1/me").status_code == 401
        assert sign_in(client, "alice", "battery staple").status_code == 303
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert csrf is not None
        assert client.post("/api/v1/me", headers={"X-CSRF-Token": csrf.group(1)}).status_code == 405  # past CSRF
        assert client.post("/logout", data={}).status_code == 403
        out = client.post("/logout", data={"csrf_token": csrf.group(1)})
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
        assert client.get("/api/v1/me").status_code == 401
        # only a path of this site after signing in
        assert sign_in(client, "alice", "battery staple", next_path="//evil.example/").headers["location"] == "/"


def test_secure_cookie_behind_a_trusted_tls_proxy_only(make_web: Callable[..., Web]) -> None:
    behind = make_web(VEILLE_TRUSTED_PROXIES="127.0.0.1/32").start()
    alone = make_web().start()
    for web, secure in ((behind, True), (alone, False)):
        with web.client() as client:
            cookie = client.get("/login", headers={"X-Forwarded-Proto": "https"}).headers["set-cookie"]
        assert ("; Secure" in cookie) is secure, (web.env.get("VEILLE_TRUSTED_PROXIES"), cookie)


def test_the_session_secret_is_made_once_and_shared_by_every_web_process(make_web: Callable[..., Web]) -> None:
    first = make_web().start()
    second = make_web().start()
    assert first.veille("users", "add", "bob", "--password-stdin", input="long enough\n").returncode == 0
    with first.client() as client:
        assert sign_in(client, "bob", "long enough").status_code == 303
        cookie = client.cookies["veille_session"]
    with second.client(cookies={"veille_session": cookie}) as other:
        assert other.get("/api/v1/me").json()["user"] == "bob"


# --------------------------------------------------------------------------- veille run


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["sigterm", "parent-killed"])
def test_veille_run_starts_the_web_server_and_stops_it(veille_env: dict[str, str], tmp_path: Path,
                                                        stop: str) -> None:
    port = free_port()
    env = {**os.environ, **veille_env, "VEILLE_WEB_LISTEN": f"127.0.0.1:{port}", "VEILLE_LOG_LEVEL": "INFO"}
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen([VEILLE, "run", "-c", "1"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)

    def port_open() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        return False

    try:
        def up() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            return False

        wait_for(up, "the web server of `veille run`", 60)
        wait_for(lambda: "Ctrl-C stops it." in log.read_text(errors="replace"), "the banner", 60)
        assert f"web server      http://127.0.0.1:{port}\n" in log.read_text(errors="replace")
        if stop == "sigterm":  # as systemd and docker stop do: the whole group, a clean exit
            os.killpg(process.pid, signal.SIGTERM)
            assert process.wait(30) == 0
            assert not port_open()
        else:  # `veille run` itself killed: its web server notices and stops within seconds
            process.kill()
            process.wait(10)
            wait_for(lambda: not port_open(), "the orphaned web server to stop", 15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(10)


def test_veille_web_says_why_it_cannot_listen(veille_env: dict[str, str]) -> None:
    env = {**os.environ, **veille_env}
    bad = subprocess.run([VEILLE, "web", "--listen", "nonsense"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "error: --listen: 'nonsense' is not HOST:PORT (e.g. 127.0.0.1:8080, or 0.0.0.0:8080 for every interface)"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["VEILLE_WEB_LISTEN"] = f"127.0.0.1:{port}"
        busy = subprocess.run([VEILLE, "web"], env=env, capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1
    assert busy.stderr.splitlines()[-1] == (f"error: cannot listen on 127.0.0.1:{port} (VEILLE_WEB_LISTEN): "
                                            f"Address already in use")
