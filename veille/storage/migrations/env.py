"""Alembic environment: runs on the connection veille.storage.db hands over."""

from alembic import context

from veille.storage.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic` run by hand: build an engine from the ini's URL
    from veille.storage.db import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    connection = engine.connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
