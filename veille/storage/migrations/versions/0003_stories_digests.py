"""stories, digests, flood control: one alert per (story, channel)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Every article that already has an alert becomes a story of one, so the new rule
(one alert per story and channel) holds over old data too.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "story_bands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("band", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["articles.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("story_bands") as batch:
        batch.create_index(batch.f("ix_story_bands_band"), ["band"], unique=False)
        batch.create_index(batch.f("ix_story_bands_article_id"), ["article_id"], unique=False)
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "due_at", name="uq_digests_channel_due"),
    )
    with op.batch_alter_table("digests") as batch:
        batch.create_index(batch.f("ix_digests_next_attempt_at"), ["next_attempt_at"], unique=False)

    # Only ADD COLUMN and CREATE INDEX on existing tables: on SQLite anything else makes Alembic copy the
    # table, and dropping the old copy with foreign keys on would cascade-delete the rows that point at it.
    # So the new columns of articles and alerts are plain integers (no foreign key) and the new rule is a
    # unique index.
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_articles_story_id"), ["story_id"], unique=False)
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("next_send_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_digest_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_alerts_digest_id"), ["digest_id"], unique=False)

    # old alerts: each alerted article is a story of one
    op.execute(
        "INSERT INTO stories (article_id, created_at) "
        "SELECT DISTINCT alerts.article_id, articles.first_seen_at FROM alerts "
        "JOIN articles ON articles.id = alerts.article_id"
    )
    op.execute(
        "UPDATE articles SET story_id = (SELECT stories.id FROM stories WHERE stories.article_id = articles.id) "
        "WHERE id IN (SELECT article_id FROM stories)"
    )
    op.execute(
        "UPDATE alerts SET story_id = (SELECT articles.story_id FROM articles WHERE articles.id = alerts.article_id)"
    )
    op.create_index("uq_alerts_story_channel", "alerts", ["story_id", "channel_id"], unique=True)


def downgrade() -> None:
    # plain DROP INDEX / DROP COLUMN (SQLite >= 3.35 has it): no table copy, no cascade
    op.drop_index("uq_alerts_story_channel", table_name="alerts")
    op.drop_index("ix_alerts_digest_id", table_name="alerts")
    op.drop_column("alerts", "digest_id")
    op.drop_column("alerts", "story_id")
    op.drop_column("channels", "next_digest_at")
    op.drop_column("channels", "next_send_at")
    op.drop_index("ix_articles_story_id", table_name="articles")
    op.drop_column("articles", "story_id")
    op.drop_table("digests")
    op.drop_table("story_bands")
    op.drop_table("stories")
