"""`veille export` / `veille import`: a JSON backup of feeds, tracked entities and channels, restored into an
empty database or over an existing one (what exists is skipped), and refused whole when the file is bad."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.helpers import veille
from veille.storage.db import Database
from veille.storage.models import Channel, Entity, Feed

VEILLE = str(Path(sys.executable).with_name("veille"))

pytestmark = pytest.mark.usefixtures("veille_env")


@pytest.fixture(autouse=True)
def smtp_configured(veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`channels add email` needs an SMTP server configured; these tests send nothing."""
    monkeypatch.setenv("VEILLE_SMTP_URL", "smtp://127.0.0.1:2525")


def seed() -> None:
    assert veille("feeds", "import", str(opml())).exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("track", "add", "Mistral AI", "--alias", "Mistral", "--exclude", "vent",
                  "--alias-exact", "MAI").exit_code == 0
    assert veille("track", "add", "Frontier labs", "--query", '"frontier model" OR AGI -crypto').exit_code == 0
    slack = "https://hooks.slack.com/services/T0/B0/X"
    assert veille("channels", "add", "slack", slack, "--name", "team").exit_code == 0
    assert veille("channels", "add", "webhook", "https://hooks.example.org/in", "--secret", "s3cret").exit_code == 0
    assert veille("channels", "add", "email", "ops@example.org", "--name", "ops").exit_code == 0


SUMMARY = ("feeds: {} added, {} skipped (already present); entities: {} added, {} skipped (already present); "
           "channels: {} added, {} skipped (already present)")


def words(text: str) -> list[str]:
    return text.split()


def opml() -> Path:
    path = Path("feeds.opml")
    path.write_text(
        '<opml version="2.0"><head/><body><outline text="Labs">'
        '<outline text="Lab A" xmlUrl="https://a.example/feed.xml"/>'
        '<outline text="Lab B" xmlUrl="https://b.example/rss"/></outline>'
        '<outline text="News" xmlUrl="https://news.example/atom.xml"/></body></opml>', encoding="utf-8")
    return path


def lists() -> dict[str, Any]:
    return {
        "feeds": sorted((f["url"], f["title"], tuple(f["tags"]), f["interval"]) for f in
                        veille("feeds", "list", "--json").json()),
        "entities": veille("track", "list", "--json").json(),
        "channels": sorted((c["name"], c["kind"], c["target"]) for c in veille("channels", "list", "--json").json()),
    }


def fresh_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("VEILLE_DATABASE_URL", f"sqlite:///{tmp_path / name}")


def test_export_then_import_into_an_empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed()
    before = lists()
    exported = veille("export")
    assert exported.exit_code == 0 and "channel secrets" in exported.stderr
    backup = tmp_path / "backup.json"
    backup.write_text(exported.stdout, encoding="utf-8")
    data = json.loads(exported.stdout)
    assert data["format"] == "veille-backup" and data["version"] == 2
    assert (len(data["feeds"]), len(data["entities"]), len(data["channels"])) == (3, 3, 3)

    fresh_database(tmp_path, monkeypatch, "restored.db")
    assert lists() == {"feeds": [], "entities": [], "channels": []}
    restored = veille("import", str(backup))
    assert restored.exit_code == 0, restored.stderr
    assert words(restored.stdout) == words(SUMMARY.format(3, 0, 3, 0, 3, 0))
    assert lists() == before
    again = json.loads(veille("export").stdout)
    for key in ("feeds", "entities", "channels"):
        assert again[key] == data[key]  # the webhook secret, tags, aliases and options included


def test_import_skips_what_exists_and_adds_the_rest(tmp_path: Path) -> None:
    seed()
    backup = tmp_path / "backup.json"
    data = json.loads(veille("export").stdout)
    data["feeds"].append({"url": "https://new.example/feed", "interval": 600, "tags": ["new"]})
    data["entities"].append({"name": "Hervé Jégou"})
    backup.write_text(json.dumps(data), encoding="utf-8")
    result = veille("import", str(backup))
    assert result.exit_code == 0, result.stderr
    assert words(result.stdout) == words(SUMMARY.format(1, 3, 1, 3, 0, 3))
    assert len(lists()["feeds"]) == 4 and len(lists()["entities"]) == 4


