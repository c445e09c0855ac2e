"""Asset registry: crypto_assets.price_history_start (the earliest bar the price source has).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import context, op

from coinfill.db.evolve import ensure_schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adds the new nullable columns (and anything else missing); stored rows are untouched.
    context.config.attributes["changes"].extend(ensure_schema(op.get_bind()))


def downgrade() -> None:
    raise NotImplementedError("coinfill does not drop columns that may hold collected data")
