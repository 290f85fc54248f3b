"""What `veille run` (and so `make run`) prints once the service is up: where its data is, what it watches,
where alerts go, and what to type next. The last thing a new user reads among Celery's start-up lines."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from veille.manage.status import Summary, plural
from veille.pipeline import Context
from veille.settings import safe_url

INDENT = "  "


def activate_hint() -> str | None:
    """``. .venv/bin/activate`` when the virtualenv running this is not on PATH (`make run`), else None."""
    bindir = Path(sys.executable).absolute().parent
    found = shutil.which("veille")
    if found is not None and Path(found).absolute().parent == bindir:
        return None
    activate = bindir / "activate"
    if not activate.exists():
        return None
    shown = os.path.relpath(activate)
    return f". {activate if shown.startswith('../..') else shown}"


def next_commands(summary: Summary) -> list[tuple[str, str]]:
    """(command, why) pairs: what the user most likely wants to do now."""
    steps: list[tuple[str, str]] = []
    if not summary.feeds.total:
        steps.append(("veille feeds add https://example.org/feed.xml", "a feed to watch"))
    if not summary.entities:
        steps.append(('veille track add "Some Lab"', "a name to look for"))
    if not summary.channel_names:
        steps.append(("veille channels add slack https://hooks.slack.com/services/...", "where alerts go"))
    steps.append(("veille status", "is everything working?"))
    if summary.entities:
        steps.append(("veille matches", "what was found so far"))
    return steps


def render(ctx: Context, summary: Summary, *, processes: int, beat: bool, web: str | None,
           activate: str | None) -> str:
    settings = ctx.settings
    what = f"a worker ({processes} process{'' if processes == 1 else 'es'})"
    what += " and the beat" if beat else " (no beat: it runs elsewhere)"
    broker = safe_url(settings.resolved_broker_url) + (" (embedded, no server needed)" if settings.embedded_broker
                                                       else "")
    entities = f"{summary.entities} tracked {'entity' if summary.entities == 1 else 'entities'}"
    if summary.channel_names:
        alerts = f"{plural(len(summary.channel_names), 'channel')}: {summary.where_alerts_go()}"
    else:
        alerts = "the log (no channel yet)"
    rows = [
        ("data directory", str(settings.data_dir.resolve())),
        ("database", safe_url(settings.resolved_database_url)),
        ("broker", broker),
        ("watching", f"{plural(summary.feeds.total, 'feed')} for {entities}"),
        ("alerts go to", alerts),
    ]
    if web:
        rows.append(("web server", web))
    width = max(len(label) for label, _ in rows)
    lines = ["", f"veille is running: {what}."]
    lines += [f"{INDENT}{label.ljust(width)}  {value}" for label, value in rows]
    steps = next_commands(summary)
    lines.append(f"{INDENT}next, in another terminal:")
    if activate:
        lines.append(f"{INDENT * 2}{activate}")
    command_width = max(len(command) for command, _ in steps)
    lines += [f"{INDENT * 2}{command.ljust(command_width)}  # {why}" for command, why in steps]
    lines.append(f"{INDENT}Ctrl-C stops it.")
    return "\n".join(lines) + "\n"
