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
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
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
# 41 ms on six, for less throughput than one thread. So a process extracts on its event loop's own thread
# (a Celery worker: the worker processes use the cores; responses still arriving wait in the socket
# buffers meanwhile), unless `veille poll` lends it a pool of processes, one per core
# (:func:`extraction_processes`).
_pool: Executor | None = None


def _forget_pool() -> None:  # a forked child has none of its parent's threads or pipes
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


def extraction_executor() -> Executor | None:
    """The pool lent by :func:`extraction_processes`, or None: extract on the calling thread."""
    return _pool


def _warm(_: int) -> int:
    return os.getpid()


@contextlib.contextmanager
def extraction_processes(processes: int | None = None) -> Iterator[int]:
    """Extract pages in ``processes`` worker processes (default: one per core) while the block runs; yields
    how many. Start it when no other thread runs (the workers are forked, which shares the parent's loaded
    modules and costs milliseconds). Where processes cannot be made (a daemonic Celery worker process), or
    one would not help, extraction stays in this process."""
    global _pool
    count = processes if processes is not None else (os.cpu_count() or 1)
    if count < 2 or _pool is not None or multiprocessing.current_process().daemon:
        yield 0
        return
    import trafilatura  # noqa: F401  (imported before the fork, so each worker has it)

    pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork"))
    try:
        list(pool.map(_warm, range(count)))  # start every worker now, before this process starts threads
    except Exception:  # no processes here (a sandbox, a limit): extract on this process's thread
        log.warning("extraction processes could not start; extracting in this process", exc_info=True)
        pool.shutdown(cancel_futures=True)
        yield 0
        return
    _pool = pool
    try:
        yield count
    finally:
        _pool = None
        pool.shutdown(cancel_futures=True)


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
    except http.FetchError as exc:
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
    # Extraction is CPU work (tens of milliseconds): in the pool when `veille poll` lent one, else right here.
    work = partial(extract_article, response.content, url=response.url, content_type=content_type)
    pool = extraction_executor()
    article = work() if pool is None else await asyncio.get_running_loop().run_in_executor(pool, work)
    return FetchedPage(url=response.url, article=article)
