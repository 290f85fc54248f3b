"""``/``: the overview; and the static files."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from veille.manage.overview import overview as load_overview
from veille.web import chart
from veille.web.templating import render
from veille.web.work import blocking

STATIC_MAX_AGE = 3600  # seconds browsers keep /static files


class CachedStatic(StaticFiles):
    """The package's static files, cached by browsers for an hour (the rest of the site is ``no-store``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers.append((b"cache-control", f"public, max-age={STATIC_MAX_AGE}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_cached)


async def home(request: Request) -> Response:
    """``/``: alerts of the last day, the service's heartbeat, what is failing, matches per day per entity."""
    found = await blocking(load_overview, request.app.state.ctx)
    return render(request, "overview.html", {"o": found, "chart_svg": chart.svg(found.chart),
                                             "legend": chart.legend(found.chart)})


ROUTES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Mount("/static", CachedStatic(packages=[("veille.web", "static")]), name="static"),
]
