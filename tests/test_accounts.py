"""Users and API tokens: scrypt hashes, tokens kept as hashes only, and the `veille users` / `veille tokens`
commands as real processes (a password from stdin, or typed at a real pseudo-terminal)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select as sql_select

from veille.manage import ConflictError, InvalidError, NotFoundError, accounts
from veille.storage.db import Database
from veille.storage.models import ApiToken, User

VEILLE = str(Path(sys.executable).with_name("veille"))
HASH = re.compile(r"^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


def test_password_hashes_are_salted_scrypt_with_their_parameters() -> None:
    first, second = accounts.hash_password("correct horse"), accounts.hash_password("correct horse")
    assert HASH.match(first) and HASH.match(second) and first != second  # a salt of its own each
    assert accounts.check_password("correct horse", first) and accounts.check_password("correct horse", second)
    assert not accounts.check_password("correct horsE", first)
    assert not accounts.check_password("", first)
    tampered = first[:-2] + ("AA" if not first.endswith("AA") else "BB")
    assert not accounts.check_password("correct horse", tampered)
    for broken in ("", "plain", "md5$1$2$3$4$5", "scrypt$99999999999$8$1$c2FsdA$aGFzaA", "scrypt$x$8$1$a$b"):
        assert not accounts.check_password("correct horse", broken)


def test_users_add_verify_rename_case_and_remove(db: Database) -> None:
    alice = accounts.add_user(db, name="Alice", password="correct horse", now=T0)
    assert alice.name == "Alice" and alice.last_login_at is None
    with pytest.raises(ConflictError, match="already exists"):
        accounts.add_user(db, name="alice", password="another one")
    with pytest.raises(InvalidError, match="at least 8 characters") as short:
        accounts.add_user(db, name="bob", password="short")
    assert short.value.field == "password"
    with pytest.raises(InvalidError, match="not usable"):
        accounts.add_user(db, name="bob smith", password="long enough")
    stored = db.run(lambda s: s.scalars(sql_select(User.password_hash)).one())
    assert HASH.match(stored) and "correct horse" not in stored
    assert accounts.verify_password(db, name="alice", password="wrong horse") is None
    assert accounts.verify_password(db, name="nobody", password="correct horse") is None
    signed = accounts.verify_password(db, name="ALICE", password="correct horse", now=T0 + timedelta(hours=1))
    assert signed is not None and signed.name == "Alice"
    assert accounts.list_users(db)[0].last_login_at == T0 + timedelta(hours=1)
    assert accounts.session_user(db, user_id=signed.id, stamp=signed.stamp) == signed
    accounts.set_password(db, name="alice", password="battery staple")
    assert accounts.session_user(db, user_id=signed.id, stamp=signed.stamp) is None  # sessions end
    assert accounts.verify_password(db, name="alice", password="correct horse") is None
    assert accounts.verify_password(db, name="alice", password="battery staple") is not None
    accounts.create_token(db, name="alice-ci", user="alice")
    accounts.create_token(db, name="shared")
    assert accounts.user_tokens(db, name="alice") == ["alice-ci"]
    accounts.remove_user(db, name="alice")
    assert accounts.list_users(db) == [] and [t.name for t in accounts.list_tokens(db)] == ["shared"]
    with pytest.raises(NotFoundError):
        accounts.remove_user(db, name="alice")


def test_tokens_are_stored_as_hashes_and_last_use_written_once_a_minute(db: Database) -> None:
    made = accounts.create_token(db, name="ci", now=T0)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", made.secret)
    row = db.run(lambda s: s.scalars(sql_select(ApiToken)).one())
    assert made.secret not in (row.token_hash, row.name) and len(row.token_hash) == 64
    with pytest.raises(ConflictError):
        accounts.create_token(db, name="ci")
    with pytest.raises(NotFoundError, match="no user named 'ghost'"):
        accounts.create_token(db, name="other", user="ghost")
    assert accounts.verify_token(db, token=made.secret[:-1] + "x") is None
    assert accounts.verify_token(db, token="") is None
    used = accounts.verify_token(db, token=made.secret, now=T0 + timedelta(seconds=10))
    assert used is not None and used.name == "ci" and used.last_used_at == T0 + timedelta(seconds=10)
    again = accounts.verify_token(db, token=made.secret, now=T0 + timedelta(seconds=50))
    assert again is not None and again.last_used_at == T0 + timedelta(seconds=10)  # not written again yet
    later = accounts.verify_token(db, token=made.secret, now=T0 + timedelta(seconds=75))
    assert later is not None and later.last_used_at == T0 + timedelta(seconds=75)
    assert accounts.list_tokens(db)[0].last_used_at == T0 + timedelta(seconds=75)
    accounts.revoke_token(db, name="ci")
    assert accounts.verify_token(db, token=made.secret) is None
    with pytest.raises(NotFoundError):
        accounts.revoke_token(db, name="ci")


def test_the_web_secret_is_made_once(db: Database) -> None:
    first = accounts.web_secret(db)
    assert len(first) >= 48 and accounts.web_secret(db) == first


# --------------------------------------------------------------------------- the commands


@pytest.fixture
def env(veille_env: dict[str, str], database_url: str) -> dict[str, str]:
    return {**os.environ, **veille_env, "VEILLE_DATABASE_URL": database_url}


def run(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VEILLE, *args], env=env, input=input, capture_output=True, text=True, timeout=120)


def test_users_commands_with_password_stdin(env: dict[str, str], database_url: str) -> None:
    added = run(env, "users", "add", "alice", "--password-stdin", input="correct horse\n")
    assert added.returncode == 0 and added.stdout == "user alice added\n", added.stderr
    again = run(env, "users", "add", "Alice", "--password-stdin", input="another one\n")
    assert again.returncode == 1 and "error: user 'Alice' already exists" in again.stderr
    short = run(env, "users", "add", "bob", "--password-stdin", input="short\n")
    assert short.returncode == 2
    assert short.stderr.splitlines()[-1] == "error: the password is too short: at least 8 characters"
    no_terminal = run(env, "users", "add", "bob", input="")
    assert no_terminal.returncode == 2 and "--password-stdin" in no_terminal.stderr.splitlines()[-1]
    listed = run(env, "users", "list", "--json")
    (row,) = json.loads(listed.stdout)
    assert row["name"] == "alice" and row["last_login_at"] is None and set(row) == {
        "id", "name", "created_at", "last_login_at"}
    assert run(env, "users", "list").stdout.splitlines()[1].startswith("alice\t")
    changed = run(env, "users", "passwd", "alice", "--password-stdin", input="battery staple\r\n")
    assert changed.returncode == 0, changed.stderr
    db = Database(database_url)
    try:
        assert accounts.verify_password(db, name="alice", password="battery staple") is not None
        assert accounts.verify_password(db, name="alice", password="correct horse") is None
    finally:
        db.dispose()
    assert run(env, "users", "passwd", "nobody", "--password-stdin", input="long enough\n").returncode == 1
    removed = run(env, "users", "remove", "alice")  # no terminal: no question
    assert removed.returncode == 0 and removed.stdout == "user alice removed\n"
    assert json.loads(run(env, "users", "list", "--json").stdout) == []


def test_users_add_asks_the_password_twice_on_a_terminal(env: dict[str, str], database_url: str) -> None:
    """A real pseudo-terminal: the prompts appear, the password is not echoed, a mismatch asks again."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen([VEILLE, "users", "add", "carol"], env=env, stdin=secondary, stdout=secondary,
                               stderr=secondary, close_fds=True)
    os.close(secondary)
    screen = b""

    def expect(text: bytes, times: int = 1, timeout: float = 30) -> None:
        nonlocal screen
        deadline = time.monotonic() + timeout
        while screen.count(text) < times:
            assert time.monotonic() < deadline, screen
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(primary, 4096)
                except OSError:  # the command ended
                    break

    try:
        for prompt, times, typed in ((b"Password: ", 1, b"first try1\n"),
                                     (b"Repeat for confirmation: ", 1, b"first try2\n"),
                                     (b"Password: ", 2, b"long secret\n"),  # asked again after the mismatch
                                     (b"Repeat for confirmation: ", 2, b"long secret\n")):
            expect(prompt, times)
            os.write(primary, typed)
        expect(b"user carol added")
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    assert b"do not match" in screen
    assert b"long secret" not in screen and b"first try" not in screen  # never echoed
    db = Database(database_url)
    try:
        assert accounts.verify_password(db, name="carol", password="long secret") is not None
    finally:
        db.dispose()


