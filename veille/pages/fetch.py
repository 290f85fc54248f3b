"""Fetch an article page and extract it.

Network failures raise :class:`veille.http.FetchError` (from :func:`veille.http.fetch`);
a page that is not HTML is not an error but a :class:`FetchedPage` with ``skipped`` set.
An AMP page whose canonical page is another one is replaced by that page, fetched once.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial

import httpx

from veille import http
from veille.pages.extract import Article, extract_article

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types servers send when they do not know: the body decides.
_UNKNOWN_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "text/plain"})
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<title", b"<!--")


# Extraction is CPU work (lxml and trafilatura, about 18 ms a page). Run on threads beside the event loop it
# thrashes the GIL: measured on the bench farm's pages, 18 ms of CPU a page on one thread, 31 ms on two and
# 41 ms on six, for less throughput than one thread; and lxml must never run on two threads at once anyway
# (:mod:`veille.pages.parsers`). So a process extracts on its event loop's own thread (a Celery worker: the
# worker processes use the cores; responses still arriving wait in the socket buffers meanwhile), unless
# `veille poll` or `veille extract` lends it a pool of processes, one per core (:func:`extraction_processes`),
# where a page that crashes the extractor (lxml and libxml2 are C) kills a pool process, not the command.

# A page whose extraction killed its process this many times (the first in the shared pool, where it may
# have been another page's fault; then alone) is given up: the caller falls back on the feed's own text.
CRASH_ATTEMPTS = 3


class ExtractorCrashed(Exception):
    """Extracting this page killed the process that extracted it, every time it was tried."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"the extractor crashed ({attempts} attempts)")
        self.attempts = attempts


def _new_pool(count: int) -> ProcessPoolExecutor:
    # forked: the workers share the parent's loaded modules and start in milliseconds
    return ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork"))


