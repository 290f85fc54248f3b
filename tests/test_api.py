"""The JSON API, /api/v1, as a client meets it: `veille web` as a real process on a free port, httpx as the client,
loopback feeds, pages and a Slack-like receiver, `veille poll` to store articles, SQLite and (when
VEILLE_TEST_POSTGRES_URL is set) PostgreSQL. Every endpoint, every error code, and the promise of one set of
names: the command line's `--json` and the API give the same object."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema_rs import Draft202012Validator

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss
from tests.webserver import Web, sign_in
from veille.web import api
from veille.web.openapi import document


@pytest.fixture
def server(make_web: Callable[..., Web]) -> Web:
    return make_web().start()


def conforms(response: httpx.Response) -> None:
    """Every answer of the API in these tests is checked against the OpenAPI document: a documented status, its
    content type, a body that fits its schema (the fuzzing of tests/test_openapi.py seldom makes a match or
    an explanation; these scenarios do)."""
    request, path = response.request, response.request.url.path
    route = next((r for r in api.ROUTES if r.path_regex.match(path) and request.method in (r.methods or ())), None)
    operation = document()["paths"][route.path].get(request.method.lower()) if route is not None else None
    if operation is None:  # no such endpoint, a method it does not take, HEAD
        return
    answer = operation["responses"].get(str(response.status_code))
    assert answer is not None, f"{request.method} {path}: {response.status_code} is not documented"
    response.read()
    if "content" not in answer:
        assert response.content == b"", f"{request.method} {path}: {response.status_code} has a body"
        return
    media = response.headers["content-type"].split(";")[0]
    assert media in answer["content"], f"{request.method} {path}: {media} is not documented"
    if media == "application/json":
        schema = {"components": document()["components"], **answer["content"][media]["schema"]}
        errors = [f"{e.instance_path}: {e.message}" for e in Draft202012Validator(schema).iter_errors(response.json())]
        assert not errors, f"{request.method} {path} {response.status_code}: {errors[:5]}"


def api_client(server: Web, **kwargs: Any) -> httpx.Client:
    """A client of ``server`` whose every answer from the API is checked against the document."""
    return server.client(event_hooks={"response": [conforms]}, **kwargs)


@pytest.fixture
def client(server: Web) -> Iterator[httpx.Client]:
    with api_client(server, headers={"Authorization": f"Bearer {server.token('tests')}"}) as client:
        yield client


def cli_json(server: Web, *args: str) -> Any:
    done = server.veille(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def soon(seconds: float, moment: str | None) -> bool:
    """``moment`` is about ``seconds`` from now."""
    assert moment is not None
    delta = datetime.fromisoformat(moment) - datetime.now(UTC)
    return abs(delta.total_seconds() - seconds) < 120


# --------------------------------------------------------------------------- a newsroom's feed, its pages

FILLER = ("The laboratory said the system was trained over several months on its own computing cluster, and that "
          "the weights would be published under an open licence for researchers and companies alike.")


def page(title: str, text: str) -> bytes:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body>'
            f"<main><article><h1>{title}</h1><p>{text} {FILLER}</p><p>Readers were quick to comment on it, "
            f"and more is expected next week.</p></article></main></body></html>").encode()


PAGES = {
    "/news/1": ("Mistral AI releases a new LLM", "Mistral AI presented a large language model in Paris on Monday."),
    "/news/2": ("The mistral wind blows over Provence", "A strong mistral wind closed roads near Avignon."),
    "/news/3": ("Kyutai shows a speech model", "Kyutai presented a speech model that answers in real time."),
    "/news/4": ("Kyutai opens a robotics lab", "Kyutai said its robotics laboratory would hire twenty people."),
}


def newsroom(web: HTTPFixture) -> str:
    """A feed of four fresh items whose pages are served too; its URL."""
    for path, (title, text) in PAGES.items():
        web.routes[path] = Route(page(title, text), "text/html; charset=utf-8")
    items = [{"title": title, "link": web.url(path), "guid": path} for path, (title, _) in PAGES.items()]
    web.routes["/feed.xml"] = Route(rss(items, title="Lab News"), "application/rss+xml")
    web.routes["/slack"] = Route(b"ok", "text/plain")
    return web.url("/feed.xml")


def polled(server: Web, client: httpx.Client, web: HTTPFixture) -> dict[str, Any]:
    """Mistral AI (not the wind) and Kyutai tracked, the newsroom's feed added, a Slack channel, one poll."""
    research = client.post("/api/v1/channels", json={"kind": "slack", "target": web.url("/slack"), "name": "research"})
    assert research.status_code == 201, research.text
    mistral = client.post("/api/v1/entities", json={"name": "Mistral AI", "aliases": ["Mistral"],
                                                     "exclude": ["wind"], "to": ["research"]})
    kyutai = client.post("/api/v1/entities", json={"name": "Kyutai"})
    feed = client.post("/api/v1/feeds", json={"url": newsroom(web), "tags": ["labs"]})
    assert (mistral.status_code, kyutai.status_code, feed.status_code) == (201, 201, 201), feed.text
    done = server.veille("poll")
    assert done.returncode == 0, done.stderr
    return {"mistral": mistral.json(), "kyutai": kyutai.json(), "feed": feed.json()}


