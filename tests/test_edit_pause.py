"""Edit, pause, mute, remove (issue 11, item 4), through the `veille` command against a loopback feed and a
loopback Slack receiver: what a user sees in their Slack channel and in `veille ... --json`.

Articles under test are published after the feed's first poll, dated now: they are new items, which alert
whatever the first poll's backlog rule is."""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import time
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss, veille
from veille.storage.db import database
from veille.storage.models import Alert, Channel, utcnow

pytestmark = pytest.mark.usefixtures("veille_env")

VEILLE = str(Path(sys.executable).with_name("veille"))
WORDS = [f"{a}{b}" for a in ("ba", "de", "fi", "go", "ku", "la", "me", "no", "pi", "ru")
         for b in ("lon", "mar", "tis", "vek", "dra", "sul", "pen", "qor", "zim", "wat")]


def page(title: str, lead: str, seed: int) -> bytes:
    filler = " ".join(random.Random(seed).choice(WORDS) for _ in range(120))  # no two pages are one story
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{lead}</p>"
            f"<p>{filler}.</p></article></body></html>").encode()


class Newsroom:
    """A feed on loopback whose items the test publishes one by one, dated now; and two Slack receivers."""

    def __init__(self, web: HTTPFixture) -> None:
        self.web = web
        self.items: list[dict[str, str]] = []
        self.titles: list[str] = []
        web.routes["/slack"] = Route(b"ok", "text/plain")
        web.routes["/slack-ops"] = Route(b"ok", "text/plain")
        self.publish("/weather", "Rain over Brittany", "Showers all week on the coast.")

    def publish(self, path: str, title: str, lead: str) -> None:
        self.web.routes[path] = Route(page(title, lead, len(self.items)))
        self.items.insert(0, {"title": title, "link": self.web.url(path), "guid": path,
                              "pubDate": format_datetime(utcnow())})
        self.titles.append(title)
        self.web.routes["/feed.xml"] = Route(rss(self.items), "application/rss+xml")

    def alerted(self, path: str = "/slack") -> list[str]:
        """The titles of the articles a Slack receiver was told about, in order."""
        texts = [json.loads(r.body)["text"] for r in self.web.hits(path, "POST")]
        return [title for text in texts for title in self.titles if title in text]

    def feed_requests(self) -> int:
        return len(self.web.hits("/feed.xml"))


