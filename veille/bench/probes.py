"""What the runner measures with: processes timed like ``/usr/bin/time -v``, CPU and memory from /proc,
a loopback webhook receiver, an SMTP sink and a throwaway Redis."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from veille.bench.farm import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- whole processes


@dataclass(frozen=True, slots=True)
class ProcessRun:
    """A finished process, as ``/usr/bin/time -v`` reports it (children it waited for included)."""

    command: str
    wall: float
    user: float
    system: float
    max_rss_kb: int
    returncode: int
    output: str

    @property
    def cpu(self) -> float:
        return self.user + self.system


def timed_run(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 900.0, label: str | None = None
) -> ProcessRun:
    """Run ``argv`` to completion; wall clock from fork to exit, CPU and peak RSS from wait4."""
    log = cwd / f".{label or Path(argv[0]).name}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return ProcessRun(
        command=" ".join(argv),
        wall=wall,
        user=usage.ru_utime,
        system=usage.ru_stime,
        max_rss_kb=usage.ru_maxrss,
        returncode=process.returncode,
        output=log.read_text(errors="replace"),
    )


# --------------------------------------------------------------------------- /proc


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants that are alive now."""
    tree = _children()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of the processes, including the children they reaped."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the ")": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
        total += sum(int(x) for x in fields[11:15])
    return total / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class Memory:
    pid: int
    command: str
    rss_mb: float
    peak_mb: float


def memory(pids: Sequence[int]) -> list[Memory]:
    out = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        values = {}
        for line in status.splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        out.append(Memory(pid, cmdline.strip()[:80], values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)))
    return out


# --------------------------------------------------------------------------- receivers


@dataclass(slots=True)
class Arrival:
    at: float
    body: dict[str, Any]


class WebhookReceiver:
    """A loopback HTTP server that records every JSON POST with its arrival time."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with contextlib.suppress(ValueError):
                    receiver.arrivals.append(Arrival(time.time(), json.loads(raw)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hangs up early is no news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def alerts(self) -> list[Arrival]:
        """One arrival per alert: a summary (``"event": "digest"``, sent when a burst piles up) counts
        for each alert it carries."""
        out = []
        for arrival in list(self.arrivals):
            if arrival.body.get("event") == "alert":
                out.append(arrival)
            elif arrival.body.get("event") == "digest":
                out.extend(Arrival(arrival.at, item) for item in arrival.body.get("alerts") or [])
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SMTPSink:
    """A loopback SMTP server (aiosmtpd) that counts messages."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.times: list[float] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.times.append(time.time())
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def count(self) -> int:
        return len(self.times)

    def close(self) -> None:
        self.controller.stop()


@dataclass(slots=True)
class Redis:
    process: subprocess.Popen[bytes]
    url: str

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start_redis(workdir: Path) -> Redis:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("the bench needs redis-server on PATH (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return Redis(process, f"redis://127.0.0.1:{port}/0")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start within 10 s")


@dataclass(slots=True)
class Sampler:
    """CPU of a process tree (and extra processes) between two instants."""

    root: int
    extra: list[int] = field(default_factory=list)

    def cpu(self) -> tuple[float, float]:
        """(service tree CPU, extra processes' CPU) in seconds so far."""
        return cpu_seconds(process_tree(self.root)), cpu_seconds(self.extra)


@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
