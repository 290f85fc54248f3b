"""`veille track`: tracked entities."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

import typer
from rich.markup import escape

from veille.cli.app import track_app
from veille.cli.common import (
    JsonOption,
    LimitOption,
    PauseForOption,
    PauseUntilOption,
    attempt,
    confirm,
    context,
    duration_option,
    fail_on,
    out,
    print_json,
    print_table,
    resumes,
)
from veille.manage import OperationError, entities, searches
from veille.manage.searches import SearchSources
from veille.settings import format_duration

# The options that define what an entity matches, shared by `track add` and `track test`.
AliasOption = Annotated[list[str] | None, typer.Option("--alias", help="Another name (repeatable).")]
ExcludeOption = Annotated[
    list[str] | None, typer.Option("--exclude", help="A word that vetoes the article (repeatable).")
]
AliasExactOption = Annotated[
    list[str] | None, typer.Option("--alias-exact", help="A case-sensitive alias, like Meta (repeatable).")
]
RequireOption = Annotated[
    str | None,
    typer.Option("--require", help="Comma-separated context words, one of which must appear (AI in capitals: exact)."),
]
ExactOption = Annotated[bool, typer.Option("--exact", help="The name itself is case-sensitive.")]
QueryOption = Annotated[
    str | None,
    typer.Option("--query", help='A query that alone decides: "phrase", OR, -word, ( ), +Exact, intitle:, site:.'),
]
MinMentionsOption = Annotated[
    int, typer.Option("--min-mentions", min=1, help="Skip articles that name it fewer times than this.")
]
InTitleOption = Annotated[bool, typer.Option("--in-title", help="Only articles that name it in their title.")]
ToOption = Annotated[list[str] | None, typer.Option("--to", help="Send its alerts only to this channel (repeatable).")]
LangOption = Annotated[
    list[str] | None,
    typer.Option("--lang", metavar="CODES", help="Languages of its searches, e.g. fr,en (default: VEILLE_LANGUAGES)."),
]


def definition(
    name: str,
    *,
    alias: list[str] | None,
    exclude: list[str] | None,
    alias_exact: list[str] | None,
    require: str | None,
    exact: bool,
    query: str | None,
    min_mentions: int,
    in_title: bool,
    to: list[str] | None = None,
) -> entities.Definition:
    """The definition the command line gives (``--require`` is comma-separated)."""
    return entities.Definition(
        name=name,
        aliases=tuple(alias or ()),
        aliases_exact=tuple(alias_exact or ()),
        exclude=tuple(exclude or ()),
        require=tuple(w.strip() for w in (require or "").split(",") if w.strip()),
        query=query,
        exact=exact,
        min_mentions=min_mentions,
        in_title=in_title,
        to=tuple(to or ()),
    )


def window_option(value: str, name: str) -> float:
    seconds = duration_option(value, name)
    assert seconds is not None
    return seconds


@track_app.command("add")
def track_add(
    name: str,
    alias: AliasOption = None,
    exclude: ExcludeOption = None,
    alias_exact: AliasExactOption = None,
    require: RequireOption = None,
    exact: ExactOption = False,
    query: QueryOption = None,
    min_mentions: MinMentionsOption = 1,
    in_title: InTitleOption = False,
    to: ToOption = None,
    backfill: Annotated[
        str | None,
        typer.Option("--backfill", metavar="DURATION", help="Also alert on stored articles of this period, e.g. 7d."),
    ] = None,
    search: Annotated[
        bool, typer.Option("--search", help="Also search the web's news for it (VEILLE_SEARCH_PROVIDERS).")
    ] = False,
    lang: LangOption = None,
) -> None:
    """Track an entity; with --search, veille also searches the web's news for its names."""
    ctx = context()
    window = window_option(backfill, "--backfill") if backfill is not None else None
    given = definition(name, alias=alias, exclude=exclude, alias_exact=alias_exact, require=require, exact=exact,
                       query=query, min_mentions=min_mentions, in_title=in_title, to=to)
    given = replace(given, search=search, lang=tuple(lang or ()))
    added = attempt(entities.add_entity, ctx, given, backfill=window)
    out.print(f"tracking {added.entity.name}", markup=False)
    if added.searches is not None:
        out.print(searching_line(added.entity.name, added.searches), markup=False)
    if added.backfill is not None:
        result = added.backfill
        where = ", ".join(result.channels) if result.channels else "no channel (alerts go to the log)"
        out.print(
            f"backfill {backfill}: {result.matched} of {result.articles} stored article"
            f"{'' if result.articles == 1 else 's'} matched; {result.alerts} new alert"
            f"{'' if result.alerts == 1 else 's'} for {where}",
            markup=False,
        )


