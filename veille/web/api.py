"""The JSON API, ``/api/v1``: every answer is JSON, errors are ``{"error": "..."}`` (and ``"field"`` on 422).

A route here decodes the request, calls one function of :mod:`veille.manage` (through :func:`blocking`, or
:func:`parsing` for anything that runs lxml, trafilatura or feedparser: :mod:`veille.web.work`) and encodes the answer;
:class:`veille.web.auth.Authentication` has already refused a request without credentials. The objects are
the ones every face shows (`veille ... --json` prints the same): an entity, a feed, a channel, a match.

Errors: 400 unreadable JSON, 404 unknown object, 409 already exists, 413 too large (the body guard), 422 a
value that can't be used (``{"error", "field"}``, the message the command line prints), 429 too many failed
credentials, 503 database unavailable. POST answers 201 with the object made, PATCH 200 with the object
changed, DELETE 204. A body may hold only the fields an endpoint lists; another one is a 422 naming it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

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

Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """The body is not what the endpoint reads: 400 (unreadable) or 422 (a field), with the message."""

    def __init__(self, message: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def error(status: int, message: str, *, field: str | None = None, headers: Mapping[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status, headers=dict(headers or {}))


def endpoint(handler: Handler) -> Handler:
    """The operations layer's refusals as HTTP answers."""

    async def guarded(request: Request) -> Response:
        try:
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
    return guarded


async def read_json(request: Request, fields: Mapping[str, type | tuple[type, ...]], *,
                    required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON object of the body: only ``fields`` (each of its type), ``required`` ones present."""
    raw = await request.body()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    for key, value in data.items():
        if key not in fields:
            raise BadRequest(f"unknown field (this endpoint takes {', '.join(fields)})", status=422, field=key)
        expected = fields[key]
        if value is not None and not _is(value, expected):
            raise BadRequest(f"expected {_name(expected)}", status=422, field=key)
    for key in required:
        if data.get(key) is None:
            raise BadRequest("required", status=422, field=key)
    return data


def _is(value: Any, expected: type | tuple[type, ...]) -> bool:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


def _name(expected: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "a whole number", float: "a number", list: "a list",
             dict: "an object"}
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def strings(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("expected a list of strings", status=422, field=field)
    return tuple(value)


def duration(value: Any, field: str, *, zero: bool = False) -> float | None:
    """A duration field: "10m", "7d", or a number of seconds."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc), status=422, field=field) from exc
    if seconds < 0 or (seconds == 0 and not zero):
        raise BadRequest("must be longer than zero", status=422, field=field)
    return seconds


def query_int(request: Request, name: str, default: int | None, *, minimum: int) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < minimum:
        raise BadRequest(f"expected a whole number, {minimum} or more", status=422, field=name)
    return int(value)


def path_id(request: Request) -> int:
    value = request.path_params["id"]
    if not str(value).isdigit():
        raise NotFoundError(f"no object {value}")
    return int(value)


def ctx_of(request: Request) -> Any:
    return request.app.state.ctx


def created(obj: dict[str, Any]) -> Response:
    return JSONResponse(obj, 201)


def no_content() -> Response:
    return Response(status_code=204)


# --------------------------------------------------------------------------- who

@endpoint
async def me(request: Request) -> Response:
    """``GET /api/v1/me``: who the token or the session belongs to."""
    who = principal_of(request)
    if who is None:  # not reached: the middleware refuses first
        return error(401, "authentication required")
    return JSONResponse({"via": who.via, "user": who.user, "token": who.token})


# --------------------------------------------------------------------------- entities

ENTITY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str, "aliases": list, "aliases_exact": list, "exclude": list, "require": list, "query": str,
    "exact": bool, "min_mentions": int, "in_title": bool, "to": list,
}


@endpoint
async def entities_list(request: Request) -> Response:
    ctx = ctx_of(request)
    found = await blocking(entities.list_entities, ctx.db)
    return JSONResponse([e.as_json() for e in found])


@endpoint
async def entities_create(request: Request) -> Response:
    data = await read_json(request, {**ENTITY_FIELDS, "backfill": (str, float)}, required=("name",))
    definition = entities.definition_from({k: v for k, v in data.items() if k != "backfill" and v is not None})
    ctx = ctx_of(request)
    added = await blocking(entities.add_entity, ctx, definition, backfill=duration(data.get("backfill"), "backfill"))
    body = added.entity.as_json()
    if added.backfill is not None:
        body["backfill"] = {"articles": added.backfill.articles, "matched": added.backfill.matched,
                            "alerts": added.backfill.alerts, "channels": list(added.backfill.channels)}
    return created(body)


@endpoint
async def entity_get(request: Request) -> Response:
    found = await blocking(entities.entity_by_id, ctx_of(request).db, path_id(request))
    return JSONResponse(found.as_json())


@endpoint
async def entity_update(request: Request) -> Response:
    data = await read_json(request, ENTITY_FIELDS)
    if not data:
        raise BadRequest("nothing to change: give at least one field", status=422)
    changed = await blocking(entities.update_entity, ctx_of(request).db, path_id(request), data)
    return JSONResponse(changed.as_json())


