"""The `veille` command: one module per group of commands, imported only when its command runs."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from veille.cli.app import app
from veille.cli.common import err
from veille.manage.errors import DatabaseError
from veille.settings import SettingsError

__all__ = ["COMMANDS", "MODULES", "app", "load_commands", "main"]

# Which module registers each top-level command or group. `veille poll` on unchanged feeds is mostly
# start-up, so a command imports its own module only; help, completion and unknown names import them all.
COMMANDS = {
    "init": "service", "poll": "service", "run": "service", "matches": "service", "status": "service",
    "web": "web", "serve": "web", "users": "accounts", "tokens": "accounts",
    "feeds": "feeds", "track": "track", "channels": "channels",
    "explain": "explain", "extract": "extract", "export": "backup", "import": "backup",
}
MODULES = ("accounts", "backup", "channels", "explain", "extract", "feeds", "service", "track", "web")


def load_commands(argv: Sequence[str] = ()) -> None:
    """Register the command ``argv`` names (its first word that is not an option), or every command."""
    words = [a for a in argv if not a.startswith("-")]
    wanted = COMMANDS.get(words[0]) if words else None
    for name in (wanted,) if wanted else MODULES:
        importlib.import_module(f"veille.cli.{name}")


def main() -> None:
    load_commands(sys.argv[1:])
    try:
        app()
    except (DatabaseError, SettingsError) as exc:
        err.print(f"error: {exc}")
        sys.exit(2)
