"""The JSON API, ``/api/v1``: every answer is JSON, errors are ``{"error": "..."}``.

A route here decodes the request, calls one function of :mod:`veille.manage` (through
:func:`veille.web.app.blocking`, or :func:`veille.web.app.parsing` for anything that runs lxml or
trafilatura) and encodes the answer; :class:`veille.web.auth.Authentication` has already refused a request
without credentials."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veille.web.auth import principal_of


async def me(request: Request) -> Response:
    """``GET /api/v1/me``: who the token or the session belongs to."""
    who = principal_of(request)
    if who is None:  # not reached: the middleware refuses first
        return JSONResponse({"error": "authentication required"}, 401)
    return JSONResponse({"via": who.via, "user": who.user, "token": who.token})


ROUTES = [Route("/api/v1/me", me, methods=["GET"])]
