from __future__ import annotations

import pytest

from veille.matching import EntitySpec, Hit, Matcher, MatchReport, QuerySyntaxError, Veto


def report(spec: EntitySpec, text: str, *, title: str = "", url: str | None = None) -> MatchReport:
    return Matcher([spec]).match(title=title, text=text, url=url)


def found(spec: EntitySpec, text: str, *, title: str = "") -> str | None:
    """What the entity's hit highlights in the article, or None."""
    hits = report(spec, text, title=title).matches
    if not hits:
        return None
    (hit,) = hits
    return hit.snippet[hit.highlight[0] : hit.highlight[1]]


def veto(spec: EntitySpec, text: str, *, title: str = "", url: str | None = None) -> Veto | None:
    result = report(spec, text, title=title, url=url)
    assert len(result.matches) + len(result.vetoed) <= 1
    return result.vetoed[0] if result.vetoed else None


def outcome(spec: EntitySpec, text: str, *, title: str = "", url: str | None = None) -> str | None:
    """ "hit", the veto reason, or None when the article does not mention the entity at all."""
    result = report(spec, text, title=title, url=url)
    if result.matches:
        return "hit"
    return result.vetoed[0].reason if result.vetoed else None


@pytest.mark.parametrize(
    ("name", "text", "highlight"),
    [
        # case and accents
        ("Herve Jegou", "Selon Hervé Jégou, le modèle est prêt.", "Hervé Jégou"),
        ("Hervé Jégou", "Selon Herve Jegou, le modèle est prêt.", "Herve Jegou"),
        ("Hervé", "Hervé a dit.", "Hervé"),
        ("Herve", "HERVÉ a dit.", "HERVÉ"),
        ("Bernhard Schölkopf", "Bernhard Schoelkopf a signé.", "Bernhard Schoelkopf"),
        ("Bernhard Scholkopf", "Bernhard Schölkopf a signé.", "Bernhard Schölkopf"),
        ("Bernhard Scholkopf", "Bernhard Schoelkopf a signé.", "Bernhard Schoelkopf"),
        ("Schoelkopf", "Schölkopf a signé.", "Schölkopf"),
        ("Schoelkopf", "Scholkopf a signé.", "Scholkopf"),
        ("Schölkopf", "Scholkopf a signé.", "Scholkopf"),
        # names with ae/oe/ue that are not umlauts still find themselves
        ("Israel", "Israël et Israel.", "Israël"),
        ("Israël", "Israel a voté.", "Israel"),
        ("Joel", "Joël Pineau dirige FAIR.", "Joël"),
        ("Michael", "Michaël Cohen parle.", "Michaël"),
        ("Raphael", "Raphaël Millière écrit.", "Raphaël"),
        ("Raphaël", "Raphael Millière écrit.", "Raphael"),
        # Unicode spaces, soft hyphens, zero-width characters, hyphens, line breaks
        ("Mistral AI", "La start-up Mistral\u00a0AI lève.", "Mistral\u00a0AI"),
        ("Mistral AI", "La start-up Mistral\nAI lève.", "Mistral AI"),  # a line break shows as a space
        ("Scaleway", "Le cloud de Scale\u00adway.", "Scale\u00adway"),
        ("OpenAI", "Le rival d’Open\u200bAI.", "Open\u200bAI"),
        ("Kyutai", "A Kyutai-backed model.", "Kyutai"),
        ("Kyutai", "A Kyutai\u2013backed model.", "Kyutai"),
        ("Jean-Paul Sartre", "Jean Paul Sartre écrit.", "Jean Paul Sartre"),
        ("Max Planck", "L'institut Max-Planck.", "Max-Planck"),
        ("Straße", "Die Strasse.", "Strasse"),
        ("Œuvre Ouverte", "L'OEUVRE OUVERTE.", "OEUVRE OUVERTE"),
        # French elisions and English possessives
        ("Iliad", "Le fondateur d’Iliad a parlé.", "Iliad"),
        ("Iliad", "Le fondateur d'Iliad a parlé.", "Iliad"),
        ("IA", "Le marché de l’IA grandit.", "IA"),
        ("OpenAI", "Il dit qu’OpenAI ment.", "OpenAI"),
        ("OpenAI", "OpenAI's model.", "OpenAI"),
        ("OpenAI", "OpenAI’s model.", "OpenAI"),
        ("jusqu'à Paris", "Il ira jusqu’à Paris.", "jusqu’à Paris"),
        # scripts without spaces match inside longer runs; other scripts fold their case
        ("深度求索", "中国初创公司深度求索发布了新模型。", "深度求索"),
        ("ソフトバンク", "ソフトバンクグループは投資した。", "ソフトバンク"),
        ("삼성전자", "삼성전자가 발표했다.", "삼성전자"),
        ("OpenAI", "在OpenAI的总部", "OpenAI"),
        ("Яндекс", "ЯНДЕКС объявил о новой модели.", "ЯНДЕКС"),
        ("Οδυσσέας", "Ο ΟΔΥΣΣΕΑΣ είπε.", "ΟΔΥΣΣΕΑΣ"),
    ],
)
def test_finds_the_name_however_it_is_written(name: str, text: str, highlight: str) -> None:
    assert found(EntitySpec(1, name), text) == highlight


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Meta", "Les metadata et les métadonnées."),
        ("Meta", "Le cours des métaux."),
        ("Meta", "Dans le metaverse."),
        ("Kyutai", "Kyutaiverse"),
        ("Iliad", "L'Iliade d'Homère."),
        ("GPT", "GPT4 et GPT_5"),
        ("IA", "Il a dit : ia-ia!".replace("ia-ia", "iaia")),
        ("Citroën", "Un jus de citron."),
        ("Moët", "Un mot de trop."),
        ("DOS", "It does not."),
        ("Anthropic", "Kyutai et Mistral AI."),
        ("深度求索", "深度学习"),
    ],
)
def test_does_not_find_other_words(name: str, text: str) -> None:
    assert found(EntitySpec(1, name), text) is None


