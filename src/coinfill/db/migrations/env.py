"""Alembic environment: always online, on the engine coinfill passes in."""

from __future__ import annotations

from alembic import context

from coinfill.db.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    context.run_migrations()
