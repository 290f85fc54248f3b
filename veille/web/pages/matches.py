"""``/matches`` (filters, search, pages of 50), ``/matches/{id}`` (why a stored match matched, and where its
alert went) and ``/explain?url=`` (the same for any page, fetched through the guarded client)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from veille.manage import NotFoundError, OperationError
from veille.manage.articles import reason_text
from veille.manage.explain import Explained, explain, explain_match
from veille.manage.matches import Choices, MatchPage, filter_choices, find_matches
from veille.settings import parse_duration
from veille.web.forms import Errors
from veille.web.templating import render
from veille.web.work import blocking, parsing

PAGE = 50
SEARCH_COUNT = 1000  # a search counts its matches up to this many ("more than 1,000"): a word most articles
                     # have would otherwise have every article read, for a number nobody needs exactly
PERIODS = (("", "All time"), ("1d", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"))
PLACES = {"title": "the page's title", "text": "the text", "feed-title": "the feed's title",
          "feed-summary": "the feed's summary"}
MAX_OFFSET = 10_000_000


@dataclass(frozen=True, slots=True)
class Filters:
    entity: str = ""
    feed: str = ""
    since: str = ""
    q: str = ""
    offset: int = 0

    def query(self, **changes: Any) -> str:
        """This page's query string with ``changes`` (empty values left out): for links that keep the filters."""
        values = {"entity": self.entity, "feed": self.feed, "since": self.since, "q": self.q,
                  "offset": self.offset or "", **changes}
        kept = {k: v for k, v in values.items() if v not in ("", None, 0)}
        return "?" + urlencode(kept) if kept else ""

    @property
    def any(self) -> bool:
        return bool(self.entity or self.feed or self.since or self.q)


def _filters(request: Request) -> Filters:
    params = request.query_params
    try:
        offset = max(0, min(int(params.get("offset") or 0), MAX_OFFSET))
    except ValueError:
        offset = 0
    return Filters(entity=(params.get("entity") or "").strip(), feed=(params.get("feed") or "").strip(),
                   since=(params.get("since") or "").strip(), q=(params.get("q") or "").strip()[:500], offset=offset)


async def matches_page(request: Request) -> Response:
    """``/matches``: newest first, by entity, feed, period and words; 50 a page. An htmx request (the filter
    form, as it changes) gets the results alone."""
    ctx = request.app.state.ctx
    chosen = _filters(request)
    errors = Errors()
    since: timedelta | None = None
    if chosen.since:
        try:
            since = timedelta(seconds=parse_duration(chosen.since))
        except ValueError as exc:
            errors.by_field["since"] = str(exc)
    found = MatchPage(0, ())
    if not errors:
        try:
            found = await blocking(find_matches, ctx, entity=chosen.entity or None, feed=chosen.feed or None,
                                   since=since, query=chosen.q or None, limit=PAGE, offset=chosen.offset,
                                   count_up_to=SEARCH_COUNT if chosen.q else None)
        except NotFoundError as exc:
            errors.by_field["entity" if chosen.entity and "tracked" in str(exc) else "feed"] = str(exc)
        except OperationError as exc:
            errors.add(exc)
    context = {"found": found, "chosen": chosen, "errors": errors, "page_size": PAGE, "reason_text": reason_text,
               "periods": PERIODS}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        return render(request, "_match_results.html", {**context, "fragment": True})
    choices: Choices = await blocking(filter_choices, ctx)
    entities = [("", "Every entity"), *((name, name) for name in choices.entities)]
    if chosen.entity and chosen.entity not in choices.entities:
        entities.append((chosen.entity, chosen.entity))  # as asked, even if not tracked (its error says so)
    feeds = [("", "Every feed"), *((str(feed_id), title) for feed_id, title in choices.feeds)]
    return render(request, "matches.html", {**context, "entity_options": entities, "feed_options": feeds})


async def match_page(request: Request) -> Response:
    """``/matches/{id}``: the stored match, its article matched again from what veille stored (nothing
    fetched), every hit and where, the vetoes, and which channel got the alert when."""
    try:
        match_id = int(request.path_params["id"])
    except ValueError:
        raise HTTPException(404, "no such match") from None
    try:
        found = await parsing(request, explain_match, request.app.state.ctx, match_id)
    except NotFoundError as exc:
        return render(request, "match.html", {"missing": str(exc)}, status=404)
    return render(request, "match.html", {"m": found.match, "x": found.explained, **_explained(found.explained),
                                          "reason_text": reason_text})


async def explain_page(request: Request) -> Response:
    """``/explain?url=``: any page fetched through the guarded client, extracted and matched."""
    url = (request.query_params.get("url") or "").strip()[:4096]
    errors = Errors()
    context: dict[str, Any] = {"url": url, "errors": errors, "reason_text": reason_text}
    if url:
        try:
            found = await parsing(request, explain, request.app.state.ctx, url=url)
        except OperationError as exc:
            errors.add(exc)
            if "" in errors.by_field:
                errors.by_field["url"] = errors.by_field.pop("")
        else:
            context.update(x=found, **_explained(found))
    return render(request, "explain.html", context, status=422 if errors else 200)


def _explained(found: Explained) -> dict[str, Any]:
    """What the explain templates show besides ``found``: the text with every hit marked, the places' names."""
    spans: dict[str, list[tuple[int, int, str]]] = {"title": [], "text": [], "feed-title": [], "feed-summary": []}
    for explanation in found.explanations:
        for term in explanation.terms:
            spans.setdefault(term.where, []).append((term.start, term.end, term.role))
    return {
        "places": PLACES,
        "marked_text": marked_text(found.article.text or "", spans["text"]),
        "marked_summary": marked_text(found.feed_summary, spans["feed-summary"]),
    }


def marked_text(text: str, spans: Iterable[tuple[int, int, str]]) -> Markup:
    """``text`` as paragraphs, escaped, each found term in ``<mark>`` (``class="veto"`` for an exclusion,
    ``class="context"`` for a context word)."""
    def plain(piece: str) -> Markup:
        return escape(piece).replace("\n\n", Markup("</p><p>")).replace("\n", Markup("<br>"))

    parts: list[Markup] = [Markup("<p>")]
    at = 0
    for start, end, role in sorted(set(spans)):
        if start < at or end <= start or end > len(text):
            continue  # overlapping or out of range: the first one wins
        parts.append(plain(text[at:start]))
        kind = {"exclusion": "veto", "context word": "context"}.get(role, "mention")
        parts.append(Markup('<mark class="{}">{}</mark>').format(kind, " ".join(text[start:end].split())))
        at = end
    parts.append(plain(text[at:]))
    parts.append(Markup("</p>"))
    return Markup("").join(parts).replace(Markup("<p></p>"), Markup(""))


ROUTES: list[BaseRoute] = [
    Route("/matches", matches_page, methods=["GET"]),
    Route("/matches/{id}", match_page, methods=["GET"]),
    Route("/explain", explain_page, methods=["GET"]),
]
