"""Engine, sessions and schema upgrades.

SQLite runs in WAL mode with a busy timeout so a CLI command, a worker and beat can
write side by side; PostgreSQL is used through psycopg 3.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy import CursorResult, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

MIGRATIONS = Path(__file__).with_name("migrations")


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (``Session.execute`` is typed as returning a plain Result)."""
    return int(cast(CursorResult[Any], result).rowcount)


class DatabaseError(RuntimeError):
    """The database cannot be reached or upgraded; the message says which URL and why."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_pre_ping=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800)


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction, committed on success and rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def run(self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work(session, *args, **kwargs)`` in its own transaction, retrying when SQLite reports a
        lock or a connection drops (the transaction is rolled back first, so ``work`` starts afresh)."""
        attempts = 5
        for attempt in range(1, attempts + 1):
            try:
                with self.session() as session:
                    return work(session, *args, **kwargs)
            except OperationalError as exc:
                retriable = isinstance(exc.orig, sqlite3.OperationalError) or exc.connection_invalidated
                if attempt == attempts or not retriable:
                    raise
                log.warning("database busy, retrying", extra={"attempt": attempt, "error": str(exc.orig)})
                time.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    def ping(self) -> None:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise DatabaseError(f"cannot reach the database at {safe_url(self.url)}: {exc.orig}") from exc

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it is already there)."""
        from alembic import command
        from alembic.config import Config

        self.ping()
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = self.engine
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                # two services starting at once: one upgrades, the other waits
                connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@lru_cache(maxsize=8)
def database(url: str) -> Database:
    """One Database per URL per process."""
    return Database(url)
