"""Small helpers shared by tests: run the CLI in-process, build feeds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from typer.testing import CliRunner


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def veille(*args: str) -> Result:
    """Run `veille ARGS...` in this process (settings come from the environment the test set)."""
    from veille.cli import app, load_commands
    from veille.settings import get_settings

    load_commands()
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def now_rfc822() -> str:
    """The current time as an RSS date: test feeds' items are fresh unless a test says otherwise, so a
    feed's first poll alerts on them (the backfill window, VEILLE_BACKFILL, is a day by default)."""
    return format_datetime(datetime.now(UTC), usegmt=True)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def rss(items: list[dict[str, str]], *, title: str = "Test feed", encoding: str = "utf-8") -> bytes:
    """An RSS 2.0 feed; an item without "pubDate" is dated now (``"pubDate": ""`` for an undated item)."""
    items = [{"pubDate": now_rfc822(), **item} for item in items]
    parts = [
        f'<?xml version="1.0" encoding="{encoding}"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://example.org/</link><description>test</description>",
    ]
    for item in items:
        parts.append("<item>")
        for key in ("title", "link", "guid", "description", "pubDate"):
            if item.get(key, None) is not None and (key != "pubDate" or item[key]):
                parts.append(f"<{key}>{escape(item[key])}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode(encoding, errors="xmlcharrefreplace")


def atom(entries: list[dict[str, str]], *, title: str = "Test Atom feed") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(title)}</title><id>urn:test:feed</id><updated>{now_iso()}</updated>",
    ]
    for entry in entries:
        parts.append("<entry>")
        parts.append(f"<title>{escape(entry['title'])}</title>")
        parts.append(f'<link rel="alternate" href="{escape(entry["link"])}"/>')
        parts.append(f"<id>{escape(entry.get('id', entry['link']))}</id>")
        parts.append(f"<updated>{entry.get('updated') or now_iso()}</updated>")
        if "summary" in entry:
            parts.append(f"<summary>{escape(entry['summary'])}</summary>")
        if "content" in entry:
            parts.append(f'<content type="html">{escape(entry["content"])}</content>')
        parts.append("</entry>")
    parts.append("</feed>")
    return "".join(parts).encode("utf-8")
