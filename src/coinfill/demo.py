"""The offline demo: real bundled prices (and a bundled news archive) into the configured
database (SQLite by default)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from coinfill.db.schema import crypto_assets, price_data_real
from coinfill.db.upsert import UpsertCounts, upsert

DEMO_FILE = "bitfinex_hourly_2017_2019.csv.gz"
NEWS_FILE = "news_archive_2017_2019.xml"
DATA_SOURCE = "bitfinex-demo"
ASSETS = {
    "BTC": ("Bitcoin", "bitcoin", "BTCUSDT", "btc"),
    "ETH": ("Ethereum", "ethereum", "ETHUSDT", "eth"),
    "LTC": ("Litecoin", "litecoin", "LTCUSDT", "ltc"),
    "XRP": ("XRP", "ripple", "XRPUSDT", "xrp"),
    "EOS": ("EOS", "eos", "EOSUSDT", "eos"),
}


def archive_feed_url() -> str:
    """``file://`` URL of the bundled news archive (an RSS 2.0 feed of 2017-2019 headlines)."""
    with resources.as_file(resources.files("coinfill.data").joinpath(NEWS_FILE)) as path:
        return path.resolve().as_uri()


def demo_bars(data_dir: Path | None = None) -> pd.DataFrame:
    """The bundled hourly bars (see ``coinfill/data/README.md`` for origin and licence)."""
    if data_dir is not None:
        return pd.read_csv(data_dir / DEMO_FILE)
    with resources.files("coinfill.data").joinpath(DEMO_FILE).open("rb") as handle:
        return pd.read_csv(handle, compression="gzip")


def price_rows_from_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Hourly bars → ``price_data_real`` rows.

    ``current_price`` is the bar's close; ``high_24h``/``low_24h`` are the highest high and
    lowest low of the bars opened in the trailing 24 hours (this bar included);
    ``volume_usd_24h`` sums close × base volume over the same bars.
    """
    frames = []
    for symbol, group in bars.sort_values(["symbol", "timestamp"]).groupby("symbol"):
        at = pd.to_datetime(group["timestamp"], unit="ms")
        indexed = group.set_index(at)
        rolling = indexed.rolling("24h")
        frames.append(
            pd.DataFrame(
                {
                    "symbol": str(symbol),
                    "timestamp": group["timestamp"].to_numpy(),
                    "timestamp_iso": at.to_numpy(),
                    "current_price": group["close"].to_numpy(),
                    "high_24h": rolling["high"].max().to_numpy(),
                    "low_24h": rolling["low"].min().to_numpy(),
                    "volume_usd_24h": (indexed["close"] * indexed["volume"])
                    .rolling("24h")
                    .sum()
                    .to_numpy(),
                    "data_source": DATA_SOURCE,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def load_demo_prices(engine: Engine, data_dir: Path | None = None) -> UpsertCounts:
    """Register the demo assets and upsert their prices; a second call changes nothing."""
    assets = pd.DataFrame(
        [
            {
                "symbol": s,
                "name": n,
                "is_active": True,
                "coingecko_id": cg,
                "binance_symbol": bn,
                "coinmetrics_id": cm,
            }
            for s, (n, cg, bn, cm) in ASSETS.items()
        ]
    )
    upsert(engine, crypto_assets, assets, ("symbol",))
    return upsert(
        engine, price_data_real, price_rows_from_bars(demo_bars(data_dir)), ("symbol", "timestamp")
    )
