"""The OpenAPI 3.1 document of the JSON API, served at ``GET /api/v1/openapi.json`` (with credentials, like all
of ``/api``).

What the code says is read from the code: the paths and methods are those of :data:`veille.web.api.ROUTES`; a
path's parameters are its ``{id}`` and ``{name}``; a request body is the :class:`veille.web.api.Body` the
endpoint checks (its fields, their kinds, bounds and choices, which are required, which may be null; no other
field allowed) or the :class:`veille.web.api.RawBody` it reads; the query of ``/matches`` is
:data:`veille.web.api.MATCH_QUERY`. What each endpoint answers is written here (:data:`OPERATIONS`, the schemas
of :func:`schemas`), strictly: every property of an object is listed and required, no other is allowed, so that
an answer that changes without its description fails the API tests and the schemathesis check
(tests/test_api.py, tests/test_openapi.py). A route without an entry in :data:`OPERATIONS` fails the test too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from starlette.routing import Route

from veille import __version__
from veille.manage.feeds import FEED_TEXT
from veille.web import api
from veille.web.auth import SESSION_COOKIE

JSON = "application/json"
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*([mM][sS]|[sSmMhHdDwW])?\s*$"


@dataclass(frozen=True, slots=True)
class Operation:
    """What one endpoint answers: ``status`` with ``schema`` (a name in :func:`schemas`; None: no body, or
    ``media`` for another type), and the error codes particular to it (the common ones are added)."""

    tag: str
    status: int = 200
    schema: str | None = None
    media: str = JSON
    errors: tuple[int, ...] = ()


OPERATIONS: dict[str, Operation] = {
    "me": Operation("auth", schema="Me"),
    "openapi_get": Operation("auth", schema="OpenAPI"),
    "entities_list": Operation("entities", schema="EntityList"),
    "entities_create": Operation("entities", 201, "EntityCreated", errors=(409,)),
    "entities_test": Operation("entities", schema="DefinitionTest"),
    "entity_get": Operation("entities", schema="Entity"),
    "entity_update": Operation("entities", schema="Entity", errors=(409,)),
    "entity_delete": Operation("entities", 204),
    "entity_pause": Operation("entities", schema="Entity"),
    "entity_resume": Operation("entities", schema="Entity"),
    "feeds_list": Operation("feeds", schema="FeedList"),
    "feeds_create": Operation("feeds", 201, "FeedCreated", errors=(409,)),
    "feeds_discover": Operation("feeds", schema="Discovery"),
    "feeds_export": Operation("feeds", schema="OPML", media="text/x-opml"),
    "feeds_import": Operation("feeds", schema="OPMLImported"),
    "feed_get": Operation("feeds", schema="Feed"),
    "feed_update": Operation("feeds", schema="Feed"),
    "feed_delete": Operation("feeds", 204),
    "feed_pause": Operation("feeds", schema="Feed"),
    "feed_resume": Operation("feeds", schema="Feed"),
    "matches_list": Operation("matches", schema="MatchPage", errors=(404, 422)),
    "channels_list": Operation("channels", schema="ChannelList"),
    "channels_create": Operation("channels", 201, "Channel", errors=(409,)),
    "channel_get": Operation("channels", schema="Channel"),
    "channel_update": Operation("channels", schema="Channel", errors=(409,)),
    "channel_delete": Operation("channels", 204),
    "channel_test": Operation("channels", schema="ChannelTest"),
    "channel_pause": Operation("channels", schema="Channel"),
    "channel_resume": Operation("channels", schema="Channel"),
    "status_get": Operation("status", schema="Status"),
    "explain_post": Operation("explain", schema="Explain", errors=(404,)),
    "export_get": Operation("backup", schema="Backup"),
    "import_post": Operation("backup", schema="Imported"),
}

ERRORS = {
    400: "Unreadable: the body is not JSON, not a JSON object, or its Content-Length is not a number.",
    401: "No credentials, or a token that is wrong or revoked.",
    403: "Signed in with the session cookie, without the X-CSRF-Token header.",
    404: "No such object (or no such endpoint).",
    408: "The body did not arrive in time.",
    409: "It exists already (a name, a URL), or its state forbids the change.",
    413: "The body is over the cap (VEILLE_WEB_MAX_BODY).",
    422: "A value that can't be used: `field` names it (when one does), `error` is the message the command line "
         "prints.",
    429: "Too many failed attempts from this address: wait Retry-After seconds.",
    503: "The database is unavailable: try again shortly.",
}


# --------------------------------------------------------------------------- schemas


def string(*, nullable: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": ["string", "null"] if nullable else "string", **extra}


def integer(*, nullable: bool = False) -> dict[str, Any]:
    return {"type": ["integer", "null"] if nullable else "integer"}


def number(*, nullable: bool = False) -> dict[str, Any]:
    return {"type": ["number", "null"] if nullable else "number"}


BOOLEAN: dict[str, Any] = {"type": "boolean"}
STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
TIME = string(format="date-time")
MAYBE_TIME = string(nullable=True, format="date-time")
SPAN: dict[str, Any] = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def obj(properties: dict[str, Any], *, optional: tuple[str, ...] = (), doc: str = "") -> dict[str, Any]:
    """An object with exactly these properties, all required but ``optional``."""
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": [k for k in properties if k not in optional],
                              "additionalProperties": False}
    if doc:
        schema["description"] = doc
    return schema


def field_schema(field: api.Field) -> dict[str, Any]:
    """A body field (or a query parameter) as JSON Schema: what :func:`veille.web.api.check_field` accepts."""
    schema: dict[str, Any]
    if field.kind == "duration":
        seconds: dict[str, Any] = {"type": "number", "maximum": api.MAX_DURATION}
        seconds["minimum" if field.minimum == 0 else "exclusiveMinimum"] = 0
        options = [{"type": "string", "pattern": DURATION_PATTERN}, seconds]
        schema = {"anyOf": [*options, {"type": "null"}] if field.nullable else options}
    elif field.kind == "strings":
        schema = array({"type": "string", **({"maxLength": field.max_length} if field.max_length else {})})
    else:
        schema = {"type": [field.kind, "null"] if field.nullable else field.kind}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if field.minimum is not None:
            schema["minimum"] = field.minimum
        if field.maximum is not None:
            schema["maximum"] = field.maximum
        if field.choices:
            schema["enum"] = [*field.choices, *([None] if field.nullable else [])]
    if field.doc:
        schema["description"] = field.doc
    return schema


def query_schema(field: api.Field) -> dict[str, Any]:
    """A query parameter: a text; a duration as a text too ("7d", "3600")."""
    if field.kind == "duration":
        return {"type": "string", "pattern": DURATION_PATTERN, "description": field.doc}
    return field_schema(field)


def body_schema(body: api.Body) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {k: field_schema(f) for k, f in body.fields.items()},
                              "additionalProperties": False}
    if body.required:
        schema["required"] = list(body.required)
    if body.change:
        schema["minProperties"] = 1
    return schema


def schemas() -> dict[str, dict[str, Any]]:
    """The objects the API answers with, as every face shows them (each ``as_json`` of the operations layer)."""
    pause = {"paused": BOOLEAN, "paused_until": MAYBE_TIME}
    entity = {
        "id": integer(), "name": string(), "aliases": STRINGS, "aliases_exact": STRINGS, "exclude": STRINGS,
        "require": STRINGS, "query": string(nullable=True), "exact": BOOLEAN, "min_mentions": integer(),
        "in_title": BOOLEAN, "to": STRINGS, "search": BOOLEAN, "lang": STRINGS, **pause, "matches": integer(),
    }
    backfill = obj({"articles": integer(), "matched": integer(), "alerts": integer(), "channels": STRINGS},
                   doc="What the backfill matched among the stored articles, and the alerts it created.")
    feed = {
        "id": integer(), "kind": {"enum": ["feed", "page", "search"]}, "options": {"type": "object"},
        "url": string(), "title": string(nullable=True), "site_url": string(nullable=True),
        "tags": STRINGS, "enabled": BOOLEAN, **pause, "interval": number(), "interval_fixed": BOOLEAN,
        "interval_mode": {"enum": ["fixed", "adaptive"]}, "every": string(nullable=True),
        "last_poll": MAYBE_TIME, "last_status": string(nullable=True), "error": string(nullable=True),
        "failures": integer(), "failing_since": MAYBE_TIME, "next_poll": TIME,
        "feed_text": {"enum": list(FEED_TEXT)}, "backfill": number(nullable=True), "resume_at": MAYBE_TIME,
        "entity_id": integer(nullable=True), "entity": string(nullable=True),
        "search": {"anyOf": [obj({"provider": string(), "query": string(), "lang": string()}), {"type": "null"}]},
    }
    channel = {
        "id": integer(), "name": string(), "kind": string(), "target": string(), "enabled": BOOLEAN, **pause,
        "admin": BOOLEAN, "delivery": string(), "next_digest": MAYBE_TIME, "state": string(),
        "last_error": string(nullable=True), "since": MAYBE_TIME, "retry_after_until": MAYBE_TIME,
    }
    article = {"article_id": integer(), "title": string(), "url": string(), "seen_at": TIME}
    hit = {"term": string(), "snippet": string(), "highlight": SPAN, "count": integer(), "in_title": BOOLEAN,
           "in_first_paragraph": BOOLEAN, "where": STRINGS}
    place = obj({"term": string(), "role": string(), "where": string(), "start": integer(), "end": integer(),
                 "snippet": string(), "highlight": SPAN})
    backup_pause = {"paused": BOOLEAN, "paused_until": MAYBE_TIME}
    counts = obj({"feeds": integer(), "entities": integer(), "channels": integer()})
    return {
        "Error": obj({"error": string(), "field": string()}, optional=("field",),
                     doc="`field`: the body field or query parameter at fault, when one is."),
        "Me": obj({"via": {"enum": ["token", "session"]}, "user": string(nullable=True),
                   "token": string(nullable=True)}),
        "OpenAPI": {"type": "object", "required": ["openapi", "paths"]},
        "Entity": obj(entity),
        "EntityList": array(ref("Entity")),
        "EntityCreated": obj({**entity, "backfill": backfill}, optional=("backfill",),
                             doc="The entity; `backfill` when one was asked for."),
        "DefinitionTest": obj({
            "label": {"enum": ["definition", "query", "saved definition"]},
            "definition": string(), "since": number(),
            "matches": array(obj({**article, **hit})),
            "vetoed": array(obj({**article, "vetoed": string(), "term": string(nullable=True)})),
        }, doc="`matches`: each item as `veille track test --json` prints it; `vetoed`: articles that mention it "
               "but would not alert, and why."),
        "Feed": obj(feed),
        "FeedList": array(ref("Feed")),
        "FeedCreated": obj({**feed, "warning": string()}, optional=("warning",),
                           doc="The feed; `warning` when it was added past a failed check (`force`)."),
        "Discovery": obj({
            "url": string(),
            "feeds": array(obj({"url": string(), "title": string(nullable=True), "entries": integer(),
                                "how": {"enum": ["given", "link", "path"]}, "known": integer(nullable=True)})),
            "error": string(nullable=True),
        }, doc="`feeds`: what the URL is or names (`known`: its id when added already); `error`: why none."),
        "OPML": string(),
        "OPMLImported": obj({"added": integer(), "skipped": integer(), "invalid": STRINGS, "refused": STRINGS},
                            doc="`invalid`: outlines whose URL is not http(s); `refused`: URLs the address guard "
                                "refuses."),
        "Match": obj({
            "id": integer(), "entity": string(), "title": string(nullable=True), "url": string(),
            "feed": string(nullable=True), "snippet": string(), "highlight": SPAN, "term": string(),
            "count": integer(), "in_title": BOOLEAN, "published": MAYBE_TIME, "matched_at": TIME,
            "alerted": BOOLEAN, "reason": string(nullable=True), "where": STRINGS, "story": integer(nullable=True),
            "also_covered_by": array(obj({"outlet": string(), "url": string()})),
            "alerts": array(obj({"channel": string(), "status": string(), "sent_at": MAYBE_TIME,
                                 "channel_removed": BOOLEAN})),
        }),
        "MatchPage": obj({"total": integer(), "items": array(ref("Match"))},
                         doc="`total`: every match the filters select; `items`: the page asked for."),
        "Channel": obj(channel),
        "ChannelList": array(ref("Channel")),
        "ChannelTest": obj({"name": string(), "ok": BOOLEAN, "error": string(nullable=True)}),
        "Status": obj({
            "service": obj({"running": BOOLEAN, "state": string(), "last_beat": MAYBE_TIME,
                            "workers": array(obj({"name": string(), "host": string(nullable=True),
                                                  "pid": integer(nullable=True), "started_at": TIME,
                                                  "last_seen": TIME}))}),
            "feeds": array(ref("Feed")), "channels": array(ref("Channel")),
            "alerts": obj({"pending": integer(), "failed": integer(), "sent": integer()}),
            "articles": obj({"total": integer(), "waiting_for_page": integer()}),
            "entities": integer(),
        }),
        "Explain": obj({
            "url": string(), "canonical_url": string(nullable=True), "title": string(),
            "published": MAYBE_TIME, "language": string(nullable=True), "text": string(),
            "matches": array(obj({
                "entity": string(), **hit, "found": array(place),
                "stored": {"anyOf": [obj({"alerted": BOOLEAN, "reason": string(nullable=True), "where": STRINGS}),
                                     {"type": "null"}]},
            })),
            "vetoed": array(obj({"entity": string(), "reason": string(), "term": string(nullable=True),
                                 "found": array(place)})),
            "not_mentioned": STRINGS,
        }, optional=("not_mentioned",),
            doc="`stored`: what veille did with the page, when it has it; `not_mentioned`: the entity asked "
                "about, when the page does not name it."),
        "Backup": obj({
            "format": {"const": "veille-backup"}, "version": {"const": 2}, "veille": string(),
            "exported_at": TIME,
            "feeds": array(obj({"url": string(), "title": string(nullable=True), "site_url": string(nullable=True),
                                "tags": STRINGS, "every": string(nullable=True), "interval": number(),
                                "feed_text": {"enum": list(FEED_TEXT)}, "backfill": number(nullable=True),
                                **backup_pause, "kind": {"enum": ["page"]}, "any_site": BOOLEAN},
                               optional=("kind", "any_site"))),
            "entities": array(obj({k: v for k, v in entity.items() if k not in ("id", "matches")})),
            "channels": array(obj({"name": string(), "kind": string(), "target": string(),
                                   "secret": string(nullable=True), "admin": BOOLEAN, "digest": string(nullable=True),
                                   "tz": string(nullable=True), **backup_pause})),
        }, doc="Everything a user set (channel secrets included), not what veille learned or did."),
        "BackupIn": {
            "type": "object", "required": ["format", "version"],
            "properties": {"format": {"const": "veille-backup"}, "version": {"enum": [1, 2]},
                           "feeds": array({"type": "object"}), "entities": array({"type": "object"}),
                           "channels": array({"type": "object"})},
            "description": "A backup (version 2 as GET /api/v1/export writes it; version 1 still imports).",
        },
        "Imported": obj({"added": counts, "skipped": counts, "refused": STRINGS},
                        doc="`skipped`: already there (never overwritten); `refused`: feed URLs the address guard "
                            "refuses."),
    }


# --------------------------------------------------------------------------- the document


def operation(route: Route, method: str) -> dict[str, Any]:
    name = route.name
    if name not in OPERATIONS:
        raise KeyError(f"{method} {route.path} ({name}) is not described in veille.web.openapi.OPERATIONS")
    spec = OPERATIONS[name]
    body = getattr(route.endpoint, "body", None)
    doc = (route.endpoint.__doc__ or "").strip()
    summary, _, details = doc.partition("\n")
    result: dict[str, Any] = {"operationId": name, "tags": [spec.tag], "summary": summary.replace("``", "`")}
    if details.strip():
        result["description"] = details.strip()
    parameters = [{"name": p, "in": "path", "required": True,
                   "schema": {"type": "integer", "format": "int32"} if p == "id" else {"type": "string"},
                   "description": "The object's id." if p == "id" else "The channel's name."}
                  for p in route.param_convertors]
    if name == "matches_list":
        parameters += [{"name": k, "in": "query", "required": False, "schema": query_schema(f)}
                       for k, f in api.MATCH_QUERY.items()]
    if parameters:
        result["parameters"] = parameters
    if isinstance(body, api.Body):
        result["requestBody"] = {"required": bool(body.required or body.change),
                                 "content": {JSON: {"schema": body_schema(body)}}}
    elif isinstance(body, api.RawBody):
        content = ref("BackupIn") if JSON in body.media_types else string()
        result["requestBody"] = {"required": True, "description": body.doc,
                                 "content": {media: {"schema": content} for media in body.media_types}}
    responses: dict[str, Any] = {}
    if spec.status == 204:
        responses["204"] = {"description": "Done: no content."}
    else:
        assert spec.schema is not None
        responses[str(spec.status)] = {"description": "Created." if spec.status == 201 else "OK.",
                                       "content": {spec.media: {"schema": ref(spec.schema)}}}
    errors = {401, 429, 503, *spec.errors}
    if method != "GET":
        errors |= {403}
    if body is not None:
        errors |= {400, 408, 413, 422}
    if route.param_convertors:
        errors |= {404}
    for status in sorted(errors):
        answer: dict[str, Any] = {"description": ERRORS[status], "content": {JSON: {"schema": ref("Error")}}}
        if status in (429, 503):
            answer["headers"] = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
        responses[str(status)] = answer
    result["responses"] = responses
    return result


@functools.cache
def document() -> dict[str, Any]:
    """The whole document (built once per process)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in api.ROUTES:
        for method in sorted(route.methods or ()):
            if method == "HEAD":  # Starlette answers HEAD wherever GET is
                continue
            paths.setdefault(route.path, {})[method.lower()] = operation(route, method)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "veille API",
            "version": __version__,
            "description": (
                "Everything a user can do with veille, as JSON. Send a token (`veille tokens create NAME`) as "
                "`Authorization: Bearer TOKEN` or `X-Auth-Token: TOKEN`; the web page's session cookie works too "
                "(with an `X-CSRF-Token` header for anything but GET). POST answers 201 with the object made, "
                "PATCH 200 with the object changed, DELETE 204. A body takes only the fields listed; a duration "
                'is "10m", "7d" or a number of seconds. Errors are `{"error": "...", "field": "..."}`.'
            ),
        },
        "security": [{"bearer": []}, {"token": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token made by `veille tokens create NAME`."},
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
                          "description": "The same token, in a header of its own."},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                            "description": "The web page's session (sign in at /login); anything but GET also "
                                           "needs the X-CSRF-Token header."},
            },
        },
    }
