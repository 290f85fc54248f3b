"""No native crash, and none that loses work.

lxml and libxml2 are C: a parser shared by two threads corrupts memory (`double free or corruption`,
segmentation faults), and a page may one day crash them on its own. veille parses on one thread at a time,
extracts in processes in `veille poll` and `veille extract`, and gives up on a page that kills its
extractor again and again: the article is matched on the feed's own text instead.

The crash is real: ``tests/crashhook/sitecustomize.py``, put first on PYTHONPATH, makes the extractor of every
process started so call ``os.abort()`` on a page that holds its marker (production code has no such switch).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import FIXTURES, HTTPFixture, Route, free_port
from tests.crashhook.sitecustomize import MARKER
from tests.helpers import rss, veille
from veille.storage.models import Article

VEILLE = str(Path(sys.executable).with_name("veille"))
CRASH_HOOK = Path(__file__).parent / "crashhook"
REPO = Path(__file__).resolve().parents[1]
FATAL = ("Fatal Python error", "double free", "corrupted size", "Segmentation fault", "core dumped")

pytestmark = pytest.mark.usefixtures("veille_env")


def page(title: str, body: str) -> bytes:
    paragraphs = "".join(f"<p>{body} Paragraph {i} says a little more about it, in plain words for everyone.</p>"
                         for i in range(4))
    return (f"<html><head><title>{title}</title></head><body><nav>Home</nav><article><h1>{title}</h1>"
            f"{paragraphs}</article></body></html>").encode()


def crashing_page() -> bytes:
    return page("Kyutai", f"A page that crashes the extractor: {MARKER}.")


def crash_env(veille_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The test's environment for a `veille` process whose extractor aborts on the marked page."""
    path = os.pathsep.join([str(CRASH_HOOK), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, **veille_env, "PYTHONPATH": path, **extra}


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VEILLE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def articles(columns: Callable[[Article], Any]) -> dict[str, Any]:
    """url -> columns(article), read from the test's database."""
    from veille import pipeline
    from veille.settings import get_settings

    get_settings.cache_clear()
    ctx = pipeline.make_context(get_settings())
    return ctx.db.run(lambda s: {a.url: columns(a) for a in s.scalars(select(Article))})


# --------------------------------------------------------------------------- a page that kills its extractor


def test_extract_prints_every_page_but_the_one_that_crashes_the_extractor(
    veille_env: dict[str, str], tmp_path: Path
) -> None:
    files = []
    for name, content in [("a.html", page("Moshi", "Kyutai publishes Moshi.")), ("crash.html", crashing_page()),
                          ("b.html", page("Helium", "Kyutai publishes Helium."))]:
        (tmp_path / name).write_bytes(content)
        files.append(str(tmp_path / name))
    done = run(["extract", "--json", *files], crash_env(veille_env))
    assert done.returncode == 1, done.stderr  # an input failed; not -6 (SIGABRT): the command itself lived
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["source"] for item in printed] == [files[0], files[2]]
    assert "Kyutai publishes Helium" in printed[1]["text"]
    assert f"error: {files[1]}: the extractor crashed (3 attempts) on this page" in done.stderr
    assert not any(word in done.stderr for word in FATAL), done.stderr


def test_poll_matches_a_page_that_crashes_the_extractor_on_the_feed_text(
    veille_env: dict[str, str], web: HTTPFixture
) -> None:
    web.routes["/crash"] = Route(crashing_page())
    web.routes["/a"] = Route(page("Moshi", "Kyutai publishes Moshi, a voice model."))
    web.routes["/b"] = Route(page("Helium", "Kyutai publishes Helium, a small language model."))
    web.routes["/feed.xml"] = Route(rss([
        {"title": "A lab news item", "link": web.url("/crash"), "guid": "crash",
         "description": "Kyutai opens a new lab in Paris."},  # the only words veille gets for it
        {"title": "Moshi", "link": web.url("/a"), "guid": "a"},
        {"title": "Helium", "link": web.url("/b"), "guid": "b"},
    ]), "application/rss+xml")
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0

    polled = run(["poll"], crash_env(veille_env, VEILLE_LOG_LEVEL="WARNING"))
    assert polled.returncode == 0, polled.stderr
    assert not any(word in polled.stderr for word in FATAL), polled.stderr
    assert "an extraction process died" in polled.stderr  # and the pool was replaced: the other pages went on
    assert len(web.hits("/crash")) == 1  # fetched once; its extraction tried three times
    found = articles(lambda a: (a.state, a.text_source, a.error, a.text))
    assert found[web.url("/crash")] == ("matched", "feed-only", "extract: the extractor crashed (3 attempts)",
                                        "Kyutai opens a new lab in Paris.")
    assert found[web.url("/a")][:2] == ("matched", "page") and "voice model" in found[web.url("/a")][3]
    assert found[web.url("/b")][:2] == ("matched", "page")
    matched = {m["url"] for m in veille("matches", "--json").json() if m["entity"] == "Kyutai"}
    assert matched == {web.url("/crash"), web.url("/a"), web.url("/b")}

    again = run(["poll"], crash_env(veille_env))
    assert again.returncode == 0 and len(web.hits("/crash")) == 1  # given up once and for all


