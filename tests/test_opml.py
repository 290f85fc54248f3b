"""`veille feeds export` / `feeds import`: what a user set on each feed (fixed interval, tags, backfill, pause,
feed text) survives the round trip, in attributes of veille's XML namespace that other OPML readers ignore."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss, veille
from veille.storage.db import Database
from veille.storage.models import Feed

pytestmark = pytest.mark.usefixtures("veille_env")

NAMESPACE = "https://veille.example/ns/opml/1"  # documented in the README: files in the wild carry it

KEPT = ("url", "title", "tags", "interval_fixed", "every", "backfill", "enabled", "resume_at", "feed_text")
RESUME = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)


def pause(url: str, until: datetime | None) -> None:
    """What `veille feeds pause` stores: disabled, until ``until`` (None: until resumed)."""
    db = Database(os.environ["VEILLE_DATABASE_URL"])
    db.run(lambda s: s.execute(update(Feed).where(Feed.url == url).values(enabled=False, resume_at=until)))


def kept() -> list[dict[str, Any]]:
    return sorted(({k: f[k] for k in KEPT} for f in veille("feeds", "list", "--json").json()),
                  key=lambda f: f["url"])


def serve(web: HTTPFixture, *names: str) -> list[str]:
    for name in names:
        web.routes[f"/{name}.xml"] = Route(rss([], title=f"Feed {name}"), "application/rss+xml")
    return [web.url(f"/{name}.xml") for name in names]


def test_export_then_import_restores_what_the_user_set(web: HTTPFixture, tmp_path: Path) -> None:
    fixed, week, plain, paused, stopped = serve(web, "fixed", "week", "plain", "paused", "stopped")
    for args in ([fixed, "--every", "10m", "--tag", "labs", "--tag", "fr", "--feed-text", "never"],
                 [week, "--backfill", "7d", "--tag", "news"], [plain],
                 [paused, "--backfill", "0", "--every", "90s", "--feed-text", "always"], [stopped, "--tag", "labs"]):
        assert veille("feeds", "add", *args).exit_code == 0
    pause(paused, RESUME)
    pause(stopped, None)
    before = kept()
    by_url = {f["url"]: f for f in before}
    assert by_url[paused] == {**by_url[paused], "enabled": False, "resume_at": RESUME.isoformat(), "backfill": 0,
                              "every": "90s", "feed_text": "always"}
    assert by_url[stopped]["enabled"] is False and by_url[stopped]["resume_at"] is None
    assert by_url[week]["backfill"] == 604800 and by_url[week]["interval_fixed"] is False

    exported = veille("feeds", "export")
    assert exported.exit_code == 0
    path = tmp_path / "feeds.opml"
    path.write_text(exported.stdout, encoding="utf-8")
    for feed in before:
        assert veille("feeds", "remove", feed["url"]).exit_code == 0
    assert veille("feeds", "list", "--json").json() == []

    imported = veille("feeds", "import", str(path))

    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout.strip() == "added 5, skipped 0 already present, invalid 0"
    assert kept() == before


def test_the_file_is_plain_opml_to_other_readers(web: HTTPFixture) -> None:
    fixed, plain = serve(web, "fixed", "plain")
    assert veille("feeds", "add", fixed, "--every", "10m", "--backfill", "2d", "--tag", "labs").exit_code == 0
    assert veille("feeds", "add", plain).exit_code == 0
    pause(plain, RESUME)

    root = ET.fromstring(veille("feeds", "export").stdout.encode())  # well-formed

    assert root.tag == "opml" and root.get("version") == "2.0"
    [folder] = root.findall("body/outline")[:1]
    assert folder.get("text") == "labs" and folder.get("xmlUrl") is None
    outlines = {o.get("xmlUrl"): o for o in root.iter("outline") if o.get("xmlUrl")}
    assert set(outlines) == {fixed, plain}
    assert outlines[fixed].get("text") == "Feed fixed" and outlines[fixed].get("type") == "rss"
    # veille's attributes are in its namespace: a reader that does not know it sees none of them
    assert {k for o in outlines.values() for k in o.attrib if not k.startswith("{")} == {"type", "text", "title",
                                                                                          "xmlUrl"}
    ns = f"{{{NAMESPACE}}}"
    assert {k: v for k, v in outlines[fixed].attrib.items() if k.startswith(ns)} == {
        f"{ns}every": "10m", f"{ns}backfill": "2d"}
    assert {k: v for k, v in outlines[plain].attrib.items() if k.startswith(ns)} == {
        f"{ns}paused": "true", f"{ns}resumeAt": "2031-03-04T05:06:07+00:00"}


def test_import_backfill_flag_and_a_file_without_veille_attributes(tmp_path: Path) -> None:
    path = tmp_path / "other.opml"
    path.write_text(
        '<?xml version="1.0"?><opml version="2.0" xmlns:veille="' + NAMESPACE + '"><head/><body>'
        '<outline text="Lab A" xmlUrl="https://a.example/feed.xml"/>'
        '<outline text="Lab B" xmlUrl="https://b.example/rss" veille:backfill="3d" veille:every="1h"/>'
        '<outline text="https://c.example/atom" xmlUrl="https://c.example/atom"/></body></opml>', encoding="utf-8")

    imported = veille("feeds", "import", str(path), "--backfill", "0")

    assert imported.exit_code == 0, imported.stderr
    feeds = {f["url"]: f for f in veille("feeds", "list", "--json").json()}
    assert {url: f["backfill"] for url, f in feeds.items()} == {  # the flag over the file's
        "https://a.example/feed.xml": 0, "https://b.example/rss": 0, "https://c.example/atom": 0}
    assert feeds["https://b.example/rss"]["every"] == "1h"
    a = feeds["https://a.example/feed.xml"]
    assert (a["interval_fixed"], a["enabled"], a["resume_at"], a["feed_text"]) == (False, True, None, "auto")
    assert feeds["https://c.example/atom"]["title"] is None  # an outline titled by its URL has no title


@pytest.mark.parametrize(
    ("attribute", "complaint"),
    [('veille:every="often"', "veille:every: not a duration: 'often'"),
     ('veille:every="0"', "veille:every: '0' must be above zero"),
     ('veille:paused="maybe"', "veille:paused: expected true or false"),
     ('veille:paused="true" veille:resumeAt="next week"', "veille:resumeAt: not an ISO 8601 time"),
     ('veille:feedText="sometimes"', "veille:feedText: expected one of auto, always, never")],
)
def test_a_bad_veille_attribute_refuses_the_whole_file(tmp_path: Path, attribute: str, complaint: str) -> None:
    path = tmp_path / "bad.opml"
    path.write_text(
        f'<opml version="2.0" xmlns:veille="{NAMESPACE}"><head/><body>'
        '<outline text="Good" xmlUrl="https://a.example/feed.xml"/>'
        f'<outline text="Bad" xmlUrl="https://b.example/rss" {attribute}/></body></opml>', encoding="utf-8")
    result = veille("feeds", "import", str(path))
    assert result.exit_code == 1
    assert f"error: {path}: opml: outline https://b.example/rss: {complaint}" in " ".join(result.stderr.split())
    assert "nothing was imported" in result.stderr
    assert veille("feeds", "list", "--json").json() == []
