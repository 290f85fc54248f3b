"""Helpers every command uses: settings, database, output."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from veille import logs, pipeline
from veille.clock import utcnow
from veille.manage.errors import DatabaseError, InvalidError, OperationError
from veille.settings import Settings, SettingsError, get_settings, parse_duration

P = ParamSpec("P")
T = TypeVar("T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("veille")

# The options every list takes: `veille feeds list --json --limit 5`.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (every field, nothing cut) instead of text.")]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, metavar="N", help="Show the first N only (default: all).")
]


class UsageError(Exception):
    """A command can't do what was asked; the message says why. Exit status 1."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: MESSAGE`` (one line on stderr; the message's own brackets shown as they are) and return
    the exit to raise: 2 for a usage error, 1 when the command could not do what was asked."""
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}", markup=True)
    return typer.Exit(code)


def setup_logging(settings: Settings) -> None:
    logs.configure(settings.log_level)


def context() -> pipeline.Context:
    """Settings, logging and an upgraded database: every command starts here."""
    try:
        settings = get_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from exc
    setup_logging(settings)
    ctx = pipeline.make_context(settings)
    try:
        ctx.db.upgrade()
    except DatabaseError as exc:
        raise fail(str(exc), 2) from exc
    return ctx


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = ((now or utcnow()) - value).total_seconds()
    when = "ago" if seconds >= 0 else "from now"
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} {when}"
    return f"{int(seconds)}s {when}"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def is_terminal() -> bool:
    return sys.stdout.isatty()


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """Rows for people and for pipes. On a terminal, a table fitted to its width: long cells wrap, and a word
    longer than its column (a URL) folds onto the next lines, never cut. Into a pipe or a file, nothing is
    ever cut either: a header line, then one row per line, cells separated by tabs (tabs and line breaks
    inside a cell become spaces), None as an empty cell. A cell may be a Rich ``Text`` (a snippet with its
    hit in bold): styled on a terminal, plain text in a pipe; any other cell is shown as ``str(cell)``, its
    brackets never taken for markup."""
    from rich.text import Text

    if is_terminal():
        from rich.table import Table

        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(cell if isinstance(cell, Text) else Text("" if cell is None else str(cell))
                            for cell in row))
        out.print(table)
        return
    lines = ["\t".join(columns)]
    lines += ["\t".join(_cell(cell.plain if isinstance(cell, Text) else cell) for cell in row) for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")


def _cell(value: Any) -> str:
    return "" if value is None else _PIPE_SPACE.sub(" ", str(value))


_PIPE_SPACE = re.compile(r"[\t\r\n]+")


PauseForOption = Annotated[
    str | None, typer.Option("--for", metavar="DURATION", help="Pause for this long, e.g. 12h, 7d.")
]
PauseUntilOption = Annotated[
    str | None,
    typer.Option("--until", metavar="DATE", help="Pause until then: YYYY-MM-DD, or an ISO date and time (UTC unless "
                                                 "it gives an offset)."),
]


def attempt(operation: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run an operation of :mod:`veille.manage`; its refusal becomes the command's error (:func:`fail_on`)."""
    try:
        return operation(*args, **kwargs)
    except OperationError as exc:
        raise fail_on(exc) from exc


def resumes(until: datetime | None, command: str) -> str:
    """When a pause ends, for the message of a pause command: ``until 2026-12-09 10:00 UTC`` or ``until
    `veille ... resume ...```."""
    return f"until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if until else f"until `{command}`"


def fail_on(error: OperationError) -> typer.Exit:
    """An operation's refusal as the command's error: exit 2 for an invalid input (a usage error), else 1."""
    if isinstance(error, InvalidError):
        field = f"--{error.field.replace('_', '-')}: " if error.field and not str(error).startswith("-") else ""
        return fail(f"{field}{error}", 2)
    return fail(str(error), 1)


def duration_option(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise fail(f"{name}: {exc}", 2) from exc
    if seconds <= 0:
        raise fail(f"{name}: must be longer than zero", 2)
    return seconds




def confirm(question: str, *, yes: bool) -> None:
    """Ask before removing something, on a terminal only: with ``--yes``, or when stdin is not a terminal (a
    script, a pipe, cron), the command goes ahead without asking. No (the default) exits 1, nothing changed."""
    if yes or not sys.stdin.isatty():
        return
    if not typer.confirm(question, default=False, err=True):
        err.print("nothing removed", markup=False)
        raise typer.Exit(1)