BAD = [
    ("not json {", "not JSON"),
    ('{"feeds": []}', 'not a veille backup'),
    ('{"format": "veille-backup", "version": 7}', "backup version 7 is not supported"),
    ('{"format": "veille-backup", "version": 1, "feeds": [{"url": "https://ok.example/a", "interval": 60},'
     ' {"url": "ftp://x.example/feed", "interval": 60}]}', "feeds[1].url: only http and https"),
    ('{"format": "veille-backup", "version": 1, "feeds": [{"url": "https://ok.example/a", "interval": -5}]}',
     "feeds[0].interval: expected a number of seconds above zero"),
    ('{"format": "veille-backup", "version": 1, "entities": [{"name": "A"}, {"name": "B",'
     ' "options": {"query": "(unclosed"}}]}', "entities[1].options.query"),
    ('{"format": "veille-backup", "version": 1, "channels": [{"name": "x", "kind": "pager", "target": "y"}]}',
     "channels[0].kind: 'pager' is not one of"),
    ('{"format": "veille-backup", "version": 1, "channels": [{"name": "x", "kind": "email", "target": "nobody"}]}',
     "channels[0].target: email: 'nobody' is not an email address"),
    ('{"format": "veille-backup", "version": 1, "entities": [{"name": "A", "options": {"to": ["nowhere"]}}]}',
     "entities[0].options.to: no channel named 'nowhere'"),
    ('{"format": "veille-backup", "version": 1, "feeds": "all of them"}', "feeds: expected a list"),
    ('{"format": "veille-backup", "version": 1, "feeds": [{"url": "https://ok.example/a", "interval": 60,'
     ' "backfill": "a week"}]}', "feeds[0].backfill: expected a number of seconds (0 or more) or null"),
    ('{"format": "veille-backup", "version": 1, "channels": [{"name": "x", "kind": "slack",'
     ' "target": "https://hooks.example/x", "resume_at": "tomorrow"}]}',
     "channels[0].resume_at: expected an ISO 8601 time or null"),
    ('{"format": "veille-backup", "version": 1, "entities": [{"name": "Kyutai"}, {"name": "KYUTAI"}]}',
     "entities[1].name: 'KYUTAI' is listed twice"),
]


@pytest.mark.parametrize(("content", "message"), BAD)
def test_a_bad_file_is_refused_whole_with_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    seed()
    before = lists()
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = veille("import", str(path))
    assert result.exit_code == 1
    assert message in result.stderr and "nothing was imported" in result.stderr
    assert lists() == before  # not one row written, even those before the bad item


def test_a_missing_file(tmp_path: Path) -> None:
    result = veille("import", str(tmp_path / "nowhere.json"))
    assert result.exit_code == 1 and "cannot read" in result.stderr


def test_guarded_feed_addresses_are_not_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_ALLOW_PRIVATE_ADDRESSES", "0")
    path = tmp_path / "backup.json"
    path.write_text(json.dumps({"format": "veille-backup", "version": 1, "feeds": [
        {"url": "http://169.254.169.254/latest/meta-data/", "interval": 60},
        {"url": "https://feeds.example.invalid/rss", "interval": 60},
    ]}), encoding="utf-8")
    result = veille("import", str(path))
    assert result.exit_code == 0
    assert "refused by the address guard, not imported: http://169.254.169.254/latest/meta-data/" in result.stderr
    assert [f["url"] for f in veille("feeds", "list", "--json").json()] == ["https://feeds.example.invalid/rss"]


def test_export_to_a_file_is_private_from_its_first_byte(tmp_path: Path) -> None:
    seed()
    old_umask = os.umask(0o022)  # the usual one: files are world-readable unless created otherwise
    try:
        target = tmp_path / "out.json"
        result = subprocess.run([VEILLE, "export", "--output", str(target)], env=dict(os.environ),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout == "", result.stderr
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert len(json.loads(target.read_text(encoding="utf-8"))["feeds"]) == 3

        existing = tmp_path / "old-backup.json"
        existing.write_text("an older backup", encoding="utf-8")
        existing.chmod(0o644)
        assert veille("export", "-o", str(existing)).exit_code == 0
        assert stat.S_IMODE(existing.stat().st_mode) == 0o600
        assert json.loads(existing.read_text(encoding="utf-8"))["format"] == "veille-backup"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".json") or p.name.startswith(".")) \
            == ["old-backup.json", "out.json"]  # no temporary file left behind
    finally:
        os.umask(old_umask)
    restored = veille("import", str(existing))
    assert restored.exit_code == 0 and words(restored.stdout) == words(SUMMARY.format(0, 3, 0, 3, 0, 3))


