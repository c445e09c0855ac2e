"""Against the real Binance and CoinGecko (off by default):
``pytest -m network tests/sources/test_prices_live.py``. Checks that the formats coinfill parses
are still what the sources answer, and that the bundled pairs of the main assets trade."""

from __future__ import annotations

import time

import pytest

from coinfill.db.assets import default_assets
from coinfill.sources.binance import DEFAULT_BASE_URL, BinanceClient
from coinfill.sources.coingecko import DEFAULT_BASE_URL as COINGECKO_URL
from coinfill.sources.coingecko import CoinGeckoClient
from coinfill.sources.ratelimit import TokenBucket

pytestmark = pytest.mark.network
HOUR = 3_600_000


def test_binance_klines_page_parses_and_is_on_the_hour_grid() -> None:
    now = int(time.time() * 1000)
    with BinanceClient(DEFAULT_BASE_URL) as client:
        pages = list(client.klines("BTCUSDT", "1h", now - 1200 * HOUR, now))
    bars = pages[0].bars
    assert len(pages) == 2 and len(bars) == 1000 and pages[0].malformed == 0
    assert (bars["open_time"] % HOUR == 0).all() and (bars["close"] > 0).all()


def test_bundled_main_pairs_trade_on_binance() -> None:
    pairs = default_assets().set_index("symbol")["binance_symbol"]
    main = [str(pairs[s]) for s in ("BTC", "ETH", "BNB", "SOL", "XRP", "PAXG")]
    with BinanceClient(DEFAULT_BASE_URL) as client:
        statuses = client.exchange_info(main)
    assert statuses == dict.fromkeys(main, "TRADING")


def test_coingecko_hourly_chart_parses() -> None:
    now = int(time.time() * 1000)
    with CoinGeckoClient(COINGECKO_URL, TokenBucket(0.2)) as client:
        (chart,) = list(client.chart("bitcoin", now - 48 * HOUR, now, daily=False))
    assert len(chart.points) >= 40 and chart.malformed == 0
    assert chart.points["volume_24h"].notna().all()
