"""The web page at scale: the benchmark that times every page (`python -m veille.bench pages`, in `make bench`),
its sample data, and what it found: answers that waited 40 ms for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.webserver import Web


def test_accepted_connections_send_small_writes_at_once() -> None:
    """The listening socket says it is TCP, so asyncio turns Nagle's algorithm off on every connection:
    an answer written as headers then body no longer waits for the client's delayed ACK (40 ms)."""
    from veille.web.server import bind

    listener = bind("127.0.0.1", 0)
    listener.listen()

    async def accept_one() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            value = await asyncio.wait_for(seen, 10)
            writer.close()
            return value

    assert asyncio.run(accept_one()) != 0


def test_requests_on_one_connection_answer_in_milliseconds(make_web: Callable[..., Web]) -> None:
    web = make_web().start()
    with web.client() as client:
        client.get("/healthz")
        times = []
        for _ in range(30):
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.025, times  # each waited 40 ms for the delayed ACK before


def test_the_sample_data(database_url: str) -> None:
    from veille.bench.sample import fill
    from veille.manage.matches import find_matches
    from veille.manage.overview import overview
    from veille.pipeline import make_context
    from veille.settings import Settings
    from veille.storage.db import Database

    db = Database(database_url)
    db.upgrade()
    try:
        sample = fill(db, articles=600, feeds=30, entities=8)
    finally:
        db.dispose()
    assert (sample.articles, sample.feeds, sample.entities) == (600, 30, 8)
    assert 100 < sample.matches < 300 and sample.alerts > sample.matches  # one alert a channel
    ctx = make_context(Settings(database_url=database_url))
    everything = find_matches(ctx, limit=50)
    assert everything.total == sample.matches
    topic = find_matches(ctx, query=sample.topic_word)
    assert 0 < topic.total < sample.matches / 10
    assert find_matches(ctx, query=sample.common_word).total > sample.matches * 0.9
    assert find_matches(ctx, entity=sample.entity).total > 0
    every = find_matches(ctx).items
    assert any(m.also_covered_by for m in every)  # copies of a story from other outlets
    assert any(m.alerts for m in every) and any(not m.alerted for m in every)
    front = overview(ctx)
    assert front.summary.feeds.total == 30 and front.chart.series


def test_the_page_benchmark_prints_p50_and_p95_per_page(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "veille.bench", "pages", "--articles", "400", "--feeds", "20", "--entities", "5",
            "--requests", "3", "--json", str(tmp_path / "pages.json")]
    postgres = os.environ.get("VEILLE_TEST_POSTGRES_URL")
    args += ["--postgres", postgres] if postgres else ["--database", "sqlite"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("page "))
    assert "sqlite p50 / p95 (ms)" in header and (not postgres or "postgresql p50 / p95 (ms)" in header)
    rows = {line.split("  ")[0].strip(): line for line in lines[lines.index(header) + 2:] if line.strip()}
    for page in ("overview", "matches", "matches of an entity", "a match explained", "search: a common word"):
        assert rows[page].count(" / ") == (2 if postgres else 1), rows[page]
    assert "not built yet" not in rows["matches"]
    import json

    timings = json.loads((tmp_path / "pages.json").read_text())
    assert len(timings["sqlite"][0]["seconds"]) == 3


@pytest.mark.parametrize("value", ["0", "-5"])
def test_the_page_benchmark_refuses_nonsense(value: str) -> None:
    done = subprocess.run([sys.executable, "-m", "veille.bench", "pages", "--requests", value],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--requests must be at least 1" in done.stderr
