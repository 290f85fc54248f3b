"""Who is asking: API tokens, the session cookie, CSRF tokens, and the limit on failed attempts.

Every path needs credentials except the public ones (:func:`access`): ``/healthz``, ``/readyz``, the
WebSub callbacks, ``/login`` and ``/static/``, and later the Slack endpoints (their signature is their
authentication) and ``/metrics``. Without credentials, ``/api/...`` answers 401 with ``{"error": ...}``; a
page redirects a GET to ``/login?next=...``; a path outside ``/api/`` that nothing serves is a plain 404.

- **Tokens** (the API): ``Authorization: Bearer TOKEN`` or ``X-Auth-Token: TOKEN``, looked up in the
  database on every request (no cache: a revoked token is refused by the next request).
- **Sessions** (the web page): a cookie signed with the secret kept in the database (itsdangerous,
  HMAC-SHA1 over the payload and a timestamp), ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when the request came
  over HTTPS (as seen by uvicorn: behind a proxy, only a trusted one's ``X-Forwarded-Proto`` counts). It
  holds the user's id, a stamp of its password hash (a new password ends every other session) and the CSRF
  token; it lasts :data:`SESSION_AGE`.
- **CSRF**: :func:`csrf_token` gives a form its token; :func:`check_csrf` checks a form's ``csrf_token``
  field or the ``X-CSRF-Token`` header; an API call made with the session cookie (not a token) by any
  method but GET, HEAD and OPTIONS needs the header, or gets 403.
- **Failed attempts**: more than :data:`MAX_FAILURES` bad tokens or logins from one client address within
  :data:`FAILURE_WINDOW` seconds, and that address gets 429 with ``Retry-After`` until the oldest failure is a
  minute old; its credentials are not even checked meanwhile. Counted in this process's memory: with
  several web processes, each counts its own.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veille.manage import accounts
from veille.manage.service import is_database_error
from veille.pipeline import Context
from veille.web.security import plain

log = logging.getLogger(__name__)

SESSION_COOKIE = "veille_session"
SESSION_AGE = 14 * 86400  # seconds a session lasts after sign-in
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Access = Literal["open", "login", "private"]


def access(path: str) -> Access:
    """``open``: answered without credentials and without looking at any (no database either); ``login``:
    without credentials, but the session is read (the login form's CSRF token); ``private``: credentials."""
    from veille.web.websub import is_callback

    if path in ("/healthz", "/readyz") or is_callback(path):
        return "open"
    if path.startswith("/static/"):
        return "open"
    if path in ("/login", "/logout"):
        return "login"
    return "private"


# --------------------------------------------------------------------------- failed attempts


class FailureLimiter:
    """Failures per client address in a sliding window (see the module). Remembers at most ``max_clients``
    addresses (the oldest forgotten first), so a flood of addresses cannot fill the memory."""

    def __init__(self, *, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW, max_clients: int = 10_000,
                 clock: Any = time.monotonic) -> None:
        self.limit, self.window, self.max_clients, self.clock = limit, window, max_clients, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        now = self.clock()
        failures = self._recent(client, now)
        if failures is None or len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[-self.limit] + self.window - now))

    def fail(self, client: str) -> None:
        now = self.clock()
        failures = self._recent(client, now) or deque()
        failures.append(now)
        self._failures[client] = failures
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)


# --------------------------------------------------------------------------- sessions


@dataclass
class Session:
    """The session of one request: ``data`` as the cookie carried it; ``changed`` makes the response set it."""

    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = False

    def replace(self, data: dict[str, Any]) -> None:
        self.data, self.changed = data, True


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: a token (``token`` its name, ``user`` the user it acts for if any) or a
    signed-in user (``via="session"``)."""

    via: Literal["token", "session"]
    user: str | None
    token: str | None = None
    user_id: int | None = None


class Signer:
    """Signs and reads session cookies with the secret of the database, fetched once per process."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._serializer: URLSafeTimedSerializer | None = None

    async def serializer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            secret = await run_in_threadpool(accounts.web_secret, self.ctx.db)
            self._serializer = URLSafeTimedSerializer(secret, salt="veille.session")
        return self._serializer

    async def load(self, cookie: str | None) -> dict[str, Any]:
        if not cookie:
            return {}
        try:
            data = (await self.serializer()).loads(cookie, max_age=SESSION_AGE)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}

    async def dump(self, data: dict[str, Any]) -> str:
        return str((await self.serializer()).dumps(data))


