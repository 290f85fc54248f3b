"""The JSON API, ``/api/v1``: every answer is JSON, errors are ``{"error": "..."}`` (and ``"field"`` on 422).

A route here decodes the request, calls one function of :mod:`veille.manage` (through :func:`blocking`, or
:func:`parsing` for anything that runs lxml, trafilatura or feedparser: :mod:`veille.web.work`) and encodes the answer;
:class:`veille.web.auth.Authentication` has already refused a request without credentials. The objects are
the ones every face shows (`veille ... --json` prints the same): an entity, a feed, a channel, a match.

Errors: 400 unreadable JSON, 404 unknown object, 409 already exists, 413 too large (the body guard), 422 a
value that can't be used (``{"error", "field"}``, the message the command line prints), 429 too many failed
credentials, 503 database unavailable. POST answers 201 with the object made, PATCH 200 with the object
changed, DELETE 204. A body may hold only the fields an endpoint lists; another one is a 422 naming it.

What an endpoint reads is declared, not only coded: ``@endpoint(body=Body({...}))`` lists its fields
(:class:`Field`: kind, bounds, choices, whether null means something), and the same declaration checks each
request (:func:`read_json`) and writes the endpoint's part of the OpenAPI document (:mod:`veille.web.openapi`,
served at ``/api/v1/openapi.json``), so the two cannot drift apart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import timedelta
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veille.manage import (
    ConflictError,
    InvalidError,
    NotFoundError,
    OperationError,
    backup,
    channels,
    entities,
    explain,
    feeds,
    matches,
    status,
)
from veille.settings import parse_duration
from veille.web.auth import principal_of
from veille.web.work import blocking, parsing

Handler = Callable[..., Awaitable[Response]]
Kind = Literal["string", "boolean", "integer", "strings", "duration"]

MAX_DURATION = 100 * 365 * 86400.0  # seconds: a longer one would pass the year 9999
MAX_ID = 2**31 - 1  # the largest id a database holds (ids are 32-bit integers in PostgreSQL)
MAX_OFFSET = 2**63 - 1
MAX_LIMIT = 1000  # matches in one page


class BadRequest(Exception):
    """The body is not what the endpoint reads: 400 (unreadable) or 422 (a field), with the message."""

    def __init__(self, message: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a JSON body: what it holds, whether null is a value of it (and what null means), its
    bounds; :mod:`veille.web.openapi` documents the field from this, so the document says what is checked.

    Kinds: ``string``; ``boolean``; ``integer`` (2.0 is 2); ``strings`` (a list of strings); ``duration``
    ("10m", "7d", or a number of seconds: more than zero, or zero too when ``minimum`` is 0)."""

    kind: Kind
    doc: str = ""
    nullable: bool = False
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Body:
    """What a POST or PATCH takes: a JSON object of ``fields`` only, the ``required`` ones present (and not
    null); ``change``: a PATCH, which needs at least one field."""

    fields: Mapping[str, Field] = dataclass_field(default_factory=dict)
    required: tuple[str, ...] = ()
    change: bool = False


@dataclass(frozen=True, slots=True)
class RawBody:
    """A body read as it is (OPML, a backup), of one of ``media_types``."""

    media_types: tuple[str, ...]
    doc: str = ""