class _Processes:
    """The pool lent by :func:`extraction_processes`: ``count`` processes, replaced when one dies, and one
    more process where the pages that were in the pool when it broke are tried again one at a time.

    A process that dies breaks its whole pool (concurrent.futures' BrokenProcessPool): every page in it
    fails, not only the one that killed it. So a page that was there is tried again alone, where a second
    death can only be its own, at most ``CRASH_ATTEMPTS`` times in all; the other pages go through."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.shared = _new_pool(count)
        self.replaced = 0  # shared pools replaced after a death
        self._alone: ProcessPoolExecutor | None = None
        self._alone_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    async def run(self, work: Callable[[], Article], url: str) -> Article:
        loop = asyncio.get_running_loop()
        pool = self.shared
        try:
            return await loop.run_in_executor(pool, work)
        except BrokenProcessPool:
            self._replace_shared(pool)
        crashes = 1
        async with self._lock(loop):  # one page at a time in the lone process: a death is that page's own
            while True:
                alone = self._alone or _new_pool(1)
                self._alone = alone
                try:
                    return await loop.run_in_executor(alone, work)
                except BrokenProcessPool:
                    self._alone = None
                    alone.shutdown(wait=False, cancel_futures=True)
                    crashes += 1
                    log.warning("the extractor crashed on this page (%d of %d attempts)", crashes, CRASH_ATTEMPTS,
                                extra={"entry_url": url})
                    if crashes >= CRASH_ATTEMPTS:
                        raise ExtractorCrashed(crashes) from None

    def _replace_shared(self, broken: ProcessPoolExecutor) -> None:
        if self.shared is not broken:  # another page saw the same death and replaced it already
            return
        log.warning("an extraction process died; starting a new pool, and trying its pages again one at a time")
        # Forked while this process has threads (the pool's own, DNS lookups): the children only extract, and
        # touch none of the locks those threads may hold (logging's are reset at fork by Python).
        self.shared = _new_pool(self.count)
        self.replaced += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def _lock(self, loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
        if self._alone_lock is None or self._alone_lock[0] is not loop:  # one lock per event loop it serves
            self._alone_lock = (loop, asyncio.Lock())
        return self._alone_lock[1]

    def shutdown(self) -> None:
        self.shared.shutdown(cancel_futures=True)
        if self._alone is not None:
            self._alone.shutdown(cancel_futures=True)


_processes: _Processes | None = None


def _forget_pool() -> None:  # a forked child has none of its parent's threads or pipes
    global _processes
    _processes = None


os.register_at_fork(after_in_child=_forget_pool)


def extraction_executor() -> Executor | None:
    """The pool lent by :func:`extraction_processes`, or None: extract on the calling thread."""
    return _processes.shared if _processes is not None else None


def _warm(_: int) -> int:
    return os.getpid()


@contextlib.contextmanager
def extraction_processes(processes: int | None = None) -> Iterator[int]:
    """Extract pages in ``processes`` worker processes while the block runs (default: one per core, and at
    least one, so that a page that crashes the extractor cannot take the command down; ``1`` asks for none:
    extraction then runs in this process); yields how many. Start it when no other thread runs (the workers
    are forked, which shares the parent's loaded modules and costs milliseconds). Where processes cannot be
    made (a daemonic Celery worker process), extraction stays in this process."""
    global _processes
    count = processes if processes is not None else max(1, os.cpu_count() or 1)
    if (processes is not None and count < 2) or _processes is not None or multiprocessing.current_process().daemon:
        yield 0
        return
    import trafilatura  # noqa: F401  (imported before the fork, so each worker has it)

    lent = _Processes(count)
    try:
        list(lent.shared.map(_warm, range(count)))  # start every worker now, before this process starts threads
    except Exception:  # no processes here (a sandbox, a limit): extract on this process's thread
        log.warning("extraction processes could not start; extracting in this process", exc_info=True)
        lent.shutdown()
        yield 0
        return
    _processes = lent
    try:
        yield count
    finally:
        _processes = None
        lent.shutdown()


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # final URL, after redirects (the canonical page's when an AMP page was replaced)
    article: Article | None
    skipped: str | None = None  # why there is no article, e.g. "content type application/pdf is not HTML"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def not_html_reason(content_type: str | None, content: bytes) -> str | None:
    """Why a response is not an HTML page, or None when it is one."""
    kind = media_type(content_type)
    if kind in HTML_TYPES:
        return None
    if kind in _UNKNOWN_TYPES:
        start = content[:1024].removeprefix(codecs.BOM_UTF8).lstrip().lower()
        if start.startswith(_HTML_STARTS):
            return None
        if start.startswith(b"%pdf"):
            return "content is a PDF document, not HTML"
        if not kind:
            return "no content type, and the body does not look like HTML"
    return f"content type {kind} is not HTML"


async def fetch_page(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> FetchedPage:
    """GET ``url`` and extract its article; an AMP page is swapped for its canonical page."""
    page = await _fetch_and_extract(client, url, max_bytes=max_bytes)
    if page.article is None or not page.article.amp_canonical:
        return page
    canonical = page.article.canonical_url
    try:
        better = await _fetch_and_extract(client, canonical, max_bytes=max_bytes)
    except (http.FetchError, ExtractorCrashed) as exc:
        log.info("AMP canonical page not fetched, keeping the AMP page: %s", exc,
                 extra={"entry_url": page.url})
        return page
    if better.article is None or not better.article.text:
        return page
    return better


async def _fetch_and_extract(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> FetchedPage:
    response = await http.fetch(client, url, max_bytes=max_bytes)
    content_type = response.headers.get("Content-Type")
    reason = not_html_reason(content_type, response.content)
    if reason is None and not response.content.strip():
        reason = f"empty body (HTTP {response.status})"
    if reason is not None:
        return FetchedPage(url=response.url, article=None, skipped=reason)
    article = await extract_page(response.content, url=response.url, content_type=content_type)
    return FetchedPage(url=response.url, article=article)


async def extract_page(content: bytes, *, url: str, content_type: str | None = None) -> Article:
    """Extract a page: CPU work (tens of milliseconds), in the pool of processes when one was lent
    (:func:`extraction_processes`), else right here on the calling thread (never on another one).

    Raises :class:`ExtractorCrashed` when the page killed the pool's process ``CRASH_ATTEMPTS`` times."""
    work = partial(extract_article, content, url=url, content_type=content_type)
    lent = _processes
    return work() if lent is None else await lent.run(work, url)