def session_of(request: Request) -> Session:
    session = request.scope.get("veille.session")
    if not isinstance(session, Session):
        raise RuntimeError("no session on this path: it is not behind veille.web.auth.Authentication")
    return session


def principal_of(request: Request) -> Principal | None:
    """Who the request acts for (None on the public paths)."""
    found = request.scope.get("veille.principal")
    return found if isinstance(found, Principal) else None


def csrf_token(request: Request) -> str:
    """The CSRF token to put in a form (``<input type="hidden" name="csrf_token">``), made if needed."""
    session = session_of(request)
    token = session.data.get("c")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(24)
        session.replace({**session.data, "c": token})
    return token


def check_csrf(request: Request, given: str | None) -> bool:
    """Whether ``given`` (a form's ``csrf_token``, or the ``X-CSRF-Token`` header when None) is the
    session's CSRF token (constant-time comparison)."""
    expected = session_of(request).data.get("c")
    value = given if given is not None else request.headers.get(CSRF_HEADER)
    return bool(isinstance(expected, str) and expected and value
                and secrets.compare_digest(expected.encode(), value.encode()))


def sign_in(request: Request, user: accounts.SessionUser) -> None:
    """A new session for ``user`` (new CSRF token too: none from before the sign-in survives)."""
    session_of(request).replace({"u": user.id, "s": user.stamp, "c": secrets.token_urlsafe(24)})


def sign_out(request: Request) -> None:
    session_of(request).replace({})


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def bearer(scope: Scope) -> str | None:
    """The token of ``Authorization: Bearer`` or ``X-Auth-Token``, or None when neither is sent."""
    headers = dict((k.lower(), v) for k, v in scope.get("headers", []))
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    token = headers.get(b"x-auth-token")
    return token.decode("latin-1").strip() if token is not None else None


# --------------------------------------------------------------------------- the middleware