META = EntitySpec(1, "Meta Platforms", exact_aliases=("Meta",))


@pytest.mark.parametrize(
    ("spec", "text", "highlight"),
    [
        (META, "Meta lance Llama.", "Meta"),
        (META, "La meta de l'entreprise.", None),
        (META, "META LANCE LLAMA.", None),
        (META, "meta platforms lance Llama.", "meta platforms"),
        (EntitySpec(1, "FAIR", exact=True), "Le laboratoire FAIR de Meta.", "FAIR"),
        (EntitySpec(1, "FAIR", exact=True), "A fair price.", None),
        (EntitySpec(1, "xAI Grok", exact_aliases=("Grok",)), "To grok something.", None),
        (EntitySpec(1, "xAI Grok", exact_aliases=("Grok",)), "Grok répond.", "Grok"),
        (EntitySpec(1, "xAI", exact=True), "Chez xAI, on dit.", "xAI"),
        (EntitySpec(1, "Éole", exact=True), "Le projet Eole.", "Eole"),  # accents still folded
    ],
)
def test_exact_terms_are_case_sensitive(spec: EntitySpec, text: str, highlight: str | None) -> None:
    assert found(spec, text) == highlight


CONTEXT = ("AI", "LLM", "modèle")
MISTRAL = EntitySpec(7, "Mistral AI", aliases=("Mistral",), excludes=("vent",), require=CONTEXT)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Mistral publie un LLM.", None),
        ("Mistral AI publie un modèle.", None),
        ("Mistral publie un nouveau Modèle.", None),  # a context word in lowercase is not case-sensitive
        ("Mistral, souvent cité, publie un LLM.", None),  # exclusions are whole words
        ("Le mistral, un vent froid, souffle.", 'excluded by "vent"'),
        ("Le mistral, un VENT froid, souffle sur le LLM.", 'excluded by "vent"'),
        ("J'ai vu le mistral.", "no context word (AI, LLM, modèle) found"),  # j'ai is not AI
        ("Mistral, j’ai dit.", "no context word (AI, LLM, modèle) found"),
    ],
)
def test_excludes_and_context_words(text: str, reason: str | None) -> None:
    result = report(MISTRAL, text)
    assert [v.reason for v in result.vetoed] == ([reason] if reason else [])
    assert len(result.matches) == (0 if reason else 1)


