"""`veille extract`: files in any encoding and URLs through the workers' guarded fetch, in one process."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, HTTPFixture, Request, Route
from tests.helpers import veille

pytestmark = pytest.mark.usefixtures("veille_env")

KEYS = {"source", "url", "canonical_url", "title", "text", "published", "language", "author"}


def kyutai_html() -> str:
    return (FIXTURES / "kyutai-fr.html").read_text(encoding="utf-8")


def page(title: str, body: str, *, head: str = "", lang: str = "en") -> str:
    paragraphs = "".join(f"<p>{body} Paragraph {i} says a little more about it, in plain words.</p>" for i in range(4))
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><title>{title}</title>{head}</head><body>'
        f'<nav><a href="/">Home</a> <a href="/most-read">Most read: OpenAI hires again</a></nav>'
        f"<article><h1>{title}</h1>{paragraphs}</article>"
        f"<footer>© Example News. All rights reserved.</footer></body></html>"
    )


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("encoding", "declare"),
    [
        ("cp1252", "meta"),  # <meta http-equiv Content-Type> says iso-8859-1; bytes as browsers read that label
        ("utf-16", "bom"),  # Python writes a BOM; the <meta> (kept) would be wrong without it
        ("utf-8", "none"),  # no declaration at all: detected
    ],
)
def test_file_in_any_encoding(tmp_path: Path, encoding: str, declare: str) -> None:
    html = kyutai_html()
    if declare == "none":
        html = html.replace('<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">', "")
    path = tmp_path / f"kyutai-{encoding}.html"
    path.write_bytes(html.encode(encoding))
    result = veille("extract", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    [item] = lines(result.stdout)
    assert set(item) == KEYS
    assert item["source"] == str(path)
    assert item["url"] == path.resolve().as_uri()
    assert item["canonical_url"] == "https://journal-tech.example/ia/kyutai-premier-modele"
    assert item["title"] == "Kyutai, le laboratoire d’IA de Xavier Niel, dévoile son premier modèle"
    assert "Hervé Jégou" in item["text"] and "Bernhard Schölkopf" in item["text"]
    assert "Accueil" not in item["text"]  # the navigation is not article text
    assert item["published"] == "2026-11-20T08:30:00+00:00"
    assert item["language"] == "fr"


def test_many_inputs_in_one_process_failures_reported_others_printed(tmp_path: Path, web: HTTPFixture) -> None:
    web.routes["/a"] = Route(page("Kyutai opens a lab in Paris", "Kyutai is hiring researchers.").encode())
    web.routes["/old"] = Route(b"", status=301, headers={"Location": "/b?utm_source=x"})
    web.routes["/b"] = Route(page(
        "Mistral AI ships a model", "Mistral AI released weights today.",
        head='<link rel="canonical" href="https://news.example/mistral-model?utm_medium=feed">'
             '<meta property="article:published_time" content="2026-01-05T10:00:00+01:00">'
             '<meta name="author" content="Jeanne Martin">',
    ).encode("utf-8"))
    web.routes["/report.pdf"] = Route(b"%PDF-1.7 not a page", "application/pdf")
    local = tmp_path / "local.html"
    local.write_bytes(page("A local page", "Saved from a browser.").encode())
    sources = [web.url("/a"), str(local), web.url("/missing"), web.url("/old"), "nowhere.html",
               web.url("/report.pdf")]

    result = veille("extract", *sources, "--json")

    assert result.exit_code == 1
    items = lines(result.stdout)
    assert [item["source"] for item in items] == [web.url("/a"), str(local), web.url("/old")]  # order kept
    first, second, third = items
    assert "Kyutai is hiring researchers." in first["text"] and "Most read" not in first["text"]
    assert first["title"] == "Kyutai opens a lab in Paris"
    assert second["url"] == local.resolve().as_uri()
    assert third["url"] == web.url("/b?utm_source=x")  # the final URL, after the redirect
    assert third["canonical_url"] == "https://news.example/mistral-model"  # tracking parameter removed
    assert third["published"] == "2026-01-05T09:00:00+00:00"
    assert third["author"] == "Jeanne Martin"
    assert third["language"] == "en"
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3, result.stderr
    assert f"{web.url('/missing')}: HTTP 404" in result.stderr
    assert "cannot read nowhere.html: No such file or directory" in result.stderr
    assert "report.pdf: skipped: content type application/pdf is not HTML" in result.stderr


def test_urls_are_fetched_concurrently(web: HTTPFixture) -> None:
    in_flight = peak = 0
    lock = threading.Lock()

    def slow(request: Request) -> Route:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.3)
        with lock:
            in_flight -= 1
        return Route(page(f"Story {request.path}", "OpenAI and Anthropic both announced models.").encode())

    for i in range(4):
        web.routes[f"/s{i}"] = slow
    result = veille("extract", *(web.url(f"/s{i}") for i in range(4)), "--json")
    assert result.exit_code == 0, result.stderr
    assert [item["title"] for item in lines(result.stdout)] == [f"Story /s{i}" for i in range(4)]
    assert peak == 2  # fetched side by side, at most VEILLE_PER_HOST_CONCURRENCY (2) per host


def test_private_addresses_are_refused_unless_allowed(
    tmp_path: Path, web: HTTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    web.routes["/a"] = Route(page("Kyutai opens a lab", "Kyutai is hiring.").encode())
    local = tmp_path / "page.html"
    local.write_bytes(page("A saved page", "Saved earlier.").encode())
    monkeypatch.setenv("VEILLE_ALLOW_PRIVATE_ADDRESSES", "0")
    refused = veille("extract", web.url("/a"), str(local), "--json")
    assert refused.exit_code == 1
    assert "address guard: 127.0.0.1 is a loopback address" in refused.stderr
    assert "VEILLE_ALLOW_PRIVATE_ADDRESSES=1" in refused.stderr
    assert [item["source"] for item in lines(refused.stdout)] == [str(local)]
    assert web.hits("/a") == []  # the guard refuses before connecting

    monkeypatch.setenv("VEILLE_ALLOW_PRIVATE_ADDRESSES", "1")
    allowed = veille("extract", web.url("/a"), "--json")
    assert allowed.exit_code == 0 and lines(allowed.stdout)[0]["title"] == "Kyutai opens a lab"


def test_readable_output_without_json(tmp_path: Path) -> None:
    path = tmp_path / "kyutai.html"
    path.write_bytes(kyutai_html().encode("cp1252"))
    result = veille("extract", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"== {path}\n")
    assert "title:     Kyutai, le laboratoire d’IA de Xavier Niel, dévoile son premier modèle" in result.stdout
    assert "canonical: https://journal-tech.example/ia/kyutai-premier-modele" in result.stdout
    assert "language:  fr" in result.stdout
    assert "Hervé Jégou, l’un des cofondateurs" in result.stdout
    assert "{" not in result.stdout
