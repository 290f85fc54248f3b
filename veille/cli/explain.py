"""`veille explain`: why a page did or did not alert."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from veille import http, pipeline
from veille.cli.app import app
from veille.cli.common import context, fail, iso, out, print_json
from veille.matching import fold_term
from veille.settings import Settings


def load_page(settings: Settings, source: str) -> tuple[str, Any]:
    """(url, Article) for a URL (fetched through the guarded client) or a local HTML file."""
    from veille.pages.extract import extract_article
    from veille.pages.fetch import fetch_page

    path = Path(source)
    if "://" not in source or source.startswith("file://"):
        path = Path(source.removeprefix("file://"))
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise fail(f"cannot read {source}: {exc.strerror}") from exc
        url = path.resolve().as_uri()
        return url, extract_article(content, url=url)

    async def get() -> Any:
        async with http.make_client(settings) as client:
            return await fetch_page(client, source, max_bytes=settings.max_page_bytes)

    try:
        page = pipeline.run_async(get())
    except http.FetchError as exc:
        raise fail(f"{source}: {exc}") from exc
    if page.article is None:
        raise fail(f"{source}: skipped: {page.skipped}")
    return page.url, page.article


@app.command()
def explain(
    source: Annotated[str, typer.Argument(metavar="URL_OR_FILE")],
    entity: Annotated[str | None, typer.Option("--entity", help="Only this entity.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the extracted text of one page and which tracked entities match it, where and why."""
    ctx = context()
    url, article = load_page(ctx.settings, source)
    matcher, entities = ctx.db.run(pipeline.load_matcher)
    if entity:
        chosen = [e for e in entities.values() if e.name_key == fold_term(entity)]
        if not chosen:
            raise fail(f"not tracked: {entity}")
        matcher = pipeline.Matcher([pipeline.entity_spec(chosen[0])])
    report = pipeline.match_text(matcher, title=article.title, text=article.text,
                                 url=article.canonical_url or url)
    result = {
        "url": url,
        "canonical_url": article.canonical_url,
        "title": article.title,
        "published": iso(article.published),
        "language": article.language,
        "text": article.text,
        "matches": [
            {"entity": h.entity, "term": h.term, "snippet": h.snippet, "count": h.count, "in_title": h.in_title}
            for h in report.matches
        ],
        "vetoed": [{"entity": v.entity, "reason": v.reason, "term": v.term} for v in report.vetoed],
    }
    if as_json:
        print_json(result)
        return
    out.print(f"[bold]{article.title}[/bold]\n{article.canonical_url or url}\n", markup=True)
    out.print(article.text[:2000] + ("…" if len(article.text) > 2000 else ""), markup=False)
    out.print()
    if not report.matches and not report.vetoed:
        out.print("no tracked entity is mentioned")
    for hit in report.matches:
        out.print(f"[green]match[/green] {hit.entity} via {hit.term!r} ({hit.count}x"
                  f"{', in title' if hit.in_title else ''}): {hit.snippet}", markup=True)
    for veto in report.vetoed:
        out.print(f"[yellow]vetoed[/yellow] {veto.entity}: {veto.reason}", markup=True)
