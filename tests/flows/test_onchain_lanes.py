"""The on-chain providers' lanes: blockchain.info's Bitcoin fallback runs beside CoinMetrics'
batches (the run takes the longer of the two, not their sum) and writes exactly what a run that
asks it afterwards would: the days CoinMetrics left empty, after CoinMetrics' own values.
Local imitations on 127.0.0.1, real databases (SQLite and MariaDB)."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from prefect.client.schemas.objects import State
from sqlalchemy import Engine, text

from coinfill.db.assets import add_assets
from coinfill.db.engine import make_engine
from coinfill.interrupts import STOP
from tests.fakes.blockchain_server import FakeBlockchainInfo
from tests.fakes.coinmetrics_server import METRICS_PATH, AssetSpec, FakeCoinMetrics
from tests.fakes.fake_http import Response, json_response

TODAY = datetime.now(UTC).date()
HOLES = frozenset({TODAY - timedelta(days=10), TODAY - timedelta(days=11)})
DAYS = 30
SETTLED = TODAY - timedelta(days=2)  # blockchain.info fills days before this (fallback_after_days)
CHARTS = ("n-unique-addresses", "n-transactions")


class SlowCoinMetrics(FakeCoinMetrics):
    """Answers the batches without Bitcoin after ``seconds`` (a long CoinMetrics side) or, with
    ``until_stopped``, once the run was asked to stop; Bitcoin's with ``btc_status`` if set."""

    def __init__(
        self, seconds: float = 0.0, btc_status: int | None = None, until_stopped: bool = False
    ) -> None:
        last = TODAY - timedelta(days=2)
        specs = {
            "btc": AssetSpec(date(2010, 7, 17), last, gaps=HOLES),
            "eth": AssetSpec(date(2015, 8, 8), last),
            "sol": AssetSpec(date(2020, 4, 10), last, metrics=("AdrActCnt", "TxCnt")),
        }
        super().__init__(specs, rate_limit=None)
        self.seconds, self.btc_status, self.until_stopped = seconds, btc_status, until_stopped

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        if path == METRICS_PATH and "btc" in params.get("assets", "").split(","):
            if self.btc_status is not None:
                body = {
                    "error": {"type": "not_found", "message": "Requested resource was not found."}
                }
                return json_response(self.btc_status, body)
        elif path == METRICS_PATH:
            time.sleep(self.seconds)
            deadline = time.monotonic() + 30
            while self.until_stopped and not STOP and time.monotonic() < deadline:
                time.sleep(0.01)
        return super().answer(path, params, headers)


class SlowBlockchainInfo(FakeBlockchainInfo):
    """Answers each chart after ``seconds``; ``stop`` asks the run to stop while answering."""

    def __init__(self, seconds: float = 0.0, stop: bool = False) -> None:
        super().__init__()
        self.seconds, self.stop_run = seconds, stop

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        time.sleep(self.seconds)
        if self.stop_run:
            STOP.request(signal.SIGTERM)
        return super().answer(path, params, headers)


@pytest.fixture
def lanes_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("COINFILL_DATABASE_URL", db_url)
    monkeypatch.setenv("COINFILL_RATE_LIMITER", "local")
    monkeypatch.setenv("COINFILL_COINMETRICS_REQUESTS_PER_6S", "1000")
    monkeypatch.setenv("COINFILL_BLOCKCHAIN_INFO_SECONDS_PER_REQUEST", "0.01")
    monkeypatch.setenv("COINFILL_COINMETRICS_ASSETS_PER_REQUEST", "1")  # a batch per asset
    engine = make_engine(db_url)
    assets = [{"symbol": s, "coinmetrics_id": s.lower()} for s in ("BTC", "ETH", "SOL")]
    add_assets(
        engine, pd.DataFrame([{**a, "name": a["symbol"], "is_active": True} for a in assets])
    )
    return engine


