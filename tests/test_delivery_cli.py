"""`veille channels` and routing from the command line, against real receivers."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.alerts.conftest import Receiver, Reply
from tests.conftest import HTTPFixture, Route, SMTPFixture, free_port
from tests.helpers import rss, veille

pytestmark = pytest.mark.usefixtures("veille_env")

WORDS = [f"{a}{b}" for a in ("ba", "de", "fi", "go", "ku", "la", "me", "no", "pi", "ru")
         for b in ("lon", "mar", "tis", "vek", "dra", "sul", "pen", "qor", "zim", "wat")]


def page(title: str, lead: str, seed: int) -> bytes:
    rng = random.Random(seed)
    filler = " ".join(rng.choice(WORDS) for _ in range(120))
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{lead}</p>"
            f"<p>{filler}.</p></article></body></html>").encode()


def serve(web: HTTPFixture, articles: dict[str, tuple[str, str]]) -> None:
    items = []
    for seed, (path, (title, lead)) in enumerate(articles.items()):
        web.routes[path] = Route(page(title, lead, seed))
        items.append({"title": title, "link": web.url(path), "guid": path})
    web.routes["/feed.xml"] = Route(rss(items), "application/rss+xml")


def slack_posts(web: HTTPFixture, path: str = "/slack") -> list[dict]:
    return [json.loads(r.body) for r in web.hits(path, "POST")]


# --------------------------------------------------------------------------- add, list, redaction


def test_add_and_list_every_kind_with_secrets_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_SMTP_URL", "smtp://127.0.0.1:2525")  # configured; nothing is sent
    assert veille("channels", "add", "slack", "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
                  "--name", "research-slack").exit_code == 0
    assert veille("channels", "add", "webhook", "https://hooks.example.org/in/abcdef?key=SECRETKEY",
                  "--secret", "hmacsecret").exit_code == 0
    added = veille("channels", "add", "apprise", "ntfy://user:PASSWORD@ntfy.example.org/topic-SECRET",
                   "--name", "phone", "--admin")
    assert added.exit_code == 0, added.stderr
    assert "ntfy://ntfy.example.org/…" in added.stdout and "SECRET" not in added.stdout
    daily = veille("channels", "add", "email", "Me@Example.ORG", "--digest", "daily@08:00", "--tz", "Europe/Paris")
    assert daily.exit_code == 0, daily.stderr
    assert "daily digest at 08:00 Europe/Paris, the first one" in daily.stdout

    listed = veille("channels", "list")
    assert listed.exit_code == 0
    for secret in ("XXXXSECRET", "SECRETKEY", "abcdef", "PASSWORD", "topic-SECRET", "hmacsecret"):
        assert secret not in listed.stdout
    rows = {r["name"]: r for r in veille("channels", "list", "--json").json()}
    assert rows["research-slack"]["target"] == "https://hooks.slack.com/…"
    assert rows["webhook"]["target"] == "https://hooks.example.org/…"
    assert rows["phone"] == {**rows["phone"], "kind": "apprise", "admin": True, "delivery": "immediate"}
    assert rows["email"]["target"] == "Me@example.org"
    assert rows["email"]["delivery"] == "daily@08:00 Europe/Paris"
    assert rows["email"]["next_digest"] is not None
    status = veille("status", "--json").json()
    assert "XXXXSECRET" not in json.dumps(status)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["pigeon", "x"], "unknown channel kind 'pigeon'"),
        (["slack", "ftp://x.example/hook"], "must be an http or https URL"),
        (["email", "not-an-address"], "is not an email address"),
        (["apprise", "pigeon://coop/1"], "pigeon:// is not a URL Apprise can send to"),
        (["slack", "https://hooks.slack.com/x", "--secret", "s"], "--secret is for webhook channels only"),
        (["email", "a@example.org", "--tz", "Europe/Paris"], "--tz is the time zone of a digest"),
        (["email", "a@example.org", "--digest", "monthly"], "--digest: cannot read 'monthly'"),
        (["email", "a@example.org", "--digest", "daily", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["email", "a@example.org", "--name", "two words"], "--name must be one word"),
    ],
)
def test_add_refuses_mistakes_clearly(args: list[str], complaint: str) -> None:
    result = veille("channels", "add", *args)
    assert result.exit_code == 2
    assert complaint in " ".join(result.stderr.split())
    assert veille("channels", "list", "--json").json() == []


def test_a_name_is_taken_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_SMTP_URL", "smtp://127.0.0.1:2525")
    assert veille("channels", "add", "email", "a@example.org", "--name", "team").exit_code == 0
    again = veille("channels", "add", "email", "b@example.org", "--name", "team")
    assert again.exit_code == 1 and "already named 'team'" in again.stderr


# --------------------------------------------------------------------------- checked when added


@pytest.mark.parametrize("smtp_url", [None, "", "http://mail.example.org"])
def test_an_email_channel_needs_an_smtp_server(monkeypatch: pytest.MonkeyPatch, smtp_url: str | None) -> None:
    if smtp_url is not None:
        monkeypatch.setenv("VEILLE_SMTP_URL", smtp_url)
    result = veille("channels", "add", "email", "me@example.org", "--name", "me")
    assert result.exit_code == 1 and result.stdout == ""
    assert "VEILLE_SMTP_URL" in result.stderr
    if not smtp_url:
        assert "email channels need an SMTP server and none is configured: set VEILLE_SMTP_URL" in result.stderr
    assert veille("channels", "list", "--json").json() == []
    # the other kinds need no SMTP server
    assert veille("channels", "add", "slack", "https://hooks.slack.com/services/T/B/X").exit_code == 0


def test_add_with_test_keeps_the_channel_only_when_the_sample_arrives() -> None:
    receiver = Receiver()
    try:
        hook = receiver.url("/services/T0/B0/XyZsecret")
        receiver.reply = Reply(404, b"no_service")
        refused = veille("channels", "add", "slack", hook, "--name", "ops", "--test")
        assert refused.exit_code == 1 and refused.stdout == ""
        assert ("error: the sample alert did not arrive, so the channel was not added: slack: HTTP 404 "
                "'no_service': the webhook was removed or disabled; create a new incoming webhook in Slack and "
                "update the channel") in " ".join(refused.stderr.split())
        assert "XyZsecret" not in refused.stderr
        assert veille("channels", "list", "--json").json() == []
        assert len(receiver.requests) == 1

        receiver.reply = Reply(200, b"ok")
        added = veille("channels", "add", "slack", hook, "--name", "ops", "--test")
        assert added.exit_code == 0, added.stderr
        assert "added channel ops (slack) -> http://127.0.0.1:" in added.stdout
        assert "the sample alert arrived" in added.stdout and "XyZsecret" not in added.stdout
        sample = json.loads(receiver.requests[-1].body)
        assert "veille test alert" in sample["text"]
        [row] = veille("channels", "list", "--json").json()
        assert (row["name"], row["state"], row["last_error"]) == ("ops", "ok", None)

        # a name already taken is refused before anything is sent
        again = veille("channels", "add", "slack", hook, "--name", "ops", "--test")
        assert again.exit_code == 1 and "already named 'ops'" in again.stderr
        assert len(receiver.requests) == 2
    finally:
        receiver.close()


def test_add_webhook_with_test_signs_the_sample(web: HTTPFixture) -> None:
    web.routes["/in"] = Route(b"", "text/plain", 204)
    added = veille("channels", "add", "webhook", web.url("/in"), "--secret", "s3cret", "--test")
    assert added.exit_code == 0, added.stderr
    [post] = web.hits("/in", "POST")
    assert post.headers["x-veille-signature"].startswith("sha256=")
    assert [c["name"] for c in veille("channels", "list", "--json").json()] == ["webhook"]


class RefusingSMTP:
    """A real SMTP server (aiosmtpd) on loopback that refuses one recipient and takes every other message."""

    def __init__(self, refused: str) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        server = self

        class Handler:
            async def handle_RCPT(self, smtp: Any, session: Any, envelope: Any, address: str,
                                  options: list[str]) -> str:
                if address == refused:
                    return "550 5.1.1 no such mailbox here"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
                server.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def test_add_email_with_test_through_a_real_smtp_server(monkeypatch: pytest.MonkeyPatch) -> None:
    server = RefusingSMTP("nobody@example.org")
    try:
        monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        monkeypatch.setenv("VEILLE_EMAIL_FROM", "veille@veille.test")
        refused = veille("channels", "add", "email", "nobody@example.org", "--test")
        assert refused.exit_code == 1
        assert ("error: the sample alert did not arrive, so the channel was not added: email: "
                f"127.0.0.1:{server.port} refused the recipient: 550 5.1.1 no such mailbox here"
                ) in " ".join(refused.stderr.split())
        assert veille("channels", "list", "--json").json() == [] and server.messages == []

        added = veille("channels", "add", "email", "me@example.org", "--digest", "daily@08:00", "--test")
        assert added.exit_code == 0, added.stderr
        [envelope] = server.messages
        assert envelope.rcpt_tos == ["me@example.org"]
        assert b"Daily digest (test)" in envelope.content
        assert [c["name"] for c in veille("channels", "list", "--json").json()] == ["email"]
    finally:
        server.close()


def test_add_email_with_test_when_the_smtp_server_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    result = veille("channels", "add", "email", "me@example.org", "--test")
    assert result.exit_code == 1
    assert ("error: the sample alert did not arrive, so the channel was not added: email: connection refused by "
            "127.0.0.1:") in result.stderr
    assert veille("channels", "list", "--json").json() == []


# --------------------------------------------------------------------------- test, failing, status


def test_channels_test_prints_the_exact_error_and_its_success_sets_ok(web: HTTPFixture) -> None:
    web.routes["/services/T0/B0/XyZsecret"] = Route(b"no_service", "text/plain", 404)
    assert veille("channels", "add", "slack", web.url("/services/T0/B0/XyZsecret"), "--name", "ops").exit_code == 0

    failed = veille("channels", "test", "ops")
    assert failed.exit_code == 1
    assert ("ops: failed: slack: HTTP 404 'no_service': the webhook was removed or disabled; create a new incoming "
            "webhook in Slack and update the channel") in " ".join(failed.stderr.split())
    assert "XyZsecret" not in failed.stderr
    [row] = veille("status", "--json").json()["channels"]
    assert row["state"] == "failing" and "404" in row["last_error"]
    assert veille("status", "--check").exit_code == 1
    assert "failing" in veille("status").stdout

    web.routes["/services/T0/B0/XyZsecret"] = Route(b"ok", "text/plain")
    fixed = veille("channels", "test", "ops")
    assert fixed.exit_code == 0 and "ops: ok" in fixed.stdout
    [sample] = [json.loads(r.body) for r in web.hits("/services/T0/B0/XyZsecret", "POST")][-1:]
    assert "veille test alert" in sample["text"] and "*Kyutai*" in json.dumps(sample["blocks"])
    [row] = veille("status", "--json").json()["channels"]
    assert row["state"] == "ok" and row["last_error"] is None
    assert veille("status", "--check").exit_code == 0


def test_channels_test_of_a_digest_channel_sends_a_sample_digest(smtp: SMTPFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_SMTP_URL", smtp.url)
    assert veille("channels", "add", "email", "me@example.org", "--digest", "weekly@fri 17:00").exit_code == 0
    result = veille("channels", "test")
    assert result.exit_code == 0, result.stderr
    [message] = smtp.messages
    assert message["Subject"] == "[veille] Weekly digest (test): 1 article (Kyutai)"


def test_channels_test_unknown_name() -> None:
    result = veille("channels", "test", "nope")
    assert result.exit_code == 1 and "no channel named 'nope'" in result.stderr


# --------------------------------------------------------------------------- routing


def test_track_to_routes_an_entity_to_the_named_channels_only(
    web: HTTPFixture, smtp: SMTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_SMTP_URL", smtp.url)
    serve(web, {
        "/kyutai": ("Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi."),
        "/mistral": ("Mistral AI lève des fonds", "La start-up Mistral AI annonce une levée."),
        "/both": ("Kyutai et Mistral AI", "Kyutai et Mistral AI signent un accord."),
        "/lecun": ("Yann LeCun parle", "Yann LeCun donne une conférence."),
    })
    web.routes["/slack"] = Route(b"ok", "text/plain")
    assert veille("channels", "add", "slack", web.url("/slack"), "--name", "research-slack").exit_code == 0
    assert veille("channels", "add", "email", "team@example.org", "--name", "team-mail").exit_code == 0
    unknown = veille("track", "add", "Kyutai", "--to", "research-slack", "--to", "nowhere")
    assert unknown.exit_code == 2 and "--to: no channel named 'nowhere'" in unknown.stderr
    assert veille("track", "list", "--json").json() == []
    assert veille("track", "add", "Kyutai", "--to", "research-slack").exit_code == 0
    assert veille("track", "add", "Mistral AI", "--to", "team-mail").exit_code == 0
    assert veille("track", "add", "Yann LeCun").exit_code == 0  # no --to: every channel
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0

    polled = veille("poll")
    assert polled.exit_code == 0, polled.stderr

    slack = sorted(p["text"].split(" http")[0] for p in slack_posts(web))
    assert slack == ["Kyutai: Kyutai et Mistral AI", "Kyutai: Kyutai ouvre Moshi", "Yann LeCun: Yann LeCun parle"]
    mails = sorted(str(m["Subject"]) for m in smtp.messages)
    assert mails == ["[veille] Mistral AI: Kyutai et Mistral AI", "[veille] Mistral AI: Mistral AI lève des fonds",
                     "[veille] Yann LeCun: Yann LeCun parle"]
    # each channel is told about the entities routed to it: research-slack hears of Kyutai only
    both = next(p for p in slack_posts(web) if p["text"].startswith("Kyutai: Kyutai et Mistral AI"))
    assert "Matched: *Kyutai*" in json.dumps(both["blocks"]) and "*Mistral AI*" not in json.dumps(both["blocks"])

    removed = veille("channels", "remove", "team-mail")
    assert removed.exit_code == 0
    assert "Mistral AI: no longer routed to team-mail; it now alerts every channel" in removed.stderr


def test_apprise_channel_from_the_command_line(web: HTTPFixture) -> None:
    receiver = Receiver()
    try:
        serve(web, {"/kyutai": ("Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi.")})
        added = veille("channels", "add", "apprise", f"json://127.0.0.1:{receiver.port}/notify", "--name", "phone")
        assert added.exit_code == 0, added.stderr
        assert veille("channels", "test", "phone").exit_code == 0
        assert veille("track", "add", "Kyutai").exit_code == 0
        assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
        assert veille("poll").exit_code == 0
        titles = [json.loads(r.body)["title"] for r in receiver.requests]
        assert titles == ["Kyutai: veille test alert: this is how an alert looks", "Kyutai: Kyutai ouvre Moshi"]
    finally:
        receiver.close()
