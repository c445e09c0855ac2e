"""The schema of DESIGN §3: every table, created where missing, old tables adopted as they are.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import context, op

from coinfill.db.evolve import ensure_schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ensure_schema is idempotent and never drops or rewrites data, so adopting a database of
    # the old system is the same step as creating a new one.
    context.config.attributes["changes"].extend(ensure_schema(op.get_bind()))


def downgrade() -> None:
    raise NotImplementedError("coinfill does not drop tables that may hold collected data")
