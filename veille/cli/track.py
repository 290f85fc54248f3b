"""`veille track`: tracked entities."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from veille import pipeline
from veille.cli.app import track_app
from veille.cli.common import context, fail, out, print_json
from veille.matching import QuerySyntaxError, fold_term
from veille.storage.db import rowcount
from veille.storage.models import Channel, Entity


def new_entity(name: str, aliases: Sequence[str], excludes: Sequence[str], options: dict[str, Any]) -> Entity:
    return Entity(
        name=name,
        name_key=fold_term(name),
        aliases=[a for a in dict.fromkeys(a.strip() for a in aliases) if a],
        excludes=[e for e in dict.fromkeys(e.strip() for e in excludes) if e],
        options=options,
    )


@track_app.command("add")
def track_add(
    name: str,
    alias: Annotated[list[str] | None, typer.Option("--alias", help="Another name (repeatable).")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="A word that vetoes (repeatable).")] = None,
    alias_exact: Annotated[
        list[str] | None, typer.Option("--alias-exact", help="A case-sensitive alias (repeatable).")
    ] = None,
    require: Annotated[
        str | None, typer.Option("--require", help="Comma-separated context words; one must appear.")
    ] = None,
    exact: Annotated[bool, typer.Option("--exact", help="The name itself is case-sensitive.")] = False,
    query: Annotated[str | None, typer.Option("--query", help='Query: "phrase", OR, -word, ( ), intitle:, site:')]
    = None,
    min_mentions: Annotated[int, typer.Option("--min-mentions", min=1)] = 1,
    in_title: Annotated[bool, typer.Option("--in-title", help="Only when named in the title.")] = False,
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Send its alerts only to this channel (repeatable).")
    ] = None,
) -> None:
    """Track an entity."""
    ctx = context()
    name = name.strip()
    if not name or not fold_term(name).strip():
        raise fail("the name must contain letters or digits", 2)
    options: dict[str, Any] = {}
    if alias_exact:
        options["exact_aliases"] = [a.strip() for a in alias_exact if a.strip()]
    if require:
        options["require"] = [w.strip() for w in require.split(",") if w.strip()]
    if exact:
        options["exact"] = True
    if query:
        options["query"] = query
    if min_mentions > 1:
        options["min_mentions"] = min_mentions
    if in_title:
        options["in_title"] = True
    if to:
        options["to"] = list(dict.fromkeys(t.strip() for t in to if t.strip()))
        known = set(ctx.db.run(lambda s: s.scalars(select(Channel.name)).all()))
        unknown = [n for n in options["to"] if n not in known]
        if unknown:
            raise fail(f"--to: no channel named {', '.join(map(repr, unknown))} (see `veille channels list`)", 2)
    entity = new_entity(name, alias or [], exclude or [], options)
    try:
        pipeline.Matcher([pipeline.entity_spec(entity)])
    except QuerySyntaxError as exc:
        raise fail(f"--query: {exc}", 2) from exc

    def add(s: Session) -> bool:
        if s.scalar(select(Entity.id).where(Entity.name_key == entity.name_key)) is not None:
            return False
        s.add(entity)
        return True

    if not ctx.db.run(add):
        raise fail(f"already tracked: {name}")
    out.print(f"tracking {name}")


@track_app.command("list")
def track_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tracked entities."""
    ctx = context()
    entities = ctx.db.run(lambda s: s.scalars(select(Entity).order_by(Entity.name)).all())
    rows = [
        {"name": e.name, "aliases": e.aliases, "excludes": e.excludes, "enabled": e.enabled, **(e.options or {})}
        for e in entities
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "aliases", "excludes", "options")
    for e in entities:
        table.add_row(e.name, ", ".join(e.aliases), ", ".join(e.excludes),
                      json.dumps(e.options, ensure_ascii=False) if e.options else "")
    out.print(table)


@track_app.command("remove")
def track_remove(name: str) -> None:
    """Stop tracking an entity."""
    ctx = context()
    removed = ctx.db.run(lambda s: rowcount(s.execute(delete(Entity).where(Entity.name_key == fold_term(name)))))
    if not removed:
        raise fail(f"not tracked: {name}")
    out.print(f"stopped tracking {name}")