def test_veto_names_the_entity_and_the_term_that_hit() -> None:
    expected = Veto(7, "Mistral AI", 'excluded by "vent"', "Mistral")
    assert veto(MISTRAL, "Le mistral, un vent froid.") == expected


def test_exclusion_in_the_title_vetoes() -> None:
    assert veto(MISTRAL, "Mistral publie un LLM.", title="Météo : du vent") is not None


def test_exclusions_are_accent_insensitive() -> None:
    spec = EntitySpec(1, "Orange", excludes=("météo",))
    expected = Veto(1, "Orange", 'excluded by "météo"', "Orange")
    assert veto(spec, "Vigilance orange, selon Meteo France.") == expected


@pytest.mark.parametrize(
    ("spec", "title", "text", "reason"),
    [
        (EntitySpec(1, "Kyutai", min_mentions=2), "", "Kyutai publie.", "only 1 mention, needs 2"),
        (EntitySpec(1, "Kyutai", min_mentions=3), "", "Kyutai, Kyutai.", "only 2 mentions, needs 3"),
        (EntitySpec(1, "Kyutai", min_mentions=2), "Kyutai", "Kyutai publie.", None),
        (EntitySpec(1, "Kyutai", min_mentions=2), "", "Kyutai publie, Kyutai-backed.", None),
        (EntitySpec(1, "Kyutai", in_title=True), "Un labo parisien", "Kyutai publie.", "not in the title"),
        (EntitySpec(1, "Kyutai", in_title=True), "Kyutai publie", "Le labo publie.", None),
    ],
)
def test_min_mentions_and_in_title(spec: EntitySpec, title: str, text: str, reason: str | None) -> None:
    result = veto(spec, text, title=title)
    assert (result.reason if result else None) == reason


def test_an_entity_not_mentioned_is_neither_matched_nor_vetoed() -> None:
    assert report(MISTRAL, "Kyutai publie un LLM.") == MatchReport(matches=(), vetoed=())


QUERY = '"Mistral AI" OR (Mistral (LLM OR modèle)) -vent'


@pytest.mark.parametrize(
    ("text", "term", "reason"),
    [
        ("Mistral AI lève des fonds.", "Mistral AI", None),
        ("Mistral publie un LLM.", "Mistral", None),
        ("Mistral publie un modele.", "Mistral", None),
        ("Le mistral souffle.", "Mistral", '"Mistral AI" not found and none of (LLM, modèle) found'),
        ("Le mistral, un vent froid, souffle sur le modèle.", "Mistral", 'excluded by "vent"'),
        ("Mistral AI a le vent en poupe.", "Mistral AI", 'excluded by "vent"'),
    ],
)
def test_query_alone_decides(text: str, term: str, reason: str | None) -> None:
    result = report(EntitySpec(3, "Mistral (requête)", aliases=("Kyutai",), query=QUERY), text)
    if reason is None:
        assert [(h.entity, h.term) for h in result.matches] == [("Mistral (requête)", term)]
    else:
        assert result.vetoed == (Veto(3, "Mistral (requête)", reason, term),)


def test_a_query_is_about_the_first_part_of_each_and() -> None:
    """`Mistral (LLM OR modèle)` mentions Mistral; its context words alone mention nothing, and a hit is shown
    on Mistral even when a context word comes first."""
    assert report(EntitySpec(3, "Mistral (requête)", query=QUERY), "Un LLM sans nom.") == MatchReport((), ())
    (hit,) = report(EntitySpec(3, "M", query=QUERY), "Un LLM, publié hier.\n\nMistral le distribue. Un modèle.").matches
    assert (hit.term, hit.snippet, hit.count) == ("Mistral", "Mistral le distribue.", 1)
    _, (explained,) = Matcher([EntitySpec(3, "M", query=QUERY)]).explain(title="", text="Le LLM de Mistral.")
    assert [(t.term, t.role) for t in explained.terms] == [("LLM", "context word"), ("Mistral", "mention")]


