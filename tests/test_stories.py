"""Stories: near-duplicate articles from several outlets are one story and one alert per channel."""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import HTTPFixture, Route
from tests.helpers import rss, veille
from tests.test_delivery import add_channel, add_entity, make_ctx
from veille import pipeline, stories
from veille.storage.models import Alert, Article, Story, StoryBand, utcnow

VOCABULARY = [f"{a}{b}{c}" for a in ("al", "bo", "cu", "de", "ef") for b in ("ga", "hi", "jo", "ku", "le")
              for c in ("m", "n", "p", "r", "s", "t")]


def text(seed: int, words: int = 200) -> str:
    rng = random.Random(seed)
    return "Kyutai " + " ".join(rng.choice(VOCABULARY) for _ in range(words))


def edit(source: str, changed: int, seed: int = 0) -> str:
    """``source`` with ``changed`` words replaced (each change removes up to 4 shingles and adds 4)."""
    rng = random.Random(seed)
    words = source.split()
    for index in rng.sample(range(1, len(words)), changed):
        words[index] = "zz" + words[index]
    return " ".join(words)


# --------------------------------------------------------------------------- shingles and signatures


def test_shingles_ignore_case_and_punctuation() -> None:
    assert stories.shingles("Kyutai releases Moshi, an open model!") == stories.shingles(
        "kyutai RELEASES moshi an -- open model")
    assert len(stories.shingles("one two three four five")) == 2
    assert stories.shingles("too short") == set()


@pytest.mark.parametrize(("changed", "similar"), [(0, True), (3, True), (5, True), (9, False), (40, False)])
def test_similarity_is_the_share_of_4_shingles(changed: int, similar: bool) -> None:
    a, b = stories.shingles(text(1)), stories.shingles(edit(text(1), changed))
    assert (stories.similarity(a, b) >= stories.SIMILARITY) is similar


