"""WeightBudget: Binance's request weight per fixed clock minute, raised from
``X-MBX-USED-WEIGHT-1M``, every request held after a 429/418 until its Retry-After. Checked
alone with a fake clock, through BinanceClient against the fake server sharing that clock,
(threads: test_binance_weight_threads.py)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from coinfill.sources.binance import BinanceClient
from coinfill.sources.binance_weight import USED_WEIGHT_HEADER, WeightBudget
from tests.fakes.binance_server import KLINES_PATH, FakeBinance, PairSpec
from tests.fakes.clock import Clock, Sleeper

HOUR = 3_600_000
MINUTE = 60.0
T0 = 29_000_000 * MINUTE + 10.0  # 10 s into a clock minute (2025-02-20)
BTC = PairSpec("BTCUSDT", int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000))
START = int(datetime(2024, 6, 1, tzinfo=UTC).timestamp() * 1000)


class RecordingLimiter:
    def __init__(self) -> None:
        self.costs: list[float] = []

    def acquire(self, cost: float = 1.0) -> None:
        self.costs.append(cost)

    def describe(self) -> str:
        return "shared test limit"


def budget_with(
    limit: int = 100, *, base: RecordingLimiter | None = None
) -> tuple[WeightBudget, Clock, Sleeper]:
    clock = Clock(T0)
    sleep = Sleeper(clock)
    return WeightBudget(limit, base=base, clock=clock, sleep=sleep), clock, sleep


def answer(status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def next_minute(now: float, margin: float = 0.25) -> float:
    return (now // MINUTE + 1) * MINUTE + margin


# -- the budget alone --------------------------------------------------------------------------


def test_a_full_minute_waits_for_the_next_one_and_only_then() -> None:
    budget, clock, sleep = budget_with(100)
    for _ in range(50):
        budget.acquire(2)
    assert sleep.calls == []  # the whole minute's budget may be spent at once
    assert budget.peak == 100
    budget.acquire(2)
    assert sleep.calls == [pytest.approx(next_minute(T0) - T0)]
    assert clock.now == pytest.approx(next_minute(T0))
    for _ in range(49):
        budget.acquire(2)
    assert len(sleep.calls) == 1  # the new minute holds 50 again
    assert budget.waited == pytest.approx(sleep.calls[0])


def test_weight_left_over_does_not_carry_into_the_next_minute() -> None:
    budget, clock, sleep = budget_with(100)
    for _ in range(40):
        budget.acquire(2)
    clock.now = next_minute(T0) + 1
    for _ in range(50):
        budget.acquire(2)
    assert sleep.calls == []
    budget.acquire(2)
    assert len(sleep.calls) == 1


def test_a_reported_weight_above_the_local_count_makes_it_wait() -> None:
    budget, _, sleep = budget_with(100)
    budget.acquire(2)
    budget.observe(answer(**{USED_WEIGHT_HEADER: "96"}))  # other clients on this IP spent 94
    budget.acquire(2)
    budget.acquire(2)
    assert sleep.calls == []  # 96 + 2 + 2 = 100 fits
    budget.acquire(2)
    assert sleep.calls == [pytest.approx(next_minute(T0) - T0)]


@pytest.mark.parametrize("header", ["1", "garbled"])
def test_a_lower_or_garbled_report_does_not_lower_the_count(header: str) -> None:
    budget, _, sleep = budget_with(100)
    for _ in range(50):
        budget.acquire(2)
    budget.observe(answer(**{USED_WEIGHT_HEADER: header}))
    budget.acquire(2)
    assert len(sleep.calls) == 1


def test_a_report_from_an_older_minute_is_ignored() -> None:
    budget, clock, sleep = budget_with(100)
    budget.acquire(2)
    clock.now = next_minute(T0) + 5
    budget.acquire(2)  # a new minute
    clock.now -= 10  # a late answer of the last minute (our clock: still the old one)
    budget.observe(answer(**{USED_WEIGHT_HEADER: "100"}))
    clock.now += 10
    for _ in range(49):
        budget.acquire(2)
    assert sleep.calls == []


@pytest.mark.parametrize("status", [429, 418])
def test_429_or_418_blocks_until_retry_after(status: int) -> None:
    budget, clock, sleep = budget_with(100)
    budget.acquire(2)
    budget.observe(answer(status, **{"Retry-After": "30"}))
    budget.acquire(1)  # plenty of weight left, but the server said wait
    assert sleep.calls == [pytest.approx(30.0)]
    assert clock.now == pytest.approx(T0 + 30)


def test_without_retry_after_the_block_lasts_until_the_next_minute() -> None:
    budget, clock, _ = budget_with(100)
    budget.acquire(2)
    budget.observe(answer(429))
    budget.acquire(1)
    assert clock.now == pytest.approx(next_minute(T0))


def test_a_shorter_later_retry_after_does_not_shorten_the_block() -> None:
    budget, clock, _ = budget_with(100)
    budget.acquire(2)
    budget.observe(answer(418, **{"Retry-After": "120"}))
    budget.observe(answer(429, **{"Retry-After": "5"}))
    budget.acquire(1)
    assert clock.now == pytest.approx(T0 + 120)


def test_a_block_holds_every_caller() -> None:
    """Threads on a clock 1,000x real time: none gets through before the Retry-After."""
    offset, speed = T0 - time.monotonic() * 1000, 1000.0

    def clock() -> float:
        return offset + time.monotonic() * speed

    budget = WeightBudget(100, clock=clock, sleep=lambda s: time.sleep(s / speed))
    budget.acquire(2)
    blocked_from = clock()
    budget.observe(answer(429, **{"Retry-After": "40"}))  # 40 ms of real time
    released: list[float] = []

    def caller() -> None:
        budget.acquire(2)
        released.append(clock())

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(released) == 6
    assert min(released) >= blocked_from + 40


def test_a_request_heavier_than_the_limit_is_a_value_error() -> None:
    budget, _, sleep = budget_with(100)
    with pytest.raises(ValueError, match="weight 101 exceeds the budget of 100"):
        budget.acquire(101)
    budget.acquire(100)  # exactly the limit is allowed
    assert sleep.calls == []


def test_the_base_limiter_is_acquired_with_the_weight() -> None:
    base = RecordingLimiter()
    budget, clock, sleep = budget_with(100, base=base)
    budget.acquire(2)
    budget.acquire(20)
    assert base.costs == [2, 20]
    assert "shared test limit" in budget.describe()
    fake = FakeBinance([BTC], clock=clock)
    with BinanceClient(budget=budget, transport=fake.transport(), sleep=sleep) as client:
        client.page("BTCUSDT", "1h", START, START + HOUR)
        client.exchange_info()
    assert base.costs == [2, 20, 2, 20]


# -- through BinanceClient against the fake server, one clock --------------------------------


def ticking(fake: FakeBinance, clock: Clock, seconds: float) -> httpx.MockTransport:
    """The fake's transport where every request takes ``seconds`` of fake time to arrive."""
    inner = fake.transport()

    def handle(request: httpx.Request) -> httpx.Response:
        clock.now += seconds
        return inner.handle_request(request)

    return httpx.MockTransport(handle)


