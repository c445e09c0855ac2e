"""The technical chunk on real databases: a re-run writes only what changed, an incremental
window reads all its symbols in a few statements, and every read path returns the same rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from coinfill.backfill import Window
from coinfill.db import chunk_reads, pk_reads, reads
from coinfill.db.engine import make_engine
from coinfill.db.schema import TECHNICAL_COLUMNS, technical_indicators
from coinfill.errors import DatabaseRefusedError
from coinfill.indicators import compute_indicators
from coinfill.technical import SymbolReport, backfill_chunk
from tests.helpers import real_prices, store_prices

NOW = datetime(2026, 11, 21)
LATER = datetime(2026, 11, 22)
VALUES = ["current_price", *TECHNICAL_COLUMNS]
ALL = Window(None, None, days=0)


@pytest.fixture
def any_engine(any_db_url: str) -> Iterator[Engine]:
    engine = make_engine(any_db_url)
    yield engine
    engine.dispose()


def many_symbols(bars: pd.DataFrame, count: int, hours: int) -> pd.DataFrame:
    """``count`` symbols with BTC's first ``hours`` closes, each at its own price level."""
    btc = real_prices(bars, ["BTC"], hours=hours)
    return pd.concat(
        [
            btc.assign(symbol=f"S{i:02d}", current_price=btc["current_price"] * (1 + i / 7))
            for i in range(count)
        ],
        ignore_index=True,
    )


def stored(engine: Engine, symbol: str) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT timestamp_iso, updated_at, {', '.join(VALUES)} FROM technical_indicators "
                "WHERE symbol = :s ORDER BY timestamp_iso"
            ),
            {"s": symbol},
        ).all()
    frame = pd.DataFrame(rows, columns=["timestamp_iso", "updated_at", *VALUES])
    frame["timestamp_iso"] = pd.to_datetime(frame["timestamp_iso"])
    return frame.astype({c: float for c in VALUES})


def by_symbol(reports: list[SymbolReport]) -> dict[str, tuple[int, int, int]]:
    return {r.symbol: (r.inserted, r.updated, r.unchanged) for r in reports}


