"""Where pages are extracted: one thread per process, or a pool of processes lent by `veille poll`."""

from __future__ import annotations

import multiprocessing
import os

from veille.pages import fetch
from veille.pages.extract import extract_article

PAGE = (b"<html><head><title>Kyutai</title></head><body><article><p>" + b"Kyutai, le laboratoire parisien. " * 40
        + b"</p></article></body></html>")


def _pid(_: object = None) -> int:
    return os.getpid()


def test_one_thread_per_process_by_default() -> None:
    executor = fetch.extraction_executor()
    assert executor is fetch.extraction_executor()  # the same thread every time: no GIL thrash
    assert executor.submit(_pid).result() == os.getpid()


def test_poll_lends_a_pool_of_processes_then_takes_it_back() -> None:
    with fetch.extraction_processes(2) as count:
        assert count == 2
        pids = {fetch.extraction_executor().submit(_pid).result() for _ in range(20)}
        assert os.getpid() not in pids
        article = fetch.extraction_executor().submit(extract_article, PAGE, url="https://example.org/a").result()
        assert "laboratoire parisien" in article.text
    assert fetch.extraction_executor().submit(_pid).result() == os.getpid()


def test_one_process_asked_means_no_pool() -> None:
    with fetch.extraction_processes(1) as count:
        assert count == 0
        assert fetch.extraction_executor().submit(_pid).result() == os.getpid()


def _in_daemon(queue: multiprocessing.Queue[tuple[int, int]]) -> None:
    with fetch.extraction_processes(2) as count:  # a Celery prefork child is daemonic: it can't have children
        queue.put((count, fetch.extraction_executor().submit(_pid).result()))


def test_a_daemonic_worker_process_extracts_on_its_own_thread() -> None:
    fetch.extraction_executor().submit(_pid).result()  # the parent's thread exists before the fork
    queue: multiprocessing.Queue[tuple[int, int]] = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_in_daemon, args=(queue,), daemon=True)
    child.start()
    count, pid = queue.get(timeout=30)
    child.join(30)
    assert count == 0
    assert pid == child.pid  # a fresh thread in the child, not the parent's (which a fork does not copy)
