"""Accounts: the people who sign in to the web page, the tokens of the JSON API, the web server's secrets.

Passwords are hashed with scrypt (memory-hard; the standard library's :func:`hashlib.scrypt`) and stored
with their parameters, ``scrypt$n$r$p$salt$hash`` (salt and hash in URL-safe base64), so the cost can be
raised later without locking anyone out. A token is ``secrets.token_urlsafe(32)`` (43 URL-safe characters),
shown once when created; only its SHA-256 is stored, and a token is found by that hash, so a stolen
database gives no usable token. Checks compare in constant time, and checking the password of a user who
does not exist costs as much as checking a wrong one.

Nothing is cached between calls: a revoked token or a removed user is refused by the very next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from veille.manage.errors import ConflictError, InvalidError, NotFoundError
from veille.storage.db import Database, rowcount
from veille.storage.models import ApiToken, User, WebSecret, utcnow

log = logging.getLogger(__name__)

# scrypt's cost: 2**15 x 8 x 128 bytes = 32 MiB of memory and about 0.1 s of one core per check
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_LENGTH = 32
MAX_SCRYPT_N = 2**20  # a stored hash asking for more than this is refused rather than computed
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
TOKEN_BYTES = 32
LAST_USED_EVERY = timedelta(minutes=1)  # a token's last_used_at is written at most this often
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
SESSION_SECRET = "session"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Account:
    """A user, as every face shows it (never the password hash)."""

    id: int
    name: str
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionUser:
    """A user as a session knows it: ``stamp`` changes when the password does, which ends older sessions."""

    id: int
    name: str
    stamp: str


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    name: str
    user: str | None  # the user the token acts for, if any
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewToken:
    token: Token
    secret: str  # the token itself: shown once, never stored


# --------------------------------------------------------------------------- passwords


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=256 * r * n + 2 * 1024 * 1024)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` for ``password``, with a new random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LENGTH)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


_DUMMY_HASH: str | None = None


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        cost = (int(n), int(r), int(p))
        expected = _unb64(digest)
        if scheme != "scrypt" or not 1 < cost[0] <= MAX_SCRYPT_N or not 0 < cost[1] <= 32 or not 0 < cost[2] <= 16:
            return False
        given = _scrypt(password, _unb64(salt), *cost, len(expected) or SCRYPT_LENGTH)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, expected)


def _waste_a_check(password: str) -> None:
    """As long as a real check: an unknown user name is not told apart by the time the answer takes."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(12))
    check_password(password, _DUMMY_HASH)


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- validation


def _name(value: str, what: str) -> str:
    name = value.strip()
    if not NAME.match(name):
        raise InvalidError(f"{what} name {value!r} is not usable: 1 to 64 letters, digits or . _ @ + -, starting "
                           f"with a letter or a digit", field="name")
    return name


def _password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise InvalidError(f"the password is too short: at least {MIN_PASSWORD} characters", field="password")
    if len(value) > MAX_PASSWORD:
        raise InvalidError(f"the password is too long: at most {MAX_PASSWORD} characters", field="password")
    return value


def _account(user: User) -> Account:
    return Account(id=user.id, name=user.name, created_at=user.created_at, last_login_at=user.last_login_at)


def _find_user(s: Session, name: str) -> User | None:
    return s.scalars(select(User).where(User.name_key == name.strip().lower())).first()


# --------------------------------------------------------------------------- users


def add_user(db: Database, *, name: str, password: str, now: datetime | None = None) -> Account:
    """A new user; ConflictError when the name (whatever its case) is taken."""
    name = _name(name, "a user")
    password_hash = hash_password(_password(password))
    when = now or utcnow()

    def work(s: Session) -> Account:
        if _find_user(s, name) is not None:
            raise ConflictError(f"user {name!r} already exists (`veille users passwd {name}` changes its password)")
        user = User(name=name, name_key=name.lower(), password_hash=password_hash, created_at=when,
                    password_changed_at=when)
        s.add(user)
        s.flush()
        return _account(user)

    try:
        account = db.run(work)
    except IntegrityError as exc:  # added by someone else at the same moment
        raise ConflictError(f"user {name!r} already exists") from exc
    log.info("user added", extra={"user": account.name})
    return account


def check_user_name(name: str) -> str:
    """``name`` as it would be stored, or InvalidError (before asking anyone for a password)."""
    return _name(name, "a user")


