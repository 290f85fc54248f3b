"""The OpenAPI document of /api/v1 says what the server does: every route is in it, and schemathesis checks every
endpoint of a real `veille web` process (SQLite and PostgreSQL) against it: no server error, only documented
status codes and content types, answers that match their schemas."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import free_port
from tests.webserver import Web
from veille.web import api
from veille.web.openapi import OPERATIONS, document

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
# examples per endpoint, mode and database (about 15 s a database on 2 cores); more for a longer hunt:
# VEILLE_TEST_API_EXAMPLES=300 pytest --timeout 0 tests/test_openapi.py
EXAMPLES = int(os.environ.get("VEILLE_TEST_API_EXAMPLES", "15"))


def test_the_document_describes_every_route_and_only_them() -> None:
    """A route added without its description fails here (document() names it)."""
    routes = {(route.path, method.lower()) for route in api.ROUTES for method in route.methods or ()
              if method != "HEAD"}
    documented = {(path, method) for path, operations in document()["paths"].items() for method in operations}
    assert documented == routes
    assert {route.name for route in api.ROUTES} == set(OPERATIONS)


def test_the_document_is_valid_openapi_3_1() -> None:
    from openapi_spec_validator import validate

    validate(document())  # raises, saying where, on anything the OpenAPI 3.1 specification does not allow


def test_bodies_are_documented_as_the_server_checks_them() -> None:
    paths = document()["paths"]
    create = paths["/api/v1/entities"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(create["properties"]) == {*api.ENTITY_FIELDS, "backfill"} and create["required"] == ["name"]
    assert create["additionalProperties"] is False
    assert create["properties"]["query"]["type"] == ["string", "null"]  # null: no query
    assert create["properties"]["backfill"]["anyOf"][0]["type"] == "string"  # "7d", or a number of seconds
    change = paths["/api/v1/channels/{name}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert change["minProperties"] == 1 and "kind" not in change["properties"]
    assert {p["name"] for p in paths["/api/v1/matches"]["get"]["parameters"]} == {
        "entity", "feed", "since", "q", "limit", "offset"}
    assert set(paths["/api/v1/feeds/import"]["post"]["requestBody"]["content"]) >= {"text/x-opml"}


# --------------------------------------------------------------------------- schemathesis against the server

# Keep the fuzzing harmless: no URL it invents is ever fetched or posted to (a feed, a page, a webhook): each
# is replaced by a closed port on loopback before the request is sent, and the server's own clients go
# through a proxy on that closed port.
DEAD = f"http://127.0.0.1:{free_port()}/"
URLISH = re.compile(r"(?i)[a-z][a-z0-9+.-]*:[/\\][^\s\"'<>]*")


def _dead(found: re.Match[str]) -> str:
    try:
        urlsplit(found.group(0)).port  # noqa: B018  (a URL no client can read stays: its refusal is tested)
    except ValueError:
        return found.group(0)
    return DEAD


def harmless(value: Any) -> Any:
    if isinstance(value, str):
        return URLISH.sub(_dead, value)
    if isinstance(value, list):
        return [harmless(v) for v in value]
    if isinstance(value, dict):
        return {k: harmless(v) for k, v in value.items()}
    return value


@pytest.fixture
def live(make_web: Callable[..., Web]) -> tuple[Web, str]:
    proxy = {name: DEAD for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                                     "all_proxy")}
    web = make_web(VEILLE_HTTP_TIMEOUT="2", VEILLE_LOG_LEVEL="WARNING", NO_PROXY="", no_proxy="", **proxy)
    web.start()
    return web, web.token("schemathesis")


def test_every_endpoint_answers_as_documented(live: tuple[Web, str]) -> None:
    """Each endpoint, with bodies, paths and queries that fit the document and some that don't: no server error,
    and a documented status, content type and body every time. Failures are collected, then shown together."""
    web, token = live
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{web.url}/api/v1/openapi.json", headers=auth, timeout=20)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # every endpoint but the document itself (schemathesis leaves out the path it loaded the schema from)
    assert len(operations) == len(OPERATIONS) - 1
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                      phases=[Phase.generate])
            def run(case: schemathesis.Case) -> None:
                # the headers and cookies are the credentials' (ours): negative ones would only test uvicorn's
                # parser (a Content-Length of "@" is its 400) and the failed-attempt limit
                case.headers, case.cookies = {}, {}
                if case.body is not None:
                    case.body = harmless(case.body)
                if case.query:
                    case.query = harmless(case.query)
                case.call_and_validate(headers=auth, checks=CHECKS, timeout=30)

            try:
                run()
            except Exception as exc:  # a check failed: say which endpoint, which mode, and the case
                failures.append(f"{operation.label} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)


def test_the_document_is_served_to_clients_with_credentials_only(web_server: Web) -> None:
    token = web_server.token("docs")
    with web_server.client() as client:
        assert client.get("/api/v1/openapi.json").status_code == 401
        served = client.get("/api/v1/openapi.json", headers={"X-Auth-Token": token})
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert served.json() == document()


@pytest.fixture
def web_server(make_web: Callable[..., Web]) -> Web:
    return make_web().start()
