"""Faults, against real processes: `veille run` keeps working, loses nothing and repeats nothing when a
worker process is killed, Redis goes away for 30 s, the SMTP server is down, two services share one
broker and one database, PostgreSQL restarts, and SQLite has many writers at once.

Each test starts what it breaks (its own redis-server, SMTP server, PostgreSQL cluster), so a restart
never disturbs another test or another engineer. Waits are generous but bounded: the machine is shared.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HTTPFixture, Request, Route, free_port
from tests.helpers import atom, veille

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("veille_env")]

VEILLE = str(Path(sys.executable).with_name("veille"))


# --------------------------------------------------------------------------- real parts


VOCABULARY = ("modèle langage recherche données calcul poids code équipe laboratoire article publication réseau "
              "voix texte image vidéo entraînement évaluation sécurité ouverture licence partenaire financement "
              "cluster serveur open source Paris Londres Berlin chercheur ingénieur étudiant conférence "
              "démonstration produit version benchmark latence mémoire contexte traduction dialogue agent outil")
WORDS = VOCABULARY.split()


def page(title: str, body: str) -> bytes:
    """An article page whose text is its own (different stories must not look like copies of one another)."""
    rng = random.Random(title)
    own = " ".join(" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(6))
    return (f"<html><head><title>{title}</title></head><body><nav>Accueil</nav><article><h1>{title}</h1>"
            f"<p>{body}</p><p>{own}</p></article></body></html>").encode()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, *logs: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.25)
    tails = "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


class Service:
    """`veille run` (worker with its beat) in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env, self.log, self.args = env, log, args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([VEILLE, "run", "--concurrency", "2", *self.args], env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def errors(self) -> list[str]:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if "database is locked" in line]


class RedisServer:
    """A redis-server of this test's own on a fixed port, that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("needs redis-server on PATH")
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open(self.port), 15, "redis-server to listen")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # abrupt, as a crash: no persistence, every queued message is lost
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def services(veille_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def make(*args: str, name: str = "service", **extra: str) -> Service:
        env = {**os.environ, **veille_env, "VEILLE_LOG_LEVEL": "INFO", "VEILLE_DISPATCH_EVERY": "1s",
               "VEILLE_STALE_AFTER": "8s", **extra}
        service = Service(env, tmp_path / f"{name}.log", *args)
        started.append(service)
        return service

    yield make
    for service in started:
        if service.process is not None and service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(10)


def slack_titles(web: HTTPFixture) -> list[str]:
    titles = []
    for request in web.hits("/slack", "POST"):
        text = json.loads(request.body).get("text", "")
        titles.append(text.split("\n", 1)[0])
    return titles


class Newsroom:
    """A feed that publishes Kyutai stories on demand (recording when it is polled), their pages, and Slack."""

    def __init__(self, web: HTTPFixture) -> None:
        self.web = web
        self.entries: list[dict[str, str]] = []
        self.feed = Route(atom([]), "application/atom+xml", etag='"0"')
        self.polled: list[float] = []
        web.routes["/slack"] = Route(b"ok", "text/plain")
        web.routes["/feed.xml"] = self._serve

    def _serve(self, request: Request) -> Route:
        self.polled.append(time.monotonic())
        return self.feed

    def publish(self, slug: str, title: str, *, delay: float = 0.0) -> None:
        self.web.routes[f"/{slug}"] = Route(page(title, f"{title}. Le laboratoire Kyutai l’annonce."), delay=delay)
        self.entries.append({"title": title, "link": self.web.url(f"/{slug}"), "id": f"urn:{slug}"})
        self.feed = Route(atom(self.entries), "application/atom+xml", etag=f'"{len(self.entries)}"')

    def subscribe(self, *channel: str, every: str = "2s") -> None:
        assert veille("feeds", "add", self.web.url("/feed.xml"), "--every", every).exit_code == 0
        assert veille("track", "add", "Kyutai").exit_code == 0
        assert veille("channels", "add", *(channel or ("slack", self.web.url("/slack")))).exit_code == 0

    def alerts(self) -> int:
        return len(self.web.hits("/slack", "POST"))

    def assert_each_alert_once(self, expected: int) -> None:
        titles = [t for t in slack_titles(self.web) if t]
        assert len(self.web.hits("/slack", "POST")) == expected, titles
        assert len(set(titles)) == len(titles), titles


class MailServer:
    """A real SMTP server (aiosmtpd) on a fixed port that can be stopped and started again; keeps what it got."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Any] = []
        self.controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        from email import message_from_bytes, policy

        from aiosmtpd.controller import Controller

        messages = self.messages

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# --------------------------------------------------------------------------- a worker process killed