def test_tokens_commands(env: dict[str, str]) -> None:
    created = run(env, "tokens", "create", "ci")
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\n", created.stdout)  # the token alone: TOKEN=$(veille tokens create ci)
    assert "shown this once" in created.stderr
    token = created.stdout.strip()
    assert run(env, "tokens", "create", "ci").returncode == 1
    assert run(env, "users", "add", "dora", "--password-stdin", input="long enough\n").returncode == 0
    assert run(env, "tokens", "create", "dora-ci", "--user", "dora").returncode == 0
    ghost = run(env, "tokens", "create", "x", "--user", "ghost")
    assert ghost.returncode == 1 and ghost.stderr.strip() == "error: no user named 'ghost' (see `veille users list`)"
    listed = run(env, "tokens", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["user"], r["last_used_at"]) for r in rows] == [("ci", None, None), ("dora-ci", "dora", None)]
    assert token not in listed.stdout and token not in run(env, "tokens", "list").stdout
    table = run(env, "tokens", "list").stdout.splitlines()
    assert table[0] == "name\tuser\tcreated\tlast used" and table[1].startswith("ci\t\t")
    assert run(env, "tokens", "revoke", "ci").stdout == "token ci revoked\n"
    missing = run(env, "tokens", "revoke", "ci")
    assert missing.returncode == 1 and "no token named 'ci'" in missing.stderr
    assert run(env, "users", "remove", "dora", "--yes").stdout == "user dora removed and its 1 API token (dora-ci)\n"
    assert json.loads(run(env, "tokens", "list", "--json").stdout) == []
