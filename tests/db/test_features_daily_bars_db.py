"""Feature eligibility follows the price bars' interval (SQLite, real bundled prices).

With 1d bars (``COINFILL_PRICE_INTERVAL=1d``) a row has no bar 1 h or 4 h earlier, and
``price_features`` has no hourly log returns to take a volatility of: those cells can never be
filled, so coverage must not count them as eligible (as missing). A return over a whole number
of bars is computed on every row that has the history, and is eligible exactly there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import Engine

from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.features.build import Scope, build_chunk
from coinfill.features.catalog import BIT
from coinfill.features.inputs import load_inputs
from coinfill.macro.catalog import catalog
from coinfill.validation.gxrun import validate
from coinfill.validation.report import ColumnCoverage, SuiteReport
from expectations.contracts import contract_for
from tests.features_data import read_table
from tests.helpers import real_prices, store_prices

NOW = datetime(2026, 11, 21)
ROWS = 60


@pytest.fixture
def db(tmp_path: object) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/daily.db")
    upgrade(engine)
    yield engine
    engine.dispose()


def bar_prices(bars: pd.DataFrame, hours: int) -> pd.DataFrame:
    """BTC's bars of ``hours`` h: the hourly rows closing on multiples of it (with 1d bars, at
    00:00 UTC; their 24 h high/low/volume are the day's), the first ``ROWS`` of them."""
    hourly = real_prices(bars, ["BTC"], hours=hours * (ROWS + 1))
    kept = hourly.loc[pd.to_datetime(hourly["timestamp_iso"]).dt.hour % hours == 0]
    return kept.head(ROWS).reset_index(drop=True)


def build(engine: Engine, bars: pd.DataFrame, interval: str, hours: int) -> SuiteReport:
    store_prices(engine, bar_prices(bars, hours))
    inputs = load_inputs(engine, catalog(), ["BTC"], None, None, "PAXG", interval=interval)
    build_chunk(engine, ["BTC"], Scope(None, None), inputs, now=NOW)
    return validate(engine, contract_for("features"), None, None, ["BTC"], NOW)


def column(report: SuiteReport, name: str) -> ColumnCoverage:
    return next(c for c in report.columns if c.column == name)


def test_on_daily_bars_hourly_returns_and_volatility_are_not_eligible(
    db: Engine, real_bars: pd.DataFrame
) -> None:
    report = build(db, real_bars, "1d", 24)

    stored = read_table(db, "ml_features_materialized")
    assert len(stored) == ROWS
    mask = stored["eligible_mask"].astype("int64")
    for name in ("return_1h", "return_4h", "volatility_24h", "volatility_7d"):
        assert stored[name].isna().all(), name  # nothing computes them on 1d bars …
        assert not (mask & BIT[name]).any(), name  # … so no row expects them
        assert (column(report, name).eligible, column(report, name).non_null) == (0, 0), name
    # Whole-day returns: computed on every row with the history, eligible exactly there.
    for name, lag in (("return_24h", 1), ("return_7d", 7)):
        c = column(report, name)
        assert (c.total, c.eligible, c.non_null) == (ROWS, ROWS - lag, ROWS - lag), name
        assert ((mask & BIT[name]) != 0).equals(stored[name].notna()), name


def test_on_4h_bars_returns_over_whole_bars_are_eligible_and_filled(
    db: Engine, real_bars: pd.DataFrame
) -> None:
    report = build(db, real_bars, "4h", 4)

    for name in ("return_1h", "volatility_24h", "volatility_7d"):
        assert (column(report, name).eligible, column(report, name).non_null) == (0, 0), name
    for name, lag in (("return_4h", 1), ("return_24h", 6), ("return_7d", 42)):
        c = column(report, name)
        assert (c.total, c.eligible, c.non_null) == (ROWS, ROWS - lag, ROWS - lag), name
