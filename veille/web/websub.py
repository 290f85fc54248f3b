"""The WebSub callback (moved from the standard library's threading server; same paths, limits and answers).

Routes (the path may sit under a prefix, as behind a reverse proxy serving VEILLE_PUBLIC_URL):

    GET  .../websub/{id}/{token}   the hub's verification of intent, or its denial
    POST .../websub/{id}/{token}   content distribution, at most VEILLE_MAX_FEED_BYTES with a Content-Length
                                   (411 without, 413 over it, 408 when the body does not arrive in time)

At most :data:`MAX_BUSY` callbacks are handled at once; more get 503 with Retry-After. A push is parsed and
stored on the application's one parsing thread (feedparser and lxml never run on two threads at once);
a verification, which only reads and writes the database, on Starlette's thread pool. Tokens are never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from veille.manage import websub
from veille.pipeline import Context
from veille.web.security import BodyTimeout, BodyTooLarge

log = logging.getLogger(__name__)

MAX_BUSY = 8  # callbacks handled at once
_PATH = re.compile(r"/websub/(\d{1,18})/([A-Za-z0-9_-]{16,64})/?$")

# Called with (new article ids, article ids ready for matching) after a push is stored and committed.
OnArticles = Callable[[Sequence[int], Sequence[int]], None]


def is_callback(path: str) -> bool:
    return _PATH.search(path) is not None


class CallbackRoute(Route):
    """``.../websub/{id}/{token}`` under any prefix."""

    def __init__(self) -> None:
        super().__init__("/websub/{sub_id:int}/{token}", callback, methods=["GET", "POST"], name="websub")
        self.methods = {"GET", "POST"}  # not HEAD (Starlette adds it to GET): a HEAD is neither a check nor a push

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        found = _PATH.search(scope["path"])
        if found is None:
            return Match.NONE, {}
        child = {"endpoint": self.endpoint,
                 "path_params": {"sub_id": int(found.group(1)), "token": found.group(2)}}
        return (Match.FULL if scope["method"] in (self.methods or ()) else Match.PARTIAL), child


def _text(status: int, body: bytes = b"", *, close: bool = False, headers: dict[str, str] | None = None) -> Response:
    extra = dict(headers or {})
    if close:
        extra["Connection"] = "close"
    return Response(body, status, media_type="text/plain", headers=extra)


async def callback(request: Request) -> Response:
    state = request.app.state
    ctx: Context = state.ctx
    sub_id, token = request.path_params["sub_id"], request.path_params["token"]
    length = 0
    if request.method == "POST":
        length_text = (request.headers.get("content-length") or "").strip()
        if request.headers.get("transfer-encoding") or not length_text.isdigit():
            return _text(411, b"a Content-Length is required\n", close=True)
        length, cap = int(length_text), ctx.settings.max_feed_bytes
        if length > cap:  # BodyGuard answers first; kept so this route's rule stands on its own
            log.warning("WebSub push refused: too large", extra={"bytes": length, "cap": cap})
            return _text(413, f"body over the {cap}-byte cap\n".encode(), close=True)
    if state.websub_busy >= MAX_BUSY:
        return _text(503, b"busy, try again\n", close=True, headers={"Retry-After": "5"})
    state.websub_busy += 1
    try:
        if request.method == "GET":
            query = dict(request.query_params)
            answer = await run_in_threadpool(websub.verify, ctx, sub_id, token, query)
            return _text(answer.status, answer.body)
        try:
            body = await request.body()
        except ClientDisconnect:
            return _text(400, b"incomplete body\n", close=True)
        if len(body) != length:
            return _text(400, b"incomplete body\n", close=True)
        headers = dict(request.headers.items())
        on_articles: OnArticles | None = state.on_articles
        status = await state.parsing(_receive, ctx, on_articles, sub_id, token, headers, body)
        return _text(status)
    except (BodyTimeout, BodyTooLarge):
        raise  # BodyGuard answers them
    except Exception:
        log.exception("WebSub callback failed")
        return _text(500, b"internal error\n")
    finally:
        state.websub_busy -= 1


def _receive(ctx: Context, on_articles: OnArticles | None, sub_id: int, token: str, headers: dict[str, Any],
             body: bytes) -> int:
    """On the parsing thread: check and store the push, then hand its new articles on."""
    result = websub.receive(ctx, sub_id, token, headers, body)
    if (result.new_articles or result.ready_articles) and on_articles is not None:
        try:
            on_articles(result.new_articles, result.ready_articles)
        except Exception:  # stored all the same: the dispatcher resumes them once stale
            log.exception("WebSub push: new articles could not be handed on", extra={"feed_id": result.feed_id})
    return result.status
