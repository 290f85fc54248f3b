"""`veille channels`: where alerts go."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from veille.cli.app import channels_app
from veille.cli.common import JsonOption, LimitOption, context, err, fail, iso, out, print_json, print_table
from veille.storage.db import rowcount
from veille.storage.models import Channel, Entity, utcnow

ADDABLE = ("slack", "email", "webhook", "apprise")


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
) -> None:
    """Add a channel (sends nothing; `veille channels test` does)."""
    from veille.alerts import redact_target, validate_target
    from veille.digests import parse_schedule

    kind = kind.lower()
    if kind not in ADDABLE:
        raise fail(f"unknown channel kind {kind!r}: use {', '.join(ADDABLE)}", 2)
    try:
        target = validate_target(kind, target)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    if secret is not None and kind != "webhook":
        raise fail("--secret is for webhook channels only", 2)
    if tz is not None and digest is None:
        raise fail("--tz is the time zone of a digest: give --digest too", 2)
    try:
        schedule = parse_schedule(digest, tz) if digest is not None else None
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    if name is not None and (not name.strip() or any(ch.isspace() for ch in name)):
        raise fail("--name must be one word, e.g. research-slack", 2)
    options: dict[str, Any] = {"secret": secret} if secret else {}
    if schedule is not None:
        options.update(digest=schedule.spec, tz=schedule.tz)
    ctx = context()
    first = schedule.next_after(utcnow()) if schedule is not None else None

    def add(s: Session) -> str | None:
        taken = set(s.scalars(select(Channel.name)))
        chosen = name or next(n for n in (kind, *(f"{kind}-{i}" for i in range(2, 10_000))) if n not in taken)
        if chosen in taken:
            return None
        s.add(Channel(name=chosen, kind=kind, target=target, options=options, admin=admin, next_digest_at=first))
        return chosen

    added = ctx.db.run(add)
    if added is None:
        raise fail(f"a channel is already named {name!r}")
    role = ", admin" if admin else ""
    how = "each alert as it comes"
    if schedule is not None and first is not None:
        how = f"{schedule.describe()}, the first one {_local(first, schedule.tz)}"
    out.print(f"added channel {added} ({kind}{role}) -> {redact_target(kind, target)}: {how}", markup=False)


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
def channels_list(as_json: JsonOption = False, limit: LimitOption = None) -> None:
    """List channels (webhook and Apprise URLs redacted; into a pipe: one per line, tab-separated)."""
    ctx = context()
    query = select(Channel).order_by(Channel.name).limit(limit)
    rows = ctx.db.run(lambda s: [channel_row(c) for c in s.scalars(query)])
    if as_json:
        print_json(rows)
        return
    print_table(("name", "kind", "target", "delivery", "state", "last error"), (
        (c["name"] + (" (admin)" if c["admin"] else ""), c["kind"], c["target"], c["delivery"],
         c["state"] + (f", paused until {c['paused_until'][:19]}" if c["paused_until"] else ""), c["last_error"])
        for c in rows
    ))


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


def sample_alert() -> Any:
    from veille.alerts import AlertMessage, EntityMention

    snippet = "This is a sample: when Kyutai is named in an article you get a message like this one."
    start = snippet.index("Kyutai")
    return AlertMessage(
        title="veille test alert: this is how an alert looks",
        url="https://example.org/veille-test-alert",
        source="veille",
        published=utcnow(),
        mentions=(EntityMention("Kyutai", "Kyutai", snippet, (start, start + len("Kyutai"))),),
    )


@channels_app.command("test")
def channels_test(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Send a sample alert (a sample digest to a digest channel) to one channel, or to every channel; prints
    the exact error when it fails. A success marks the channel ok."""
    from veille.alerts import AlertError, DigestMessage
    from veille.digests import schedule_of
    from veille.pipeline.delivery import open_transport

    ctx = context()
    channels = ctx.db.run(
        lambda s: s.scalars(select(Channel).where(Channel.name == name) if name else select(Channel)).all()
    )
    if not channels:
        raise fail(f"no channel named {name!r}" if name else "no channel configured")
    failed = 0
    for channel in channels:
        try:
            transport = open_transport(ctx, channel)
            schedule = schedule_of(channel) if (channel.options or {}).get("digest") else None
            if schedule is not None:
                transport.send_digest(DigestMessage(f"{schedule.title} (test)", (sample_alert(),),
                                                    period=f"a sample of the {schedule.describe()}"))
            else:
                transport.send(sample_alert())
        except (AlertError, ValueError) as exc:
            failed += 1
            permanent = not isinstance(exc, AlertError) or exc.permanent
            err.print(f"{channel.name}: failed: {exc}", markup=False)
            ctx.db.run(mark_channel, channel.id, "failing" if permanent else channel.state, str(exc))
            continue
        ctx.db.run(mark_channel, channel.id, "ok", None)
        out.print(f"{channel.name}: ok", markup=False)
    if failed:
        raise typer.Exit(1)


def mark_channel(s: Session, channel_id: int, state: str, error: str | None) -> None:
    channel = s.get_one(Channel, channel_id)
    if channel.state != state:
        channel.state, channel.state_since = state, utcnow()
    channel.last_error = error
    if state == "ok":
        channel.paused_until = None  # it just took a message
