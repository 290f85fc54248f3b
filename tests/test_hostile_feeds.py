"""Bad input never crashes a task: hostile XML, every file of the shared feed corpora, and generated garbage.

XML attacks are proven by what did not happen: no expanded text in any field, no byte of /etc/passwd,
no request to the loopback server an external entity or DTD points at.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import HTTPFixture, Route
from tests.helpers import atom, rss
from veille import pipeline
from veille.feeds.parse import MAX_ENTRIES, MAX_ENTRY_CHARS, FeedParseError, ParsedFeed, parse_feed
from veille.matching import EntitySpec, Matcher
from veille.pages.urls import normalize_url, url_key
from veille.settings import Settings
from veille.storage.db import Database
from veille.storage.models import Article, Feed, utcnow

REPO = Path(__file__).resolve().parents[1]
PASSWD = Path("/etc/passwd").read_text(encoding="utf-8", errors="replace").splitlines()[0][:12]  # e.g. "root:x:0:0:r"


def eval_data() -> Path:
    path = Path(os.environ.get("VEILLE_EVAL_DATA") or REPO.parent / "shared" / "data")
    if not path.is_dir():
        pytest.skip(f"evaluation data not found at {path} (set VEILLE_EVAL_DATA to its folder)")
    return path


def everything(parsed: ParsedFeed) -> str:
    """Every text the parser produced, in one string."""
    parts = [parsed.title or "", parsed.site_url or ""]
    for entry in parsed.entries:
        parts += [entry.key, entry.title, entry.summary, entry.content, entry.link or "", entry.author or ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------- XML entities

LOLS = "".join(
    f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY lol0 "lol">' + LOLS + "]>\n"
    '<rss version="2.0"><channel><title>&lol9;</title><link>https://example.org/</link>'
    "<item><title>Laughs &lol9;</title><link>https://example.org/a</link><description>&lol9;</description></item>"
    "</channel></rss>"
)
XXE_FILE = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
    '<rss version="2.0"><channel><title>x &xxe;</title><link>https://example.org/</link>'
    "<item><title>&xxe;</title><link>https://example.org/a</link><description>&xxe;</description></item>"
    "</channel></rss>"
)


def one_line(document: str) -> str:
    return document.replace(">\n<!ENTITY", "><!ENTITY").replace("[\n<!ENTITY", "[<!ENTITY").replace(">\n]", ">]")


def many_lines(document: str) -> str:
    return document.replace("><!ENTITY", ">\n<!ENTITY").replace("[<!ENTITY", "[\n<!ENTITY")


@pytest.mark.parametrize("layout", [one_line, many_lines])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_is_not_expanded(layout: Any, encoding: str) -> None:
    document = layout(BILLION_LAUGHS)
    content = document.replace('version="1.0"?>', f'version="1.0" encoding="{encoding}"?>', 1).encode(encoding)
    started = time.monotonic()
    parsed = parse_feed(content, url="https://example.org/feed")
    assert time.monotonic() - started < 2
    text = everything(parsed)
    assert "lollol" not in text and len(text) < 1000  # fully expanded it would be 3 GB of "lol"
    assert [e.link for e in parsed.entries] == ["https://example.org/a"]  # the rest of the feed is read
    if encoding == "utf-8":  # the declaration scan reads bytes: UTF-16 prologs are not reported, still inert
        assert any("entity declaration(s) refused" in note for note in parsed.notes)


@pytest.mark.parametrize("layout", [one_line, many_lines])
def test_xxe_does_not_read_local_files(layout: Any) -> None:
    parsed = parse_feed(layout(XXE_FILE).encode(), url="https://example.org/feed")
    assert PASSWD not in everything(parsed) and "root:" not in everything(parsed)
    assert any("entity declaration(s) refused" in note for note in parsed.notes)


@pytest.mark.parametrize("template", [
    # an external general entity
    '<!DOCTYPE rss [<!ENTITY ext SYSTEM "{url}">]><rss version="2.0"><channel><title>&ext;</title>'
    '<item><title>t</title><link>https://example.org/a</link></item></channel></rss>',
    # a parameter entity pulled in the internal subset (the classic out-of-band XXE)
    '<!DOCTYPE rss [\n<!ENTITY % remote SYSTEM "{url}">\n%remote;\n]><rss version="2.0"><channel><title>t</title>'
    '<item><title>t</title><link>https://example.org/a</link></item></channel></rss>',
    # an external DTD
    '<!DOCTYPE rss SYSTEM "{url}"><rss version="2.0"><channel><title>t</title>'
    '<item><title>t</title><link>https://example.org/a</link></item></channel></rss>',
    # a PUBLIC identifier
    '<!DOCTYPE rss PUBLIC "-//Evil//DTD//EN" "{url}"><rss version="2.0"><channel><title>t</title>'
    '<item><title>t</title><link>https://example.org/a</link></item></channel></rss>',
])
def test_external_entities_and_dtds_are_never_fetched(web: HTTPFixture, template: str) -> None:
    web.routes["/evil"] = Route(b'<!ENTITY leak "LEAKED">', "application/xml-dtd")
    content = ('<?xml version="1.0"?>\n' + template.format(url=web.url("/evil"))).encode()
    parsed = parse_feed(content, url="https://example.org/feed")
    assert web.requests == []
    assert "LEAKED" not in everything(parsed)
    assert [e.link for e in parsed.entries] == ["https://example.org/a"]


def test_plain_text_entities_still_work() -> None:
    content = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY copy "(C)">\n<!ENTITY nbsp "&#160;">\n]>\n'
        b'<rss version="2.0"><channel><title>Lab &copy;</title><item><title>A&nbsp;B</title>'
        b"<link>https://example.org/a</link></item></channel></rss>"
    )
    parsed = parse_feed(content, url="https://example.org/feed")
    assert parsed.title == "Lab (C)" and parsed.entries[0].title == "A\xa0B" and parsed.notes == ()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[pipeline.Context]:
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    db = Database(url)
    db.upgrade()
    config = Settings(_env_file=None, database_url=url, allow_private_addresses=True)  # type: ignore[call-arg]
    yield pipeline.Context(settings=config, db=db)
    db.dispose()


def test_hostile_xml_through_the_poller_stores_nothing_leaked(ctx: pipeline.Context, web: HTTPFixture) -> None:
    web.routes["/laughs.xml"] = Route(BILLION_LAUGHS.encode(), "application/rss+xml")
    web.routes["/xxe.xml"] = Route(XXE_FILE.encode(), "application/rss+xml")
    ids = add_feeds(ctx, [web.url("/laughs.xml"), web.url("/xxe.xml")])
    results = pipeline.poll_feeds(ctx, ids)
    assert [r.status for r in results] == ["ok", "ok"]
    stored = ctx.db.run(lambda s: [(a.title or "") + (a.feed_summary or "") + (a.text or "")
                                   for a in s.scalars(select(Article))])
    assert len(stored) == 1  # both feeds point at https://example.org/a: one article
    assert all("lollol" not in text and "root:" not in text for text in stored)
    notes = ctx.db.run(lambda s: [f.last_error for f in s.scalars(select(Feed).order_by(Feed.id))])
    assert all(note and "entity declaration(s) refused" in note for note in notes)


def add_feeds(ctx: pipeline.Context, urls: list[str]) -> list[int]:
    def work(s: Any) -> list[int]:
        feeds = [Feed(url=url, interval=900.0, next_poll_at=utcnow() - timedelta(seconds=1)) for url in urls]
        s.add_all(feeds)
        s.flush()
        return [int(f.id) for f in feeds]

    return ctx.db.run(work)


# --------------------------------------------------------------------------- the shared corpora


def corpus_files() -> list[Path]:
    root = eval_data()
    files = [p for folder in ("feedparser-tests", "feeds") for p in sorted((root / folder).rglob("*")) if p.is_file()]
    assert len(files) > 500, f"expected the feed corpora under {root}"
    return files


def is_feed_file(path: Path) -> bool:
    """A file that is a feed, not a README, a manifest, a licence or an expected parser output."""
    name = path.name
    return ((path.suffix in (".xml", ".rss", ".atom", ".rdf", ".json") and not name.endswith(".serde.json")
            and not name.endswith(".expected.json") and "fastfeedparser" not in path.parts[-2:-1])
            or path.suffix == ".xml")


def test_every_corpus_file_parses_or_is_rejected_with_a_reason() -> None:
    counts: Counter[str] = Counter()
    crashes: list[str] = []
    rejected: dict[str, str] = {}
    for path in corpus_files():
        url = f"https://feeds.example/{path.name}"
        try:
            parsed = parse_feed(path.read_bytes(), url=url)
        except FeedParseError as exc:
            counts["rejected"] += 1
            rejected[str(path)] = str(exc)
            assert str(exc).startswith("parser: ") and url in str(exc) and str(exc).isprintable(), str(exc)
            continue
        except Exception as exc:  # the one outcome that must never happen
            crashes.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        counts["parsed"] += 1
        assert len(parsed.entries) <= MAX_ENTRIES
        assert all(e.key and len(e.summary) <= MAX_ENTRY_CHARS and len(e.content) <= MAX_ENTRY_CHARS
                   for e in parsed.entries)
    print(f"\ncorpus: {counts['parsed']} parsed, {counts['rejected']} rejected, {len(crashes)} exceptions")
    assert crashes == []
    # what is rejected is never a feed: documentation, manifests, expected outputs, plain XML, an empty file
    feeds_rejected = {p: reason for p, reason in rejected.items() if is_feed_file(Path(p))}
    assert all(p.endswith(("rss_empty_document.xml", "xml_sample_1.xml", "xml_sample_2.xml"))
               for p in feeds_rejected), feeds_rejected
    assert counts["parsed"] >= 470


def test_every_entry_with_an_identity_is_kept() -> None:
    """What feedparser reads, parse_feed keeps: each entry with a GUID or a link (up to MAX_ENTRIES)."""
    import feedparser

    checked = 0
    for path in corpus_files():
        content = path.read_bytes()
        if path.suffix == ".json" or not is_feed_file(path):
            continue
        raw = feedparser.parse(content)
        expected = [e for e in raw.entries[:MAX_ENTRIES]
                    if (e.get("id") or "").strip() or (e.get("link") or "").strip()]
        try:
            parsed = parse_feed(content, url="https://feeds.example/feed")
        except FeedParseError:
            assert not expected, path
            continue
        assert len(parsed.entries) == len(expected), path
        checked += len(expected)
    assert checked > 5000


@pytest.mark.slow
def test_every_corpus_file_through_the_poller(ctx: pipeline.Context, web: HTTPFixture) -> None:
    """Served over HTTP and polled for real: each feed ends "ok" or with a recorded error, never a crash."""
    files = corpus_files()
    for index, path in enumerate(files):
        web.routes[f"/f/{index}"] = Route(path.read_bytes(), "application/xml")
    ids = add_feeds(ctx, [web.url(f"/f/{i}") for i in range(len(files))])
    results: list[pipeline.FeedResult] = []
    for start in range(0, len(ids), 100):
        results += pipeline.poll_feeds(ctx, ids[start:start + 100])
    statuses = Counter(r.status for r in results)
    crashed = [r.error for r in results if r.error and r.error.startswith("store:")]
    articles = ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(Article)))
    print(f"\ncorpus through the poller: {dict(statuses)}, {articles} articles stored")
    assert crashed == []
    assert statuses["ok"] >= 470 and set(statuses) <= {"ok", "error"}
    recorded = ctx.db.run(lambda s: s.scalars(select(Feed).where(Feed.last_status == "error")).all())
    assert all(f.last_error and f.last_error.startswith("parser: ") for f in recorded)


# --------------------------------------------------------------------------- generated garbage

SEEDS = [
    rss([{"title": "Kyutai", "link": "https://example.org/a", "guid": "1", "description": "<p>Moshi</p>",
          "pubDate": "Tue, 10 Jun 2025 04:00:00 GMT"}]),
    atom([{"title": "Mistral AI", "link": "https://example.org/b", "summary": "x", "content": "<b>y</b>"}]),
    b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": 1, "url": "https://e.org/c",'
    b' "title": "T", "content_html": "<p>x</p>", "date_published": "2025-01-01T00:00:00Z"}]}',
]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parses_or_refuses(content: bytes) -> None:
    try:
        parsed = parse_feed(content, url="https://example.org/feed")
    except FeedParseError as exc:
        assert str(exc).startswith("parser: ")
        return
    assert len(parsed.entries) <= MAX_ENTRIES
    for entry in parsed.entries:
        assert isinstance(entry.key, str) and entry.key
        assert isinstance(entry.title, str) and len(entry.title) <= 2000
        assert len(entry.summary) <= MAX_ENTRY_CHARS and len(entry.content) <= MAX_ENTRY_CHARS


@FAST
@given(st.binary(max_size=4000))
def test_any_bytes(content: bytes) -> None:
    parses_or_refuses(content)


@FAST
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_real_feeds(seed: bytes, data: st.DataObject) -> None:
    content = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(content)))
        action = data.draw(st.sampled_from(["cut", "insert", "repeat", "flip"]))
        if action == "cut":
            del content[at:at + data.draw(st.integers(1, 40))]
        elif action == "insert":
            content[at:at] = data.draw(st.binary(min_size=1, max_size=40) | st.sampled_from(
                [b"<!ENTITY a SYSTEM 'file:///etc/passwd'>", b"&a;", b"<![CDATA[", b"]]>", b"\xff\xfe", b"\x00",
                 b"<item>", b"</channel>", b'"items": [', b"{", b"null"]))
        elif action == "repeat":
            content[at:at] = content[at:at + 30] * data.draw(st.integers(2, 50))
        elif content:
            content[min(at, len(content) - 1)] ^= data.draw(st.integers(1, 255))
    parses_or_refuses(bytes(content))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@FAST
@given(title=json_values, items=json_values, item=st.dictionaries(
    st.sampled_from(["id", "url", "external_url", "title", "content_html", "content_text", "summary",
                     "date_published", "date_modified", "author", "authors"]), json_values, max_size=8))
def test_json_feeds_with_anything_anywhere(title: Any, items: Any, item: dict[str, Any]) -> None:
    import json

    for document in ({"version": "https://jsonfeed.org/version/1", "title": title, "items": items},
                     {"version": "https://jsonfeed.org/version/1.1", "items": [item, items]}):
        parses_or_refuses(json.dumps(document).encode())


@FAST
@given(fields=st.lists(st.tuples(st.sampled_from(["title", "link", "guid", "description", "pubDate"]),
                                 st.text(max_size=200)), max_size=12))
def test_generated_rss_items(fields: list[tuple[str, str]]) -> None:
    parses_or_refuses(rss([dict(fields)]))


# --------------------------------------------------------------------------- URLs and matching

url_parts = st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", "", "http:/", "https:///"])
hosts = st.sampled_from(["example.org", "EXAMPLE.org.", "www.example.org", "bücher.example", "[::1]", "[::1",
                         "127.0.0.1", "xn--", "a..b", "", "host:99999", "host:-1", "user:pw@host", "%41.org",
                         "ex ample.org", "\u0000", "例え.テスト"])
tails = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


@FAST
@given(scheme=url_parts, host=hosts, tail=tails, base=st.none() | st.sampled_from(
    ["https://example.org/a/b/", "http://[::1]:8080/", "https://bücher.example/x?y=1", "not a url"]))
def test_url_normalization_refuses_or_is_stable(scheme: str, host: str, tail: str, base: str | None) -> None:
    url = scheme + host + tail
    try:
        normal = normalize_url(url, base=base)
    except ValueError:
        return  # the one documented refusal
    assert normal.startswith(("http://", "https://"))
    assert normalize_url(normal) == normal
    assert url_key(normal) == url_key(url if base is None else normal)


@FAST
@given(st.text(max_size=300), st.none() | st.text(max_size=100))
def test_url_normalization_of_any_text(url: str, base: str | None) -> None:
    try:
        normal = normalize_url(url, base=base)
    except ValueError:
        return
    assert normalize_url(normal) == normal
    url_key(normal)


terms = st.text(max_size=30) | st.sampled_from(["Kyutai", "Mistral AI", "d’Iliad", "\u0301", "'", " ", "AI",
                                                  "深度求索", "Ⅻ", "ß", "İ", "ﬁ"])


@FAST
@given(
    specs=st.lists(st.tuples(terms, st.lists(terms, max_size=3), st.lists(terms, max_size=2), st.booleans(),
                             st.none() | st.text(max_size=40)), min_size=1, max_size=4),
    title=st.text(max_size=200), text=st.text(max_size=2000), url=st.none() | st.text(max_size=80),
)
def test_matcher_with_garbage_entities_and_texts(
    specs: list[tuple[str, list[str], list[str], bool, str | None]], title: str, text: str, url: str | None
) -> None:
    entities = [EntitySpec(i, name, aliases=tuple(aliases), excludes=tuple(excludes), exact=exact, query=query)
                for i, (name, aliases, excludes, exact, query) in enumerate(specs, 1)]
    try:
        matcher = Matcher(entities)
    except ValueError:  # QuerySyntaxError included
        return  # a bad query or a name without a letter is refused when the entity is added, with its message
    report = matcher.match(title=title, text=text, url=url)
    for hit in report.matches:
        start, end = hit.highlight
        assert 0 <= start <= end <= len(hit.snippet)
        assert hit.entity_id in range(1, len(entities) + 1)
