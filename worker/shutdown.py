"""SIGTERM stops the service at once, and never hangs it.

systemd and ``docker stop`` send SIGTERM, often to the whole process group: the Celery main process and
its pool processes at once. Celery's own answer to SIGTERM is a warm shutdown: wait for the running tasks to
finish. But the pool processes got the signal too and are gone, and the main process waited anyway (for
the tasks a new pool process had just taken, then 5 s for the results of the dead ones): 8 to 12 s. And on
the embedded broker it sometimes never exited: a pool process stopped right after taking the lock of the
pool's task queue never gives it back, and billiard's pool waits for that lock without a timeout when it
is torn down (at exit, in ``Pool._help_stuff_finish``).

So here SIGTERM means: stop now. Running tasks are cancelled and their messages given back to the broker
(every task is acknowledged late and idempotent); the database's claims make the next start resume the
rest (``VEILLE_STALE_AFTER``). The exit status is 0. The pool's teardown waits for the task queue's lock
one second at most. ``SIGQUIT`` and ``SIGINT`` keep Celery's meaning.
"""

from __future__ import annotations

import sys
from functools import cached_property
from typing import Any

from billiard.pool import Pool
from celery import Celery, platforms
from celery.apps.worker import Worker
from celery.concurrency.prefork import TaskPool as PreforkTaskPool
from celery.utils.log import in_sighandler

QUEUE_LOCK_WAIT = 1.0  # seconds the pool's teardown waits for its task queue's lock


class _BlockingPool(Pool):
    """The pool Celery uses when the broker has no event loop (the embedded SQLAlchemy broker)."""

    @staticmethod
    def _help_stuff_finish(inqueue: Any, task_handler: Any, _pool: Any) -> None:
        # billiard's own waits for the lock without a timeout: a pool process stopped while holding it (it
        # holds it while it waits for a task) never releases it. Every pool process is being stopped: what is
        # left in the queue is drained with or without the lock.
        inqueue._rlock.acquire(timeout=QUEUE_LOCK_WAIT)
        while task_handler.is_alive() and inqueue._reader.poll():
            inqueue._reader.recv()

    def terminate(self) -> None:
        # A cold stop: results still due from pool processes that are gone will never come, and billiard would
        # wait 5 s for them. No result is kept (task_ignore_result) and every task is acknowledged late: a task
        # whose result is dropped here has not been acknowledged, and runs again.
        self._result_handler.terminate()
        super().terminate()


class TaskPool(PreforkTaskPool):
    """Celery's prefork pool (``worker_pool``), with the teardown above."""

    BlockingPool = _BlockingPool


class VeilleWorker(Worker):
    """`celery worker` as veille runs it: SIGTERM is a prompt, clean stop (exit status 0)."""

    def install_platform_tweaks(self, worker: Any) -> None:
        super().install_platform_tweaks(worker)

        def stop_now(*_: Any) -> None:
            from celery.apps.worker import safe_say
            from celery.worker import state

            with in_sighandler():
                if state.should_terminate is not None:  # stopping already
                    return
                safe_say("worker: SIGTERM: stopping now; running tasks go back to the queue", sys.__stdout__)
                consumer = getattr(worker, "consumer", None)  # None while the worker starts
                try:
                    if consumer is not None:
                        # the tasks running now are given back to the broker (they are acknowledged late)
                        consumer.cancel_active_requests()
                except Exception as exc:  # a signal handler must not raise into whatever code it interrupted
                    safe_say(f"worker: could not cancel the running tasks: {exc!r}", sys.__stdout__)
                finally:
                    state.should_terminate = platforms.EX_OK  # the worker's loop stops at its next turn

        platforms.signals["SIGTERM"] = stop_now

    def terminate(self, in_sighandler: bool = False) -> None:
        """The cold stop SIGTERM leads to: Celery sends ``worker_shutdown`` on a warm stop only, and what listens
        for it (the worker's heartbeat, which says the service is no longer running) must hear of this one too."""
        super().terminate(in_sighandler=in_sighandler)
        if not in_sighandler:
            self._send_worker_shutdown()


class Veille(Celery):
    """The Celery app class: its worker is :class:`VeilleWorker`."""

    @cached_property
    def Worker(self) -> type[Worker]:
        return self.subclass_with_self(VeilleWorker)
