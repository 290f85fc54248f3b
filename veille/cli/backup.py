"""`veille export` and `veille import`: feeds, tracked entities and channels as one JSON file, for backups
(what the file holds and how it is checked: :mod:`veille.manage.backup`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from veille.cli.app import app
from veille.cli.common import context, err, fail, out
from veille.manage.backup import BackupError, export_backup, import_backup, write_private


@app.command("export")
def export_command(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")]
    = None,
) -> None:
    """Print feeds, tracked entities and channels as JSON (a backup; channel secrets included; -o FILE is
    written mode 0600)."""
    ctx = context()
    data = export_backup(ctx.db)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            write_private(output, text)
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc.strerror}") from exc
    counts = f"{len(data['feeds'])} feeds, {len(data['entities'])} entities, {len(data['channels'])} channels"
    err.print(f"exported {counts}" + (f" to {output}" if output else "")
              + ("; the file holds channel secrets: keep it private" if data["channels"] else ""))


@app.command("import")
def import_command(path: Path) -> None:
    """Add the feeds, tracked entities and channels of a `veille export` file; existing ones are skipped."""
    ctx = context()
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from exc
    try:
        counts = import_backup(ctx, content)
    except BackupError as exc:
        raise fail(f"{path}: {exc}; nothing was imported") from exc
    parts = [f"{kind}: {counts.added[kind]} added, {counts.skipped[kind]} skipped (already present)"
             for kind in ("feeds", "entities", "channels")]
    out.print("; ".join(parts))
    for url in counts.refused:
        err.print(f"refused by the address guard, not imported: {url}")
    emails = counts.email_channels
    if emails and counts.added["channels"] and not ctx.settings.smtp_url:
        err.print(f"warning: VEILLE_SMTP_URL is not set: the email channels ({', '.join(emails)}) fail until an "
                  "SMTP server is configured", markup=False)
