"""Pure on-chain logic: 7-day volatility, source availability, gap plans, day ranges, and the
CoinMetrics sliding-window rate limit (fake clocks, threads)."""

from __future__ import annotations

import math
import random
import sys
import threading
from collections.abc import Sequence
from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from coinfill.onchain.availability import (
    AssetIds,
    Availability,
    blockchain_info,
    by_series,
    eligible_days,
    from_catalog,
)
from coinfill.onchain.clients import messari_assumed
from coinfill.onchain.collect import day_ranges
from coinfill.onchain.metrics import BITCOIN_GENESIS, BLOCKCHAIN_INFO, COINMETRICS, MESSARI
from coinfill.onchain.plan import OnchainPlan, plan_onchain
from coinfill.onchain.volatility import daily_volatility
from coinfill.sources.coinmetrics import Catalog, Span
from coinfill.sources.ratelimit import SlidingWindow
from tests.fakes.clock import Clock, Sleeper

D0 = date(2024, 1, 1)
TODAY = date(2024, 3, 1)
ACT, TX, FLOW = "active_addresses_24h", "transaction_count_24h", "exchange_net_flow_24h"


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def span_days(first: date, stop: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((stop - first).days)]


def brute_volatility(closes: dict[date, float], start: date, end: date) -> dict[date, float]:
    out = {}
    for d in span_days(start, end):
        window = [closes.get(d - timedelta(days=k)) for k in range(7, -1, -1)]
        if any(c is None or c <= 0 for c in window):
            continue
        known = [float(c) for c in window if c is not None]
        returns = [math.log(b / a) for a, b in pairwise(known)]
        out[d] = float(np.std(returns, ddof=1))
    return out


def test_volatility_equals_a_brute_force_computation() -> None:
    rng = random.Random(7)
    rows, expected = [], {}
    start, end = day(10), day(70)
    for symbol in ("AAA", "BBB", "CCC"):
        closes: dict[date, float] = {}
        for d in span_days(day(0), day(80)):
            if rng.random() < 0.06:
                continue  # a missing close
            closes[d] = rng.choice([0.0, -1.0]) if rng.random() < 0.03 else rng.uniform(1, 100)
        rows += [{"symbol": symbol, "day": d, "close": c} for d, c in closes.items()]
        expected[symbol] = brute_volatility(closes, start, end)
    got = daily_volatility(pd.DataFrame(rows), start, end)
    for symbol, want in expected.items():
        mine = got[got["symbol"] == symbol]
        assert sorted(mine["metric_date"]) == sorted(want)
        assert 0 < len(want) < 60  # some days lack a close, the rest have a value
        for d, value in zip(mine["metric_date"], mine["price_volatility_7d"], strict=True):
            assert value == pytest.approx(want[d], rel=1e-9, abs=1e-12)


def test_volatility_needs_eight_positive_closes_within_the_window() -> None:
    closes = {d: 100.0 * (1.01 ** (d - day(0)).days) for d in span_days(day(0), day(30))}
    missing, negative = day(12), day(20)
    del closes[missing]
    closes[negative] = -5.0
    rows = pd.DataFrame([{"symbol": "X", "day": d, "close": c} for d, c in closes.items()])
    got = set(daily_volatility(rows, day(7), day(30))["metric_date"])
    no_value = {missing + timedelta(days=k) for k in range(8)}
    no_value |= {negative + timedelta(days=k) for k in range(8)}
    assert got == set(span_days(day(7), day(30))) - no_value
    # A constant growth rate: every log return equal, so the deviation is zero.
    flat = daily_volatility(rows, day(7), day(8))["price_volatility_7d"].iloc[0]
    assert flat == pytest.approx(0, abs=1e-9)
    # The window's bounds: the first day uses the seven closes before it, later ones are unused.
    closes = pd.DataFrame({"symbol": "X", "day": span_days(day(0), day(40))})
    closes["close"] = [1.0 + (i % 3) for i in range(40)]
    got = daily_volatility(closes, day(15), day(20))
    assert list(got["metric_date"]) == span_days(day(15), day(20))
    only_needed = closes[(closes["day"] >= day(8)) & (closes["day"] < day(16))]
    assert list(daily_volatility(only_needed, day(15), day(20))["metric_date"]) == [day(15)]
    assert daily_volatility(closes, day(1), day(7)).empty  # the days before have no 8 closes
    assert list(daily_volatility(closes, day(39), day(45))["metric_date"]) == [day(39)]


