from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from veille.matching import EntitySpec, Matcher, fold, fold_term

MATCHER = Matcher(
    [
        EntitySpec(1, "Hervé Jégou"),
        EntitySpec(2, "Mistral AI", aliases=("Mistral",), excludes=("vent",), require=("AI", "LLM")),
        EntitySpec(3, "Meta Platforms", exact_aliases=("Meta",), min_mentions=2),
        EntitySpec(4, "深度求索", in_title=True),
        EntitySpec(5, "K", query='"a b" OR (c (d OR e)) -f intitle:g site:h.fr'),
        EntitySpec(6, "Schölkopf"),
    ]
)


@given(st.text())
def test_fold_offsets_stay_within_the_string(text: str) -> None:
    folded = fold(text)
    assert len(folded.offsets) == len(folded.text) == len(folded.cased)
    assert all(0 <= i < len(text) for i in folded.offsets)
    assert folded.offsets == sorted(folded.offsets)
    assert fold(folded.text).text == folded.text  # terms and texts meet in one form
    if folded.text:
        lo, hi = folded.span(0, len(folded.text))
        assert 0 <= lo < hi <= len(text)


@given(title=st.text(), text=st.text(), url=st.none() | st.text())
def test_match_never_raises_and_highlights_stay_in_snippets(title: str, text: str, url: str | None) -> None:
    report = MATCHER.match(title=title, text=text, url=url)
    for hit in report.matches:
        start, end = hit.highlight
        assert 0 <= start < end <= len(hit.snippet)
        assert hit.count >= 1


@given(before=st.text(), after=st.text())
def test_a_name_between_spaces_is_always_found(before: str, after: str) -> None:
    report = MATCHER.match(title="", text=f"{before} Hervé Jégou {after}")
    (hit,) = [h for h in report.matches if h.entity_id == 1]
    assert fold_term(hit.snippet[hit.highlight[0] : hit.highlight[1]]) == "herve jegou"


NAMES = ("Hervé Jégou", "Mistral AI", "Kyutai", "Yann LeCun", "São Paulo", "Telefónica", "Jean-Paul Sartre")
NAMED = Matcher([EntitySpec(i, name) for i, name in enumerate(NAMES)])
_ACCENTED = {"a": "àâäá", "e": "éèêë", "i": "îïí", "o": "ôöó", "u": "ùûüú", "c": "ç", "n": "ñ"}
_SPACES = (" ", "  ", "\u00a0", "\n", "\t", " \u200b", "\u202f", " \n ")


@st.composite
def written_otherwise(draw: st.DrawFn, name: str) -> str:
    """`name` with its case, accents, spaces and soft hyphens changed the way real texts change them."""
    out: list[str] = []
    for i, char in enumerate(name):
        if char in " -":
            out.append(draw(st.sampled_from((*_SPACES, "-", "\u2011", "\u2013"))))
            continue
        base = fold_term(char)
        if base in _ACCENTED and draw(st.booleans()):
            char = draw(st.sampled_from(_ACCENTED[base] + base))
        char = char.upper() if draw(st.booleans()) else char.lower()
        if 0 < i < len(name) - 1 and draw(st.integers(0, 4)) == 0:
            char += "\u00ad"  # a soft hyphen inside the word
        out.append(char)
    return "".join(out)


@given(data=st.data(), index=st.integers(0, len(NAMES) - 1), before=st.sampled_from(("", "Selon ", "(", "« ", "l’")))
def test_a_match_survives_changes_of_case_accents_spaces_and_soft_hyphens(
    data: st.DataObject, index: int, before: str
) -> None:
    variant = data.draw(written_otherwise(NAMES[index]))
    report = NAMED.match(title="", text=f"{before}{variant}, a-t-il dit.")
    (hit,) = [h for h in report.matches if h.entity_id == index]
    shown = hit.snippet[hit.highlight[0] : hit.highlight[1]]
    assert fold_term(shown) == fold_term(NAMES[index]).replace("-", " ")


@given(
    index=st.integers(0, len(NAMES) - 1),
    glued=st.text(alphabet="qzxwQZ0_", min_size=1, max_size=3),
    side=st.sampled_from(("before", "after")),
)
def test_a_match_never_starts_or_ends_inside_a_word(index: int, glued: str, side: str) -> None:
    name = NAMES[index]
    text = f"Il dit {glued}{name} hier." if side == "before" else f"Il dit {name}{glued} hier."
    assert not NAMED.match(title="", text=text).matches


@given(title=st.text(), text=st.text())
def test_hits_are_whole_words_in_the_snippet(title: str, text: str) -> None:
    for hit in MATCHER.match(title=title, text=f"{text} Hervé Jégou, Mistral AI et Meta", url=None).matches:
        if hit.entity_id == 4:  # Chinese: matched inside runs of text
            continue
        start, end = hit.highlight
        before = hit.snippet[start - 1] if start else " "
        after = hit.snippet[end] if end < len(hit.snippet) else " "
        assert not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"), hit
