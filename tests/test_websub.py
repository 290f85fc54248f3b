"""WebSub: a real hub on loopback, veille's real callback server, real SQLite and PostgreSQL.

The hub is a small HTTP server: it records subscription requests, answers 202, then verifies against veille's
callback (as hubs do, after answering) and, when the test says so, pushes signed content."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from tests.conftest import HTTPFixture, Route, free_port
from tests.helpers import veille
from veille import pipeline, websub
from veille.feeds.parse import link_header, parse_feed
from veille.pipeline.context import Context
from veille.settings import Settings, SettingsError, get_settings
from veille.storage.models import Article, Entry, Feed, WebSubSubscription, utcnow
from veille.web.app import create_app
from veille.web.server import make_config
from veille.websub.push import signature_ok

VEILLE = str(Path(sys.executable).with_name("veille"))
LEASE = 864000


# --------------------------------------------------------------------------- a hub


@dataclass
class Verification:
    params: dict[str, str]
    status: int
    body: bytes


@dataclass
class Hub:
    """A WebSub hub on 127.0.0.1: records requests, answers 202, verifies the callback afterwards."""

    lease: int | None = None                   # the lease it grants (default: what was asked)
    auto_verify: bool = True
    requests: list[dict[str, str]] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)

    def __post_init__(self) -> None:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = dict(parse_qsl(body.decode()))
                hub.requests.append(form)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if hub.auto_verify:
                    threading.Thread(target=hub.verify, args=(form,), daemon=True).start()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"

    def verify(self, form: dict[str, str], **override: str) -> Verification:
        """GET the callback as the spec's verification of intent; ``override`` replaces parameters."""
        params = {"hub.mode": form["hub.mode"], "hub.topic": form["hub.topic"],
                  "hub.challenge": secrets.token_urlsafe(12)}
        if form["hub.mode"] == "subscribe":
            params["hub.lease_seconds"] = str(self.lease or form["hub.lease_seconds"])
        params.update(override)
        callback = override.get("callback", form["hub.callback"])
        params.pop("callback", None)
        with httpx.Client(trust_env=False, timeout=10) as client:
            response = client.get(callback, params=params)
        done = Verification(params, response.status_code, response.content)
        self.verifications.append(done)
        return done

    def push(self, form: dict[str, str], body: bytes, *, secret: str | None = None, algorithm: str = "sha256",
             signature: str | None = None) -> httpx.Response:
        """POST ``body`` to the callback, signed with the subscription's secret (or ``secret``)."""
        key = (secret if secret is not None else form["hub.secret"]).encode()
        digest = hmac.new(key, body, getattr(hashlib, algorithm)).hexdigest()
        headers = {"Content-Type": "application/atom+xml",
                   "X-Hub-Signature": signature if signature is not None else f"{algorithm}={digest}",
                   "Link": f'<{self.url}>; rel="hub", <{form["hub.topic"]}>; rel="self"'}
        with httpx.Client(trust_env=False, timeout=10) as client:
            return client.post(form["hub.callback"], content=body, headers=headers)

    def subscriptions(self) -> list[dict[str, str]]:
        return [r for r in self.requests if r.get("hub.mode") == "subscribe"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub()
    yield server
    server.close()


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# --------------------------------------------------------------------------- documents


def hub_feed(hub_url: str | None, self_url: str, entries: Sequence[tuple[str, str, str]]) -> bytes:
    """An Atom feed naming ``hub_url`` (when given) and its self URL; entries are (id, title, link)."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
             "<title>Lab news</title><id>urn:lab</id><updated>2026-12-01T10:00:00Z</updated>",
             f'<link rel="self" href="{escape(self_url)}"/>']
    if hub_url:
        parts.append(f'<link rel="hub" href="{escape(hub_url)}"/>')
    for entry_id, title, link in entries:
        parts.append(f"<entry><id>{escape(entry_id)}</id><title>{escape(title)}</title>"
                     f'<link rel="alternate" href="{escape(link)}"/><updated>2026-12-01T10:00:00Z</updated>'
                     f"<summary>{escape(title)}</summary></entry>")
    parts.append("</feed>")
    return "".join(parts).encode()


def article_page(title: str) -> bytes:
    return (f"<html><head><title>{title}</title></head><body><nav>Accueil</nav><article><h1>{title}</h1>"
            f"<p>Le laboratoire parisien Kyutai publie Moshi, un assistant vocal qui répond en deux cents "
            f"millisecondes, avec le code et les poids du modèle en accès libre pour les chercheurs.</p>"
            f"</article></body></html>").encode()


# --------------------------------------------------------------------------- veille's side


class WebServer:
    """veille's web server (the app `veille web` serves, under uvicorn with its settings) on a thread of this
    process, so that a test sees what it hands on."""

    def __init__(self, ctx: Context, on_articles: Callable[[Sequence[int], Sequence[int]], None]) -> None:
        self.server = uvicorn.Server(make_config(ctx, create_app(ctx, on_articles=on_articles)))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, "the web server to start", 20)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class Veille:
    ctx: Context
    server: WebServer
    handed: list[tuple[tuple[int, ...], tuple[int, ...]]]

    def rows(self) -> list[WebSubSubscription]:
        return self.ctx.db.run(lambda s: list(s.scalars(select(WebSubSubscription).order_by(WebSubSubscription.id))))

    def count(self, model: type[Any], **where: Any) -> int:
        def work(s: Any) -> int:
            query = select(func.count()).select_from(model)
            for key, value in where.items():
                query = query.where(getattr(model, key) == value)
            return int(s.scalar(query) or 0)

        return self.ctx.db.run(work)

    def add_feed(self, url: str, *args: str) -> int:
        added = veille("feeds", "add", url, *args)
        assert added.exit_code == 0, added.stderr
        return int(added.stdout.strip().splitlines()[-1])

    def poll(self, feed_id: int) -> None:
        results = pipeline.poll_feeds(self.ctx, [feed_id])
        assert results[0].status == "ok", results

    def request(self, *, now: Any = None) -> list[websub.subscriptions.RequestResult]:
        """What the dispatcher and its task do: claim the due rows, send their requests."""
        return websub.send_requests(self.ctx, websub.claim_due(self.ctx, now=now))


def start(monkeypatch: pytest.MonkeyPatch, database_url: str, *, public: bool = True, **env: str) -> Veille:
    port = free_port()
    monkeypatch.setenv("VEILLE_DATABASE_URL", database_url)
    monkeypatch.setenv("VEILLE_WEB_LISTEN", f"127.0.0.1:{port}")
    if public:
        monkeypatch.setenv("VEILLE_PUBLIC_URL", f"http://127.0.0.1:{port}/")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    ctx = pipeline.make_context(get_settings())
    ctx.db.upgrade()
    handed: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    server = WebServer(ctx, lambda new, ready: handed.append((tuple(new), tuple(ready))))
    return Veille(ctx, server, handed)


@pytest.fixture
def env(veille_env: dict[str, str], database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        Callable[..., Veille]]:
    started: list[Veille] = []

    def make(**kwargs: Any) -> Veille:
        instance = start(monkeypatch, database_url, **kwargs)
        started.append(instance)
        return instance

    yield make
    for instance in started:
        instance.server.close()


def subscribed(v: Veille, web: HTTPFixture, hub: Hub, *, entries: Sequence[tuple[str, str, str]] = ()) -> tuple[
        int, dict[str, str]]:
    """A feed naming the hub, added and polled; its subscription requested and verified."""
    web.routes["/feed.xml"] = Route(hub_feed(hub.url, web.url("/feed.xml"), entries), "application/atom+xml")
    feed_id = v.add_feed(web.url("/feed.xml"), "--every", "1h")
    v.poll(feed_id)
    results = v.request()
    assert [r.ok for r in results] == [True], results
    wait_for(lambda: hub.verifications, "the hub's verification")
    return feed_id, hub.subscriptions()[-1]


# --------------------------------------------------------------------------- discovery


@pytest.mark.parametrize(("headers", "hubs", "topic"), [
    ({}, ("https://hub.example/",), "https://site.example/feed.xml"),
    ({"Link": '<https://h2.example/>; rel="hub", <https://site.example/topic>; rel="self"'},
     ("https://h2.example/",), "https://site.example/topic"),
    ({"link": "<https://h3.example/>; rel=hub"}, ("https://h3.example/",), "https://site.example/feed.xml"),
    ({"Link": '<https://site.example/other>; rel="alternate"'}, ("https://hub.example/",),
     "https://site.example/feed.xml"),
])
def test_hub_and_topic_from_the_feed_and_the_link_header_which_wins(
    headers: dict[str, str], hubs: tuple[str, ...], topic: str
) -> None:
    content = hub_feed("https://hub.example/", "feed.xml", [("1", "a", "https://site.example/a")])
    parsed = parse_feed(content, url="https://site.example/x", headers=headers)
    assert parsed.hubs == hubs and parsed.hub == hubs[0] and parsed.topic == topic


def test_hubs_of_rss_and_json_feed_and_relative_or_bad_hrefs() -> None:
    rss = (b'<?xml version="1.0"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
           b'<title>t</title><atom:link rel="hub" href="/hub"/><atom:link rel="hub" href="javascript:alert(1)"/>'
           b'<atom:link rel="self" href="https://site.example/rss"/><item><title>a</title><link>https://site.example/a'
           b"</link></item></channel></rss>")
    parsed = parse_feed(rss, url="https://site.example/rss", headers={"Content-Location": "https://site.example/rss"})
    assert parsed.hubs == ("https://site.example/hub",) and parsed.topic == "https://site.example/rss"
    json_feed = (b'{"version": "https://jsonfeed.org/version/1.1", "title": "j", "feed_url": "https://j.example/f.json",'
                 b' "hubs": [{"type": "WebSub", "url": "https://hub.example/"}], "items": []}')
    parsed = parse_feed(json_feed, url="https://j.example/f.json")
    assert parsed.hubs == ("https://hub.example/",) and parsed.topic == "https://j.example/f.json"
    plain = parse_feed(hub_feed(None, "https://site.example/f", []), url="https://site.example/f")
    assert plain.hubs == () and plain.hub is None


def test_link_header_parsing() -> None:
    value = '<https://a.example/>; rel="hub self", <https://b.example/x,y>; title="p; q, r"; rel=hub, <bad'
    assert link_header(value) == [("https://a.example/", {"hub", "self"}), ("https://b.example/x,y", {"hub"})]


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_signature_methods(algorithm: str) -> None:
    body = b"<feed/>"
    digest = hmac.new(b"k", body, getattr(hashlib, algorithm)).hexdigest()
    assert signature_ok("k", body, f"{algorithm}={digest}")
    assert signature_ok("k", body, f"{algorithm.upper()}={digest.upper()}")
    assert not signature_ok("k", body + b" ", f"{algorithm}={digest}")
    assert not signature_ok("other", body, f"{algorithm}={digest}")
    assert not signature_ok("k", body, f"md5={hashlib.md5(body).hexdigest()}")
    assert not signature_ok("k", body, None) and not signature_ok("k", body, digest)


def test_settings_refuse_a_bad_public_url_or_listen_address(veille_env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="VEILLE_PUBLIC_URL"):
        Settings(public_url="veille.example.org")
    with pytest.raises(ValueError, match="VEILLE_LISTEN"):
        Settings(listen="localhost")
    with pytest.raises(ValueError, match="VEILLE_WEB_LISTEN"):
        Settings(web_listen="localhost")
    assert Settings(web_listen=None, listen=None).listen_address == ("127.0.0.1", 8080)  # this machine only
    assert Settings(web_listen="0.0.0.0:9001", listen="127.0.0.1:9000").listen_address == ("0.0.0.0", 9001)
    assert Settings(public_url="https://veille.example.org/x/").public_url == "https://veille.example.org/x"
    assert Settings(listen=":9000", web_listen=None).listen_address == ("0.0.0.0", 9000)  # the former name
    assert isinstance(SettingsError("x"), ValueError)


# --------------------------------------------------------------------------- subscribing


def test_polled_feed_naming_a_hub_is_subscribed_and_verified(env: Callable[..., Veille], web: HTTPFixture,
                                                             hub: Hub) -> None:
    v = env()
    feed_id, form = subscribed(v, web, hub)
    assert len(hub.requests) == 1
    public = v.ctx.settings.public_url
    sub = v.rows()[0]
    assert form == {"hub.mode": "subscribe", "hub.topic": web.url("/feed.xml"),
                    "hub.callback": f"{public}/websub/{sub.id}/{sub.token}", "hub.secret": sub.secret,
                    "hub.lease_seconds": str(LEASE)}
    assert len(sub.token) >= 32 and len(sub.secret) >= 32 and sub.feed_id == feed_id
    verification = hub.verifications[0]
    assert verification.status == 200 and verification.body == verification.params["hub.challenge"].encode()
    sub = v.rows()[0]
    assert sub.state == "active" and sub.lease_seconds == LEASE
    assert sub.expires_at is not None and sub.next_attempt_at < sub.expires_at
    assert v.request() == []  # nothing due until the renewal
    # polled again: same hub, nothing new to ask
    v.poll(feed_id)
    assert v.request() == [] and len(hub.requests) == 1


def test_no_subscription_without_a_public_url(env: Callable[..., Veille], web: HTTPFixture, hub: Hub) -> None:
    v = env(public=False)
    web.routes["/feed.xml"] = Route(hub_feed(hub.url, web.url("/feed.xml"), []), "application/atom+xml")
    feed_id = v.add_feed(web.url("/feed.xml"))
    v.poll(feed_id)
    assert v.rows() == [] and v.request() == [] and hub.requests == []


def test_a_hub_that_fails_is_retried_later_and_the_error_kept(env: Callable[..., Veille], web: HTTPFixture) -> None:
    v = env()
    web.routes["/feed.xml"] = Route(hub_feed(web.url("/broken-hub"), web.url("/feed.xml"), []), "application/atom+xml")
    web.routes["/broken-hub"] = Route(b"topic not allowed here", "text/plain", 400)
    v.poll(v.add_feed(web.url("/feed.xml")))
    results = v.request()
    assert [r.ok for r in results] == [False]
    sub = v.rows()[0]
    assert sub.state == "pending" and sub.attempts == 1
    assert sub.last_error == "subscribe: HTTP 400: topic not allowed here"
    assert sub.next_attempt_at > utcnow() + timedelta(seconds=30)
    assert v.request() == []  # not before the backoff
    later = utcnow() + timedelta(hours=2)
    for _ in range(2):
        v.request(now=later)
        later += timedelta(days=2)
    assert v.rows()[0].state == "failed" and len(web.hits("/broken-hub", "POST")) == 3


def test_renewal_is_sent_before_the_lease_ends(env: Callable[..., Veille], web: HTTPFixture, hub: Hub) -> None:
    hub.lease = 3600
    v = env()
    subscribed(v, web, hub)
    sub = v.rows()[0]
    assert sub.lease_seconds == 3600 and sub.expires_at is not None
    assert v.request(now=sub.expires_at - timedelta(minutes=20)) == []  # too early
    renewal_due = sub.expires_at - timedelta(minutes=11)  # a fifth of an hour before the end
    results = v.request(now=renewal_due)
    assert [(r.mode, r.ok) for r in results] == [("subscribe", True)]
    assert len(hub.subscriptions()) == 2
    assert hub.subscriptions()[1]["hub.callback"] == hub.subscriptions()[0]["hub.callback"]
    wait_for(lambda: len(hub.verifications) == 2, "the renewal's verification")
    renewed = v.rows()[0]
    assert renewed.state == "active" and renewed.expires_at is not None and renewed.expires_at > sub.expires_at


# --------------------------------------------------------------------------- verification


def test_challenge_echoed_only_for_the_right_token_topic_and_mode(env: Callable[..., Veille], web: HTTPFixture,
                                                                 hub: Hub) -> None:
    hub.auto_verify = False
    v = env()
    web.routes["/feed.xml"] = Route(hub_feed(hub.url, web.url("/feed.xml"), []), "application/atom+xml")
    v.poll(v.add_feed(web.url("/feed.xml")))
    v.request()
    form = hub.subscriptions()[0]
    sub = v.rows()[0]
    public = v.ctx.settings.public_url
    wrong = [
        hub.verify(form, callback=f"{public}/websub/{sub.id}/{'x' * len(sub.token)}"),  # guessed token
        hub.verify(form, callback=f"{public}/websub/{sub.id + 1}/{sub.token}"),         # another id
        hub.verify(form, **{"hub.topic": web.url("/other.xml")}),
        hub.verify(form, **{"hub.mode": "unsubscribe"}),                                 # not asked for
        hub.verify(form, **{"hub.challenge": ""}),
        hub.verify(form, callback=f"{public}/elsewhere"),
    ]
    for answer in wrong:
        challenge = answer.params["hub.challenge"]
        assert answer.status == 404 and (not challenge or challenge.encode() not in answer.body)
    assert v.rows()[0].state == "pending"
    right = hub.verify(form)
    assert right.status == 200 and right.body == right.params["hub.challenge"].encode()
    assert v.rows()[0].state == "active"
    # a denial, later: kept with the hub's reason, asked again a day later
    denied = hub.verify(form, **{"hub.mode": "denied", "hub.reason": "topic not served here"})
    assert denied.status == 200
    row = v.rows()[0]
    assert row.state == "denied" and row.last_error == "the hub denied the subscription: topic not served here"
    assert row.next_attempt_at > utcnow() + timedelta(hours=20)
    health = httpx.get(f"{public}/healthz", trust_env=False)
    assert health.status_code == 200


# --------------------------------------------------------------------------- content distribution


def test_signed_push_stores_the_new_items_and_hands_them_on(env: Callable[..., Veille], web: HTTPFixture,
                                                            hub: Hub) -> None:
    v = env()
    first = ("urn:1", "Lab opens", web.url("/a1"))
    feed_id, form = subscribed(v, web, hub, entries=[first])
    v.poll(feed_id)
    assert v.count(Entry, feed_id=feed_id) == 1 and v.handed == []
    new = ("urn:2", "Kyutai publie Moshi", web.url("/a2"))
    pushed = hub.push(form, hub_feed(hub.url, form["hub.topic"], [new, first]))
    assert pushed.status_code == 202
    assert v.count(Entry, feed_id=feed_id) == 2
    article_id = v.ctx.db.run(lambda s: s.scalar(select(Article.id).where(Article.url == web.url("/a2"))))
    assert article_id is not None and v.count(Article, id=article_id, state="new") == 1
    handed = list(v.handed)
    # the same document again (a hub retrying): nothing new, nothing handed on
    assert hub.push(form, hub_feed(hub.url, form["hub.topic"], [new, first]), algorithm="sha512").status_code == 202
    assert v.count(Entry, feed_id=feed_id) == 2 and v.count(Article) == 2 and v.handed == handed
    row = v.rows()[0]
    assert row.pushes == 2 and row.last_push_at is not None
    # a push that is not a feed: kept as the subscription's error, the feed's own record untouched
    assert hub.push(form, b"<html>oops</html>").status_code == 202
    assert "push: parser" in (v.rows()[0].last_error or "")
    assert v.count(Feed, id=feed_id, last_status="ok") == 1
    assert handed == [((article_id,), ())]


def test_eight_pushes_at_once_are_all_stored(env: Callable[..., Veille], web: HTTPFixture, hub: Hub) -> None:
    """Eight hubs' worth of pushes at the same moment: parsed one at a time on the web server's parsing thread
    (lxml and feedparser never on two threads at once), every item stored, nothing crashed."""
    v = env()
    feed_id, form = subscribed(v, web, hub)
    documents = [hub_feed(hub.url, form["hub.topic"], [(f"urn:{n}:{i}", f"Item {n}.{i}", web.url(f"/p{n}-{i}"))
                                                      for i in range(20)]) for n in range(8)]
    answers: list[int] = []
    threads = [threading.Thread(target=lambda d=document: answers.append(hub.push(form, d).status_code))
               for document in documents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [202] * 8
    assert v.count(Entry, feed_id=feed_id) == 160 and v.rows()[0].pushes == 8
    assert sorted(len(new) + len(ready) for new, ready in v.handed) == [20] * 8


@pytest.mark.parametrize("signature", ["wrong secret", "missing", "unknown method"])
def test_push_with_a_bad_signature_stores_nothing(env: Callable[..., Veille], web: HTTPFixture, hub: Hub,
                                                  signature: str) -> None:
    v = env()
    feed_id, form = subscribed(v, web, hub)
    document = hub_feed(hub.url, form["hub.topic"], [("urn:9", "Forged", web.url("/forged"))])
    if signature == "wrong secret":
        answer = hub.push(form, document, secret="guess")
    elif signature == "missing":
        answer = hub.push(form, document, signature="")
    else:
        answer = hub.push(form, document, signature="md5=" + hashlib.md5(document).hexdigest())
    assert answer.status_code == 202  # answered like an accepted push: a forger learns nothing
    assert v.count(Entry, feed_id=feed_id) == 0 and v.count(Article) == 0 and v.handed == []


def test_oversized_or_unknown_pushes_are_refused(env: Callable[..., Veille], web: HTTPFixture, hub: Hub) -> None:
    v = env(VEILLE_MAX_FEED_BYTES="4096")
    feed_id, form = subscribed(v, web, hub)
    entries = [(f"urn:{i}", f"Item {i}", web.url(f"/i{i}")) for i in range(60)]
    document = hub_feed(hub.url, form["hub.topic"], entries)
    assert len(document) > 4096
    assert hub.push(form, document).status_code == 413
    public = v.ctx.settings.public_url
    sub = v.rows()[0]
    assert hub.push({**form, "hub.callback": f"{public}/websub/{sub.id}/{'y' * 32}"},
                    hub_feed(hub.url, form["hub.topic"], entries[:1])).status_code == 404
    assert v.count(Entry, feed_id=feed_id) == 0 and v.count(Article) == 0
    # a small one still goes through
    assert hub.push(form, hub_feed(hub.url, form["hub.topic"], entries[:1])).status_code == 202
    assert v.count(Entry, feed_id=feed_id) == 1


def test_removed_feed_is_unsubscribed_and_its_pushes_refused(env: Callable[..., Veille], web: HTTPFixture,
                                                             hub: Hub) -> None:
    v = env()
    feed_id, form = subscribed(v, web, hub)
    assert veille("feeds", "remove", str(feed_id)).exit_code == 0
    assert v.rows()[0].feed_id is None
    assert hub.push(form, hub_feed(hub.url, form["hub.topic"], [("urn:1", "x", web.url("/x"))])).status_code == 410
    results = v.request()
    assert [(r.mode, r.ok) for r in results] == [("unsubscribe", True)]
    unsubscribe = hub.requests[-1]
    assert unsubscribe == {"hub.mode": "unsubscribe", "hub.topic": form["hub.topic"],
                           "hub.callback": form["hub.callback"]}
    wait_for(lambda: len(hub.verifications) == 2, "the unsubscription's verification")
    assert hub.verifications[1].status == 200 and v.rows() == []


def test_feed_that_drops_its_hub_is_unsubscribed(env: Callable[..., Veille], web: HTTPFixture, hub: Hub) -> None:
    v = env()
    feed_id, _ = subscribed(v, web, hub)
    web.routes["/feed.xml"] = Route(hub_feed(None, web.url("/feed.xml"), []), "application/atom+xml")
    v.poll(feed_id)
    assert v.rows()[0].state == "unsubscribing"
    assert [r.mode for r in v.request()] == ["unsubscribe"]
    wait_for(lambda: v.rows() == [], "the unsubscription's verification")


# --------------------------------------------------------------------------- end to end, real processes


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@pytest.mark.slow
def test_veille_run_subscribes_and_a_push_alerts(veille_env: dict[str, str], web: HTTPFixture, hub: Hub,
                                                  redis_url: str, tmp_path: Path) -> None:
    """`veille run` with VEILLE_PUBLIC_URL: beat polls, the dispatcher subscribes, the callback server verifies,
    and an item that only the push carries alerts on the webhook once."""
    port = free_port()
    web.routes["/feed.xml"] = Route(hub_feed(hub.url, web.url("/feed.xml"), [("urn:0", "Hello", web.url("/a0"))]),
                                    "application/atom+xml")
    web.routes["/a0"] = Route(b"<html><body><article><p>Nothing to see.</p></article></body></html>")
    web.routes["/a1"] = Route(article_page("Kyutai publie Moshi"))
    web.routes["/hook"] = Route(b"ok", "text/plain")
    assert veille("feeds", "add", web.url("/feed.xml"), "--every", "1h").exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("channels", "add", "webhook", web.url("/hook")).exit_code == 0
    env = {**os.environ, **veille_env, "VEILLE_BROKER_URL": redis_url, "VEILLE_DISPATCH_EVERY": "1s",
           "VEILLE_PUBLIC_URL": f"http://127.0.0.1:{port}", "VEILLE_WEB_LISTEN": f"127.0.0.1:{port}",
           "VEILLE_LOG_LEVEL": "INFO"}
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen([VEILLE, "run", "-c", "1"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        def tail() -> str:
            return log.read_text(errors="replace")[-3000:]

        wait_for(lambda: hub.verifications, "the subscription and its verification", 60)
        assert hub.verifications[0].status == 200, tail()
        form = hub.subscriptions()[0]
        assert form["hub.callback"].startswith(f"http://127.0.0.1:{port}/websub/")
        pushed = hub.push(form, hub_feed(hub.url, form["hub.topic"], [
            ("urn:1", "Kyutai publie Moshi", web.url("/a1")), ("urn:0", "Hello", web.url("/a0"))]))
        assert pushed.status_code == 202, tail()
        wait_for(lambda: web.hits("/hook", "POST"), "the alert", 60)
        time.sleep(1)
        assert len(web.hits("/hook", "POST")) == 1, tail()
        assert b"Kyutai" in web.hits("/hook", "POST")[0].body
        assert len(web.hits("/feed.xml")) == 2  # `feeds add` and beat's first poll: the push brought the item
        # `veille run` stopped: its callback server goes too
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        wait_for(lambda: not _port_open(port), "the callback server to stop", 20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_the_callback_answers_get_and_post_only(env: Callable[..., Veille], web: HTTPFixture, hub: Hub) -> None:
    v = env()
    feed_id, form = subscribed(v, web, hub)
    with httpx.Client(trust_env=False, timeout=10) as client:
        for method in ("HEAD", "PUT", "DELETE"):
            assert client.request(method, form["hub.callback"]).status_code == 405, method
        assert client.post(form["hub.callback"], content=iter([b"<feed/>"])).status_code == 411  # chunked
    assert v.rows()[0].pushes == 0 and v.count(Entry, feed_id=feed_id) == 0
