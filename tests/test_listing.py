"""The article links of a listing page (veille.pages.listing), and `python -m veille.eval listing`.

Small pages written for these tests (tests/fixtures/listing) run everywhere; the evaluation on the shared,
hand-labelled pages runs when that folder is there.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from veille.eval import evaluate_listing, main
from veille.pages.listing import find_article_links, registrable_domain, text_date

REPO = Path(__file__).resolve().parents[1]
PAGES = Path(__file__).parent / "fixtures" / "listing"


def links(name: str, url: str, **options: bool) -> list[tuple[str, str | None, datetime | None]]:
    return [(link.url, link.title, link.published)
            for link in find_article_links((PAGES / name).read_bytes(), url, **options)]


def test_a_newsroom_gives_its_articles_and_nothing_of_its_menus_tags_authors_or_pagination() -> None:
    found = links("newsroom.html", "https://www.example.com/news")

    assert found == [
        # a featured card whose address says nothing: its heading and its date make it an article
        ("https://www.example.com/atlas", "Project Atlas", datetime(2026, 4, 7, tzinfo=UTC)),
        ("https://www.example.com/news/introducing-atlas-7-for-everyone",
         "Introducing Atlas 7, our most capable model yet", datetime(2026, 4, 2, 9, tzinfo=UTC)),
        # tracking parameters gone, as everywhere in veille
        ("https://www.example.com/news/a-new-office-in-paris",
         "A new office in Paris to work with European researchers", datetime(2026, 3, 28, tzinfo=UTC)),
        # a subdomain of the same site counts
        ("https://blog.example.com/2026/03/20/how-we-evaluate-safety/", "How we evaluate the safety of our systems",
         datetime(2026, 3, 20, tzinfo=UTC)),
        # a date written out in the card (day.month.year)
        ("https://www.example.com/news/partnership-with-a-hospital-network", "A partnership with a hospital network",
         datetime(2026, 3, 12, tzinfo=UTC)),
    ]


def test_any_site_takes_other_sites_articles_too_but_never_social_networks() -> None:
    urls = [url for url, _, _ in links("newsroom.html", "https://www.example.com/news", any_site=True)]
    assert "https://www.othernews.example/2026/04/01/example-lab-raises-money-from-investors" in urls
    assert not any("twitter.com" in url or "linkedin.com" in url for url in urls)
    assert len(urls) == 6


def test_a_page_rendered_from_next_data_is_read_from_its_json() -> None:
    found = links("nextjs.html", "https://mistral.example/blog")
    assert found == [
        ("https://mistral.example/blog/le-chat-gets-a-memory", "Le Chat gets a memory that you control",
         datetime(2026, 3, 30, 10, tzinfo=UTC)),
        ("https://mistral.example/blog/a-small-model-for-phones", "A small model that runs on phones",
         datetime(2026, 3, 18, 10, tzinfo=UTC)),
        ("https://mistral.example/blog/open-weights-for-researchers", "Open weights for researchers",
         datetime(2026, 2, 1, tzinfo=UTC)),
    ]  # and not the JSON's menu (Home, Models, Pricing)


def test_a_page_state_list_beside_the_listing_it_renders_adds_nothing() -> None:
    """A server-rendered page whose JSON state holds its listing and a "most read" list of other articles."""
    posts = [{"slug": f"post-number-{n}-about-models", "title": f"Post number {n} about the new models"}
             for n in range(1, 4)]
    popular = [{"url": f"/blog/popular-story-{n}-of-the-year", "title": f"Popular story {n} of the whole year"}
               for n in range(1, 5)]
    state = json.dumps({"props": {"pageProps": {"posts": posts, "mostRead": popular}}})
    cards = "".join(f"<li><a href='/blog/{p['slug']}'>{p['title']}</a></li>" for p in posts)
    html = (f"<html><body><main><ul>{cards}</ul></main>"
            f"<script id='__NEXT_DATA__' type='application/json'>{state}</script></body></html>")
    urls = [link.url for link in find_article_links(html, "https://lab.example/blog")]
    assert urls == [f"https://lab.example/blog/post-number-{n}-about-models" for n in range(1, 4)]
    # built in the browser (no HTML cards), both lists are all the page has: both are read
    assert len(find_article_links(html.replace(cards, ""), "https://lab.example/blog")) == 7


def test_a_json_ld_item_list_is_read_and_a_breadcrumb_is_not() -> None:
    found = links("itemlist.html", "https://www.example.org/latest")
    assert [(url, title) for url, title, _ in found] == [
        ("https://www.example.org/story/the-robots-are-learning-to-cook/", "The robots are learning to cook"),
        ("https://www.example.org/story/chips-are-getting-cheaper-again", "Chips are getting cheaper again"),
    ]
    assert found[1][2] == datetime(2026, 1, 15, 7, tzinfo=UTC)


def card(path: str, title: str, date: str = "") -> str:
    when = f"<span class='date'>{date}</span>" if date else ""
    return f"<li><a href='{path}'>{title}</a>{when}</li>"


def test_undated_side_boxes_beside_a_dated_listing_are_left_out() -> None:
    main = "".join(card(f"/news/story-number-{n}-about-ai", f"Story number {n} about the labs", f"{n}.03.2026")
                   for n in range(1, 6))
    side = "".join(card(f"/video/clip-number-{n}-of-the-week", f"Clip number {n} of the week, watch it")
                   for n in range(1, 5))
    html = (f"<html><body><main><ul>{main}</ul></main>"
            f"<section><h3>Top videos</h3><ul>{side}</ul></section></body></html>")
    urls = [link.url for link in find_article_links(html, "https://lab.example/news")]
    assert urls == [f"https://lab.example/news/story-number-{n}-about-ai" for n in range(1, 6)]

    # without dates in the main listing, both lists are articles
    undated = html.replace(".03.2026", "")
    for n in range(1, 6):
        undated = undated.replace(f">{n}<", "><")
    assert len(find_article_links(undated, "https://lab.example/news")) == 9


def test_a_page_with_menus_only_gives_no_link() -> None:
    html = ("<html><body><header><nav><a href='/news/one-two-three-four'>One two three four</a></nav></header>"
            "<main><p>Nothing here yet. <a href='/about'>About us</a> <a href='/news/archive'>See all</a></p>"
            "</main><footer><a href='/legal/terms'>Terms</a></footer></body></html>")
    assert find_article_links(html, "https://lab.example/") == []


def test_relative_links_resolve_against_base_href() -> None:
    html = ("<html><head><base href='https://cdn.example.net/en/'></head><body><main>"
            "<a href='posts/how-the-new-model-was-trained'>How the new model was trained, step by step</a>"
            "</main></body></html>")
    found = find_article_links(html, "https://www.example.net/en/blog")
    assert [link.url for link in found] == ["https://cdn.example.net/en/posts/how-the-new-model-was-trained"]


def test_registrable_domain_uses_the_public_suffix_list() -> None:
    assert registrable_domain("uk.news.yahoo.com") == "yahoo.com"
    assert registrable_domain("www.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("lab.github.io") == "lab.github.io"  # a public suffix: each user is a site
    assert registrable_domain("127.0.0.1") == "127.0.0.1"
    assert registrable_domain("localhost") == "localhost"


@pytest.mark.parametrize(("text", "dated", "expected"), [
    ("Announcements Apr 6, 2026", True, datetime(2026, 4, 6, tzinfo=UTC)),
    ("Publié le 6 avril 2026", True, datetime(2026, 4, 6, tzinfo=UTC)),
    ("News 12.11.2018", True, datetime(2018, 11, 12, tzinfo=UTC)),
    ("2026-01-31 update", True, datetime(2026, 1, 31, tzinfo=UTC)),
    ("3 hours ago", True, None),
    ("03/04/2024", True, None),  # a date, but which
    ("Model 4.6 is out", False, None),
])
def test_dates_written_in_a_card(text: str, dated: bool, expected: datetime | None) -> None:
    assert text_date(text) == (dated, expected)


# --------------------------------------------------------------------------- the evaluation


def write_page(folder: Path, name: str, html: str, url: str, expected: list[str]) -> None:
    (folder / f"{name}.html").write_text(html, encoding="utf-8")
    (folder / f"{name}.url").write_text(url + "\n", encoding="utf-8")
    (folder / f"{name}.expected.txt").write_text("\n".join(expected) + "\n", encoding="utf-8")


def test_the_evaluation_scores_each_page_and_pools_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    newsroom = (PAGES / "newsroom.html").read_text(encoding="utf-8")
    # labelled as written in a page: tracking parameters and trailing slashes are compared after normalization
    write_page(tmp_path, "lab", newsroom, "https://www.example.com/news", [
        "https://www.example.com/atlas/",
        "https://www.example.com/news/introducing-atlas-7-for-everyone?utm_source=x",
        "https://www.example.com/news/a-new-office-in-paris",
        "https://blog.example.com/2026/03/20/how-we-evaluate-safety/",
        "https://www.example.com/news/partnership-with-a-hospital-network",
        "https://www.example.com/news/one-the-finder-misses",
    ])
    write_page(tmp_path, "next", (PAGES / "nextjs.html").read_text(encoding="utf-8"), "https://mistral.example/blog",
               ["https://mistral.example/blog/le-chat-gets-a-memory"])

    assert main(["listing", "--pages", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pages"] == [
        {"name": "lab", "precision": 1.0, "recall": round(5 / 6, 4), "found": 5, "expected": 6},
        {"name": "next", "precision": round(1 / 3, 4), "recall": 1.0, "found": 3, "expected": 1},
    ]
    assert report["precision"] == round(6 / 8, 4) and report["recall"] == round(6 / 7, 4)

    printed: list[str] = []
    evaluate_listing(tmp_path, out=printed.append)
    assert printed[-1].split() == ["pooled", "0.750", "0.857", "8", "7"]


def test_the_evaluation_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["listing", "--pages", str(tmp_path / "nowhere")]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "lonely.html").write_text("<html></html>")
    assert main(["listing", "--pages", str(tmp_path)]) == 2
    assert "lonely.url" in capsys.readouterr().err


@pytest.fixture
def listing_pages() -> Path:
    """The shared hand-labelled listing pages (``VEILLE_EVAL_DATA``, default ``<repo>/../shared/data``), or a skip."""
    path = Path(os.environ.get("VEILLE_EVAL_DATA") or REPO.parent / "shared" / "data") / "listing-pages"
    if not path.is_dir():
        pytest.skip(f"listing pages not found: {path} (set VEILLE_EVAL_DATA to the folder that holds listing-pages/)")
    return path


def test_the_finder_meets_its_target_on_the_shared_listing_pages(listing_pages: Path) -> None:
    report = evaluate_listing(listing_pages, out=lambda line: None)
    assert len(report.pages) >= 5
    assert report.precision >= 0.9, report.as_json()
    assert report.recall >= 0.9, report.as_json()