def error(status: int, message: str, *, field: str | None = None, headers: Mapping[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status, headers=dict(headers or {}))


def endpoint(handler: Handler | None = None, *, body: Body | RawBody | None = None) -> Any:
    """The operations layer's refusals as HTTP answers. With a JSON ``body``, the handler is called as
    ``handler(request, data)`` with the body checked (:func:`read_json`); ``body`` stays on the endpoint
    (``.body``) for the OpenAPI document."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            try:
                if isinstance(body, Body):
                    return await handler(request, await read_json(request, body))
                return await handler(request)
            except BadRequest as exc:
                return error(exc.status, str(exc), field=exc.field)
            except NotFoundError as exc:
                return error(404, str(exc))
            except ConflictError as exc:
                return error(409, str(exc))
            except InvalidError as exc:
                return error(422, str(exc), field=exc.field)
            except OperationError as exc:  # e.g. a URL that gives no feed: the request can't be done as asked
                return error(422, str(exc))

        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        guarded.body = body  # type: ignore[attr-defined]
        return guarded

    return wrap(handler) if handler is not None else wrap


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes) -> Any:
    """A JSON document, or BadRequest (400): not JSON, or NaN and Infinity, which JSON does not have."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc


async def read_json(request: Request, body: Body) -> dict[str, Any]:
    """The JSON object of the request's body, every field checked against ``body`` (422 naming it)."""
    raw = await request.body()
    data = parse_json(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    for key in data:
        if key not in body.fields:
            takes = f"this endpoint takes {', '.join(body.fields)}" if body.fields else "this endpoint takes none"
            raise BadRequest(f"unknown field ({takes})", status=422, field=key)
    for key in body.required:
        if data.get(key) is None:
            raise BadRequest("required", status=422, field=key)
    if body.change and not data:
        raise BadRequest("nothing to change: give at least one field", status=422)
    return {key: check_field(key, body.fields[key], value) for key, value in data.items()}


_EXPECTED = {"string": "a string", "boolean": "true or false", "integer": "a whole number",
             "strings": "a list of strings", "duration": 'a duration ("10m", "7d") or a number of seconds'}


def check_field(name: str, spec: Field, value: Any) -> Any:
    """``value`` as the field takes it, or BadRequest (422) naming the field."""
    if value is None:
        if spec.nullable:
            return None
        raise BadRequest(f"expected {_EXPECTED[spec.kind]}, not null", status=422, field=name)
    kind = spec.kind
    if kind == "string" and isinstance(value, str):
        return checked_text(value, name, max_length=spec.max_length, choices=spec.choices)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "integer" and _whole(value):
        if spec.minimum is not None and value < spec.minimum:
            raise BadRequest(f"must be {spec.minimum} or more", status=422, field=name)
        if spec.maximum is not None and value > spec.maximum:
            raise BadRequest(f"must be {spec.maximum} or less", status=422, field=name)
        return int(value)
    if kind == "strings" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [checked_text(v, name, max_length=spec.max_length) for v in value]
    if kind == "duration" and not isinstance(value, bool) and isinstance(value, str | int | float):
        return duration(value, name, zero=spec.minimum == 0)
    raise BadRequest(f"expected {_EXPECTED[kind]}", status=422, field=name)


def _whole(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())


def checked_text(value: str, field: str, *, max_length: int | None = None, choices: tuple[str, ...] = ()) -> str:
    """A string that can be stored and shown: no NUL character, no lone surrogate (JSON can carry both,
    neither a database nor UTF-8 can), at most ``max_length`` characters, one of ``choices`` if any."""
    if "\x00" in value:
        raise BadRequest("must not contain NUL characters", status=422, field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest("must be valid Unicode (a lone surrogate can't be stored)", status=422, field=field) from exc
    if max_length is not None and len(value) > max_length:
        raise BadRequest(f"too long (at most {max_length} characters)", status=422, field=field)
    if choices and value not in choices:
        raise BadRequest(f"must be {', '.join(choices[:-1])} or {choices[-1]}", status=422, field=field)
    return value


def duration(value: Any, field: str, *, zero: bool = False) -> float:
    """A duration: "10m", "7d", or a number of seconds; more than zero (or zero too), at most 100 years."""
    try:
        seconds = parse_duration(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise BadRequest(str(exc), status=422, field=field) from exc
    if seconds < 0 or (seconds == 0 and not zero):
        raise BadRequest("must be longer than zero", status=422, field=field)
    if seconds > MAX_DURATION:
        raise BadRequest("too long (at most 100 years)", status=422, field=field)
    return seconds


def seconds_text(seconds: float) -> str:
    """Seconds as the operations layer reads a duration (``"600.5s"``)."""
    return f"{seconds:f}s"


def query_int(request: Request, name: str, spec: Field, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    low, high = spec.minimum or 0, spec.maximum if spec.maximum is not None else MAX_OFFSET
    number = int(value) if value.isascii() and value.isdigit() and len(value) < 20 else None
    if number is None or not low <= number <= high:
        raise BadRequest(f"expected a whole number from {low} to {high}", status=422, field=name)
    return number


def query_text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return checked_text(value, name) if value else None


def path_id(request: Request) -> int:
    value = str(request.path_params["id"])
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > 10 or int(value) > MAX_ID:
        raise NotFoundError(f"no object {value[:40]}")
    return int(value)


def path_name(request: Request) -> str:
    value = str(request.path_params["name"])
    if "\x00" in value:
        raise NotFoundError("no channel with a NUL character in its name")
    return value


def ctx_of(request: Request) -> Any:
    return request.app.state.ctx


def created(obj: dict[str, Any]) -> Response:
    return JSONResponse(obj, 201)


def no_content() -> Response:
    return Response(status_code=204)


# --------------------------------------------------------------------------- who

@endpoint
async def me(request: Request) -> Response:
    """Who the token or the session belongs to."""
    who = principal_of(request)
    if who is None:  # not reached: the middleware refuses first
        return error(401, "authentication required")
    return JSONResponse({"via": who.via, "user": who.user, "token": who.token})


@endpoint
async def openapi_get(request: Request) -> Response:
    """This API described as OpenAPI 3.1."""
    from veille.web.openapi import document

    return JSONResponse(document())


# --------------------------------------------------------------------------- entities

TEXT = Field("string")
WORDS = Field("strings")
ENTITY_FIELDS: dict[str, Field] = {
    "name": Field("string", "What the entity is called, and the first term looked for.",
                  max_length=entities.NAME_SIZE),
    "aliases": Field("strings", "Other names, matched as names are (case and accents folded)."),
    "aliases_exact": Field("strings", "Case-sensitive aliases (Meta, not meta)."),
    "exclude": Field("strings", "Words that veto an article."),
    "require": Field("strings", "Context words: one of them must appear in the article."),
    "query": Field("string", "A query that alone decides (\"phrase\", OR, -word, ( ), +Exact, intitle:, site:); "
                   "null or \"\": none.", nullable=True),
    "exact": Field("boolean", "The name itself is case-sensitive."),
    "min_mentions": Field("integer", "Skip articles that name it fewer times than this.", minimum=1),
    "in_title": Field("boolean", "Only articles that name it in their title."),
    "to": Field("strings", "The channels its alerts go to (names); none: every channel."),
    "search": Field("boolean", "Also search the web's news for it (the providers of VEILLE_SEARCH_PROVIDERS)."),
    "lang": Field("strings", "The languages of its searches, two-letter codes (fr, en); none: VEILLE_LANGUAGES."),
}
ENTITY_CREATE = Body({**ENTITY_FIELDS, "backfill": Field(
    "duration", "Also match the stored articles of this period (and alert on them), e.g. \"7d\".")},
    required=("name",))
ENTITY_CHANGE = Body(ENTITY_FIELDS, change=True)
ENTITY_TEST = Body({**ENTITY_FIELDS, "since": Field("duration", "How far back to look (default 30d).")},
                   required=("name",))
PAUSE = Body({
    "for": Field("duration", "How long, e.g. \"7d\"; with neither for nor until: until resumed."),
    "until": Field("string", "Until when: 2026-12-09 (00:00 UTC), or a date and time, UTC unless it gives an "
                   "offset."),
})
NOTHING = Body()


@endpoint
async def entities_list(request: Request) -> Response:
    """Every tracked entity, by name."""
    ctx = ctx_of(request)
    found = await blocking(entities.list_entities, ctx.db)
    return JSONResponse([e.as_json() for e in found])


@endpoint(body=ENTITY_CREATE)
async def entities_create(request: Request, data: dict[str, Any]) -> Response:
    """Track an entity; with ``backfill``, match it against the stored articles of that period too."""
    definition = entities.definition_from({k: v for k, v in data.items() if k != "backfill"})
    ctx = ctx_of(request)
    added = await blocking(entities.add_entity, ctx, definition, backfill=data.get("backfill"))
    body = added.entity.as_json()
    if added.backfill is not None:
        body["backfill"] = {"articles": added.backfill.articles, "matched": added.backfill.matched,
                            "alerts": added.backfill.alerts, "channels": list(added.backfill.channels)}
    return created(body)


@endpoint
async def entity_get(request: Request) -> Response:
    """One tracked entity."""
    found = await blocking(entities.entity_by_id, ctx_of(request).db, path_id(request))
    return JSONResponse(found.as_json())


@endpoint(body=ENTITY_CHANGE)
async def entity_update(request: Request, data: dict[str, Any]) -> Response:
    """Replace the parts of the definition given (the others stay); same id, its matches kept."""
    ctx = ctx_of(request)
    changed = await blocking(entities.update_entity, ctx.db, path_id(request), data, settings=ctx.settings)
    return JSONResponse(changed.as_json())


@endpoint
async def entity_delete(request: Request) -> Response:
    """Stop tracking an entity: it and its matches go; articles and alerts already sent stay."""
    ctx = ctx_of(request)
    found = await blocking(entities.entity_by_id, ctx.db, path_id(request))
    await blocking(entities.remove_entity, ctx.db, found.name, settings=ctx.settings)
    return no_content()


def pause_args(data: dict[str, Any]) -> dict[str, Any]:
    seconds = data.get("for")
    return {"duration": None if seconds is None else seconds_text(seconds), "until": data.get("until")}


@endpoint(body=PAUSE)
async def entity_pause(request: Request, data: dict[str, Any]) -> Response:
    """Pause an entity: it matches nothing meanwhile."""
    db = ctx_of(request).db
    found = await blocking(entities.entity_by_id, db, path_id(request))
    paused = await blocking(entities.pause_entity, db, found.name, **pause_args(data))
    return JSONResponse(paused.as_json())


@endpoint(body=NOTHING)
async def entity_resume(request: Request, data: dict[str, Any]) -> Response:
    """End an entity's pause."""
    db = ctx_of(request).db
    found = await blocking(entities.entity_by_id, db, path_id(request))
    resumed = await blocking(entities.resume_entity, db, found.name)
    return JSONResponse(resumed.as_json())


@endpoint(body=ENTITY_TEST)
async def entities_test(request: Request, data: dict[str, Any]) -> Response:
    """Which stored articles a definition would have matched, saving nothing (as `veille track test`)."""
    definition = entities.definition_from({k: v for k, v in data.items() if k != "since"})
    since = data.get("since") or 30 * 86400.0
    tested = await blocking(entities.test_definition, ctx_of(request), definition, since=since)
    return JSONResponse({
        "label": tested.label, "definition": tested.description, "since": tested.since,
        "matches": [p.as_json() for p in tested.hits], "vetoed": [p.as_json() for p in tested.vetoed],
    })


# --------------------------------------------------------------------------- feeds

FEED_TEXT = Field("string", "Fetch each article's page for its text: auto (when the feed gives only a summary), "
                  "always, never.", choices=feeds.FEED_TEXT)
FEED_CREATE = Body({
    "url": Field("string", "The feed's URL, or a page that names one feed.", max_length=feeds.URL_SIZE),
    "every": Field("duration", "A fixed polling interval; none: adaptive, learned from the feed's pace."),
    "backfill": Field("duration", "The first poll alerts on the items of this period (0: on none).", minimum=0),
    "tags": Field("strings", "Labels (OPML folders)."),
    "feed_text": FEED_TEXT,
    "force": Field("boolean", "Add the URL even though the check fetch found no feed there (a feed down today)."),
    "page": Field("boolean", "Watch the URL as a listing page without a feed (a newsroom, a blog index): its new "
                             "article links are its items."),
    "any_site": Field("boolean", "With `page`: article links to other sites count too (default: the page's own "
                                 "site and its subdomains)."),
}, required=("url",))
FEED_CHANGE = Body({
    "every": Field("duration", "A fixed polling interval; null: adaptive again.", nullable=True),
    "title": Field("string", "The title shown; \"\": the feed's own, at the next poll.", max_length=1024),
    "tags": Field("strings", "The feed's labels, replacing the ones it has."),
    "backfill": Field("duration", "The first poll's alert window (0: alert on nothing already there).",
                      minimum=0),
    "feed_text": FEED_TEXT,
}, change=True)
FEED_URL = Body({"url": Field("string", "A page or a feed.", max_length=feeds.URL_SIZE)}, required=("url",))
OPML = RawBody(("text/x-opml", "application/xml", "text/xml"), "An OPML file, as `veille feeds export` writes.")


@endpoint
async def feeds_list(request: Request) -> Response:
    """Every feed, in the order they were added."""
    found = await blocking(feeds.list_feeds, ctx_of(request).db)
    return JSONResponse([f.as_json() for f in found])


@endpoint(body=FEED_CREATE)
async def feeds_create(request: Request, data: dict[str, Any]) -> Response:
    """Add a feed, checked by fetching it once (a page that names one feed adds that feed); with `page`, a listing
    page watched for its article links."""
    ctx = ctx_of(request)
    added = await parsing(request, feeds.add_feed, ctx, data["url"], every=data.get("every"),
                          tags=data.get("tags") or (), feed_text=data.get("feed_text") or "auto",
                          backfill=data.get("backfill"), force=bool(data.get("force")), page=bool(data.get("page")),
                          any_site=bool(data.get("any_site")))
    found = await blocking(feeds.get_feed, ctx.db, str(added.id))
    body = found.as_json()
    if added.warning:
        body["warning"] = added.warning
    return created(body)


@endpoint
async def feed_get(request: Request) -> Response:
    """One feed."""
    found = await blocking(feeds.get_feed, ctx_of(request).db, str(path_id(request)))
    return JSONResponse(found.as_json())


@endpoint(body=FEED_CHANGE)
async def feed_update(request: Request, data: dict[str, Any]) -> Response:
    """Change a feed in place (its entries, articles and state kept)."""
    every = data.get("every")
    changes = feeds.FeedChanges(
        every=None if every is None else seconds_text(every),
        adaptive="every" in data and every is None,
        title=data.get("title"),
        tags=tuple(data.get("tags") or ()),
        clear_tags="tags" in data,
        backfill=None if data.get("backfill") is None else seconds_text(data["backfill"]),
        feed_text=data.get("feed_text"),
    )
    changed = await blocking(feeds.edit_feed, ctx_of(request).db, str(path_id(request)), changes)
    return JSONResponse(changed.as_json())


@endpoint
async def feed_delete(request: Request) -> Response:
    """Remove a feed and its entries; its articles, matches and alerts stay."""
    await blocking(feeds.remove_feed, ctx_of(request).db, str(path_id(request)))
    return no_content()


@endpoint(body=PAUSE)
async def feed_pause(request: Request, data: dict[str, Any]) -> Response:
    """Stop polling a feed for a while, or until resumed."""
    paused = await blocking(feeds.pause_feed, ctx_of(request).db, str(path_id(request)), **pause_args(data))
    return JSONResponse(paused.as_json())


@endpoint(body=NOTHING)
async def feed_resume(request: Request, data: dict[str, Any]) -> Response:
    """Poll the feed again, at once."""
    resumed = await blocking(feeds.resume_feed, ctx_of(request).db, str(path_id(request)))
    return JSONResponse(resumed.as_json())


@endpoint(body=FEED_URL)
async def feeds_discover(request: Request, data: dict[str, Any]) -> Response:
    """The feeds a page is or names (fetched once); nothing is stored."""
    found = await parsing(request, feeds.find_feeds, ctx_of(request), data["url"])
    return JSONResponse({
        "url": found.url,
        "feeds": [{"url": f.url, "title": f.title, "entries": f.entries, "how": f.how, "known": f.known}
                  for f in found.feeds],
        "error": found.error,
    })


@endpoint
async def feeds_export(request: Request) -> Response:
    """Every feed as OPML 2.0 (what `veille feeds export` writes)."""
    text = await blocking(feeds.export_feeds, ctx_of(request).db)
    return Response(text, media_type="text/x-opml; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="veille-feeds.opml"'})


@endpoint(body=OPML)
async def feeds_import(request: Request) -> Response:
    """Add the feeds of an OPML file that are not there yet (nothing is fetched)."""
    content = await request.body()
    imported = await parsing(request, feeds.import_feeds, ctx_of(request), content)
    return JSONResponse({"added": imported.added, "skipped": imported.skipped, "invalid": list(imported.invalid),
                         "refused": list(imported.refused)})


# --------------------------------------------------------------------------- matches

MATCH_QUERY: dict[str, Field] = {
    "entity": Field("string", "Only this entity's (its name, as `veille matches --entity`)."),
    "feed": Field("string", "Only articles of this feed (its id or URL)."),
    "since": Field("duration", "Only matches made within this period, e.g. 7d."),
    "q": Field("string", "Only articles whose title or text has every word of this (full-text search)."),
    "limit": Field("integer", "How many (default 50).", minimum=1, maximum=MAX_LIMIT),
    "offset": Field("integer", "How many to skip first (default 0).", minimum=0, maximum=MAX_OFFSET),
}


@endpoint
async def matches_list(request: Request) -> Response:
    """Matches, newest first, a page at a time, and how many the filters select in all."""
    params = request.query_params
    since = duration(params["since"], "since") if params.get("since") else None
    page = await blocking(
        matches.find_matches, ctx_of(request),
        entity=query_text(request, "entity"), feed=query_text(request, "feed"),
        since=timedelta(seconds=since) if since else None, query=query_text(request, "q"),
        limit=query_int(request, "limit", MATCH_QUERY["limit"], 50),
        offset=query_int(request, "offset", MATCH_QUERY["offset"], 0),
    )
    return JSONResponse({"total": page.total, "items": [m.as_json() for m in page.items]})


# --------------------------------------------------------------------------- channels

CHANNEL_NAME = Field("string", "One word, e.g. research-slack.", max_length=channels.NAME_SIZE)
CHANNEL_TARGET = Field("string", "Slack or webhook URL, email address, Apprise URL.",
                       max_length=channels.TARGET_SIZE)
CHANNEL_FIELDS: dict[str, Field] = {
    "name": Field("string", "One word, e.g. research-slack; default: the kind (slack, slack-2...).",
                  max_length=channels.NAME_SIZE),
    "kind": Field("string", "How alerts are sent.", choices=channels.ADDABLE),
    "target": CHANNEL_TARGET,
    "secret": Field("string", "Webhooks: the key of the X-Veille-Signature HMAC."),
    "admin": Field("boolean", "Also gets feed-health and service notices."),
    "digest": Field("string", "Alerts grouped in a digest: hourly, daily@08:00, weekly@mon-08:00."),
    "tz": Field("string", "The digest's time zone (default UTC)."),
    "test": Field("boolean", "Send a sample alert first, and add the channel only if it arrives."),
}
CHANNEL_CREATE = Body(CHANNEL_FIELDS, required=("kind", "target"))
CHANNEL_CHANGE = Body({
    "name": Field("string", "A new name; the entities routed to the channel follow it.",
                  max_length=channels.NAME_SIZE),
    "target": CHANNEL_TARGET,
    "secret": Field("string", "Webhooks: the HMAC key; null or \"\": none.", nullable=True),
    "admin": Field("boolean", "Also gets feed-health and service notices."),
    "digest": Field("string", "A digest schedule; null or \"\": each alert as it comes.", nullable=True),
    "tz": Field("string", "The digest's time zone; null: UTC.", nullable=True),
}, change=True)


@endpoint
async def channels_list(request: Request) -> Response:
    """Every channel (but removed ones), by name."""
    found = await blocking(channels.list_channels, ctx_of(request).db)
    return JSONResponse([c.as_json() for c in found])


@endpoint(body=CHANNEL_CREATE)
async def channels_create(request: Request, data: dict[str, Any]) -> Response:
    """Add a channel, checked (and, with ``test``, tried) before it is stored."""
    ctx = ctx_of(request)
    added = await blocking(channels.add_channel, ctx, kind=data["kind"], target=data["target"], name=data.get("name"),
                           secret=data.get("secret"), admin=bool(data.get("admin")), digest=data.get("digest"),
                           tz=data.get("tz"), test=bool(data.get("test")))
    found = await blocking(channels.channel_by_name, ctx.db, added.name)
    return created(found.as_json())


@endpoint
async def channel_get(request: Request) -> Response:
    """One channel."""
    found = await blocking(channels.channel_by_name, ctx_of(request).db, path_name(request))
    return JSONResponse(found.as_json())


@endpoint(body=CHANNEL_CHANGE)
async def channel_update(request: Request, data: dict[str, Any]) -> Response:
    """Change a channel in place (its alerts and their history stay)."""
    changed = await blocking(channels.update_channel, ctx_of(request), path_name(request), data)
    return JSONResponse(changed.as_json())


@endpoint
async def channel_delete(request: Request) -> Response:
    """Remove a channel: its unsent alerts are cancelled, entities routed to it stop naming it."""
    await blocking(channels.remove_channel, ctx_of(request).db, path_name(request))
    return no_content()


@endpoint(body=NOTHING)
async def channel_test(request: Request, data: dict[str, Any]) -> Response:
    """Send a sample alert to the channel; the outcome becomes its state."""
    [result] = await blocking(channels.test_channel, ctx_of(request), path_name(request))
    return JSONResponse({"name": result.name, "ok": result.ok, "error": result.error})


@endpoint(body=PAUSE)
async def channel_pause(request: Request, data: dict[str, Any]) -> Response:
    """Mute a channel for a while, or until resumed."""
    paused = await blocking(channels.pause_channel, ctx_of(request).db, path_name(request), **pause_args(data))
    found = await blocking(channels.channel_by_name, ctx_of(request).db, paused.name)
    return JSONResponse(found.as_json())


@endpoint(body=NOTHING)
async def channel_resume(request: Request, data: dict[str, Any]) -> Response:
    """Unmute a channel; what its pause held back is due at once."""
    resumed = await blocking(channels.resume_channel, ctx_of(request).db, path_name(request))
    found = await blocking(channels.channel_by_name, ctx_of(request).db, resumed.name)
    return JSONResponse(found.as_json())


# --------------------------------------------------------------------------- status, explain, backups

EXPLAIN = Body({
    "url": Field("string", "The page: fetched, or the address of the html given."),
    "html": Field("string", "The page's HTML, read as if fetched from url (nothing is fetched)."),
    "entity": Field("string", "Only this entity (even paused)."),
}, required=("url",))
BACKUP = RawBody(("application/json",), "A backup, as GET /api/v1/export (or `veille export`) writes it.")


@endpoint
async def status_get(request: Request) -> Response:
    """Is the service running, and what is failing (as `veille status --json`)."""
    report = await blocking(status.status_report, ctx_of(request))
    return JSONResponse(report.as_json())


@endpoint(body=EXPLAIN)
async def explain_post(request: Request, data: dict[str, Any]) -> Response:
    """Why a page did or did not alert (as `veille explain --json`)."""
    html = data["html"].encode("utf-8") if data.get("html") is not None else None
    explained = await parsing(request, _explain, ctx_of(request), data["url"], html, data.get("entity"))
    return JSONResponse(explained)


def _explain(ctx: Any, url: str, html: bytes | None, entity: str | None) -> dict[str, Any]:
    return explain.explain(ctx, url=url, html=html, entity=entity).as_json()


@endpoint
async def export_get(request: Request) -> Response:
    """Feeds, entities and channels as one backup document (channel secrets included)."""
    document = await blocking(backup.export_backup, ctx_of(request).db)
    return JSONResponse(document, headers={"Content-Disposition": 'attachment; filename="veille-backup.json"'})


@endpoint(body=BACKUP)
async def import_post(request: Request) -> Response:
    """Add what a backup holds and the database does not; the whole file is checked first."""
    content = await request.body()
    parse_json(content)  # unreadable: 400, as every JSON body
    counts = await blocking(backup.import_backup, ctx_of(request), content)
    return JSONResponse({"added": counts.added, "skipped": counts.skipped, "refused": counts.refused})


ROUTES = [
    Route("/api/v1/me", me, methods=["GET"]),
    Route("/api/v1/openapi.json", openapi_get, methods=["GET"]),
    Route("/api/v1/entities", entities_list, methods=["GET"]),
    Route("/api/v1/entities", entities_create, methods=["POST"]),
    Route("/api/v1/entities/test", entities_test, methods=["POST"]),
    Route("/api/v1/entities/{id}", entity_get, methods=["GET"]),
    Route("/api/v1/entities/{id}", entity_update, methods=["PATCH"]),
    Route("/api/v1/entities/{id}", entity_delete, methods=["DELETE"]),
    Route("/api/v1/entities/{id}/pause", entity_pause, methods=["POST"]),
    Route("/api/v1/entities/{id}/resume", entity_resume, methods=["POST"]),
    Route("/api/v1/feeds", feeds_list, methods=["GET"]),
    Route("/api/v1/feeds", feeds_create, methods=["POST"]),
    Route("/api/v1/feeds/discover", feeds_discover, methods=["POST"]),
    Route("/api/v1/feeds/export", feeds_export, methods=["GET"]),
    Route("/api/v1/feeds/import", feeds_import, methods=["POST"]),
    Route("/api/v1/feeds/{id}", feed_get, methods=["GET"]),
    Route("/api/v1/feeds/{id}", feed_update, methods=["PATCH"]),
    Route("/api/v1/feeds/{id}", feed_delete, methods=["DELETE"]),
    Route("/api/v1/feeds/{id}/pause", feed_pause, methods=["POST"]),
    Route("/api/v1/feeds/{id}/resume", feed_resume, methods=["POST"]),
    Route("/api/v1/matches", matches_list, methods=["GET"]),
    Route("/api/v1/channels", channels_list, methods=["GET"]),
    Route("/api/v1/channels", channels_create, methods=["POST"]),
    Route("/api/v1/channels/{name}", channel_get, methods=["GET"]),
    Route("/api/v1/channels/{name}", channel_update, methods=["PATCH"]),
    Route("/api/v1/channels/{name}", channel_delete, methods=["DELETE"]),
    Route("/api/v1/channels/{name}/test", channel_test, methods=["POST"]),
    Route("/api/v1/channels/{name}/pause", channel_pause, methods=["POST"]),
    Route("/api/v1/channels/{name}/resume", channel_resume, methods=["POST"]),
    Route("/api/v1/status", status_get, methods=["GET"]),
    Route("/api/v1/explain", explain_post, methods=["POST"]),
    Route("/api/v1/export", export_get, methods=["GET"]),
    Route("/api/v1/import", import_post, methods=["POST"]),
]
