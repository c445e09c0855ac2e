"""``coinfill db upgrade``: Alembic migrations run against the configured engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from coinfill.db.engine import safe_url
from coinfill.errors import ConfigurationError

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


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config_without_engine()).get_current_head()


def _config_without_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def require_current_schema(engine: Engine) -> None:
    """A run on a database without coinfill's schema (or with an older one) stops before it
    starts, saying how to fix it — instead of a "no such table" in the middle of the run."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "has no coinfill schema" if current is None else f"is at revision {current}"
        raise ConfigurationError(
            f"the database {safe_url(engine.url)} {state} (this coinfill needs {head}): run "
            "`coinfill db upgrade` first"
        )
