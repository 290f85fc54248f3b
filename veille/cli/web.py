"""`veille web`: the web server alone (the JSON API, the web page, the WebSub callback, /healthz, /readyz).

`veille run` starts it too, as a child process (veille.cli.service)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from veille.cli.app import app
from veille.cli.common import err, fail

WEB_HELP = """The web server alone: the JSON API, the web page, the WebSub callback, /healthz and /readyz.

It listens on VEILLE_WEB_LISTEN (default 127.0.0.1:8080: this machine only; 0.0.0.0:8080 for every interface,
behind a reverse proxy that adds TLS). `veille run` starts one itself unless given --no-web. It needs no other
setting: its session secret is made and kept in the database on first start."""


def start_web(*, listen: str | None, parent: int) -> None:
    """Settings, logging and the server; the database is upgraded once reachable (/readyz says 503 until)."""
    from veille import pipeline
    from veille.cli.common import setup_logging
    from veille.settings import SettingsError, check_listen, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from exc
    if listen is not None:
        try:
            settings = settings.model_copy(update={"web_listen": check_listen(listen, "--listen")})
        except ValueError as exc:
            raise fail(str(exc), 2) from exc
    setup_logging(settings)
    if settings.listen and not settings.web_listen:
        err.print("warning: VEILLE_LISTEN is deprecated: name it VEILLE_WEB_LISTEN", markup=False)
    ctx = pipeline.make_context(settings)
    from veille.web.server import serve

    def enqueue(new: Sequence[int], ready: Sequence[int]) -> None:
        from tasks.pages import fetch_later, match_later  # Celery, only once a push brings something new

        fetch_later(new)
        match_later(ready)

    try:
        serve(ctx, enqueue, parent_pid=parent or None)
    except OSError as exc:
        where = "--listen" if listen is not None else "VEILLE_WEB_LISTEN"
        raise fail(f"cannot listen on {settings.web_address} ({where}): {exc.strerror or exc}") from exc


@app.command(help=WEB_HELP)
def web(
    listen: Annotated[str | None, typer.Option("--listen", metavar="HOST:PORT",
                                               help="Where to listen, instead of VEILLE_WEB_LISTEN.")] = None,
    parent: Annotated[int, typer.Option("--parent", hidden=True, help="Stop when this process is gone.")] = 0,
) -> None:
    start_web(listen=listen, parent=parent)


@app.command(hidden=True, help="Former name of `veille web` (the WebSub callback is served there now).")
def serve(
    parent: Annotated[int, typer.Option("--parent", hidden=True, help="Stop when this process is gone.")] = 0,
) -> None:
    err.print("warning: `veille serve` is now `veille web`, which serves the WebSub callback among the rest",
              markup=False)
    start_web(listen=None, parent=parent)
