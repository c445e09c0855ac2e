"""The unique-key rule reports the rows it covers when the database enforces the key.

The suites skip GX's uniqueness check where a unique constraint exists and report the
constraint instead; its "rows checked" must be the rows validated in the window (it used to be
0 for every table whose rows do not follow the price rows: features, macro, on-chain, news).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine

from coinfill.backfill import Window
from coinfill.db.engine import make_engine
from coinfill.db.macro import write_rows as write_macro
from coinfill.db.migrate import upgrade
from coinfill.db.schema import news_articles
from coinfill.db.upsert import upsert
from coinfill.features.build import Scope, build_chunk
from coinfill.features.inputs import load_inputs
from coinfill.macro.catalog import catalog
from coinfill.technical import backfill_chunk
from coinfill.validation.gxrun import validate
from coinfill.validation.report import RuleResult, SuiteReport, render
from expectations.contracts import contract_for
from tests import features_data as data
from tests.helpers import real_prices, store_prices

NOW = datetime(2026, 11, 21)
HOURS = 48


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def unique_rule(report: SuiteReport) -> RuleResult:
    rule = report.rules[0]
    assert rule.rule.startswith("unique ") and "(database key " in rule.rule, rule.rule
    return rule


def checked(report: SuiteReport, prefix: str) -> int:
    return next(r.checked for r in report.rules if r.rule.startswith(prefix))


def test_features_key_rule_counts_the_rows_in_the_window(
    db: Engine, real_bars: pd.DataFrame
) -> None:
    prices = real_prices(real_bars, ["BTC", "ETH"], hours=HOURS)
    store_prices(db, prices)
    inputs = load_inputs(db, catalog(), ["BTC", "ETH"], None, None, "PAXG")
    build_chunk(db, ["BTC", "ETH"], Scope(None, None), inputs, now=NOW)
    features = contract_for("features")

    everything = validate(db, features, None, None, None, NOW)
    first = pd.Timestamp(prices["timestamp_iso"].min()).to_pydatetime()
    window = validate(db, features, first, first + timedelta(hours=10), ["BTC"], NOW)

    assert (unique_rule(everything).checked, unique_rule(everything).passed) == (2 * HOURS, True)
    assert unique_rule(window).checked == 10
    line = next(x for x in render(everything).splitlines() if x.startswith("| unique "))
    assert line.endswith(f"| {2 * HOURS} | 0 | ✅ |"), line


def test_news_and_technical_key_rules_count_their_rows(db: Engine, real_bars: pd.DataFrame) -> None:
    upsert(db, news_articles, data.news_frame(data.NEWS), ("url_hash",))
    report = validate(db, contract_for("sentiment"), None, None, None, NOW)
    assert unique_rule(report).checked == len(data.NEWS)

    store_prices(db, real_prices(real_bars, ["BTC"], hours=120))
    backfill_chunk(db, ["BTC"], Window(None, None, 0), lookback_rows=600, now=NOW)
    technical = validate(db, contract_for("technical"), None, None, None, NOW)
    assert unique_rule(technical).checked == 120


def test_macro_key_rule_counts_the_rows_the_other_rules_check(db: Engine) -> None:
    write_macro(db, data.macro_frame(), now=NOW)
    stored = len(data.macro_frame())
    calendar = {
        "US_UNEMPLOYMENT": [day for day, _, _ in data.UNEMPLOYMENT],
        "VIX": list(data.VIX_DAYS),
    }
    report = validate(db, contract_for("macro"), None, None, None, NOW, calendar_dates=calendar)
    rule = unique_rule(report)
    assert rule.checked == stored == checked(report, "indicator_date not in the future")
    day = date(2017, 10, 2)
    one_day = validate(
        db,
        contract_for("macro"),
        datetime.combine(day, datetime.min.time()),
        datetime.combine(day, datetime.min.time()) + timedelta(days=1),
        None,
        NOW,
        calendar_dates={"VIX": [day]},
    )
    assert unique_rule(one_day).checked == 1
