"""``coinfill db upgrade``: Alembic migrations run against the configured engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    config.attributes["changes"] = []
    return config


def upgrade(engine: Engine, revision: str = "head") -> list[str]:
    """Migrate to ``revision``; return what was changed (empty when already current)."""
    config = _config(engine)
    command.upgrade(config, revision)
    changes: list[str] = config.attributes["changes"]
    return changes


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
