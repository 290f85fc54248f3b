"""Where pages are extracted: in the calling process, or in a pool of processes lent by `veille poll`."""

from __future__ import annotations

import multiprocessing
import os

from veille.pages import fetch
from veille.pages.extract import extract_article

PAGE = (b"<html><head><title>Kyutai</title></head><body><article><p>" + b"Kyutai, le laboratoire parisien. " * 40
        + b"</p></article></body></html>")


def _pid(_: object = None) -> int:
    return os.getpid()


def test_extraction_stays_in_the_process_by_default() -> None:
    assert fetch.extraction_executor() is None


def test_poll_lends_a_pool_of_processes_then_takes_it_back() -> None:
    with fetch.extraction_processes(2) as count:
        pool = fetch.extraction_executor()
        assert count == 2 and pool is not None
        pids = {pool.submit(_pid).result() for _ in range(20)}
        assert os.getpid() not in pids
        article = pool.submit(extract_article, PAGE, url="https://example.org/a").result()
        assert "laboratoire parisien" in article.text
    assert fetch.extraction_executor() is None


def test_one_process_asked_means_no_pool() -> None:
    with fetch.extraction_processes(1) as count:
        assert count == 0
        assert fetch.extraction_executor() is None


def _in_daemon(queue: multiprocessing.Queue[tuple[int, bool]]) -> None:
    with fetch.extraction_processes(2) as count:  # a Celery prefork child is daemonic: it can't have children
        queue.put((count, fetch.extraction_executor() is None))


def test_a_daemonic_worker_process_extracts_in_itself() -> None:
    queue: multiprocessing.Queue[tuple[int, bool]] = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_in_daemon, args=(queue,), daemon=True)
    child.start()
    count, no_pool = queue.get(timeout=30)
    child.join(30)
    assert (count, no_pool) == (0, True)


def _child_sees_pool(queue: multiprocessing.Queue[bool]) -> None:
    queue.put(fetch.extraction_executor() is None)


def test_a_process_forked_while_a_pool_is_lent_does_not_inherit_it() -> None:
    with fetch.extraction_processes(2):
        queue: multiprocessing.Queue[bool] = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(target=_child_sees_pool, args=(queue,))
        child.start()
        assert queue.get(timeout=30) is True
        child.join(30)
