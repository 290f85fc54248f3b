"""The web page at scale: ``python -m veille.bench pages``.

For each database (SQLite in a temporary folder; PostgreSQL in a scratch database created on the server that
``--postgres`` names, dropped afterwards): the sample data of :mod:`veille.bench.sample` (1,000 feeds, 100
entities, 100,000 articles by default), a user, then ``veille web`` as a process of its own; signed in like a
browser (the login form and its CSRF token), every page of :data:`PAGES` is asked for ``--requests`` times,
one request at a time, after one request to warm it up. A page that answers 404 is not built yet in this
version: it is listed as such, not timed. The figures (p50 and p95 of the time from sending the request to
the last byte of the answer, on loopback) come out side by side for both databases, with the targets of
issue 13: every page under 100 ms at p95, a full-text search under 200 ms.

Add a page to :data:`PAGES` as it is built: a name, its path (``{topic}``, ``{common}``, ``{entity}`` and
``{match}`` are filled from the sample), and whether it is a search.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PAGE_TARGET = 0.100  # seconds, p95
SEARCH_TARGET = 0.200
PASSWORD = "bench bench bench"

# (name, path, a search?)
PAGES: tuple[tuple[str, str, bool], ...] = (
    ("overview", "/", False),
    ("matches", "/matches", False),
    ("matches, page 3", "/matches?offset=100", False),
    ("matches of an entity", "/matches?entity={entity}", False),
    ("matches, last 7 days", "/matches?since=7d", False),
    ("a match explained", "/matches/{match}", False),
    ("search: a topic word", "/matches?q={topic}", True),
    ("search: a common word", "/matches?q={common}", True),
    ("search: two words", "/matches?q={topic}+{common}", True),
    ("search in an entity", "/matches?entity={entity}&q={common}", True),
    ("explain form", "/explain", False),
    ("entities", "/entities", False),
    ("feeds", "/feeds", False),
    ("channels", "/channels", False),
    ("settings", "/settings", False),
)


@dataclass(slots=True)
class Options:
    articles: int = 100_000
    feeds: int = 1000
    entities: int = 100
    requests: int = 30
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    postgres: str = DEFAULT_POSTGRES
    json_out: Path | None = None
    keep: bool = False


@dataclass(slots=True)
class Timing:
    name: str
    path: str
    search: bool
    status: int
    seconds: list[float] = field(default_factory=list)

    @property
    def built(self) -> bool:
        return self.status != 404

    def p(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else float("nan")

    @property
    def target(self) -> float:
        return SEARCH_TARGET if self.search else PAGE_TARGET


def say(text: str = "") -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def veille_binary() -> str:
    found = Path(sys.executable).with_name("veille")
    return str(found) if found.exists() else "veille"


def run(options: Options) -> dict[str, list[Timing]]:
    """Fill, serve and time each database; print the table; return the timings by database."""
    results: dict[str, list[Timing]] = {}
    say(f"web pages at scale: {options.feeds} feeds, {options.entities} entities, {options.articles} articles; "
        f"{options.requests} requests per page")
    for kind in options.databases:
        with tempfile.TemporaryDirectory(prefix=f"veille-bench-pages-{kind}-") as work:
            try:
                with _database(kind, options, Path(work)) as url:
                    results[kind] = _measure(kind, url, options, Path(work))
            except _Unavailable as exc:
                say(f"{kind}: skipped: {exc}")
            if options.keep:
                kept = Path(tempfile.mkdtemp(prefix="veille-bench-pages-kept-"))
                for item in Path(work).iterdir():
                    item.rename(kept / item.name)
                say(f"{kind}: work directory kept in {kept}")
    report(results)
    if options.json_out is not None:
        options.json_out.write_text(json.dumps(
            {kind: [{**asdict(t), "p50": t.p(0.5), "p95": t.p(0.95)} for t in timings]
             for kind, timings in results.items()}, indent=2) + "\n")
    return results


class _Unavailable(RuntimeError):
    pass


@contextlib.contextmanager
def _database(kind: str, options: Options, work: Path) -> Any:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'veille.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    name = f"veille_bench_pages_{secrets.token_hex(4)}"
    admin = create_engine(options.postgres, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        raise _Unavailable(f"cannot create a scratch database on {make_url(options.postgres).render_as_string()}: "
                           f"{str(exc).splitlines()[0]}") from exc
    try:
        yield make_url(options.postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        if not options.keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            say(f"postgresql: scratch database {name} kept")
        admin.dispose()


def _measure(kind: str, url: str, options: Options, work: Path) -> list[Timing]:
    from veille.bench.sample import fill
    from veille.manage.accounts import add_user
    from veille.storage.db import Database

    db = Database(url)
    try:
        db.upgrade()
        say(f"{kind}: filling the database")
        sample = fill(db, articles=options.articles, feeds=options.feeds, entities=options.entities,
                      say=lambda line: say(f"{kind}:{line}"))
        add_user(db, name="bench", password=PASSWORD)
    finally:
        db.dispose()
    size = _size(kind, url, work)
    say(f"{kind}: {sample.articles} articles, {sample.matches} matches, {sample.alerts} alerts stored in "
        f"{sample.seconds:.0f} s{f'; {size / 1e6:.0f} MB' if size else ''}")
    values = {"topic": sample.topic_word, "common": sample.common_word, "entity": quote_plus(sample.entity),
              "match": str(sample.match_id // 2)}
    with serve(url, work) as base:
        cookies = sign_in(base)
        return [_time(base, cookies, name, path.format(**values), search, options.requests)
                for name, path, search in PAGES]


def _size(kind: str, url: str, work: Path) -> int:
    if kind == "sqlite":
        return sum(f.stat().st_size for f in work.glob("veille.db*"))
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)
    finally:
        engine.dispose()


@contextlib.contextmanager
def serve(url: str, work: Path, **more: str) -> Any:
    """``veille web`` on a free port against ``url`` (``more``: other settings); its address."""
    import httpx

    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")},
           "VEILLE_DATABASE_URL": url, "VEILLE_DATA_DIR": str(work / "data"), "VEILLE_WEB_LISTEN": f"127.0.0.1:{port}",
           "VEILLE_LOG_LEVEL": "WARNING", **more}
    log = (work / "web.log").open("wb")
    process = subprocess.Popen([veille_binary(), "web"], env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"veille web stopped: {(work / 'web.log').read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("veille web did not become ready within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(base: str, name: str = "bench", password: str = PASSWORD) -> dict[str, str]:
    """Sign in as a browser does (the form's CSRF token, then the POST); the session's cookies."""
    import httpx

    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        form = client.get("/login")
        token = _CSRF.search(form.text)
        if token is None:
            raise RuntimeError("the sign-in form has no CSRF token")
        done = client.post("/login", data={"name": name, "password": password, "csrf_token": token.group(1),
                                           "next": "/"})
        if done.status_code != 303:
            raise RuntimeError(f"sign-in failed: {done.status_code} {done.text[:200]}")
        return dict(client.cookies)


def _time(base: str, cookies: dict[str, str], name: str, path: str, search: bool, requests: int) -> Timing:
    import httpx

    with httpx.Client(base_url=base, cookies=cookies, trust_env=False, timeout=60) as client:
        first = client.get(path)
        timing = Timing(name, path, search, first.status_code)
        if first.status_code == 404 and not path.startswith("/matches/"):
            return timing
        if first.status_code != 200:
            raise RuntimeError(f"{path}: {first.status_code} {first.text[:300]}")
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get(path)
            answer.read()
            timing.seconds.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise RuntimeError(f"{path}: {answer.status_code}")
    return timing


def report(results: dict[str, list[Timing]], out: Callable[[str], None] = say) -> None:
    """p50 / p95 per page, a column per database, and whether each meets its target."""
    if not results:
        out("no database measured")
        return
    kinds = list(results)
    names = [(t.name, t.path, t.search) for t in next(iter(results.values()))]
    width = max(len(name) for name, _, _ in names)
    head = f"{'page':<{width}}  " + "  ".join(f"{k + ' p50 / p95 (ms)':>26}" for k in kinds) + "  target (p95)"
    out("")
    out(head)
    out("-" * len(head))
    missed = []
    for index, (name, _, search) in enumerate(names):
        cells = []
        for kind in kinds:
            timing = results[kind][index]
            if not timing.built:
                cells.append(f"{'not built yet':>26}")
                continue
            p50, p95 = timing.p(0.5) * 1000, timing.p(0.95) * 1000
            ok = timing.p(0.95) <= timing.target
            if not ok:
                missed.append(f"{name} on {kind}")
            cells.append(f"{p50:>11.1f} / {p95:>7.1f} {'ok' if ok else 'SLOW':>4}")
        out(f"{name:<{width}}  " + "  ".join(cells) + f"  {(SEARCH_TARGET if search else PAGE_TARGET) * 1000:.0f} ms")
    out("")
    out("every page meets its target" if not missed else "over target: " + ", ".join(missed))
