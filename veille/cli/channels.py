"""`veille channels`: where alerts go."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from veille import __version__
from veille.cli.app import channels_app
from veille.cli.common import context, err, fail, iso, out, print_json
from veille.storage.db import rowcount
from veille.storage.models import Channel, utcnow


@channels_app.command("add")
def channels_add(
    kind: Annotated[str, typer.Argument(help="slack, email or webhook")],
    target: Annotated[str, typer.Argument(help="Webhook URL or email address")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="Webhook: HMAC-SHA256 signing secret.")] = None,
) -> None:
    """Add a channel (sends nothing; `veille channels test` does)."""
    from veille.alerts import validate_target

    ctx = context()
    kind = kind.lower()
    if kind not in ("slack", "email", "webhook"):
        raise fail(f"unknown channel kind {kind!r}: use slack, email or webhook", 2)
    try:
        target = validate_target(kind, target)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    options = {"secret": secret} if secret else {}

    def add(s: Session) -> str | None:
        taken = set(s.scalars(select(Channel.name)))
        chosen = name or next(n for n in (kind, *(f"{kind}-{i}" for i in range(2, 10_000))) if n not in taken)
        if chosen in taken:
            return None
        s.add(Channel(name=chosen, kind=kind, target=target, options=options))
        return chosen

    added = ctx.db.run(add)
    if added is None:
        raise fail(f"a channel is already named {name!r}")
    out.print(f"added channel {added} ({kind})")


def channel_row(c: Channel) -> dict[str, Any]:
    return {
        "name": c.name,
        "kind": c.kind,
        "target": c.target,
        "enabled": c.enabled,
        "state": c.state,
        "last_error": c.last_error,
        "since": iso(c.state_since),
    }


@channels_app.command("list")
def channels_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List channels."""
    ctx = context()
    channels = ctx.db.run(lambda s: s.scalars(select(Channel).order_by(Channel.name)).all())
    if as_json:
        print_json([channel_row(c) for c in channels])
        return
    table = Table("name", "kind", "target", "state", "last error")
    for c in channels:
        table.add_row(c.name, c.kind, c.target, c.state, c.last_error or "")
    out.print(table)


@channels_app.command("remove")
def channels_remove(name: str) -> None:
    """Remove a channel."""
    ctx = context()
    removed = ctx.db.run(lambda s: rowcount(s.execute(delete(Channel).where(Channel.name == name))))
    if not removed:
        raise fail(f"no channel named {name!r}")
    out.print(f"removed channel {name}")


@channels_app.command("test")
def channels_test(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Send a test message to one channel, or to every channel; a success marks the channel ok."""
    from veille.alerts import AlertError, make_transport

    ctx = context()
    channels = ctx.db.run(
        lambda s: s.scalars(select(Channel).where(Channel.name == name) if name else select(Channel)).all()
    )
    if not channels:
        raise fail(f"no channel named {name!r}" if name else "no channel configured")
    failed = 0
    for channel in channels:
        try:
            make_transport(channel.kind, channel.target, channel.options or {}, ctx.settings).send_text(
                "veille test message", f"This is a test from veille {__version__}: channel {channel.name} works."
            )
        except AlertError as exc:
            failed += 1
            err.print(f"{channel.name}: failed: {exc}")
            if exc.permanent:
                ctx.db.run(mark_channel, channel.id, "failing", str(exc))
            continue
        ctx.db.run(mark_channel, channel.id, "ok", None)
        out.print(f"{channel.name}: ok")
    if failed:
        raise typer.Exit(1)


def mark_channel(s: Session, channel_id: int, state: str, error: str | None) -> None:
    channel = s.get_one(Channel, channel_id)
    if channel.state != state:
        channel.state, channel.state_since = state, utcnow()
    channel.last_error = error
