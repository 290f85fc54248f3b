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
