"""The Typer applications; commands register on them from their own modules.

Help and usage errors are plain text: help wrapped at the terminal's width, each option with its value's
name (``--every DURATION``, never a Python type such as ``<str>``), and a usage error as one line,
``error: ...``, exit status 2. Every command registered on these applications gets that, whatever module
adds it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

# Typer (0.29) carries its own copy of Click: its exceptions and help formatter live there
from typer._click import Context, HelpFormatter
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from veille import __version__

# the value an option takes, named for the reader, when the option names none itself
DURATION = "DURATION"
METAVARS = {"every": DURATION, "since": DURATION, "backfill": DURATION, "for": DURATION, "for_": DURATION,
            "to": "CHANNEL", "alias": "NAME", "alias_exact": "NAME", "exclude": "WORD", "require": "WORDS",
            "tag": "TAG", "output": "FILE"}
NUMBERS = (int, float)


def value_name(param: TyperOption) -> str:
    """``--every DURATION``, ``--limit N``, else the option's own name: a metavar when it was given none."""
    name = param.name or "value"
    if name in METAVARS:
        return METAVARS[name]
    if param.type_descriptor.annotation in NUMBERS:
        return "N"
    return name.upper().replace("_", "-")


def plain_params(command: TyperCommand | TyperGroup) -> None:
    """Give every option and argument a metavar, so that help and errors show names, not types."""
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None and not param.is_flag and not param.count:
            param.metavar = value_name(param)
        elif isinstance(param, TyperArgument) and param.metavar is None:
            param.metavar = (param.name or "arg").upper()


def usage_pieces(command: TyperCommand | TyperGroup, ctx: Context) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            name = param.metavar or (param.name or "").upper()
            name += "..." if param.nargs != 1 and not name.endswith("...") else ""
            pieces.append(name if param.required else f"[{name}]")
    return pieces


def option_records(command: TyperCommand | TyperGroup, ctx: Context) -> tuple[list[tuple[str, str]], ...]:
    """(arguments, options) as (name, help) rows; an argument is listed only when it has a help text."""
    arguments: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            if param.help and not param.hidden:
                arguments.append((param.metavar or (param.name or "").upper(), param.help))
        else:
            record = param.get_help_record(ctx)
            if record is not None:
                options.append(record)
    return arguments, options


def write_params(command: TyperCommand | TyperGroup, ctx: Context, formatter: HelpFormatter) -> None:
    arguments, options = option_records(command, ctx)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    if options:
        with formatter.section("Options"):
            formatter.write_dl(options)


def first_sentence(text: str) -> str:
    """A command's line in its group's list: the first sentence of its help, whole (the list wraps it)."""
    paragraph = " ".join(text.strip().split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph[: end + 1] if end >= 0 else paragraph


class Command(TyperCommand):
    """A command whose help is plain text fitted to the terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_params(self)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return usage_pieces(self, ctx)

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        write_params(self, ctx, formatter)


class Group(TyperGroup):
    """A group of commands: plain help, its commands listed with their first sentence, uncut. The top
    group's :meth:`main` turns every usage error into one ``error: ...`` line with exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain_params(self)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return [*usage_pieces(self, ctx), self.subcommand_metavar]

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        write_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def list_commands(self, ctx: Context) -> list[str]:
        """In the order a new user needs them (`veille --help`); a group's own commands as registered."""
        names = list(self.commands)
        return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), names.index(n)))

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.short_help or first_sentence(command.help or "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:  # `veille feeds`: the group's help
            exc.show()
            sys.exit(exc.exit_code)
        except ClickException as exc:
            usage_error(exc)
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.stderr.write("aborted\n")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def usage_error(exc: ClickException) -> None:
    """``error: no such option: --bogus (see `veille feeds list --help`)``, on one line of stderr."""
    from rich.markup import escape

    from veille.cli.common import err

    message = " ".join(exc.format_message().split()).rstrip(".")
    if message[:2].istitle():  # "No such option" -> "no such option"; "URL ..." stays
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    err.print(f"[red]error:[/red] {escape(message)}{escape(hint)}", markup=True)


class Typer(typer.Typer):
    """A Typer application whose commands are :class:`Command` and groups :class:`Group`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("pretty_exceptions_enable", False)
        kwargs.setdefault("no_args_is_help", True)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Callable[[Any], Any]:
        kwargs.setdefault("cls", Command)
        return super().command(name, **kwargs)


# the top-level commands as `veille --help` lists them: first steps first
ORDER = ("init", "run", "status", "feeds", "track", "channels", "matches", "poll", "explain", "extract", "export",
         "import", "web", "users", "tokens")

# Help wraps at the terminal's width (Click's default stops at 80 columns); in a pipe, 80.
CONTEXT = {"max_content_width": 10_000}

app = Typer(help="veille: news monitoring for the AI industry.", add_completion=False, context_settings=CONTEXT)
feeds_app = Typer(help="Feeds to poll.")
track_app = Typer(help="Tracked entities: labs, companies, people, products.")
channels_app = Typer(help="Where alerts go: Slack, email, webhooks.")
app.add_typer(feeds_app, name="feeds")
app.add_typer(track_app, name="track")
app.add_typer(channels_app, name="channels")


@app.callback(invoke_without_command=True)
def main_callback(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        typer.echo(f"veille {__version__}")
        raise typer.Exit(0)
