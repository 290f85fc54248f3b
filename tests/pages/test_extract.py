from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.pages.conftest import fixture_bytes
from veille.pages.extract import Article, extract_article

URL = "https://news.example.com/story/42?utm_source=rss"


def extract(name: str, url: str = URL) -> Article:
    return extract_article(fixture_bytes(name), url=url)


@pytest.mark.parametrize(
    ("fixture", "lab", "where"),
    [
        ("sidebar_lab.html", "Mistral", "the <nav> menu"),
        ("sidebar_lab.html", "Anthropic", "the most-read <aside>"),
        ("sidebar_lab.html", "DeepMind", "a most-read box inside the <article>"),
        ("sidebar_lab.html", "OpenAI", "the <footer>"),
        ("sidebar_lab.html", "Cohere", "a 'Related:' teaser between paragraphs"),
        ("sidebar_divs.html", "xAI", "a div-only 'Popular this week' widget"),
        ("sidebar_divs.html", "Meta AI", "a div-only menu"),
        ("sidebar_divs.html", "Hugging Face", "a div-only footer"),
    ],
)
def test_lab_named_only_in_page_furniture_is_not_in_text(fixture: str, lab: str, where: str) -> None:
    text = extract(fixture).text
    assert lab not in text, f"{lab} leaked from {where}"


def test_article_text_is_kept_in_paragraphs() -> None:
    article = extract("sidebar_lab.html")
    paragraphs = article.text.split("\n\n")
    assert paragraphs[0].startswith("The metropolitan council voted on Tuesday evening")
    assert paragraphs[-1].startswith("The next step is a public inquiry")
    assert len(paragraphs) == 6
    assert "Share on" not in article.text and "Most read" not in article.text
    assert "Lyon approves a new tram line" not in article.text  # the headline is the title, not the text


def test_metadata_from_meta_tags() -> None:
    article = extract("sidebar_lab.html")
    assert article.url == "https://news.example.com/story/42"
    assert article.canonical_url == "https://news.example.com/transport/2024/05/14/tram-line-east"
    assert article.title == "Lyon approves a new tram line through the east side"
    assert article.published == datetime(2024, 5, 14, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert article.author == "Claire Moreau"
    assert article.language == "en"
    assert article.amp_canonical is False


def test_title_falls_back_to_h1_then_title_without_site_name() -> None:
    article = extract("sidebar_divs.html", url="https://riverweekly.example/saone")
    assert article.title == "Water levels in the Saône reach a ten-year low"


def test_latin1_page_declared_in_meta() -> None:
    article = extract("latin1_meta.html", url="https://besancon.example/fete")
    assert article.title == "Fête de la musique : le programme à Besançon"
    assert "Été comme hiver" in article.text
    assert article.language == "fr"  # no lang attribute: detected from the text


def test_amp_page_points_to_its_canonical() -> None:
    article = extract("amp_article.html", url="https://rail.example.com/amp/news/night-trains-alps")
    assert article.amp_canonical is True
    assert article.canonical_url == "https://rail.example.com/news/night-trains-alps"
    assert article.text.startswith("A night train between Paris and the Alpine valleys")


def test_amp_page_that_is_its_own_canonical() -> None:
    article = extract("amp_article.html", url="https://rail.example.com/news/night-trains-alps/")
    assert article.amp_canonical is False


def test_body_split_in_chunks_is_joined_but_not_the_next_story() -> None:
    text = extract("chunked_body.html").text
    assert "In a converted warehouse" in text
    assert "Funding remains the main worry" in text  # the second chunk, after an ad rail
    assert "cheese makers" not in text and "solar panels" not in text  # another <article> below


def test_page_rendered_by_javascript_falls_back_to_json_ld() -> None:
    article = extract("jsonld_only.html")
    assert article.text.startswith("The ferry strike that disrupted crossings for two weeks ended")
    assert article.title == "Ferry strike ends after two weeks"
    assert article.author == "Tom Reyes, Ana Lima"
    assert article.published == datetime(2024, 3, 2, 7, 15, tzinfo=UTC)


def test_str_input_and_content_type() -> None:
    html = fixture_bytes("latin1_meta.html")
    as_bytes = extract_article(html, url=URL, content_type="text/html; charset=windows-1252")
    as_text = extract_article(html.decode("cp1252"), url=URL)
    assert as_bytes.text == as_text.text and "Besançon" in as_text.title


@pytest.mark.parametrize("html", ["", "   ", "<html></html>", "not html at all", "\x00\x01"])
def test_empty_or_junk_pages_give_an_empty_article(html: str) -> None:
    article = extract_article(html, url=URL)
    assert article.text == ""
    assert article.url == "https://news.example.com/story/42"


def test_file_urls_are_accepted() -> None:
    article = extract_article(fixture_bytes("sidebar_divs.html"), url="file:///tmp/page.html")
    assert article.url == article.canonical_url == "file:///tmp/page.html"
    assert "Saône" in article.text


def test_html_lang_is_read_and_reduced_to_the_language() -> None:
    page = (
        '<html lang="fr-CA"><head><title>Note</title></head><body><article>'
        + "<p>Ceci est un court texte de test.</p>" * 3
        + "</article></body></html>"
    )
    assert extract_article(page, url=URL).language == "fr"


def test_detected_language_wins_over_a_wrong_lang_attribute() -> None:
    page = fixture_bytes("latin1_meta.html").replace(b"<html>", b'<html lang="en">')
    assert extract_article(page, url=URL).language == "fr"
