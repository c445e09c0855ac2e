"""The asset registry (``crypto_assets``), asset choice, listing probes and the pair sync."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.assets import (
    add_assets,
    add_missing_defaults,
    default_assets,
    list_assets,
    price_sources,
    set_active,
    set_history_starts,
    set_pairs,
)
from coinfill.db.upsert import UpsertCounts
from coinfill.errors import InputError
from coinfill.prices.plan import AssetSource
from coinfill.prices.select import choose_assets, learn_listings
from coinfill.prices.sync import compare
from coinfill.sources.binance import BinanceClient
from tests.fakes.binance_server import FakeBinance, PairSpec

H = 3_600_000


def ms(moment: str) -> int:
    return int(pd.Timestamp(moment, tz="UTC").value // 1_000_000)


def assets(*rows: tuple[str, str | None, str | None, bool]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["symbol", "binance_symbol", "coingecko_id", "is_active"])


def row(engine: Engine, symbol: str) -> dict[str, object]:
    frame = list_assets(engine, include_inactive=True).set_index("symbol")
    return frame.loc[symbol].to_dict()


def test_bundled_defaults_hold_the_major_coins_once_each() -> None:
    defaults = default_assets()
    assert defaults["symbol"].is_unique and len(defaults) >= 450
    assert (defaults["symbol"] == defaults["symbol"].str.upper()).all()
    by = defaults.set_index("symbol")
    assert (
        by.loc["BTC", "binance_symbol"] == "BTCUSDT" and by.loc["BTC", "coingecko_id"] == "bitcoin"
    )
    assert by.loc["ETH", "binance_symbol"] == "ETHUSDT"
    assert by.loc["PAXG", "binance_symbol"] == "PAXGUSDT"
    assert not (defaults == "").any().any()  # empty cells are None, not ""
    assert (defaults["binance_symbol"].notna() | defaults["coingecko_id"].notna()).all()


def test_defaults_fill_an_empty_registry_once(engine: Engine) -> None:
    defaults = default_assets()
    assert add_missing_defaults(engine) == len(defaults)
    assert add_missing_defaults(engine) == 0
    listed = list_assets(engine)
    assert sorted(listed["symbol"]) == sorted(defaults["symbol"])
    assert listed["is_active"].astype(bool).all()


def test_an_empty_column_keeps_what_is_stored(engine: Engine) -> None:
    first = assets(("btc", "BTCUSDT", "bitcoin", True)).assign(name="Bitcoin")
    assert add_assets(engine, first) == UpsertCounts(1, 0, 0)
    change = assets(("BTC", None, "bitcoin-2", True)).assign(name=None)
    assert add_assets(engine, change) == UpsertCounts(0, 1, 0)
    stored = row(engine, "BTC")
    assert (stored["name"], stored["binance_symbol"], stored["coingecko_id"]) == (
        "Bitcoin",
        "BTCUSDT",
        "bitcoin-2",
    )
    assert add_assets(engine, change) == UpsertCounts(0, 0, 1)


def test_deactivated_assets_and_fixed_ids_survive_the_defaults(engine: Engine) -> None:
    add_missing_defaults(engine)
    assert set_active(engine, ["btc", "nope"], False) == ["NOPE"]
    add_assets(engine, assets(("XRP", "XRPUSDC", "my-ripple", True)))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM crypto_assets WHERE symbol = 'ETH'"))
    assert add_missing_defaults(engine) == 1  # only ETH comes back
    assert not bool(row(engine, "BTC")["is_active"])
    assert "BTC" not in set(list_assets(engine)["symbol"])
    xrp = row(engine, "XRP")
    assert (xrp["binance_symbol"], xrp["coingecko_id"]) == ("XRPUSDC", "my-ripple")
    assert bool(row(engine, "ETH")["is_active"])
    assert set_active(engine, ["BTC"], True) == []
    assert bool(row(engine, "BTC")["is_active"])


def test_pairs_and_history_starts_reach_the_price_sources(engine: Engine) -> None:
    add_assets(
        engine,
        assets(("BTC", "BTCUSDT", "bitcoin", True), ("XMR", None, "monero", True)),
    )
    set_pairs(engine, {"BTC": None, "XMR": "XMRUSDT"})
    starts = {"BTC": ms("2017-08-17 05:00"), "XMR": ms("2026-03-03 07:00")}
    set_history_starts(engine, starts)
    sources = price_sources(engine, ["BTC", "XMR", "NOPE"])
    assert sources == {
        "BTC": AssetSource("BTC", None, "bitcoin", starts["BTC"]),
        "XMR": AssetSource("XMR", "XMRUSDT", "monero", starts["XMR"]),
    }
    assert (sources["BTC"].source, sources["XMR"].source) == ("coingecko", "binance")
    assert row(engine, "BTC")["price_history_start"] == pd.Timestamp("2017-08-17 05:00")


def test_choose_assets_takes_active_sourced_ones_or_exactly_the_asked_for(engine: Engine) -> None:
    add_assets(
        engine,
        assets(
            ("ETH", "ETHUSDT", None, True),
            ("BTC", "BTCUSDT", None, True),
            ("XMR", None, "monero", True),
            ("FOO", None, None, True),
            ("OLD", "OLDUSDT", None, False),
        ),
    )
    chosen, unknown = choose_assets(engine, None, 10)
    assert [a.symbol for a in chosen] == ["BTC", "ETH", "XMR"] and unknown == []
    assert [a.symbol for a in choose_assets(engine, None, 2)[0]] == ["BTC", "ETH"]
    chosen, unknown = choose_assets(engine, "old, btc, nope", 5)
    assert [a.symbol for a in chosen] == ["OLD", "BTC"] and unknown == ["NOPE"]
    with pytest.raises(InputError, match="max_assets=2"):
        choose_assets(engine, ["A", "B", "C"], 2)
    with pytest.raises(InputError, match="at least 1"):
        choose_assets(engine, None, 0)


def test_listings_are_learned_once_from_binance_and_stored(engine: Engine) -> None:
    now_s = ms("2026-03-10 10:30") / 1000
    fake = FakeBinance(
        [PairSpec("BTCUSDT", ms("2017-08-17 04:00")), PairSpec("NEWUSDT", ms("2026-03-03 05:20"))],
        clock=lambda: now_s,
    )
    add_assets(
        engine,
        assets(
            ("BTC", "BTCUSDT", None, True),
            ("NEW", "NEWUSDT", None, True),
            ("BAD", "BADUSDT", None, True),
            ("XMR", None, "monero", True),
        ),
    )
    known = AssetSource("OLD", "OLDUSDT", None, ms("2020-01-01"))
    registered = list(price_sources(engine, ["BTC", "NEW", "BAD", "XMR"]).values())
    with BinanceClient("https://binance.test", transport=fake.transport()) as client:
        updated, learned, errors = learn_listings(client, [*registered, known], "1h", H, 4)
    assert learned == {"BTC": ms("2017-08-17 05:00"), "NEW": ms("2026-03-03 07:00")}  # closes
    assert set(errors) == {"BAD"}
    assert len(fake.requests) == 3  # XMR (CoinGecko) and OLD (start known) are not probed
    assert [a.symbol for a in updated] == [a.symbol for a in [*registered, known]]
    assert {a.symbol: a.history_start_ms for a in updated}["OLD"] == ms("2020-01-01")
    set_history_starts(engine, learned)
    again = price_sources(engine, ["BTC", "NEW", "BAD"])
    assert {s: a.history_start_ms for s, a in again.items()} == {**learned, "BAD": None}


SYNC_ASSETS = (
    ("BTC", "BTCUSDT", "bitcoin", True),
    ("LUNA", "LUNAUSDT", "terra-luna", True),
    ("GONE", "GONEUSDT", None, True),
    ("SOL", None, "solana", True),
    ("DOGE", None, "dogecoin", False),
    ("XMR", None, "monero", True),
)
STATUSES = {
    "BTCUSDT": "TRADING",
    "LUNAUSDT": "BREAK",
    "SOLUSDT": "TRADING",
    "DOGEUSDT": "TRADING",
    "XMRUSDT": "BREAK",
}
NOT_TRADING = {"LUNA": "LUNAUSDT (BREAK)", "GONE": "GONEUSDT (not listed)"}


def test_sync_finds_dead_pairs_and_pairs_to_use_and_applies_them(engine: Engine) -> None:
    add_assets(engine, assets(*SYNC_ASSETS))
    registry = assets(*SYNC_ASSETS).astype(object).replace({float("nan"): None})
    report = compare(registry, STATUSES)
    assert report.ok == 1
    assert report.not_trading == NOT_TRADING
    assert report.can_use == {"SOL": "SOLUSDT"}  # DOGE is inactive, XMRUSDT does not trade
    assert report.changes() == {"LUNA": None, "GONE": None, "SOL": "SOLUSDT"}
    assert "  SOL: SOLUSDT trades — not registered" in report.lines()
    set_pairs(engine, report.changes())
    sources = price_sources(engine, ["LUNA", "GONE", "SOL", "BTC"])
    assert {s: a.source for s, a in sources.items()} == {
        "LUNA": "coingecko",
        "GONE": None,
        "SOL": "binance",
        "BTC": "binance",
    }


def test_sync_over_the_stored_registry(engine: Engine) -> None:
    add_assets(engine, assets(*SYNC_ASSETS))
    report = compare(list_assets(engine, include_inactive=True), STATUSES)
    assert report.not_trading == NOT_TRADING
    assert report.can_use == {"SOL": "SOLUSDT"}
