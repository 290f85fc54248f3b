"""Sample data for the web page's benchmark and screenshots: feeds, tracked entities, stored articles with
their texts, matches, entries, stories, channels and alerts, inserted in bulk straight through the models.

The articles read like news: a title from a few patterns, 12 to 30 sentences drawn from a pool of sentences
made from templates and a news vocabulary (so full-text search meets long posting lists: "said" is in nearly
every article), and one topic word of :data:`TOPICS` (a topic word is in about 0.6 % of the articles: a
typical search), spread over the last 90 days. About 30 % of them name one tracked entity (a few two): those
have a match (its snippet the sentence naming it), a story (one in ten joins a recent story, as another
outlet's copy) and, when they alerted, an alert per channel. Ids are given here (the tables must be empty) and
PostgreSQL's sequences set after them.

``fill(db, articles=100_000)`` is what ``python -m veille.bench pages`` runs before timing the pages.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from veille.clock import utcnow
from veille.matching import fold_term
from veille.storage.db import Database
from veille.storage.models import (
    Alert,
    Article,
    Channel,
    Entity,
    Entry,
    Feed,
    Heartbeat,
    Match,
    Story,
)


def _words(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


NOUNS = _words(
    "council budget plan report market company government minister court board union station hospital school "
    "network project agreement decision proposal price cost rate tax law rule review inquiry survey study "
    "contract factory port site region city district committee agency industry sector supply demand plant "
    "programme strategy deal vote election campaign office team service system fund loan investment"
)
PAST = _words(
    "approved delayed announced rejected confirmed launched reviewed expanded reduced raised cut blocked "
    "backed criticised welcomed questioned published defended extended suspended postponed finished opened"
)
BASE = _words("approve delay announce reject confirm launch review expand reduce raise cut block back extend "
              "suspend postpone finish open change replace")
ADJECTIVES = _words("new local national regional annual public private major small large first final early "
                    "long short recent main key independent former joint")
WHERE = ("in the city", "in the region", "in the capital", "across the country", "in the north", "in the south",
         "at the port", "near the border", "in the suburbs", "on the coast")
WHEN = ("next year", "by the end of the month", "on Friday", "last week", "this spring", "within two years",
        "before the summer", "in the coming months", "since January", "after the election")
SENTENCES = (
    "The {adj} {noun} {past} the {noun2} {where} {when}.",
    "Officials said the {noun} would {base} the {noun2} {when}.",
    "{number} {noun}s were {past} {where}, according to the {noun2}.",
    "The {noun} has {past} the {adj} {noun2} {when}, the {noun3} said.",
    "Analysts said the {adj} {noun} could {base} the {noun2} {when}.",
    "A spokesperson for the {noun} said it had {past} the {noun2} and would {base} it {when}.",
    "The {noun2} was {past} {where} after the {noun} {past2} its {adj} {noun3}.",
    "Critics said the {noun} had not {past} enough to {base} the {adj} {noun2}.",
    "It is the {adj} time the {noun} has {past} a {noun2} {where}.",
    "Figures published {when} show the {noun} {past} the {noun2} by {number} percent.",
    "With the {noun} {past}, the {noun2} is expected to {base} the {noun3} {when}.",
    "The {noun3} said it was too early to say whether the {noun} would {base} the {adj} {noun2}.",
)
NUMBERS = ("Two", "Three", "Twelve", "Forty", "Several hundred", "About fifty", "Nine", "Eighteen")
COMMON = ("said", "the")  # the words in (nearly) every article: a search's worst case
TOPICS = _words(
    "harbour vaccine semiconductor drought wildfire pipeline satellite tariff referendum earthquake "
    "orchestra cathedral glacier railway stadium museum vineyard asteroid hurricane lithium copper wheat "
    "coffee salmon airline shipyard refinery reservoir telescope submarine microchip battery turbine "
    "hydrogen nuclear uranium cobalt nickel graphite textile fashion cinema festival marathon tennis cricket "
    "rugby cycling chess opera ballet theatre library archive manuscript painting sculpture architecture "
    "bridge tunnel highway airport subway tramway ferry canal dam levee mangrove coral reef rainforest "
    "savanna tundra volcano tsunami monsoon blizzard heatwave flood landslide avalanche pandemic outbreak "
    "antibiotic vaccination hospital clinic pharmacy surgeon nurse midwife dentist veterinarian farmer "
    "fisherman miner blacksmith carpenter plumber electrician baker brewer winemaker chocolatier perfumer "
    "jeweller goldsmith watchmaker locksmith tailor cobbler potter weaver glassblower printer publisher "
    "bookseller journalist photographer filmmaker novelist poet playwright composer conductor violinist "
    "pianist drummer guitarist singer dancer choreographer sculptor painter architect engineer chemist "
    "physicist biologist geologist astronomer botanist zoologist ecologist economist historian linguist "
    "philosopher mathematician statistician programmer cryptographer robotics drone blockchain quantum"
)
FIRST = _words("Amelia Bruno Chiara Dmitri Elena Farid Greta Hiro Ines Jonas Kenji Lucia Marek Nadia Omar Paula "
         "Quentin Rosa Sven Tamar Ugo Vera Wiktor Ximena Yusuf Zofia")
LAST = _words("Albers Borowski Castellanos Delacroix Eriksen Fontaine Gallardo Hartmann Ivanova Jansen Kowalczyk "
        "Lindqvist Moreau Nakamura Okafor Petrov Quiroga Rinaldi Santos Takahashi")
ORGS = _words("Northwind Labs|Helios Energy|Bluefin Robotics|Corvid Systems|Ardent Bio|Lumen Analytics|Quarry "
        "Motors|Tessellate AI|Orbital Freight|Saltmarsh Foods|Kestrel Aviation|Vantablack Media|Meridian Rail|"
        "Obsidian Security|Juniper Health|Halcyon Water|Pinnacle Steel|Sable Logistics|Cobalt Mining Group|"
        "Aurora Telecom", "|")
OUTLETS = _words("Courier Gazette Herald Tribune Observer Chronicle Post Times Journal Ledger Sentinel Dispatch "
           "Examiner Monitor Review Standard Mirror Beacon Record Bulletin")
PLACES = _words("Harbour Valley Northern Coastal Riverside Upland Eastern Western Lakeside Metro Highland Bay "
          "Prairie Island Capital Delta Summit Canyon Forest Border")
TITLES = (
    "{entity} announces {topic} plan as {common} {common2} grows",
    "{topic} talks stall while {entity} weighs its options",
    "Why {entity} is betting on the {topic} market",
    "{entity} faces questions over {topic} deal",
    "Inside the {topic} project that {entity} wants to build",
    "{topic} prices rise again, analysts say",
    "Local {topic} group warns of {common} {common2} costs",
    "What the new {topic} rules mean for {common} workers",
    "A week of {topic} news in five charts",
    "Council votes on {topic} budget after long debate",
)
CHANNELS = (("newsroom-slack", "slack", "https://hooks.slack.com/services/T000/B000/redacted"),
            ("alerts-webhook", "webhook", "https://hooks.example.org/veille"),
            ("analysts-mail", "email", "analysts@example.org"))
MATCHED = 0.30
TWO_ENTITIES = 0.05
ALERTED = 0.85
SHARED_STORY = 0.10
FAILING_FEEDS = 0.02
DAYS = 90
CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Sample:
    """What was stored, and what the page benchmark asks for: a topic word (about 1 % of the articles), a
    common word (in nearly every one), an entity's name, a match's id."""

    feeds: int
    entities: int
    articles: int
    matches: int
    alerts: int
    topic_word: str
    common_word: str
    entity: str
    match_id: int
    seconds: float


def entity_names(count: int) -> list[str]:
    names = list(ORGS) + [f"{first} {last}" for last in LAST for first in FIRST]
    if count > len(names):
        names += [f"Entity {n}" for n in range(count - len(names))]
    return names[:count]


def _sentences(rng: random.Random, count: int) -> list[str]:
    """A pool of news-like sentences from :data:`SENTENCES`."""
    pool = []
    for _ in range(count):
        nouns = rng.sample(NOUNS, 3)
        sentence = rng.choice(SENTENCES).format(
            adj=rng.choice(ADJECTIVES), noun=nouns[0], noun2=nouns[1], noun3=nouns[2], past=rng.choice(PAST),
            past2=rng.choice(PAST), base=rng.choice(BASE), where=rng.choice(WHERE), when=rng.choice(WHEN),
            number=rng.choice(NUMBERS))
        pool.append(sentence[0].upper() + sentence[1:])
    return pool


def fill(db: Database, *, articles: int = 100_000, feeds: int = 1000, entities: int = 100, days: int = DAYS,
         seed: int = 7, now: datetime | None = None, say: Callable[[str], None] = lambda _: None) -> Sample:
    """Fill the (upgraded, empty) database ``db`` with articles seen over the last ``days`` days; see the
    module."""
    started = time.monotonic()
    now = now or utcnow()
    rng = random.Random(seed)
    pool = _sentences(rng, 4000)
    names = entity_names(entities)
    outlets = [f"The {rng.choice(PLACES)} {rng.choice(OUTLETS)}" for _ in range(feeds)]

    created = now - timedelta(days=DAYS)
    with db.sessions() as s:
        s.execute(insert(Feed), [_feed(i + 1, outlets[i], rng, now) for i in range(feeds)])
        s.execute(insert(Entity), [{"id": i + 1, "name": name, "name_key": fold_term(name), "aliases": [],
                                    "excludes": [], "options": {}, "enabled": True, "created_at": created}
                                   for i, name in enumerate(names)])
        s.execute(insert(Channel), [{"id": i + 1, "name": name, "kind": kind, "target": target, "options": {},
                                     "enabled": True, "state": "ok", "state_since": now - timedelta(days=DAYS)}
                                    for i, (name, kind, target) in enumerate(CHANNELS)])
        s.execute(insert(Heartbeat), [{"name": "beat", "kind": "beat", "started_at": now - timedelta(days=1),
                                       "seen_at": now}])
        s.commit()
    say(f"  {feeds} feeds, {entities} entities, {len(CHANNELS)} channels")

    counts = {"matches": 0, "alerts": 0, "stories": 0}
    recent_stories: list[int] = []  # the latest stories, which a copy from another outlet may join
    batch: dict[str, list[dict[str, Any]]] = {"articles": [], "entries": [], "matches": [], "stories": [],
                                              "alerts": []}

    def flush(s: Session) -> None:
        for model, key in ((Article, "articles"), (Entry, "entries"), (Story, "stories"), (Match, "matches"),
                           (Alert, "alerts")):
            if batch[key]:
                s.execute(insert(model), batch[key])
                batch[key] = []
        s.commit()

    match_id = alert_id = 0
    with db.sessions() as s:
        for article_id in range(1, articles + 1):
            feed_id = rng.randrange(feeds) + 1
            # ids in the order articles were seen, over the last ``days`` days, a little out of order
            seen = now - timedelta(seconds=(1 - article_id / articles) * days * 86400 + rng.uniform(60, 3600))
            topic = rng.choice(TOPICS)
            sentences = rng.sample(pool, rng.randint(12, 30))
            sentences.insert(rng.randrange(len(sentences)), f"The {topic} question came up again this week.")
            named: list[int] = []
            if rng.random() < MATCHED:
                named.append(rng.randrange(len(names)) + 1)
                if rng.random() < TWO_ENTITIES:
                    other = rng.randrange(len(names)) + 1
                    if other != named[0]:
                        named.append(other)
            title_entity = names[named[0] - 1] if named and rng.random() < 0.5 else None
            title = rng.choice(TITLES[:5] if title_entity else TITLES[5:]).format(
                entity=title_entity or "", topic=topic, common=rng.choice(ADJECTIVES),
                common2=rng.choice(NOUNS))
            title = title[0].upper() + title[1:]
            mentions: list[tuple[int, str]] = []
            for entity_id in named:
                name = names[entity_id - 1]
                verb = rng.choice(("said", "declined to comment on", "announced", "confirmed"))
                what = rng.choice(("plan", "report", "deal", "talks"))
                sentence = f"{name} {verb} the {topic} {what} on {rng.choice(('Monday', 'Tuesday', 'Friday'))}."
                sentences.insert(rng.randrange(min(3, len(sentences))), sentence)
                mentions.append((entity_id, sentence))
            paragraphs = [" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)]
            url = f"https://news{feed_id}.example/{seen:%Y/%m/%d}/{topic}-{article_id}"
            story_id, first_of_story = None, False
            if named:
                if rng.random() < SHARED_STORY and recent_stories:  # another outlet's copy of a recent story
                    story_id = rng.choice(recent_stories)
                else:
                    counts["stories"] += 1
                    story_id, first_of_story = counts["stories"], True
                    batch["stories"].append({"id": story_id, "article_id": article_id, "created_at": seen})
                    recent_stories.append(story_id)
                    del recent_stories[:-50]
            batch["articles"].append({
                "id": article_id, "url_key": url, "canonical_key": url, "url": url, "canonical_url": url,
                "guid": url, "feed_id": feed_id, "title": title, "text": "\n\n".join(paragraphs),
                "feed_summary": f"<p>{sentences[0]}</p>", "language": "en", "published_at": seen - timedelta(minutes=5),
                "first_seen_at": seen, "state": "matched" if named else "fetched", "state_at": seen,
                "matched_at": seen if named else None, "story_id": story_id, "feed_title": title,
                "text_source": "page", "attempts": 1,
            })
            batch["entries"].append({"id": article_id, "feed_id": feed_id, "key": url, "article_id": article_id,
                                     "seen_at": seen})
            alerted_story = False
            for entity_id, sentence in mentions:
                name = names[entity_id - 1]
                match_id += 1
                alerted = rng.random() < ALERTED
                in_title = title_entity == name
                batch["matches"].append({
                    "id": match_id, "article_id": article_id, "entity_id": entity_id, "term": name,
                    "snippet": sentence, "count": 2 if in_title else 1, "in_title": in_title, "hl_start": 0,
                    "hl_end": len(name), "matched_at": seen + timedelta(seconds=rng.uniform(5, 300)),
                    "alerted": alerted, "reason": None if alerted else rng.choice(("backlog", "too old")),
                    "found_in": ["title", "text"] if in_title else ["text"],
                })
                if alerted and not alerted_story and first_of_story:  # a story alerts once, by its first article
                    alerted_story = True
                    for channel in range(1, len(CHANNELS) + 1):
                        alert_id += 1
                        sent = seen + timedelta(seconds=rng.uniform(5, 600))
                        batch["alerts"].append({
                            "id": alert_id, "article_id": article_id, "channel_id": channel, "status": "sent",
                            "attempts": 1, "next_attempt_at": sent, "created_at": seen, "sent_at": sent,
                            "story_id": story_id,
                        })
            if len(batch["articles"]) >= CHUNK:
                flush(s)
            if article_id % 20_000 == 0:
                say(f"  {article_id} articles ({time.monotonic() - started:.0f} s)")
        flush(s)
        counts["matches"], counts["alerts"] = match_id, alert_id
    _after_explicit_ids(db)
    return Sample(feeds=feeds, entities=entities, articles=articles, matches=counts["matches"],
                  alerts=counts["alerts"], topic_word=TOPICS[len(TOPICS) // 3], common_word=COMMON[0],
                  entity=names[0], match_id=match_id, seconds=time.monotonic() - started)


def _feed(feed_id: int, title: str, rng: random.Random, now: datetime) -> dict[str, Any]:
    failing = rng.random() < FAILING_FEEDS
    polled = now - timedelta(seconds=rng.uniform(0, 900))
    return {
        "id": feed_id, "url": f"https://news{feed_id}.example/feed.xml", "title": title,
        "site_url": f"https://news{feed_id}.example/", "tags": [], "enabled": True, "interval": 900.0,
        "interval_fixed": False, "feed_text": "auto", "next_poll_at": polled + timedelta(seconds=900),
        "last_poll_at": polled, "last_status": "error" if failing else "ok",
        "last_error": "HTTP 503 Service Unavailable" if failing else None, "failures": 4 if failing else 0,
        "failing_since": now - timedelta(hours=5) if failing else None, "first_ok_at": now - timedelta(days=DAYS),
        "created_at": now - timedelta(days=DAYS),
    }


def _after_explicit_ids(db: Database) -> None:
    """PostgreSQL: each sequence after the ids given here, and fresh statistics (what autovacuum would do
    within the minute); SQLite keeps no sequence, and gets no ANALYZE (veille never runs one)."""
    if db.engine.dialect.name != "postgresql":
        return
    tables: Sequence[str] = ("feeds", "entities", "channels", "articles", "entries", "stories", "matches", "alerts")
    with db.engine.begin() as connection:
        for table in tables:
            connection.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 1))"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
