"""The technical-indicators flow end to end, under a Prefect test harness, on real databases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.engine import make_engine
from coinfill.db.schema import TECHNICAL_COLUMNS
from coinfill.errors import BackfillFailedError, InputError
from coinfill.indicators import compute_indicators
from coinfill.technical import KEYS
from flows.technical_indicators import technical_indicators
from tests.helpers import real_prices, run_artifacts, store_prices

VALUES = ["current_price", *TECHNICAL_COLUMNS]


@pytest.fixture
def flow_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
    return make_engine(db_url)


def _technical(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT symbol, timestamp_iso, {', '.join(VALUES)} FROM technical_indicators")
        ).all()
    frame = pd.DataFrame(rows, columns=["symbol", "timestamp_iso", *VALUES])
    frame["timestamp_iso"] = pd.to_datetime(frame["timestamp_iso"])
    return frame.astype({c: float for c in VALUES}).sort_values(list(KEYS)).reset_index(drop=True)


def test_given_real_prices_when_full_backfill_runs_twice_then_second_run_writes_nothing(
    flow_db: Engine, real_bars: pd.DataFrame
) -> None:
    store_prices(flow_db, real_prices(real_bars, ["BTC", "ETH"], hours=800))
    first = technical_indicators(days=0)
    assert first.totals["inserted"] == 1600 and first.totals["rows_read"] == 1600
    second = technical_indicators(days=0)
    assert (second.totals["inserted"], second.totals["updated"], second.totals["unchanged"]) == (
        0,
        0,
        1600,
    )

    stored = _technical(flow_db)
    btc = stored[stored["symbol"] == "BTC"].reset_index(drop=True)
    expected = compute_indicators(
        real_bars[real_bars["symbol"] == "BTC"]["close"].iloc[:800].reset_index(drop=True)
    )
    np.testing.assert_allclose(
        btc[VALUES].to_numpy(), expected[VALUES].to_numpy(), rtol=1e-12, equal_nan=True
    )
    assert btc["sma_50"].isna().sum() == 49  # warm-up rows stay NULL


def test_given_new_prices_when_incremental_window_runs_then_it_equals_a_full_recompute(
    flow_db: Engine, real_bars: pd.DataFrame
) -> None:
    prices = real_prices(real_bars, ["BTC", "XRP"], hours=3000)
    cut = (
        prices["timestamp"]
        < prices.groupby("symbol")["timestamp"].transform("max") - 48 * 3_600_000
    )
    store_prices(flow_db, prices[cut])
    technical_indicators(days=0)
    store_prices(flow_db, prices[~cut])
    since = prices.loc[~cut, "timestamp_iso"].min().floor("D")
    incremental = technical_indicators(start=since.date())
    assert incremental.totals["inserted"] == int((~cut).sum())
    assert incremental.totals["updated"] == 0

    stored = _technical(flow_db)
    for symbol in ("BTC", "XRP"):
        closes = prices[prices["symbol"] == symbol]["current_price"].reset_index(drop=True)
        full = compute_indicators(closes)[VALUES].to_numpy()
        got = stored[stored["symbol"] == symbol][VALUES].to_numpy()
        scale = closes.to_numpy()[:, None]
        assert np.array_equal(np.isnan(got), np.isnan(full))
        assert np.nanmax(np.abs(got - full) / scale) < 1e-6


def test_given_dry_run_when_flow_runs_then_counts_are_reported_and_nothing_written(
    flow_db: Engine, real_bars: pd.DataFrame
) -> None:
    store_prices(flow_db, real_prices(real_bars, ["LTC"], hours=200))
    summary = technical_indicators(days=0, dry_run=True)
    assert summary.totals["inserted"] == 200
    assert _technical(flow_db).empty


def test_given_dirty_and_short_histories_when_flow_runs_then_they_are_reported_and_rest_computed(
    flow_db: Engine, real_bars: pd.DataFrame
) -> None:
    prices = real_prices(real_bars, ["BTC", "EOS"], hours=300)
    btc = prices["symbol"] == "BTC"
    dirty = prices.index[btc][[100, 101, 102]]
    prices.loc[dirty[0], "current_price"] = np.nan
    prices.loc[dirty[1], "current_price"] = 0.0
    prices.loc[dirty[2], "current_price"] = -5.0
    short = real_prices(real_bars, ["LTC"], hours=30)
    store_prices(flow_db, pd.concat([prices, short]))
    summary = technical_indicators(days=0)
    reports = {r.symbol: r for r in summary.reports}
    assert reports["BTC"].skipped == 3 and "3 invalid price" in reports["BTC"].reason
    assert reports["BTC"].inserted == 297
    assert reports["EOS"].inserted == 300 and reports["EOS"].reason == ""
    assert reports["LTC"].inserted == 0 and "only 30 valid price rows" in reports["LTC"].reason


def test_given_a_chunk_that_cannot_be_written_when_flow_runs_then_run_fails_and_others_are_kept(
    flow_db: Engine, real_bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINFILL_CHUNK_SYMBOLS", "1")
    store_prices(flow_db, real_prices(real_bars, ["BTC", "ETH", "LTC"], hours=100))
    with flow_db.begin() as conn:  # a real database error for LTC only, not a mock
        if flow_db.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_ltc BEFORE INSERT ON technical_indicators "
                    "WHEN NEW.symbol = 'LTC' BEGIN SELECT RAISE(ABORT, 'LTC refused'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_ltc BEFORE INSERT ON technical_indicators FOR EACH ROW "
                    "BEGIN IF NEW.symbol = 'LTC' THEN "
                    "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'LTC refused'; END IF; END"
                )
            )
    state = technical_indicators(days=0, return_state=True)
    assert state.is_failed()
    assert "1 of 3 chunks failed" in (state.message or "")
    with pytest.raises(BackfillFailedError, match=r"chunk \d \(LTC, 1 symbols\)"):
        state.result()
    assert sorted(_technical(flow_db)["symbol"].unique()) == ["BTC", "ETH"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"symbols": ["BTC", "NOPE"]}, "unknown symbol.*NOPE"),
        ({"days": -3}, "days=-3 is negative"),
        ({"start": "2019-02-01", "end": "2019-01-01"}, "is not before end"),
        ({"start": "2099-01-01"}, "entirely in the future"),
        ({"symbols": ["BTC"], "max_assets": 0}, "max_assets=0"),
    ],
)
def test_given_bad_input_when_flow_runs_then_it_fails_clearly_and_writes_nothing(
    flow_db: Engine, real_bars: pd.DataFrame, params: dict[str, object], message: str
) -> None:
    store_prices(flow_db, real_prices(real_bars, ["BTC"], hours=100))
    with pytest.raises(InputError, match=message):
        technical_indicators(**params)  # type: ignore[arg-type]
    assert _technical(flow_db).empty


def test_run_name_says_what_the_run_did(flow_db: Engine, real_bars: pd.DataFrame) -> None:
    store_prices(flow_db, real_prices(real_bars, ["BTC"], hours=60))
    state = technical_indicators(days=365, dry_run=True, return_state=True)
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    artifacts = run_artifacts(run.id)
    assert run.name == "technical-365d-dry-run"
    keys = {a.key for a in artifacts if a.flow_run_id == run.id}
    assert {"technical-indicators-symbols", "technical-indicators-summary"} <= keys
    assert any(
        a.type == "progress" and a.data == 100.0 for a in artifacts if a.flow_run_id == run.id
    )
