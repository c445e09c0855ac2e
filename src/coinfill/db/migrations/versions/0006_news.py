"""News: why an article was not scored, its feed, an index on published_at, news_feed_state.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from alembic import context, op

from coinfill.db.evolve import ensure_schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adds the new nullable columns (and anything else missing); stored rows are untouched.
    context.config.attributes["changes"].extend(ensure_schema(op.get_bind()))


def downgrade() -> None:
    raise NotImplementedError("coinfill does not drop columns that may hold collected data")
