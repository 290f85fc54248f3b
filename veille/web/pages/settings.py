"""``/settings``: the people who sign in (list, add one, change your own password) and the API tokens (create
one, shown once on the page that answers the creation and never again; list; revoke after a confirmation).

A new token acts for the signed-in user (``/api/v1/me`` says whose it is). Changing your password ends your
other sessions; this one is signed in again with the new password. A wrong current password counts as a
failed sign-in for the client's address (429 after too many).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from veille.manage import InvalidError, OperationError, accounts
from veille.web import auth
from veille.web.forms import Errors, read_form, text
from veille.web.pages.feeds import ctx_of, found
from veille.web.templating import flash, render
from veille.web.work import blocking


@dataclass
class Forms:
    """What each form of the page holds when it comes back with a message (passwords are never kept)."""

    user_name: str = ""
    token_name: str = ""
    user_errors: Errors = field(default_factory=Errors)
    password_errors: Errors = field(default_factory=Errors)
    token_errors: Errors = field(default_factory=Errors)
    new_token: accounts.NewToken | None = None  # just created: shown on this page only


def signed_in(request: Request) -> auth.Principal:
    who = auth.principal_of(request)
    if who is None or who.user is None:
        raise HTTPException(403, "this page is for a signed-in user")
    return who


async def show(request: Request, forms: Forms | None = None, *, status: int = 200) -> Response:
    db = ctx_of(request).db
    users = await blocking(accounts.list_users, db)
    tokens = await blocking(accounts.list_tokens, db)
    return render(request, "settings.html", {"users": users, "tokens": tokens, "forms": forms or Forms()},
                  status=status)


async def settings_page(request: Request) -> Response:
    """GET /settings."""
    signed_in(request)
    return await show(request)


def passwords_match(password: str, again: str, *, field: str) -> None:
    if password != again:
        raise InvalidError("the two passwords differ: type the same one twice", field=field)


async def add_user(request: Request) -> Response:
    """POST /settings/users: user_name, user_password, user_again."""
    signed_in(request)
    form = await read_form(request)
    forms = Forms(user_name=text(form, "user_name"))
    password = str(form.get("user_password") or "")
    try:
        passwords_match(password, str(form.get("user_again") or ""), field="user_again")
        added = await blocking(accounts.add_user, ctx_of(request).db, name=forms.user_name, password=password)
    except OperationError as exc:
        forms.user_errors.add(exc, fields={"": "user_name", "name": "user_name", "password": "user_password"})
        return await show(request, forms, status=422)
    flash(request, f"Added user {added.name}: they can sign in now.")
    return RedirectResponse("/settings#users", status_code=303)


async def change_password(request: Request) -> Response:
    """POST /settings/password: current, new, new_again (your own password)."""
    who = signed_in(request)
    assert who.user is not None
    form = await read_form(request)
    forms = Forms()
    limiter: auth.FailureLimiter = request.app.state.limiter
    client = auth.client_address(request.scope)
    wait = limiter.retry_after(client)
    if wait is not None:
        forms.password_errors.by_field["current"] = f"too many failed attempts: try again in {wait} s"
        return await show(request, forms, status=429)
    new = str(form.get("new") or "")
    try:
        passwords_match(new, str(form.get("new_again") or ""), field="new_again")
        user = await blocking(accounts.change_password, ctx_of(request).db, name=who.user,
                              current=str(form.get("current") or ""), new=new)
    except OperationError as exc:
        if isinstance(exc, InvalidError) and exc.field == "current":
            limiter.fail(client)
        forms.password_errors.add(exc, fields={"password": "new", "": "current"})
        return await show(request, forms, status=422)
    auth.sign_in(request, user)  # the new password's stamp: this session goes on, the others end
    flash(request, "Password changed. Your other sessions are signed out.")
    return RedirectResponse("/settings#password", status_code=303)


async def create_token(request: Request) -> Response:
    """POST /settings/tokens: token_name. The page that answers shows the token, once."""
    who = signed_in(request)
    form = await read_form(request)
    forms = Forms(token_name=text(form, "token_name"))
    try:
        forms.new_token = await blocking(accounts.create_token, ctx_of(request).db, name=forms.token_name,
                                         user=who.user)
    except OperationError as exc:
        forms.token_errors.add(exc, fields={"": "token_name", "name": "token_name"})
        return await show(request, forms, status=422)
    forms.token_name = ""
    return await show(request, forms)


async def revoke_page(request: Request) -> Response:
    """GET /settings/tokens/revoke?name=...: the confirmation."""
    signed_in(request)
    name = request.query_params.get("name", "")
    tokens = await blocking(accounts.list_tokens, ctx_of(request).db)
    if name not in {t.name for t in tokens}:
        raise HTTPException(404, f"no token named {name!r}")
    return render(request, "removal.html", {
        "title": f"Revoke token {name}",
        "question": f"Revoke the API token {name}? Whatever uses it is refused from its next request on.",
        "action": "/settings/tokens/revoke", "button": "Revoke the token", "cancel": "/settings#tokens",
        "hidden": {"name": name},
    })


async def revoke(request: Request) -> Response:
    """POST /settings/tokens/revoke: name."""
    signed_in(request)
    form = await read_form(request)
    name = text(form, "name")
    await blocking(accounts.revoke_token, ctx_of(request).db, name=name)
    flash(request, f"Token {name} revoked.")
    return RedirectResponse("/settings#tokens", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/settings", settings_page, methods=["GET"]),
    Route("/settings/users", add_user, methods=["POST"]),
    Route("/settings/password", change_password, methods=["POST"]),
    Route("/settings/tokens", create_token, methods=["POST"]),
    Route("/settings/tokens/revoke", revoke_page, methods=["GET"]),
    Route("/settings/tokens/revoke", found(revoke), methods=["POST"]),
]
