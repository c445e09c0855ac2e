"""The GX suites on real databases (SQLite, MariaDB): exact numbers, scoping, validity, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import (
    Engine,
    MetaData,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)

from coinfill.backfill import Window
from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.db.schema import macro_indicators, metadata, technical_indicators
from coinfill.errors import InputError
from coinfill.technical import backfill_chunk
from coinfill.validation.gxrun import validate
from coinfill.validation.report import SuiteReport
from expectations.contracts import contract_for
from tests.helpers import real_prices, store_prices

NOW = datetime(2026, 11, 21)
TECH = contract_for("technical")


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _computed(engine: Engine, bars: pd.DataFrame, symbols: list[str], hours: int) -> None:
    store_prices(engine, real_prices(bars, symbols, hours=hours))
    backfill_chunk(engine, symbols, Window(None, None, 0), lookback_rows=600, now=NOW)


def _times(engine: Engine, symbol: str) -> list[datetime]:
    t = technical_indicators
    query = select(t.c.timestamp_iso).where(t.c.symbol == symbol).order_by(t.c.timestamp_iso)
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]


def _column(report: SuiteReport, name: str) -> tuple[int, int, int, bool | None]:
    c = next(c for c in report.columns if c.column == name)
    return c.total, c.eligible, c.non_null, c.passed


def _rule(report: SuiteReport, prefix: str) -> tuple[int, bool, list[dict[str, object]]]:
    r = next(r for r in report.rules if r.rule.startswith(prefix))
    return r.unexpected, r.passed, r.examples


def _set(engine: Engine, times: list[datetime], symbol: str = "BTC", **values: object) -> None:
    """Overwrite technical values of ``symbol`` at ``times`` (typed, so SQLite's text matches)."""
    t = technical_indicators
    where = (t.c.symbol == symbol) & t.c.timestamp_iso.in_(times)
    with engine.begin() as conn:
        conn.execute(update(t).where(where).values(**values))


def _delete(engine: Engine, times: list[datetime]) -> None:
    t = technical_indicators
    with engine.begin() as conn:
        conn.execute(delete(t).where(t.c.timestamp_iso.in_(times)))


def _insert(engine: Engine, table: Table, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(insert(table).values(**values))


def test_warmup_rows_are_not_eligible_and_a_fresh_backfill_is_complete(
    db: Engine, real_bars: pd.DataFrame
) -> None:
    _computed(db, real_bars, ["BTC"], 120)
    report = validate(db, TECH, None, None, None, NOW)
    assert report.passed, report.misses()
    assert _column(report, "(rows)") == (120, 120, 120, True)
    assert _column(report, "sma_20") == (120, 120 - 19, 120 - 19, True)
    assert _column(report, "sma_50") == (120, 120 - 49, 120 - 49, True)
    assert _column(report, "rsi_14") == (120, 120 - 13, 120 - 13, True)
    assert _column(report, "macd_signal") == (120, 120 - 33, 120 - 33, True)


def test_known_null_pattern_gives_exact_percentages_and_examples(
    db: Engine, real_bars: pd.DataFrame
) -> None:
    _computed(db, real_bars, ["BTC"], 120)
    times = _times(db, "BTC")
    _set(db, times[60:70], sma_20=None)  # 10 holes after every warm-up
    _set(db, times[100:105], rsi_14=None)
    report = validate(db, TECH, None, None, None, NOW)
    sma = next(c for c in report.columns if c.column == "sma_20")
    assert (sma.eligible, sma.non_null, sma.passed) == (101, 91, False)
    assert sma.percent == pytest.approx(100 * 91 / 101)
    rsi = next(c for c in report.columns if c.column == "rsi_14")
    assert (rsi.eligible, rsi.non_null, rsi.passed) == (107, 102, True)  # 95.3 % ≥ 95 %
    assert {e["symbol"] for e in sma.examples} == {"BTC"} and len(sma.examples) == 5
    assert "sma_20 90.1 % < 95 %" in report.misses()
    relaxed = validate(db, TECH, None, None, None, NOW, {"technical.sma_20": 90})
    assert relaxed.passed


def test_missing_rows_count_against_the_price_rows(db: Engine, real_bars: pd.DataFrame) -> None:
    _computed(db, real_bars, ["BTC"], 120)
    _delete(db, _times(db, "BTC")[-7:])
    report = validate(db, TECH, None, None, None, NOW)
    assert _column(report, "(rows)") == (120, 120, 113, False)  # needs ceil(0.95 × 120) = 114
    assert _column(report, "sma_20")[1:3] == (94, 94)


def test_window_and_symbols_scope_the_counts(db: Engine, real_bars: pd.DataFrame) -> None:
    _computed(db, real_bars, ["BTC", "ETH"], 120)
    eth = _times(db, "ETH")
    _set(db, eth[80:90], "ETH", macd=None)
    assert validate(db, TECH, None, None, ["BTC"], NOW).passed
    both = validate(db, TECH, None, None, None, NOW)
    assert _column(both, "macd")[1:] == (2 * (120 - 25), 2 * (120 - 25) - 10, False)
    start, end = eth[0], eth[0] + timedelta(hours=60)
    early = validate(db, TECH, start, end, ["ETH"], NOW)
    assert _column(early, "(rows)") == (60, 60, 60, True)
    assert _column(early, "sma_50") == (60, 11, 11, True)  # 49 warm-up rows inside the window
    late = validate(db, TECH, eth[80], eth[90], ["ETH"], NOW)
    assert _column(late, "macd") == (10, 10, 0, False)


def test_validity_rules_report_offending_rows(db: Engine, real_bars: pd.DataFrame) -> None:
    _computed(db, real_bars, ["BTC"], 120)
    times = _times(db, "BTC")
    _set(db, [times[50]], rsi_14=120.0)
    _set(db, [times[70]], bollinger_upper=technical_indicators.c.bollinger_middle - 1)
    _insert(
        db, technical_indicators, symbol="BTC", timestamp_iso=datetime(2100, 1, 1), current_price=-5
    )
    report = validate(db, TECH, None, None, None, NOW)
    assert not report.passed
    count, ok, examples = _rule(report, "rsi_14 within [0, 100]")
    assert (count, ok) == (1, False)
    assert examples[0]["symbol"] == "BTC" and str(times[50])[:16] in str(
        examples[0]["timestamp_iso"]
    )
    assert _rule(report, "bollinger_upper ≥ bollinger_middle")[:2] == (1, False)
    assert _rule(report, "bollinger_middle ≥ bollinger_lower")[:2] == (0, True)
    assert _rule(report, "timestamp_iso not in the future")[:2] == (1, False)
    assert _rule(report, "current_price > 0")[:2] == (1, False)


def test_duplicate_keys_are_found_when_the_database_does_not_enforce_them(
    tmp_path: object, real_bars: pd.DataFrame
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/legacy.db")
    loose = MetaData()
    legacy = technical_indicators.to_metadata(loose)  # the old system's table: no unique key
    legacy.constraints = {c for c in legacy.constraints if not isinstance(c, UniqueConstraint)}
    loose.create_all(engine)
    metadata.tables["price_data_real"].create(engine)
    store_prices(engine, real_prices(real_bars, ["BTC"], hours=60))
    moment = datetime(2018, 1, 1)
    for _ in range(2):
        _insert(engine, legacy, symbol="BTC", timestamp_iso=moment, current_price=1.0)
    report = validate(engine, TECH, None, None, None, NOW)
    count, ok, examples = _rule(report, "unique symbol, timestamp_iso")
    assert (count, ok) == (2, False)
    assert all(e["symbol"] == "BTC" for e in examples)


def test_macro_coverage_follows_each_series_calendar_and_bounds_check_every_row(
    db: Engine,
) -> None:
    rows = [
        ("US_UNEMPLOYMENT", date(2024, 1, 1), 4.1, False),
        ("US_UNEMPLOYMENT", date(2024, 2, 1), 55.0, False),  # a unit mix-up
        ("OIL_PRICE", date(2020, 4, 20), -36.98, False),  # really happened
        ("VIX", date(2024, 1, 2), None, False),  # a gap
        ("VIX", date(2024, 1, 3), None, True),  # FRED lists "." (a holiday): not eligible
    ]
    for name, day, value, missing in rows:
        _insert(
            db,
            macro_indicators,
            indicator_name=name,
            indicator_date=day,
            value=value,
            missing_at_source=missing,
        )
    calendar = {
        # March has no row at all: a missing row is a miss, not an absent denominator.
        "US_UNEMPLOYMENT": [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)],
        "VIX": [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)],
    }
    macro = contract_for("macro")
    report = validate(db, macro, None, None, None, NOW, calendar_dates=calendar)
    assert _rule(report, "US_UNEMPLOYMENT within")[:2] == (1, False)
    oil = next(r for r in report.rules if r.rule.startswith("OIL_PRICE within"))
    assert (oil.checked, oil.passed) == (1, True)  # checked, though on no calendar
    assert _column(report, "US_UNEMPLOYMENT") == (7, 3, 2, False)
    assert _column(report, "VIX") == (7, 2, 0, False)
    assert _column(report, "OIL_PRICE") == (7, 0, 0, True)
    unrate = next(c for c in report.columns if c.column == "US_UNEMPLOYMENT")
    assert {str(row["indicator_date"])[:10] for row in unrate.examples} == {"2024-03-01"}
    later = validate(
        db,
        macro,
        datetime(2024, 1, 15),
        None,
        None,
        NOW,
        calendar_dates={"US_UNEMPLOYMENT": [date(2024, 2, 1)]},
    )
    assert _column(later, "US_UNEMPLOYMENT") == (1, 1, 1, True)
    with pytest.raises(ValueError, match="calendar"):
        validate(db, macro, None, None, None, NOW)


def test_bad_requests_say_what_is_wrong(tmp_path: object, db: Engine) -> None:
    empty = make_engine(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(InputError, match="technical_indicators does not exist yet"):
        validate(empty, TECH, None, None, None, NOW)
    with pytest.raises(InputError, match="'sma_200' is not a measured column"):
        validate(db, TECH, None, None, None, NOW, {"technical.sma_200": 90})
    with pytest.raises(InputError, match="unknown table 'tech'"):
        validate(db, TECH, None, None, None, NOW, {"tech": 90})
    with pytest.raises(InputError, match="must be a percent"):
        validate(db, TECH, None, None, None, NOW, {"technical": 120})
    empty_window = validate(db, TECH, datetime(2030, 1, 1), datetime(2030, 2, 1), None, NOW)
    assert _column(empty_window, "(rows)") == (0, 0, 0, True)
