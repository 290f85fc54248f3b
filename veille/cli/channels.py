"""`veille channels`: where alerts go."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from veille.cli.app import channels_app
from veille.cli.common import context, err, fail, fail_on, iso, out, print_json
from veille.manage.errors import OperationError
from veille.storage.db import rowcount
from veille.storage.models import Channel, Entity, utcnow


@channels_app.command("add")
def channels_add(
    kind: Annotated[str, typer.Argument(help="slack, email, webhook or apprise")],
    target: Annotated[str, typer.Argument(help="Webhook URL, email address or Apprise URL (ntfy://, discord://...)")],
    name: Annotated[str | None, typer.Option("--name", help="Its name, for --to, test and remove.")] = None,
    secret: Annotated[str | None, typer.Option("--secret", help="Webhook: HMAC-SHA256 signing secret.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Also send service notices here (feed failing...).")]
    = False,
    digest: Annotated[
        str | None,
        typer.Option("--digest", help="One message per period instead of one per alert: hourly, daily@08:00, "
                                      "weekly@mon 08:00."),
    ] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Time zone of --digest, e.g. Europe/Paris (UTC).")] = None,
    test: Annotated[
        bool, typer.Option("--test", help="Send a sample alert now; add the channel only if it arrives.")
    ] = False,
) -> None:
    """Add a channel (an email channel needs VEILLE_SMTP_URL); with --test, only once a sample alert arrived."""
    from veille.manage.channels import add_channel

    ctx = context()
    try:
        added = add_channel(ctx, kind=kind, target=target, name=name, secret=secret, admin=admin, digest=digest,
                            tz=tz, test=test)
    except OperationError as exc:
        raise fail_on(exc) from exc
    role = ", admin" if added.admin else ""
    how = "each alert as it comes"
    if added.schedule is not None and added.first_digest_at is not None:
        how = f"{added.schedule.describe()}, the first one {_local(added.first_digest_at, added.schedule.tz)}"
    tested = "; the sample alert arrived" if added.tested else ""
    out.print(f"added channel {added.name} ({added.kind}{role}) -> {added.target}: {how}{tested}", markup=False)


def _local(when: datetime, tz: str) -> str:
    return f"{when.astimezone(ZoneInfo(tz)):%a %d %b %Y %H:%M} {tz}"


def delivery_mode(c: Channel) -> str:
    options = c.options or {}
    if not options.get("digest"):
        return "immediate"
    return f"{options['digest']} {options.get('tz') or 'UTC'}"


def channel_row(c: Channel) -> dict[str, Any]:
    """A channel as `channels list --json` and `status --json` show it; the target is redacted (webhook
    URLs and Apprise URLs carry tokens)."""
    from veille.alerts import redact_target

    return {
        "name": c.name,
        "kind": c.kind,
        "target": redact_target(c.kind, c.target),
        "enabled": c.enabled,
        "admin": c.admin,
        "delivery": delivery_mode(c),
        "next_digest": iso(c.next_digest_at) if (c.options or {}).get("digest") else None,
        "state": c.state,
        "last_error": c.last_error,
        "since": iso(c.state_since),
        "paused_until": iso(c.paused_until) if c.paused_until and c.paused_until > utcnow() else None,
    }


@channels_app.command("list")
def channels_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List channels (webhook and Apprise URLs redacted)."""
    ctx = context()
    rows = ctx.db.run(lambda s: [channel_row(c) for c in s.scalars(select(Channel).order_by(Channel.name))])
    if as_json:
        print_json(rows)
        return
    table = Table("name", "kind", "target", "delivery", "state", "last error")
    for c in rows:
        name = c["name"] + (" (admin)" if c["admin"] else "")
        state = c["state"] + (f", paused until {c['paused_until'][:19]}" if c["paused_until"] else "")
        table.add_row(name, c["kind"], c["target"], c["delivery"], state, c["last_error"] or "")
    out.print(table)


@channels_app.command("remove")
def channels_remove(name: str) -> None:
    """Remove a channel (its alerts and their history go with it)."""
    ctx = context()

    def remove(s: Session) -> tuple[int, list[str]]:
        removed = rowcount(s.execute(delete(Channel).where(Channel.name == name)))
        entities = s.scalars(select(Entity).order_by(Entity.name))
        routed = [e.name for e in entities if name in (e.options or {}).get("to", ())]
        return removed, routed

    removed, routed = ctx.db.run(remove)
    if not removed:
        raise fail(f"no channel named {name!r}")
    out.print(f"removed channel {name}")
    if routed:
        err.print(f"warning: {', '.join(routed)} had --to {name}; their alerts go only to their other --to channels "
                  "(or to the log when none is left)", markup=False)


@channels_app.command("test")
def channels_test(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Send a sample alert (a sample digest to a digest channel) to one channel, or to every channel; prints
    the exact error when it fails. A success marks the channel ok."""
    from veille.manage import channels

    ctx = context()
    try:
        results = channels.test_channel(ctx, name)
    except OperationError as exc:
        raise fail_on(exc) from exc
    for result in results:
        if result.ok:
            out.print(f"{result.name}: ok", markup=False)
        else:
            err.print(f"{result.name}: failed: {result.error}", markup=False)
    if not all(result.ok for result in results):
        raise typer.Exit(1)