@track_app.command("test")
def track_test(
    name_or_query: Annotated[str, typer.Argument(metavar="NAME_OR_QUERY")],
    alias: AliasOption = None,
    exclude: ExcludeOption = None,
    alias_exact: AliasExactOption = None,
    require: RequireOption = None,
    exact: ExactOption = False,
    query: QueryOption = None,
    min_mentions: MinMentionsOption = 1,
    in_title: InTitleOption = False,
    to: Annotated[list[str] | None, typer.Option("--to", hidden=True)] = None,  # accepted, as `add` does; no effect
    since: Annotated[str, typer.Option("--since", help="How far back to look, e.g. 30d.")] = "30d",
    as_json: JsonOption = False,
) -> None:
    """Preview which stored articles a definition would have matched, without saving it.

    NAME_OR_QUERY: a name, with the same options as `track add`; a query, when it uses query syntax; or a
    tracked entity's name, to test its saved definition."""
    ctx = context()
    window = window_option(since, "--since")
    given = definition(name_or_query, alias=alias, exclude=exclude, alias_exact=alias_exact, require=require,
                       exact=exact, query=query, min_mentions=min_mentions, in_title=in_title)
    tested = attempt(entities.test_definition, ctx, given, since=window)
    if as_json:
        print_json([p.as_json() for p in tested.hits])
        return
    hits = tested.hits
    out.print(
        f"{len(hits)} stored article{'' if len(hits) == 1 else 's'} of the last {since} would have matched "
        f"({tested.label}: {tested.description})",
        markup=False,
    )
    for p in hits:
        assert p.hit is not None
        out.print(f"\n{p.title or p.url}", style="bold", markup=False)
        out.print(f"  {p.url}", markup=False)
        where = " · in the title" if p.hit.in_title else ""
        out.print(f"  {p.seen_at:%Y-%m-%d %H:%M} UTC · via {p.hit.term!r} · {p.hit.count}x{where}", markup=False)
        out.print("  " + marked(p.hit.snippet, p.hit.highlight))
    if tested.vetoed:
        out.print(f"\n{len(tested.vetoed)} more mentioned it but would not alert:", markup=False)
        for p in tested.vetoed:
            assert p.veto is not None
            out.print(f"  {p.title or p.url}: {p.veto.reason}", markup=False)


def searching_line(name: str, sources: SearchSources) -> str:
    """``searching the web's news for Kyutai: gdelt (en, fr), hn (en)``."""
    if not sources.sources:
        return (f"searching the web's news for {name}: no provider that is on (VEILLE_SEARCH_PROVIDERS) can search "
                "its names in its languages")
    every = format_duration(context().settings.search_interval)
    return f"searching the web's news for {name}: {sources.describe()}, every {every}"


def marked(snippet: str, highlight: tuple[int, int]) -> str:
    """Rich markup for a snippet with its hit in bold; the snippet's own text is escaped."""
    start, end = highlight
    return escape(snippet[:start]) + "[bold]" + escape(snippet[start:end]) + "[/bold]" + escape(snippet[end:])


@track_app.command("list")
def track_list(as_json: JsonOption = False, limit: LimitOption = None) -> None:
    """List tracked entities; a paused one says until when (into a pipe: one per line, tab-separated, nothing
    cut)."""
    ctx = context()
    found = entities.list_entities(ctx.db)[:limit]
    if as_json:
        print_json([e.as_json() for e in found])
        return
    print_table(
        ("name", "aliases", "excludes", "options", "state"),
        [
            (e.name, ", ".join(e.aliases), ", ".join(e.excludes),
             json.dumps(e.options, ensure_ascii=False) if e.options else "", e.pause.describe() or "active")
            for e in found
        ],
    )


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@track_app.command("remove")
def track_remove(name: str, yes: YesOption = False) -> None:
    """Stop tracking an entity; its matches go with it. Asks first on a terminal (not with --yes)."""
    ctx = context()
    try:
        confirm(entities.entity_removal_impact(ctx.db, name).describe(), yes=yes)
        removed = entities.remove_entity(ctx.db, name, settings=ctx.settings)
    except OperationError as exc:
        raise fail_on(exc) from exc
    matches = f" and its {removed.matches} match{'' if removed.matches == 1 else 'es'}" if removed.matches else ""
    out.print(f"stopped tracking {removed.name}{matches}", markup=False)


