"""The onchain-metrics flow end to end: local CoinMetrics and blockchain.info imitations, real
databases (SQLite and MariaDB), the Prefect harness."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.assets import add_assets
from coinfill.db.engine import make_engine
from coinfill.db.onchain import write_values
from coinfill.errors import BackfillFailedError
from flows.onchain_metrics import onchain_metrics
from tests.fakes.blockchain_server import FakeBlockchainInfo
from tests.fakes.coinmetrics_server import AssetSpec, FakeCoinMetrics
from tests.helpers import run_artifacts, store_prices

TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)
CM_HOLES = frozenset({TODAY - timedelta(days=10), TODAY - timedelta(days=11)})
LATE = TODAY - timedelta(days=1)  # CoinMetrics has not published it yet: no fallback either


def cm_assets(btc_gaps: frozenset[date] = CM_HOLES) -> dict[str, AssetSpec]:
    return {
        "btc": AssetSpec(date(2010, 7, 17), LATE - timedelta(days=1), gaps=btc_gaps),
        "eth": AssetSpec(date(2015, 8, 8), YESTERDAY),
        "sol": AssetSpec(date(2020, 4, 10), YESTERDAY, metrics=("AdrActCnt", "TxCnt")),
    }


@pytest.fixture
def sources(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[FakeCoinMetrics, FakeBlockchainInfo]]:
    with FakeCoinMetrics(cm_assets(), rate_limit=None) as cm, FakeBlockchainInfo() as bi:
        monkeypatch.setenv("COINFILL_COINMETRICS_BASE_URL", cm.url)
        monkeypatch.setenv("COINFILL_BLOCKCHAIN_INFO_BASE_URL", bi.url)
        monkeypatch.setenv("COINFILL_RATE_LIMITER", "local")
        monkeypatch.setenv("COINFILL_COINMETRICS_REQUESTS_PER_6S", "1000")
        monkeypatch.setenv("COINFILL_BLOCKCHAIN_INFO_SECONDS_PER_REQUEST", "0.01")
        yield cm, bi


def close_price(symbol: str, day: date) -> float:
    k = day.toordinal()
    return (100.0 if symbol == "ETH" else 30_000.0) * math.exp(0.02 * math.sin(k * 1.3))


@pytest.fixture
def flow_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
    engine = make_engine(db_url)
    assets = [
        {"symbol": "BTC", "coinmetrics_id": "btc", "binance_symbol": "BTCUSDT"},
        {"symbol": "ETH", "coinmetrics_id": "eth", "binance_symbol": "ETHUSDT"},
        {"symbol": "SOL", "coinmetrics_id": "sol", "binance_symbol": "SOLUSDT"},
        {"symbol": "XYZ", "coinmetrics_id": None, "binance_symbol": None},
    ]
    add_assets(
        engine, pd.DataFrame([{**a, "name": a["symbol"], "is_active": True} for a in assets])
    )
    rows = []
    for symbol in ("BTC", "ETH"):
        for i in range(60):
            day = TODAY - timedelta(days=60 - i)
            close = datetime.combine(day + timedelta(days=1), time())
            ms = int(close.replace(tzinfo=UTC).timestamp() * 1000)
            price = close_price(symbol, day)
            rows.append(
                {"symbol": symbol, "timestamp": ms, "timestamp_iso": close, "current_price": price,
                 "high_24h": price, "low_24h": price, "volume_usd_24h": 1.0, "data_source": "test"}
            )  # fmt: skip
    store_prices(engine, pd.DataFrame(rows))
    return engine


def stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(text("SELECT * FROM crypto_onchain_data"), conn)
    frame["metric_date"] = pd.to_datetime(frame["metric_date"]).dt.date
    return frame.set_index(["symbol", "metric_date"]).sort_index()


def expected_volatility(symbol: str, day: date) -> float:
    closes = [close_price(symbol, day - timedelta(days=k)) for k in range(7, -1, -1)]
    returns = [math.log(b / a) for a, b in itertools.pairwise(closes)]
    mean = sum(returns) / 7
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / 6)


def test_backfill_fills_each_metric_from_its_source_and_a_rerun_asks_for_nothing(
    flow_db: Engine, sources: tuple[FakeCoinMetrics, FakeBlockchainInfo]
) -> None:
    cm, bi = sources
    state = onchain_metrics(days=30, symbols=["BTC", "ETH", "SOL", "XYZ"], return_state=True)
    assert state.is_completed(), state.message
    rows = stored(flow_db)
    day = TODAY - timedelta(days=5)
    btc, eth, sol = rows.loc[("BTC", day)], rows.loc[("ETH", day)], rows.loc[("SOL", day)]
    assert btc["active_addresses_24h"] == cm.value("btc", "AdrActCnt", day)
    assert btc["active_addresses_source"] == "coinmetrics"
    flow = cm.value("eth", "FlowInExNtv", day) - cm.value("eth", "FlowOutExNtv", day)
    assert eth["exchange_net_flow_24h"] == pytest.approx(flow, rel=1e-12)
    assert eth["data_source"] == "coinmetrics"
    assert pd.isna(sol["exchange_net_flow_24h"]) and sol["transaction_count_24h"] > 0
    for hole in CM_HOLES:  # CoinMetrics left them empty: blockchain.info filled them, labelled
        assert rows.loc[("BTC", hole), "active_addresses_24h"] == bi.value(
            "n-unique-addresses", hole
        )
        assert rows.loc[("BTC", hole), "transaction_count_source"] == "blockchain.info"
    # The day CoinMetrics has not published yet is not taken from the fallback.
    assert ("BTC", LATE) not in rows.index or pd.isna(
        rows.loc[("BTC", LATE), "active_addresses_24h"]
    )
    assert btc["price_volatility_7d"] == pytest.approx(expected_volatility("BTC", day), rel=1e-9)
    assert ("XYZ", day) not in rows.index  # no source, no prices: nothing invented
    assert {r.params.get("sampled") for r in bi.requests} == {"false"}
    keys = {a.key for a in run_artifacts(state.state_details.flow_run_id)}
    assert {"onchain-metrics-plan", "onchain-metrics-sources", "onchain-metrics-coverage"} <= keys
    with flow_db.connect() as conn:
        status = dict(conn.execute(text(
            "SELECT symbol, status FROM onchain_availability WHERE metric = 'exchange_net_flow_24h'"
            " AND source = 'coinmetrics'")).all())  # fmt: skip
    assert status == {"BTC": "available", "ETH": "available", "SOL": "absent", "XYZ": "no id"}

    before = stored(flow_db)
    asked = cm.stats()["requests_by_path"].get("/v4/timeseries/asset-metrics", 0)
    charts = sum(bi.chart_requests.values())
    summary = onchain_metrics(days=30, symbols=["BTC", "ETH", "SOL", "XYZ"])
    # Only BTC's net flow on CoinMetrics' two holes is still missing (blockchain.info has no
    # flows): one request for exactly those days, and nothing else.
    asked_again = [r.params for r in cm.requests if r.path.startswith("/v4/timeseries")][asked:]
    assert [(p["assets"], p["start_time"], p["end_time"]) for p in asked_again] == [
        ("btc", min(CM_HOLES).isoformat(), max(CM_HOLES).isoformat())
    ]
    assert sum(bi.chart_requests.values()) == charts
    written = sum(r.inserted + r.updated for r in summary.results)
    assert written == 0
    pd.testing.assert_frame_equal(
        before.drop(columns=["updated_at"]), stored(flow_db).drop(columns=["updated_at"])
    )


def test_a_value_from_another_source_is_kept_and_counted(
    flow_db: Engine, sources: tuple[FakeCoinMetrics, FakeBlockchainInfo]
) -> None:
    day = TODAY - timedelta(days=4)
    now = datetime.now(UTC).replace(tzinfo=None)
    write_values(
        flow_db,
        pd.DataFrame(
            [
                {
                    "symbol": "BTC",
                    "metric_date": day,
                    "active_addresses_24h": 7.0,
                    "active_addresses_source": "messari",
                }
            ]
        ),
        now=now,
    )
    summary = onchain_metrics(days=10, symbols=["BTC"])
    row = stored(flow_db).loc[("BTC", day)]
    assert row["active_addresses_24h"] == 7.0 and row["active_addresses_source"] == "messari"
    assert row["transaction_count_source"] == "coinmetrics"  # the other metric still filled
    # The batch asked that day for the transaction count; its AdrActCnt was not written.
    assert sum(r.other_source for r in summary.results) == 1


def test_unknown_coinmetrics_id_fails_the_run_by_name_and_the_rest_is_written(
    flow_db: Engine, sources: tuple[FakeCoinMetrics, FakeBlockchainInfo]
) -> None:
    add_assets(
        flow_db, pd.DataFrame([{"symbol": "DOGE", "coinmetrics_id": "dogex", "is_active": True}])
    )
    with pytest.raises(BackfillFailedError, match=r"does not know asset 'dogex'.*DOGE"):
        onchain_metrics(days=7, symbols=["BTC", "DOGE"])
    assert stored(flow_db).loc["BTC"]["active_addresses_24h"].notna().any()


def test_dry_run_plans_and_writes_nothing(
    flow_db: Engine, sources: tuple[FakeCoinMetrics, FakeBlockchainInfo]
) -> None:
    cm, _ = sources
    summary = onchain_metrics(days=30, symbols=["BTC", "ETH"], dry_run=True)
    assert "Plan for" in summary.plan and "coinmetrics" in summary.plan
    assert stored(flow_db).empty
    assert cm.stats()["requests_by_path"].get("/v4/timeseries/asset-metrics", 0) == 0


# -- unavailable: a series the tier refuses (403) waits for its re-check ---------------------


REFUSED = ("sol", "TxCnt")  # the catalogue lists it, the data endpoint answers 403


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCoinMetrics]:
    with (
        FakeCoinMetrics(cm_assets(), rate_limit=None, hide_from_catalog={REFUSED}) as cm,
        FakeBlockchainInfo() as bi,
    ):
        monkeypatch.setenv("COINFILL_COINMETRICS_BASE_URL", cm.url)
        monkeypatch.setenv("COINFILL_BLOCKCHAIN_INFO_BASE_URL", bi.url)
        monkeypatch.setenv("COINFILL_RATE_LIMITER", "local")
        monkeypatch.setenv("COINFILL_COINMETRICS_REQUESTS_PER_6S", "1000")
        monkeypatch.setenv("COINFILL_BLOCKCHAIN_INFO_SECONDS_PER_REQUEST", "0.01")
        yield cm


def asked_for_the_refused_series(cm: FakeCoinMetrics) -> int:
    asset, metric = REFUSED
    return sum(
        1
        for r in cm.requests
        if r.path.endswith("/timeseries/asset-metrics")
        and asset in r.params.get("assets", "").split(",")
        and metric in r.params.get("metrics", "").split(",")
    )


def test_given_a_refused_metric_then_it_is_recorded_and_not_asked_until_its_recheck(
    refusing: FakeCoinMetrics,
    flow_db: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    onchain_metrics(days=20, symbols=["SOL"], enforce_coverage=False)
    assert asked_for_the_refused_series(refusing) == 1
    with flow_db.connect() as conn:
        status, detail = conn.execute(
            text(
                "SELECT status, detail FROM onchain_availability "
                "WHERE symbol = 'SOL' AND metric = 'transaction_count_24h'"
            )
        ).one()
    assert status == "forbidden"
    assert "403, not in the free tier; unavailable since" in detail and "asked again from" in detail

    refusing.requests.clear()
    onchain_metrics(days=20, symbols=["SOL"], enforce_coverage=False)
    assert asked_for_the_refused_series(refusing) == 0  # held until its re-check date

    refusing.requests.clear()
    monkeypatch.setenv("COINFILL_UNAVAILABLE_RECHECK_DAYS", "0")
    onchain_metrics(days=20, symbols=["SOL"], enforce_coverage=False)
    assert asked_for_the_refused_series(refusing) == 1  # re-checked