def pids_connected_to(port: int) -> set[int]:
    """Processes holding an established TCP connection to 127.0.0.1:``port`` (read from /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # remote port, ESTABLISHED
                    inodes.add(fields[9])
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.add(int(entry.name))
                    break
    return pids


def test_worker_process_sigkilled_mid_fetch_is_replaced_and_the_task_redone(
    services: Callable[..., Service], web: HTTPFixture, redis: RedisServer
) -> None:
    """Only the pool process doing the work dies (the worker's main process lives on): the task is given
    back (acks late, reject on worker lost), done again by another process, and alerts once."""
    news = Newsroom(web)
    news.publish("slow", "Kyutai lève des fonds", delay=6)
    news.subscribe()
    service = services(VEILLE_BROKER_URL=redis.url).start()
    wait_for(lambda: bool(web.hits("/slow")), 60, "the slow page to be requested", service.log)
    victims = pids_connected_to(web.port) - {os.getpid()}
    assert victims, "no process is fetching the page"
    assert service.process is not None and service.process.pid not in victims
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: news.alerts() == 1, 90, "the alert after the pool process died", service.log)
    assert len(web.hits("/slow")) >= 2  # fetched again by another process
    assert service.process.poll() is None  # the worker itself never stopped
    time.sleep(10)  # longer than VEILLE_STALE_AFTER: nothing is sent again
    news.assert_each_alert_once(1)
    service.stop()


# --------------------------------------------------------------------------- the broker goes away


def test_redis_down_for_30s_then_back(services: Callable[..., Service], web: HTTPFixture,
                                      redis: RedisServer) -> None:
    news = Newsroom(web)
    news.publish("a1", "Kyutai présente Moshi")
    news.subscribe()
    service = services(VEILLE_BROKER_URL=redis.url).start()
    wait_for(lambda: news.alerts() == 1, 60, "the first alert", service.log)

    redis.stop()  # every queued message is lost with it
    news.publish("a2", "Kyutai publie ses poids")  # published while the broker is down
    time.sleep(30)
    assert service.process is not None and service.process.poll() is None, "the service died with its broker"
    assert news.alerts() == 1
    restarted = time.monotonic()
    redis.start()
    wait_for(lambda: news.alerts() == 2, 120, "the story published while Redis was down", service.log)
    took = time.monotonic() - restarted
    news.publish("a3", "Kyutai ouvre un bureau à Londres")  # and the service works on as before
    wait_for(lambda: news.alerts() == 3, 60, "a story published after Redis came back", service.log)
    time.sleep(10)
    news.assert_each_alert_once(3)
    print(f"\nalert for the story published during the outage: {took:.0f}s after Redis came back")
    service.stop()


# --------------------------------------------------------------------------- the mail server goes away


def test_smtp_down_then_back(services: Callable[..., Service], web: HTTPFixture, redis: RedisServer,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    mail = MailServer()
    mail.start()
    monkeypatch.setenv("VEILLE_SMTP_URL", mail.url)  # `channels add email` needs one configured
    news = Newsroom(web)
    news.subscribe("email", "analyst@test.example")
    service = services(VEILLE_BROKER_URL=redis.url, VEILLE_SMTP_URL=mail.url, VEILLE_EMAIL_FROM="veille@test.example",
                       VEILLE_DELIVERY_FIRST_RETRY="3s").start()
    try:
        news.publish("a1", "Kyutai présente Moshi")
        wait_for(lambda: len(mail.messages) == 1, 60, "the first email", service.log)

        mail.stop()  # the mail server goes down
        news.publish("a2", "Kyutai publie ses poids")
        news.publish("a3", "Kyutai recrute à Paris")
        retried = lambda: service.log.read_text(errors="replace").count("will be retried")  # noqa: E731
        wait_for(lambda: retried() >= 2, 60, "both alerts to fail once", service.log)
        time.sleep(10)  # down for a while: more failed attempts, nothing lost, nothing sent
        assert len(mail.messages) == 1

        mail.start()  # back, on the same port
        wait_for(lambda: len(mail.messages) == 3, 120, "the queued emails once SMTP is back", service.log)
        time.sleep(8)
        subjects = [m["Subject"] for m in mail.messages]
        assert len(subjects) == 3 and len(set(subjects)) == 3, subjects
    finally:
        mail.stop()
        service.stop()


# --------------------------------------------------------------------------- two services at once


def test_two_services_on_one_broker_and_one_database(services: Callable[..., Service], web: HTTPFixture,
                                                     redis: RedisServer) -> None:
    """Two `veille run` (two workers, two beats): each feed is polled once per interval, each alert sent once."""
    news = Newsroom(web)
    news.publish("a1", "Kyutai présente Moshi")
    news.subscribe(every="3s")
    first = services(name="first", VEILLE_BROKER_URL=redis.url).start()
    second = services(name="second", VEILLE_BROKER_URL=redis.url).start()
    wait_for(lambda: news.alerts() == 1, 60, "the first alert", first.log, second.log)
    for n, (slug, title) in enumerate([("a2", "Kyutai publie ses poids"), ("a3", "Kyutai recrute à Paris"),
                                       ("a4", "Kyutai ouvre un bureau à Londres")], 2):
        news.publish(slug, title)
        wait_for(lambda n=n: news.alerts() == n, 60, f"alert {n}", first.log, second.log)  # type: ignore[misc]
    time.sleep(15)
    news.assert_each_alert_once(4)
    gaps = [later - earlier for earlier, later in zip(news.polled[1:], news.polled[2:], strict=False)]
    assert len(gaps) >= 5, gaps
    assert min(gaps) >= 2.5, f"a 3 s feed polled twice within {min(gaps):.2f}s"  # never twice in an interval
    first.stop()
    second.stop()
    assert first.errors() == [] and second.errors() == []


# --------------------------------------------------------------------------- PostgreSQL restarts


def postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free port (run as `postgres` under root)."""

    def __init__(self) -> None:
        binaries = postgres_bin()
        if binaries is None:
            pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: the PostgreSQL restart test needs them")
        self.bin = binaries
        self.dir = Path(tempfile.mkdtemp(prefix="veille-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            account = pwd.getpwnam(self.user)
            os.chown(self.dir, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/veille"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
                               isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("CREATE DATABASE veille"))
        engine.dispose()

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    cluster.create_database()
    yield cluster
    cluster.remove()


def test_postgresql_restarted_mid_run(services: Callable[..., Service], web: HTTPFixture, redis: RedisServer,
                                      postgres: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_DATABASE_URL", postgres.url)
    news = Newsroom(web)
    news.publish("a1", "Kyutai présente Moshi")
    news.subscribe()
    service = services(VEILLE_BROKER_URL=redis.url, VEILLE_DATABASE_URL=postgres.url).start()
    wait_for(lambda: news.alerts() == 1, 60, "the first alert", service.log)

    postgres.stop()
    news.publish("a2", "Kyutai publie ses poids")
    time.sleep(8)  # the service meets a dead database for a while
    postgres.start()
    wait_for(lambda: news.alerts() == 2, 120, "the alert for the story published while PostgreSQL was down",
             service.log)
    news.publish("a3", "Kyutai recrute à Paris")
    wait_for(lambda: news.alerts() == 3, 60, "an alert after the restart", service.log)
    time.sleep(10)
    news.assert_each_alert_once(3)
    assert service.process is not None and service.process.poll() is None
    service.stop()


# --------------------------------------------------------------------------- SQLite, many writers


WRITER = """
import sys, time
from sqlalchemy import text
from veille.storage.db import Database
db = Database(sys.argv[1])
hold = float(sys.argv[2])
deadline = time.monotonic() + float(sys.argv[3])
n = 0
while time.monotonic() < deadline:
    def work(s, n=n):
        s.execute(text("UPDATE feeds SET failures = failures + 1"))
        time.sleep(hold)  # a long write transaction, as a worker storing a large feed
    db.run(work)
    n += 1
print(n)
"""


def test_sqlite_under_concurrent_writers_never_says_locked(tmp_path: Path, web: HTTPFixture,
                                                           veille_env: dict[str, str]) -> None:
    """Writers holding the lock for seconds at a time, and CLI commands and a poll alongside: every command
    succeeds and "database is locked" never reaches the user."""
    news = Newsroom(web)
    news.publish("a1", "Kyutai présente Moshi")
    news.subscribe()
    env = {**os.environ, **veille_env}
    url = veille_env["VEILLE_DATABASE_URL"]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(hold), "20"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for hold in (2.0, 0.5, 0.05)]
    commands = [["track", "add", f"Lab {i}"] for i in range(6)] + [
        ["feeds", "add", web.url("/feed.xml") + "?copy=1"], ["poll"], ["status"], ["channels", "list"],
        ["track", "list"], ["poll"]]
    outputs: list[tuple[list[str], int, str]] = []

    def run(args: list[str]) -> None:
        done = subprocess.run([VEILLE, *args], env=env, cwd=tmp_path, capture_output=True, timeout=180)
        outputs.append((args, done.returncode, (done.stdout + done.stderr).decode(errors="replace")))

    threads = []
    for args in commands:
        threads.append(threading.Thread(target=run, args=(args,)))
        threads[-1].start()
        time.sleep(0.5)
    for thread in threads:
        thread.join(200)
    writer_results = [w.communicate(timeout=120)[0].decode(errors="replace") for w in writers]
    assert all(w.returncode == 0 for w in writers), writer_results
    assert all(int(out.split()[-1]) > 0 for out in writer_results), writer_results
    failed = [(args, code, text[-500:]) for args, code, text in outputs if code != 0 or "locked" in text]
    assert len(outputs) == len(commands) and failed == []
    assert len(veille("track", "list", "--json").json()) == 7
    assert news.alerts() == 1
