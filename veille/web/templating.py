"""The web page's templates: Jinja2 with autoescaping, the helpers every page uses, and :func:`render`.

Safe by construction: every value is escaped (feed and page text is never HTML), :func:`link` renders a URL
from a feed or a page only when it is http or https, :func:`marked` puts a snippet's hit in ``<strong>``
around escaped text, and no template holds a script (the CSP allows none inline): the behaviour that
progressive enhancement adds lives in ``/static/veille.js`` and in htmx attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from veille.clock import utcnow
from veille.web import auth

NAV = (("/", "Overview"), ("/matches", "Matches"), ("/entities", "Entities"), ("/feeds", "Feeds"),
       ("/channels", "Channels"), ("/settings", "Settings"))
FLASH_KEY = "f"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``, ``in 2 h``, ``never``: a time as people say it."""
    if value is None:
        return "never"
    seconds = ((now or utcnow()) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            break
    else:
        amount = f"{int(seconds)} s"
    return f"in {amount}" if future else f"{amount} ago"


def when(value: datetime | str | None) -> str:
    """``2026-12-02 14:05 UTC``."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def iso(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).isoformat(timespec="seconds")


def safe_href(url: str | None) -> str | None:
    """The URL when a browser may follow it from a page of veille's (http or https), else None."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def link(url: str | None, text: str | None = None) -> Markup:
    """``<a href=...>`` for an http(s) URL (``rel="noopener noreferrer"``, opens outside veille), else the
    text alone: a ``javascript:`` or ``data:`` link from a feed is never rendered as a link."""
    label = text if text else (url or "")
    href = safe_href(url)
    if href is None:
        return Markup("<span>{}</span>").format(label)
    return Markup('<a href="{}" rel="noopener noreferrer nofollow" target="_blank">{}</a>').format(href, label)


def marked(snippet: str, highlight: tuple[int, int] | list[int] | None) -> Markup:
    """A snippet with its hit in ``<strong>``; every part escaped."""
    if not highlight:
        return Markup(escape(snippet))
    start, end = highlight
    return Markup("{}<strong>{}</strong>{}").format(snippet[:start], snippet[start:end], snippet[end:])


def plural(count: int, noun: str, many: str | None = None) -> str:
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    from veille.settings import format_duration

    return format_duration(seconds)


environment = Environment(
    loader=PackageLoader("veille.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(ago=ago, when=when, iso=iso, link=link, duration=duration)
environment.globals.update(marked=marked, plural=plural, nav=NAV, link=link, safe_href=safe_href)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message for the next page this session shows (after a redirect)."""
    session = auth.session_of(request)
    messages = [*session.data.get(FLASH_KEY, []), [kind, message]][-5:]
    session.replace({**session.data, FLASH_KEY: messages})


def _take_flashes(request: Request) -> list[tuple[str, str]]:
    try:
        session = auth.session_of(request)
    except RuntimeError:
        return []
    messages = session.data.get(FLASH_KEY) or []
    if messages:
        session.replace({k: v for k, v in session.data.items() if k != FLASH_KEY})
    return [(str(kind), str(text)) for kind, text in messages]


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """A page (or, for an htmx request asking for a fragment, the template as it is) with what every page
    needs: who is signed in, the CSRF token for its forms, the messages left for it, the current path."""
    who = auth.principal_of(request)
    page = environment.get_template(template).render(
        request=request,
        path=request.url.path,
        user=who.user if who else None,
        csrf_token=auth.csrf_token(request),
        csrf_field=auth.CSRF_FIELD,
        flashes=_take_flashes(request),
        now=utcnow(),
        **(context or {}),
    )
    return HTMLResponse(page, status, headers=dict(headers or {}))
