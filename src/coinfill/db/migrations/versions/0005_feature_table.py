"""Feature table: per-metric on-chain sources, eligible_mask, feature_refresh_state.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from alembic import context, op

from coinfill.db.evolve import ensure_schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adds the new nullable columns (and anything else missing); stored rows are untouched.
    context.config.attributes["changes"].extend(ensure_schema(op.get_bind()))


def downgrade() -> None:
    raise NotImplementedError("coinfill does not drop columns that may hold collected data")
