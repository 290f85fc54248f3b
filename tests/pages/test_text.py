from __future__ import annotations

import pytest

from veille.pages.boilerplate import clean_blocks
from veille.pages.extract import html_to_text
from veille.pages.text import Block


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("<p>One.</p><p>Two.</p>", "One.\n\nTwo."),
        ("<p>Hello\n   <b>bold</b> world</p>", "Hello bold world"),
        ("<p>Line<br>break</p>", "Line\nbreak"),
        ("<script>alert('x')</script><style>p {}</style><p>Kept</p><noscript>no</noscript>", "Kept"),
        ("<ul><li>a</li><li>b</li></ul><p>after</p>", "a\nb\n\nafter"),
        ("<h2>Title</h2>Loose <a href='/x'>link</a> text.", "Title\n\nLoose link text."),
        ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
        ("plain text\n\nsecond paragraph\nsame paragraph", "plain text\n\nsecond paragraph\nsame paragraph"),
        ("<div><div><p>deep</p></div></div><!-- a comment -->", "deep"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("<p>caf\u00e9&nbsp;cr\u00e8me</p>", "café crème"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_html_to_text(fragment: str, expected: str) -> None:
    assert html_to_text(fragment) == expected


def test_html_to_text_on_a_whole_document() -> None:
    page = "<html><head><title>T</title><style>x</style></head><body><p>Body text</p></body></html>"
    assert html_to_text(page) == "Body text"


def p(text: str, kind: str = "p") -> Block:
    return Block(kind, text)


BODY = p("A long enough paragraph of the article that stays whatever happens around it.")


@pytest.mark.parametrize(
    "noise",
    [
        [p("Related: OpenAI launches a new model")],
        [p("READ MORE: Mistral raises money")],
        [p("À lire aussi : Le budget de la culture en baisse")],
        [p("Lire aussi » Les coulisses du sommet")],
        [p("Also on example.com Another story entirely")],
        [p("Most read", "head"), p("- Story one\n- Story two", "list")],
        [p("DON'T MISS"), p("One teaser [INSIGHT]\nAnother teaser [VIDEO]")],
        [p("Les plus lus", "head"), p("- Un\n- Deux", "list")],
        [p("Follow us on Twitter and Facebook.")],
        [p("Sign up for our daily newsletter.")],
        [p("Subscribe now and get unlimited access.")],
        [p("Abonnez-vous pour lire la suite.")],
        [p("Get the best stories delivered to your inbox every morning.")],
        [p("Like this story? Share it with a friend!")],
        [p("Crédits photos : Agence X")],
    ],
)
def test_boilerplate_blocks_are_dropped(noise: list[Block]) -> None:
    assert clean_blocks([BODY, *noise, BODY]) == [BODY, BODY]


def test_headline_repeated_at_the_top_is_dropped() -> None:
    blocks = [p("Lyon approves a new tram line", "head"), BODY]
    assert clean_blocks(blocks, "Lyon approves a new tram line") == [BODY]
    assert clean_blocks(blocks, "Another title") == blocks


def test_trailing_headings_are_dropped() -> None:
    assert clean_blocks([BODY, p("Newsletter", "head"), p("More from us", "head")]) == [BODY]


@pytest.mark.parametrize(
    "prose",
    [
        "More than two decades ago, the lab published its first model.",
        "Related research by the team suggests otherwise, according to the report.",
        "Follow the money, the investigators said, and the story becomes clear.",
        "Subscribers to the service were told on Monday that prices would rise. " * 5,
        "Read more about the decision in the court's ruling, which runs to 200 pages.",
        "Sign up was slow at first, the company said, but it picked up in the spring.",
    ],
)
def test_prose_that_merely_starts_like_boilerplate_is_kept(prose: str) -> None:
    assert clean_blocks([BODY, p(prose), BODY]) == [BODY, p(prose), BODY]


def test_a_list_not_under_a_teaser_heading_is_kept() -> None:
    blocks = [BODY, p("The five companies are:"), p("- Alpha\n- Beta", "list"), BODY]
    assert clean_blocks(blocks) == blocks
