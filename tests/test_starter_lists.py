"""The starter lists (`veille init --starter`): everyday words alert for nothing, real mentions still do, and
every starter feed is the lab's or outlet's own or says it is not."""

from __future__ import annotations

import csv
import gzip
import json
import os
import xml.etree.ElementTree as ET
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import veille
from veille.manage.entities import stored_entity
from veille.matching import Matcher
from veille.pipeline.match import entity_spec

REPO = Path(__file__).resolve().parents[1]
DATA = resources.files("veille") / "data"


def starter_watchlist() -> list[dict[str, Any]]:
    return list(json.loads(DATA.joinpath("starter-watchlist.json").read_text(encoding="utf-8")))


@cache
def starter_matcher() -> Matcher:
    """The starter watchlist as `veille init --starter` stores it, compiled as the pipeline compiles it."""
    specs = []
    for number, item in enumerate(starter_watchlist(), start=1):
        entity = stored_entity(item)
        entity.id = number
        specs.append(entity_spec(entity))
    return Matcher(specs)


def matched(*, title: str = "", text: str = "", url: str | None = None) -> set[str]:
    return {hit.entity for hit in starter_matcher().match(title=title, text=text, url=url).matches}


# --------------------------------------------------------------------------- everyday words

# The names of the starter watchlist (and of other labs and products) as the common words they also are, in
# English, French, German and Spanish, at the start of sentences and in headlines written in title case.
EVERYDAY = {
    "en": [
        "It was a fair price for a used bike.",
        "To be fair, the referee had a difficult afternoon.",
        "Fair enough: we will meet at the county fair.",
        "FAIR PRICES FOR EVERY FAMILY AT THE SPRING FAIR",
        "A Fair Deal for Dairy Farmers",
        "All night the mistral blew over the Rhône valley.",
        "Mistral winds are expected to reach 90 km/h on Friday.",
        "Mistral Winds Batter Marseille Harbour",
        "Gemini is a constellation of the zodiac.",
        "Gemini and Sagittarius are said to be opposites.",
        "We saw Claude Monet's water lilies at Giverny.",
        "Claude Debussy wrote Clair de lune.",
        "Claude Shannon founded information theory at Bell Labs.",
        "Claude is coming to dinner on Sunday.",
        "They run a llama farm in the Andes.",
        "Llama wool is warmer than sheep's wool.",
        "Llama Trekking in the Sacred Valley",
        "A meta-analysis of forty trials found no effect.",
        "Meta-analysis: coffee and sleep in older adults.",
        "Going Meta: Why Comedians Love Jokes About Jokes",
        "I grok what you mean, and I agree.",
        "Grok the whole poem before you translate it.",
        "Parsing Logs With Grok Patterns",
        "Apple pie is a classic autumn dessert.",
        "The anthropic principle says we can only observe a universe that allows observers.",
        "Anthropic reasoning divides cosmologists.",
        "The Anthropic Principle, Explained",
        "Anthropic activities have reshaped the river delta.",
        "The chapters never quite cohere.",
        "Ideas That Cohere: A Design Handbook",
        "The copilot landed the plane in thick fog.",
        "Our cat chased the cursor across the screen.",
        "She answered with visible perplexity.",
        "A falcon dived on the pigeons while an orca pod passed offshore.",
    ],
    "fr": [
        "Le mistral a soufflé toute la nuit sur la Provence.",
        "Mistral et tramontane soufflent fort ce matin.",
        "Le Mistral, porte-hélicoptères de la Marine nationale, est rentré à Toulon.",
        "Frédéric Mistral a reçu le prix Nobel de littérature en 1904.",
        "Claude Monet a peint les Nymphéas à Giverny.",
        "Claude François chantait « Comme d'habitude ».",
        "Jean-Claude et Marie-Claude sont venus dîner.",
        "Claude, 54 ans, est boulanger à Lyon.",
        "Le chat dort sur le canapé.",
        "Le Chat botté est un conte de Charles Perrault.",
        "Un match joué avec un grand fair-play.",
        "Une méta-analyse de quarante essais ne montre aucun effet.",
        "Méta-analyse : le café et le sommeil.",
        "Un lama broute dans le pré.",
        "Les Gémeaux sont un signe du zodiaque.",
    ],
    "de": [
        "Der Mistral weht kalt durch das Rhonetal.",
        "Das ist nicht fair!",
        "Ein fairer Preis für faire Milch.",
        "Die Forschungsanlage FAIR in Darmstadt beschleunigt Antiprotonen.",
        "Die Meta-Analyse zeigt keinen Effekt.",
        "Auf der Meta-Ebene betrachtet ist das Problem einfach.",
        "Claude aus Lyon besucht uns im Sommer.",
        "Ein Lama steht auf der Weide.",
        "Das Sternbild Zwillinge heißt auf Lateinisch Gemini.",
    ],
    "es": [
        "La meta del equipo es ganar la liga.",
        "Meta cumplida: el equipo ganó la liga.",
        "El departamento del Meta está en Colombia.",
        "Llama la atención que nadie viniera.",
        "Llama a su madre todos los días.",
        "La llama olímpica llegó a París.",
        "Una llama pastaba en el altiplano.",
        "Gabriela Mistral ganó el Premio Nobel de Literatura en 1945.",
        "Claude vive en Sevilla desde hace años.",
        "Géminis es un signo del zodiaco; en inglés se dice Gemini.",
    ],
}
SENTENCES = [(language, sentence) for language, sentences in EVERYDAY.items() for sentence in sentences]


