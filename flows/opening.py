"""The opening every collector flow shares: settings read once, coverage targets checked, the
clock read once, the window planned, the database opened and its schema checked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import NamedTuple

from sqlalchemy import Engine

from coinfill.backfill import Window, plan_window
from coinfill.config import database_url
from coinfill.db.engine import make_engine
from coinfill.db.migrate import require_current_schema
from coinfill.macro.catalog import catalog
from coinfill.settings import Settings, load_settings
from expectations.contracts import validate_overrides


class Opening(NamedTuple):
    """What a flow opens with; a tuple, so a flow unpacks it in one line."""

    settings: Settings
    targets: dict[str, float]
    now: datetime
    window: Window
    engine: Engine


def open_database(settings: Settings) -> Engine:
    """The configured database, reachable and with coinfill's current schema (else one clear
    error that says to run ``coinfill db upgrade``)."""
    engine = make_engine(database_url(settings))
    require_current_schema(engine)
    return engine


def open_run(
    days: int | None,
    start: date | None,
    end: date | None,
    coverage_targets: dict[str, float] | None,
    scheduled_days: Callable[[Settings], int],
) -> Opening:
    settings = load_settings()
    targets = {**settings.coverage_targets, **(coverage_targets or {})}
    validate_overrides(targets, {"macro": list(catalog(settings.macro_series))})
    now = datetime.now(UTC).replace(tzinfo=None)
    window = plan_window(days, start, end, now=now, default_days=scheduled_days(settings))
    return Opening(settings, targets, now, window, open_database(settings))