def run_requests(limit: int, fake_limit: int, count: int, tick: float = 0.35) -> FakeBinance:
    clock = Clock(T0)
    sleep = Sleeper(clock)
    fake = FakeBinance([BTC], clock=clock, weight_limit=fake_limit)
    budget = WeightBudget(limit, clock=clock, sleep=sleep)
    with BinanceClient(budget=budget, transport=ticking(fake, clock, tick), sleep=sleep) as client:
        for n in range(count):
            client.page("BTCUSDT", "1h", START + n * HOUR, None, limit=1)
    return fake


def test_requests_never_put_more_than_the_limit_into_a_minute() -> None:
    fake = run_requests(limit=100, fake_limit=100, count=300)
    assert fake.count_429 == 0 and fake.count_418 == 0
    assert fake.max_window_weight == 100  # the limit, used in full
    assert sum(fake.window_weights.values()) == 600
    assert len(fake.window_weights) == 6  # 50 requests a minute
    assert all(r.status == 200 for r in fake.requests)


def test_a_budget_above_the_servers_limit_runs_into_429s() -> None:
    """The control of the test above: the fake and this clock do catch an overrun."""
    fake = run_requests(limit=1000, fake_limit=100, count=60)
    assert fake.count_429 >= 1


def test_weight_spent_by_another_client_is_learnt_from_the_header() -> None:
    clock = Clock(T0)
    sleep = Sleeper(clock)
    fake = FakeBinance([BTC], clock=clock, weight_limit=100)
    for _ in range(35):  # another process on the same IP spends 70 this minute
        fake.handle(KLINES_PATH, {"symbol": "BTCUSDT", "interval": "1h", "limit": "1"})
    budget = WeightBudget(100, clock=clock, sleep=sleep)
    with BinanceClient(budget=budget, transport=fake.transport(), sleep=sleep) as client:
        for n in range(30):
            client.page("BTCUSDT", "1h", START + n * HOUR, None, limit=1)
    assert fake.count_429 == 0
    assert sleep.calls == [pytest.approx(next_minute(T0) - T0)]  # after 15 of ours
    assert fake.window_weights == {int(T0 // MINUTE * MINUTE): 100, int(next_minute(T0)): 30}
