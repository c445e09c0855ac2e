"""The `coinfill` command on a real database (the flow runs in-process, as users run it)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from coinfill.cli import app
from coinfill.db.engine import make_engine
from coinfill.db.schema import technical_indicators
from tests.helpers import real_prices, store_prices

runner = CliRunner()


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, real_bars: pd.DataFrame) -> str:
    monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
    store_prices(make_engine(db_url), real_prices(real_bars, ["BTC", "ETH"], hours=120))
    return db_url


def test_db_upgrade_reports_a_current_schema(cli_db: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "schema is current" in result.output


def test_run_technical_then_coverage_json_shows_the_numbers(cli_db: str) -> None:
    run = runner.invoke(app, ["run", "technical", "--days", "0", "--symbols", "btc"])
    assert run.exit_code == 0, run.output
    assert "| 1 | 1 | 120 | 120 | 0 | 0 | 0 | 0 |" in run.output
    assert "| sma_50 | 71 | 0 → 71 | – → 100.0 % | ≥ 95 % | ✅ |" in run.output
    shown = runner.invoke(app, ["coverage", "--table", "technical", "--json"])
    assert shown.exit_code == 0, shown.output
    (suite,) = json.loads(shown.stdout)
    rows = {row["column"]: row for row in suite["columns"]}
    assert rows["(rows)"]["total"] == 240  # BTC and ETH prices expect indicator rows
    assert rows["(rows)"]["non_null"] == 120  # only BTC was computed
    assert rows["sma_50"]["eligible"] == rows["sma_50"]["non_null"] == 120 - 49
    table = runner.invoke(app, ["coverage", "--start", "2017-10-01", "--end", "2017-10-03"])
    assert "| rsi_14 |" in table.output and "price_data_real" in table.output
    history = runner.invoke(app, ["coverage", "--history"])
    assert "| technical-indicators |" in history.output
    assert "| technical_indicators | (rows) | 0.0 % → 50.0 % | ≥ 95 % | ❌ |" not in history.output
    assert "| technical_indicators | sma_50 | – → 100.0 % | ≥ 95 % | ✅ |" in history.output


def test_coverage_docs_builds_a_static_site(cli_db: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["coverage", "--table", "prices", "--docs", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "index.html").is_file()
    assert list((tmp_path / "d" / "validations").rglob("*.html"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "technical", "--days", "-1"], "days=-1 is negative"),
        (["run", "technical", "--symbols", "DOGEZ"], "unknown symbol(s): DOGEZ"),
        (["run", "technical", "--start", "2019-01-02", "--end", "2019-01-01"], "is not before end"),
        (["coverage", "--table", "nope"], "unknown table 'nope'"),
        (["coverage", "--start", "2019-01-02", "--end", "2019-01-02"], "empty window"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(cli_db: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output.replace("\n", "")


def test_unreachable_database_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINFILL_DATABASE_URL", "mysql+pymysql://root:pw@127.0.0.1:1/none")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "cannot connect to mysql+pymysql://root:***@127.0.0.1:1/none" in result.output


def test_demo_loads_real_prices_and_shows_coverage_before_and_after(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINFILL_DATABASE_URL", f"sqlite:///{tmp_path}/demo.db")
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "87,537 inserted" in result.output
    assert "| sma_50 | 87,292 | 0 → 87,292 | – → 100.0 % | ≥ 95 % | ✅ |" in result.output
    assert "| (rows) | 87,537 | 0 → 87,537 | 0.0 % → 100.0 % | ≥ 95 % | ✅ |" in result.output
    # The feature table is built from the same prices: every row, price columns all filled.
    assert "| 5 | 1 | 87,537 | 87,537 | 0 | 0 | 0 | 0 |" in result.output
    assert "| current_price | 87,537 | 0 → 87,537 | – → 100.0 % |  |  |" in result.output
    assert "| (all columns) |" in result.output
    # The bundled news archive is scored offline and reaches the feature table.
    assert "| sentiment_score | 150 | 0 → 150 | – → 100.0 % | ≥ 96 % | ✅ |" in result.output
    assert "| sentiment_count_24h | 16,552 | 0 → 16,552 | – → 100.0 % |" in result.output
    assert "COINFILL_NEWS_FEEDS" not in os.environ  # set for the demo only


def test_run_sentiment_offline_from_a_recorded_feed(
    cli_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = Path(__file__).parent.parent / "fixtures" / "news" / "coindesk_rss.xml"
    monkeypatch.setenv("COINFILL_NEWS_FEEDS", json.dumps({"coindesk": recorded.as_uri()}))
    result = runner.invoke(
        app, ["run", "sentiment", "--start", "2026-11-18", "--end", "2026-11-21"]
    )
    assert result.exit_code == 0, result.output
    assert "| coindesk |" in result.output and "| 8 | 8 | 0 |" in result.output
    assert "| sentiment_score | 8 | 0 → 8 | – → 100.0 % | ≥ 96 % | ✅ |" in result.output
    assert "| vader-crypto |" in result.output


def test_a_coverage_miss_exits_1_unless_report_only(cli_db: str) -> None:
    with make_engine(cli_db).begin() as conn:  # rows without prices or values: a real gap
        for day in range(1, 21):
            conn.execute(
                insert(technical_indicators).values(
                    symbol="BTC", timestamp_iso=datetime(2019, 6, day), current_price=1.0
                )
            )
    failed = runner.invoke(app, ["run", "technical", "--days", "0", "--symbols", "BTC"])
    assert failed.exit_code == 1
    assert "technical suite missed after the run: sma_20" in failed.output.replace("\n", "")
    reported = runner.invoke(
        app, ["run", "technical", "--days", "0", "--symbols", "BTC", "--no-enforce-coverage"]
    )
    assert reported.exit_code == 0, reported.output
    assert "| ❌ |" in reported.output