@pytest.mark.slow
def test_the_service_gives_up_on_a_page_that_kills_its_worker_and_carries_on(
    veille_env: dict[str, str], web: HTTPFixture, tmp_path: Path
) -> None:
    """A Celery worker process extracts in itself: the page kills it, Celery starts another, the dispatcher
    resumes the page alone (never again with other pages) until it has killed MAX_PAGE_ATTEMPTS workers."""
    web.routes["/crash"] = Route(crashing_page())
    web.routes["/a"] = Route(page("Moshi", "Kyutai publishes Moshi, a voice model."))
    web.routes["/b"] = Route(page("Helium", "Kyutai publishes Helium, a small language model."))
    items = [
        {"title": "A lab news item", "link": web.url("/crash"), "guid": "crash",
         "description": "Kyutai opens a new lab in Paris."},
        {"title": "Moshi", "link": web.url("/a"), "guid": "a"},
        {"title": "Helium", "link": web.url("/b"), "guid": "b"},
    ]
    web.routes["/feed.xml"] = Route(rss(items), "application/rss+xml", etag='"1"')
    assert veille("feeds", "add", web.url("/feed.xml"), "--every", "2s").exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    log = tmp_path / "service.log"
    env = crash_env(veille_env, VEILLE_LOG_LEVEL="INFO", VEILLE_DISPATCH_EVERY="0.5s", VEILLE_STALE_AFTER="2s")
    with log.open("wb") as out:
        process = subprocess.Popen([VEILLE, "run", "-c", "2"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        def state(url: str) -> tuple[str, str | None]:
            return articles(lambda a: (a.state, a.text_source)).get(url, ("", None))

        wait(lambda: state(web.url("/crash"))[0] == "matched", 90, "the crashing page to be given up", log)
        found = articles(lambda a: (a.state, a.text_source, a.error, a.attempts))
        assert found[web.url("/crash")] == (
            "matched", "feed-only", "extract: the page was never extracted: its worker died 3 times (the extractor "
            "crashed, or the service was stopped)", 3)
        assert len(web.hits("/crash")) == 3
        wait(lambda: state(web.url("/a")) == state(web.url("/b")) == ("matched", "page"), 30, "the other pages", log)
        assert "SIGABRT" in log.read_text(errors="replace")  # Celery saw its worker processes die
        # the pool carries on: a new item is fetched, extracted and matched
        web.routes["/c"] = Route(page("Hibiki", "Kyutai publishes Hibiki, a translation model."))
        items.append({"title": "Hibiki", "link": web.url("/c"), "guid": "c"})
        web.routes["/feed.xml"] = Route(rss(items), "application/rss+xml", etag='"2"')
        wait(lambda: state(web.url("/c")) == ("matched", "page"), 60, "a new page after the crashes", log)
        assert len(web.hits("/crash")) == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def wait(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log.read_text(errors='replace')[-4000:]}")


# --------------------------------------------------------------------------- stress: zero crashes


def benchmark_pages() -> Path:
    data = Path(os.environ.get("VEILLE_EVAL_DATA") or REPO.parent / "shared" / "data")
    folder = data / "extraction-benchmark" / "html"
    if not folder.is_dir():
        pytest.skip(f"extraction benchmark not found in {folder} (set VEILLE_EVAL_DATA to the data folder)")
    return folder


@pytest.fixture(scope="module")
def benchmark_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder, out = benchmark_pages(), tmp_path_factory.mktemp("benchmark")
    files = []
    for path in sorted(folder.glob("*.html.gz")):
        target = out / path.name.removesuffix(".gz")
        target.write_bytes(gzip.decompress(path.read_bytes()))
        files.append(str(target))
    return files


RUNS = 20


@pytest.mark.slow
def test_extract_over_the_benchmark_20_times_never_crashes(veille_env: dict[str, str],
                                                            benchmark_files: list[str]) -> None:
    """Before the fix, `veille extract` died in about one run in forty here (threads sharing one parser)."""
    env = {**os.environ, **veille_env}
    outputs = []
    for number in range(RUNS):
        done = run(["extract", "--json", *benchmark_files], env, timeout=300)
        assert done.returncode == 0 and not any(word in done.stderr for word in FATAL), (
            f"run {number + 1} of {RUNS} exited {done.returncode}: {done.stderr[-2000:]}")
        outputs.append(done.stdout)
    assert len(outputs[0].splitlines()) == len(benchmark_files)
    assert len(set(outputs)) == 1  # and every run printed the same


def feed_with_content(topic: str, hub: str, push: int, bodies: list[str]) -> bytes:
    """An Atom document whose entries carry whole HTML articles (each parsed with lxml on arrival)."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
             f'<title>Lab news</title><id>urn:lab</id><updated>2026-12-01T10:00:00Z</updated>'
             f'<link rel="self" href="{escape(topic)}"/><link rel="hub" href="{escape(hub)}"/>']
    for number, body in enumerate(bodies):
        parts.append(f"<entry><id>urn:{push}:{number}</id><title>Item {push}.{number}</title>"
                     f'<link rel="alternate" href="https://lab.example/{push}/{number}"/>'
                     f"<updated>2026-12-01T10:00:00Z</updated><content type=\"html\">{escape(body)}</content></entry>")
    parts.append("</feed>")
    return "".join(parts).encode()


@pytest.fixture
def callback_server(veille_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`veille web` as a real process (the web server `veille run` starts, which takes the WebSub callbacks), on
    a free port."""
    port = free_port()
    env = {**os.environ, **veille_env, "VEILLE_WEB_LISTEN": f"127.0.0.1:{port}",
           "VEILLE_PUBLIC_URL": f"http://127.0.0.1:{port}/", "VEILLE_LOG_LEVEL": "WARNING"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([VEILLE, "web"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(log.read_text(errors="replace")) from None
                time.sleep(0.1)
        yield base, process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.mark.slow
def test_websub_callback_takes_8_concurrent_pushes_without_crashing(
    web: HTTPFixture, callback_server: tuple[str, subprocess.Popen[bytes], Path]
) -> None:
    """Each push is parsed and its entries' HTML turned to text on the server's own threads, 8 at once."""
    from veille import pipeline
    from veille.settings import get_settings
    from veille.storage.models import Entry, WebSubSubscription

    base, process, log = callback_server
    hub = "https://hub.example/"
    topic = web.url("/feed.xml")
    web.routes["/feed.xml"] = Route(feed_with_content(topic, hub, 0, []), "application/atom+xml")
    added = veille("feeds", "add", topic, "--every", "1h")
    assert added.exit_code == 0, added.stderr
    get_settings.cache_clear()
    ctx = pipeline.make_context(get_settings())
    feed_id = int(added.stdout.strip().splitlines()[-1])
    secret = "s" * 32

    def subscribe(s: Any) -> tuple[int, str]:
        sub = WebSubSubscription(feed_id=feed_id, hub=hub, topic=topic, token="t" * 32, secret=secret,
                                 state="active")
        s.add(sub)
        s.flush()
        return sub.id, sub.token

    sub_id, token = ctx.db.run(subscribe)
    kyutai = (FIXTURES / "kyutai-fr.html").read_text(encoding="utf-8")
    bodies = [kyutai.replace("Kyutai", f"Kyutai {n}") for n in range(12)]
    callback = f"{base}/websub/{sub_id}/{token}"
    rounds, at_once = 5, 8
    statuses: list[int] = []
    lock = threading.Lock()

    def push(number: int, together: threading.Barrier) -> None:
        body = feed_with_content(topic, hub, number, bodies)
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        together.wait(30)  # the 8 requests leave at the same moment
        response = httpx.post(callback, content=body, timeout=60,
                              headers={"Content-Type": "application/atom+xml", "X-Hub-Signature": signature})
        with lock:
            statuses.append(response.status_code)

    for round_number in range(rounds):
        together = threading.Barrier(at_once)
        threads = [threading.Thread(target=push, args=(round_number * at_once + n, together)) for n in range(at_once)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert process.poll() is None, f"the callback server died: {log.read_text(errors='replace')[-3000:]}"
    text = log.read_text(errors="replace")
    assert statuses == [202] * rounds * at_once, (statuses, text[-3000:])
    assert not any(word in text for word in FATAL), text[-3000:]
    stored = ctx.db.run(lambda s: len(s.scalars(select(Entry).where(Entry.feed_id == feed_id)).all()))
    assert stored == rounds * at_once * len(bodies)