def poll() -> None:
    result = veille("poll")
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def db_url(database_url: str, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """SQLite, and PostgreSQL when VEILLE_TEST_POSTGRES_URL is set."""
    monkeypatch.setenv("VEILLE_DATABASE_URL", database_url)
    veille_env["VEILLE_DATABASE_URL"] = database_url
    return database_url


@pytest.fixture
def news(web: HTTPFixture, db_url: str) -> Newsroom:
    """A feed already polled once (its first poll is behind it), a Slack channel `research`."""
    room = Newsroom(web)
    assert veille("feeds", "add", web.url("/feed.xml")).exit_code == 0
    assert veille("channels", "add", "slack", web.url("/slack"), "--name", "research").exit_code == 0
    poll()
    return room


def tracked(name: str) -> dict[str, Any]:
    return next(e for e in veille("track", "list", "--json").json() if e["name"] == name)


def matched(entity: str) -> list[str]:
    return sorted(m["title"] for m in veille("matches", "--entity", entity, "--json").json())


# --------------------------------------------------------------------------- track edit


def test_an_edited_entity_keeps_its_matches_and_matches_by_its_new_definition(news: Newsroom) -> None:
    assert veille("track", "add", "Kyutai", "--in-title").exit_code == 0
    news.publish("/moshi", "Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi.")
    news.publish("/passing", "Les start-up lèvent moins", "Kyutai est cité parmi les laboratoires.")
    poll()
    assert news.alerted() == ["Kyutai ouvre Moshi"]  # --in-title: the passing mention is quiet

    edited = veille("track", "edit", "Kyutai", "--no-in-title", "--alias", "Moshi", "--exclude", "vent")
    assert edited.exit_code == 0, edited.stderr
    assert "edited Kyutai (its 1 match kept)" in edited.stdout
    assert "aliases: Moshi" in edited.stdout and "excludes: vent" in edited.stdout

    # the next poll (the same process: its matcher cache must see the edit) uses the new definition
    news.publish("/moshi-2", "Un assistant vocal en français", "Moshi répond en temps réel.")
    news.publish("/wind", "Kyutai et le vent", "Kyutai mesure le vent sur le toit du laboratoire.")
    news.publish("/passing-2", "La French Tech recrute", "On y croise Kyutai, entre autres.")
    poll()
    assert sorted(news.alerted()) == ["Kyutai ouvre Moshi", "La French Tech recrute", "Un assistant vocal en français"]
    # the old match is still there, under the same entity
    assert matched("Kyutai") == ["Kyutai ouvre Moshi", "La French Tech recrute", "Un assistant vocal en français"]

    renamed = veille("track", "edit", "kyutai", "--rename", "Kyutai Labs", "--clear-aliases", "--clear-excludes")
    assert renamed.exit_code == 0, renamed.stderr
    entity = tracked("Kyutai Labs")
    assert (entity["aliases"], entity["exclude"], entity["matches"]) == ([], [], 3)
    assert matched("Kyutai Labs") == matched("kyutai labs") and len(matched("Kyutai Labs")) == 3


def test_edit_replaces_options_and_clears_them(news: Newsroom) -> None:
    assert veille("channels", "add", "slack", news.web.url("/slack-ops"), "--name", "ops").exit_code == 0
    assert veille("track", "add", "Mistral AI", "--alias", "Mistral", "--require", "LLM", "--to", "ops").exit_code == 0
    edit = veille("track", "edit", "Mistral AI", "--require", "IA,modèle", "--alias-exact", "MAI",
                  "--min-mentions", "2", "--exact", "--to", "research", "--json")
    assert edit.exit_code == 0, edit.stderr
    entity = edit.json()
    assert entity["require"] == ["IA", "modèle"] and entity["aliases_exact"] == ["MAI"]
    assert (entity["min_mentions"], entity["exact"], entity["to"]) == (2, True, ["ops", "research"])
    assert entity == tracked("Mistral AI")

    cleared = veille("track", "edit", "Mistral AI", "--require", "", "--min-mentions", "1", "--no-exact", "--clear-to",
                     "--query", "Mistral LLM", "--json").json()
    assert (cleared["require"], cleared["min_mentions"], cleared["exact"], cleared["to"]) == ([], 1, False, [])
    assert cleared["query"] == "Mistral LLM"
    assert veille("track", "edit", "Mistral AI", "--query", "", "--json").json()["query"] is None


def test_edit_refuses_a_bad_definition_and_saves_nothing(news: Newsroom) -> None:
    assert veille("track", "add", "Kyutai", "--alias", "Moshi").exit_code == 0
    before = tracked("Kyutai")
    bad = veille("track", "edit", "Kyutai", "--alias", "Kyutai Labs", "--query", '"Mistral AI" OR')
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: --query: OR needs a word or phrase after it (at position 13)"
    nowhere = veille("track", "edit", "Kyutai", "--alias", "Kyutai Labs", "--to", "nowhere")
    assert nowhere.exit_code == 2 and "--to: no channel named 'nowhere'" in nowhere.stderr
    assert veille("track", "add", "Mistral AI").exit_code == 0
    taken = veille("track", "edit", "Kyutai", "--rename", "mistral ai")
    assert taken.exit_code == 1 and "already tracked: mistral ai" in taken.stderr
    nothing = veille("track", "edit", "Kyutai")
    assert nothing.exit_code == 2 and "nothing to change" in nothing.stderr
    unknown = veille("track", "edit", "Nobody", "--alias", "x")
    assert unknown.exit_code == 1 and "not tracked: Nobody" in unknown.stderr
    assert tracked("Kyutai") == before


# --------------------------------------------------------------------------- track pause


def test_a_paused_entity_matches_nothing_until_its_pause_ends(news: Newsroom, db_url: str) -> None:
    assert veille("track", "add", "Kyutai").exit_code == 0
    paused = veille("track", "pause", "Kyutai", "--for", "7d")
    assert paused.exit_code == 0, paused.stderr
    entity = tracked("Kyutai")
    assert entity["paused"] is True and entity["paused_until"] is not None
    until = entity["paused_until"][:16].replace("T", " ")
    assert f"paused until {until} UTC" in " ".join(veille("track", "list").stdout.split())

    news.publish("/moshi", "Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi.")
    poll()
    assert news.alerted() == [] and matched("Kyutai") == []

    # the pause ends by itself: as if it had been asked for 7 days, 8 days ago (the operation's clock)
    from veille.manage import entities

    entities.pause_entity(database(db_url), "Kyutai", duration="7d", now=utcnow() - timedelta(days=8))
    entity = tracked("Kyutai")
    assert (entity["paused"], entity["paused_until"]) == (False, None)
    assert "paused" not in veille("track", "list").stdout
    news.publish("/moshi-2", "Kyutai publie le code de Moshi", "Kyutai ouvre son code.")
    poll()
    assert news.alerted() == ["Kyutai publie le code de Moshi"]  # the article of the pause is not matched later

    # until resumed
    assert "until `veille track resume Kyutai`" in veille("track", "pause", "Kyutai").stdout
    assert (tracked("Kyutai")["paused"], tracked("Kyutai")["paused_until"]) == (True, None)
    news.publish("/moshi-3", "Kyutai recrute", "Kyutai cherche des chercheurs.")
    poll()
    assert len(news.alerted()) == 1
    assert veille("track", "resume", "Kyutai").exit_code == 0
    news.publish("/moshi-4", "Kyutai à Station F", "Kyutai présente ses travaux.")
    poll()
    assert news.alerted() == ["Kyutai publie le code de Moshi", "Kyutai à Station F"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--for", "soon"], "error: --for: not a duration: 'soon'"),
        (["--for", "0"], "error: --for: must be longer than zero"),
        (["--until", "2020-01-01"], "error: --until: 2020-01-01 00:00 UTC has already passed"),
        (["--until", "next week"], "error: --until: not a date: 'next week'"),
        (["--for", "1d", "--until", "2999-01-01"], "not both"),
    ],
)
def test_pause_refuses_what_it_cannot_read(args: list[str], complaint: str) -> None:
    assert veille("track", "add", "Kyutai").exit_code == 0
    result = veille("track", "pause", "Kyutai", *args)
    assert result.exit_code == 2 and complaint in result.stderr
    assert tracked("Kyutai")["paused"] is False


