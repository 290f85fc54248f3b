"""`veille channels`: where alerts go."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from veille.cli.app import channels_app
from veille.cli.common import (
    JsonOption,
    LimitOption,
    PauseForOption,
    PauseUntilOption,
    attempt,
    confirm,
    context,
    err,
    fail_on,
    out,
    print_json,
    print_table,
    resumes,
)
from veille.manage import OperationError
from veille.manage import channels as manage_channels
from veille.manage.pauses import format_time


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


@channels_app.command("list")
def channels_list(as_json: JsonOption = False, limit: LimitOption = None) -> None:
    """List channels (webhook and Apprise URLs redacted; into a pipe: one per line, tab-separated)."""
    ctx = context()
    found = attempt(manage_channels.list_channels, ctx.db, limit=limit)
    if as_json:
        print_json([c.as_json() for c in found])
        return

    def state(c: manage_channels.ChannelView) -> str:
        text = c.state + (f", waiting until {format_time(c.retry_after_until)} (Retry-After)"
                          if c.retry_after_until else "")
        return f"{c.pause.describe()} ({text})" if c.pause.paused else text

    print_table(("name", "kind", "target", "delivery", "state", "last error"), (
        (c.name + (" (admin)" if c.admin else ""), c.kind, c.target, c.delivery, state(c), c.last_error)
        for c in found
    ))


@channels_app.command("remove")
def channels_remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a channel: its unsent alerts are dropped, entities routed to it stop naming it, its alert
    history stays in `veille matches`. Asks first on a terminal (not with --yes)."""
    ctx = context()
    try:
        confirm(manage_channels.channel_removal_impact(ctx.db, name).describe(), yes=yes)
        removed = manage_channels.remove_channel(ctx.db, name)
    except OperationError as exc:
        raise fail_on(exc) from exc
    dropped = f"; {removed.unsent} unsent alert{'' if removed.unsent == 1 else 's'} dropped" if removed.unsent else ""
    out.print(f"removed channel {removed.name}{dropped}", markup=False)
    for rerouted in removed.rerouted:
        err.print(rerouted.describe(), markup=False)


@channels_app.command("pause")
def channels_pause(name: str, for_: PauseForOption = None, until: PauseUntilOption = None) -> None:
    """Mute a channel until the pause ends (--for, --until) or `veille channels resume`: no alert is created
    for it meanwhile (nothing piles up); alerts already waiting for it are held until it ends."""
    ctx = context()
    paused = attempt(manage_channels.pause_channel, ctx.db, name, duration=for_, until=until)
    again = resumes(paused.pause.until, f"veille channels resume {paused.name}")
    out.print(f"paused channel {paused.name} {again}: it gets no alert meanwhile", markup=False)


@channels_app.command("resume")
def channels_resume(name: str) -> None:
    """Unmute a channel: it gets the alerts of new articles again, and those its pause held back."""
    ctx = context()
    resumed = attempt(manage_channels.resume_channel, ctx.db, name)
    out.print(f"resumed channel {resumed.name}: it gets alerts again", markup=False)


@channels_app.command("test")
def channels_test(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Send a sample alert (a sample digest to a digest channel) to one channel, or to every channel; prints
    the exact error when it fails. A success marks the channel ok."""
    from veille.manage import channels

    ctx = context()
    results = attempt(channels.test_channel, ctx, name)
    for result in results:
        if result.ok:
            out.print(f"{result.name}: ok", markup=False)
        else:
            err.print(f"{result.name}: failed: {result.error}", markup=False)
    if not all(result.ok for result in results):
        raise typer.Exit(1)
