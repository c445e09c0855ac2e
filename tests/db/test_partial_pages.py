"""Never drop what was received (DESIGN §10): when a later page of a symbol or series fails
for good, the pages before it are written, and the item's report says ``partial: n of m``.

The providers' fakes answer in their real formats; ``Cutting`` cuts the chosen answers in
half, as a dropped download leaves them (a 200 whose body does not parse).
"""

from __future__ import annotations

from datetime import date, datetime

import httpx
import pandas as pd
from sqlalchemy import Engine, text

from coinfill.macro.catalog import catalog
from coinfill.macro.collect import collect_series
from coinfill.macro.plan import plan_all
from coinfill.prices.collect import Clients, collect_chunk
from coinfill.prices.plan import SymbolPlan
from coinfill.sources.binance import BinanceClient
from coinfill.sources.binance_weight import WeightBudget
from coinfill.sources.faults import Fault
from coinfill.sources.fred import FredClient
from coinfill.sources.http import RetryPolicy
from coinfill.sources.ratelimit import TokenBucket
from tests.fakes.binance_server import FakeBinance, PairSpec
from tests.fakes.fake_http import Cutting
from tests.fakes.fred_server import FakeFred, SeriesSpec

HOUR = 3_600_000
FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
NOW = datetime(2024, 6, 1)
NOW_MS = int(pd.Timestamp(NOW).value // 1_000_000)


def _no_sleep(seconds: float) -> None:
    return None


def test_given_a_later_kline_page_cut_off_for_good_then_the_earlier_pages_are_written(
    engine: Engine,
) -> None:
    start = NOW_MS - 2500 * HOUR  # three pages of 1,000 bars
    fake = FakeBinance(
        [PairSpec("SOLUSDT", listed_ms=start - 100 * HOUR)], clock=lambda: NOW_MS / 1000
    )
    second_page_on = Cutting(
        fake.transport(), when=lambda r: int(r.url.params["startTime"]) > start, times=None
    )
    binance = BinanceClient(
        "http://binance.test", WeightBudget(sleep=_no_sleep), transport=second_page_on,
        retry=FAST, sleep=_no_sleep,
    )  # fmt: skip
    plan = SymbolPlan(
        "SOL", "binance", "SOLUSDT", (start + HOUR, NOW_MS + HOUR), expected=2500,
        ranges=((start + HOUR, NOW_MS + HOUR),), fetch_ranges=((start, NOW_MS),), requests=3,
    )  # fmt: skip

    (result,) = collect_chunk(
        [plan], Clients(binance), engine, "1h", HOUR, NOW, workers=1, batch_rows=10_000
    )

    assert result.error is not None and result.error.startswith("partial: 1 of 3 pages, then")
    assert result.fault is Fault.TRANSIENT
    assert second_page_on.cut == FAST.attempts  # the cut page was asked again, then given up
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT COUNT(*), MAX(timestamp) FROM price_data_real WHERE symbol = 'SOL'")
        ).one()
    assert stored[0] == result.inserted == 1000  # the whole first page, nothing invented
    assert stored[1] == start + 1000 * HOUR  # its last bar's close


def test_given_a_later_fred_page_cut_off_for_good_then_the_earlier_pages_are_written(
    engine: Engine,
) -> None:
    first = date(2024, 1, 1)
    series = catalog(None)["VIX"]
    with FakeFred(
        [SeriesSpec("VIXCLS", "d", date(2023, 1, 2), base=15.0)], today=date(2024, 6, 1)
    ) as fake:
        later_pages = Cutting(
            httpx.HTTPTransport(), when=lambda r: r.url.params.get("offset") != "0", times=None
        )
        client = FredClient(
            "test-key", fake.url, TokenBucket(1000), retry=FAST, sleep=_no_sleep,
            transport=later_pages, page_limit=40,
        )  # fmt: skip
        (plan,) = plan_all(
            [series], {}, first, date(2024, 6, 1), date(2024, 6, 1),
            revision_days=30, requests_per_second=1000,
        ).series  # fmt: skip
        with client:
            result = collect_series(client, engine, plan, NOW)

    assert result.error is not None and result.error.startswith("partial: 1 of ")
    assert result.fault is Fault.TRANSIENT
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT COUNT(*) FROM macro_indicators WHERE indicator_name = 'VIX'")
        ).scalar_one()
    # The first page's 40 observations, less its last day (it may be cut between vintages).
    assert 0 < stored == result.inserted <= 39