@track_app.command("edit")
def track_edit(
    name: str,
    alias: AliasOption = None,
    exclude: ExcludeOption = None,
    alias_exact: AliasExactOption = None,
    clear_aliases: Annotated[
        bool, typer.Option("--clear-aliases", help="Remove every alias (exact ones too) before adding the given ones.")
    ] = False,
    clear_excludes: Annotated[
        bool, typer.Option("--clear-excludes", help="Remove every excluded word before adding the given ones.")
    ] = False,
    require: Annotated[
        str | None,
        typer.Option("--require", help="Comma-separated context words, replacing the saved ones ('' removes them)."),
    ] = None,
    exact: Annotated[
        bool | None, typer.Option("--exact/--no-exact", help="Whether the name itself is case-sensitive.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="A query that alone decides, replacing the saved one ('' removes it).")
    ] = None,
    min_mentions: Annotated[
        int | None,
        typer.Option("--min-mentions", min=1, help="Skip articles that name it fewer times (1: no minimum)."),
    ] = None,
    in_title: Annotated[
        bool | None,
        typer.Option("--in-title/--no-in-title", help="Whether only articles naming it in their title count."),
    ] = None,
    to: Annotated[list[str] | None, typer.Option("--to", help="Also send its alerts to this channel (repeatable).")]
    = None,
    clear_to: Annotated[
        bool, typer.Option("--clear-to", help="Route it to every channel again (before adding the --to ones).")
    ] = False,
    rename: Annotated[str | None, typer.Option("--rename", metavar="NEW_NAME", help="A new name.")] = None,
    search: Annotated[
        bool | None,
        typer.Option("--search/--no-search", help="Whether veille also searches the web's news for it."),
    ] = None,
    lang: Annotated[
        list[str] | None,
        typer.Option("--lang", metavar="CODES", help="Languages of its searches, replacing the saved ones, e.g. "
                                                     "fr,en ('': back to VEILLE_LANGUAGES)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new definition as JSON.")] = False,
) -> None:
    """Change a tracked entity in place: it keeps its matches. Lists (--alias, --exclude, --to) are added to;
    the other options replace the saved value. The new definition is checked before it is saved."""
    ctx = context()
    changes = entities.EntityChanges(
        rename=rename,
        aliases=tuple(alias or ()),
        exact_aliases=tuple(alias_exact or ()),
        clear_aliases=clear_aliases,
        excludes=tuple(exclude or ()),
        clear_excludes=clear_excludes,
        require=tuple(w for w in require.split(",") if w.strip()) if require is not None else None,
        exact=exact,
        query=query,
        min_mentions=min_mentions,
        in_title=in_title,
        to=tuple(to or ()),
        clear_to=clear_to,
        search=search,
        lang=tuple(c for value in lang for c in value.split(",") if c.strip()) if lang is not None else None,
    )
    edited = attempt(entities.edit_entity, ctx.db, name, changes, settings=ctx.settings)
    if as_json:
        print_json(edited.as_json())
        return
    kept = f"its {edited.matches} match{'' if edited.matches == 1 else 'es'} kept" if edited.matches else "no match yet"
    out.print(f"edited {edited.name} ({kept})", markup=False)
    for line in definition_lines(edited):
        out.print(f"  {line}", markup=False)
    if search is not None or lang is not None or edited.options.get("search"):
        sources = searches.entity_sources(ctx.db, edited.id)
        out.print(searching_line(edited.name, sources) if edited.options.get("search")
                  else f"not searching the web's news for {edited.name}", markup=False)


def definition_lines(e: entities.EntityView) -> list[str]:
    """An entity's definition, one setting a line, as `track edit` prints it."""
    options = e.options
    lines = []
    if "query" in options:
        lines.append(f"query: {options['query']} (decides alone)")
    for label, values in (("aliases", e.aliases), ("exact aliases", options.get("exact_aliases", ())),
                          ("excludes", e.excludes), ("requires one of", options.get("require", ()))):
        if values:
            lines.append(f"{label}: {', '.join(values)}")
    flags = [flag for flag, on in (("name case-sensitive", options.get("exact")),
                                   ("in the title only", options.get("in_title"))) if on]
    if options.get("min_mentions"):
        flags.append(f"at least {options['min_mentions']} mentions")
    if flags:
        lines.append(f"options: {', '.join(flags)}")
    lines.append(f"alerts: {', '.join(options['to']) if options.get('to') else 'every channel'}")
    if options.get("search"):
        langs = ", ".join(options.get("lang") or ()) or "VEILLE_LANGUAGES"
        lines.append(f"searches the web's news ({langs})")
    if e.pause.paused:
        lines.append(e.pause.describe())
    return lines


@track_app.command("pause")
def track_pause(name: str, for_: PauseForOption = None, until: PauseUntilOption = None) -> None:
    """Pause an entity: it matches nothing until the pause ends (--for, --until) or `veille track resume`.
    Articles that arrive meanwhile are not matched later."""
    ctx = context()
    paused = attempt(entities.pause_entity, ctx.db, name, duration=for_, until=until)
    again = resumes(paused.pause.until, f"veille track resume {paused.name}")
    out.print(f"paused {paused.name} {again}: it matches nothing meanwhile", markup=False)


@track_app.command("resume")
def track_resume(name: str) -> None:
    """Resume a paused entity: it matches new articles again."""
    ctx = context()
    resumed = attempt(entities.resume_entity, ctx.db, name)
    out.print(f"resumed {resumed.name}: it matches new articles again", markup=False)