# --------------------------------------------------------------------------- entities


def test_an_entity_from_creation_to_removal(client: httpx.Client) -> None:
    made = client.post("/api/v1/entities", json={"name": "Mistral AI", "aliases": ["Mistral"],
                                                  "exclude": ["wind", "vent"], "require": ["AI", "LLM"]})
    assert made.status_code == 201
    entity = made.json()
    assert entity == {
        "id": entity["id"], "name": "Mistral AI", "aliases": ["Mistral"], "aliases_exact": [],
        "exclude": ["wind", "vent"], "require": ["AI", "LLM"], "query": None, "exact": False, "min_mentions": 1,
        "in_title": False, "to": [], "search": False, "lang": [], "paused": False, "paused_until": None, "matches": 0,
    }
    url = f"/api/v1/entities/{entity['id']}"
    assert client.get(url).json() == entity
    assert client.get("/api/v1/entities").json() == [entity]

    changed = client.patch(url, json={"aliases": ["Mistral", "MistralAI"], "in_title": True, "min_mentions": 2})
    assert changed.status_code == 200
    assert changed.json() == {**entity, "aliases": ["Mistral", "MistralAI"], "in_title": True, "min_mentions": 2}
    cleared = client.patch(url, json={"require": [], "query": None})
    assert cleared.json()["require"] == [] and cleared.json()["id"] == entity["id"]

    paused = client.post(f"{url}/pause", json={"for": "7d"})
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert soon(7 * 86400, paused.json()["paused_until"])
    assert soon(3600, client.post(f"{url}/pause", json={"for": 3600}).json()["paused_until"])  # seconds
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    assert client.post(f"{url}/pause", json={"until": until}).json()["paused_until"] == f"{until}T00:00:00+00:00"
    forever = client.post(f"{url}/pause")  # no body: until resumed
    assert forever.json()["paused"] is True and forever.json()["paused_until"] is None
    resumed = client.post(f"{url}/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False

    assert client.delete(url).status_code == 204
    gone = client.get(url)
    assert gone.status_code == 404 and gone.json() == {"error": f"no entity {entity['id']}"}
    assert client.get("/api/v1/entities").json() == []


def test_a_query_error_is_the_one_the_command_line_prints(server: Web, client: httpx.Client) -> None:
    refused = client.post("/api/v1/entities", json={"name": "X", "query": '"a" OR'})
    assert refused.status_code == 422
    assert refused.json() == {"error": "OR needs a word or phrase after it (at position 4)", "field": "query"}
    cli = server.veille("track", "add", "X", "--query", '"a" OR')
    assert cli.returncode == 2
    assert cli.stderr == f"error: --{refused.json()['field']}: {refused.json()['error']}\n"
    # an edit is checked the same way, and changes nothing when refused
    made = client.post("/api/v1/entities", json={"name": "Kyutai"}).json()
    assert client.patch(f"/api/v1/entities/{made['id']}", json={"query": "(Kyutai"}).json() == {
        "error": "'(' is never closed (at position 0)", "field": "query"}
    assert client.get(f"/api/v1/entities/{made['id']}").json() == made


# --------------------------------------------------------------------------- stored articles: matches, tests, explain


def test_matches_definitions_and_explanations_over_stored_articles(server: Web, client: httpx.Client,
                                                                   web: HTTPFixture, tmp_path: Path) -> None:
    setup = polled(server, client, web)
    feed_id, mistral, kyutai = setup["feed"]["id"], setup["mistral"], setup["kyutai"]

    everything = client.get("/api/v1/matches")
    assert everything.status_code == 200
    page_ = everything.json()
    assert page_["total"] == 3  # Mistral AI once (the wind is vetoed), Kyutai twice
    assert sorted(m["url"].rsplit("/", 1)[-1] for m in page_["items"]) == ["1", "3", "4"]
    first = next(m for m in page_["items"] if m["url"].endswith("/news/1"))
    assert first["entity"] == "Mistral AI" and first["feed"] == "Lab News" and first["alerted"] is True
    assert [(a["channel"], a["status"]) for a in first["alerts"]] == [("research", "sent")]  # the poll delivered

    def urls(**params: Any) -> tuple[int, list[str]]:
        answer = client.get("/api/v1/matches", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()["total"], [m["url"].rsplit("/", 1)[-1] for m in answer.json()["items"]]

    assert urls(entity="kyutai")[0] == 2  # a name, folded as names are
    assert urls(entity="Mistral AI") == (1, ["1"])
    assert urls(feed=str(feed_id))[0] == 3 and urls(feed=setup["feed"]["url"])[0] == 3
    assert urls(since="1h")[0] == 3 and urls(since="3600")[0] == 3
    assert urls(q="robotics laboratory") == (1, ["4"])  # full text: every word, in the title or the text
    assert urls(q="Provence") == (0, [])  # stored, but it matched nothing
    total, one = urls(limit=1, offset=1)
    assert total == 3 and len(one) == 1 and one[0] == urls()[1][1]  # the second, newest first
    assert client.get("/api/v1/matches", params={"entity": "Nobody"}).json() == {
        "error": "not tracked: Nobody (see `veille track list`)"}
    assert client.get("/api/v1/matches", params={"limit": "0"}).status_code == 422
    assert client.get("/api/v1/matches", params={"since": "soon"}).json()["field"] == "since"

    # a match is the object `veille matches --json` prints
    assert cli_json(server, "matches") == page_["items"]

    # a definition tested against the stored articles: what `veille track test --json` prints, and the vetoed
    tested = client.post("/api/v1/entities/test", json={"name": "Mistral", "exclude": ["wind"], "since": "7d"})
    assert tested.status_code == 200, tested.text
    result = tested.json()
    assert result["label"] == "definition" and result["definition"] == "Mistral -wind"
    assert result["since"] == 7 * 86400
    assert [m["url"] for m in result["matches"]] == [web.url("/news/1")]
    assert [(v["url"], v["vetoed"]) for v in result["vetoed"]] == [(web.url("/news/2"), 'excluded by "wind"')]
    assert cli_json(server, "track", "test", "Mistral", "--exclude", "wind", "--since", "7d") == result["matches"]
    saved = client.post("/api/v1/entities/test", json={"name": "Kyutai"}).json()  # a tracked name: its definition
    assert saved["label"] == "saved definition" and len(saved["matches"]) == 2

    # explain, by URL (fetched; veille has stored the page) and by HTML (nothing fetched)
    by_url = client.post("/api/v1/explain", json={"url": web.url("/news/2")})
    assert by_url.status_code == 200, by_url.text
    explained = by_url.json()
    assert explained["title"] == "The mistral wind blows over Provence" and explained["matches"] == []
    assert [(v["entity"], v["reason"]) for v in explained["vetoed"]] == [("Mistral AI", 'excluded by "wind"')]
    assert cli_json(server, "explain", web.url("/news/2")) == explained
    stored = client.post("/api/v1/explain", json={"url": web.url("/news/3"), "entity": "Kyutai"}).json()
    assert stored["matches"][0]["stored"] == {"alerted": True, "reason": None, "where": ["title", "text"]}
    html = page("A profile of Kyutai", "Kyutai, the Paris laboratory, was founded in 2023.")
    file = tmp_path / "profile.html"
    file.write_bytes(html)
    by_html = client.post("/api/v1/explain", json={"url": file.resolve().as_uri(), "html": html.decode()})
    assert by_html.status_code == 200 and by_html.json()["matches"][0]["entity"] == "Kyutai"
    assert cli_json(server, "explain", str(file)) == by_html.json()
    unknown = client.post("/api/v1/explain", json={"url": web.url("/news/3"), "entity": "Nobody"})
    assert unknown.status_code == 404

    # the same names on every face: an entity, a feed, a channel, the status
    listed = {e["name"]: e for e in cli_json(server, "track", "list")}
    assert client.get(f"/api/v1/entities/{mistral['id']}").json() == listed["Mistral AI"]
    assert client.get(f"/api/v1/entities/{kyutai['id']}").json() == listed["Kyutai"]
    assert listed["Kyutai"]["matches"] == 2
    assert [client.get(f"/api/v1/feeds/{feed_id}").json()] == cli_json(server, "feeds", "list")
    assert [client.get("/api/v1/channels/research").json()] == cli_json(server, "channels", "list")
    assert client.get("/api/v1/status").json() == cli_json(server, "status")


def test_status_says_what_the_command_line_says(server: Web, client: httpx.Client, web: HTTPFixture) -> None:
    web.routes["/gone.xml"] = Route(b"gone", "text/plain", 404)
    client.post("/api/v1/feeds", json={"url": web.url("/gone.xml"), "force": True})
    assert server.veille("poll").returncode == 0
    status = client.get("/api/v1/status")
    assert status.status_code == 200
    report = status.json()
    assert report["service"]["running"] is False and report["service"]["state"] == "never started"
    assert report["feeds"][0]["last_status"] == "error" and report["feeds"][0]["failures"] == 1
    assert report["entities"] == 0 and report["alerts"] == {"pending": 0, "failed": 0, "sent": 0}
    assert report == cli_json(server, "status")


# --------------------------------------------------------------------------- feeds


def test_a_feed_added_found_exported_imported_changed_paused_and_removed(server: Web, client: httpx.Client,
                                                                         web: HTTPFixture) -> None:
    url = newsroom(web)
    added = client.post("/api/v1/feeds", json={"url": url, "every": "10m", "tags": ["labs", "fr"], "backfill": "2d"})
    assert added.status_code == 201, added.text
    feed = added.json()
    assert (feed["url"], feed["title"], feed["tags"]) == (url, "Lab News", ["labs", "fr"])
    assert (feed["interval"], feed["interval_fixed"], feed["every"], feed["backfill"]) == (600, True, "10m", 172800)
    assert feed["paused"] is False and feed["last_status"] is None and "warning" not in feed
    again = client.post("/api/v1/feeds", json={"url": url})
    assert again.status_code == 409 and again.json() == {"error": f"feed already added (id {feed['id']}): {url}"}
    assert client.get(f"/api/v1/feeds/{feed['id']}").json() == feed
    assert client.get("/api/v1/feeds").json() == [feed]
    # a URL that gives no feed: refused with why, unless forced
    web.routes["/down.xml"] = Route(b"down", "text/plain", 503)
    down = client.post("/api/v1/feeds", json={"url": web.url("/down.xml")})
    assert down.status_code == 422 and "503" in down.json()["error"]
    forced = client.post("/api/v1/feeds", json={"url": web.url("/down.xml"), "force": True})
    assert forced.status_code == 201 and "503" in forced.json()["warning"]

    # a page that names two feeds: both found, nothing stored
    web.routes["/other.xml"] = Route(rss([{"title": "x", "link": web.url("/x")}], title="Other"),
                                     "application/rss+xml")
    web.routes["/home"] = Route(
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml" title="News">'
        b'<link rel="alternate" type="application/rss+xml" href="/other.xml" title="Other"></head><body></body></html>')
    found = client.post("/api/v1/feeds/discover", json={"url": web.url("/home")})
    assert found.status_code == 200
    assert found.json() == {"url": web.url("/home"), "error": None, "feeds": [
        {"url": url, "title": "Lab News", "entries": 4, "how": "link", "known": feed["id"]},
        {"url": web.url("/other.xml"), "title": "Other", "entries": 1, "how": "link", "known": None}]}
    assert len(client.get("/api/v1/feeds").json()) == 2

    # OPML out and in: the file restores what was set
    exported = client.get("/api/v1/feeds/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/x-opml")
    def undated(opml: str) -> str:
        return re.sub(r"<dateCreated>[^<]*</dateCreated>", "", opml)

    assert undated(exported.text) == undated(server.veille("feeds", "export").stdout)
    assert url in exported.text and 'text="labs"' in exported.text
    assert client.delete(f"/api/v1/feeds/{feed['id']}").status_code == 204
    assert client.get(f"/api/v1/feeds/{feed['id']}").status_code == 404
    imported = client.post("/api/v1/feeds/import", content=exported.content,
                           headers={"Content-Type": "text/x-opml"})
    assert imported.status_code == 200 and imported.json() == {"added": 1, "skipped": 1, "invalid": [],
                                                               "refused": []}
    restored = next(f for f in client.get("/api/v1/feeds").json() if f["url"] == url)
    assert (sorted(restored["tags"]), restored["every"], restored["backfill"]) == (["fr", "labs"], "10m", 172800)
    bad = client.post("/api/v1/feeds/import", content=b"<opml", headers={"Content-Type": "text/x-opml"})
    assert bad.status_code == 422 and "nothing was imported" in bad.json()["error"]

    # changed, paused, resumed, removed
    path = f"/api/v1/feeds/{restored['id']}"
    changed = client.patch(path, json={"title": "Lab News (FR)", "tags": ["ai"], "every": 1800})
    assert changed.status_code == 200
    assert (changed.json()["title"], changed.json()["tags"], changed.json()["every"]) == ("Lab News (FR)", ["ai"],
                                                                                            "30m")
    adaptive = client.patch(path, json={"every": None}).json()
    assert adaptive["interval_fixed"] is False and adaptive["every"] is None and adaptive["interval_mode"] == "adaptive"
    assert client.patch(path, json={"feed_text": "sometimes"}).json() == {
        "error": "must be auto, always or never", "field": "feed_text"}
    assert client.patch(path, json={}).status_code == 422
    paused = client.post(f"{path}/pause", json={"for": "2h"}).json()
    assert paused["paused"] is True and paused["enabled"] is False and soon(7200, paused["paused_until"])
    resumed = client.post(f"{path}/resume").json()
    assert resumed["paused"] is False and soon(0, resumed["next_poll"])  # polled at once
    assert client.delete(path).status_code == 204
    assert [f["url"] for f in client.get("/api/v1/feeds").json()] == [web.url("/down.xml")]


# --------------------------------------------------------------------------- channels


def test_a_channel_added_renamed_tested_paused_and_removed(client: httpx.Client, web: HTTPFixture) -> None:
    web.routes["/slack"] = Route(b"ok", "text/plain")
    made = client.post("/api/v1/channels", json={"kind": "slack", "target": web.url("/slack/T000/B000/secret"),
                                                  "name": "research"})
    assert made.status_code == 201, made.text
    channel = made.json()
    assert channel == {
        "id": channel["id"], "name": "research", "kind": "slack", "target": f"http://127.0.0.1:{web.port}/…",
        "enabled": True, "paused": False, "paused_until": None, "admin": False, "delivery": "immediate",
        "next_digest": None, "state": "ok", "last_error": None, "since": channel["since"], "retry_after_until": None,
    }  # the target's path is its secret: never shown
    assert client.post("/api/v1/channels", json={"kind": "slack", "target": web.url("/slack"),
                                                  "name": "research"}).status_code == 409
    assert client.post("/api/v1/channels", json={"kind": "pigeon", "target": "x"}).status_code == 422
    routed = client.post("/api/v1/entities", json={"name": "Kyutai", "to": ["research"]}).json()

    renamed = client.patch("/api/v1/channels/research", json={"name": "newsroom", "digest": "daily@08:00",
                                                                "tz": "Europe/Paris"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "newsroom" and renamed.json()["delivery"] == "daily@08:00 Europe/Paris"
    assert client.get(f"/api/v1/entities/{routed['id']}").json()["to"] == ["newsroom"]  # the entity follows
    assert client.get("/api/v1/channels/research").status_code == 404
    assert client.patch("/api/v1/channels/newsroom", json={"digest": None}).json()["delivery"] == "immediate"
    assert client.patch("/api/v1/channels/newsroom", json={"digest": "daily@08:00", "tz": "Mars/Olympus"}).json() == {
        "error": "unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Paris)", "field": "tz"}

    web.routes["/slack/T000/B000/secret"] = Route(b"ok", "text/plain")
    tested = client.post("/api/v1/channels/newsroom/test")
    assert tested.status_code == 200 and tested.json() == {"name": "newsroom", "ok": True, "error": None}
    posted = web.hits("/slack/T000/B000/secret", "POST")
    assert len(posted) == 1 and "Kyutai" in posted[0].body.decode()
    web.routes["/slack/T000/B000/secret"] = Route(b"invalid_token", "text/plain", 403)
    failed = client.post("/api/v1/channels/newsroom/test").json()
    assert failed["ok"] is False and "403" in failed["error"] and "secret" not in failed["error"]
    assert client.get("/api/v1/channels/newsroom").json()["state"] == "failing"

    paused = client.post("/api/v1/channels/newsroom/pause", json={"for": "1h"})
    assert paused.status_code == 200 and paused.json()["paused"] is True and soon(3600, paused.json()["paused_until"])
    assert client.post("/api/v1/channels/newsroom/resume").json()["paused"] is False
    assert [c["name"] for c in client.get("/api/v1/channels").json()] == ["newsroom"]
    assert client.delete("/api/v1/channels/newsroom").status_code == 204
    assert client.get("/api/v1/channels").json() == []
    assert client.get(f"/api/v1/entities/{routed['id']}").json()["to"] == []  # routed to every channel again
    assert client.delete("/api/v1/channels/newsroom").status_code == 404


# --------------------------------------------------------------------------- backups


def test_an_export_imports_back_to_the_same_configuration(client: httpx.Client, web: HTTPFixture) -> None:
    web.routes["/slack"] = Route(b"ok", "text/plain")
    client.post("/api/v1/channels", json={"kind": "webhook", "target": web.url("/hook"), "name": "ops",
                                          "secret": "s3cret"})
    client.post("/api/v1/feeds", json={"url": newsroom(web), "every": "15m", "tags": ["labs"]})
    made = client.post("/api/v1/entities", json={"name": "Mistral AI", "exclude": ["wind"], "to": ["ops"]}).json()
    client.post(f"/api/v1/entities/{made['id']}/pause", json={"until": "2099-01-01"})
    exported = client.get("/api/v1/export")
    assert exported.status_code == 200 and "veille-backup.json" in exported.headers["content-disposition"]
    backup = exported.json()
    assert backup["format"] == "veille-backup" and backup["version"] == 2
    assert backup["channels"][0]["secret"] == "s3cret"
    assert backup["entities"][0]["paused_until"] == "2099-01-01T00:00:00+00:00"

    # everything removed, then imported back: the same configuration
    client.delete(f"/api/v1/entities/{made['id']}")
    client.delete(f"/api/v1/feeds/{client.get('/api/v1/feeds').json()[0]['id']}")
    client.delete("/api/v1/channels/ops")
    imported = client.post("/api/v1/import", content=exported.content, headers={"Content-Type": "application/json"})
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"added": {"feeds": 1, "entities": 1, "channels": 1},
                               "skipped": {"feeds": 0, "entities": 0, "channels": 0}, "refused": []}
    again = client.get("/api/v1/export").json()
    assert {**again, "exported_at": None} == {**backup, "exported_at": None}
    # importing it twice adds nothing
    assert client.post("/api/v1/import", content=exported.content).json()["skipped"] == {
        "feeds": 1, "entities": 1, "channels": 1}
    # a bad file changes nothing, and says where it is wrong
    broken = {**backup, "entities": [{**backup["entities"][0], "name": "Other", "query": "(x"}]}
    refused = client.post("/api/v1/import", json=broken)
    assert refused.status_code == 422 and refused.json()["error"].startswith("entities[0].options.query:")
    assert client.post("/api/v1/import", content=b"{not json").status_code == 400


# --------------------------------------------------------------------------- errors


def test_every_error_code(server: Web, client: httpx.Client) -> None:
    token = client.headers["authorization"]
    # 400: not JSON, or not an object
    for body in (b"{not json", b"[1, 2]", b"NaN"):
        unreadable = client.post("/api/v1/entities", content=body, headers={"Content-Type": "application/json"})
        assert unreadable.status_code == 400 and "error" in unreadable.json() and "field" not in unreadable.json()
    # 401: no credentials, a wrong token
    with api_client(server) as anonymous:
        assert anonymous.get("/api/v1/entities").status_code == 401
    wrong = client.get("/api/v1/entities", headers={"Authorization": "Bearer " + "x" * 43})
    assert wrong.status_code == 401 and wrong.json() == {"error": "invalid or revoked token"}
    # 404: no such object, no such endpoint
    assert client.get("/api/v1/entities/4242").json() == {"error": "no entity 4242"}
    assert client.get("/api/v1/entities/99999999999999999999").status_code == 404
    assert client.get("/api/v1/feeds/4242").status_code == 404
    assert client.get("/api/v1/channels/nope").json() == {
        "error": "no channel named 'nope' (see `veille channels list`)"}
    assert client.get("/api/v1/nowhere").json() == {"error": "no such endpoint"}
    # 409: already there, whatever the case
    assert client.post("/api/v1/entities", json={"name": "Kyutai"}).status_code == 201
    conflict = client.post("/api/v1/entities", json={"name": "KYUTAI"})
    assert conflict.status_code == 409 and conflict.json() == {"error": "already tracked: KYUTAI"}
    # 413: a 10 MB body, refused before it is read
    big = client.post("/api/v1/entities", content=b"x" * 10_000_000, headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and big.json() == {"error": "request body over the 4194304-byte cap"}
    # 422: the field at fault, and why
    for body, field, message in (
        ({"name": "Mistral", "alias": ["x"]}, "alias", "unknown field (this endpoint takes name, aliases, "
         "aliases_exact, exclude, require, query, exact, min_mentions, in_title, to, search, lang, backfill)"),
        ({"aliases": ["x"]}, "name", "required"),
        ({"name": 42}, "name", "expected a string"),
        ({"name": "Mistral", "aliases": None}, "aliases", "expected a list of strings, not null"),
        ({"name": "Mistral", "min_mentions": 0}, "min_mentions", "must be 1 or more"),
        ({"name": "Mistral", "backfill": "soon"}, "backfill", "not a duration: 'soon' (use e.g. 30s, 15m, 1h, 7d)"),
        ({"name": "Mistral", "to": ["nowhere"]}, "to", "no channel named 'nowhere' (see `veille channels list`)"),
        ({"name": "Mist\u0000ral"}, "name", "must not contain NUL characters"),
    ):
        invalid = client.post("/api/v1/entities", json=body)
        assert invalid.status_code == 422 and invalid.json() == {"error": message, "field": field}, body
    assert client.post("/api/v1/entities", json={"name": "!!!"}).json() == {
        "error": "the name must contain letters or digits"}
    assert client.post("/api/v1/entities", json={"name": "x" * 513}).status_code == 422
    assert client.get("/api/v1/entities").json()[0]["name"] == "Kyutai"  # nothing else was stored
    # 403: signed in with the session cookie, a change without the X-CSRF-Token header
    assert server.veille("users", "add", "alice", "--password-stdin", input="correct horse\n").returncode == 0
    with api_client(server) as browser:
        assert sign_in(browser, "alice", "correct horse").status_code == 303
        assert browser.get("/api/v1/entities").status_code == 200  # reading needs no CSRF token
        forged = browser.post("/api/v1/entities", json={"name": "Mistral"})
        assert forged.status_code == 403 and forged.json() == {"error": "missing or wrong X-CSRF-Token header"}
    # 429: more than 5 failed attempts in a minute from one address (the wrong token above was the first);
    # Retry-After says how long to wait
    with api_client(server) as stranger:
        codes = [stranger.get("/api/v1/entities", headers={"X-Auth-Token": f"bad-{i}"}).status_code for i in range(5)]
        assert codes == [401] * 4 + [429]
        held = stranger.get("/api/v1/entities", headers={"Authorization": token})
        assert held.status_code == 429 and 50 <= int(held.headers["retry-after"]) <= 60
        assert held.json()["error"].startswith("too many failed attempts from this address")


def test_what_no_parser_or_database_can_take_is_refused_never_a_crash(client: httpx.Client) -> None:
    """Each of these was a 500 (a ValueError from urlsplit, a database refusing a NUL character or a value too
    long for its column, an overflow): now a 4xx that says what is wrong, and nothing stored."""
    broken = "http://[::1"  # urlsplit: Invalid IPv6 URL
    for path in ("/api/v1/feeds", "/api/v1/feeds/discover", "/api/v1/explain"):
        refused = client.post(path, json={"url": broken})
        assert refused.status_code == 422, (path, refused.text)
        assert refused.json() == {"error": f"not a URL: {broken} (Invalid IPv6 URL)", "field": "url"}
    opml = f'<opml version="2.0"><body><outline type="rss" xmlUrl="{broken}" text="x"/></body></opml>'
    assert client.post("/api/v1/feeds/import", content=opml).json() == {
        "added": 0, "skipped": 0, "invalid": [broken], "refused": []}
    backup = {"format": "veille-backup", "version": 2, "feeds": [{"url": broken, "interval": 600}]}
    assert client.post("/api/v1/import", json=backup).json() == {
        "error": f"feeds[0].url: not a URL: {broken} (Invalid IPv6 URL)"}
    for part, error in (
        ({"entities": [{"name": "Kyutai", "aliases": ["Kyu\u0000tai"]}]},
         "entities[0].aliases[0]: a NUL character can't be stored"),
        ({"channels": [{"name": "x" * 129, "kind": "log", "target": "log"}]},
         "channels[0].name: too long (at most 128 characters)"),
        ({"feeds": [{"url": "https://example.org/" + "x" * 2048, "interval": 600}]},
         "feeds[0].url: too long (at most 2048 characters)"),
    ):
        refused = client.post("/api/v1/import", json={"format": "veille-backup", "version": 2, **part})
        assert refused.status_code == 422 and refused.json() == {"error": error}
    too_long = [
        ("/api/v1/entities", {"name": "K" * 513}, "name", "too long (at most 512 characters)"),
        ("/api/v1/channels", {"kind": "webhook", "target": "http://127.0.0.1:9/", "name": "c" * 129}, "name",
         "too long (at most 128 characters)"),
        ("/api/v1/channels", {"kind": "webhook", "target": "http://127.0.0.1:9/" + "x" * 2048}, "target",
         "too long (at most 2048 characters)"),
        ("/api/v1/feeds", {"url": "http://127.0.0.1:9/" + "x" * 2048}, "url", "too long (at most 2048 characters)"),
        ("/api/v1/entities", {"name": "Kyutai", "backfill": 1e300}, "backfill", "too long (at most 100 years)"),
        ("/api/v1/entities", {"name": "Kyutai", "aliases": ["\ud800"]}, "aliases",
         "must be valid Unicode (a lone surrogate can't be stored)"),
    ]
    for path, body, field, error in too_long:
        refused = client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert refused.status_code == 422 and refused.json() == {"error": error, "field": field}, body
    made = client.post("/api/v1/entities", json={"name": "Kyutai"}).json()
    assert client.post(f"/api/v1/entities/{made['id']}/pause", json={"for": "99999999999d"}).json() == {
        "error": "too long (at most 100 years)", "field": "for"}
    assert client.post(f"/api/v1/entities/{made['id']}/pause", json={"until": "9999-12-31T23:00-05:00"}).json() == {
        "error": "out of range: '9999-12-31T23:00-05:00'", "field": "until"}
    for path in ("/api/v1/entities/99999999999", "/api/v1/feeds/99999999999", "/api/v1/feeds/00000000000000000001"):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/v1/matches", params={"feed": "99999999999"}).status_code == 404
    assert client.get("/api/v1/matches", params={"q": "a\x00b"}).json() == {
        "error": "must not contain NUL characters", "field": "q"}
    assert client.get("/api/v1/matches", params={"limit": "²"}).json()["field"] == "limit"
    assert client.post("/api/v1/entities", json={"name": "X", "query": "(" * 40 + "x" + ")" * 40}).json() == {
        "error": "too many nested parentheses (at most 32) (at position 32)", "field": "query"}
    assert [e["name"] for e in client.get("/api/v1/entities").json()] == ["Kyutai"]
    assert client.get("/api/v1/feeds").json() == [] and client.get("/api/v1/channels").json() == []


def test_every_api_path_needs_credentials(server: Web) -> None:
    with api_client(server) as anonymous:
        for route in api.ROUTES:
            path = route.path.replace("{id}", "1").replace("{name}", "research")
            for method in route.methods or ():
                refused = anonymous.request(method, path, json={} if method in ("POST", "PATCH") else None)
                assert refused.status_code == 401, (method, path)
                if method != "HEAD":
                    assert refused.json()["error"].startswith("authentication required"), (method, path)


def test_a_revoked_token_is_refused_by_the_next_request(server: Web) -> None:
    token = server.token("script")
    with api_client(server, headers={"X-Auth-Token": token}) as script:
        assert script.post("/api/v1/entities", json={"name": "Kyutai"}).status_code == 201
        assert server.veille("tokens", "revoke", "script").returncode == 0
        refused = script.post("/api/v1/entities", json={"name": "Mistral"})
        assert refused.status_code == 401 and refused.json() == {"error": "invalid or revoked token"}
        assert script.get("/api/v1/entities").status_code == 401


def test_two_clients_creating_the_same_entity_at_once_get_one_201_and_one_409(server: Web) -> None:
    token = server.token("race")
    clients = [api_client(server, headers={"Authorization": f"Bearer {token}"}) for _ in range(2)]
    try:
        for round_ in range(8):
            name = f"Entity {round_}"
            start = threading.Barrier(2)
            answers: list[httpx.Response] = []

            def create(client: httpx.Client, name: str = name, start: threading.Barrier = start,
                       answers: list[httpx.Response] = answers) -> None:
                start.wait()
                answers.append(client.post("/api/v1/entities", json={"name": name}))

            threads = [threading.Thread(target=create, args=(c,)) for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
            assert next(a for a in answers if a.status_code == 409).json() == {"error": f"already tracked: {name}"}
        assert [e["name"] for e in clients[0].get("/api/v1/entities").json()] == [f"Entity {i}" for i in range(8)]
    finally:
        for client in clients:
            client.close()