def test_pause_until_a_date_or_a_time_with_an_offset() -> None:
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("channels", "add", "webhook", "https://hooks.example/x", "--name", "ops").exit_code == 0
    day = veille("track", "pause", "Kyutai", "--until", "2999-12-09")
    assert day.exit_code == 0 and "until 2999-12-09 00:00 UTC" in day.stdout
    assert tracked("Kyutai")["paused_until"] == "2999-12-09T00:00:00+00:00"
    moment = veille("channels", "pause", "ops", "--until", "2999-12-09T10:00+01:00")
    assert moment.exit_code == 0 and "until 2999-12-09 09:00 UTC" in moment.stdout
    (ops,) = veille("channels", "list", "--json").json()
    assert (ops["paused"], ops["paused_until"], ops["enabled"]) == (True, "2999-12-09T09:00:00+00:00", False)


# --------------------------------------------------------------------------- feeds


def test_a_paused_feed_is_not_polled_until_resumed(news: Newsroom, db_url: str) -> None:
    from veille import pipeline
    from veille.manage import feeds
    from veille.settings import get_settings

    assert veille("track", "add", "Kyutai").exit_code == 0
    polled = news.feed_requests()
    assert veille("feeds", "pause", "1").exit_code == 0
    (feed,) = veille("feeds", "list", "--json").json()
    assert (feed["paused"], feed["paused_until"]) == (True, None)
    assert "paused" in veille("feeds", "list").stdout
    news.publish("/moshi", "Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi.")
    poll()
    assert news.feed_requests() == polled and news.alerted() == []
    # nor by the service's dispatcher
    ctx = pipeline.make_context(get_settings())
    assert pipeline.claim_due_feeds(ctx, now=utcnow() + timedelta(days=1)) == []

    resumed = veille("feeds", "resume", "1")
    assert resumed.exit_code == 0 and "polled at once" in resumed.stdout
    assert pipeline.claim_due_feeds(ctx) == [1]  # due now
    poll()
    assert news.feed_requests() == polled + 1 and news.alerted() == ["Kyutai ouvre Moshi"]

    # a pause with an end: when it has passed, the feed is polled again without a resume
    assert veille("feeds", "pause", "1", "--for", "12h").exit_code == 0
    poll()
    assert news.feed_requests() == polled + 1
    feeds.pause_feed(database(db_url), "1", duration="12h", now=utcnow() - timedelta(hours=13))
    poll()
    assert news.feed_requests() == polled + 2