def test_query_ignores_the_name_and_options() -> None:
    spec = EntitySpec(1, "Kyutai", excludes=("Paris",), min_mentions=5, query="Moshi")
    assert found(spec, "Kyutai, à Paris.") is None
    assert found(spec, "Moshi, de Kyutai, à Paris.") == "Moshi"


@pytest.mark.parametrize(
    ("query", "title", "url", "expected"),
    [
        ("intitle:Kyutai", "Kyutai publie Moshi", None, "hit"),
        ("intitle:Kyutai", "Un labo publie", None, '"Kyutai" not in the title'),
        ('intitle:"Kyutai lab"', "Le Kyutai\u00a0Lab publie", None, "hit"),
        ("Kyutai site:lemonde.fr", "", "https://www.lemonde.fr/tech/article.html", "hit"),
        ("Kyutai site:lemonde.fr", "", "https://lemonde.fr/a", "hit"),
        ("Kyutai site:lemonde.fr", "", "https://LEMONDE.FR./a", "hit"),
        ("Kyutai site:lemonde.fr", "", "https://lemonde.fr.example.org/a", "not on lemonde.fr"),
        ("Kyutai site:lemonde.fr", "", "https://notlemonde.fr/a", "not on lemonde.fr"),
        ("Kyutai site:lemonde.fr", "", None, "not on lemonde.fr"),
        ("Kyutai site:fr", "", "https://www.lemonde.fr/a", "hit"),
        ("Kyutai -site:lemonde.fr", "", "https://www.lemonde.fr/a", "excluded by site:lemonde.fr"),
        ("+Kyutai", "", None, "hit"),
        ("+KYUTAI", "", None, None),
        ("+KYUTAI OR Moshi", "", None, "hit"),
        ("Kyutai +MOSHI", "", None, '"MOSHI" not found'),
    ],
)
def test_query_operators(query: str, title: str, url: str | None, expected: str | None) -> None:
    spec = EntitySpec(1, "K", query=query)
    assert outcome(spec, "Kyutai a publié Moshi.", title=title, url=url) == expected


def test_bad_query_raises_with_entity_and_position() -> None:
    with pytest.raises(QuerySyntaxError, match=r"entity 4 \(Kyutai\): quote is never closed") as raised:
        Matcher([EntitySpec(1, "Mistral"), EntitySpec(4, "Kyutai", query='Kyutai "Moshi')])
    assert raised.value.position == 7


def test_entity_with_nothing_to_look_for_is_refused() -> None:
    with pytest.raises(ValueError, match="entity 1"):
        Matcher([EntitySpec(1, " - ")])


def test_snippet_is_the_sentence_around_the_hit_in_original_characters() -> None:
    text = "Première phrase. Selon M. Niel, Hervé Jégou dirige l’équipe\u00a0! Dernière phrase."
    (hit,) = report(EntitySpec(1, "herve jegou"), text).matches
    assert hit.snippet == "Selon M. Niel, Hervé Jégou dirige l’équipe\u00a0!"
    assert hit.snippet[hit.highlight[0] : hit.highlight[1]] == "Hervé Jégou"
    assert hit.term == "herve jegou"


def test_snippet_prefers_the_title_then_the_earliest_hit() -> None:
    spec = EntitySpec(1, "Kyutai", aliases=("Moshi",))
    (hit,) = report(spec, "Moshi sort. Kyutai publie.", title="Le labo Kyutai").matches
    assert (hit.snippet, hit.term, hit.in_title, hit.count) == ("Le labo Kyutai", "Kyutai", True, 3)
    (hit,) = report(spec, "Un lab. Moshi sort. Kyutai publie.").matches
    assert (hit.snippet, hit.term, hit.in_title) == ("Moshi sort.", "Moshi", False)


