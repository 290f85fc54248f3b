from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def kyutai_fr() -> tuple[str, str]:
    """(title, text) of the founding example: the first line is the title, the rest the text."""
    title, _, text = (FIXTURES / "kyutai_fr.txt").read_text(encoding="utf-8").partition("\n\n")
    return title, text
