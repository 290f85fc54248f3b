"""veille: self-hosted news monitoring for the AI industry."""

import sys

# httpx's own command-line client (httpx._main) imports click, rich.progress and pygments when they are
# installed (typer brings them): 40 ms of start-up for every veille command, for a tool veille never runs.
# A None entry makes httpx's guarded `from ._main import main` take its ImportError fallback.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# The one place the version is written (pyproject.toml reads it): reading the installed package's metadata
# instead costs every command 30 ms of start-up.
__version__ = "0.1.0"
