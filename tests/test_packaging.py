"""What a user runs first: the starter lists, docker-compose.yml and the Dockerfile agree with the README."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import HTTPFixture, Route
from tests.helpers import atom, veille

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_redis_postgres_scalable_workers_and_one_beat() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "worker", "beat"} <= set(services)
    assert "container_name" not in services["worker"]  # `--scale worker=N` needs no fixed name
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    for name in ("worker", "beat", "migrate", "web"):
        env = services[name]["environment"]
        assert env["VEILLE_BROKER_URL"].startswith("redis://")
        assert env["VEILLE_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_compose_commands_are_the_ones_the_tests_run() -> None:
    services = compose()["services"]
    commands = {name: svc["command"] for name, svc in services.items() if name not in ("redis", "postgres")}
    assert commands == {
        "migrate": ["veille", "init"],
        "worker": ["veille", "run", "--no-beat", "--no-web"],
        "web": ["veille", "web"],  # tests/test_web.py runs it
        "beat": ["celery", "-A", "worker", "beat", "--loglevel=INFO", "--schedule=/tmp/celerybeat-schedule"],
    }


def test_dockerfile_steps_are_the_readme_steps() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    runs = re.findall(r"^RUN (.+)$", dockerfile, flags=re.M)
    cmd = re.search(r'^CMD \[(.+)\]$', dockerfile, flags=re.M)
    assert runs and cmd
    for step in runs:
        assert step.replace("--no-cache-dir ", "") in readme, step
    assert " ".join(shlex.split(cmd.group(1).replace(",", " "))) in readme


@pytest.mark.usefixtures("veille_env")
def test_init_starter_seeds_only_an_empty_database() -> None:
    first = veille("init", "--starter")
    assert first.exit_code == 0 and "loaded the starter lists" in first.stdout
    feeds = veille("feeds", "list", "--json").json()
    entities = veille("track", "list", "--json").json()
    assert len(feeds) >= 10 and all(f["url"].startswith("https://") for f in feeds)
    assert {"OpenAI", "Mistral AI", "Kyutai", "Yann LeCun"} <= {e["name"] for e in entities}
    again = veille("init", "--starter")
    assert "not loaded" in again.stdout
    assert len(veille("feeds", "list", "--json").json()) == len(feeds)
    # nothing else seeds data
    assert veille("init").exit_code == 0
    assert len(veille("track", "list", "--json").json()) == len(entities)


@pytest.mark.slow
@pytest.mark.parametrize("worker", [["veille", "run", "--no-beat", "--no-web", "-c", "1"],
                                    ["celery", "-A", "worker", "worker", "-c", "1"]],
                         ids=["veille-run", "celery-worker"])
def test_worker_and_beat_as_separate_processes(veille_env: dict[str, str], web: HTTPFixture, redis_url: str,
                                                tmp_path: Path, worker: list[str]) -> None:
    """The compose layout: `veille run --no-beat` workers and one `celery -A worker beat`; the README says
    `celery -A worker worker` works as well (it must consume the polls, pages and alerts queues)."""
    web.routes["/a"] = Route(b"<html><head><title>Kyutai</title></head><body><article><h1>Kyutai publie Moshi</h1>"
                             b"<p>Le laboratoire Kyutai publie Moshi, un assistant vocal, en source ouverte pour la "
                             b"communaute des chercheurs.</p></article></body></html>")
    web.routes["/feed.xml"] = Route(atom([{"title": "Kyutai publie Moshi", "link": web.url("/a")}]),
                                    "application/atom+xml")
    web.routes["/hook"] = Route(b"ok", "text/plain")
    assert veille("feeds", "add", web.url("/feed.xml"), "--every", "1m").exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("channels", "add", "webhook", web.url("/hook")).exit_code == 0
    env = {**os.environ, **veille_env, "VEILLE_BROKER_URL": redis_url, "VEILLE_DISPATCH_EVERY": "1s"}
    log = (tmp_path / "procs.log").open("wb")
    procs = [
        subprocess.Popen([str(BIN / worker[0]), *worker[1:]], env=env, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([str(BIN / "celery"), "-A", "worker", "beat", "--loglevel=INFO",
                          f"--schedule={tmp_path / 'beat-schedule'}"], env=env, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True),
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not web.hits("/hook", "POST"):
            time.sleep(0.3)
        assert len(web.hits("/hook", "POST")) == 1, (tmp_path / "procs.log").read_text()[-3000:]
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
