"""Where a request's work runs: database work on Starlette's thread pool (:func:`blocking`), anything that
parses HTML or XML with lxml, trafilatura or feedparser on the app's one parsing thread (:func:`parsing`):
those C extensions must never run on two threads at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on Starlette's thread pool: database work, never lxml."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def parsing(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on the app's one parsing thread: feedparser, lxml, trafilatura."""
    if kwargs:
        from functools import partial

        fn = partial(fn, **kwargs)
    result: T = await request.app.state.parsing(fn, *args)
    return result
