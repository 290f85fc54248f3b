"""the first hour and the first month: backfill, the feed's own words, pauses, heartbeats

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Columns added with defaults only (SQLite adds them in place, copying no table), and one new table.
Feeds polled before this revision count as already polled once: their next poll is not a first poll.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("backfill", sa.Float(), nullable=True))
        batch.add_column(sa.Column("first_ok_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resume_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("entities") as batch:
        batch.add_column(sa.Column("resume_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("resume_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("feed_title", sa.Text(), nullable=True))
        batch.add_column(sa.Column("quiet", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("text_source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("alerted", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("found_in", sa.JSON(), nullable=True))
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    feeds = sa.table("feeds", sa.column("id", sa.Integer()), sa.column("last_status", sa.String()),
                     sa.column("last_poll_at", sa.DateTime(timezone=True)),
                     sa.column("first_ok_at", sa.DateTime(timezone=True)))
    entries = sa.table("entries", sa.column("feed_id", sa.Integer()))
    polled = sa.or_(
        feeds.c.last_status.in_(("ok", "not modified")),
        sa.exists(sa.select(sa.literal(1)).select_from(entries).where(entries.c.feed_id == feeds.c.id)),
    )
    op.execute(feeds.update().where(polled, feeds.c.last_poll_at.is_not(None))
               .values(first_ok_at=feeds.c.last_poll_at))


def downgrade() -> None:
    op.drop_table("heartbeats")
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("found_in")
        batch.drop_column("reason")
        batch.drop_column("alerted")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("text_source")
        batch.drop_column("quiet")
        batch.drop_column("feed_title")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("resume_at")
    with op.batch_alter_table("entities") as batch:
        batch.drop_column("resume_at")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("resume_at")
        batch.drop_column("first_ok_at")
        batch.drop_column("backfill")
