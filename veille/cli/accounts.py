"""`veille users` (who signs in to the web page) and `veille tokens` (API tokens)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer

from veille.cli.app import Typer, app
from veille.cli.common import (
    JsonOption,
    LimitOption,
    ago,
    confirm,
    context,
    err,
    fail,
    is_terminal,
    iso,
    out,
    print_json,
    print_table,
)
from veille.manage import InvalidError, OperationError, accounts

users_app = Typer(help="People who sign in to the web page.")
tokens_app = Typer(help="Tokens for the JSON API (Authorization: Bearer TOKEN).")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (for scripts).")
]


def refused(error: OperationError) -> typer.Exit:
    """The operation's message as the command's error: exit 2 for a bad input, 1 otherwise."""
    return fail(str(error), 2 if isinstance(error, InvalidError) else 1)


def read_password(*, from_stdin: bool) -> str:
    """The password: the first line of stdin, or asked twice on the terminal (never echoed)."""
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise fail("--password-stdin: stdin held no password", 2)
        return password
    if not sys.stdin.isatty():
        raise fail("no terminal to ask the password on: pass it on stdin with --password-stdin", 2)
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


def when(value: datetime | None) -> str:
    return ago(value) if is_terminal() else (iso(value) or "")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The name to sign in with (letters, digits, . _ @ + -).")],
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Add a user who can sign in to the web page; the password is asked twice (or read with --password-stdin)."""
    ctx = context()
    try:
        name = accounts.check_user_name(name)
        if accounts.get_user(ctx.db, name=name) is not None:
            raise fail(f"user {name!r} already exists (`veille users passwd {name}` changes its password)")
        account = accounts.add_user(ctx.db, name=name, password=read_password(from_stdin=password_stdin))
    except OperationError as exc:
        raise refused(exc) from exc
    out.print(f"user {account.name} added", markup=False)


@users_app.command("list")
def users_list(as_json: JsonOption = False, limit: LimitOption = None) -> None:
    """The users, by name, with when they were added and last signed in."""
    found = accounts.list_users(context().db, limit=limit)
    if as_json:
        print_json([{"id": u.id, "name": u.name, "created_at": iso(u.created_at),
                     "last_login_at": iso(u.last_login_at)} for u in found])
        return
    print_table(("name", "added", "last signed in"), (
        (u.name, when(u.created_at), when(u.last_login_at) or "never") for u in found
    ))


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a user, and the API tokens that act for it; its sessions end at their next request."""
    ctx = context()
    try:
        tokens = accounts.user_tokens(ctx.db, name=name)
        goes = f" and its {len(tokens)} API token{'s' if len(tokens) != 1 else ''} ({', '.join(tokens)})" \
            if tokens else ""
        confirm(f"remove user {name}{goes}?", yes=yes)
        account = accounts.remove_user(ctx.db, name=name)
    except OperationError as exc:
        raise refused(exc) from exc
    out.print(f"user {account.name} removed{goes}", markup=False)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    password_stdin: PasswordStdinOption = False,
) -> None:
    """Change a user's password (asked twice, or read with --password-stdin); its other sessions end."""
    ctx = context()
    try:
        if accounts.get_user(ctx.db, name=name) is None:
            raise fail(f"no user named {name!r} (see `veille users list`)")
        account = accounts.set_password(ctx.db, name=name, password=read_password(from_stdin=password_stdin))
    except OperationError as exc:
        raise refused(exc) from exc
    out.print(f"password of {account.name} changed", markup=False)


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. ci or grafana (unique).")],
    user: Annotated[str | None, typer.Option("--user", metavar="NAME",
                                             help="The user the token acts for (removed with it).")] = None,
) -> None:
    """Create an API token and print it, alone on stdout: it is shown this once (only its hash is kept).

    TOKEN=$(veille tokens create ci) keeps it in a variable; send it as Authorization: Bearer TOKEN."""
    ctx = context()
    try:
        made = accounts.create_token(ctx.db, name=name, user=user)
    except OperationError as exc:
        raise refused(exc) from exc
    sys.stdout.write(made.secret + "\n")
    sys.stdout.flush()
    err.print(f"token {made.token.name} created: it is shown this once, keep it now", markup=False)


@tokens_app.command("list")
def tokens_list(as_json: JsonOption = False, limit: LimitOption = None) -> None:
    """The API tokens (never the tokens themselves): name, user, when created and last used."""
    found = accounts.list_tokens(context().db, limit=limit)
    if as_json:
        print_json([{"id": t.id, "name": t.name, "user": t.user, "created_at": iso(t.created_at),
                     "last_used_at": iso(t.last_used_at)} for t in found])
        return
    print_table(("name", "user", "created", "last used"), (
        (t.name, t.user or "", when(t.created_at), when(t.last_used_at) or "never") for t in found
    ))


@tokens_app.command("revoke")
def tokens_revoke(name: Annotated[str, typer.Argument(help="The token's name (see `veille tokens list`).")]) -> None:
    """Revoke an API token: the next request that carries it is refused."""
    ctx = context()
    try:
        accounts.revoke_token(ctx.db, name=name)
    except OperationError as exc:
        raise refused(exc) from exc
    out.print(f"token {name} revoked", markup=False)
