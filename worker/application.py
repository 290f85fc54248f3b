"""Celery configuration from veille's settings, the beat schedule, queues and process signals."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery.signals import setup_logging, worker_process_init, worker_ready, worker_shutdown
from kombu import Queue

from veille import logs
from veille.manage import status
from veille.settings import get_settings
from veille.storage.db import database
from worker.shutdown import Veille

log = logging.getLogger(__name__)

# Every queue a worker consumes, in the order it takes them (queue_order_strategy below): an alert found waits
# for no page fetch, a poll due for no backlog of pages. `celery -A worker worker` consumes them all too.
QUEUES = ("alerts", "polls", "celery", "pages")

settings = get_settings()
if settings.embedded_broker:
    settings.data_dir.mkdir(parents=True, exist_ok=True)

app = Veille("veille", broker=settings.resolved_broker_url, include=["tasks.polls", "tasks.pages", "tasks.alerts"])
app.conf.update(
    worker_pool="worker.shutdown:TaskPool",
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_ignore_result=True,
    # every task is idempotent (claims in the database), so a task is acknowledged only once done
    # and given back when its worker dies
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=300,
    task_soft_time_limit=240,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    # kombu's SQLAlchemy transport hands these options to create_engine, so only Redis gets them
    # and the queues are taken in the order of QUEUES instead of in turn
    broker_transport_options={} if settings.embedded_broker else {"visibility_timeout": 3600,
                                                                  "queue_order_strategy": "priority"},
    worker_cancel_long_running_tasks_on_connection_loss=True,
    worker_hijack_root_logger=False,
    task_default_queue="celery",
    task_queues=[Queue(name) for name in QUEUES],
    task_routes={
        "tasks.polls.*": {"queue": "polls"},
        "tasks.pages.*": {"queue": "pages"},
        "tasks.alerts.*": {"queue": "alerts"},
    },
    beat_schedule={
        "dispatch": {"task": "tasks.polls.dispatch", "schedule": settings.dispatch_every,
                     "options": {"expires": max(5.0, settings.dispatch_every * 5)}},
        # digests due are claimed in the database (one row per channel and window), so a late or
        # duplicated tick sends nothing twice
        "digests": {"task": "tasks.alerts.send_digests", "schedule": 15.0, "options": {"expires": 60.0}},
    },
    timezone="UTC",
)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not share the parent's database connections (the parent's heartbeat
    thread keeps using them: they are left to it, not closed)."""
    database(settings.resolved_database_url).engine.dispose(close=False)


class Heartbeat:
    """The worker process's heartbeat: a row written when the worker is ready, then every few seconds by a
    thread, and deleted when it stops cleanly (`veille status` tells a running service by these rows)."""

    def __init__(self) -> None:
        self.name = f"worker@{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def beat(self) -> None:
        try:
            status.record_heartbeat(database(settings.resolved_database_url), name=self.name, kind="worker",
                                    host=socket.gethostname(), pid=os.getpid(),
                                    stale_after=status.alive_within(settings))
        except Exception as exc:  # the database is down: the worker works on, `veille status` will tell
            log.warning("heartbeat not recorded: %s", exc)

    def start(self) -> None:
        self.name = f"worker@{socket.gethostname()}:{os.getpid()}"
        self.beat()
        try:
            status.forget_dead_workers(database(settings.resolved_database_url))
        except Exception as exc:
            log.warning("old heartbeats not cleaned up: %s", exc)
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, name="veille-heartbeat", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(status.heartbeat_every(settings)):
            self.beat()

    def stop(self) -> None:
        """Stop beating and remove the row, waiting for the database a few seconds at most: a database that is
        down or locked must not hold up the shutdown (the row then just ages out)."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(2)
        forget = threading.Thread(target=self._forget, name="veille-heartbeat-stop", daemon=True)
        forget.start()
        forget.join(3)

    def _forget(self) -> None:
        try:
            status.forget_heartbeat(database(settings.resolved_database_url), name=self.name)
        except Exception as exc:
            log.warning("heartbeat not removed: %s", exc)


heartbeat = Heartbeat()


@worker_ready.connect
def _ready(**_: Any) -> None:
    heartbeat.start()


@worker_shutdown.connect
def _shutdown(**_: Any) -> None:
    heartbeat.stop()


@setup_logging.connect
def _logging(**_: Any) -> None:
    """veille's log format for `veille run` and `celery -A worker ...` alike (Celery then leaves logging alone)."""
    logs.configure(settings.log_level)
