"""``/channels``: where alerts go. Each channel's kind, redacted target, state, last error and digest
schedule; add one (optionally sending a sample alert first: stored only when it arrives), send a test (the
channel's exact answer is shown), pause and resume, remove (after saying what goes with it).

A channel is named in the form (``name`` field, ``?name=`` on the confirmation page), not in the path: a
channel's name may hold any character but a space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from veille.manage import ConflictError, InvalidError, NotFoundError, OperationError, channels
from veille.web.forms import Errors, checked, read_form, text
from veille.web.pages.feeds import PAUSES, ctx_of, found, pause_request
from veille.web.templating import flash, render
from veille.web.work import blocking

KINDS = (("slack", "Slack (incoming webhook URL)"), ("webhook", "Webhook (JSON POSTed to a URL)"),
         ("email", "Email (an address; needs VEILLE_SMTP_URL)"), ("apprise", "Apprise (a service URL)"))


@dataclass
class AddForm:
    kind: str = "slack"
    target: str = ""
    name: str = ""
    digest: str = ""
    tz: str = ""
    admin: bool = False
    test: bool = True
    errors: Errors = field(default_factory=Errors)


async def show_list(request: Request, *, add: AddForm | None = None, pause_errors: dict[str, Errors] | None = None,
                    status: int = 200) -> Response:
    found_channels = await blocking(channels.list_channels, ctx_of(request).db)
    return render(request, "channels.html", {
        "channels": found_channels, "add": add or AddForm(), "kinds": KINDS, "pauses": PAUSES,
        "pause_errors": pause_errors or {},
    }, status=status)


async def channels_page(request: Request) -> Response:
    """GET /channels."""
    return await show_list(request)


async def add(request: Request) -> Response:
    """POST /channels: kind, target, name, secret (webhooks), digest and tz, admin, test (send a sample first)."""
    form = await read_form(request)
    typed = AddForm(kind=text(form, "kind"), target=text(form, "target"), name=text(form, "name"),
                    digest=text(form, "digest"), tz=text(form, "tz"), admin=checked(form, "admin"),
                    test=checked(form, "test"))
    secret = text(form, "secret")
    try:
        if not typed.target:
            raise InvalidError("give where alerts go: a URL, or an address for email", field="target")
        added = await blocking(channels.add_channel, ctx_of(request), kind=typed.kind, target=typed.target,
                               name=typed.name or None, secret=secret or None, admin=typed.admin,
                               digest=typed.digest or None, tz=typed.tz or None, test=typed.test)
    except ConflictError as exc:
        typed.errors.add(exc, fields={"": "name"})
        return await show_list(request, add=typed, status=409)
    except OperationError as exc:
        typed.errors.add(exc, fields={"": "target"})
        return await show_list(request, add=typed, status=422)
    delivery = f"digest {added.schedule.describe()}" if added.schedule else "each alert as it comes"
    tested = "; the sample alert arrived" if added.tested else ""
    flash(request, f"Added channel {added.name} ({added.kind}) to {added.target}, {delivery}{tested}.")
    return RedirectResponse(f"/channels#channel-{added.name}", status_code=303)


async def test(request: Request) -> Response:
    """POST /channels/test: send a sample alert to ``name`` and show its answer."""
    form = await read_form(request)
    [result] = await blocking(channels.test_channel, ctx_of(request), text(form, "name"))
    if result.ok:
        flash(request, f"Test sent to {result.name}: ok, the channel accepted the sample alert.")
    else:
        flash(request, f"Test sent to {result.name}: failed: {result.error}", "error")
    return RedirectResponse(f"/channels#channel-{result.name}", status_code=303)


async def pause(request: Request) -> Response:
    """POST /channels/pause: ``name``, and ``pause`` = 1d, 7d, until (with ``until``) or forever."""
    form = await read_form(request)
    name = text(form, "name")
    try:
        duration, until = pause_request(form)
        paused = await blocking(channels.pause_channel, ctx_of(request).db, name, duration=duration, until=until)
    except NotFoundError:
        raise
    except OperationError as exc:
        errors = Errors()
        errors.add(exc, fields={"": "for"})
        return await show_list(request, pause_errors={name: errors}, status=422)
    flash(request, f"Channel {paused.name} {paused.pause.describe()}: alerts meanwhile are not sent to it.")
    return RedirectResponse(f"/channels#channel-{paused.name}", status_code=303)


async def resume(request: Request) -> Response:
    """POST /channels/resume: ``name``; what its pause held back goes out now."""
    form = await read_form(request)
    resumed = await blocking(channels.resume_channel, ctx_of(request).db, text(form, "name"))
    flash(request, f"Channel {resumed.name} resumed.")
    return RedirectResponse(f"/channels#channel-{resumed.name}", status_code=303)


async def remove_page(request: Request) -> Response:
    """GET /channels/remove?name=...: what goes with it, and the button that removes it."""
    impact = await blocking(channels.channel_removal_impact, ctx_of(request).db,
                            request.query_params.get("name", ""))
    return render(request, "removal.html", {
        "title": f"Remove channel {impact.name}", "question": impact.describe(), "action": "/channels/remove",
        "button": "Remove the channel", "cancel": "/channels", "hidden": {"name": impact.name},
    })


async def remove(request: Request) -> Response:
    """POST /channels/remove: ``name``."""
    form = await read_form(request)
    removed = await blocking(channels.remove_channel, ctx_of(request).db, text(form, "name"))
    parts = [f"Removed channel {removed.name}."]
    if removed.unsent:
        parts.append(f"{removed.unsent} alert{'s' if removed.unsent != 1 else ''} not sent yet cancelled.")
    parts += [r.describe() + "." for r in removed.rerouted]
    flash(request, " ".join(parts))
    return RedirectResponse("/channels", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/channels", channels_page, methods=["GET"]),
    Route("/channels", add, methods=["POST"]),
    Route("/channels/test", found(test), methods=["POST"]),
    Route("/channels/pause", found(pause), methods=["POST"]),
    Route("/channels/resume", found(resume), methods=["POST"]),
    Route("/channels/remove", found(remove_page), methods=["GET"]),
    Route("/channels/remove", found(remove), methods=["POST"]),
]
