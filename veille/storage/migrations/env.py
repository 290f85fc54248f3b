"""Alembic environment: runs on the connection veille.storage.db hands over."""

from alembic import context

from veille.storage.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    # `alembic upgrade` run by hand: go through veille's own upgrade, which on SQLite turns foreign keys off
    # while a batch migration copies a table (with them on, dropping the old copy would delete every row
    # pointing at it) and takes the migration lock
    from veille.storage.db import Database

    Database(config.get_main_option("sqlalchemy.url") or "").upgrade()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