class Authentication:
    """Finds the principal of each request and refuses what needs one and has none (see the module)."""

    def __init__(self, app: ASGIApp, *, ctx: Context, signer: Signer, limiter: FailureLimiter,
                 routes: Sequence[BaseRoute] = ()) -> None:
        self.app, self.ctx, self.signer, self.limiter = app, ctx, signer, limiter
        self.routes = routes

    def _unknown(self, scope: Scope) -> bool:
        """A path outside /api/ that no route serves: its 404 needs no credentials (as before the web page)."""
        if not self.routes or scope["path"].startswith("/api/"):
            return False
        return all(route.matches(scope)[0] == Match.NONE for route in self.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or access(scope["path"]) == "open" or self._unknown(scope):
            await self.app(scope, receive, send)
            return
        try:
            session, principal, refusal = await self._authenticate(scope)
        except Exception as exc:
            if not is_database_error(exc):
                raise
            log.warning("authentication impossible: database unavailable", extra={"error": str(exc)[:300]})
            await plain(send, 503, "the database is unavailable: try again shortly", scope,
                        headers={"Retry-After": "5"})
            return
        scope["veille.session"] = session
        scope["veille.principal"] = principal
        signer = self.signer

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.changed:
                headers = MutableHeaders(scope=message)
                headers.append("set-cookie", await _cookie(signer, session, secure=scope.get("scheme") == "https"))
                headers.append("vary", "Cookie")
            await send(message)

        await (refusal or self.app)(scope, receive, send_with_cookie)

    async def _authenticate(self, scope: Scope) -> tuple[Session, Principal | None, Response | None]:
        path, method = scope["path"], scope["method"]
        session = Session(await self.signer.load(_cookie_value(scope)))
        principal: Principal | None = None
        token = bearer(scope)
        if token is not None:
            client = client_address(scope)
            wait = self.limiter.retry_after(client)
            if wait is not None:
                return session, None, _too_many(scope, wait)
            found = await run_in_threadpool(accounts.verify_token, self.ctx.db, token=token)
            if found is None:
                self.limiter.fail(client)
                log.warning("API request refused: unknown or revoked token", extra={"client": client})
                return session, None, _json_or_text(scope, 401, "invalid or revoked token",
                                                    {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            principal = Principal(via="token", user=found.user, token=found.name)
        elif isinstance(session.data.get("u"), int) and isinstance(session.data.get("s"), str):
            user = await run_in_threadpool(accounts.session_user, self.ctx.db, user_id=session.data["u"],
                                           stamp=session.data["s"])
            if user is None:  # removed, or its password changed: signed out
                session.replace({k: v for k, v in session.data.items() if k == "c"})
            else:
                principal = Principal(via="session", user=user.name, user_id=user.id)
                if path.startswith("/api/") and method not in SAFE_METHODS:
                    expected, given = session.data.get("c"), _header(scope, b"x-csrf-token")
                    if not (isinstance(expected, str) and given and secrets.compare_digest(expected, given)):
                        return session, None, _json_or_text(scope, 403, "missing or wrong X-CSRF-Token header")
        if principal is None and access(path) == "private":
            if path.startswith("/api/") or method not in ("GET", "HEAD"):
                return session, None, _json_or_text(
                    scope, 401, "authentication required: send Authorization: Bearer TOKEN or X-Auth-Token: TOKEN "
                    "(`veille tokens create NAME` makes one)", {"WWW-Authenticate": "Bearer"})
            target = path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
            return session, None, RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
        return session, principal, None


def _cookie_value(scope: Scope) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            return value
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _cookie(signer: Signer, session: Session, *, secure: bool) -> str:
    flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    if not session.data:
        return f"{SESSION_COOKIE}=; Max-Age=0{flags}"
    return f"{SESSION_COOKIE}={await signer.dump(session.data)}; Max-Age={SESSION_AGE}{flags}"


def _json_or_text(scope: Scope, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import JSONResponse, PlainTextResponse

    if str(scope.get("path", "")).startswith("/api/"):
        return JSONResponse({"error": message}, status, headers=headers)
    return PlainTextResponse(message + "\n", status, headers=headers)


def _too_many(scope: Scope, wait: int) -> Response:
    return _json_or_text(scope, 429, f"too many failed attempts from this address: try again in {wait} s",
                         {"Retry-After": str(wait)})


# --------------------------------------------------------------------------- sign-in and sign-out


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host`` or ``https://host``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


def login_form(request: Request, *, error: str = "", name: str = "", next_path: str = "/",
               status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The sign-in page (``login.html``), with ``error`` above the form."""
    from veille.web.templating import render

    return render(request, "login.html", {"error": error, "name": name, "next_path": next_path}, status=status,
                  headers=headers)


async def login_page(request: Request) -> Response:
    return login_form(request, next_path=safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    """POST /login: name, password, csrf_token, next. Success: 303 to ``next``; failure: 401 and the form."""
    limiter: FailureLimiter = request.app.state.limiter
    ctx: Context = request.app.state.ctx
    async with request.form(max_files=0, max_fields=8, max_part_size=4096) as form:
        fields = {key: str(form.get(key) or "") for key in ("name", "password", CSRF_FIELD, "next")}
    next_path = safe_next(fields["next"])
    if not check_csrf(request, fields[CSRF_FIELD]):
        return login_form(request, error="The form expired: please sign in again.", name=fields["name"],
                          next_path=next_path, status=403)
    client = client_address(request.scope)
    wait = limiter.retry_after(client)
    if wait is not None:
        return login_form(request, error=f"Too many failed attempts: try again in {wait} s.", name=fields["name"],
                          next_path=next_path, status=429, headers={"Retry-After": str(wait)})
    user = await run_in_threadpool(accounts.verify_password, ctx.db, name=fields["name"],
                                   password=fields["password"])
    if user is None:
        limiter.fail(client)
        log.warning("sign-in refused", extra={"client": client})
        return login_form(request, error="Wrong name or password.", name=fields["name"], next_path=next_path,
                          status=401)
    sign_in(request, user)
    log.info("signed in", extra={"user": user.name, "client": client})
    return RedirectResponse(next_path, status_code=303)


async def logout(request: Request) -> Response:
    """POST /logout with the form's csrf_token: the session ends, 303 to /login."""
    async with request.form(max_files=0, max_fields=4, max_part_size=1024) as form:
        given = str(form.get(CSRF_FIELD) or "")
    if not check_csrf(request, given or None):
        return Response("missing or wrong CSRF token\n", 403, media_type="text/plain")
    sign_out(request)
    return RedirectResponse("/login", status_code=303)
