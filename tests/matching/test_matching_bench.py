from __future__ import annotations

import pytest

from veille.matching.bench import article, entities, main


def test_bench_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    main(["300", "2"])  # a small run: the script must not rot; timings are not asserted
    out = capsys.readouterr().out
    for label in ("entities:", "build:", "match:", "throughput:"):
        assert label in out


def test_synthetic_data_is_deterministic() -> None:
    specs = entities(100)
    assert specs == entities(100)
    assert len(article(specs, 4096)) == 4096