def test_lsh_bands_find_near_copies_and_rarely_unrelated_texts() -> None:
    def keys(source: str) -> set[int]:
        return set(stories.band_keys(stories.signature(stories.shingles(source))))

    copies = unrelated = 0
    for seed in range(200):
        original = text(seed, words=random.Random(seed).randint(60, 900))
        copy = edit(original, max(1, len(original.split()) // 60), seed)  # about 0.85 similar
        assert stories.similarity(stories.shingles(original), stories.shingles(copy)) >= 0.8
        copies += bool(keys(original) & keys(copy))
        unrelated += bool(keys(original) & keys(text(seed + 1000)))
    assert copies == 200  # every near copy is a candidate
    assert unrelated <= 10  # unrelated texts almost never are (and candidates are checked exactly)


# --------------------------------------------------------------------------- assigning stories in the database


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> Any:
    context = make_ctx(database_url, tmp_path)
    yield context
    context.db.dispose()


def add(ctx: pipeline.Context, key: str, body: str, *, hours: float = 0.0) -> int:
    def work(s: Any) -> int:
        article = Article(url_key=key, url=f"https://{key}", title=key, text=body, state="fetched",
                          published_at=utcnow() - timedelta(hours=48) + timedelta(hours=hours))
        s.add(article)
        s.flush()
        return article.id

    return ctx.db.run(work)


def story_of(ctx: pipeline.Context, article_id: int) -> int | None:
    return ctx.db.run(lambda s: s.get_one(Article, article_id).story_id)


def test_copies_within_48_hours_are_one_story_and_one_alert_per_channel(ctx: pipeline.Context) -> None:
    add_channel(ctx, "slack", "slack", "https://hooks.slack.example/x")
    add_channel(ctx, "mail", "email", "me@example.org")
    add_entity(ctx, "Kyutai")
    original = add(ctx, "a.example/moshi", text(1))
    copy = add(ctx, "b.example/kyutai-moshi", edit(text(1), 4), hours=30)  # 30 h later, a few words changed
    late = add(ctx, "c.example/moshi", edit(text(1), 2), hours=49)  # 49 h after the original, 19 h after copy
    other = add(ctx, "d.example/other", text(2), hours=1)

    first_alerts = pipeline.match_articles(ctx, [original])
    assert len(first_alerts) == 2
    assert pipeline.match_articles(ctx, [copy]) == []  # the story's alerts exist: nothing is sent again
    assert pipeline.match_articles(ctx, [late]) == []  # within 48 h of the copy
    assert len(pipeline.match_articles(ctx, [other])) == 2
    assert story_of(ctx, original) == story_of(ctx, copy) == story_of(ctx, late) != story_of(ctx, other)
    alerts = ctx.db.run(lambda s: s.scalars(select(Alert).order_by(Alert.id)).all())
    assert [(a.article_id, a.story_id) for a in alerts] == [
        (original, story_of(ctx, original)), (original, story_of(ctx, original)),
        (other, story_of(ctx, other)), (other, story_of(ctx, other)),
    ]
    message = ctx.db.run(lambda s: pipeline.build_message(s, s.get_one(Alert, first_alerts[0])))
    assert message.also_covered_by == (("b.example", "https://b.example/kyutai-moshi"),
                                       ("c.example", "https://c.example/moshi"))


def test_more_than_48_hours_apart_are_two_stories(ctx: pipeline.Context) -> None:
    add_entity(ctx, "Kyutai")
    first = add(ctx, "a.example/1", text(3))
    second = add(ctx, "b.example/1", text(3), hours=48.5)
    pipeline.match_articles(ctx, [first, second])
    assert story_of(ctx, first) != story_of(ctx, second)


def test_a_related_but_different_article_is_its_own_story(ctx: pipeline.Context) -> None:
    add_entity(ctx, "Kyutai")
    first = add(ctx, "a.example/1", text(4))
    rewritten = add(ctx, "b.example/1", edit(text(4), 15))  # about 70 % of shingles shared
    pipeline.match_articles(ctx, [first, rewritten])
    assert story_of(ctx, first) != story_of(ctx, rewritten)


def test_short_texts_are_never_grouped(ctx: pipeline.Context) -> None:
    add_entity(ctx, "Kyutai")
    ids = [add(ctx, f"x.example/{i}", "Kyutai publie un modèle.") for i in range(2)]
    pipeline.match_articles(ctx, ids)
    assert story_of(ctx, ids[0]) != story_of(ctx, ids[1])
    assert ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(StoryBand))) == 0


def test_lookup_goes_through_bands_not_a_scan(ctx: pipeline.Context) -> None:
    add_entity(ctx, "Kyutai")
    ids = [add(ctx, f"n.example/{i}", text(100 + i)) for i in range(30)]
    pipeline.match_articles(ctx, ids)
    bands = ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(StoryBand)))
    assert bands == 30 * stories.BANDS
    assert ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(Story))) == 30


def test_two_copies_matched_at_the_same_moment_are_one_story(database_url: str, tmp_path: Path) -> None:
    ctx = make_ctx(database_url, tmp_path)
    try:
        add_channel(ctx, "slack", "slack", "https://hooks.slack.example/x")
        add_entity(ctx, "Kyutai")
        for round_ in range(4):
            pair = [add(ctx, f"r{round_}-{i}.example/s", edit(text(200 + round_), i, seed=i)) for i in (1, 2)]
            barrier = threading.Barrier(2)
            created: list[list[int]] = []

            def worker(article_id: int, barrier: threading.Barrier, created: list[list[int]]) -> None:
                barrier.wait()
                created.append(pipeline.match_articles(ctx, [article_id]))

            threads = [threading.Thread(target=worker, args=(a, barrier, created)) for a in pair]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert story_of(ctx, pair[0]) == story_of(ctx, pair[1])
            assert sorted(len(c) for c in created) == [0, 1]  # one alert for the story
    finally:
        ctx.db.dispose()


# --------------------------------------------------------------------------- end to end: veille poll, veille matches


def story_page(outlet: str, title: str, body: str) -> bytes:
    return (f"<html><head><title>{title} - {outlet}</title></head><body><nav>{outlet} Accueil Tech Sciences</nav>"
            f"<article><h1>{title}</h1><p>{body}</p></article><footer>{outlet} 2026</footer></body></html>").encode()