@contextmanager
def statements_run(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement of the reads: through SQLAlchemy (SQLite) and connectorx.

    The writes go through a DBAPI cursor in one transaction of a fixed few statements.
    """
    seen: list[str] = []

    def before(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        seen.append(sql)

    real = reads.cx.read_sql

    def spy(conn: Any, query: str | list[str], **kwargs: Any) -> Any:
        seen.extend([query] if isinstance(query, str) else query)
        return real(conn, query, **kwargs)

    event.listen(engine, "before_cursor_execute", before)
    monkeypatch.setattr(reads.cx, "read_sql", spy)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_a_rerun_after_one_stored_value_changed_updates_exactly_that_row(
    any_engine: Engine, real_bars: pd.DataFrame
) -> None:
    store_prices(any_engine, real_prices(real_bars, ["BTC", "ETH"], hours=800))
    first = backfill_chunk(any_engine, ["BTC", "ETH"], ALL, lookback_rows=600, now=NOW)
    assert by_symbol(first) == {"BTC": (800, 0, 0), "ETH": (800, 0, 0)}
    before = stored(any_engine, "BTC")
    moment = before["timestamp_iso"].iloc[400].to_pydatetime()
    t = technical_indicators
    with any_engine.begin() as conn:  # Core binds the time as each dialect stores it
        changed = conn.execute(
            t.update()
            .where(t.c.symbol == "BTC", t.c.timestamp_iso == moment)
            .values(macd=t.c.macd * 1.01)
        )
        assert changed.rowcount == 1

    again = backfill_chunk(any_engine, ["BTC", "ETH"], ALL, lookback_rows=600, now=LATER)
    assert by_symbol(again) == {"BTC": (0, 1, 799), "ETH": (0, 0, 800)}
    after = stored(any_engine, "BTC")
    touched = pd.to_datetime(after["updated_at"]) == pd.Timestamp(LATER)
    assert list(after.loc[touched, "timestamp_iso"]) == [pd.Timestamp(moment)]
    np.testing.assert_array_equal(after[VALUES].to_numpy(), before[VALUES].to_numpy())
    closes = real_prices(real_bars, ["BTC"], hours=800)["current_price"].reset_index(drop=True)
    expected = compute_indicators(closes)["macd"].iloc[400]
    assert after["macd"].iloc[400] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("count", [3, 40])
def test_an_incremental_window_reads_every_symbol_in_a_fixed_few_statements(
    any_engine: Engine, real_bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    prices = many_symbols(real_bars, count, hours=700)
    last = prices["timestamp_iso"].max()
    new = prices["timestamp_iso"] > last - pd.Timedelta(hours=2)
    store_prices(any_engine, prices[~new])
    symbols = sorted(prices["symbol"].unique())
    backfill_chunk(any_engine, symbols, ALL, lookback_rows=600, now=NOW)
    store_prices(any_engine, prices[new])
    window = Window((last - pd.Timedelta(hours=47)).to_pydatetime(), None)

    with statements_run(any_engine, monkeypatch) as seen:
        reports = backfill_chunk(any_engine, symbols, window, lookback_rows=600, now=LATER)
    assert len(seen) <= 3, seen  # price rows (ids, then rows by id), stored rows
    assert {by_symbol(reports)[s] for s in symbols} == {(2, 0, 46)}
    assert {r.rows_read for r in reports} == {600 + 48}
    closes = prices.loc[prices["symbol"] == "S01", "current_price"].reset_index(drop=True)
    full = compute_indicators(closes)[VALUES].to_numpy()
    got = stored(any_engine, "S01")[VALUES].to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(full))
    assert np.nanmax(np.abs(got - full) / closes.to_numpy()[:, None]) < 1e-9


def test_an_empty_chunk_reads_nothing_and_reports_nothing(any_engine: Engine) -> None:
    assert backfill_chunk(any_engine, [], ALL, lookback_rows=600, now=NOW) == []
    window = Window(NOW - timedelta(days=2), None)
    assert backfill_chunk(any_engine, [], window, lookback_rows=600, now=NOW) == []


def test_sqlite_reads_many_symbols_in_groups_under_its_compound_select_limit(
    tmp_path: Any, real_bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(name: str) -> pd.DataFrame:
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        from coinfill.db.migrate import upgrade

        upgrade(engine)
        prices = many_symbols(real_bars, 7, hours=120)
        store_prices(engine, prices)
        start = prices["timestamp_iso"].max() - pd.Timedelta(hours=10)
        window = Window(start.to_pydatetime(), None)
        symbols = sorted(prices["symbol"].unique())
        backfill_chunk(engine, symbols, window, lookback_rows=60, now=NOW)
        frame = chunk_reads.price_history(engine, symbols, None, None, 60)
        engine.dispose()
        return frame.sort_values("id").reset_index(drop=True)

    whole = run("whole.db")
    monkeypatch.setattr(chunk_reads, "SQLITE_SYMBOLS", 3)  # 7 symbols: 3 statements
    pd.testing.assert_frame_equal(run("groups.db"), whole)


@pytest.mark.parametrize(
    ("layout", "by_id"),
    [("per symbol", True), ("2 symbols interleaved", True), ("8 symbols interleaved", False)],
)
def test_mysql_reads_by_id_ranges_return_the_rows_of_the_index_reads(
    db_url: str,
    real_bars: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    layout: str,
    by_id: bool,
) -> None:
    if not db_url.startswith("mysql"):
        pytest.skip("id ranges are read on MySQL/MariaDB only (InnoDB clusters rows by id)")
    engine = make_engine(db_url)
    count = 8 if layout.startswith("8") else 2
    prices = many_symbols(real_bars, count, hours=900)
    if layout != "per symbol":  # stored hour by hour, the symbols' rows alternate
        prices = prices.sort_values(["timestamp", "symbol"], ignore_index=True)
    store_prices(engine, prices)
    symbols = sorted(prices["symbol"].unique())
    backfill_chunk(engine, symbols, ALL, lookback_rows=600, now=NOW)
    start = prices["timestamp"].max() - 100 * 3_600_000
    planned = []
    real_plan = pk_reads.plan

    def spy(ids: np.ndarray) -> pk_reads.Plan | None:
        planned.append(real_plan(ids))
        return planned[-1]

    def read_all() -> list[pd.DataFrame]:  # one symbol: the others' rows lie between its own
        frames = [
            chunk_reads.price_history(engine, ["S00"], None, None, 600),
            chunk_reads.price_history(engine, ["S00"], start, None, 600),
            chunk_reads.stored_rows(engine, ["S00"], None, None),
        ]
        keys = [["id"], ["id"], ["symbol", "timestamp_iso"]]
        return [f.sort_values(k).reset_index(drop=True) for f, k in zip(frames, keys, strict=True)]

    monkeypatch.setattr(pk_reads, "plan", spy)
    got = read_all()
    assert [p is not None for p in planned] == [by_id, by_id, True]  # indicators: per symbol
    monkeypatch.setattr(pk_reads, "MIN_COVERED", 2.0)  # no plan: the index reads
    expected = read_all()
    for frame, reference in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(frame, reference, check_exact=True)
    assert len(got[0]) == 900 and len(got[1]) == 600 + 101  # the start hour is in the window
    engine.dispose()


def test_a_user_that_may_not_read_the_prices_is_told_so_by_the_union_read(db_url: str) -> None:
    """The per-symbol reads are SQL text for connectorx: a refusal is still classified."""
    if not db_url.startswith("mysql"):
        pytest.skip("privileges are checked on MySQL/MariaDB")
    url = make_url(db_url)
    user = f"cf_noprice_{uuid.uuid4().hex[:8]}"
    admin = make_engine(db_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-tech-1'"))
        conn.execute(text(f"GRANT SELECT ON {url.database}.crypto_assets TO '{user}'@'%'"))
    engine = make_engine(url.set(username=user, password="pw-tech-1").render_as_string(False))
    try:
        for window in (ALL, Window(NOW - timedelta(days=2), None)):
            with pytest.raises(DatabaseRefusedError) as caught:
                backfill_chunk(engine, ["BTC", "ETH"], window, lookback_rows=600, now=NOW)
            assert (caught.value.privilege, caught.value.table) == ("SELECT", "price_data_real")
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()
