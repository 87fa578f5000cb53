"""Alembic environment: the engine comes from ``config.attributes`` (see parley.store.migrate)."""

from __future__ import annotations

from alembic import context

from parley.store.tables import metadata

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
