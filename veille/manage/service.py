"""Is this process able to serve: the database reachable and its schema at the newest migration (`/readyz`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from veille.storage.db import Database, DatabaseError, head_revision, safe_url

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    revision: str | None  # the database's schema revision, when it could be read
    expected: str         # the newest migration this code knows
    error: str = ""       # why not ready, for the operator (no password in it)


def readiness(db: Database) -> Readiness:
    """Reach the database (one ``SELECT 1``, no retry) and read its schema revision."""
    expected = head_revision()
    try:
        db.ping()
    except DatabaseError as exc:
        return Readiness(False, None, expected, str(exc))
    except Exception as exc:  # a driver error that is not an OperationalError: still "not ready", said plainly
        return Readiness(False, None, expected, f"cannot reach the database at {safe_url(db.url)}: {exc}")
    revision = db.current_revision()
    if revision != expected:
        return Readiness(False, revision, expected,
                         f"the database schema is at {revision or 'nothing'}, this veille needs {expected}: run "
                         f"`veille init`")
    return Readiness(True, revision, expected)


def upgrade(db: Database) -> None:
    """Bring the schema to the newest migration (what every command does first); raises DatabaseError."""
    db.upgrade()


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable or unable to serve now (a face answers 503, not 500).
    A statement the database refused (a value too long, a constraint) is not one: that is a bug, a 500."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, DatabaseError | OperationalError | InterfaceError)
