"""Shared pieces of the stages: the context, async bridge, portable INSERT ... ON CONFLICT."""


from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from veille.settings import Settings
from veille.storage.db import Database, database

log = logging.getLogger(__name__)


MAX_PAGE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    db: Database


def make_context(settings: Settings) -> Context:
    return Context(settings=settings, db=database(settings.resolved_database_url))


def run_async(coro: Any) -> Any:
    """Run a coroutine from sync code (CLI, Celery tasks)."""
    return asyncio.run(coro)


def _insert(session: Session, model: type[Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model)
