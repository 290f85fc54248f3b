from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import lxml.html
import pytest

from veille.pages import metadata
from veille.pages.extract import extract_article


def tree(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(html)


@pytest.mark.parametrize(
    ("raw", "url", "site", "expected"),
    [
        ("Les retraites en débat | Le Monde", "https://www.lemonde.fr/x", "", "Les retraites en débat"),
        ("Apple ships a new chip - TechCrunch", "https://techcrunch.com/x", "", "Apple ships a new chip"),
        ("Ukraine talks resume - BBC News", "https://www.bbc.com/news/x", "", "Ukraine talks resume"),
        ("Markets rally | Business | Los Angeles Times", "https://latimes.com/x", "Los Angeles Times",
         "Markets rally | Business"),
        ("The Verge — Google's new phone", "https://www.theverge.com/x", "", "Google's new phone"),
        ("Parité en Tunisie : Au-dessous de la moyenne | La Presse", "https://lapresse.tn/1", "",
         "Parité en Tunisie : Au-dessous de la moyenne"),
        # no site name in it: left alone, separators and all
        ("Spider-Man - a review", "https://films.example/x", "", "Spider-Man - a review"),
        ("Coronavirus: New York ramps up", "https://bbc.com/x", "", "Coronavirus: New York ramps up"),
        ("Le Monde", "https://www.lemonde.fr/", "", "Le Monde"),
    ],
)
def test_site_name_removed_from_title(raw: str, url: str, site: str, expected: str) -> None:
    site_meta = f'<meta property="og:site_name" content="{site}">' if site else ""
    page = tree(f"<html><head><title>{raw}</title>{site_meta}</head><body><p>x</p></body></html>")
    assert metadata.title(page, url, metadata.meta_values(page)) == expected


def test_title_order_og_then_h1_then_title() -> None:
    both = tree('<html><head><title>T | Site</title><meta property="og:title" content="OG"></head>'
                "<body><h1>H1</h1></body></html>")
    assert metadata.title(both, "https://site.example/", metadata.meta_values(both)) == "OG"
    h1 = tree("<html><head><title>T | Site</title></head><body><h1> The  H1 </h1></body></html>")
    assert metadata.title(h1, "https://site.example/", metadata.meta_values(h1)) == "The H1"


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        ('<script type="application/ld+json">{"@type": "NewsArticle", '
         '"datePublished": "2024-01-05T10:00:00+01:00", "dateModified": "2024-02-01"}</script>'
         '<meta property="article:published_time" content="2023-01-01">',
         "", datetime(2024, 1, 5, 10, tzinfo=timezone(timedelta(hours=1)))),
        ('<meta property="article:published_time" content="2024-01-05T10:00:00Z">', "",
         datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("", '<time datetime="2024-01-05">5 Jan</time>', datetime(2024, 1, 5, tzinfo=UTC)),
        ("", '<time datetime="2023-12-31T23:00:00-05:00">Dec 31</time>',
         datetime(2023, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))),
        ("", "<p>Published on 2022-03-04 by the desk.</p>", datetime(2022, 3, 4, tzinfo=UTC)),  # htmldate
        ("", "<p>No date at all.</p>", None),
    ],
)
def test_published(head: str, body: str, expected: datetime | None) -> None:
    page = tree(f"<html><head>{head}</head><body>{body}</body></html>")
    url = "https://site.example/x"
    found = metadata.published(page, url, metadata.meta_values(page), metadata.json_ld(page))
    assert found == expected
    assert found is None or found.tzinfo is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-05T10:00:00.000+0000", datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("2024-01-05 10:00", datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("1704448800", datetime(2024, 1, 5, 10, tzinfo=UTC)),
        ("yesterday", None),
        ("0001-01-01", None),
    ],
)
def test_parse_datetime(value: str, expected: datetime | None) -> None:
    assert metadata.parse_datetime(value) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<script type="application/ld+json">{"@type": "Article", "author": [{"name": "Ada L."}, '
         '{"name": "Bo M."}]}</script>', "Ada L., Bo M."),
        ('<script type="application/ld+json">{"@type": "Article", "author": "By Jane Doe"}</script>',
         "Jane Doe"),
        ('<meta name="author" content="Jean Dupont">', "Jean Dupont"),
        ('<meta name="author" content="https://facebook.com/someone">', None),
        ('<meta name="author" content="Site Example">', None),  # the site's own name is no author
        ('<span itemprop="author"><span itemprop="name">Kim Park</span></span>', "Kim Park"),
        ('<a rel="author" href="/team/lee">Sam Lee</a>', "Sam Lee"),
        ("", None),
    ],
)
def test_author(markup: str, expected: str | None) -> None:
    page = tree(f"<html><head></head><body>{markup}<p>text</p></body></html>")
    url = "https://www.site-example.com/x"
    assert metadata.author(page, url, metadata.meta_values(page), metadata.json_ld(page)) == expected


def test_canonical_from_link_then_og_url_relative_resolved() -> None:
    url = "https://site.example/a/b?utm_source=x"
    link = tree('<html><head><link rel="canonical" href="../c?utm_medium=y#top">'
                '<meta property="og:url" content="https://other.example/"></head></html>')
    assert metadata.canonical_url(link, url, metadata.meta_values(link)) == "https://site.example/c"
    og = tree('<html><head><meta property="og:url" content="/story/1"></head></html>')
    assert metadata.canonical_url(og, url, metadata.meta_values(og)) == "https://site.example/story/1"
    none = tree("<html><head></head></html>")
    assert metadata.canonical_url(none, url, {}) == "https://site.example/a/b"
    bad = tree('<html><head><link rel="canonical" href="javascript:void(0)"></head></html>')
    assert metadata.canonical_url(bad, url, {}) == "https://site.example/a/b"


def test_canonical_pointing_to_the_home_page_is_a_template_mistake() -> None:
    home = tree('<html><head><link rel="canonical" href="https://site.example/">'
                '<meta property="og:url" content="https://site.example/a/b"></head></html>')
    assert metadata.canonical_url(home, "https://site.example/a/b?x=1", metadata.meta_values(home)) == (
        "https://site.example/a/b"
    )
    assert metadata.canonical_url(home, "https://site.example/?utm_source=x", {}) == "https://site.example/"


@pytest.mark.parametrize(
    ("root", "expected"),
    [("<html amp>", True), ("<html ⚡ lang='en'>", True), ("<html lang='en'>", False)],
)
def test_amp_detection(root: str, expected: bool) -> None:
    page = f'{root}<head><link rel="canonical" href="https://site.example/story"></head><body><p>x</p></body></html>'
    article = extract_article(page, url="https://site.example/amp/story")
    assert article.amp_canonical is expected


def test_json_ld_tolerates_broken_blocks() -> None:
    page = tree('<html><head><script type="application/ld+json">{not json</script>'
                '<script type="application/ld+json">[{"@graph": [{"@type": "NewsArticle", "headline": "H"}]}]'
                "</script></head></html>")
    assert [obj.get("headline") for obj in metadata.json_ld(page)] == [None, "H"]
