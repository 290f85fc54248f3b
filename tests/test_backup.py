"""`veille export` / `veille import`: a JSON backup of feeds, tracked entities and channels, restored into an
empty database or over an existing one (what exists is skipped), and refused whole when the file is bad."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import veille

pytestmark = pytest.mark.usefixtures("veille_env")


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
    assert data["format"] == "veille-backup" and data["version"] == 1
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


def test_export_to_a_file(tmp_path: Path) -> None:
    seed()
    target = tmp_path / "out.json"
    result = veille("export", "--output", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert len(json.loads(target.read_text(encoding="utf-8"))["feeds"]) == 3