def cm(symbol: str, metric: str, first: date, last: date) -> Availability:
    return Availability(symbol, metric, COINMETRICS, first, last)


def test_availability_days_and_covers() -> None:
    a = Availability("BTC", ACT, COINMETRICS, day(5), day(9))
    assert a.days(day(0), day(7)) == [day(5), day(6)]
    assert a.days(day(8), day(20)) == [day(8), day(9)]
    assert a.days(day(10), day(20)) == [] and a.days(day(0), day(5)) == []
    assert [a.covers(day(n)) for n in (4, 5, 9, 10)] == [False, True, True, False]
    refused = Availability("BTC", ACT, COINMETRICS, day(5), day(9), status="forbidden")
    assert refused.days(day(0), day(20)) == [] and not refused.covers(day(6))
    assert Availability("BTC", ACT, COINMETRICS, None, None).days(day(0), day(9)) == []


def test_from_catalog_statuses_and_spans() -> None:
    btc = {"AdrActCnt": Span(day(0), day(50)), "TxCnt": Span(day(1), day(40)),
           "FlowInExNtv": Span(day(3), day(60)), "FlowOutExNtv": Span(day(5), day(55))}  # fmt: skip
    eth = {"AdrActCnt": Span(day(0), day(9)), "FlowInExNtv": Span(day(0), day(9))}
    catalog = Catalog(spans={"btc": btc, "eth": eth}, unknown={"zzz"})
    assets = [AssetIds("BTC", "BTC"), AssetIds("ETH", "eth"), AssetIds("ZZZ", "zzz"),
              AssetIds("NOID", None), AssetIds("EMPTY", "")]  # fmt: skip
    got = {(e.symbol, e.metric): e for e in from_catalog(assets, catalog, [("eth", "TxCnt")])}
    assert len(got) == 15 and {e.source for e in got.values()} == {COINMETRICS}
    spans = {m: (got[("BTC", m)].status, got[("BTC", m)].first, got[("BTC", m)].last)
             for m in (ACT, TX, FLOW)}  # fmt: skip
    assert spans == {ACT: ("available", day(0), day(50)), TX: ("available", day(1), day(40)),
                     FLOW: ("available", day(5), day(55))}  # fmt: skip  # max first, min last
    assert got[("ETH", ACT)].status == "available"
    assert got[("ETH", TX)].status == "forbidden" and "TxCnt" in got[("ETH", TX)].detail
    assert got[("ETH", FLOW)].status == "absent" and "FlowOutExNtv" in got[("ETH", FLOW)].detail
    assert {got[("ZZZ", m)].status for m in (ACT, TX, FLOW)} == {"unknown"}
    assert {got[(s, m)].status for s in ("NOID", "EMPTY") for m in (ACT, TX, FLOW)} == {"no id"}
    unavailable = [e for e in got.values() if e.status != "available"]
    assert all(e.first is None and e.last is None for e in unavailable)


def test_blockchain_info_serves_bitcoin_from_genesis_to_yesterday() -> None:
    got = blockchain_info([AssetIds("ETH", "eth"), AssetIds("BTC", "btc")], TODAY)
    assert sorted(e.metric for e in got) == [ACT, TX]
    yesterday = TODAY - timedelta(days=1)
    got_spans = {(e.symbol, e.source, e.first, e.last, e.status) for e in got}
    assert got_spans == {("BTC", BLOCKCHAIN_INFO, BITCOIN_GENESIS, yesterday, "available")}


def test_eligible_days_joins_the_sources_of_a_series() -> None:
    entries = [cm("BTC", ACT, day(3), day(5)), cm("ETH", TX, day(0), day(1)),
               Availability("BTC", ACT, BLOCKCHAIN_INFO, day(4), day(8)),
               Availability("ETH", ACT, COINMETRICS, None, None, "absent")]  # fmt: skip
    want = {ACT: {"BTC": span_days(day(3), day(7))}, TX: {"ETH": [day(0), day(1)]}}
    assert eligible_days(entries, day(0), day(7)) == want


def plan(
    assets: Sequence[AssetIds], entries: Sequence[Availability],
    filled: dict[tuple[str, str], set[date]], *, per_request: int = 2, page_size: int = 100,
    after: int = 3, messari: bool = False,
) -> OnchainPlan:  # fmt: skip
    return plan_onchain(
        assets, by_series(entries), filled, day(0), day(30), TODAY,
        assets_per_request=per_request, page_size=page_size,
        fallback_after_days=after, messari=messari,
    )  # fmt: skip


