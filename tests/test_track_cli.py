"""Tracking options through the CLI: each one changes which articles alert, as a user would see it in
Slack; `track test` previews on stored articles; `track add --backfill` alerts on recent ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from tests.conftest import HTTPFixture, Route, SMTPFixture
from tests.helpers import rss, veille
from veille.storage.models import Alert, Article, Channel, utcnow

pytestmark = pytest.mark.usefixtures("veille_env")


def page(title: str, *paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title></head><body>'
        f"<header><nav><a href='/'>Accueil</a></nav></header><main><article><h1>{title}</h1>{body}</article></main>"
        "<footer>Tous droits réservés.</footer></body></html>"
    ).encode()


# Five articles, each about something else, so that no two are one story.
ARTICLES: dict[str, tuple[str, bytes]] = {
    "/meteo/mistral-provence": (
        "Le mistral souffle fort sur la Provence",
        page(
            "Le mistral souffle fort sur la Provence",
            "Le mistral, ce vent froid venu du nord, souffle à plus de cent kilomètres par heure depuis lundi sur "
            "la vallée du Rhône et la Camargue. Les pompiers restent mobilisés contre les départs de feu.",
            "Météo-France a placé trois départements en vigilance orange jusqu’à jeudi soir. Les bateaux restent "
            "au port de Marseille et les vols de canadairs sont suspendus tant que les rafales durent.",
        ),
    ),
    "/ia/mistral-llm": (
        "La start-up parisienne publie un nouveau modèle",
        page(
            "La start-up parisienne publie un nouveau modèle",
            "Mistral a présenté mardi un LLM de raisonnement ouvert, entraîné sur ses propres grappes de calcul "
            "en Essonne. Le modèle rivalise selon ses auteurs avec les meilleurs systèmes américains.",
            "Ses dirigeants visent désormais les entreprises européennes soucieuses de garder leurs données sur "
            "le continent, et promettent une version plus petite pour les téléphones avant l’été.",
        ),
    ),
    "/tech/meta-llama": (
        "Llama 5 arrive chez les développeurs",
        page(
            "Llama 5 arrive chez les développeurs",
            "Meta a ouvert mercredi l’accès à Llama 5 aux développeurs du monde entier. Le groupe de Menlo Park "
            "mise sur des poids ouverts pour attirer les chercheurs et les start-up vers son écosystème.",
            "Le laboratoire FAIR, fondé à Paris et à New York, a conduit une large part des travaux, selon un "
            "billet publié par l’équipe de recherche sur son blog technique.",
        ),
    ),
    "/science/meta-analyse": (
        "Ce que disent vraiment les études sur le café",
        page(
            "Ce que disent vraiment les études sur le café",
            "Une vaste meta-analysis publiée cette semaine reprend quarante ans d’études sur le café et la santé "
            "cardiaque. Les auteurs ont croisé les métadonnées de deux cents cohortes sur quatre continents.",
            "Leur conclusion est prudente : trois tasses par jour ne semblent pas nuire, mais les biais des études "
            "anciennes restent nombreux. A fair conclusion, selon un épidémiologiste de Boston.",
        ),
    ),
    "/ia/kyutai-moshi": (
        "Kyutai dévoile Moshi, son assistant vocal",
        page(
            "Kyutai dévoile Moshi, son assistant vocal",
            "Le laboratoire Kyutai a présenté Moshi, un assistant vocal qui répond en temps réel et en français. "
            "Fondé en 2023, Kyutai publie tous ses travaux sous licence ouverte.",
            "Les chercheurs de Kyutai expliquent avoir entraîné le modèle sur plusieurs millions d’heures de "
            "dialogues enregistrés, puis l’avoir affiné sur des conversations écrites par des acteurs.",
        ),
    ),
    "/eco/levee-fonds": (
        "Les start-up françaises lèvent moins qu’en 2025",
        page(
            "Les start-up françaises lèvent moins qu’en 2025",
            "Les jeunes pousses françaises ont levé 2,1 milliards d’euros au troisième trimestre, un recul de "
            "vingt pour cent sur un an selon le baromètre publié lundi par un cabinet parisien.",
            "Seul le secteur de l’intelligence artificielle progresse, porté par quelques gros tours de table. "
            "Kyutai, soutenu par Xavier Niel, est cité parmi les laboratoires qui attirent les talents.",
        ),
    ),
}
KYUTAI_FEATURE, KYUTAI_PASSING = "/ia/kyutai-moshi", "/eco/levee-fonds"


def serve(web: HTTPFixture) -> None:
    items = [{"title": title, "link": web.url(path), "guid": path} for path, (title, _) in ARTICLES.items()]
    web.routes["/rss.xml"] = Route(rss(items), "application/rss+xml")
    for path, (_, body) in ARTICLES.items():
        web.routes[path] = Route(body, "text/html; charset=utf-8")
    web.routes["/slack"] = Route(b"ok", "text/plain")
    web.routes["/slack-ops"] = Route(b"ok", "text/plain")


def alerted(web: HTTPFixture, path: str = "/slack") -> set[str]:
    """The titles of the articles Slack was told about."""
    titles: set[str] = set()
    for request in web.hits(path, "POST"):
        text = json.loads(request.body)["text"]
        titles.update(title for title, _ in ARTICLES.values() if title in text)
    return titles


@pytest.fixture
def watch(web: HTTPFixture) -> HTTPFixture:
    return watching(web)


@pytest.fixture
def watch_db(
    web: HTTPFixture, database_url: str, veille_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> HTTPFixture:
    """`watch` on SQLite, and on PostgreSQL when VEILLE_TEST_POSTGRES_URL is set."""
    monkeypatch.setenv("VEILLE_DATABASE_URL", database_url)
    veille_env["VEILLE_DATABASE_URL"] = database_url
    return watching(web)


def watching(web: HTTPFixture) -> HTTPFixture:
    serve(web)
    assert veille("feeds", "add", web.url("/rss.xml")).exit_code == 0
    assert veille("channels", "add", "slack", web.url("/slack"), "--name", "research").exit_code == 0
    web.requests.clear()
    return web


def title(path: str) -> str:
    return ARTICLES[path][0]


WIND, MISTRAL, META, META_WORD = (title(p) for p in list(ARTICLES)[:4])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # the wind over Provence is named Mistral too
        (["Mistral AI", "--alias", "Mistral"], {WIND, MISTRAL}),
        (["Mistral AI", "--alias", "Mistral", "--require", "AI,IA,LLM,modèle"], {MISTRAL}),
        (["Mistral AI", "--alias", "Mistral", "--exclude", "vent"], {MISTRAL}),
        (["Mistral", "--query", '"Mistral AI" OR (Mistral (LLM OR modèle)) -vent'], {MISTRAL}),
        (["Mistral", "--query", "Mistral intitle:mistral"], {WIND}),
        # meta the word (meta-analysis) and Meta the company
        (["Meta"], {META, META_WORD}),
        (["Meta Platforms", "--alias-exact", "Meta"], {META}),
        (["FAIR"], {META, META_WORD}),  # "A fair conclusion"
        (["FAIR", "--exact"], {META}),
        # a passing mention (once, in the body) and an article about it (in the title and three times in the text)
        (["Kyutai"], {title(KYUTAI_FEATURE), title(KYUTAI_PASSING)}),
        (["Kyutai", "--min-mentions", "2"], {title(KYUTAI_FEATURE)}),
        (["Kyutai", "--in-title"], {title(KYUTAI_FEATURE)}),
    ],
)
def test_each_option_changes_what_alerts(watch: HTTPFixture, args: list[str], expected: set[str]) -> None:
    assert veille("track", "add", *args).exit_code == 0
    result = veille("poll")
    assert result.exit_code == 0, result.stderr
    assert alerted(watch) == expected
    assert len(watch.hits("/slack", "POST")) == len(expected)  # one alert per article


def test_alerts_mark_the_hit_in_slack_and_email(
    watch: HTTPFixture, smtp: SMTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLE_SMTP_URL", smtp.url)
    monkeypatch.setenv("VEILLE_EMAIL_FROM", "veille@test.example")
    assert veille("channels", "add", "email", "analyst@test.example").exit_code == 0
    assert veille("track", "add", "Mistral AI", "--alias", "Mistral", "--require", "LLM").exit_code == 0
    assert veille("poll").exit_code == 0
    (post,) = [json.loads(r.body) for r in watch.hits("/slack", "POST")]
    blocks = json.dumps(post["blocks"], ensure_ascii=False)
    assert "*Mistral* a présenté mardi un LLM de raisonnement ouvert" in blocks
    (message,) = smtp.messages
    html = next(part for part in message.walk() if part.get_content_type() == "text/html").get_content()
    assert "<strong>Mistral</strong></mark> a présenté mardi un LLM" in html
    (match,) = veille("matches", "--json").json()
    assert match["term"] == "Mistral" and match["snippet"].startswith("Mistral a présenté mardi un LLM")


def test_bad_definitions_are_refused_and_nothing_is_saved(watch: HTTPFixture) -> None:
    result = veille("track", "add", "Mistral", "--query", '"Mistral AI" OR')
    assert result.exit_code == 2 and "--query" in result.stderr and "OR needs a word" in result.stderr
    result = veille("track", "add", "Kyutai", "--backfill", "soon")
    assert result.exit_code == 2 and "--backfill" in result.stderr and "not a duration" in result.stderr
    result = veille("track", "test", "(Mistral")
    assert result.exit_code == 2 and "never closed" in result.stderr
    assert veille("track", "list", "--json").json() == []


# --------------------------------------------------------------------------- track test


def stored(web: HTTPFixture) -> None:
    """Poll with nothing tracked: the articles are fetched and stored, nothing alerts."""
    assert veille("poll").exit_code == 0
    assert alerted(web) == set()


def test_track_test_lists_the_stored_articles_that_would_match(watch_db: HTTPFixture) -> None:
    watch = watch_db
    stored(watch)
    found = veille("track", "test", "Kyutai", "--json").json()
    assert {f["title"] for f in found} == {title(KYUTAI_FEATURE), title(KYUTAI_PASSING)}
    feature = next(f for f in found if f["title"] == title(KYUTAI_FEATURE))
    assert feature["url"] == watch.url(KYUTAI_FEATURE)
    assert (feature["term"], feature["in_title"], feature["count"]) == ("Kyutai", True, 4)  # title and text
    assert feature["snippet"][slice(*feature["highlight"])] == "Kyutai"

    # the same options as `track add`
    only = veille("track", "test", "Kyutai", "--min-mentions", "2", "--json").json()
    assert [f["title"] for f in only] == [title(KYUTAI_FEATURE)]
    plain = veille("track", "test", "Mistral", "--json").json()
    assert {f["title"] for f in plain} == {WIND, MISTRAL}
    context = veille("track", "test", "Mistral", "--require", "LLM,IA", "--json").json()
    assert [f["title"] for f in context] == [MISTRAL]
    # a query, recognised by its syntax
    query = veille("track", "test", '"Mistral AI" OR (Mistral (LLM OR modèle)) -vent', "--json").json()
    assert [f["title"] for f in query] == [MISTRAL]

    # nothing was saved, nothing alerted
    assert veille("track", "list", "--json").json() == []
    assert veille("poll").exit_code == 0
    assert alerted(watch) == set()


def test_track_test_prints_title_url_term_and_snippet_and_says_what_was_vetoed(watch: HTTPFixture) -> None:
    stored(watch)
    result = veille("track", "test", "Mistral", "--exclude", "vent")
    assert result.exit_code == 0, result.stderr
    assert "1 stored article of the last 30d would have matched" in result.stdout
    assert MISTRAL in result.stdout and watch.url("/ia/mistral-llm") in result.stdout
    assert "via 'Mistral'" in result.stdout
    assert "Mistral a présenté mardi un LLM de raisonnement ouvert" in result.stdout
    assert "1 more mentioned it but would not alert" in result.stdout
    assert f'{WIND}: excluded by "vent"' in result.stdout


def test_track_test_uses_a_tracked_entitys_saved_definition(watch: HTTPFixture) -> None:
    stored(watch)
    assert veille("track", "add", "Meta Platforms", "--alias-exact", "Meta").exit_code == 0
    found = veille("track", "test", "meta platforms", "--json").json()
    assert [f["title"] for f in found] == [META]


def test_track_test_window(watch: HTTPFixture, veille_env: dict[str, str]) -> None:
    stored(watch)
    age(veille_env, KYUTAI_PASSING, days=10)

    def titles(*args: str) -> set[str]:
        return {f["title"] for f in veille("track", "test", "Kyutai", *args, "--json").json()}

    assert titles("--since", "7d") == {title(KYUTAI_FEATURE)}
    assert titles() == {title(KYUTAI_FEATURE), title(KYUTAI_PASSING)}  # 30 days by default


# --------------------------------------------------------------------------- track add --backfill


def session(veille_env: dict[str, str]) -> Iterator[Session]:
    engine = create_engine(veille_env["VEILLE_DATABASE_URL"])
    try:
        with Session(engine) as s, s.begin():
            yield s
    finally:
        engine.dispose()


def rows(veille_env: dict[str, str], query: Any) -> list[Any]:
    for s in session(veille_env):
        return list(s.execute(query).all())
    return []


def age(veille_env: dict[str, str], path: str, *, days: int) -> None:
    """Make a stored article look as if it was seen and matched `days` ago."""
    then = utcnow() - timedelta(days=days)
    for s in session(veille_env):
        s.execute(update(Article).where(Article.url.endswith(path)).values(first_seen_at=then, matched_at=then))


def pending_alerts(veille_env: dict[str, str]) -> list[tuple[str, str, str, Any]]:
    return [
        (article_url.removeprefix("http://").split("/", 1)[1], channel, status, enqueued_at)
        for article_url, channel, status, enqueued_at in rows(
            veille_env,
            select(Article.url, Channel.name, Alert.status, Alert.enqueued_at)
            .join(Article, Article.id == Alert.article_id)
            .join(Channel, Channel.id == Alert.channel_id)
            .order_by(Channel.name),
        )
    ]


def test_backfill_is_off_by_default(watch: HTTPFixture, veille_env: dict[str, str]) -> None:
    stored(watch)
    result = veille("track", "add", "Kyutai")
    assert result.exit_code == 0 and "backfill" not in result.stdout
    assert veille("poll").exit_code == 0
    assert alerted(watch) == set() and pending_alerts(veille_env) == []


def test_backfill_creates_one_pending_alert_per_channel_once(
    watch_db: HTTPFixture, smtp: SMTPFixture, monkeypatch: pytest.MonkeyPatch, veille_env: dict[str, str]
) -> None:
    watch = watch_db
    monkeypatch.setenv("VEILLE_SMTP_URL", smtp.url)
    monkeypatch.setenv("VEILLE_EMAIL_FROM", "veille@test.example")
    assert veille("channels", "add", "email", "analyst@test.example", "--name", "mail").exit_code == 0
    stored(watch)

    result = veille("track", "add", "Kyutai", "--in-title", "--backfill", "7d")
    assert result.exit_code == 0, result.stderr
    assert "1 of 6 stored articles matched; 2 new alerts for research, mail" in result.stdout
    assert pending_alerts(veille_env) == [
        ("ia/kyutai-moshi", "mail", "pending", None),
        ("ia/kyutai-moshi", "research", "pending", None),
    ]
    (match,) = veille("matches", "--json").json()
    assert (match["entity"], match["title"]) == ("Kyutai", title(KYUTAI_FEATURE))

    # `veille poll` delivers them, once
    assert veille("poll").exit_code == 0
    assert alerted(watch) == {title(KYUTAI_FEATURE)} and len(watch.hits("/slack", "POST")) == 1
    assert len(smtp.messages) == 1 and "Kyutai" in str(smtp.messages[0]["Subject"])

    # a second backfill of the same article: no new alert on either channel
    assert veille("track", "remove", "Kyutai").exit_code == 0
    again = veille("track", "add", "Kyutai", "--in-title", "--backfill", "7d")
    assert again.exit_code == 0
    assert "1 of 6 stored articles matched; 0 new alerts" in again.stdout
    other = veille("track", "add", "Moshi", "--backfill", "7d")  # another entity, the same article
    assert "1 of 6 stored articles matched; 0 new alerts" in other.stdout
    assert len(pending_alerts(veille_env)) == 2
    assert veille("poll").exit_code == 0
    assert len(watch.hits("/slack", "POST")) == 1 and len(smtp.messages) == 1


def test_backfill_respects_the_window_and_routing(watch_db: HTTPFixture, veille_env: dict[str, str]) -> None:
    watch = watch_db
    assert veille("channels", "add", "slack", watch.url("/slack-ops"), "--name", "ops").exit_code == 0
    stored(watch)
    age(veille_env, KYUTAI_PASSING, days=10)
    result = veille("track", "add", "Kyutai", "--to", "ops", "--backfill", "7d")
    assert result.exit_code == 0, result.stderr
    assert "1 of 5 stored articles matched; 1 new alert for ops" in result.stdout
    assert pending_alerts(veille_env) == [("ia/kyutai-moshi", "ops", "pending", None)]
    assert veille("poll").exit_code == 0
    assert alerted(watch, "/slack-ops") == {title(KYUTAI_FEATURE)}
    assert alerted(watch, "/slack") == set()


def test_backfill_without_a_channel_logs_the_alerts(web: HTTPFixture, caplog: pytest.LogCaptureFixture) -> None:
    serve(web)
    assert veille("feeds", "add", web.url("/rss.xml")).exit_code == 0
    stored(web)
    caplog.set_level("INFO", logger="veille.preview")
    result = veille("track", "add", "Kyutai", "--min-mentions", "2", "--backfill", "7d")
    assert "1 of 6 stored articles matched; 0 new alerts for no channel (alerts go to the log)" in result.stdout
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")] == [
        f"ALERT Kyutai: {title(KYUTAI_FEATURE)} <{web.url(KYUTAI_FEATURE)}>"
    ]
