"""`coinfill assets …` and `coinfill run prices` on a real database, then technical on them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from coinfill.cli import app
from coinfill.db.assets import list_assets
from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from tests.fakes.binance_server import FakeBinance, PairSpec

runner = CliRunner()
DAY = 86_400_000
NOW_MS = int(time.time() * 1000)


@pytest.fixture
def binance(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBinance]:
    pairs = [
        PairSpec("BTCUSDT", listed_ms=NOW_MS - 900 * DAY, base_price=60_000.0),
        PairSpec("ETHUSDT", listed_ms=NOW_MS - 900 * DAY, base_price=3_000.0),
        PairSpec("LUNAUSDT", listed_ms=NOW_MS - 900 * DAY, delisted_ms=NOW_MS - 300 * DAY),
    ]
    with FakeBinance(pairs) as fake:
        monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
        monkeypatch.setenv("COINFILL_BINANCE_BASE_URL", fake.url)
        monkeypatch.setenv("COINFILL_RATE_LIMITER", "local")
        upgrade(make_engine(db_url))
        yield fake


def test_assets_commands_manage_the_registry(binance: FakeBinance, db_url: str) -> None:
    empty = runner.invoke(app, ["assets", "list"])
    assert empty.exit_code == 0 and "coinfill assets init" in empty.output
    init = runner.invoke(app, ["assets", "init"])
    assert init.exit_code == 0, init.output
    loaded = int(init.output.split()[0])
    assert loaded >= 450
    again = runner.invoke(app, ["assets", "init"])
    assert again.output.startswith("0 assets added")

    added = runner.invoke(app, ["assets", "add", "zzz", "--binance", "zzzusdt", "--name", "Zed"])
    assert added.exit_code == 0 and "ZZZ: added" in added.output
    renamed = runner.invoke(app, ["assets", "add", "ZZZ", "--coingecko", "zed"])
    assert "ZZZ: updated" in renamed.output
    engine = make_engine(db_url)
    registry = list_assets(engine, include_inactive=True).set_index("symbol")
    assert registry.loc["ZZZ", "binance_symbol"] == "ZZZUSDT"  # kept when not given again
    assert registry.loc["ZZZ", "coingecko_id"] == "zed" and registry.loc["ZZZ", "name"] == "Zed"

    off = runner.invoke(app, ["assets", "deactivate", "ZZZ,BTC"])
    assert off.exit_code == 0 and "inactive" in off.output
    assert "ZZZ" not in set(list_assets(engine)["symbol"])
    unknown = runner.invoke(app, ["assets", "deactivate", "NOSUCH"])
    assert unknown.exit_code == 2 and "not in the registry: NOSUCH" in unknown.output
    listed = runner.invoke(app, ["assets", "list", "--all"])
    assert "ZZZUSDT" in listed.output and f"{loaded + 1} assets" in listed.output


def test_assets_sync_reports_pairs_that_do_not_trade_and_applies(
    binance: FakeBinance, db_url: str
) -> None:
    for args in (
        ["assets", "add", "BTC", "--binance", "BTCUSDT"],
        ["assets", "add", "LUNA", "--binance", "LUNAUSDT", "--coingecko", "terra-luna"],
        ["assets", "add", "ETH", "--coingecko", "ethereum"],
        ["assets", "add", "GONE", "--binance", "GONEUSDT"],
    ):
        assert runner.invoke(app, args).exit_code == 0
    report = runner.invoke(app, ["assets", "sync"])
    assert report.exit_code == 0, report.output
    assert "1 registered pairs trade on Binance" in report.output
    assert "LUNA: LUNAUSDT (BREAK) — not trading" in report.output
    assert "GONE: GONEUSDT (not listed) — not trading" in report.output
    assert "ETH: ETHUSDT trades — not registered" in report.output
    assert "--apply" in report.output
    applied = runner.invoke(app, ["assets", "sync", "--apply"])
    assert applied.exit_code == 0 and "applied" in applied.output
    pairs = list_assets(make_engine(db_url), include_inactive=True).set_index("symbol")
    assert pairs.loc["ETH", "binance_symbol"] == "ETHUSDT"
    assert not isinstance(pairs.loc["LUNA", "binance_symbol"], str)  # falls back to CoinGecko
    assert pairs.loc["LUNA", "coingecko_id"] == "terra-luna"


def test_run_prices_then_technical_computes_on_them(binance: FakeBinance) -> None:
    assert runner.invoke(app, ["assets", "add", "BTC", "--binance", "BTCUSDT"]).exit_code == 0
    plan = runner.invoke(app, ["run", "prices", "--days", "30", "--symbols", "BTC", "--dry-run"])
    assert plan.exit_code == 0, plan.output
    assert "1 Binance (weight 2)" in plan.output and "dry run: nothing written" in plan.output
    prices = runner.invoke(app, ["run", "prices", "--days", "30", "--symbols", "btc"])
    assert prices.exit_code == 0, prices.output
    assert "721 inserted" in prices.output and "| (bars) | 721 | 0 → 721 |" in prices.output
    technical = runner.invoke(app, ["run", "technical", "--days", "30", "--symbols", "BTC"])
    assert technical.exit_code == 0, technical.output
    assert "| rsi_14 |" in technical.output and "❌" not in technical.output
    bad = runner.invoke(app, ["run", "prices", "--days", "1", "--interval", "2w"])
    assert bad.exit_code == 2 and "interval '2w' is not offered" in bad.output