ASSETS = [AssetIds("AAA", "aaa"), AssetIds("BBB", "bbb"), AssetIds("CCC", "ccc")]


def test_gaps_are_servable_days_without_a_value_and_requests_batch_assets() -> None:
    entries = [cm("AAA", m, day(0), day(100)) for m in (ACT, TX, FLOW)]
    entries += [cm("BBB", TX, day(10), day(100)), cm("CCC", FLOW, day(20), day(100))]
    filled = {("AAA", m): set(span_days(day(0), day(30))) for m in (ACT, TX, FLOW)}
    filled[("AAA", TX)] -= {day(4), day(6)}  # AAA misses two transaction counts
    filled[("BBB", TX)] = {day(12)}
    got = plan(ASSETS, entries, filled, per_request=2, page_size=7)
    assert got.gaps[("AAA", ACT)] == [] and got.gaps[("AAA", TX)] == [day(4), day(6)]
    assert got.gaps[("BBB", TX)] == [d for d in span_days(day(10), day(30)) if d != day(12)]
    assert got.gaps[("CCC", FLOW)] == span_days(day(20), day(30))
    first, second = got.coinmetrics
    assert [a.symbol for a in first.assets] == ["AAA", "BBB"]
    assert (first.start, first.end, first.metrics) == (day(4), day(30), ("TxCnt",))
    # rows: AAA serves every day of 4..29 (26), BBB days 10..29 (20).
    assert (first.rows, first.pages) == (46, math.ceil(46 / 7))
    assert [a.symbol for a in second.assets] == ["CCC"] and second.start == day(20)
    assert (second.end, second.metrics) == (day(30), ("FlowInExNtv", "FlowOutExNtv"))
    assert (second.rows, second.pages) == (10, 2)
    assert got.coinmetrics_requests == 9


def test_a_batch_asks_the_union_of_names_in_metrics_order() -> None:
    entries = [cm("AAA", FLOW, day(0), day(100)), cm("BBB", TX, day(0), day(100))]
    entries += [cm("BBB", ACT, day(0), day(100))]
    got = plan(ASSETS[:2], entries, {("BBB", TX): set(span_days(day(0), day(30)))},
               per_request=5, page_size=10_000)  # fmt: skip
    (request,) = got.coinmetrics
    assert request.metrics == ("AdrActCnt", "FlowInExNtv", "FlowOutExNtv")
    assert (request.rows, request.pages) == (60, 1)


def test_nothing_is_planned_when_everything_is_filled() -> None:
    entries = [cm(a.symbol, m, day(0), day(100)) for a in ASSETS for m in (ACT, TX, FLOW)]
    entries += blockchain_info([AssetIds("BTC", "btc")], TODAY)
    entries += [cm("BTC", m, day(0), day(100)) for m in (ACT, TX, FLOW)]
    filled = {(e.symbol, e.metric): set(span_days(day(0), day(30))) for e in entries}
    got = plan([*ASSETS, AssetIds("BTC", "btc")], entries, filled, messari=True)
    assert all(d == [] for d in got.gaps.values())
    assert got.coinmetrics == [] and got.messari == [] and got.coinmetrics_requests == 0
    assert got.fallback == {ACT: [], TX: []}


def test_fallback_takes_only_settled_bitcoin_days() -> None:
    today = day(30)
    btc = AssetIds("BTC", "btc")
    entries = blockchain_info([btc], today)
    entries += [cm("BTC", ACT, day(5), day(26)), cm("BTC", TX, day(5), day(26))]
    filled = {("BTC", ACT): set(span_days(day(0), day(30))) - {day(2), day(10), day(25),
              day(26), day(27), day(29)}}  # fmt: skip
    got = plan_onchain(
        [btc], by_series(entries), filled, day(0), day(30), today,
        assets_per_request=5, page_size=100, fallback_after_days=4, messari=False,
    )  # fmt: skip
    # Settled = day 26. Days 2 (CoinMetrics has none) and 10, 25 (CoinMetrics had its chance);
    # not 26..29, even 27 and 29 which CoinMetrics does not cover: it may still publish them.
    assert got.fallback[ACT] == [day(2), day(10), day(25)]
    assert got.fallback[TX] == span_days(day(0), day(26)) and FLOW not in got.fallback
    assert got.gaps[("BTC", ACT)] == [day(2), day(10), day(25), day(26), day(27), day(29)]


