"""What veille is compared with: rss2email (``r2e``, feed to email) and a plain sequential loop.

The plain loop is what a short script would do: httpx and feedparser, one request at a time, each
feed then each new page fetched once; its state (ETags and seen links) is kept in a JSON file so a
second run sends conditional GETs, as rss2email and veille do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

R2E_CONFIG = """[DEFAULT]
from = r2e@bench.invalid
to = bench@example.org
user-agent = rss2email/__VERSION__ (__URL__)
feed-timeout = 60
same-server-fetch-interval = 0
digest = False
html-mail = False
email-protocol = smtp
smtp-auth = False
smtp-ssl = False
smtp-server = 127.0.0.1
smtp-port = {port}
verbose = warning

"""


def r2e_binary() -> str:
    """The ``r2e`` next to this Python, or on PATH; a clear error when rss2email is not installed."""
    beside = Path(sys.executable).with_name("r2e")
    if beside.exists():
        return str(beside)
    found = shutil.which("r2e")
    if found:
        return found
    raise RuntimeError(
        "rss2email is not installed: `make bench` installs it (pip install -e '.[bench]'), "
        "or pass --no-peers to measure veille alone"
    )


def write_r2e_config(folder: Path, feeds: Sequence[str], smtp_port: int) -> tuple[Path, Path]:
    """An rss2email configuration (one section per feed, SMTP to the sink) and an empty data file."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "r2e.cfg"
    data = folder / "r2e.json"
    sections = [f"[feed.f{i}]\nurl = {url}\n" for i, url in enumerate(feeds)]
    config.write_text(R2E_CONFIG.format(port=smtp_port) + "\n".join(sections))
    data.write_text(json.dumps({
        "version": 2,
        "feeds": [{"name": f"f{i}", "etag": None, "modified": None, "seen": {}} for i in range(len(feeds))],
    }))
    return config, data


def r2e_command(config: Path, data: Path) -> list[str]:
    return [r2e_binary(), "-c", str(config), "-d", str(data), "run"]


def check_r2e(env: Mapping[str, str]) -> str:
    """rss2email's version, or a RuntimeError that says how to install it."""
    done = subprocess.run([r2e_binary(), "--version"], env=dict(env), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"r2e --version failed: {done.stderr.strip() or done.stdout.strip()}")
    return (done.stdout.strip() or done.stderr.strip()).splitlines()[-1]


def plain_loop(feeds_file: Path, state_file: Path) -> dict[str, int]:
    """Fetch every feed, then every page not seen before, one request at a time; returns counts."""
    import feedparser
    import httpx

    feeds: list[str] = json.loads(feeds_file.read_text())
    state: dict[str, dict[str, object]] = json.loads(state_file.read_text()) if state_file.exists() else {}
    counts = {"feeds": 0, "not_modified": 0, "pages": 0, "errors": 0}
    started = time.monotonic()
    with httpx.Client(timeout=30, headers={"User-Agent": "plain-loop/1"}) as client:
        for url in feeds:
            known = state.setdefault(url, {"etag": None, "seen": []})
            headers = {"If-None-Match": str(known["etag"])} if known["etag"] else {}
            try:
                response = client.get(url, headers=headers)
            except httpx.HTTPError:
                counts["errors"] += 1
                continue
            counts["feeds"] += 1
            if response.status_code == 304:
                counts["not_modified"] += 1
                continue
            known["etag"] = response.headers.get("ETag")
            parsed = feedparser.parse(response.content)
            seen = set(known["seen"])  # type: ignore[call-overload]
            for entry in parsed.entries:
                link = entry.get("link")
                if not link or link in seen:
                    continue
                try:
                    client.get(link).raise_for_status()
                    counts["pages"] += 1
                except httpx.HTTPError:
                    counts["errors"] += 1
                seen.add(link)
            known["seen"] = sorted(seen)
    state_file.write_text(json.dumps(state))
    print(f"plain loop: {counts} in {time.monotonic() - started:.1f}s")
    return counts