def test_feeds_edit_changes_a_feed_in_place(news: Newsroom) -> None:
    url = news.web.url("/feed.xml")
    edited = veille("feeds", "edit", url, "--every", "10m", "--title", "Mon flux", "--tag", "ia", "--tag", "labs",
                    "--feed-text", "never", "--json")
    assert edited.exit_code == 0, edited.stderr
    feed = edited.json()
    assert (feed["id"], feed["title"], feed["tags"], feed["every"]) == (1, "Mon flux", ["ia", "labs"], "10m")
    assert veille("feeds", "list", "--json").json()[0] == feed
    again = veille("feeds", "edit", "1", "--adaptive", "--clear-tags", "--tag", "news", "--title", "", "--json").json()
    assert (again["interval_mode"], again["tags"], again["title"]) == ("adaptive", ["news"], None)
    poll()
    assert veille("feeds", "list", "--json").json()[0]["title"] == "Test feed"  # the feed's own title, at the next poll
    late = veille("feeds", "edit", "1", "--backfill", "7d")
    assert late.exit_code == 0 and "--backfill applies to a feed's first poll only" in late.stderr
    both = veille("feeds", "edit", "1", "--every", "10m", "--adaptive")
    assert both.exit_code == 2 and "give one" in both.stderr
    bad = veille("feeds", "edit", "1", "--feed-text", "sometimes")
    assert bad.exit_code == 2 and "--feed-text: must be auto, always or never" in bad.stderr
    missing = veille("feeds", "edit", "7", "--title", "x")
    assert missing.exit_code == 1 and "no feed 7" in missing.stderr
    assert veille("feeds", "list", "--json").json()[0]["tags"] == ["news"]


# --------------------------------------------------------------------------- channels


def test_a_paused_channel_gets_no_alert_and_no_flood_when_resumed(news: Newsroom) -> None:
    assert veille("channels", "add", "slack", news.web.url("/slack-ops"), "--name", "ops").exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    paused = veille("channels", "pause", "ops")
    assert paused.exit_code == 0 and "until `veille channels resume ops`" in paused.stdout
    news.publish("/moshi", "Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi.")
    poll()
    assert news.alerted() == ["Kyutai ouvre Moshi"] and news.alerted("/slack-ops") == []

    assert veille("channels", "resume", "ops").exit_code == 0
    poll()
    assert news.alerted("/slack-ops") == []  # what happened during the pause is not sent afterwards
    news.publish("/moshi-2", "Kyutai publie le code de Moshi", "Kyutai ouvre son code.")
    poll()
    assert news.alerted("/slack-ops") == ["Kyutai publie le code de Moshi"]


def test_alerts_waiting_when_a_channel_is_paused_are_held_until_it_resumes(news: Newsroom, db_url: str) -> None:
    assert veille("channels", "add", "slack", news.web.url("/slack-ops"), "--name", "ops").exit_code == 0
    news.publish("/moshi", "Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi.")
    poll()
    # two alerts waiting: one per channel
    assert "2 new alerts for research, ops" in veille("track", "add", "Kyutai", "--backfill", "7d").stdout
    assert veille("channels", "pause", "ops", "--for", "7d").exit_code == 0
    poll()
    assert news.alerted() == ["Kyutai ouvre Moshi"] and news.alerted("/slack-ops") == []
    assert statuses(db_url) == {"research": "sent", "ops": "pending"}
    poll()
    assert news.alerted("/slack-ops") == []
    assert veille("channels", "resume", "ops").exit_code == 0
    poll()
    assert news.alerted("/slack-ops") == ["Kyutai ouvre Moshi"]


