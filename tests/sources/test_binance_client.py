"""BinanceClient against the local Binance imitation: klines paging by the last bar (several
1,000-bar pages, a pair listed mid-range, an outage gap, an empty page), first_open and
exchange_info statuses. No real sleeping: the budget and the client share a fake clock that
only the sleep recorder moves forward."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
import pytest

from coinfill.sources.binance import INTERVALS, KLINE_COLUMNS, PAGE_BARS, BinanceClient, KlinePage
from coinfill.sources.binance_weight import WeightBudget
from tests.fakes.binance_server import KLINES_PATH, FakeBinance, PairSpec
from tests.fakes.clock import Clock, Sleeper

HOUR = 3_600_000
DAY = 24 * HOUR


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2025-01-01T12:34:56") / 1000  # seconds
BTC = PairSpec("BTCUSDT", ms("2024-01-01"), base_price=42000.0)
LATE = PairSpec("NEWUSDT", ms("2024-03-05T13:27:00"), base_price=3.0)
GAP = (ms("2024-02-10T03:00"), ms("2024-02-12T06:30"))
GAPPY = PairSpec("GAPUSDT", ms("2024-01-01"), gaps=[GAP])
DEAD = PairSpec("LUNAUSDT", ms("2024-01-01"), delisted_ms=ms("2024-02-01T05:00"), base_price=0.5)
FRESH = PairSpec("FRESHUSDT", ms("2025-01-01T12:30"))  # listed minutes ago: no 1h bar yet


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sleep(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def fake(clock: Clock) -> FakeBinance:
    return FakeBinance([BTC, LATE, GAPPY, DEAD, FRESH], clock=clock)


@pytest.fixture
def client(fake: FakeBinance, clock: Clock, sleep: Sleeper) -> Iterator[BinanceClient]:
    budget = WeightBudget(clock=clock, sleep=sleep)
    with BinanceClient(budget=budget, transport=fake.transport(), sleep=sleep) as binance:
        yield binance


def expected_frame(rows: list[list[int | str]]) -> pd.DataFrame:
    """The fake's raw kline rows as the client's bars (``KLINE_COLUMNS``)."""
    return pd.DataFrame(
        {
            "open_time": pd.Series([int(r[0]) for r in rows], dtype="int64"),
            "high": [float(r[2]) for r in rows],
            "low": [float(r[3]) for r in rows],
            "close": [float(r[4]) for r in rows],
            "quote_volume": [float(r[7]) for r in rows],
        }
    )


def collect(pages: list[KlinePage]) -> pd.DataFrame:
    return pd.concat([p.bars for p in pages], ignore_index=True)


def kline_params(fake: FakeBinance) -> list[dict[str, str]]:
    return [r.params for r in fake.requests if r.path == KLINES_PATH]


# -- paging ------------------------------------------------------------------------------------


def test_paging_over_several_pages_returns_exactly_the_bars(
    client: BinanceClient, fake: FakeBinance, sleep: Sleeper
) -> None:
    start = ms("2024-02-01")
    end = start + 2500 * HOUR
    pages = list(client.klines("BTCUSDT", "1h", start, end))
    assert [p.received for p in pages] == [1000, 1000, 500]
    assert all(p.malformed == 0 for p in pages)
    bars = collect(pages)
    expected = expected_frame(fake.expected_bars("BTCUSDT", "1h", start, end - 1))
    assert len(expected) == 2500
    pd.testing.assert_frame_equal(bars, expected, check_dtype=False)
    assert list(bars.columns) == list(KLINE_COLUMNS)
    assert client.requests == len(fake.requests) == 3
    params = kline_params(fake)
    assert [int(p["startTime"]) for p in params] == [
        start,
        start + 1000 * HOUR,
        start + 2000 * HOUR,
    ]
    assert {p["endTime"] for p in params} == {str(end - 1)}
    assert {p["limit"] for p in params} == {str(PAGE_BARS)}
    assert {(p["symbol"], p["interval"]) for p in params} == {("BTCUSDT", "1h")}
    assert sleep.calls == []


def test_an_exact_multiple_of_a_page_needs_no_extra_request(
    client: BinanceClient, fake: FakeBinance
) -> None:
    start = ms("2024-02-01")
    pages = list(client.klines("BTCUSDT", "1h", start, start + 2000 * HOUR))
    assert len(collect(pages)) == 2000
    assert len(fake.requests) == 2  # the cursor reached the end: no empty third page


def test_bars_open_in_the_half_open_range_only(client: BinanceClient, fake: FakeBinance) -> None:
    start, end = ms("2024-02-01T00:30"), ms("2024-02-02T05:00")
    bars = collect(list(client.klines("BTCUSDT", "1h", start, end)))
    assert bars["open_time"].iloc[0] == ms("2024-02-01T01:00")
    assert bars["open_time"].iloc[-1] == end - HOUR  # the bar opening at `end` is excluded
    assert len(bars) == 28


def test_pair_listed_after_the_start_pages_from_its_listing(
    client: BinanceClient, fake: FakeBinance
) -> None:
    start, end = ms("2024-01-01"), ms("2024-05-01")
    pages = list(client.klines("NEWUSDT", "1h", start, end))
    bars = collect(pages)
    assert bars["open_time"].iloc[0] == ms("2024-03-05T14:00")  # the listing, aligned up
    expected = expected_frame(fake.expected_bars("NEWUSDT", "1h", start, end - 1))
    pd.testing.assert_frame_equal(bars, expected, check_dtype=False)
    hours = (end - ms("2024-03-05T14:00")) // HOUR  # 1362 bars: two pages, none empty
    assert len(bars) == hours
    assert [p.received for p in pages] == [1000, hours - 1000]
    assert [int(p["startTime"]) for p in kline_params(fake)] == [
        start,
        ms("2024-03-05T14:00") + 1000 * HOUR,
    ]


def test_exchange_outage_gap_is_skipped(client: BinanceClient, fake: FakeBinance) -> None:
    start, end = ms("2024-02-01"), ms("2024-03-01")
    pages = list(client.klines("GAPUSDT", "1h", start, end))
    bars = collect(pages)
    opens = bars["open_time"]
    assert not opens.between(GAP[0], GAP[1] - 1).any()
    assert opens[opens < GAP[0]].iloc[-1] == GAP[0] - HOUR  # the last bar before the outage
    assert opens[opens >= GAP[1]].iloc[0] == ms("2024-02-12T07:00")  # first full hour after
    missing = (ms("2024-02-12T07:00") - GAP[0]) // HOUR
    assert len(bars) == (end - start) // HOUR - missing
    expected = expected_frame(fake.expected_bars("GAPUSDT", "1h", start, end - 1))
    pd.testing.assert_frame_equal(bars, expected, check_dtype=False)
    assert len(fake.requests) == 1  # 696 hours minus the gap fit in one page


def test_gap_across_a_page_boundary_continues_after_the_gap(
    client: BinanceClient, fake: FakeBinance
) -> None:
    start = GAP[0] - 900 * HOUR  # the first page ends 100 bars after the outage
    end = GAP[1] + 900 * HOUR
    bars = collect(list(client.klines("GAPUSDT", "1h", start, end)))
    expected = expected_frame(fake.expected_bars("GAPUSDT", "1h", start, end - 1))
    pd.testing.assert_frame_equal(bars, expected, check_dtype=False)
    assert bars["open_time"].is_unique and bars["open_time"].is_monotonic_increasing
    second = int(kline_params(fake)[1]["startTime"])
    assert second == int(bars["open_time"].iloc[999]) + HOUR  # after the last bar received


def test_empty_page_yields_no_bars_and_stops(client: BinanceClient, fake: FakeBinance) -> None:
    fake.queue((200, {}, "[]"))
    pages = list(client.klines("BTCUSDT", "1h", ms("2024-02-01"), ms("2024-06-01")))
    assert len(pages) == 1
    assert pages[0].bars.empty and pages[0].received == 0 and pages[0].malformed == 0
    assert len(fake.requests) == 1


def test_range_past_the_end_of_a_delisted_pair_stops_on_the_short_page(
    client: BinanceClient, fake: FakeBinance
) -> None:
    start = ms("2024-01-20")
    bars = collect(list(client.klines("LUNAUSDT", "1h", start, ms("2024-06-01"))))
    assert bars["open_time"].iloc[-1] == ms("2024-02-01T04:00")
    assert len(bars) == (ms("2024-02-01T05:00") - start) // HOUR
    assert len(fake.requests) == 1


def test_empty_or_reversed_range_sends_nothing(client: BinanceClient, fake: FakeBinance) -> None:
    assert list(client.klines("BTCUSDT", "1h", ms("2024-02-01"), ms("2024-02-01"))) == []
    assert list(client.klines("BTCUSDT", "1h", ms("2024-02-02"), ms("2024-02-01"))) == []
    assert fake.requests == []


@pytest.mark.parametrize("interval", ["15m", "4h", "1d"])
def test_other_intervals_page_on_their_own_step(
    client: BinanceClient, fake: FakeBinance, interval: str
) -> None:
    step = INTERVALS[interval]
    start = ms("2024-01-01")
    end = start + 1500 * step if step < DAY else ms("2024-12-01")
    bars = collect(list(client.klines("BTCUSDT", interval, start, end)))
    expected = expected_frame(fake.expected_bars("BTCUSDT", interval, start, end - 1))
    pd.testing.assert_frame_equal(bars, expected, check_dtype=False)
    assert (bars["open_time"].diff().dropna() == step).all()


# -- first_open and exchange_info ----------------------------------------------------------------


def test_first_open_of_a_listed_pair(client: BinanceClient, fake: FakeBinance) -> None:
    assert client.first_open("NEWUSDT", "1h") == ms("2024-03-05T14:00")
    assert client.first_open("BTCUSDT", "1d") == ms("2024-01-01")
    params = kline_params(fake)[0]
    assert params["startTime"] == "0" and params["limit"] == "1" and "endTime" not in params


def test_first_open_is_none_for_a_pair_without_bars(
    client: BinanceClient, fake: FakeBinance
) -> None:
    assert client.first_open("FRESHUSDT", "1h") is None
    fake.queue((200, {}, "[]"))
    assert client.first_open("BTCUSDT", "1h") is None


def test_exchange_info_statuses(client: BinanceClient, fake: FakeBinance) -> None:
    statuses = client.exchange_info()
    assert statuses == {
        "BTCUSDT": "TRADING",
        "NEWUSDT": "TRADING",
        "GAPUSDT": "TRADING",
        "LUNAUSDT": "BREAK",
        "FRESHUSDT": "TRADING",
    }
    assert client.exchange_info(["LUNAUSDT", "BTCUSDT"]) == {
        "LUNAUSDT": "BREAK",
        "BTCUSDT": "TRADING",
    }
    assert json.loads(fake.requests[-1].params["symbols"]) == ["LUNAUSDT", "BTCUSDT"]
    assert "symbols" not in fake.requests[0].params
