"""`veille explain`: why a page did or did not alert."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy import select

from veille import http, pipeline
from veille.cli.app import app
from veille.cli.common import JsonOption, context, fail, iso, out, print_json
from veille.cli.track import marked
from veille.manage.articles import StoredArticle, find_article, reason_text
from veille.matching import TermHit, fold_term
from veille.settings import Settings
from veille.storage.models import Entity


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
    entity: Annotated[str | None, typer.Option("--entity", help="Only this tracked entity.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Why a page did or did not alert: its extracted text, and for each tracked entity it mentions the
    name, alias or query term found where, the exclusion or missing context word that vetoed it, and the
    snippet with the hit marked."""
    ctx = context()
    url, article = load_page(ctx.settings, source)
    chosen: Entity | None = None
    if entity:
        chosen = ctx.db.run(lambda s: s.scalar(select(Entity).where(Entity.name_key == fold_term(entity))))
        if chosen is None:
            raise fail(f"not tracked: {entity}")
        matcher = pipeline.Matcher([pipeline.entity_spec(chosen)])  # even when disabled
    else:
        matcher = ctx.db.run(pipeline.load_matcher)[0]
    title, text = article.title or "", article.text or ""
    # a page veille has stored: the feed's own words for it are matched too, and what happened is said
    stored = find_article(ctx, article.canonical_url or url) or find_article(ctx, url)
    feed_title = feed_summary = ""
    if stored is not None:
        from veille.feeds.words import feed_words

        if stored.feed_title and fold_term(stored.feed_title) != fold_term(title):
            feed_title = stored.feed_title
        feed_summary = feed_words(stored.feed_summary)
    _, explanations = matcher.explain(
        title=title, text=text, url=article.canonical_url or url, feed_title=feed_title, feed_summary=feed_summary
    )
    result: dict[str, Any] = {
        "url": url,
        "canonical_url": article.canonical_url,
        "title": title,
        "published": iso(article.published),
        "language": article.language,
        "text": text,
        "matches": [],
        "vetoed": [],
    }
    for explanation in explanations:
        places = [_place(t) for t in explanation.terms]
        if explanation.hit is not None:
            hit = explanation.hit
            result["matches"].append(
                {
                    "entity": hit.entity,
                    "term": hit.term,
                    "snippet": hit.snippet,
                    "highlight": list(hit.highlight),
                    "count": hit.count,
                    "in_title": hit.in_title,
                    "in_first_paragraph": hit.in_first_paragraph,
                    "where": list(hit.where),
                    "found": places,
                    "stored": _stored(stored, hit.entity),
                }
            )
        elif explanation.veto is not None:
            veto = explanation.veto
            result["vetoed"].append({"entity": veto.entity, "reason": veto.reason, "term": veto.term, "found": places})
    if chosen is not None and not explanations:
        result["not_mentioned"] = [chosen.name]
    if as_json:
        print_json(result)
        return
    out.print(f"{title or '(no title)'}", style="bold", markup=False)
    out.print(article.canonical_url or url, markup=False)
    out.print()
    out.print(text[:2000] + ("…" if len(text) > 2000 else ""), markup=False)
    out.print()
    if chosen is not None and not explanations:
        out.print(f"{chosen.name} is not mentioned: none of its names was found", markup=False)
    elif not explanations:
        out.print("no tracked entity is mentioned")
    for explanation in explanations:
        if explanation.hit is not None:
            hit = explanation.hit
            where = ", in the title" if hit.in_title else ", in the first paragraph" if hit.in_first_paragraph else ""
            out.print(f"[green]match[/green] {escape(hit.entity)} via {escape(repr(hit.term))} ({hit.count}x{where})")
            known = stored.match(hit.entity) if stored is not None else None
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


def _stored(stored: StoredArticle | None, entity: str) -> dict[str, Any] | None:
    """What veille did with this page for this entity, when it has stored it: alerted, or kept and why."""
    known = stored.match(entity) if stored is not None else None
    if known is None:
        return None
    return {"alerted": known.alerted, "reason": known.reason, "where": list(known.where)}


def _place(found: TermHit) -> dict[str, Any]:
    return {
        "term": found.term,
        "role": found.role,
        "where": found.where,
        "start": found.start,
        "end": found.end,
        "snippet": found.snippet,
        "highlight": list(found.highlight),
    }
