"""`veille run` says what it runs (its banner) and `veille status` tells a running service from a stopped one;
`make run` installs no development tools."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss

VEILLE = str(Path(sys.executable).with_name("veille"))
ROOT = Path(__file__).resolve().parent.parent


def veille(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([VEILLE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


class Service:
    """`veille run` in its own process group; stdout and stderr in one log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([VEILLE, "run", "--concurrency", "1"], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return self.output()
            assert self.process is not None and self.process.poll() is None, self.output()[-4000:]
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} after {timeout}s:\n{self.output()[-4000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def env(veille_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **veille_env, "VEILLE_LOG_LEVEL": "INFO", "VEILLE_DISPATCH_EVERY": "1s"}


@pytest.fixture
def service(env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    svc = Service(env, tmp_path / "service.log")
    yield svc
    svc.stop()


def watch(web: HTTPFixture, env: dict[str, str]) -> None:
    web.routes["/feed.xml"] = Route(rss([], title="Lab news"), "application/rss+xml")
    veille(env, "feeds", "add", web.url("/feed.xml"))
    veille(env, "track", "add", "Kyutai")
    veille(env, "track", "add", "Mistral AI")


@pytest.mark.slow
def test_run_prints_its_banner_last(service: Service, env: dict[str, str], web: HTTPFixture) -> None:
    """On the embedded broker, as `make run` starts it: no channel, so alerts go to the log."""
    watch(web, env)
    service.start()
    text = service.wait_for("Ctrl-C stops it.")
    banner = text[text.index("veille is running"):]
    data = Path(env["VEILLE_DATA_DIR"]).resolve()
    assert "veille is running: a worker (1 process) and the beat." in banner
    assert f"data directory  {data}" in banner
    assert f"database        {env['VEILLE_DATABASE_URL']}" in banner
    assert f"broker          sqla+sqlite:///{data / 'broker.db'} (embedded" in banner
    assert "watching        1 feed for 2 tracked entities" in banner
    assert "alerts go to    the log (no channel yet)" in banner
    assert "veille channels add slack https://hooks.slack.com/services/..." in banner
    assert "veille status" in banner
    # after Celery's own start-up lines: its banner is above ours
    assert text.index("[tasks]") < text.index("veille is running")


@pytest.mark.slow
def test_status_tells_a_running_service_from_a_stopped_one(
    service: Service, env: dict[str, str], web: HTTPFixture, redis_url: str
) -> None:
    env["VEILLE_BROKER_URL"] = redis_url
    service.env = env
    watch(web, env)
    web.routes["/slack"] = Route(b"ok", "text/plain")
    veille(env, "channels", "add", "slack", web.url("/slack"), "--name", "research")
    assert veille(env, "status").splitlines()[0].startswith("service: never started; 1 feed ok; 1 channel ok;")

    service.start()
    banner = service.wait_for("Ctrl-C stops it.")
    assert "alerts go to    1 channel: research (slack)" in banner
    assert f"broker          {redis_url}\n" in banner

    deadline = time.monotonic() + 60
    while not (line := veille(env, "status").splitlines()[0]).startswith("service: running, beat "):
        assert time.monotonic() < deadline, (line, service.output()[-3000:])
        time.sleep(0.5)
    assert line.endswith(" ago; 1 feed ok; 1 channel ok; no alert pending"), line
    state = json.loads(veille(env, "status", "--json"))["service"]
    assert state["running"] is True and state["last_beat"]
    (worker,) = state["workers"]
    assert worker["pid"] > 0 and worker["host"] and worker["last_seen"] and worker["name"].startswith("worker@")

    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGTERM)  # a clean stop, as systemd and docker stop do
    assert service.process.wait(60) == 0
    line = veille(env, "status").splitlines()[0]
    assert line.startswith("service: not running (last seen "), line
    state = json.loads(veille(env, "status", "--json"))["service"]
    assert state["running"] is False and state["workers"] == []


def make_dry_run(tmp_path: Path, target: str) -> list[str]:
    """The commands `make TARGET` would run in a fresh copy of the project (`make -n`)."""
    for name in ("Makefile", "pyproject.toml"):
        if not (tmp_path / name).exists():
            shutil.copy(ROOT / name, tmp_path / name)
    # as a top-level make: under `make test` the inherited MAKELEVEL/MAKEFLAGS add "Entering directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_installs_the_runtime_dependencies_only(tmp_path: Path) -> None:
    run = make_dry_run(tmp_path, "run")
    installs = [line for line in run if "pip install" in line and "--upgrade pip" not in line]
    assert installs == [".venv/bin/python -m pip install --quiet -e ."]
    assert run[-1] == ".venv/bin/veille run"

    test = make_dry_run(tmp_path, "test")
    assert ".venv/bin/python -m pip install --quiet -e '.[dev]'" in test

    # installed once: neither installs again until pyproject.toml changes
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed-dev").touch()
    (venv / ".installed-run").touch()
    assert not [line for line in make_dry_run(tmp_path, "run") if "pip" in line]
    assert not [line for line in make_dry_run(tmp_path, "test") if "pip" in line]