def get_user(db: Database, *, name: str) -> Account | None:
    """The user named ``name`` (whatever its case), or None."""
    return db.run(lambda s: (lambda u: _account(u) if u else None)(_find_user(s, name)))


def list_users(db: Database, *, limit: int | None = None) -> list[Account]:
    return db.run(lambda s: [_account(u) for u in s.scalars(select(User).order_by(User.name_key).limit(limit))])


def user_tokens(db: Database, *, name: str) -> list[str]:
    """The names of the tokens that act for user ``name`` (removed with it)."""

    def work(s: Session) -> list[str]:
        user = _find_user(s, name)
        if user is None:
            raise NotFoundError(f"no user named {name!r} (see `veille users list`)")
        return list(s.scalars(select(ApiToken.name).where(ApiToken.user_id == user.id).order_by(ApiToken.name)))

    return db.run(work)


def remove_user(db: Database, *, name: str) -> Account:
    """Remove a user and the tokens that act for it; their sessions end at their next request."""

    def work(s: Session) -> Account:
        user = _find_user(s, name)
        if user is None:
            raise NotFoundError(f"no user named {name!r} (see `veille users list`)")
        account = _account(user)
        s.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
        s.delete(user)
        return account

    account = db.run(work)
    log.info("user removed", extra={"user": account.name})
    return account


def set_password(db: Database, *, name: str, password: str, now: datetime | None = None) -> Account:
    """A new password for ``name``; the user's other sessions end (their stamp no longer matches)."""
    password_hash = hash_password(_password(password))

    def work(s: Session) -> Account:
        user = _find_user(s, name)
        if user is None:
            raise NotFoundError(f"no user named {name!r} (see `veille users list`)")
        user.password_hash, user.password_changed_at = password_hash, now or utcnow()
        return _account(user)

    account = db.run(work)
    log.info("password changed", extra={"user": account.name})
    return account


def change_password(db: Database, *, name: str, current: str, new: str, now: datetime | None = None) -> SessionUser:
    """A user changing their own password: ``new`` is checked as any password (InvalidError on ``password``)
    and ``current`` must be theirs (InvalidError on ``current``). Their other sessions end; the result is the
    user with the new stamp, for the session that made the change."""
    password_hash = hash_password(_password(new))
    found = db.run(lambda s: (lambda u: u.password_hash if u else None)(_find_user(s, name)))
    if found is None:
        raise NotFoundError(f"no user named {name!r} (see `veille users list`)")
    if len(current) > MAX_PASSWORD or not check_password(current, found):
        raise InvalidError("that is not your current password", field="current")

    def work(s: Session) -> SessionUser:
        user = _find_user(s, name)
        if user is None or user.password_hash != found:  # removed, or changed by someone else meanwhile
            raise ConflictError("your password was changed meanwhile: sign in again")
        user.password_hash, user.password_changed_at = password_hash, now or utcnow()
        return SessionUser(id=user.id, name=user.name, stamp=_stamp(password_hash))

    user = db.run(work)
    log.info("password changed", extra={"user": user.name})
    return user


def verify_password(db: Database, *, name: str, password: str, now: datetime | None = None) -> SessionUser | None:
    """The user when ``password`` is ``name``'s, else None (same cost whether the name exists or not). A
    success records ``last_login_at``."""
    found = db.run(lambda s: (lambda u: (u.id, u.password_hash) if u else None)(_find_user(s, name)))
    if found is None or len(password) > MAX_PASSWORD:
        _waste_a_check(password[:MAX_PASSWORD])
        return None
    user_id, password_hash = found
    if not check_password(password, password_hash):
        return None

    def work(s: Session) -> SessionUser | None:
        user = s.get(User, user_id)
        if user is None or user.password_hash != password_hash:
            return None  # removed, or its password changed, meanwhile
        user.last_login_at = now or utcnow()
        return SessionUser(id=user.id, name=user.name, stamp=_stamp(user.password_hash))

    return db.run(work)


def session_user(db: Database, *, user_id: int, stamp: str) -> SessionUser | None:
    """The user a session names, if it still exists and its password has not changed since."""

    def work(s: Session) -> SessionUser | None:
        user = s.get(User, user_id)
        if user is None or not hmac.compare_digest(_stamp(user.password_hash), stamp):
            return None
        return SessionUser(id=user.id, name=user.name, stamp=stamp)

    return db.run(work)