def set_pauses_and_backfill() -> None:
    db = Database(os.environ["VEILLE_DATABASE_URL"])

    def change(s: Any) -> None:
        s.execute(update(Feed).where(Feed.url == "https://a.example/feed.xml").values(
            enabled=False, resume_at=datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC), backfill=0.0))
        s.execute(update(Feed).where(Feed.url == "https://b.example/rss").values(enabled=False, backfill=7 * 86400.0))
        s.execute(update(Entity).where(Entity.name == "Kyutai").values(
            enabled=False, resume_at=datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)))
        s.execute(update(Channel).where(Channel.name == "team").values(
            enabled=False, resume_at=datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)))

    db.run(change)


def test_pauses_and_backfill_survive_a_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed()
    set_pauses_and_backfill()
    data = json.loads(veille("export").stdout)
    feeds = {f["url"]: f for f in data["feeds"]}
    assert feeds["https://a.example/feed.xml"] == {**feeds["https://a.example/feed.xml"], "paused": True,
                                                   "paused_until": "2031-01-02T03:04:05+00:00", "backfill": 0}
    assert feeds["https://b.example/rss"] == {**feeds["https://b.example/rss"], "paused": True,
                                              "paused_until": None, "backfill": 604800}
    assert feeds["https://news.example/atom.xml"]["backfill"] is None
    kyutai = next(e for e in data["entities"] if e["name"] == "Kyutai")
    assert (kyutai["paused"], kyutai["paused_until"]) == (True, "2031-02-03T04:05:06+00:00")
    team = next(c for c in data["channels"] if c["name"] == "team")
    assert (team["paused"], team["paused_until"]) == (True, "2031-03-04T05:06:07+00:00")
    backup = tmp_path / "backup.json"
    backup.write_text(json.dumps(data), encoding="utf-8")

    fresh_database(tmp_path, monkeypatch, "restored.db")
    assert veille("import", str(backup)).exit_code == 0
    again = json.loads(veille("export").stdout)
    for key in ("feeds", "entities", "channels"):
        assert again[key] == data[key]
    listed = {f["url"]: f for f in veille("feeds", "list", "--json").json()}
    assert listed["https://a.example/feed.xml"]["resume_at"] == "2031-01-02T03:04:05+00:00"
    assert listed["https://b.example/rss"]["backfill"] == 604800


def test_a_version_1_backup_with_the_old_names_still_imports(tmp_path: Path) -> None:
    path = tmp_path / "v1.json"
    path.write_text(json.dumps({"format": "veille-backup", "version": 1, "feeds": [
        {"url": "https://a.example/feed.xml", "interval": 600, "interval_fixed": True, "enabled": False,
         "resume_at": "2031-01-02T03:04:05+00:00"}],
        "entities": [{"name": "Mistral AI", "aliases": ["Mistral"], "excludes": ["vent"],
                      "options": {"exact_aliases": ["MAI"], "require": ["IA"], "min_mentions": 2}}],
        "channels": [{"name": "hook", "kind": "webhook", "target": "https://hooks.example/x",
                      "options": {"secret": "s3cret"}, "enabled": False}]}), encoding="utf-8")
    assert veille("import", str(path)).exit_code == 0
    [feed] = veille("feeds", "list", "--json").json()
    assert (feed["every"], feed["paused"], feed["paused_until"]) == ("10m", True, "2031-01-02T03:04:05+00:00")
    [entity] = veille("track", "list", "--json").json()
    assert (entity["aliases"], entity["aliases_exact"], entity["exclude"], entity["require"],
            entity["min_mentions"]) == (["Mistral"], ["MAI"], ["vent"], ["IA"], 2)
    [channel] = json.loads(veille("export").stdout)["channels"]
    assert (channel["secret"], channel["paused"]) == ("s3cret", True)


def test_a_backup_without_the_new_fields_still_imports(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": "veille-backup", "version": 1, "feeds": [
        {"url": "https://a.example/feed.xml", "interval": 600, "enabled": False}],
        "entities": [{"name": "Kyutai"}], "channels": []}), encoding="utf-8")
    assert veille("import", str(path)).exit_code == 0
    [feed] = veille("feeds", "list", "--json").json()
    assert (feed["enabled"], feed["resume_at"], feed["backfill"]) == (False, None, None)


def test_importing_email_channels_without_an_smtp_server_warns(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEILLE_SMTP_URL")
    path = tmp_path / "backup.json"
    path.write_text(json.dumps({"format": "veille-backup", "version": 1, "channels": [
        {"name": "ops", "kind": "email", "target": "ops@example.org"}]}), encoding="utf-8")
    result = veille("import", str(path))
    assert result.exit_code == 0
    assert "warning: VEILLE_SMTP_URL is not set: the email channels (ops) fail until" in " ".join(result.stderr.split())
    assert [c["name"] for c in veille("channels", "list", "--json").json()] == ["ops"]
