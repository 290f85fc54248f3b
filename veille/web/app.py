"""The web application: one ASGI app (Starlette) for the API, the pages, the WebSub callback and the probes.

What a request goes through, outermost first:

    SecurityHeaders      every response's headers (veille.web.security), a 500 when all else failed
    ServerErrorMiddleware  Starlette's: an exception becomes 500 (503 when the database is unavailable)
    BodyGuard            body size cap (413) and deadline (408)
    Authentication       token or session; 401 / redirect to /login / 429 (veille.web.auth)
    routes               /healthz, /readyz, .../websub/{id}/{token}, /login, /logout, /api/v1/...

Where work runs: a route runs in the event loop and calls the operations layer, which is synchronous, on
a worker thread (:func:`blocking`, Starlette's thread pool), so that the loop never waits on the
database. Anything that parses HTML or XML with lxml, trafilatura or feedparser (a WebSub push, later
`explain`) runs on the app's one **parsing thread** instead (:func:`parsing`, a single-thread executor):
those C extensions must never run on two threads at once (issue 11, item 13), and one thread also keeps a
burst of pushes from taking every core away from the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from veille.manage import service
from veille.pipeline import Context
from veille.web import api, auth, pages
from veille.web.security import BodyGuard, SecurityHeaders
from veille.web.websub import CallbackRoute, OnArticles, is_callback

log = logging.getLogger(__name__)
T = TypeVar("T")

READY_TIMEOUT = 5.0     # seconds /readyz waits for the database before it answers 503
FORM_MAX_BODY = 16 * 1024  # bytes: a sign-in form is a name and a password
STARTUP_UPGRADE = 10.0  # seconds the start waits for the schema upgrade before serving anyway
UPGRADE_RETRY = 10.0    # seconds between two tries at upgrading a database that was unavailable at start


class WebApp(Starlette):
    """Starlette, with :class:`SecurityHeaders` outside even its own error handling."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


async def healthz(request: Request) -> Response:
    """Liveness: the process answers. No credentials, no database."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database answers and its schema is this veille's newest; else 503 and why."""
    state = request.app.state
    check: asyncio.Future[service.Readiness] | None = state.ready_check
    if check is None or check.done():  # one check at a time: a database that hangs holds one thread, not all
        check = state.ready_check = asyncio.ensure_future(run_in_threadpool(service.readiness, state.ctx.db))
    try:
        found = await asyncio.wait_for(asyncio.shield(check), READY_TIMEOUT)
    except TimeoutError:
        return JSONResponse({"status": "not ready", "error": f"the database did not answer within {READY_TIMEOUT:g} s"},
                            503, headers={"Retry-After": "5"})
    if not found.ready:
        return JSONResponse({"status": "not ready", "error": found.error, "revision": found.revision,
                             "expected": found.expected}, 503, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready", "revision": found.revision})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        message = {404: "no such endpoint", 405: "method not allowed here"}.get(exc.status_code, exc.detail)
        return JSONResponse({"error": message}, exc.status_code, headers=exc.headers)
    return PlainTextResponse(f"{exc.detail}\n", exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    if service.is_database_error(exc):
        log.warning("request failed: database unavailable", extra={"error": str(exc)[:300]})
        status, message = 503, "the database is unavailable: try again shortly"
    else:
        status, message = 500, "internal error"
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status)
    return PlainTextResponse(f"{message}\n", status)


def create_app(ctx: Context, *, on_articles: OnArticles | None = None,
               limiter: auth.FailureLimiter | None = None) -> Starlette:
    """The app for ``ctx``; ``on_articles(new, ready)`` gets the article ids a WebSub push stored (`veille web`
    enqueues them for the workers)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="veille-parse")
    settings = ctx.settings

    def cap_for(path: str) -> int:
        if is_callback(path):
            return settings.max_feed_bytes
        return FORM_MAX_BODY if path in ("/login", "/logout") else settings.web_max_body

    async def run_parsing(fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        upgrade = asyncio.create_task(_upgrade_when_possible(ctx))
        await asyncio.wait({upgrade}, timeout=STARTUP_UPGRADE)  # ready at once in the usual case
        try:
            yield
        finally:
            upgrade.cancel()
            executor.shutdown(wait=False, cancel_futures=True)

    routes = [
        CallbackRoute(),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *pages.ROUTES,
        Route("/login", auth.login_page, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        *api.ROUTES,
    ]
    limiter = limiter or auth.FailureLimiter()
    signer = auth.Signer(ctx)
    app = WebApp(
        routes=routes,
        middleware=[
            Middleware(BodyGuard, cap_for=cap_for, timeout=settings.web_timeout),
            Middleware(auth.Authentication, ctx=ctx, signer=signer, limiter=limiter, routes=routes),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.limiter = limiter
    app.state.signer = signer
    app.state.on_articles = on_articles
    app.state.parsing = run_parsing
    app.state.websub_busy = 0
    app.state.ready_check = None
    return app


async def _upgrade_when_possible(ctx: Context) -> None:
    """Bring the schema up to date (what every `veille` command does first), retrying while the database is
    unavailable; /readyz answers 503 until then."""
    warned = False
    while True:
        try:
            await run_in_threadpool(service.upgrade, ctx.db)
            return
        except Exception as exc:
            if not service.is_database_error(exc):
                log.exception("the database schema could not be upgraded")
                return
            if not warned:
                log.warning("database unavailable: the web server answers, /readyz says 503 until it is back",
                            extra={"error": str(exc)[:300]})
                warned = True
        await asyncio.sleep(UPGRADE_RETRY)