def test_messari_only_when_enabled_and_only_without_a_free_source() -> None:
    assets = [AssetIds("AAA", "aaa"), AssetIds("NOID", None, "no-id-coin"), AssetIds("ZZZ", "")]
    catalog = Catalog(spans={"aaa": {"AdrActCnt": Span(day(0), day(100))}})
    entries = from_catalog(assets, catalog)
    entries += messari_assumed(entries, assets, TODAY)
    assert {(e.symbol, e.metric) for e in entries if e.source == MESSARI} == {
        ("AAA", TX), ("NOID", ACT), ("NOID", TX), ("ZZZ", ACT), ("ZZZ", TX)
    }  # fmt: skip
    filled = {("ZZZ", TX): set(span_days(day(0), day(30))), ("NOID", ACT): {day(0), day(29)}}
    got = plan(assets, entries, filled, messari=True)
    requests = {(r.symbol, r.asset_key, r.metric, r.start, r.end) for r in got.messari}
    assert requests == {
        ("AAA", "aaa", TX, day(0), day(30)), ("NOID", "no-id-coin", ACT, day(1), day(29)),
        ("NOID", "no-id-coin", TX, day(0), day(30)), ("ZZZ", "zzz", ACT, day(0), day(30)),
    }  # fmt: skip
    assert [a.symbol for r in got.coinmetrics for a in r.assets] == ["AAA"]
    assert plan(assets, entries, filled, messari=False).messari == []


def test_day_ranges_merge_days_closer_than_the_gap() -> None:
    assert day_ranges([], 3) == []
    days = [day(9), day(0), day(1), day(3), day(3), day(20)]
    # 1 → 3 leaves a one-day hole (< 3): joined; 3 → 9 leaves five: apart.
    assert day_ranges(days, 3) == [(day(0), day(4)), (day(9), day(10)), (day(20), day(21))]
    assert day_ranges([day(0), day(3)], 3) == [(day(0), day(4))]  # a hole of two days
    assert day_ranges([day(0), day(4)], 3) == [(day(0), day(1)), (day(4), day(5))]
    assert day_ranges(days, 60) == [(day(0), day(21))]


def test_sliding_window_sends_a_burst_then_waits_for_the_oldest() -> None:
    clock = Clock(1000.0)
    sleeper = Sleeper(clock)
    window = SlidingWindow(3, 6.0, margin=0.05, clock=clock, sleep=sleeper)
    times = []
    for _ in range(7):
        window.acquire()
        times.append(clock.now)
    span = 6.0 * 1.05
    assert times[:3] == [1000.0] * 3 and sleeper.calls[0] == pytest.approx(span)
    assert times[3:6] == pytest.approx([1000 + span] * 3)
    assert times[6] == pytest.approx(1000 + 2 * span)
    clock.now += 100  # idle: a fresh burst goes out at once
    before = len(sleeper.calls)
    for _ in range(3):
        window.acquire()
    assert len(sleeper.calls) == before
    # Arrivals at random: never more than the limit in any (widened) window.
    rng = random.Random(3)
    window = SlidingWindow(10, 6.0, margin=0.05, clock=clock, sleep=sleeper)
    grants = []
    for _ in range(200):
        clock.now += rng.choice([0.0, 0.0, 0.1, 0.5, 2.0, 7.0])
        window.acquire()
        grants.append(clock.now)
    assert_at_most(grants, 10, 6.0 * 1.05)


class ThreadClock:
    """A fake clock for threads: a sleep moves it to the sleeper's wake-up time, never back."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()

    def __call__(self) -> float:
        with self._lock:
            self._local.read = self.now
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._local.read += seconds
            self.now = max(self.now, self._local.read)

    def granted(self) -> float:
        return float(self._local.read)


def assert_at_most(grants: list[float], limit: int, span: float) -> None:
    times = sorted(grants)
    closest = min(b - a for a, b in zip(times, times[limit:], strict=False))
    assert closest >= span - 1e-9


def test_sliding_window_is_thread_safe() -> None:
    clock = ThreadClock()
    window = SlidingWindow(5, 1.0, margin=0.1, clock=clock, sleep=clock.sleep)
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            window.acquire()
            with lock:
                grants.append(clock.granted())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: a race shows up
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(grants) == 200
    assert_at_most(grants, 5, 1.1)
    per_burst = pd.Series(np.round(np.array(grants) / 1.1)).value_counts()
    assert len(per_burst) == 40 and set(per_burst) == {5}
    assert max(grants) == pytest.approx(39 * 1.1)
