"""The bench instrument works: the farm serves what it says, and a tiny run measures every phase.

Figures are not asserted (speed is measured by `make bench`, not by tests); what is asserted is that
the instrument sees what happened: articles stored, alerts delivered, 304s counted, processes found.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from veille.bench.farm import Farm, make_farm
from veille.bench.pages import ENTITY, SENTENCE, prepare
from veille.bench.run import Options, run

DATA = Path(os.environ.get("VEILLE_EVAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
needs_data = pytest.mark.skipif(
    not (DATA / "extraction-benchmark" / "html").is_dir(),
    reason=f"bench pages not found in {DATA}/extraction-benchmark/html (set VEILLE_EVAL_DATA)",
)


def test_prepare_replaces_canonical_links_and_names_the_entity_in_the_article_body() -> None:
    body = "Le laboratoire a publié ses poids hier soir. " * 8
    html = (
        '<html><head><link rel="canonical" href="https://news.example/a"><link rel="amphtml" href="/amp">'
        '<meta property="og:url" content="https://news.example/a"></head><body>'
        "<p>Short teaser.</p><div class='sidebar'><p>" + "Most read elsewhere on the site today. " * 8 + "</p></div>"
        f"<article><p>{body}</p></article></body></html>"
    ).encode()
    template = prepare(html, "page.html.gz", body=body)
    assert template is not None
    page = template.render("http://127.0.0.3:8000/f2/a0.html")
    assert page.count(b"canonical") == 1 and b"amphtml" not in page and b"og:url" not in page
    assert b'<link rel="canonical" href="http://127.0.0.3:8000/f2/a0.html">' in page
    # the sentence goes into the article's paragraph, not the sidebar's longer-looking one
    assert page.index(SENTENCE) > page.index(b"<article>")
    assert ENTITY.encode() in SENTENCE
    # two articles made from one page are not the same text (veille would make them one story)
    other = template.render("http://127.0.0.4:8000/f3/a1.html")
    assert SENTENCE in other and other.split(SENTENCE)[1][:200] != page.split(SENTENCE)[1][:200]


def test_prepare_puts_the_sentence_in_the_article_not_in_json_ld_a_caption_or_a_comment() -> None:
    """Pages carry the lead more than once: in JSON-LD's articleBody (with its own <p>), in a photo caption, in
    a reader's quote. The sentence must go where a reader sees the article start, or the bench counts as a
    missed mention a sentence that no reader would see in the article either."""
    lead = "Le laboratoire parisien a publie hier soir les poids de son modele vocal, une premiere en Europe."
    rest = ["Les chercheurs expliquent comment ils ont entraine le modele sur des milliers d'heures.",
            "Le code est publie sous licence libre et la communaute peut deja l'essayer en ligne.",
            "Une version plus grande est attendue au printemps, selon l'equipe de direction."]
    body = "\n".join([lead * 2, *(r * 2 for r in rest)])
    paragraphs = "".join(f"<p>{r * 2}</p>" for r in rest)
    html = (
        '<html><head><script type="application/ld+json">{"articleBody": "<p>' + lead * 2 + '</p>"}</script>'
        "</head><body><figure><img src='a.jpg'><p class=\"wp-caption-text\">" + lead * 2 + "</p></figure>"
        f"<article><p>{lead * 2}</p>{paragraphs}</article>"
        "<div class='comments'><p class='quote'>" + lead * 2 + "</p></div></body></html>"
    ).encode()
    template = prepare(html, "page.html.gz", body=body)
    assert template is not None
    page = template.render("http://127.0.0.3:8000/f2/a0.html")
    assert page.count(SENTENCE) == 1
    assert page.index(b"<article>") < page.index(SENTENCE) < page.index(b"</article>")


def test_prepare_refuses_a_page_without_a_paragraph() -> None:
    assert prepare(b"<html><head></head><body><div>nothing here</div></body></html>") is None


@pytest.fixture
def farm() -> Iterator[Farm]:
    instance = make_farm(DATA, feeds=3, items=2, hosts=2, latency=0.0)
    loop = asyncio.new_event_loop()
    ready, stop = asyncio.Event(), asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(instance.serve(ready, stop),), daemon=True)
    thread.start()
    for _ in range(200):
        if ready.is_set():
            break
        threading.Event().wait(0.02)
    yield instance
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


@needs_data
def test_farm_serves_feeds_on_distinct_hosts_with_304_and_pages_naming_the_entity(farm: Farm) -> None:
    urls = [farm.feed_url(i) for i in range(3)]
    assert {httpx.URL(u).host for u in urls} == {"127.0.0.1", "127.0.0.2"}
    with httpx.Client() as client:
        feed = client.get(urls[1])
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/rss+xml")
        assert feed.text.count("<item>") == 2
        etag = feed.headers["ETag"]
        assert client.get(urls[1], headers={"If-None-Match": etag}).status_code == 304
        assert client.get(urls[1], headers={"If-Modified-Since": feed.headers["Last-Modified"]}).status_code == 304

        link = feed.text.split("<link>")[2].split("</link>")[0]  # the first item's link (the channel's is first)
        page = client.get(link)  # httpx asks for gzip and decodes it
        assert page.status_code == 200 and page.headers["content-encoding"] == "gzip"
        assert ENTITY in page.text and f'<link rel="canonical" href="{link}">' in page.text
        raw = client.get(link, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers and raw.content == page.content

        published = client.post(f"http://127.0.0.1:{farm.port}/_farm/publish?feed=1").json()
        again = client.get(urls[1], headers={"If-None-Match": etag})
        assert again.status_code == 200 and published["url"] in again.text and again.text.count("<item>") == 3
        assert client.get(published["url"]).status_code == 200
        assert client.post(f"http://127.0.0.1:{farm.port}/_farm/publish?feed=9").status_code == 400

        stats = client.get(f"http://127.0.0.1:{farm.port}/_farm/stats").json()
    assert stats["feed"]["requests"] == 4 and stats["feed"]["statuses"] == {"200": 2, "304": 2}
    assert stats["page"]["requests"] == 3 and stats["page"]["bytes_out"] > len(gzip.compress(b"x"))


@needs_data
@pytest.mark.slow
def test_a_tiny_run_measures_the_service_and_veille_poll(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = run(Options(
        data=DATA, feeds=5, items=2, hosts=2, latency=0.0, concurrency=2, interval=10.0, steady=12.0,
        publish=2, publish_window=2.0, first_poll_timeout=120.0, entities=200, peers=False,
        json_out=tmp_path / "bench.json",
    ))
    printed = capsys.readouterr().out
    assert (tmp_path / "bench.json").exists() and "== targets ==" in printed

    veille_first, veille_second = report.head_to_head["veille"]
    assert veille_first["returncode"] == 0 and veille_first["pages"]["requests"] == 10
    assert veille_first["emails"] >= 1  # the email channel to the loopback sink got the alerts
    assert veille_second["feeds"]["statuses"] == {"304": 5} and veille_second["pages"]["requests"] == 0
    assert veille_second["emails"] == 0 and veille_second["max_rss_kb"] > 0

    service = report.service
    first = service["first_poll"]
    assert first["finished"] and first["articles"] == 10 and first["alerts_delivered"] >= 1
    assert first["articles_per_second"] > 0 and first["cpu_seconds"] > 0
    steady = service["steady"]
    assert steady["polls"] >= 5 and set(steady["statuses"]) == {"304"} and steady["pages"] == 0
    assert steady["cpu_per_poll_ms"] > 0 and steady["bytes_per_poll"] > 0
    assert service["latency"]["delivered"] == service["latency"]["published"] == 2
    assert service["latency"]["p95"] >= service["latency"]["p50"] > 0
    assert len(service["memory"]) >= 3 and all(m["rss_mb"] > 0 for m in service["memory"])
    assert service["database"]["articles"] == 12 and service["database"]["bytes"] > 0
    assert report.matcher["articles_per_second"] > 0
    assert {t["target"] for t in report.targets} >= {"first poll, articles/s end to end", "peak resident memory "
                                                     "per process (MB)", "p95 publication to alert (s)"}


@needs_data
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("rss2email") is None,
                    reason="rss2email is the bench extra: pip install -e '.[bench]' (make bench does)")
def test_rss2email_and_the_plain_loop_run_against_the_same_farm(tmp_path: Path) -> None:
    report = run(Options(data=DATA, feeds=4, items=2, hosts=2, latency=0.0, service=False, entities=0))
    r2e_first, r2e_second = report.head_to_head["r2e"]
    assert r2e_first["returncode"] == 0 and r2e_first["emails"] == 8 and r2e_first["pages"]["requests"] == 0
    assert r2e_second["emails"] == 0 and r2e_second["feeds"]["statuses"] == {"304": 4}
    plain_first, plain_second = report.head_to_head["plain"]
    assert plain_first["pages"]["requests"] == 8 and plain_second["pages"]["requests"] == 0
    assert plain_second["feeds"]["statuses"] == {"304": 4}
    assert report.head_to_head["r2e_ratio"]["second"] > 0
