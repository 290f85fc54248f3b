from __future__ import annotations

from functools import lru_cache

from veille.pipeline import Context, make_context
from veille.settings import get_settings


@lru_cache(maxsize=1)
def context() -> Context:
    return make_context(get_settings())
