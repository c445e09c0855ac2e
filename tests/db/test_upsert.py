"""The one upsert path, on real SQLite, MariaDB and PostgreSQL."""

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.engine import make_engine
from coinfill.db.schema import crypto_assets, technical_indicators
from coinfill.db.upsert import UpsertCounts, upsert
from coinfill.errors import ConfigurationError

KEYS = ("symbol", "timestamp_iso")


@pytest.fixture
def any_engine(any_db_url: str) -> Iterator[Engine]:
    engine = make_engine(any_db_url)
    yield engine
    engine.dispose()


def _rows(
    n: int, symbols: tuple[str, ...] = ("BTC", "ETH"), sma: float | None = 1.5
) -> pd.DataFrame:
    stamps = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.DataFrame(
        {
            "symbol": np.repeat(symbols, n),
            "timestamp_iso": np.tile(stamps, len(symbols)),
            "current_price": np.tile(np.arange(n, dtype=float), len(symbols)) + 0.1,
            "sma_20": np.nan if sma is None else sma,
        }
    )


def _stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, timestamp_iso, current_price, sma_20 FROM technical_indicators")
        ).all()
    frame = pd.DataFrame(rows, columns=["symbol", "timestamp_iso", "current_price", "sma_20"])
    frame["timestamp_iso"] = pd.to_datetime(frame["timestamp_iso"])
    return frame.sort_values(list(KEYS)).reset_index(drop=True)


def test_given_new_rows_when_upserted_twice_then_second_run_changes_nothing(
    any_engine: Engine,
) -> None:
    rows = _rows(300)
    assert upsert(any_engine, technical_indicators, rows, KEYS) == UpsertCounts(600, 0, 0)
    assert upsert(any_engine, technical_indicators, rows, KEYS) == UpsertCounts(0, 0, 600)
    stored = _stored(any_engine)
    assert len(stored) == 600
    assert stored["current_price"].sum() == pytest.approx(rows["current_price"].sum())


def test_given_nulls_when_upserted_then_stored_values_are_never_replaced(
    any_engine: Engine,
) -> None:
    upsert(any_engine, technical_indicators, _rows(10), KEYS)
    nulls = _rows(10, sma=None)
    nulls.loc[0, "current_price"] = 999.0  # one real change among the NULLs
    counts = upsert(any_engine, technical_indicators, nulls, KEYS)
    assert counts == UpsertCounts(0, 1, 19)
    stored = _stored(any_engine)
    assert stored["sma_20"].notna().all() and (stored["sma_20"] == 1.5).all()
    assert stored.loc[0, "current_price"] == 999.0


def test_given_mixed_batch_when_upserted_then_counts_split_and_values_land(
    any_engine: Engine,
) -> None:
    upsert(any_engine, technical_indicators, _rows(50), KEYS)
    batch = _rows(60)  # 50 stored + 10 new per symbol
    batch.loc[batch.index[:5], "sma_20"] = 7.0  # 5 changed (a sliced string column follows)
    counts = upsert(any_engine, technical_indicators, batch, KEYS)
    assert counts == UpsertCounts(inserted=20, updated=5, unchanged=95)
    stored = _stored(any_engine)
    assert list(stored["symbol"].unique()) == ["BTC", "ETH"]  # text survived the bulk path
    assert (stored["sma_20"] == 7.0).sum() == 5


def test_given_dry_run_when_upserted_then_nothing_is_written(any_engine: Engine) -> None:
    counts = upsert(any_engine, technical_indicators, _rows(5), KEYS, dry_run=True)
    assert counts.inserted == 10
    assert _stored(any_engine).empty


def test_given_text_and_boolean_columns_when_upserted_then_they_round_trip(
    any_engine: Engine,
) -> None:
    assets = pd.DataFrame(
        {"symbol": ["BTC", "WEIRD"], "name": ["Bitcoin", "tab\there"], "is_active": [True, False]}
    )
    assert upsert(any_engine, crypto_assets, assets, ("symbol",)) == UpsertCounts(2, 0, 0)
    with any_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, name, is_active FROM crypto_assets ORDER BY symbol")
        ).all()
    assert [(r[0], r[1], bool(r[2])) for r in rows] == [
        ("BTC", "Bitcoin", True),
        ("WEIRD", "tab\there", False),
    ]


@pytest.mark.mysql
def test_given_statements_method_when_upserted_then_same_result_as_load_data(
    mysql_database: str,
) -> None:
    from tests.conftest import _fresh_server_database

    engine = _fresh_server_database(mysql_database)
    rows = _rows(100)
    assert upsert(engine, technical_indicators, rows, KEYS, method="statements") == UpsertCounts(
        200, 0, 0
    )
    changed = rows.assign(sma_20=2.5)
    assert upsert(engine, technical_indicators, changed, KEYS, method="statements").updated == 200
    assert (_stored(engine)["sma_20"] == 2.5).all()


@pytest.mark.mysql
def test_given_server_refusing_local_infile_when_upserted_then_falls_back_or_explains(
    mysql_database: str,
) -> None:
    from tests.conftest import _fresh_server_database

    engine = _fresh_server_database(mysql_database)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT @@GLOBAL.local_infile")).scalar()
        conn.execute(text("SET GLOBAL local_infile = 0"))
    try:
        fresh = make_engine(mysql_database)  # new sessions see the refusal
        assert upsert(fresh, technical_indicators, _rows(20), KEYS) == UpsertCounts(40, 0, 0)
        with pytest.raises(ConfigurationError, match="refuses LOAD DATA LOCAL INFILE"):
            upsert(fresh, technical_indicators, _rows(30), KEYS, method="load_data")
        assert len(_stored(fresh)) == 40  # the refused write left nothing half-done
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"SET GLOBAL local_infile = {int(before)}"))