WIRE = ("Le laboratoire parisien Kyutai a présenté mercredi Moshi, un modèle de langage vocal capable de tenir une "
        "conversation en temps réel. Selon ses fondateurs, le modèle répond en deux cents millisecondes et peut "
        "exprimer plus de soixante dix émotions différentes. Le code et les poids du modèle seront publiés en accès "
        "libre dans les prochaines semaines, a précisé l'équipe lors d'une présentation à Paris devant plusieurs "
        "centaines de chercheurs et de journalistes venus découvrir la démonstration.")


@pytest.mark.usefixtures("veille_env")
def test_the_same_story_from_three_outlets_is_one_alert_and_three_rows_in_matches(web: HTTPFixture) -> None:
    feeds = {"/a.xml": "Outlet A", "/b.xml": "Outlet B", "/c.xml": "Outlet C"}
    titles = {"/a.xml": "Kyutai présente Moshi", "/b.xml": "Moshi, l'IA vocale de Kyutai",
              "/c.xml": "Kyutai dévoile son assistant vocal"}
    for path, outlet in feeds.items():
        article = f"/{outlet[-1].lower()}/moshi"
        body = WIRE if path == "/a.xml" else WIRE.replace("mercredi", "ce mercredi")  # lightly edited copies
        # outlet A's page answers last: the alert still names the article its feed listed first
        web.routes[article] = Route(story_page(outlet, titles[path], body), delay=0.3 if path == "/a.xml" else 0.0)
        items = [{"title": titles[path], "link": web.url(article), "guid": article}]
        web.routes[path] = Route(rss(items if path != "/c.xml" else [], title=outlet), "application/rss+xml")
    web.routes["/d/other"] = Route(story_page("Outlet A", "Kyutai recrute", "Kyutai recrute dix chercheurs "
                                               "pour son laboratoire de Paris, annonce son directeur."))
    web.routes["/slack"] = Route(b"ok", "text/plain")
    assert veille("channels", "add", "slack", web.url("/slack")).exit_code == 0
    assert veille("track", "add", "Kyutai").exit_code == 0
    for path in feeds:
        assert veille("feeds", "add", web.url(path)).exit_code == 0

    assert veille("poll").exit_code == 0
    posts = [json.loads(r.body) for r in web.hits("/slack", "POST")]
    assert len(posts) == 1, [p["text"] for p in posts]
    assert "Also covered by" in json.dumps(posts[0]["blocks"])  # the copy came in the same poll

    # a third outlet publishes it later: no new alert, a third row in matches
    web.routes["/c.xml"] = Route(rss([{"title": titles["/c.xml"], "link": web.url("/c/moshi"), "guid": "/c/moshi"},
                                      {"title": "Kyutai recrute", "link": web.url("/d/other"), "guid": "/d/other"}],
                                     title="Outlet C"), "application/rss+xml")
    assert veille("poll").exit_code == 0
    posts = [json.loads(r.body) for r in web.hits("/slack", "POST")]
    assert [p["text"].split(" http")[0] for p in posts] == ["Kyutai: Kyutai présente Moshi", "Kyutai: Kyutai recrute"]

    rows = veille("matches", "--json").json()
    moshi = [r for r in rows if "recrute" not in r["title"]]
    assert len(moshi) == 3 and len({r["story"] for r in moshi}) == 1
    by_url = {r["url"]: r for r in moshi}
    first = by_url[web.url("/a/moshi")]
    assert first["also_covered_by"] == [{"outlet": "Outlet B", "url": web.url("/b/moshi")},
                                        {"outlet": "Outlet C", "url": web.url("/c/moshi")}]
    assert {"outlet": "Outlet A", "url": web.url("/a/moshi")} in by_url[web.url("/c/moshi")]["also_covered_by"]
    [other] = [r for r in rows if "recrute" in r["title"]]
    assert other["story"] != first["story"] and other["also_covered_by"] == []
