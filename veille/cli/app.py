"""The Typer applications; commands register on them from their own modules."""

from __future__ import annotations

from typing import Annotated

import typer

from veille import __version__

app = typer.Typer(help="veille: news monitoring for the AI industry.", no_args_is_help=True, add_completion=False)
feeds_app = typer.Typer(help="Feeds to poll.", no_args_is_help=True)
track_app = typer.Typer(help="Tracked entities: labs, companies, people, products.", no_args_is_help=True)
channels_app = typer.Typer(help="Where alerts go: Slack, email, webhooks.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(track_app, name="track")
app.add_typer(channels_app, name="channels")


@app.callback(invoke_without_command=True)
def main_callback(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        typer.echo(f"veille {__version__}")
        raise typer.Exit(0)
