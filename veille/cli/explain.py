"""`veille explain`: why a page did or did not alert (the work: :mod:`veille.manage.explain`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from veille.cli.app import app
from veille.cli.common import JsonOption, attempt, context, fail, out, print_json
from veille.cli.track import marked
from veille.manage.articles import reason_text
from veille.manage.explain import Explained
from veille.manage.explain import explain as explain_page


def read_source(source: str) -> tuple[str, bytes | None]:
    """(url, html): a local HTML file is read here (its URL is file://...); a URL is fetched by the operation."""
    if "://" in source and not source.startswith("file://"):
        return source, None
    path = Path(source.removeprefix("file://"))
    try:
        return path.resolve().as_uri(), path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {source}: {exc.strerror}") from exc


@app.command()
def explain(
    source: Annotated[str, typer.Argument(metavar="URL_OR_FILE")],
    entity: Annotated[str | None, typer.Option("--entity", help="Only this tracked entity.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Why a page did or did not alert: its extracted text, and for each tracked entity it mentions the
    name, alias or query term found where, the exclusion or missing context word that vetoed it, and the
    snippet with the hit marked."""
    ctx = context()
    url, html = read_source(source)
    explained = attempt(explain_page, ctx, url=url, html=html, entity=entity)
    if as_json:
        print_json(explained.as_json())
        return
    render(explained)


def render(explained: Explained) -> None:
    article = explained.article
    title, text = article.title or "", article.text or ""
    out.print(f"{title or '(no title)'}", style="bold", markup=False)
    out.print(article.canonical_url or explained.url, markup=False)
    out.print()
    out.print(text[:2000] + ("…" if len(text) > 2000 else ""), markup=False)
    out.print()
    if explained.not_mentioned:
        out.print(f"{explained.not_mentioned[0]} is not mentioned: none of its names was found", markup=False)
    elif not explained.explanations:
        out.print("no tracked entity is mentioned")
    for explanation in explained.explanations:
        if explanation.hit is not None:
            hit = explanation.hit
            where = ", in the title" if hit.in_title else ", in the first paragraph" if hit.in_first_paragraph else ""
            out.print(f"[green]match[/green] {escape(hit.entity)} via {escape(repr(hit.term))} ({hit.count}x{where})")
            known = explained.stored_match(hit.entity)
            if known is not None:
                outcome = "alerted" if known.alerted else f"kept without an alert ({reason_text(known.reason)})"
                out.print(f"  stored: {outcome}", markup=False)
        elif explanation.veto is not None:
            out.print(f"[yellow]vetoed[/yellow] {escape(explanation.veto.entity)}: {escape(explanation.veto.reason)}")
        for found in explanation.terms:
            out.print(
                f"  {found.role} {escape(repr(found.term))} in the {found.where} at {found.start}: "
                + marked(found.snippet, found.highlight)
            )
