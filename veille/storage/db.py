"""Engine, sessions and schema upgrades.

SQLite runs in WAL mode with a busy timeout so a CLI command, a worker and beat can
write side by side; PostgreSQL is used through psycopg 3.
"""

from __future__ import annotations

import fcntl
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy import CursorResult, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from veille.settings import safe_url

__all__ = ["safe_url"]

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

MIGRATIONS = Path(__file__).with_name("migrations")
# How long Database.run keeps retrying a transaction the database refused for a passing reason
# (SQLite busy past its own 30 s busy timeout, PostgreSQL restarting).
RETRY_SECONDS = 60.0


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (``Session.execute`` is typed as returning a plain Result)."""
    return int(cast(CursorResult[Any], result).rowcount)


_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*["\']?([\w]+|None)["\']?', re.M)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration, read from the files without importing Alembic (it has one head)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((key, value) for key, value in _REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", "None"))
    heads = revisions - parents
    if len(heads) != 1:
        raise DatabaseError(f"migrations: expected one head revision, found {sorted(heads)}")
    return heads.pop()


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
    # psycopg prepares a statement on the server after its 5th run, and PostgreSQL may then plan it once for
    # every parameter: a search for a word every article has got the plan of a rare word (0.3 s instead of
    # 20 ms). Unprepared, each statement is planned for its own values.
    connect_args = {"prepare_threshold": None} if make_url(url).get_driver_name() == "psycopg" else {}
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800,
                         connect_args=connect_args)


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
        lock, or PostgreSQL drops the connection, restarts or reports a serialization failure (the
        transaction is rolled back first, so ``work`` starts afresh). Retries span about RETRY_SECONDS."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.session() as session:
                    return work(session, *args, **kwargs)
            except DBAPIError as exc:
                if not _retriable(exc) or time.monotonic() - started > RETRY_SECONDS:
                    raise
                log.warning("database busy or unreachable, retrying",
                            extra={"attempt": attempt, "error": str(exc.orig).strip()})
                time.sleep(min(2.0, 0.05 * 2**attempt))

    def ping(self) -> None:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise DatabaseError(f"cannot reach the database at {safe_url(self.url)}: {exc.orig}") from exc

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it is already there).

        Two processes starting at once (a CLI command and the service, two workers) never both migrate:
        PostgreSQL takes an advisory lock, SQLite a lock file next to the database."""
        self.ping()
        if self.current_revision() == head_revision():
            return  # the usual case: every command checks, and loading Alembic costs more than the command
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = self.engine
        with self._migration_lock(), self.engine.connect() as connection:
            if self.is_sqlite:
                # A batch migration on SQLite may copy a table and drop the original: with foreign keys on,
                # that drop would cascade to every row pointing at it (entries, alerts...). Alembic's advice:
                # migrate with them off (the pragma only takes effect outside a transaction), check after.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                with connection.begin():
                    if self.engine.dialect.name == "postgresql":
                        connection.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                if self.is_sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        log.warning("rows pointing at missing rows after the migration", extra={"rows": broken[:20]})
            finally:
                if self.is_sqlite:
                    connection.rollback()
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            return None  # an empty database: no version table yet

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        path = self.engine.url.database if self.is_sqlite else None
        if not path or path == ":memory:":
            yield
            return
        with open(f"{path}.migrate-lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def dispose(self) -> None:
        self.engine.dispose()


def _retriable(exc: DBAPIError) -> bool:
    """A failure that trying the same transaction again may get past."""
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.OperationalError):
        message = str(exc.orig).lower()
        return "locked" in message or "busy" in message
    # PostgreSQL: connection refused or lost, server restarting, serialization failure, deadlock
    return True


@lru_cache(maxsize=8)
def database(url: str) -> Database:
    """One Database per URL per process."""
    return Database(url)
