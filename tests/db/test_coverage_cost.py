"""Coverage passes cost what the window costs, and count exactly what the warm-up allows.

Real databases: SQLite, MariaDB and PostgreSQL where it is reachable. The price
history is built so that a wrong cut-off changes a count: a symbol whose history starts inside
the window, one whose valid prices before the window are too few although its rows are not
(invalid prices, missing hours), one whose 50th valid price is one bar after the window's start,
one with fewer than ``MIN_HISTORY_ROWS`` valid prices but stale indicator rows, and indicator
rows of a symbol without any price. Every indicator value is NULL, so each column's eligible
count is exactly the number of rows past that symbol's warm-up — compared with a reference
computed here from the price rows themselves.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, insert, select

from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.db.schema import TECHNICAL_COLUMNS, price_data_real, technical_indicators
from coinfill.db.warmup import window_warmup
from coinfill.indicators import MIN_HISTORY_ROWS, WARMUP
from coinfill.validation.gxrun import validate
from coinfill.validation.report import SuiteReport
from expectations.contracts import contract_for
from tests.helpers import select_only_user

NOW = datetime(2026, 11, 21)
TECH = contract_for("technical")
T0 = datetime(2024, 1, 1)
HOUR = timedelta(hours=1)
START, END = T0 + 200 * HOUR, T0 + 260 * HOUR
WARMUPS = sorted({w for w in WARMUP.values() if w})
Prices = dict[str, list[tuple[datetime, float | None]]]


def _history() -> tuple[Prices, dict[str, list[datetime]]]:
    """Price rows per symbol (time, price) and the indicator rows the table holds."""
    prices: Prices = {
        "LONG": [(T0 + h * HOUR, 100.0 + h) for h in range(300)],
        "LATE": [(T0 + h * HOUR, 50.0) for h in range(230, 300)],  # starts inside the window
        "EDGE0": [(T0 + h * HOUR, 7.0) for h in range(151, 300)],  # 50th valid price at start
        "EDGE1": [(T0 + h * HOUR, 7.0) for h in range(152, 300)],  # 50th one bar after start
        "SHORT": [(T0 + h * HOUR, 3.0) for h in range(190, 220)],  # 30 valid prices
    }
    # 40 valid prices before the window among 120 rows (0 and NULL prices, hours missing).
    gappy: list[tuple[datetime, float | None]] = []
    for h in range(200):
        if h % 5 in (0, 1, 2):
            gappy.append((T0 + h * HOUR, {0: 9.0, 1: 0.0, 2: None}[h % 5]))
    gappy += [(T0 + h * HOUR, 9.0) for h in range(200, 300)]
    prices["GAPPY"] = gappy
    rows = {s: [t for t, p in history if p] for s, history in prices.items() if s != "SHORT"}
    rows["SHORT"] = [T0 + h * HOUR for h in range(200, 220)]  # stale: the flow skips SHORT
    rows["GHOST"] = [T0 + h * HOUR for h in range(195, 240)]  # no price at all
    return prices, rows


def _store(engine: Engine, prices: Prices, rows: dict[str, list[datetime]]) -> None:
    epoch = datetime(1970, 1, 1)
    price_rows = [
        {
            "symbol": symbol,
            "timestamp": int((t - epoch).total_seconds() * 1000),
            "timestamp_iso": t,
            "current_price": price,
            "data_source": "test",
        }
        for symbol, history in prices.items()
        for t, price in history
    ]
    tech_rows = [
        {"symbol": symbol, "timestamp_iso": t, "current_price": 1.0}
        for symbol, times in rows.items()
        for t in times
    ]
    with engine.begin() as conn:
        conn.execute(insert(price_data_real), price_rows)
        conn.execute(insert(technical_indicators), tech_rows)


def _valid(prices: Prices) -> dict[str, list[datetime]]:
    return {
        s: sorted(t for t, p in history if p is not None and p > 0) for s, history in prices.items()
    }


def _reference(
    prices: Prices,
    rows: dict[str, list[datetime]],
    start: datetime | None,
    end: datetime | None,
    symbols: list[str] | None,
) -> dict[str, tuple[int, int, int]]:
    """(total, eligible, non-NULL) per column and ``(rows)``, from first principles."""
    valid = _valid(prices)
    chosen = symbols if symbols is not None else sorted(prices)

    def inside(t: datetime) -> bool:
        return (start is None or t >= start) and (end is None or t < end)

    scoped = [(s, t) for s in chosen for t in rows.get(s, []) if inside(t)]
    out: dict[str, tuple[int, int, int]] = {}
    for column in TECHNICAL_COLUMNS:
        w = WARMUP[column]
        firsts = {s: valid.get(s, []) for s in chosen}
        eligible = sum(1 for s, t in scoped if len(firsts[s]) > w and t >= firsts[s][w])
        out[column] = (len(scoped), eligible, 0)
    computable = [s for s in chosen if len(valid.get(s, [])) >= MIN_HISTORY_ROWS]
    expected = sum(1 for s in computable for t in valid[s] if inside(t))
    out["(rows)"] = (expected, expected, len(scoped))  # observed: every row of the scope
    return out


def _counts(report: SuiteReport) -> dict[str, tuple[int, int, int]]:
    return {c.column: (c.total, c.eligible, c.non_null) for c in report.columns}


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def any_db(any_db_url: str) -> Iterator[Engine]:
    engine = make_engine(any_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_coinfill_db_scopes_imports_without_great_expectations() -> None:
    code = (
        "import sys, coinfill.db.scopes, coinfill.db.calendar_scope, coinfill.db.warmup; "
        "assert 'great_expectations' not in sys.modules, 'great_expectations was imported'"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_warmup_cutoffs_are_exact_only_where_the_window_needs_them(any_db: Engine) -> None:
    prices, rows = _history()
    _store(any_db, prices, rows)
    symbols = [*prices, "GHOST"]
    warm = window_warmup(any_db, symbols, START, WARMUPS, MIN_HISTORY_ROWS)
    valid = _valid(prices)
    assert warm.computable == ["LONG", "LATE", "EDGE0", "EDGE1", "GAPPY"]
    # Settled by their 50th valid price at or before the start: no cut-off needed.
    assert set(warm.cutoffs) == {"LATE", "EDGE1", "SHORT", "GAPPY", "GHOST"}
    for symbol in ("LATE", "EDGE1", "GAPPY"):
        assert warm.cutoffs[symbol] == {w: valid[symbol][w] for w in WARMUPS}, symbol
    assert warm.cutoffs["GAPPY"][49] == T0 + 209 * HOUR  # the 40 before start are not enough
    assert warm.cutoffs["SHORT"] == {w: (valid["SHORT"][w] if w < 30 else None) for w in WARMUPS}
    assert warm.cutoffs["GHOST"] == dict.fromkeys(WARMUPS)
    # A name matches its rows the way the database compares names (MariaDB ignores case).
    asked = window_warmup(any_db, ["long"], START, WARMUPS, MIN_HISTORY_ROWS)
    p = price_data_real
    query = select(func.count()).where(p.c.symbol == "long", p.c.current_price > 0)
    with any_db.connect() as conn:
        matched = conn.execute(query).scalar_one() >= MIN_HISTORY_ROWS
    assert asked.computable == (["long"] if matched else [])
    whole = window_warmup(any_db, symbols, None, WARMUPS, MIN_HISTORY_ROWS)
    assert whole.computable == warm.computable
    assert set(whole.cutoffs) == set(symbols)  # the whole history holds every warm-up
    assert whole.cutoffs["LONG"] == {w: T0 + w * HOUR for w in WARMUPS}


@pytest.mark.parametrize(
    ("start", "end", "symbols"),
    [
        (START, END, [*sorted(_history()[0]), "GHOST"]),
        (START, END, ["LONG", "EDGE1"]),
        (None, None, None),  # every priced symbol: GHOST's rows stay out
        (None, None, [*sorted(_history()[0]), "GHOST"]),  # every row: no symbol filter
        (START, None, None),
    ],
    ids=["window", "window-two-symbols", "whole", "whole-every-row", "open-end"],
)
def test_eligible_counts_follow_each_symbols_warmup(
    any_db: Engine,
    start: datetime | None,
    end: datetime | None,
    symbols: list[str] | None,
) -> None:
    prices, rows = _history()
    _store(any_db, prices, rows)
    report = validate(any_db, TECH, start, end, symbols, NOW)
    assert _counts(report) == _reference(prices, rows, start, end, symbols)


def test_a_user_who_may_not_create_tables_gets_the_same_counts(db: Engine, db_url: str) -> None:
    if not db_url.startswith("mysql"):
        pytest.skip("privileges are a server's (MariaDB/MySQL)")
    prices, rows = _history()
    _store(db, prices, rows)
    symbols = [*sorted(prices), "GHOST"]
    with select_only_user(db_url) as url:
        reader = make_engine(url)
        try:
            report = validate(reader, TECH, START, END, symbols, NOW)
        finally:
            reader.dispose()
    assert _counts(report) == _reference(prices, rows, START, END, symbols)


def _statements(engine: Engine, symbols: list[str]) -> list[str]:
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        validate(engine, TECH, T0 + 298 * HOUR, T0 + 300 * HOUR, symbols, NOW)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def test_a_two_day_pass_sends_the_same_few_statements_for_any_number_of_symbols(
    db: Engine,
) -> None:
    names = [f"S{i:02d}" for i in range(12)]
    prices: Prices = {
        s: [(T0 + h * HOUR, 10.0 + i) for h in range(300)] for i, s in enumerate(names)
    }
    _store(db, prices, {s: [t for t, _ in history] for s, history in prices.items()})
    few, many = _statements(db, names[:2]), _statements(db, names)
    assert len(many) == len(few) <= 15, many
    # One statement settles every symbol's warm-up, one counts the window's prices; no symbol
    # needs a cut-off at the end of its history, so no scratch table is written.
    assert sum("price_data_real" in s for s in many) == 2, many
    assert not any("coinfill_gx_cut" in s for s in many), many