Serve = Callable[[FakeCoinMetrics, FakeBlockchainInfo], None]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Starts the two imitations and points the run at them."""
    started: list[FakeCoinMetrics | FakeBlockchainInfo] = []

    def start(cm: FakeCoinMetrics, bi: FakeBlockchainInfo) -> None:
        for fake in (cm.start(), bi.start()):
            started.append(fake)
        monkeypatch.setenv("COINFILL_COINMETRICS_BASE_URL", cm.url)
        monkeypatch.setenv("COINFILL_BLOCKCHAIN_INFO_BASE_URL", bi.url)

    yield start
    for fake in started:
        fake.stop()


def run_flow() -> State[Any]:
    from flows.onchain_metrics import onchain_metrics

    symbols = ["BTC", "ETH", "SOL"]
    return onchain_metrics(days=DAYS, symbols=symbols, enforce_coverage=False, return_state=True)


def stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(text("SELECT * FROM crypto_onchain_data"), conn)
    frame["metric_date"] = pd.to_datetime(frame["metric_date"]).dt.date
    return frame.set_index(["symbol", "metric_date"]).sort_index()


def batches(cm: FakeCoinMetrics) -> list[tuple[float, str]]:
    return [(r.time, r.params["assets"]) for r in cm.requests if r.path == METRICS_PATH]


def assert_filled_from_blockchain_info(
    engine: Engine, bi: FakeBlockchainInfo, days: set[date]
) -> None:
    btc = stored(engine).loc["BTC"]
    for day in sorted(days):
        assert btc["active_addresses_24h"][day] == bi.value("n-unique-addresses", day)
        assert btc["transaction_count_24h"][day] == bi.value("n-transactions", day)
        assert btc["active_addresses_source"][day] == "blockchain.info"
        assert btc["transaction_count_source"][day] == "blockchain.info"


def test_blockchain_info_is_asked_while_coinmetrics_pages_and_fills_only_its_holes(
    lanes_db: Engine, serve: Serve
) -> None:
    cm, bi = SlowCoinMetrics(seconds=2.0), SlowBlockchainInfo(seconds=0.3)
    serve(cm, bi)
    state = run_flow()
    assert state.is_completed(), state.message
    asked = batches(cm)
    assert [assets for _, assets in asked] == ["btc", "eth", "sol"]  # Bitcoin's batch first
    charts = [(r.time, r.path) for r in bi.requests]
    assert sorted(path.rsplit("/", 1)[-1] for _, path in charts) == sorted(CHARTS)
    # Both charts were answered after CoinMetrics' Bitcoin rows and before its last batch: the
    # fallback added nothing to the run's span (max of the two providers, not their sum).
    assert all(asked[0][0] < at < asked[-1][0] for at, _ in charts)
    steps = [r for r in state.result().results if r.source == "blockchain.info"]
    assert [(r.what, r.requests, r.values) for r in steps] == [
        ("BTC n-unique-addresses: 2 day(s)", 1, 2),
        ("BTC n-transactions: 2 day(s)", 1, 2),
    ]
    # Exactly the sequential result: CoinMetrics' values where it has them, blockchain.info's
    # on its holes only (one request per chart for both holes), nothing before it had its chance.
    assert_filled_from_blockchain_info(lanes_db, bi, set(HOLES))
    btc = stored(lanes_db).loc["BTC"]
    from_bi = btc[btc["active_addresses_source"] == "blockchain.info"].index
    assert set(from_bi) == set(HOLES)
    day = TODAY - timedelta(days=5)
    assert btc["active_addresses_24h"][day] == cm.value("btc", "AdrActCnt", day)
    assert btc["active_addresses_source"][day] == "coinmetrics"
    assert stored(lanes_db).loc["ETH"]["active_addresses_source"].eq("coinmetrics").all()


def test_a_failed_bitcoin_batch_leaves_blockchain_info_every_settled_day_and_fails_the_run(
    lanes_db: Engine, serve: Serve
) -> None:
    cm, bi = SlowCoinMetrics(btc_status=404), SlowBlockchainInfo()
    serve(cm, bi)
    state = run_flow()
    assert state.is_failed() and "coinmetrics" in (state.message or "")
    first = TODAY - timedelta(days=DAYS)
    settled = {first + timedelta(days=k) for k in range((SETTLED - first).days)}
    assert_filled_from_blockchain_info(lanes_db, bi, settled)  # as a run asking it after would
    assert sum(bi.chart_requests.values()) == 2  # one range per chart
    assert stored(lanes_db).loc["ETH"]["active_addresses_source"].eq("coinmetrics").all()


def test_an_interrupt_lets_the_fallback_write_in_flight_finish_and_starts_nothing_more(
    lanes_db: Engine, serve: Serve
) -> None:
    cm, bi = SlowCoinMetrics(until_stopped=True), SlowBlockchainInfo(stop=True)
    serve(cm, bi)
    try:
        state = run_flow()
    finally:
        STOP.clear()
    assert state.is_cancelled(), state.message
    assert "interrupted" in (state.message or "")
    assert dict(bi.chart_requests) == {"n-unique-addresses": 1}  # the second chart never left
    btc = stored(lanes_db).loc["BTC"]
    for hole in HOLES:  # the chart in flight was written, after CoinMetrics' Bitcoin rows
        assert btc["active_addresses_24h"][hole] == bi.value("n-unique-addresses", hole)
        assert pd.isna(btc["transaction_count_24h"][hole])
    assert (btc["transaction_count_source"] == "coinmetrics").sum() > 0
    assert "sol" not in [assets for _, assets in batches(cm)]  # no batch started after the stop


def test_a_blockchain_info_outage_fails_its_charts_at_once_and_coinmetrics_still_writes(
    lanes_db: Engine, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    cm, bi = SlowCoinMetrics(), SlowBlockchainInfo()
    serve(cm, bi)
    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("COINFILL_BLOCKCHAIN_INFO_BASE_URL", f"http://127.0.0.1:{port}")
    state = run_flow()
    # One line for the outage; the second chart failed at once on the open breaker.
    assert state.is_failed()
    assert "2 of 6 steps failed" in (state.message or "")
    assert "blockchain.info unreachable" in (state.message or "")
    rows = stored(lanes_db)
    assert rows.loc["ETH"]["active_addresses_source"].eq("coinmetrics").all()
    assert pd.isna(rows.loc["BTC"]["active_addresses_24h"].get(min(HOLES)))
