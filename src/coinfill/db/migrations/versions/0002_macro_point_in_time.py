"""Macro point-in-time columns: first_value, value_known_at, missing_at_source.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import context, op

from coinfill.db.evolve import ensure_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adds the new nullable columns (and anything else missing); stored rows are untouched.
    context.config.attributes["changes"].extend(ensure_schema(op.get_bind()))


def downgrade() -> None:
    raise NotImplementedError("coinfill does not drop columns that may hold collected data")
