"""WeightBudget shared by 8 threads of one BinanceClient against the fake Binance, on a
clock running faster than real time: no 429, the minutes filled, and a control showing that
a budget above the server's limit does run into 429s under the same conditions."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from coinfill.sources.binance import RETRY_STATUSES, BinanceClient
from coinfill.sources.binance_weight import WeightBudget
from coinfill.sources.http import RetryPolicy
from tests.fakes.binance_server import FakeBinance, PairSpec

HOUR = 3_600_000
T0 = 29_000_000 * 60.0 + 10.0  # 10 s into a clock minute (2025-02-20)
BTC = PairSpec("BTCUSDT", int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000))
START = int(datetime(2024, 6, 1, tzinfo=UTC).timestamp() * 1000)


class StopWaitingError(Exception):
    """Raised by the control run's sleep: a thread that would wait ends there."""


def threaded_run(
    budget_limit: int, *, speed: float = 300.0, each: int = 10, control: bool = False
) -> tuple[FakeBinance, WeightBudget, list[BaseException]]:
    """8 threads × ``each`` weight-2 requests through one client against a fake allowing 20
    a minute, on a clock ``speed`` times real time (300: a fake minute is 0.2 s, several
    times fewer requests than the threads could send, so the budget is what holds the rate).
    ``control``: one attempt per request, and a thread stops where it would sleep."""
    offset = T0 - time.monotonic() * speed

    def clock() -> float:
        return offset + time.monotonic() * speed

    def sleep(seconds: float) -> None:
        if control:
            raise StopWaitingError
        time.sleep(seconds / speed)

    fake = FakeBinance([BTC], clock=clock, weight_limit=20)
    budget = WeightBudget(budget_limit, clock=clock, sleep=sleep)
    retry = RetryPolicy(attempts=1 if control else 6, retry_statuses=RETRY_STATUSES)
    errors: list[BaseException] = []
    client = BinanceClient(budget=budget, transport=fake.transport(), sleep=sleep, retry=retry)

    def worker(index: int) -> None:
        try:
            for n in range(each):
                client.page("BTCUSDT", "1h", START + (index * each + n) * HOUR, None, limit=1)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    with client:
        pool = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(timeout=30)
    return fake, budget, errors


def test_threads_sharing_one_budget_cause_no_429() -> None:
    fake, budget, errors = threaded_run(20)
    assert errors == []
    assert fake.count_429 == 0 and fake.count_418 == 0
    assert len(fake.requests) == 80 and all(r.status == 200 for r in fake.requests)
    assert fake.max_window_weight == 20  # minutes were filled: the budget held the rate
    assert budget.waited > 0


def test_threads_with_a_budget_above_the_servers_limit_get_429s() -> None:
    """The control of the test above (a fake minute is 2 s here, so even a loaded machine
    sends 11 requests in it): the fake and the threads do catch a loose budget."""
    fake, _, errors = threaded_run(400, speed=30.0, each=4, control=True)
    assert fake.count_429 >= 1
    assert errors
