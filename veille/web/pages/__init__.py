"""The web page: server-rendered pages over the operations layer, one module of routes per subject.

A page decodes the request (a form through :func:`veille.web.forms.read_form`, which checks its CSRF token),
calls :mod:`veille.manage` (through :func:`veille.web.work.blocking`, or :func:`veille.web.work.parsing` for
anything that parses HTML or XML) and renders a template (:func:`veille.web.templating.render`). A refusal
of the operations layer is shown next to its field (``errors``), with what the user typed kept in the form.
Every page works without JavaScript; htmx (``/static/htmx.min.js``) only makes some of them livelier.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from veille.web.pages import channels, entities, feeds, matches, overview, settings

ROUTES: list[BaseRoute] = [
    *overview.ROUTES,
    *entities.ROUTES,
    *feeds.ROUTES, *channels.ROUTES, *settings.ROUTES,
    *matches.ROUTES,
]