@endpoint
async def entity_delete(request: Request) -> Response:
    db = ctx_of(request).db
    found = await blocking(entities.entity_by_id, db, path_id(request))
    await blocking(entities.remove_entity, db, found.name)
    return no_content()


@endpoint
async def entity_pause(request: Request) -> Response:
    data = await read_json(request, {"for": str, "until": str})
    db = ctx_of(request).db
    found = await blocking(entities.entity_by_id, db, path_id(request))
    paused = await blocking(entities.pause_entity, db, found.name, duration=data.get("for"), until=data.get("until"))
    return JSONResponse(paused.as_json())


@endpoint
async def entity_resume(request: Request) -> Response:
    await read_json(request, {})
    db = ctx_of(request).db
    found = await blocking(entities.entity_by_id, db, path_id(request))
    resumed = await blocking(entities.resume_entity, db, found.name)
    return JSONResponse(resumed.as_json())


@endpoint
async def entities_test(request: Request) -> Response:
    data = await read_json(request, {**ENTITY_FIELDS, "since": (str, float)}, required=("name",))
    definition = entities.definition_from({k: v for k, v in data.items() if k != "since" and v is not None})
    since = duration(data.get("since"), "since") or 30 * 86400.0
    tested = await blocking(entities.test_definition, ctx_of(request), definition, since=since)
    return JSONResponse({
        "label": tested.label, "definition": tested.description, "since": tested.since,
        "matches": [p.as_json() for p in tested.hits], "vetoed": [p.as_json() for p in tested.vetoed],
    })


# --------------------------------------------------------------------------- feeds

@endpoint
async def feeds_list(request: Request) -> Response:
    found = await blocking(feeds.list_feeds, ctx_of(request).db)
    return JSONResponse([f.as_json() for f in found])


@endpoint
async def feeds_create(request: Request) -> Response:
    data = await read_json(request, {"url": str, "every": (str, float), "backfill": (str, float), "tags": list,
                                     "feed_text": str, "force": bool}, required=("url",))
    ctx = ctx_of(request)
    added = await parsing(request, feeds.add_feed, ctx, data["url"], every=duration(data.get("every"), "every"),
                          tags=strings(data.get("tags"), "tags"), feed_text=data.get("feed_text") or "auto",
                          backfill=duration(data.get("backfill"), "backfill", zero=True), force=bool(data.get("force")))
    found = await blocking(feeds.get_feed, ctx.db, str(added.id))
    body = found.as_json()
    if added.warning:
        body["warning"] = added.warning
    return created(body)


@endpoint
async def feed_get(request: Request) -> Response:
    found = await blocking(feeds.get_feed, ctx_of(request).db, str(path_id(request)))
    return JSONResponse(found.as_json())


@endpoint
async def feed_update(request: Request) -> Response:
    data = await read_json(request, {"every": (str, float), "title": str, "tags": list, "backfill": (str, float),
                                     "feed_text": str})
    if not data:
        raise BadRequest("nothing to change: give at least one field", status=422)
    every = data.get("every", ...)
    changes = feeds.FeedChanges(
        every=None if every is ... or every is None else str(every),
        adaptive="every" in data and every is None,
        title=data.get("title"),
        tags=strings(data.get("tags"), "tags"),
        clear_tags="tags" in data,
        backfill=None if data.get("backfill") is None else str(data["backfill"]),
        feed_text=data.get("feed_text"),
    )
    changed = await blocking(feeds.edit_feed, ctx_of(request).db, str(path_id(request)), changes)
    return JSONResponse(changed.as_json())


@endpoint
async def feed_delete(request: Request) -> Response:
    await blocking(feeds.remove_feed, ctx_of(request).db, str(path_id(request)))
    return no_content()


@endpoint
async def feed_pause(request: Request) -> Response:
    data = await read_json(request, {"for": str, "until": str})
    paused = await blocking(feeds.pause_feed, ctx_of(request).db, str(path_id(request)), duration=data.get("for"),
                            until=data.get("until"))
    return JSONResponse(paused.as_json())


@endpoint
async def feed_resume(request: Request) -> Response:
    await read_json(request, {})
    resumed = await blocking(feeds.resume_feed, ctx_of(request).db, str(path_id(request)))
    return JSONResponse(resumed.as_json())


@endpoint
async def feeds_discover(request: Request) -> Response:
    data = await read_json(request, {"url": str}, required=("url",))
    found = await parsing(request, feeds.find_feeds, ctx_of(request), data["url"])
    return JSONResponse({
        "url": found.url,
        "feeds": [{"url": f.url, "title": f.title, "entries": f.entries, "how": f.how, "known": f.known}
                  for f in found.feeds],
        "error": found.error,
    })


