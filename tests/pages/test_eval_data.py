"""Quality on the shared third-party data; skipped when the data folder is absent."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from veille.eval import DataError, contains, evaluate_pages, load_benchmark, load_snippet_cases, main, score
from veille.pages.extract import extract_article


def test_benchmark_f1(eval_data: Path) -> None:
    pages, truth = load_benchmark(eval_data)
    started = time.perf_counter()
    texts = {key: extract_article(html, url=url).text for key, (html, url) in pages.items()}
    seconds = time.perf_counter() - started
    result = score(texts, truth)
    assert seconds < 30, f"the benchmark took {seconds:.0f} s: too slow to assert in the test suite"
    assert result.f1 >= 0.965, f"F1 {result.f1:.4f} (P {result.precision:.4f}, R {result.recall:.4f})"


def test_snippets_with_and_without(eval_data: Path) -> None:
    cases = load_snippet_cases(eval_data)
    found = avoided = total_with = total_without = 0
    for case in cases:
        text = " ".join(extract_article(case.path.read_bytes(), url=case.url).text.split())
        found += sum(contains(text, snippet) for snippet in case.with_)
        avoided += sum(not contains(text, snippet) for snippet in case.without)
        total_with += len(case.with_)
        total_without += len(case.without)
    # Plain trafilatura 2.3 finds 110/113 and avoids 110/118 on this data.
    assert found >= 110, f"{found}/{total_with} snippets found"
    assert avoided >= 110, f"{avoided}/{total_without} boilerplate snippets avoided"


def test_eval_command_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extraction", "--data", str(tmp_path)]) == 2
    assert "extraction-benchmark not found" in capsys.readouterr().err
    with pytest.raises(DataError, match="pages not found"):
        evaluate_pages(tmp_path, compare=False)
