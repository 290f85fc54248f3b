"""Alembic migrations: from an empty database, over data written by the first schema, and in agreement with the
models (autogenerate finds nothing to do), on SQLite and (when VEILLE_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from veille.storage.db import MIGRATIONS, Database
from veille.storage.models import Alert, Article, Base, Channel, Entity, Feed
from veille.storage.search import outside_models

VEILLE = str(Path(sys.executable).with_name("veille"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def migrate(db: Database, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    revision = ScriptDirectory.from_config(config).get_current_head()
    assert revision is not None
    return revision


def current(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_empty_database_to_head(db: Database) -> None:
    db.upgrade()
    assert current(db) == head()
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    db.upgrade()  # again: nothing to do
    assert current(db) == head()


def test_models_and_migrations_agree(db: Database) -> None:
    db.upgrade()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": outside_models})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "the models and the migrations differ: write a migration for\n" + "\n".join(
        map(str, differences))


def test_every_downgrade_and_upgrade_on_an_empty_database(db: Database) -> None:
    migrate(db, "head")
    migrate(db, "base", down=True)
    assert current(db) is None
    assert not set(Base.metadata.tables) & set(inspect(db.engine).get_table_names())
    migrate(db, "head")
    assert current(db) == head()


ROWS_0001 = {
    "feeds": "INSERT INTO feeds (id, url, title, site_url, tags, enabled, interval, interval_fixed, feed_text, etag,"
             " last_modified, next_poll_at, last_poll_at, last_status, last_error, failures, created_at) VALUES "
             "(1, 'https://lab.example/rss', 'Lab', NULL, '[\"labs\"]', :t, 900.0, :f, 'auto', '\"e1\"', NULL, :now,"
             " :now, 'error', 'HTTP 500', 4, :now),"
             "(2, 'https://news.example/atom', 'News', NULL, '[]', :t, 600.0, :t, 'never', NULL, NULL, :now, NULL,"
             " NULL, NULL, 0, :now)",
    "entities": "INSERT INTO entities (id, name, name_key, aliases, excludes, options, enabled, created_at) VALUES "
                "(1, 'Kyutai', 'kyutai', '[]', '[]', '{}', :t, :now),"
                "(2, 'Mistral AI', 'mistral ai', '[\"Mistral\"]', '[\"vent\"]', '{}', :t, :now)",
    "channels": "INSERT INTO channels (id, name, kind, target, options, enabled, state, last_error, state_since,"
                " paused_until, created_at) VALUES "
                "(1, 'slack', 'slack', 'https://hooks.slack.com/services/T/B/X', '{}', :t, 'ok', NULL, :now, NULL,"
                " :now), (2, 'email', 'email', 'a@example.org', '{}', :t, 'ok', NULL, :now, NULL, :now)",
    "articles": "INSERT INTO articles (id, url_key, canonical_key, url, canonical_url, guid, feed_id, title,"
                " feed_summary, feed_content, text, language, author, published_at, first_seen_at, state, state_at,"
                " attempts, error, duplicate_of, matched_at) VALUES "
                "(1, 'lab.example/a', 'lab.example/a', 'https://lab.example/a', 'https://lab.example/a', 'g1', 1,"
                " 'Kyutai présente Moshi', 's', NULL, 'Kyutai présente Moshi.', 'fr', NULL, :now, :now, 'matched',"
                " :now, 1, NULL, NULL, :now),"
                "(2, 'news.example/b', NULL, 'https://news.example/b', NULL, NULL, 2, 'B', NULL, NULL, NULL, NULL,"
                " NULL, NULL, :now, 'new', :now, 0, NULL, NULL, NULL)",
    "entries": "INSERT INTO entries (id, feed_id, key, article_id, seen_at) VALUES (1, 1, 'g1', 1, :now),"
               " (2, 2, 'https://news.example/b', 2, :now), (3, 2, 'dup-of-a', 1, :now)",
    "matches": "INSERT INTO matches (id, article_id, entity_id, term, snippet, count, in_title, hl_start, hl_end,"
               " matched_at) VALUES (1, 1, 1, 'Kyutai', 'Kyutai présente Moshi.', 2, :t, 0, 6, :now)",
    "alerts": "INSERT INTO alerts (id, article_id, channel_id, status, attempts, next_attempt_at, claimed_at,"
              " enqueued_at, last_error, created_at, sent_at) VALUES "
              "(1, 1, 1, 'sent', 1, :now, :now, NULL, NULL, :now, :now),"
              "(2, 1, 2, 'pending', 2, :now, NULL, NULL, 'smtp: 451', :now, NULL)",
    "attempts": "INSERT INTO attempts (id, alert_id, at, ok, error, duration) VALUES (1, 1, :now, :t, NULL, 0.2),"
                " (2, 2, :now, :f, 'smtp: 451', 0.1), (3, 2, :now, :f, 'smtp: 451', 0.1)",
}


def test_upgrade_over_data_keeps_every_row(db: Database) -> None:
    migrate(db, "0001")
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    params = {"now": now if db.engine.dialect.name == "postgresql" else now.replace(tzinfo=None), "t": True,
              "f": False}
    with db.engine.begin() as connection:
        for statement in ROWS_0001.values():
            connection.execute(text(statement), params)
    before = {table: _rows(db, table) for table in ROWS_0001}

    db.upgrade()  # what every command does: 0001 -> head, with foreign keys on
    assert current(db) == head()
    for table, rows in before.items():
        after = _rows(db, table)
        assert len(after) == len(rows), f"{table}: {len(rows)} rows before, {len(after)} after"
        for old, new in zip(rows, after, strict=True):
            assert {k: v for k, v in new.items() if k in old} == old, table

    def load(s: object) -> tuple[Feed, Channel, Alert, Article, Entity]:
        return (s.get_one(Feed, 1), s.get_one(Channel, 1), s.get_one(Alert, 1),  # type: ignore[attr-defined]
                s.get_one(Article, 1), s.get_one(Entity, 2))  # type: ignore[attr-defined]

    feed, channel, alert, article, entity = db.run(load)
    assert feed.failures == 4 and feed.failing_notified is False and feed.failing_since is None
    assert channel.admin is False
    assert entity.aliases == ["Mistral"] and feed.tags == ["labs"]
    assert article.story_id is not None and alert.story_id == article.story_id  # old alerts became stories of one
    assert db.run(lambda s: s.scalars(select(Alert.story_id).order_by(Alert.id)).all()) == [article.story_id] * 2


def _rows(db: Database, table: str) -> list[dict[str, object]]:
    with db.engine.connect() as connection:
        result = connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))
        return [dict(row._mapping) for row in result]


def test_two_processes_upgrading_at_once(db: Database, tmp_path: Path) -> None:
    """Commands started together on an empty database: one migrates, the others wait and find it done."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(VEILLE_DATABASE_URL=db.url, VEILLE_DATA_DIR=str(tmp_path / "data"), VEILLE_LOG_LEVEL="WARNING")
    processes = [subprocess.Popen([VEILLE, "init"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert current(db) == head()