@pytest.mark.parametrize(("language", "sentence"), SENTENCES, ids=[f"{lang}-{i}" for i, (lang, _) in
                                                                   enumerate(SENTENCES)])
def test_an_everyday_sentence_alerts_for_nothing(language: str, sentence: str) -> None:
    assert matched(title=sentence) == set()
    assert matched(text=sentence) == set()


def test_the_everyday_page_alerts_for_nothing() -> None:
    """All the sentences on one page: one sentence's words must not serve as another's context."""
    for language, sentences in EVERYDAY.items():
        assert matched(title=sentences[0], text="\n\n".join(sentences[1:])) == set(), language
    everything = "\n\n".join(sentence for _, sentence in SENTENCES)
    assert matched(title="Everyday words", text=everything) == set()
    # the six of the issue are on the page
    for words in ("a fair price", "the mistral blew", "Gemini is a constellation", "Claude Monet", "a llama farm",
                  "meta-analysis"):
        assert words in everything


# A page about AI does not turn a namesake into the entity.
NAMESAKES_IN_AI_NEWS = [
    ("Claude Shannon's information theory made ChatGPT and every other LLM possible.", "Anthropic"),
    ("AI art in the style of Claude Monet floods ChatGPT users' feeds.", "Anthropic"),
    ("Jean-Claude Juncker a commenté la régulation des chatbots.", "Anthropic"),
    ("The anthropic principle and AI: why observers matter to LLM researchers.", "Anthropic"),
    ("Frédéric Mistral écrivait en provençal ; des chatbots traduisent aujourd'hui ses poèmes.", "Mistral AI"),
    ("Gabriela Mistral y la IA: un homenaje en Santiago.", "Mistral AI"),
    ("Llama la atención que la IA avance tan rápido.", "Meta AI"),
    ("The FAIR data principles help AI researchers share datasets.", "Meta AI"),
    ("The Batch: Propagandists Lie About AI, Language Models Grok Images, World Models Shrink", "xAI"),
    ("Why large language models don't cohere, and what AI can do about it.", "Cohere"),
]


@pytest.mark.parametrize(("text", "entity"), NAMESAKES_IN_AI_NEWS)
def test_a_namesake_in_ai_news_is_not_the_entity(text: str, entity: str) -> None:
    assert entity not in matched(text=text)
    assert entity not in matched(title=text)


# --------------------------------------------------------------------------- real mentions


