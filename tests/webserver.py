"""`veille web` as a real process for tests: :class:`Web` starts it on a free port (SQLite or PostgreSQL, the
settings of :func:`tests.conftest.veille_env`) and runs the `veille` command with the same settings; the
``make_web`` fixture (tests/conftest.py) makes them and stops them after the test."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

VEILLE = str(Path(sys.executable).with_name("veille"))


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Web:
    """`veille web` in a process of its own, and the `veille` command with the same settings."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *args: str, wait: bool = True) -> Web:
        self.env["VEILLE_WEB_LISTEN"] = f"127.0.0.1:{self.port}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([VEILLE, "web", *args], env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            wait_for(self.healthy, f"veille web on port {self.port}\n{self.output()}", 30)
        return self

    def healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.output()
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, trust_env=False, timeout=20, **kwargs)

    def veille(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([VEILLE, *args], env=self.env, input=input, capture_output=True, text=True,
                              timeout=120)

    def token(self, name: str = "ci", *args: str) -> str:
        done = self.veille("tokens", "create", name, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def sign_in(client: httpx.Client, name: str, password: str, *, next_path: str = "/api/v1/me") -> httpx.Response:
    form = client.get("/login", params={"next": next_path})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert form.status_code == 200 and csrf, form.text
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf.group(1),
                                       "next": next_path})
