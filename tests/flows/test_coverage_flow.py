"""Coverage contracts inside the technical flow: stored, published, enforced or report-only."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from sqlalchemy import Engine, func, insert, select

from coinfill.db.engine import make_engine
from coinfill.db.schema import coverage_history, technical_indicators
from coinfill.errors import CoverageMissedError, InputError
from flows.technical_indicators import technical_indicators as technical_flow
from tests.helpers import real_prices, run_artifacts, store_prices


@pytest.fixture
def flow_db(db_url: str, monkeypatch: pytest.MonkeyPatch, real_bars: pd.DataFrame) -> Engine:
    monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
    engine = make_engine(db_url)
    store_prices(engine, real_prices(real_bars, ["BTC"], hours=200))
    return engine


def _orphans(engine: Engine, count: int) -> None:
    """Indicator rows without prices and without values, as the old system left them."""
    with engine.begin() as conn:
        for day in range(1, count + 1):
            conn.execute(
                insert(technical_indicators).values(
                    symbol="BTC", timestamp_iso=datetime(2019, 6, day), current_price=9000.0
                )
            )


def _stored(engine: Engine) -> dict[tuple[str, str], float | None]:
    h = coverage_history
    with engine.connect() as conn:
        rows = conn.execute(select(h.c.phase, h.c.column_name, h.c.percent)).all()
    return {(phase, column): percent for phase, column, percent in rows}


def _technical_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(technical_indicators)).scalar_one()
        )


def test_a_backfill_stores_before_and_after_and_publishes_artifacts(flow_db: Engine) -> None:
    state = technical_flow(days=0, return_state=True)
    assert state.is_completed()
    stored = _stored(flow_db)
    assert stored[("before", "(rows)")] == 0.0 and stored[("after", "(rows)")] == 100.0
    assert stored[("before", "sma_50")] is None and stored[("after", "sma_50")] == 100.0
    assert stored[("after", "rule: rsi_14 within [0, 100]")] == 100.0
    mine = {a.key: a for a in run_artifacts(state.state_details.flow_run_id)}
    assert "| sma_50 | 151 | 0 → 151 | – → 100.0 % | ≥ 95 % | ✅ |" in str(
        mine["technical-indicators-coverage"].data
    )
    assert mine["technical-indicators-coverage-table"].type == "table"


def test_a_missed_target_fails_the_run_naming_columns_and_keeps_the_data(
    flow_db: Engine,
) -> None:
    _orphans(flow_db, 20)  # 20 NULL rows past the warm-up: sma_20 181 / 201 < 95 %
    state = technical_flow(days=0, return_state=True)
    assert state.is_failed()
    with pytest.raises(CoverageMissedError, match=r"sma_20 90\.0 % < 95 %.*the rows written stay"):
        state.result()
    assert _technical_rows(flow_db) == 220  # the 200 computed rows were written and stay
    assert _stored(flow_db)[("after", "sma_20")] == pytest.approx(100 * 181 / 201)


def test_report_only_mode_completes_and_still_stores_the_miss(flow_db: Engine) -> None:
    _orphans(flow_db, 20)
    state = technical_flow(days=0, enforce_coverage=False, return_state=True)
    assert state.is_completed()
    assert _stored(flow_db)[("after", "sma_20")] == pytest.approx(100 * 181 / 201)


def test_targets_per_run_and_dry_runs(flow_db: Engine) -> None:
    _orphans(flow_db, 20)
    assert technical_flow(
        days=0, coverage_targets={"technical": 85}, return_state=True
    ).is_completed()
    with pytest.raises(InputError, match="'sma_9' is not a measured column"):
        technical_flow(days=0, coverage_targets={"technical.sma_9": 90})
    dry = technical_flow(days=0, dry_run=True, return_state=True)
    assert dry.is_completed()  # a dry run reports coverage, never fails on it, stores nothing new