REAL_MENTIONS = [
    # English
    ("Anthropic's Claude 3.5 Sonnet is now generally available.", {"Anthropic"}),
    ("Claude 3.5 Sonnet beats GPT-4o on the coding benchmark.", {"Anthropic"}),
    ("Developers say Claude Code wrote most of the patch.", {"Anthropic"}),
    ("ChatGPT and Claude both refused the request.", {"OpenAI", "Anthropic"}),
    ("Mistral AI raised €600 million in its latest round.", {"Mistral AI"}),
    ("Meta AI now answers questions inside WhatsApp.", {"Meta AI"}),
    ("Meta released Llama 3 with 70 billion parameters.", {"Meta AI"}),
    ("Yann LeCun's FAIR team at Facebook published the paper.", {"Meta AI", "Yann LeCun"}),
    ("xAI says Grok 3 now tops the leaderboard.", {"xAI"}),
    ("Elon Musk's chatbot Grok was criticised again this week.", {"xAI"}),
    ("Cohere raises $500M to build enterprise AI agents.", {"Cohere"}),
    ("Google DeepMind and Hugging Face release a new dataset.", {"Google DeepMind", "Hugging Face"}),
    # French
    ("Claude 3.5 Sonnet, le modèle d'Anthropic, arrive en Europe.", {"Anthropic"}),
    ("Anthropic présente Claude, son assistant, à Paris.", {"Anthropic"}),
    ("Le Chat de Mistral passe en version Pro.", {"Mistral AI"}),
    ("Mistral lance Le Chat, son assistant conversationnel.", {"Mistral AI"}),
    ("La start-up Mistral AI lève 600 millions d'euros.", {"Mistral AI"}),
    ("Mistral publie un nouveau modèle de langage en open source.", {"Mistral AI"}),
    ("Meta AI arrive en France sur WhatsApp et Instagram.", {"Meta AI"}),
    ("Meta dévoile Llama 3, son nouveau modèle.", {"Meta AI"}),
    ("Le chatbot Grok d'Elon Musk fait polémique.", {"xAI"}),
    ("Kyutai publie Moshi, un assistant vocal en accès libre.", {"Kyutai"}),
    # German and Spanish
    ("Mistral AI stellt ein neues KI-Modell vor.", {"Mistral AI"}),
    ("Meta presenta Llama 3, su nuevo modelo de lenguaje.", {"Meta AI"}),
]


@pytest.mark.parametrize(("text", "entities"), REAL_MENTIONS)
def test_a_real_mention_still_alerts(text: str, entities: set[str]) -> None:
    assert matched(title=text) == entities
    assert matched(text=text) == entities


@pytest.mark.parametrize(
    ("title", "url", "entity"),
    [
        ("Introducing Claude for Teachers", "https://www.anthropic.com/news/claude-for-teachers", "Anthropic"),
        ("Claude is now available in Brazil", "https://claude.com/blog/brazil", "Anthropic"),
        ("Introducing Mistral Vibe", "https://mistral.ai/news/vibe", "Mistral AI"),
        ("How Llama helps a bank", "https://ai.meta.com/blog/llama-bank/", "Meta AI"),
        ("Introducing Grok Bot", "https://x.ai/news/grok-bot", "xAI"),
        ("Cohere opens Paris office", "https://cohere.com/blog/paris", "Cohere"),
    ],
)
def test_on_the_labs_own_site_its_name_needs_no_context_word(title: str, url: str, entity: str) -> None:
    assert matched(title=title, url=url) == {entity}
    assert matched(title=title, url="https://news.example/" + url.split("/", 3)[3]) == set()


def test_a_hit_is_shown_on_the_name_not_on_its_context_word() -> None:
    """What an alert and `explain` show: the name that was found, not the context word that let it count."""
    [hit] = starter_matcher().match(title="", text="AI start-up Mistral released a chatbot. Users like it.").matches
    shown = hit.snippet[hit.highlight[0] : hit.highlight[1]]
    assert (hit.entity, hit.term, shown) == ("Mistral AI", "Mistral", "Mistral")


# --------------------------------------------------------------------------- through the command