# --------------------------------------------------------------------------- tokens


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Database, *, name: str, user: str | None = None, now: datetime | None = None) -> NewToken:
    """A new API token named ``name`` (acting for ``user`` if given): the token is in the result, once."""
    name = _name(name, "a token")
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    when = now or utcnow()

    def work(s: Session) -> Token:
        owner = None
        if user is not None:
            owner = _find_user(s, user)
            if owner is None:
                raise NotFoundError(f"no user named {user!r} (see `veille users list`)")
        if s.scalars(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
            raise ConflictError(f"a token named {name!r} already exists (`veille tokens revoke {name}` first, or "
                                f"choose another name)")
        row = ApiToken(name=name, token_hash=_token_hash(secret), user_id=owner.id if owner else None,
                       created_at=when)
        s.add(row)
        s.flush()
        return Token(id=row.id, name=row.name, user=owner.name if owner else None, created_at=row.created_at,
                     last_used_at=None)

    try:
        token = db.run(work)
    except IntegrityError as exc:
        raise ConflictError(f"a token named {name!r} already exists") from exc
    log.info("API token created", extra={"token": token.name})
    return NewToken(token=token, secret=secret)


def list_tokens(db: Database, *, limit: int | None = None) -> list[Token]:
    def work(s: Session) -> list[Token]:
        rows = s.execute(select(ApiToken, User.name).outerjoin(User, User.id == ApiToken.user_id)
                         .order_by(ApiToken.name).limit(limit))
        return [Token(id=t.id, name=t.name, user=owner, created_at=t.created_at, last_used_at=t.last_used_at)
                for t, owner in rows]

    return db.run(work)


def revoke_token(db: Database, *, name: str) -> None:
    """Delete the token: the next request that carries it is refused."""
    removed = db.run(lambda s: rowcount(s.execute(delete(ApiToken).where(ApiToken.name == name))))
    if not removed:
        raise NotFoundError(f"no token named {name!r} (see `veille tokens list`)")
    log.info("API token revoked", extra={"token": name})


def verify_token(db: Database, *, token: str, now: datetime | None = None) -> Token | None:
    """The token's record when ``token`` is a live API token, else None. Its ``last_used_at`` is written when
    it is older than :data:`LAST_USED_EVERY` (one write a minute per token at most, not one per request)."""
    if not token or len(token) > 256:
        return None
    when = now or utcnow()
    digest = _token_hash(token)

    def work(s: Session) -> Token | None:
        found = s.execute(select(ApiToken, User.name).outerjoin(User, User.id == ApiToken.user_id)
                          .where(ApiToken.token_hash == digest)).first()
        if found is None:
            return None
        row, owner = found
        if not hmac.compare_digest(row.token_hash, digest):
            return None
        last_used = row.last_used_at
        if last_used is None or last_used <= when - LAST_USED_EVERY:
            s.execute(update(ApiToken).where(ApiToken.id == row.id, or_(
                ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= when - LAST_USED_EVERY))
                .values(last_used_at=when).execution_options(synchronize_session=False))
            last_used = when
        return Token(id=row.id, name=row.name, user=owner, created_at=row.created_at, last_used_at=last_used)

    return db.run(work)


# --------------------------------------------------------------------------- the web server's secret


def web_secret(db: Database, *, name: str = SESSION_SECRET) -> str:
    """The secret ``name`` (the key that signs session cookies and CSRF tokens), made on first use.

    Kept in the database rather than a file: every web process, on every host, reads the same one, and it
    is backed up with the database. Two processes starting at once agree: the first insert wins."""

    def read(s: Session) -> str | None:
        return s.scalar(select(WebSecret.value).where(WebSecret.name == name))

    found = db.run(read)
    if found:
        return found

    def make(s: Session) -> None:
        from veille.pipeline.context import _insert

        s.execute(_insert(s, WebSecret).values(name=name, value=secrets.token_urlsafe(48), created_at=utcnow())
                  .on_conflict_do_nothing(index_elements=[WebSecret.name]))

    db.run(make)
    value = db.run(read)
    if not value:
        raise RuntimeError(f"web secret {name!r}: not stored")
    log.info("web secret generated", extra={"secret": name})
    return value


def count_users(db: Database) -> int:
    return int(db.run(lambda s: s.scalar(select(func.count()).select_from(User))) or 0)
