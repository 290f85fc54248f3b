"""full-text search over articles

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

SQLite: an FTS5 table over articles' titles and texts and the feed's own title and summary of each, kept in
step by triggers, filled from what is stored.
PostgreSQL: a generated tsvector column with a GIN index; accents are removed by the unaccent extension when
the server has it (and lets this user create it), else the text is indexed as it is.
See veille/storage/search.py.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = "title, text, feed_title, feed_summary"
NEW = "new.title, new.text, new.feed_title, new.feed_summary"
OLD = "old.title, old.text, old.feed_title, old.feed_summary"
SQLITE = [
    f"CREATE VIRTUAL TABLE articles_fts USING fts5({COLUMNS}, content='articles', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN "
    f"INSERT INTO articles_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END",
    "CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN "
    f"INSERT INTO articles_fts(articles_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD}); END",
    f"CREATE TRIGGER articles_fts_update AFTER UPDATE OF {COLUMNS} ON articles BEGIN "
    f"INSERT INTO articles_fts(articles_fts, rowid, {COLUMNS}) VALUES ('delete', old.id, {OLD}); "
    f"INSERT INTO articles_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END",
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE:
            op.execute(statement)
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    except sa.exc.DBAPIError:
        pass  # not installed, or not allowed: accents stay as they are
    schema = bind.execute(sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
    )).scalar()
    body = f"SELECT {schema}.unaccent('{schema}.unaccent', $1)" if schema else "SELECT $1"
    op.execute(f"CREATE OR REPLACE FUNCTION veille_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE "
               f"STRICT AS $$ {body} $$")
    op.execute("ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', "
               "veille_unaccent(coalesce(title, '') || ' ' || coalesce(text, '') || ' ' || coalesce(feed_title, '') "
               "|| ' ' || coalesce(feed_summary, '')))) STORED")
    op.execute("CREATE INDEX ix_articles_search ON articles USING gin (search)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("articles_fts_insert", "articles_fts_delete", "articles_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
        return
    op.execute("DROP INDEX IF EXISTS ix_articles_search")
    op.execute("ALTER TABLE articles DROP COLUMN IF EXISTS search")
    op.execute("DROP FUNCTION IF EXISTS veille_unaccent(text)")