def page(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>"


@pytest.mark.usefixtures("veille_env")
def test_the_starter_lists_through_the_command(tmp_path: Path) -> None:
    loaded = veille("init", "--starter")
    assert loaded.exit_code == 0 and "loaded the starter lists" in loaded.stdout
    everyday = tmp_path / "everyday.html"
    sentences = [sentence for _, sentence in SENTENCES]
    everyday.write_text(page("Everyday words", sentences), encoding="utf-8")
    explained = veille("explain", str(everyday), "--json")
    assert explained.exit_code == 0, explained.stderr
    result = json.loads(explained.stdout)
    assert all(sentence in result["text"] for sentence in sentences)  # the extraction kept every sentence
    assert result["matches"] == []

    article = tmp_path / "article.html"
    article.write_text(page("Le Chat de Mistral passe en version Pro", [
        "La start-up parisienne étend son assistant conversationnel aux entreprises.",
        "Face à Claude 3.5 Sonnet et à Llama 3, elle mise sur un modèle plus petit.",
    ]), encoding="utf-8")
    explained = veille("explain", str(article), "--json")
    assert explained.exit_code == 0, explained.stderr
    hits = {m["entity"]: m["term"] for m in json.loads(explained.stdout)["matches"]}
    assert hits == {"Mistral AI": "Le Chat de Mistral", "Anthropic": "Claude 3", "Meta AI": "Llama 3"}


# --------------------------------------------------------------------------- the shared evaluation data


@pytest.fixture
def eval_data() -> Path:
    """The shared evaluation data (``VEILLE_EVAL_DATA``, default ``<repo>/../shared/data``), or a skip."""
    path = Path(os.environ.get("VEILLE_EVAL_DATA") or REPO.parent / "shared" / "data")
    missing = [name for name in ("extraction-benchmark", "pages", "listing-pages") if not (path / name).is_dir()]
    if missing:
        pytest.skip(f"evaluation pages not found: {', '.join(str(path / m) for m in missing)} "
                    f"(set VEILLE_EVAL_DATA to the folder that holds them)")
    return path


def shared_pages(data: Path) -> list[tuple[str, bytes, str]]:
    """(path under the data folder, HTML, URL) of every HTML page of the evaluation data."""

    def urls(folder: Path) -> dict[str, str]:
        with (folder / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
            return {row["file"]: row.get("url") or "" for row in csv.DictReader(handle, delimiter="\t")}

    pages = []
    benchmark = data / "extraction-benchmark"
    known = urls(benchmark)
    for path in sorted((benchmark / "html").glob("*.html.gz")):
        html = gzip.decompress(path.read_bytes())
        pages.append((path.relative_to(data).as_posix(), html, known[f"html/{path.name}"]))
    known = urls(data / "pages")
    for path in sorted((data / "pages").rglob("*.html")):
        pages.append((path.relative_to(data).as_posix(), path.read_bytes(),
                      known[path.relative_to(data / "pages").as_posix()]))
    for path in sorted((data / "listing-pages").glob("*.html")):
        pages.append((path.relative_to(data).as_posix(), path.read_bytes(),
                      path.with_suffix(".url").read_text(encoding="utf-8").strip()))
    return pages


# Every match of the starter watchlist on those pages, each read by hand and a real mention: on the article
# veille extracts (what it matches in service) and on all the text of the page (menus, sidebars, comments).
# The old starter list also matched "FAIR" (Meta AI) in "fair" 11 times in the articles and 17 in the pages.
ON_SHARED_PAGES = {
    ("extraction-benchmark/html/287e4d9f4af31733aad6534aefb2bd00fb344ec8d6ebf1ac99dbc4d762da0ca4.html.gz", "article"):
        {"NVIDIA"},  # "NVIDIA G-SYNC compatibility", a monitor's specifications
    ("extraction-benchmark/html/287e4d9f4af31733aad6534aefb2bd00fb344ec8d6ebf1ac99dbc4d762da0ca4.html.gz", "page"):
        {"NVIDIA"},
    ("extraction-benchmark/html/5fbc7ccb504c755ae23a85499a17518483d7862b74b4a5c34d86ede1a1a4448e.html.gz", "page"):
        {"NVIDIA"},  # "NVIDIA GPUs now work with Arm processors", a sidebar headline
    ("extraction-benchmark/html/e100c9612ad8495db03b2a9f968952d0eaa4853d9b32ded6a29f8e313a974873.html.gz", "page"):
        {"NVIDIA"},  # "NVIDIA Super Graphics Cards Coming To Notebooks", related headlines
    ("pages/trafilatura/en/wired.com.burn.html", "article"): {"OpenAI", "Google DeepMind"},  # AI compute costs
    ("pages/trafilatura/en/wired.com.burn.html", "page"): {"OpenAI", "Google DeepMind"},
    ("listing-pages/newspaper4k__wired_main_site.html", "page"): {"OpenAI", "NVIDIA"},  # ChatGPT tips; Nvidia
    ("listing-pages/zeroclaw__anthropic_news.html", "article"): {"Anthropic"},  # "Claude.ai users"
    ("listing-pages/zeroclaw__anthropic_news.html", "page"): {"Anthropic", "NVIDIA", "Dario Amodei"},
}


def test_the_starter_watchlist_on_every_shared_page(eval_data: Path) -> None:
    from veille.pages.decode import decode_html
    from veille.pages.extract import extract_article
    from veille.pages.text import html_to_text

    pages = shared_pages(eval_data)
    assert len(pages) >= 225
    found: dict[tuple[str, str], set[str]] = {}
    snippets: list[str] = []
    for name, html, url in pages:
        article = extract_article(html, url=url)
        texts = {"article": article.text or "", "page": html_to_text(decode_html(html))}
        for kind, text in texts.items():
            report = starter_matcher().match(title=article.title or "", text=text, url=url)
            if report.matches:
                found[(name, kind)] = {hit.entity for hit in report.matches}
                snippets += [f"{name} ({kind}) {hit.entity} via {hit.term!r}: {hit.snippet[:200]}"
                             for hit in report.matches]
    unexpected = {key: found[key] - ON_SHARED_PAGES.get(key, set()) for key in found}
    assert not any(unexpected.values()), "\n".join(s for s in snippets if any(
        s.startswith(f"{name} ({kind}) {entity} ") for (name, kind), extra in unexpected.items() for entity in extra))
    assert found == ON_SHARED_PAGES  # and every real mention is still found


# --------------------------------------------------------------------------- starter feeds


def _site(url: str) -> str:
    """The registrable part of a URL's host, roughly: its last two labels."""
    return ".".join((urlsplit(url).hostname or "").split(".")[-2:])


NS = "{https://veille.example/ns/opml/1}"
LAB_PAGES = ["https://www.anthropic.com/news", "https://mistral.ai/news", "https://ai.meta.com/blog/", "https://x.ai/news"]


def test_starter_feeds_are_the_sources_own_and_labs_without_one_are_their_own_pages() -> None:
    root = ET.fromstring(DATA.joinpath("starter-feeds.opml").read_bytes())
    outlines = [o for o in root.iter("outline") if o.get("xmlUrl")]
    assert len(outlines) >= 10
    for outline in outlines:
        feed, site, title = outline.get("xmlUrl", ""), outline.get("htmlUrl", ""), outline.get("title", "")
        assert feed.startswith("https://") and site.startswith("https://"), feed
        assert outline.get("text") == title
        assert _site(feed) == _site(site), f"{title}: {feed} is not {site}'s own feed"
        assert outline.get(NS + "kind") is None
    pages = [o for o in root.iter("outline") if o.get(NS + "kind") == "page"]
    assert [o.get("url") for o in pages] == LAB_PAGES
    for outline in pages:  # a link outline on the lab's own site, never a third party's scraped feed
        assert outline.get("type") == "link" and outline.get("xmlUrl") is None
        assert outline.get("htmlUrl") == outline.get("url")
        assert "third-party" not in (outline.get("title") or "")


@pytest.mark.usefixtures("veille_env")
def test_init_starter_watches_the_labs_own_newsroom_pages() -> None:
    assert veille("init", "--starter").exit_code == 0
    sources = {feed["url"]: feed for feed in veille("feeds", "list", "--json").json()}
    assert [url for url, feed in sources.items() if feed["kind"] == "page"] == LAB_PAGES
    assert sources["https://www.anthropic.com/news"]["title"] == "Anthropic News"
    assert sources["https://www.anthropic.com/news"]["options"] == {"any_site": False}
    assert sources["https://openai.com/news/rss.xml"]["kind"] == "feed"
    assert sources["https://openai.com/news/rss.xml"]["title"] == "OpenAI News"
    assert not any("githubusercontent" in url for url in sources)
