"""sources beyond feeds: listing pages and searches

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

A feed row becomes a source of one of three kinds: "feed" (what every existing row is), "page" (an HTML listing
page whose article links are its items) and "search" (a news search for one tracked entity, through one
provider, in one language). ``options`` holds what a kind needs (a page's ``any_site``; a search's provider,
query and language); a search belongs to its entity and goes with it. Columns added with defaults only.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="feed"))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("entity_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_feeds_entity_id", "entities", ["entity_id"], ["id"], ondelete="CASCADE")
        batch.create_index(batch.f("ix_feeds_entity_id"), ["entity_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_index(batch.f("ix_feeds_entity_id"))
        batch.drop_constraint("fk_feeds_entity_id", type_="foreignkey")
        batch.drop_column("entity_id")
        batch.drop_column("options")
        batch.drop_column("kind")
