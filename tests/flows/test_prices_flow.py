"""The crypto-prices flow end to end: local Binance and CoinGecko imitations, real databases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.assets import add_assets, price_sources
from coinfill.db.engine import make_engine
from coinfill.db.prices import write_prices
from coinfill.errors import BackfillFailedError, ConfigurationError, InputError
from flows.crypto_prices import crypto_prices
from tests.fakes.binance_server import FakeBinance, PairSpec
from tests.fakes.coingecko_server import CoinSpec, FakeCoinGecko
from tests.helpers import run_artifacts

HOUR, DAY = 3_600_000, 86_400_000
NOW_MS = int(time.time() * 1000)


@dataclass
class Sources:
    binance: FakeBinance
    coingecko: FakeCoinGecko

    def klines(self) -> list[dict[str, str]]:
        return [r.params for r in self.binance.requests if r.path == "/api/v3/klines"]


@pytest.fixture
def sources(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sources]:
    pairs = [
        PairSpec("BTCUSDT", listed_ms=NOW_MS - 900 * DAY, base_price=60_000.0),
        PairSpec("ETHUSDT", listed_ms=NOW_MS - 3 * DAY, base_price=3_000.0),
        PairSpec("EOSUSDT", listed_ms=NOW_MS - 900 * DAY, delisted_ms=NOW_MS - 4 * DAY),
    ]
    with (
        FakeBinance(pairs) as binance,
        FakeCoinGecko([CoinSpec("dogecoin", base_price=0.1)], requests_per_minute=6000) as gecko,
    ):
        monkeypatch.setenv("COINFILL_BINANCE_BASE_URL", binance.url)
        monkeypatch.setenv("COINFILL_COINGECKO_BASE_URL", gecko.url)
        monkeypatch.setenv("COINFILL_COINGECKO_REQUESTS_PER_MINUTE", "6000")
        monkeypatch.setenv("COINFILL_RATE_LIMITER", "local")
        yield Sources(binance, gecko)


@pytest.fixture
def flow_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
    engine = make_engine(db_url)
    registry = [
        {"symbol": "BTC", "binance_symbol": "BTCUSDT", "coingecko_id": "bitcoin"},
        {"symbol": "ETH", "binance_symbol": "ETHUSDT"},
        {"symbol": "DOGE", "coingecko_id": "dogecoin"},
        {"symbol": "EOS", "binance_symbol": "EOSUSDT"},
        {"symbol": "NOPE", "binance_symbol": "NOPEUSDT"},
    ]
    add_assets(engine, pd.DataFrame(registry).assign(is_active=True))
    return engine


def stored(engine: Engine, symbol: str) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT timestamp, current_price, high_24h, low_24h, volume_usd_24h, data_source "
                "FROM price_data_real WHERE symbol = :s ORDER BY timestamp"
            ),
            {"s": symbol},
        ).all()
    return pd.DataFrame(rows, columns=["ts", "close", "high", "low", "volume", "source"])


def test_backfill_fills_binance_and_coingecko_assets_then_a_rerun_asks_for_nothing(
    sources: Sources, flow_db: Engine
) -> None:
    first = crypto_prices(days=5, symbols=["BTC", "ETH", "DOGE"])
    assert not first.failed
    newest = NOW_MS // HOUR * HOUR
    btc = stored(flow_db, "BTC")
    assert len(btc) == 5 * 24 + 1 and set(btc["source"]) == {"binance"}
    assert btc["ts"].iloc[-1] >= newest and (btc["ts"] % HOUR == 0).all()
    # The row at close time t holds the close of the bar that opened at t - 1 h.
    bar = sources.binance.expected_bars("BTCUSDT", "1h", int(btc["ts"].iloc[-1]) - HOUR, None)[0]
    assert btc["close"].iloc[-1] == pytest.approx(float(bar[4]))
    day = sources.binance.expected_bars(
        "BTCUSDT", "1h", int(btc["ts"].iloc[-1]) - DAY, int(btc["ts"].iloc[-1]) - HOUR
    )
    assert len(day) == 24
    assert btc["high"].iloc[-1] == pytest.approx(max(float(b[2]) for b in day))
    assert btc["low"].iloc[-1] == pytest.approx(min(float(b[3]) for b in day))
    assert btc["volume"].iloc[-1] == pytest.approx(sum(float(b[7]) for b in day))
    # ETH was listed 3 days ago: its bars start there and nothing before counts as missing.
    eth = stored(flow_db, "ETH")
    assert 3 * 24 - 1 <= len(eth) <= 3 * 24 + 1
    assert price_sources(flow_db, ["ETH"])["ETH"].history_start_ms == eth["ts"].iloc[0]
    doge = stored(flow_db, "DOGE")
    assert len(doge) >= 5 * 24 - 1 and set(doge["source"]) == {"coingecko"}
    assert "(bars)" in first.coverage and "❌" not in first.coverage

    asked = len(sources.klines())
    second = crypto_prices(days=5, symbols=["BTC", "ETH", "DOGE"])
    assert not second.failed
    assert second.total("updated") == 0
    assert second.total("inserted") <= 3  # at most the bar that closed between the runs
    assert len(sources.klines()) - asked <= 2  # no listing probes again, only a new hour
    assert len(stored(flow_db, "BTC")) >= len(btc)


def test_bad_symbols_are_named_and_the_others_still_run(sources: Sources, flow_db: Engine) -> None:
    with pytest.raises(BackfillFailedError) as failed:
        crypto_prices(days=6, symbols=["BTC", "NOPE", "EOS", "GHOST"])
    message = str(failed.value)
    assert "3 of 4 symbols failed" in message
    assert "NOPEUSDT is not listed" in message
    assert "unknown symbol GHOST" in message and "coinfill assets add GHOST" in message
    assert "EOSUSDT has no bars since" in message and "deactivate EOS" in message
    assert len(stored(flow_db, "BTC")) == 6 * 24 + 1
    eos = stored(flow_db, "EOS")  # what EOS had before it was delisted is stored
    assert 0 < len(eos) < 3 * 24


def test_another_sources_bars_are_kept_and_counted(sources: Sources, flow_db: Engine) -> None:
    newest = NOW_MS // HOUR * HOUR
    theirs = pd.DataFrame(
        {
            "symbol": "BTC",
            "timestamp": [newest - k * HOUR for k in range(2, 40, 2)],
            "current_price": 1.0,
            "high_24h": 1.0,
            "low_24h": 1.0,
            "volume_usd_24h": 1.0,
            "data_source": "bitfinex-demo",
        }
    ).assign(timestamp_iso=lambda f: pd.to_datetime(f["timestamp"], unit="ms"))
    write_prices(flow_db, theirs, now=pd.Timestamp.now().to_pydatetime())
    summary = crypto_prices(days=2, symbols=["BTC"])
    (result,) = summary.results
    assert result.other_source == len(theirs) and result.inserted == 2 * 24 + 1 - len(theirs)
    btc = stored(flow_db, "BTC")
    assert (btc.loc[btc["source"] == "bitfinex-demo", "close"] == 1.0).all()
    assert (btc["source"] == "bitfinex-demo").sum() == len(theirs)


def test_dry_run_plans_and_writes_nothing(sources: Sources, flow_db: Engine) -> None:
    summary = crypto_prices(days=30, symbols=["BTC", "DOGE"], dry_run=True)
    assert "Plan 30d, 1h bars" in summary.plan and "weight" in summary.plan
    assert stored(flow_db, "BTC").empty
    # A dry run needs no network: it plans from the database and says what it could not know.
    assert sources.klines() == []
    assert sources.coingecko.requests == []
    assert any("planned from the database only" in note for note in summary.notes)
    assert price_sources(flow_db, ["BTC"])["BTC"].history_start_ms is None  # not stored


def test_a_refused_location_stops_the_run_with_the_fix(sources: Sources, flow_db: Engine) -> None:
    sources.binance.region_blocked = True
    with pytest.raises(ConfigurationError, match="COINFILL_BINANCE_BASE_URL"):
        crypto_prices(days=2, symbols=["BTC"])
    assert stored(flow_db, "BTC").empty


def test_intervals_a_source_does_not_offer(sources: Sources, flow_db: Engine) -> None:
    with pytest.raises(InputError, match="interval '7m' is not offered"):
        crypto_prices(days=2, symbols=["BTC"], interval="7m")
    with pytest.raises(BackfillFailedError, match="interval 15m is not offered by CoinGecko"):
        crypto_prices(days=1, symbols=["BTC", "DOGE"], interval="15m")
    now_ms, quarter = int(time.time() * 1000), 15 * 60_000
    first = now_ms // HOUR * HOUR - DAY  # days=1 starts at the hour, a day back
    expected = (now_ms // quarter * quarter - first) // quarter + 1
    assert len(stored(flow_db, "BTC")) in (expected - 1, expected)  # BTC's 15-minute bars


def test_the_run_publishes_plan_symbols_summary_and_coverage(
    sources: Sources, flow_db: Engine
) -> None:
    state = crypto_prices(days=2, symbols=["BTC", "ETH"], return_state=True)
    assert state.is_completed()
    keys = {a.key for a in run_artifacts(state.state_details.flow_run_id)}
    assert {
        "crypto-prices-plan",
        "crypto-prices-symbols",
        "crypto-prices-summary",
        "crypto-prices-coverage",
        "crypto-prices-coverage-table",
    } <= keys