def test_long_sentence_is_cut_on_word_boundaries() -> None:
    before = " ".join(f"mot{i}" for i in range(120))
    after = " ".join(f"terme{i}" for i in range(120))
    text = f"{before} Hervé Jégou {after}."
    (hit,) = report(EntitySpec(1, "Herve Jegou"), text).matches
    assert hit.snippet.startswith("… mot") and hit.snippet.endswith(" …")
    assert len(hit.snippet) <= 300 + 4
    assert hit.snippet[hit.highlight[0] : hit.highlight[1]] == "Hervé Jégou"
    inner = hit.snippet.removeprefix("… ").removesuffix(" …")
    assert f" {inner} " in f" {text} "  # whole words of the original


def test_line_breaks_in_a_snippet_show_as_spaces() -> None:
    (hit,) = report(EntitySpec(1, "Bernhard Schölkopf"), "Avec Bernhard\nSchölkopf et\nYann LeCun.").matches
    assert hit.snippet == "Avec Bernhard Schölkopf et Yann LeCun."
    assert hit.snippet[hit.highlight[0] : hit.highlight[1]] == "Bernhard Schölkopf"


@pytest.mark.parametrize(
    ("text", "count", "first_paragraph"),
    [
        ("Kyutai publie.\n\nPlus tard, Kyutai encore.", 2, True),
        ("Un labo publie.\n\nPlus tard, Kyutai.", 1, False),
        ("\n\nKyutai publie.\n\nPlus tard.", 1, True),  # leading blank lines are not a paragraph
        ("x " * 50 + "Kyutai", 1, True),  # no blank line: the first 500 characters
        ("x " * 300 + "Kyutai", 1, False),
        ("Mistral AI, Mistral AI et Mistral.", 3, True),  # "Mistral" inside "Mistral AI" is one mention
    ],
)
def test_count_and_first_paragraph(text: str, count: int, first_paragraph: bool) -> None:
    spec = EntitySpec(1, "Kyutai", aliases=("Mistral AI", "Mistral"))
    (hit,) = report(spec, text).matches
    assert (hit.count, hit.in_first_paragraph, hit.in_title) == (count, first_paragraph, False)


def test_many_entities_in_spec_order_with_shared_terms() -> None:
    specs = [
        EntitySpec(3, "Mistral AI", require=("AI",)),
        EntitySpec(1, "Kyutai", require=("AI",)),
        EntitySpec(2, "Meta", exact=True, require=("AI",)),
        EntitySpec(9, "Anthropic"),
    ]
    result = Matcher(specs).match(title="Kyutai et Mistral AI", text="Meta aussi, en AI.")
    assert [h.entity_id for h in result.matches] == [3, 1, 2]


def test_matcher_is_reusable_across_articles() -> None:
    matcher = Matcher([EntitySpec(1, "Kyutai"), EntitySpec(2, "Iliad")])
    first = matcher.match(title="", text="Kyutai publie.")
    second = matcher.match(title="", text="Iliad publie.")
    assert [h.entity for h in first.matches] == ["Kyutai"]
    assert [h.entity for h in second.matches] == ["Iliad"]
    assert isinstance(second.matches[0], Hit)


def test_no_entities_matches_nothing() -> None:
    assert Matcher([]).match(title="Kyutai", text="Kyutai") == MatchReport(matches=(), vetoed=())