def statuses(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            return dict(s.execute(sql_select(Channel.name, Alert.status).join(Channel, Channel.id == Alert.channel_id))
                        .tuples().all())
    finally:
        engine.dispose()


def test_removing_a_channel_reroutes_its_entities_and_keeps_its_history(news: Newsroom, db_url: str) -> None:
    secret = news.web.url("/slack-ops") + "?token=s3cret"
    assert veille("channels", "add", "slack", secret, "--name", "ops").exit_code == 0
    assert veille("track", "add", "Kyutai", "--to", "ops").exit_code == 0
    assert veille("track", "add", "Moshi", "--to", "ops", "--to", "research").exit_code == 0
    news.publish("/moshi", "Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi.")
    poll()
    assert news.alerted("/slack-ops") == ["Kyutai ouvre Moshi"]
    # one more alert for ops, not sent yet: it is dropped with the channel
    news.publish("/station-f", "Station F fête ses dix ans", "Le campus Station F accueille mille start-up.")
    poll()
    assert "1 new alert for ops" in veille("track", "add", "Station F", "--to", "ops", "--backfill", "1d").stdout

    removed = veille("channels", "remove", "ops")  # no terminal: no question
    assert removed.exit_code == 0, removed.stderr
    assert "removed channel ops; 1 unsent alert dropped" in removed.stdout
    assert "Kyutai: no longer routed to ops; it now alerts every channel" in removed.stderr
    assert "Moshi: no longer routed to ops; it still alerts research" in removed.stderr
    routes = {e["name"]: e.get("to") for e in veille("track", "list", "--json").json()}
    assert routes == {"Kyutai": [], "Moshi": ["research"], "Station F": []}
    assert [c["name"] for c in veille("channels", "list", "--json").json()] == ["research"]
    assert [c["name"] for c in veille("status", "--json").json()["channels"]] == ["research"]

    # the history: the alert ops sent is still in `veille matches`
    (match,) = veille("matches", "--entity", "Kyutai", "--json").json()
    (sent,) = [a for a in match["alerts"] if a["channel"] == "ops"]
    assert (sent["status"], sent["channel_removed"]) == ("sent", True) and sent["sent_at"]
    # the removed channel keeps no secret
    engine = create_engine(db_url)
    with Session(engine) as s:
        targets = list(s.scalars(sql_select(Channel.target)))
    engine.dispose()
    assert not any("s3cret" in t for t in targets)

    poll()  # nothing goes to the removed channel
    assert news.alerted("/slack-ops") == ["Kyutai ouvre Moshi"]
    # its name is free again
    assert veille("channels", "add", "slack", news.web.url("/slack-ops"), "--name", "ops").exit_code == 0
    assert veille("channels", "remove", "nowhere").exit_code == 1


# --------------------------------------------------------------------------- asking before removing


def on_terminal(args: list[str], answer: str | None) -> tuple[int, str]:
    """Run `veille ARGS` as a real process on a pseudo-terminal; answer its question, if it asks one."""
    master, slave = os.openpty()
    process = subprocess.Popen([VEILLE, *args], stdin=slave, stdout=slave, stderr=slave, env=os.environ.copy(),
                               start_new_session=True)
    os.close(slave)
    output, answered = b"", False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the process is gone and closed its end
                break
            if not chunk:
                break
            output += chunk
            if answer is not None and not answered and b"[y/N]" in output:
                os.write(master, answer.encode() + b"\n")
                answered = True
        return process.wait(30), " ".join(output.decode().split())
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()


def in_a_pipe(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VEILLE, *args], input="", capture_output=True, text=True, timeout=60, env=os.environ.copy())


@pytest.fixture
def stocked(news: Newsroom) -> Newsroom:
    assert veille("track", "add", "Kyutai", "--to", "research").exit_code == 0
    news.publish("/moshi", "Kyutai ouvre Moshi", "Le laboratoire Kyutai publie Moshi.")
    news.publish("/assistant", "Un assistant vocal en français", "Moshi répond en temps réel.")
    poll()
    backfill = veille("track", "add", "Moshi", "--to", "research", "--backfill", "1d")
    assert "1 new alert for research" in backfill.stdout  # not sent yet
    return news


def test_remove_asks_on_a_terminal_and_says_what_goes_with_it(stocked: Newsroom) -> None:
    url = stocked.web.url("/feed.xml")
    code, text = on_terminal(["feeds", "remove", "1"], "n")
    assert f"Remove feed 1 ({url})? Its 3 entries go with it; its articles, matches and alerts stay. [y/N]" in text
    assert code == 1 and "nothing removed" in text
    assert len(veille("feeds", "list", "--json").json()) == 1

    code, text = on_terminal(["track", "remove", "Kyutai"], "n")
    assert ("Stop tracking Kyutai? Its 1 match goes with it; the articles and the alerts already sent stay. [y/N]"
            in text)
    assert code == 1 and tracked("Kyutai")

    code, text = on_terminal(["channels", "remove", "research"], "")  # Enter: the default, no
    assert ("Remove channel research (slack)? Its 1 alert not sent yet is dropped. Kyutai and Moshi are routed to "
            "it alone, and would then alert every channel. Its alert history stays in `veille matches`. [y/N]") in text
    assert code == 1 and len(veille("channels", "list", "--json").json()) == 1

    code, text = on_terminal(["track", "remove", "Kyutai"], "y")
    assert code == 0 and "stopped tracking Kyutai and its 1 match" in text
    code, text = on_terminal(["channels", "remove", "research", "--yes"], None)
    assert code == 0 and "[y/N]" not in text and "removed channel research; 1 unsent alert dropped" in text
    assert "Moshi: no longer routed to research; it now alerts every channel" in text
    code, text = on_terminal(["feeds", "remove", "1", "-y"], None)
    assert code == 0 and "[y/N]" not in text and f"removed {url}" in text


