"""The `veille` command: one module per group of commands."""

from __future__ import annotations

import sys

from veille.cli import backup, channels, explain, extract, feeds, service, track  # noqa: F401  (they register the commands)
from veille.cli.app import app
from veille.cli.common import err
from veille.settings import SettingsError
from veille.storage.db import DatabaseError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except (DatabaseError, SettingsError) as exc:
        err.print(f"error: {exc}")
        sys.exit(2)