def test_explain_lists_every_term_found_with_its_role_and_place() -> None:
    matcher = Matcher([MISTRAL, EntitySpec(8, "Kyutai"), EntitySpec(9, "Anthropic")])
    text = "Le mistral souffle. Un vent froid, dit Kyutai. Kyutai encore."
    report, explanations = matcher.explain(title="Météo", text=text)
    assert [h.entity for h in report.matches] == ["Kyutai"]
    mistral, kyutai = explanations  # Anthropic is not mentioned: nothing to explain
    assert mistral.hit is None and mistral.veto is not None
    assert mistral.veto.reason == 'excluded by "vent"'
    assert [(t.term, t.role, t.in_title) for t in mistral.terms] == [
        ("Mistral", "mention", False),
        ("vent", "exclusion", False),
    ]
    exclusion = mistral.terms[1]
    assert text[exclusion.start : exclusion.end] == "vent"
    assert exclusion.snippet == "Un vent froid, dit Kyutai."
    assert exclusion.snippet[exclusion.highlight[0] : exclusion.highlight[1]] == "vent"
    assert kyutai.hit is not None and kyutai.hit.count == 2
    assert [t.snippet for t in kyutai.terms] == ["Un vent froid, dit Kyutai.", "Kyutai encore."]


def test_explain_shows_context_words_and_can_be_limited_to_one_entity() -> None:
    matcher = Matcher([MISTRAL, EntitySpec(8, "Kyutai")])
    report, explanations = matcher.explain(title="", text="Mistral publie un LLM. Kyutai aussi.", entity_ids=[7])
    assert [h.entity for h in report.matches] == ["Mistral AI"]
    (mistral,) = explanations
    assert [(t.term, t.role) for t in mistral.terms] == [("Mistral", "mention"), ("LLM", "context word")]


@pytest.mark.parametrize(
    ("name", "text", "highlight"),
    [
        # Spanish
        ("OpenAI", "¿Qué opina OpenAI de la regulación europea?", "OpenAI"),
        ("Telefonica", "La operadora Telefónica invierte en IA.", "Telefónica"),
        ("Peña Nieto", "El expresidente Pena Nieto habló.", "Pena Nieto"),
        ("Xavier Niel", "¡XAVIER NIEL invierte otra vez!", "XAVIER NIEL"),
        # Italian: elisions
        ("IA", "Il futuro dell’IA in Europa.", "IA"),
        ("Iliad", "L’offerta dell'Iliad è nuova.", "Iliad"),
        ("Università Bocconi", "Studia all’Universita Bocconi di Milano.", "Universita Bocconi"),
        # Portuguese
        ("São Paulo", "A startup de Sao Paulo levantou fundos.", "Sao Paulo"),
        ("Inteligência Artificial", "A inteligencia artificial avança no Brasil.", "inteligencia artificial"),
        ("Conceição", "Maria da CONCEIÇÃO disse.", "CONCEIÇÃO"),
        ("Petrobras", "A Petrobras’ nova estratégia.", "Petrobras"),
    ],
)
def test_finds_names_in_spanish_italian_and_portuguese(name: str, text: str, highlight: str) -> None:
    assert found(EntitySpec(1, name), text) == highlight


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (EntitySpec(1, "Meta"), "Las metas del año son ambiciosas."),  # Spanish plural, another word
        (EntitySpec(1, "Iliad"), "L'Iliade è un poema."),  # Italian
        (EntitySpec(1, "Meta Platforms", exact_aliases=("Meta",)), "A meta do governo é clara."),  # Portuguese
        (EntitySpec(1, "Mistral AI", aliases=("Mistral",), require=("IA",)), "O mistral ia forte, disse ele."),
        (EntitySpec(1, "Mistral AI", aliases=("Mistral",), require=("AI",)), "Il mistral, j'ai froid."),
    ],
)
def test_words_that_look_like_names_in_other_languages_do_not_alert(spec: EntitySpec, text: str) -> None:
    assert report(spec, text).matches == ()


def test_building_leaves_the_garbage_collector_as_it_was() -> None:
    import gc

    assert gc.isenabled()
    Matcher([EntitySpec(1, "Kyutai")])
    assert gc.isenabled()
    with pytest.raises(QuerySyntaxError):
        Matcher([EntitySpec(1, "K", query="(Kyutai")])
    assert gc.isenabled()
    gc.disable()
    try:
        Matcher([EntitySpec(1, "Kyutai")])
        assert not gc.isenabled()
    finally:
        gc.enable()