def test_remove_does_not_ask_without_a_terminal(stocked: Newsroom) -> None:
    for args, said in ((["feeds", "remove", "1"], "removed http"), (["track", "remove", "Kyutai"], "stopped tracking"),
                       (["channels", "remove", "research"], "removed channel research")):
        done = in_a_pipe(args)
        assert done.returncode == 0 and said in done.stdout, done.stderr
        assert "[y/N]" not in done.stdout + done.stderr
    assert veille("feeds", "list", "--json").json() == []
    assert [e["name"] for e in veille("track", "list", "--json").json()] == ["Moshi"]
    assert veille("channels", "list", "--json").json() == []



# --------------------------------------------------------------------------- digest channels


def test_a_paused_digest_channel_skips_its_windows_and_sends_what_waited_when_it_ends(
    database_url: str, tmp_path: Path
) -> None:
    from tests.alerts.conftest import SmtpServer
    from tests.test_delivery import add_articles, add_entity, make_ctx
    from tests.test_digests import add_digest_channel, make_due
    from tests.test_digests import statuses as alert_statuses
    from veille import pipeline
    from veille.digests import send_due_digests
    from veille.manage import channels

    mail = SmtpServer()
    ctx = make_ctx(database_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{mail.port}")
    try:
        channel_id = add_digest_channel(ctx)  # "me", daily
        add_entity(ctx, "Kyutai")
        pipeline.match_articles(ctx, add_articles(ctx, 2))
        assert alert_statuses(ctx) == ["queued", "queued"]
        channels.pause_channel(ctx.db, "me", duration="2d")
        make_due(ctx, channel_id)
        assert send_due_digests(ctx) == [] and mail.delivered == []  # its window is not claimed
        pipeline.match_articles(ctx, add_articles(ctx, 1, start=2))
        assert alert_statuses(ctx) == ["queued", "queued"]  # nothing piles up for a muted channel

        # the pause ends by itself (asked for 2 days, 3 days ago): the window that fell due goes out
        channels.pause_channel(ctx.db, "me", duration="2d", now=utcnow() - timedelta(days=3))
        (result,) = send_due_digests(ctx)
        assert (result.status, result.items) == ("sent", 2) and len(mail.delivered) == 1

        # removed with alerts waiting: they are cancelled, no digest goes out
        pipeline.match_articles(ctx, add_articles(ctx, 1, start=3))
        assert alert_statuses(ctx)[-1] == "queued"
        assert channels.remove_channel(ctx.db, "me").unsent == 1
        make_due(ctx, channel_id)
        assert send_due_digests(ctx) == [] and len(mail.delivered) == 1
        assert alert_statuses(ctx) == ["sent", "sent", "cancelled"]
    finally:
        ctx.db.dispose()
        mail.close()


def test_pauses_survive_an_export_and_an_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert veille("feeds", "import", str(opml(tmp_path))).exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    assert veille("track", "add", "Moshi").exit_code == 0
    assert veille("channels", "add", "webhook", "https://hooks.example/x", "--name", "ops").exit_code == 0
    assert veille("track", "pause", "Kyutai", "--until", "2999-12-09").exit_code == 0
    assert veille("channels", "pause", "ops").exit_code == 0
    assert veille("feeds", "pause", "1", "--until", "2999-01-01T12:00").exit_code == 0
    backup = tmp_path / "backup.json"
    assert veille("export", "--output", str(backup)).exit_code == 0

    def pauses() -> list[Any]:
        return [[(row["paused"], row["paused_until"]) for row in veille(*command, "--json").json()]
                for command in (("feeds", "list"), ("track", "list"), ("channels", "list"))]

    before = pauses()
    assert before == [[(True, "2999-01-01T12:00:00+00:00")], [(True, "2999-12-09T00:00:00+00:00"), (False, None)],
                      [(True, None)]]
    monkeypatch.setenv("VEILLE_DATABASE_URL", f"sqlite:///{tmp_path / 'restored.db'}")
    assert veille("import", str(backup)).exit_code == 0
    assert pauses() == before


def opml(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.opml"
    path.write_text('<opml version="2.0"><head/><body><outline text="Lab A" xmlUrl="https://a.example/feed.xml"/>'
                    "</body></opml>", encoding="utf-8")
    return path
