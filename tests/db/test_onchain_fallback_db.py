"""The blockchain.info lane against real databases and the blockchain.info imitation (through
``httpx.MockTransport``): it fetches Bitcoin's holes as soon as CoinMetrics' answer is in, writes
only after CoinMetrics' Bitcoin step ended, and writes exactly the days the table lacks then."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.engine import make_engine
from coinfill.db.onchain import write_values
from coinfill.onchain.collect import Sink, SourceResult
from coinfill.onchain.fallback import FallbackLane
from coinfill.onchain.metrics import BY_COLUMN
from coinfill.onchain.plan import OnchainPlan
from coinfill.sources.blockchain_info import BlockchainInfoClient
from coinfill.sources.ratelimit import SlidingWindow
from tests.fakes.blockchain_server import FakeBlockchainInfo

NOW = datetime.now(UTC).replace(tzinfo=None)
TODAY = NOW.date()
START, END = TODAY - timedelta(days=20), TODAY - timedelta(days=2)
PLANNED = [START + timedelta(days=k) for k in range((END - START).days)]
HOLES = {TODAY - timedelta(days=10), TODAY - timedelta(days=11)}
METRICS = {"active_addresses_24h": "n-unique-addresses", "transaction_count_24h": "n-transactions"}


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


@pytest.fixture
def fake() -> FakeBlockchainInfo:
    return FakeBlockchainInfo()


@pytest.fixture
def lane(engine: Engine, fake: FakeBlockchainInfo) -> Iterator[FallbackLane]:
    client = BlockchainInfoClient(limiter=SlidingWindow(1000, 1.0), transport=fake.transport())
    plan = OnchainPlan(START, END, {}, [], {m: list(PLANNED) for m in METRICS}, [])
    yield FallbackLane(client, Sink(engine, NOW), plan)
    client.http.close()


def coinmetrics_rows(days: list[date]) -> pd.DataFrame:
    """What CoinMetrics' Bitcoin batch answered (and, written, stores)."""
    frame = pd.DataFrame({"symbol": "BTC", "metric_date": days})
    for column in METRICS:
        frame[column] = 1000.0
        frame[BY_COLUMN[column].source_column] = "coinmetrics"
    return frame


def steps(label: str, source: str, step: Callable[[], SourceResult]) -> SourceResult:
    return step()  # what the flow's task runner does, minus Prefect


def start(lane: FallbackLane) -> Future[list[SourceResult]]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(lane.run, steps)
    pool.shutdown(wait=False)
    return future


def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(text("SELECT * FROM crypto_onchain_data WHERE symbol = 'BTC'"), conn)
    frame["metric_date"] = pd.to_datetime(frame["metric_date"]).dt.date
    return frame.set_index("metric_date").sort_index()


def test_holes_are_fetched_at_once_and_written_only_after_coinmetrics_wrote(
    engine: Engine, fake: FakeBlockchainInfo, lane: FallbackLane
) -> None:
    answer = coinmetrics_rows([d for d in PLANNED if d not in HOLES])
    running = start(lane)
    lane.answered(answer)
    until(lambda: sum(fake.chart_requests.values()) == 2)  # both charts, before any write
    time.sleep(0.1)
    assert stored(engine).empty
    write_values(engine, answer, now=NOW)  # CoinMetrics' own write, then its step ends
    lane.settled()
    results = running.result(timeout=30)
    assert [(r.values, r.requests) for r in results] == [(2, 1), (2, 1)]
    assert not any(r.error for r in results)
    rows = stored(engine)
    for metric, chart in METRICS.items():
        source = BY_COLUMN[metric].source_column
        assert set(rows.index[rows[source] == "blockchain.info"]) == HOLES
        for hole in HOLES:
            assert rows[metric][hole] == fake.value(chart, hole)
    assert sum(fake.chart_requests.values()) == 2  # nothing asked twice


def test_a_day_the_coinmetrics_write_lost_is_fetched_once_the_table_says_so(
    engine: Engine, fake: FakeBlockchainInfo, lane: FallbackLane
) -> None:
    lost = TODAY - timedelta(days=17)  # in the answer, never written: far from the holes
    answer = coinmetrics_rows([d for d in PLANNED if d not in HOLES])
    running = start(lane)
    lane.answered(answer)
    write_values(engine, answer[answer["metric_date"] != lost], now=NOW)
    lane.settled()
    results = running.result(timeout=30)
    rows = stored(engine)
    assert set(rows.index[rows["active_addresses_source"] == "blockchain.info"]) == HOLES | {lost}
    assert [(r.values, r.requests) for r in results] == [(3, 2), (3, 2)]
    assert sum(fake.chart_requests.values()) == 4  # the holes, then the lost day, per chart


def test_a_run_that_stops_before_coinmetrics_wrote_writes_nothing_from_the_fallback(
    engine: Engine, fake: FakeBlockchainInfo, lane: FallbackLane
) -> None:
    running = start(lane)
    lane.answered(coinmetrics_rows([d for d in PLANNED if d not in HOLES]))
    until(lambda: sum(fake.chart_requests.values()) >= 1)
    lane.abandon()
    results = running.result(timeout=30)
    assert results and all("not written" in (r.error or "") for r in results)
    assert all(r.requests == 1 for r in results)  # what was asked is still counted
    assert stored(engine).empty
