"""Forms of the web page: read with their CSRF token checked, and the operations layer's refusals turned
into messages next to their fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from veille.manage import InvalidError, OperationError
from veille.web import auth

MAX_FIELDS = 200
MAX_PART = 64 * 1024


async def read_form(request: Request, *, files: int = 0) -> FormData:
    """The posted form, after its ``csrf_token`` field (or ``X-CSRF-Token`` header, sent by htmx) was checked:
    a POST without the session's token is refused with 403."""
    form = await request.form(max_files=files, max_fields=MAX_FIELDS, max_part_size=MAX_PART)
    token = form.get(auth.CSRF_FIELD)
    if not auth.check_csrf(request, str(token) if isinstance(token, str) else None):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    return form


def values(form: FormData, name: str) -> list[str]:
    """Every value of a field that may repeat (or one per line of a textarea), stripped, empty ones dropped."""
    found: list[str] = []
    for value in form.getlist(name):
        if isinstance(value, str):
            found += [line.strip() for line in value.splitlines() if line.strip()]
    return found


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def checked(form: FormData, name: str) -> bool:
    return text(form, name) in ("on", "true", "1", "yes")


@dataclass
class Errors:
    """Messages by field (``""``: about the whole form), for the template's ``errors.get(name)``."""

    by_field: dict[str, str] = field(default_factory=dict)

    def add(self, error: OperationError, *, fields: Mapping[str, str] | None = None) -> None:
        """The refusal's message, under its field (``fields`` maps the operation's field names to the form's)."""
        name = error.field if isinstance(error, InvalidError) and error.field else ""
        name = (fields or {}).get(name, name)
        self.by_field[name] = str(error)

    def get(self, name: str) -> str | None:
        return self.by_field.get(name)

    def __bool__(self) -> bool:
        return bool(self.by_field)
