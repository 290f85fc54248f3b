from __future__ import annotations

import os
from pathlib import Path

import pytest

from veille.matching.bench import article, benchmark_bodies, entities, main

EVAL_DATA = Path(os.environ.get("VEILLE_EVAL_DATA") or Path(__file__).parents[2].parent / "shared" / "data")


def test_bench_runs_and_reports(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VEILLE_EVAL_DATA", str(tmp_path))  # no data: the synthetic article only
    main(["300", "2"])  # a small run: the script must not rot; timings are not asserted
    out = capsys.readouterr().out
    for label in ("entities:", "build:", "match:", "throughput:"):
        assert label in out
    assert "evaluation data not found" in out


def test_synthetic_data_is_deterministic() -> None:
    specs = entities(100)
    assert specs == entities(100)
    assert len(article(specs, 4096)) == 4096


def test_bench_reads_the_extraction_benchmark_bodies() -> None:
    if not (EVAL_DATA / "extraction-benchmark").is_dir():
        pytest.skip(f"evaluation data not found at {EVAL_DATA} (set VEILLE_EVAL_DATA to its folder)")
    bodies = benchmark_bodies(EVAL_DATA)
    assert len(bodies) == 181
    assert all(body.strip() for body in bodies)
