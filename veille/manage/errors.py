"""The errors of the operations layer. Every face shows ``str(error)`` as it is: write it for the user.

::

    OperationError            anything the operation refuses to do; a face exits 1 / answers 4xx
    ├── NotFoundError         what was named does not exist (404)
    ├── ConflictError         it exists already, or its state forbids the change (409)
    └── InvalidError          an input is wrong; ``field`` names it, e.g. "--every" / "every" (422; CLI: usage, exit 2)

DatabaseError (from :mod:`veille.storage.db`): the database can't be reached or upgraded (CLI: exit 2; web: 503).
"""

from __future__ import annotations

from veille.storage.db import DatabaseError

__all__ = ["ConflictError", "DatabaseError", "InvalidError", "NotFoundError", "OperationError"]


class OperationError(Exception):
    """An operation refused; the message says why and, when it can, what to do instead."""


class NotFoundError(OperationError):
    """The feed, entity, channel or match named does not exist."""


class ConflictError(OperationError):
    """The thing exists already, or its current state forbids the change."""


class InvalidError(OperationError):
    """An input can't be used. ``field`` is the input's name as the operation knows it (``every``,
    ``backfill``, ``name``); faces show it their own way (``--every`` on the command line)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
