"""``make screenshots``: a PNG of each page of the web page, on a desktop and 360 px wide, into docs/img/.

``veille web`` is started as a process on a SQLite database filled with the sample data of
:mod:`veille.bench.sample` (smaller than the benchmark's), a service that looks alive (heartbeats) and a user;
Chromium (Playwright, ``/usr/bin/chromium`` or ``VEILLE_TEST_CHROMIUM``) signs in and visits every page of
:data:`SHOTS`. A page that answers 404 is not built yet: it is skipped, and said so. ``/explain`` reads a
page served on loopback for the occasion.

    python -m veille.bench.screenshots [--out docs/img] [--only overview,matches]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("VEILLE_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 780}
MAX_HEIGHT = 3  # windows: a long page is cut there

# (file name, path; {match} and {explain} are filled in), in the order the README shows them
SHOTS: tuple[tuple[str, str], ...] = (
    ("login", "/login"),
    ("overview", "/"),
    ("matches", "/matches"),
    ("matches-search", "/matches?q={topic}"),
    ("match", "/matches/{match}"),
    ("explain", "/explain?url={explain}"),
    ("entities", "/entities"),
    ("entity-new", "/entities/new"),
    ("feeds", "/feeds"),
    ("channels", "/channels"),
    ("settings", "/settings"),
)

ARTICLE = b"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Northwind Labs opens its harbour robotics lab</title></head><body><article>
<h1>Northwind Labs opens its harbour robotics lab</h1>
<p>Northwind Labs said on Monday that it will open a robotics lab at the harbour, its third in the region, and
hire forty engineers over the next year to build machines that inspect ships and cranes.</p>
<p>The company, which Helios Energy backed last spring, expects the first machines to work on the docks by the
end of the summer. Local officials welcomed the plan; unions asked for talks on what it means for the workers.</p>
<p>Analysts noted that the harbour authority has been looking for ways to cut inspection costs since the record
storms of last winter, and that two other firms had bid for the same site.</p>
</article></body></html>"""


@contextmanager
def article_server() -> Iterator[str]:
    """A loopback server of one article page, for /explain; its URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(ARTICLE)))
            self.end_headers()
            self.wfile.write(ARTICLE)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/2026/northwind-harbour-lab"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m veille.bench.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="where the PNGs go (default docs/img)")
    parser.add_argument("--only", default="", help="comma-separated names of SHOTS to take (default: all)")
    parser.add_argument("--articles", type=int, default=3000, help="sample articles (default 3000)")
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - {name for name, _ in SHOTS}
    if unknown:
        parser.error(f"no such screenshot: {', '.join(sorted(unknown))} (see SHOTS in {__file__})")
    take(args.out, only=only, articles=args.articles)


def take(out: Path, *, only: set[str] | None = None, articles: int = 3000) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from veille.bench.sample import fill
    from veille.bench.site import PASSWORD, serve
    from veille.clock import utcnow
    from veille.manage import status
    from veille.manage.accounts import add_user
    from veille.storage.db import Database

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="veille-screenshots-") as work:
        url = f"sqlite:///{Path(work) / 'veille.db'}"
        db = Database(url)
        try:
            db.upgrade()
            sample = fill(db, articles=articles, feeds=60, entities=12, days=30)
            add_user(db, name="alice", password=PASSWORD)
            now = utcnow()
            status.record_heartbeat(db, name=status.BEAT, kind="beat", now=now)
            status.record_heartbeat(db, name="worker@veille:4242", kind="worker", host="veille", pid=4242, now=now)
        finally:
            db.dispose()
        with article_server() as page_url, serve(url, Path(work), VEILLE_ALLOW_PRIVATE_ADDRESSES="1") as base, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            values = {"match": str(sample.match_id), "explain": page_url, "topic": sample.topic_word}
            try:
                for viewport, suffix, scheme in ((DESKTOP, "", "light"), (PHONE, "-360", "light"),
                                                 (DESKTOP, "-dark", "dark")):
                    context = browser.new_context(viewport=viewport, color_scheme=scheme)  # type: ignore[arg-type]
                    page = context.new_page()
                    page.goto(f"{base}/login")
                    if "login" in (only or {"login"}) and suffix != "-dark":
                        written.append(_shot(page, out / f"login{suffix}.png"))
                    page.get_by_label("Name").fill("alice")
                    page.get_by_label("Password").fill(PASSWORD)
                    page.get_by_role("button", name="Sign in").click()
                    page.wait_for_url(f"{base}/")
                    for name, path in SHOTS:
                        if name == "login" or (only and name not in only):
                            continue
                        if suffix == "-dark" and name not in ("overview", "match"):
                            continue
                        answer = page.goto(base + path.format(**values))
                        if answer is not None and answer.status == 404:
                            print(f"{name}: {path} is not built yet, skipped")
                            continue
                        written.append(_shot(page, out / f"{name}{suffix}.png"))
                    context.close()
            finally:
                browser.close()
    for shot in written:
        print(f"wrote {shot}")
    return written


def _shot(page: Any, path: Path) -> Path:
    """The page from its top, as tall as it is up to :data:`MAX_HEIGHT` times the window's height."""
    page.wait_for_load_state("networkidle")
    size = page.viewport_size
    height = min(int(page.evaluate("document.documentElement.scrollHeight")), size["height"] * MAX_HEIGHT)
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": size["width"], "height": height})
    return path


if __name__ == "__main__":
    main()