@endpoint
async def feeds_export(request: Request) -> Response:
    text = await blocking(feeds.export_feeds, ctx_of(request).db)
    return Response(text, media_type="text/x-opml; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="veille-feeds.opml"'})


@endpoint
async def feeds_import(request: Request) -> Response:
    content = await request.body()
    imported = await parsing(request, feeds.import_feeds, ctx_of(request), content)
    return JSONResponse({"added": imported.added, "skipped": imported.skipped, "invalid": list(imported.invalid),
                         "refused": list(imported.refused)})


# --------------------------------------------------------------------------- matches

@endpoint
async def matches_list(request: Request) -> Response:
    params = request.query_params
    since = duration(params.get("since") or None, "since")
    page = await blocking(
        matches.find_matches, ctx_of(request),
        entity=params.get("entity") or None, feed=params.get("feed") or None,
        since=timedelta(seconds=since) if since else None, query=params.get("q") or None,
        limit=query_int(request, "limit", 50, minimum=1), offset=query_int(request, "offset", 0, minimum=0) or 0,
    )
    return JSONResponse({"total": page.total, "items": [m.as_json() for m in page.items]})


# --------------------------------------------------------------------------- channels

CHANNEL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str, "kind": str, "target": str, "secret": str, "admin": bool, "digest": str, "tz": str, "test": bool,
}


@endpoint
async def channels_list(request: Request) -> Response:
    found = await blocking(channels.list_channels, ctx_of(request).db)
    return JSONResponse([c.as_json() for c in found])


@endpoint
async def channels_create(request: Request) -> Response:
    data = await read_json(request, CHANNEL_FIELDS, required=("kind", "target"))
    ctx = ctx_of(request)
    added = await blocking(channels.add_channel, ctx, kind=data["kind"], target=data["target"], name=data.get("name"),
                           secret=data.get("secret"), admin=bool(data.get("admin")), digest=data.get("digest"),
                           tz=data.get("tz"), test=bool(data.get("test")))
    found = await blocking(channels.channel_by_name, ctx.db, added.name)
    return created(found.as_json())


@endpoint
async def channel_get(request: Request) -> Response:
    found = await blocking(channels.channel_by_name, ctx_of(request).db, request.path_params["name"])
    return JSONResponse(found.as_json())


@endpoint
async def channel_update(request: Request) -> Response:
    data = await read_json(request, {"name": str, "target": str, "secret": str, "admin": bool, "digest": str,
                                     "tz": str})
    if not data:
        raise BadRequest("nothing to change: give at least one field", status=422)
    changed = await blocking(channels.update_channel, ctx_of(request), request.path_params["name"], data)
    return JSONResponse(changed.as_json())


@endpoint
async def channel_delete(request: Request) -> Response:
    await blocking(channels.remove_channel, ctx_of(request).db, request.path_params["name"])
    return no_content()


@endpoint
async def channel_test(request: Request) -> Response:
    await read_json(request, {})
    [result] = await blocking(channels.test_channel, ctx_of(request), request.path_params["name"])
    return JSONResponse({"name": result.name, "ok": result.ok, "error": result.error})


@endpoint
async def channel_pause(request: Request) -> Response:
    data = await read_json(request, {"for": str, "until": str})
    paused = await blocking(channels.pause_channel, ctx_of(request).db, request.path_params["name"],
                            duration=data.get("for"), until=data.get("until"))
    found = await blocking(channels.channel_by_name, ctx_of(request).db, paused.name)
    return JSONResponse(found.as_json())


@endpoint
async def channel_resume(request: Request) -> Response:
    await read_json(request, {})
    resumed = await blocking(channels.resume_channel, ctx_of(request).db, request.path_params["name"])
    found = await blocking(channels.channel_by_name, ctx_of(request).db, resumed.name)
    return JSONResponse(found.as_json())


# --------------------------------------------------------------------------- status, explain, backups

@endpoint
async def status_get(request: Request) -> Response:
    report = await blocking(status.status_report, ctx_of(request))
    return JSONResponse(report.as_json())


@endpoint
async def explain_post(request: Request) -> Response:
    data = await read_json(request, {"url": str, "html": str, "entity": str}, required=("url",))
    html = data["html"].encode("utf-8") if data.get("html") is not None else None
    explained = await parsing(request, _explain, ctx_of(request), data["url"], html, data.get("entity"))
    return JSONResponse(explained)


def _explain(ctx: Any, url: str, html: bytes | None, entity: str | None) -> dict[str, Any]:
    return explain.explain(ctx, url=url, html=html, entity=entity).as_json()


@endpoint
async def export_get(request: Request) -> Response:
    document = await blocking(backup.export_backup, ctx_of(request).db)
    return JSONResponse(document, headers={"Content-Disposition": 'attachment; filename="veille-backup.json"'})


@endpoint
async def import_post(request: Request) -> Response:
    content = await request.body()
    counts = await blocking(backup.import_backup, ctx_of(request), content)
    return JSONResponse({"added": counts.added, "skipped": counts.skipped, "refused": counts.refused})


ROUTES = [
    Route("/api/v1/me", me, methods=["GET"]),
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
