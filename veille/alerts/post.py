"""One JSON POST to an operator's endpoint, and what its answer means (shared by Slack and webhook).

Status handling, healthchecks.io style:
    2xx                      delivered
    408, 429, 503            transient, ``retry_after`` from the Retry-After header
    other 5xx                transient
    timeouts, connect errors transient
    3xx                      permanent: the client does not follow redirects, the URL must be fixed
    404, 410                 permanent: the endpoint is gone
    other 4xx                permanent (``hints`` may explain a known response body)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from veille.alerts.base import AlertError
from veille.alerts.render import one_line, truncate
from veille.http import describe, make_sync_client, parse_retry_after
from veille.settings import Settings

MAX_ERROR_BODY = 4096

for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        # httpx logs every request's full URL at INFO, and a webhook URL is a credential (Slack's token)
        logging.getLogger(_name).setLevel(logging.WARNING)


def post(
    settings: Settings,
    url: str,
    content: bytes,
    *,
    kind: str,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    hints: Mapping[str, str] | None = None,
) -> None:
    """POST ``content`` as JSON to ``url``; return on 2xx, else raise AlertError."""
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        with (
            make_sync_client(settings, timeout=timeout) as client,
            client.stream("POST", url, content=content, headers=all_headers) as response,
        ):
            if response.is_success:
                return
            body = _read_some(response)
            raise response_error(kind, response.status_code, response.headers, body, hints=hints)
    except httpx.TimeoutException as exc:
        raise AlertError(f"{kind}: timed out ({type(exc).__name__}) posting to {_host(url)}") from exc
    except httpx.ConnectError as exc:
        raise AlertError(f"{kind}: cannot connect to {_host(url)}: {describe(exc)}") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise AlertError(f"{kind}: invalid URL: {describe(exc)}", permanent=True) from exc
    except httpx.HTTPError as exc:
        raise AlertError(f"{kind}: {type(exc).__name__} posting to {_host(url)}: {describe(exc)}") from exc


def response_error(
    kind: str,
    status: int,
    headers: httpx.Headers,
    body: str,
    *,
    hints: Mapping[str, str] | None = None,
) -> AlertError:
    """The AlertError a non-2xx answer means (see the module docstring)."""
    code = body.strip()
    excerpt = truncate(one_line(body), 200)
    said = f"HTTP {status}" + (f" {excerpt!r}" if excerpt else "")
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if status in (408, 429) or status >= 500:
        return AlertError(f"{kind}: {said}; will retry", retry_after=retry_after)
    if hints and code in hints:
        return AlertError(f"{kind}: {said}: {hints[code]}", permanent=True)
    if 300 <= status < 400:
        location = headers.get("Location", "")
        target = f" to {location}" if location else ""
        return AlertError(f"{kind}: {said}: the URL redirects{target}; use the final URL", permanent=True)
    if status in (404, 410):
        return AlertError(f"{kind}: {said}: the URL is gone; check or replace it", permanent=True)
    return AlertError(f"{kind}: {said}: the endpoint refused the message", permanent=True)


def _read_some(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ERROR_BODY:
            break
    return b"".join(chunks)[:MAX_ERROR_BODY].decode("utf-8", errors="replace")


def _host(url: str) -> str:
    """The URL's host only: webhook paths carry secrets (Slack's token) and must not reach logs."""
    return urlsplit(url).hostname or "the endpoint"
