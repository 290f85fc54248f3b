"""``/entities``: the tracked entities; add and edit one with a live preview of what it would have matched among
the stored articles; pause, resume, remove.

The form gives every option of ``veille track add``; it is read into a definition by
:func:`veille.manage.entities.definition_from`, so the page, the API and the command line refuse the same
things with the same words. The preview is ``veille track test`` on what the form holds: htmx posts the form
to ``/entities/preview`` as the user types and swaps in the fragment it answers; without JavaScript, the
form's Preview button renders the whole page with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from veille.manage import InvalidError, NotFoundError, OperationError, channels, entities
from veille.settings import format_duration, parse_duration
from veille.web.forms import Errors, checked, read_form, text, values
from veille.web.templating import flash, render
from veille.web.work import blocking

PREVIEW_SINCE = 30 * 86400.0  # seconds of stored articles the preview looks through
SINCE_LABEL = "30 days"
PREVIEW_SHOWN = 50  # hits (and vetoes) the preview lists; the others are counted
# the operations layer's field names that are not the form's: a refusal without a field is about the name
# (e.g. "already tracked: Kyutai")
FIELDS = {"": "name"}
LABELS = {"name": "Name", "aliases": "Aliases", "aliases_exact": "Case-sensitive aliases", "exclude": "Exclusions",
          "require": "Context words", "query": "Query", "exact": "The name is case-sensitive",
          "min_mentions": "Minimum mentions", "in_title": "Only in the title", "to": "Alerts go to",
          "backfill": "Backfill", "search": "Search the web's news", "lang": "Languages"}


@dataclass
class Typed:
    """What the form holds, as the user typed it (to show it again)."""

    name: str = ""
    aliases: str = ""
    aliases_exact: str = ""
    exclude: str = ""
    require: str = ""
    query: str = ""
    exact: bool = False
    min_mentions: str = "1"
    in_title: bool = False
    to: list[str] = field(default_factory=list)
    backfill: str = ""
    search: bool = False
    lang: str = ""  # comma-separated codes

    @classmethod
    def of(cls, definition: entities.Definition) -> Typed:
        return cls(name=definition.name, aliases="\n".join(definition.aliases),
                   aliases_exact="\n".join(definition.aliases_exact), exclude="\n".join(definition.exclude),
                   require="\n".join(definition.require), query=definition.query or "", exact=definition.exact,
                   min_mentions=str(definition.min_mentions), in_title=definition.in_title, to=list(definition.to),
                   search=definition.search, lang=", ".join(definition.lang))

    @classmethod
    def read(cls, form: FormData) -> Typed:
        def raw(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        return cls(name=text(form, "name"), aliases=raw("aliases"), aliases_exact=raw("aliases_exact"),
                   exclude=raw("exclude"), require=raw("require"), query=text(form, "query"),
                   exact=checked(form, "exact"), min_mentions=text(form, "min_mentions"),
                   in_title=checked(form, "in_title"), to=values(form, "to"), backfill=text(form, "backfill"),
                   search=checked(form, "search"), lang=text(form, "lang"))

    def data(self) -> dict[str, Any]:
        """The named values :func:`entities.definition_from` reads: lists one per line (context words may also
        be separated by commas, as ``--require`` takes them)."""
        return {
            "name": self.name,
            "aliases": _lines(self.aliases),
            "aliases_exact": _lines(self.aliases_exact),
            "exclude": _lines(self.exclude),
            "require": [w.strip() for line in _lines(self.require) for w in line.split(",") if w.strip()],
            "query": self.query or None,
            "exact": self.exact,
            "min_mentions": _whole(self.min_mentions),
            "in_title": self.in_title,
            "to": list(self.to),
            "search": self.search,
            # the languages of its searches: none without them (what was typed is kept on the form)
            "lang": [c.strip() for c in self.lang.replace(" ", ",").split(",") if c.strip()] if self.search else [],
        }

    def definition(self) -> entities.Definition:
        return entities.definition_from(self.data())

    def backfill_seconds(self) -> float | None:
        if not self.backfill:
            return None
        try:
            return parse_duration(self.backfill)
        except ValueError as exc:
            raise InvalidError(str(exc), field="backfill") from exc


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _whole(value: str) -> int | str:
    """A whole number; what is not one stays text, which :func:`entities.definition_from` refuses."""
    if not value:
        return 1
    try:
        return int(value)
    except ValueError:
        return value


async def _entity(request: Request) -> entities.EntityView:
    """The entity the path names; 404 when there is none."""
    try:
        return await blocking(entities.entity_by_id, request.app.state.ctx.db, int(request.path_params["id"]))
    except (ValueError, NotFoundError) as exc:
        raise HTTPException(404, "no such entity: see /entities") from exc


# --------------------------------------------------------------------------- the list


async def entity_list(request: Request) -> Response:
    """``/entities``: each entity, its definition, its matches of the last 7 and 30 days, paused or not."""
    db = request.app.state.ctx.db
    found = await blocking(entities.list_entities, db)
    counts = await blocking(entities.match_counts, db)
    return render(request, "entities.html", {"entities": found, "counts": counts,
                                             "zero": entities.RecentMatches(0, 0)})


# --------------------------------------------------------------------------- the form and its preview


async def _preview(request: Request, typed: Typed, errors: Errors) -> entities.DefinitionTest | None:
    """``track test`` on what the form holds; a refusal goes to ``errors``."""
    try:
        definition = typed.definition()
        return await blocking(entities.test_definition, request.app.state.ctx, definition, since=PREVIEW_SINCE,
                              literal=True)
    except OperationError as exc:
        errors.add(exc, fields=FIELDS)
        return None


async def _form_page(request: Request, typed: Typed, *, entity: entities.EntityView | None = None,
                     errors: Errors | None = None, tested: entities.DefinitionTest | None = None,
                     previewed: bool = False, status: int = 200) -> Response:
    known = await blocking(channels.list_channels, request.app.state.ctx.db)
    names = [c.name for c in known]
    names += [n for n in typed.to if n not in names]  # a typed name that is no channel: shown with its error
    impact = entities.EntityImpact(entity.name, entity.matches) if entity is not None else None
    settings = request.app.state.ctx.settings
    return render(request, "entity_form.html", {
        "entity": entity, "v": typed, "errors": errors or Errors(), "channels": names, "tested": tested,
        "previewed": previewed, "shown": PREVIEW_SHOWN, "since": SINCE_LABEL, "impact": impact,
        "default_languages": ", ".join(settings.language_codes),
        "search_providers": ", ".join(settings.search_provider_names) or "none: VEILLE_SEARCH_PROVIDERS is empty",
        "search_every": format_duration(settings.search_interval),
    }, status=status)


async def entity_new(request: Request) -> Response:
    return await _form_page(request, Typed())


async def entity_create(request: Request) -> Response:
    """Save (303 to the new entity's page) or, with the Preview button, show the page with the preview."""
    form = await read_form(request)
    typed = Typed.read(form)
    errors = Errors()
    if text(form, "action") == "preview":
        tested = await _preview(request, typed, errors)
        return await _form_page(request, typed, errors=errors, tested=tested, previewed=True)
    try:
        added = await blocking(entities.add_entity, request.app.state.ctx, typed.definition(),
                               backfill=typed.backfill_seconds())
    except OperationError as exc:
        errors.add(exc, fields=FIELDS)
        return await _form_page(request, typed, errors=errors, status=422)
    message = f"Now tracking {added.entity.name}."
    if added.backfill is not None:
        done = added.backfill
        stored = f"{done.articles} stored {'article' if done.articles == 1 else 'articles'}"
        message += (f" Backfill {typed.backfill}: {done.matched} of {stored} matched, "
                    f"{done.alerts} new {'alert' if done.alerts == 1 else 'alerts'}.")
    flash(request, message)
    return RedirectResponse(f"/entities/{added.entity.id}", status_code=303)


async def entity_edit(request: Request) -> Response:
    found = await _entity(request)
    return await _form_page(request, Typed.of(found.definition), entity=found)


async def entity_update(request: Request) -> Response:
    """Save the changes (303 back here) or, with the Preview button, show the page with the preview."""
    db = request.app.state.ctx.db
    found = await _entity(request)
    form = await read_form(request)
    typed = Typed.read(form)
    errors = Errors()
    if text(form, "action") == "preview":
        tested = await _preview(request, typed, errors)
        return await _form_page(request, typed, entity=found, errors=errors, tested=tested, previewed=True)
    try:
        changed = await blocking(entities.update_entity, db, found.id, typed.data(),
                                 settings=request.app.state.ctx.settings)
    except OperationError as exc:
        errors.add(exc, fields=FIELDS)
        return await _form_page(request, typed, entity=found, errors=errors, status=422)
    flash(request, f"Saved {changed.name}.")
    return RedirectResponse(f"/entities/{changed.id}", status_code=303)


async def entity_preview(request: Request) -> Response:
    """The preview fragment for what the posted form holds (htmx, as the user types)."""
    form = await read_form(request)
    typed = Typed.read(form)
    errors = Errors()
    tested = await _preview(request, typed, errors) if typed.name else None
    return render(request, "_entity_preview.html", {
        "v": typed, "errors": errors, "tested": tested, "previewed": True, "shown": PREVIEW_SHOWN,
        "since": SINCE_LABEL, "fragment": True, "labels": LABELS,
    })


# --------------------------------------------------------------------------- pause, resume, remove


def _back(form: FormData, entity_id: int) -> str:
    """Where to go after a pause or a resume: the list when asked from it, else the entity's page."""
    return "/entities" if text(form, "back") == "list" else f"/entities/{entity_id}"


async def entity_pause(request: Request) -> Response:
    """Pause for ``for`` (``1d``, ``7d``) or until ``until`` (a date); neither: until resumed."""
    db = request.app.state.ctx.db
    found = await _entity(request)
    form = await read_form(request)
    duration, until = text(form, "for") or None, text(form, "until") or None
    try:
        paused = await blocking(entities.pause_entity, db, found.name, duration=duration, until=until)
    except InvalidError as exc:
        errors = Errors()
        errors.add(exc, fields={"": "until", "for": "until"})  # shown under the date: the one field typed
        return await _form_page(request, Typed.of(found.definition), entity=found, errors=errors, status=422)
    flash(request, f"{paused.name} is {paused.pause.describe()}: it matches nothing meanwhile.")
    return RedirectResponse(_back(form, found.id), status_code=303)


async def entity_resume(request: Request) -> Response:
    db = request.app.state.ctx.db
    found = await _entity(request)
    form = await read_form(request)
    resumed = await blocking(entities.resume_entity, db, found.name)
    flash(request, f"{resumed.name} is tracked again.")
    return RedirectResponse(_back(form, found.id), status_code=303)


async def entity_remove_page(request: Request) -> Response:
    """The confirmation step: what goes with the entity, and the button that removes it."""
    found = await _entity(request)
    impact = await blocking(entities.entity_removal_impact, request.app.state.ctx.db, found.name)
    return render(request, "entity_remove.html", {"entity": found, "impact": impact})


async def entity_remove(request: Request) -> Response:
    """Remove once confirmed (the confirmation page's button, or the browser's prompt that ``data-confirm``
    shows); otherwise show the confirmation page."""
    db = request.app.state.ctx.db
    found = await _entity(request)
    form = await read_form(request)
    if text(form, "confirmed") != "yes":
        return await entity_remove_page(request)
    try:
        removed = await blocking(entities.remove_entity, db, found.name, settings=request.app.state.ctx.settings)
    except NotFoundError:  # removed meanwhile, by another face
        removed = entities.EntityRemoved(found.name, 0)
    went = f"; its {removed.matches} {'match' if removed.matches == 1 else 'matches'} went with it" \
        if removed.matches else ""
    flash(request, f"Stopped tracking {removed.name}{went}.")
    return RedirectResponse("/entities", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/entities", entity_list, methods=["GET"]),
    Route("/entities/new", entity_new, methods=["GET"]),
    Route("/entities/new", entity_create, methods=["POST"]),
    Route("/entities/preview", entity_preview, methods=["POST"]),
    Route("/entities/{id}", entity_edit, methods=["GET"]),
    Route("/entities/{id}", entity_update, methods=["POST"]),
    Route("/entities/{id}/pause", entity_pause, methods=["POST"]),
    Route("/entities/{id}/resume", entity_resume, methods=["POST"]),
    Route("/entities/{id}/remove", entity_remove_page, methods=["GET"]),
    Route("/entities/{id}/remove", entity_remove, methods=["POST"]),
]
