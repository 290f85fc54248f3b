"""`python -m veille.eval feeds`: every feed of the corpora through parse_feed, counted, never an exception."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import rss
from veille.eval import EXPECTED_OUTPUTS, evaluate_feeds, is_expected_output, load_feed_files, main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def feed_data() -> Path:
    """The shared evaluation data (``VEILLE_EVAL_DATA``, default ``<repo>/../shared/data``), or a skip."""
    path = Path(os.environ.get("VEILLE_EVAL_DATA") or REPO.parent / "shared" / "data")
    missing = [name for name in ("feeds", "feedparser-tests") if not (path / name).is_dir()]
    if missing:
        pytest.skip(f"feed corpora not found: {', '.join(str(path / m) for m in missing)} "
                    f"(set VEILLE_EVAL_DATA to the folder that holds them)")
    return path


def test_every_corpus_file_parses_or_is_rejected_with_a_reason(feed_data: Path) -> None:
    printed: list[str] = []
    report = evaluate_feeds(feed_data, out=printed.append)

    assert report.exceptions == {}, "parse_feed raised something other than FeedParseError"
    assert report.total.exceptions == 0
    on_disk = [p for corpus in ("feeds", "feedparser-tests") for p in (feed_data / corpus).rglob("*")
               if p.is_file() and p.name not in ("README.md", "MANIFEST.tsv", "EXPECTATIONS.tsv", "LICENSE")]
    assert report.total.files == len(on_disk) > 500
    counts = report.total
    assert counts.parsed + counts.recovered + counts.empty_warned + counts.rejected == counts.files
    # the real feeds are read, not merely survived: nearly all of them give entries
    feeds = report.groups["feeds"]
    assert feeds.parsed + feeds.recovered >= 0.95 * feeds.files
    assert feeds.entries > 4000
    # a parser's expected output is JSON but not a feed: rejected, with the reason
    assert report.groups[EXPECTED_OUTPUTS].rejected == report.groups[EXPECTED_OUTPUTS].files
    assert all(reason.startswith("parser: ") for reason in report.reasons)
    total_line = next(line for line in printed if line.startswith("total"))
    assert total_line.split()[1:7] == [str(counts.files), str(counts.parsed), str(counts.recovered),
                                       str(counts.empty_warned), str(counts.rejected), "0"]


def make_corpora(root: Path) -> Path:
    feeds = root / "feeds" / "mixed"
    feeds.mkdir(parents=True)
    (root / "feeds" / "README.md").write_text("# not a feed\n")
    (feeds / "good.xml").write_bytes(rss([{"title": "Kyutai releases Moshi", "link": "https://a.example/1"}]))
    (feeds / "recovered.xml").write_bytes(  # a bare "&" makes it ill-formed; feedparser still reads the item
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>R & D</title>'
        b"<item><title>Mistral & co</title><link>https://a.example/2</link></item></channel></rss>"
    )
    (feeds / "page.html").write_bytes(b"<!DOCTYPE html><html><body><p>Not a feed</p></body></html>")
    (feeds / "empty.xml").write_bytes(b"")
    (feeds / "pair.xml").write_bytes(rss([{"title": "Pair", "link": "https://a.example/3"}]))
    (feeds / "pair.json").write_text('{"entries": [{"title": "Pair"}]}')  # the parser output expected for pair.xml
    tests = root / "feedparser-tests" / "encoding"
    tests.mkdir(parents=True)
    (root / "feedparser-tests" / "LICENSE").write_text("BSD\n")
    (root / "feedparser-tests" / "EXPECTATIONS.tsv").write_text(
        "file\tdescription\texpect_python_expr_over_feedparser_result\thttp_headers_to_simulate\tskip_unless\n"
        "encoding/http_latin1.xml\tHTTP charset\tnot bozo\tContent-type: application/rss+xml; charset=iso-8859-1\t\n",
        encoding="utf-8",
    )
    (tests / "http_latin1.xml").write_bytes(
        '<rss version="2.0"><channel><title>Élysée</title><item><title>Hervé Jégou</title>'
        "<link>https://a.example/4</link></item></channel></rss>".encode("iso-8859-1")
    )
    return root


def test_counts_and_reasons_on_a_small_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_corpora(tmp_path)
    files = {item.name: item for item in load_feed_files(data)}
    assert sorted(files) == [
        "feedparser-tests/encoding/http_latin1.xml",
        "feeds/mixed/empty.xml", "feeds/mixed/good.xml", "feeds/mixed/page.html", "feeds/mixed/pair.json",
        "feeds/mixed/pair.xml", "feeds/mixed/recovered.xml",
    ]
    assert files["feeds/mixed/pair.json"].group == EXPECTED_OUTPUTS
    assert files["feedparser-tests/encoding/http_latin1.xml"].headers == {
        "Content-type": "application/rss+xml; charset=iso-8859-1"
    }

    assert main(["feeds", "--data", str(data)]) == 0
    printed = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:8] for line in printed.splitlines() if line.startswith(("feeds ", "feedp"))}
    #                  files parsed recovered warned-empty rejected exceptions entries
    assert rows["feeds"] == ["5", "2", "1", "0", "2", "0", "3"]
    assert rows["feedparser-tests"] == ["1", "1", "0", "0", "0", "0", "1"]
    assert "parser: an HTML page  [feeds/mixed/page.html]" in printed
    assert "[feeds/mixed/empty.xml]" in printed
    assert "exceptions (bugs" not in printed


def test_expected_outputs_are_told_from_json_feeds(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<rss/>")
    for name in ("a.json", "b.serde.json", "c.expected.json", "c.json"):
        (tmp_path / name).write_text("{}")
    assert [is_expected_output(tmp_path / n) for n in ("a.json", "b.serde.json", "c.expected.json", "c.json")] \
        == [True, True, True, False]  # c.json has no feed beside it: it is a feed (a JSON Feed) itself


def test_missing_corpora_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "feeds").mkdir()
    assert main(["feeds", "--data", str(tmp_path)]) == 2
    assert f"{tmp_path / 'feedparser-tests'} not found" in capsys.readouterr().err
