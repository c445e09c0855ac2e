"""parse_klines and BinanceClient on bodies with bad rows: rows that are too short, not
numbers, negative or inconsistent are counted in ``malformed`` and dropped; good rows stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from coinfill.sources.binance import BinanceClient, parse_klines
from coinfill.sources.binance_weight import WeightBudget

HOUR = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def client_answering(rows: list[Any]) -> BinanceClient:
    """A client whose every klines request is answered 200 with ``rows``; nothing waits."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=rows)

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"nothing should wait, asked {seconds} s")

    budget = WeightBudget(clock=lambda: 1_800_000_000.0, sleep=no_sleep)
    return BinanceClient(budget=budget, transport=httpx.MockTransport(answer), sleep=no_sleep)


def good_row(
    open_ms: int, high: str = "101.5", low: str = "99.5", close: str = "100.0"
) -> list[Any]:
    return [open_ms, "100.0", high, low, close, "12.0", open_ms + HOUR - 1, "1200.0", 7, "6", "600"]


def test_malformed_rows_are_counted_and_dropped() -> None:
    t0 = ms("2024-02-01")
    rows = [
        good_row(t0),
        good_row(t0 + HOUR)[:5],  # too short
        good_row(t0 + 2 * HOUR, close="abc"),  # non-numeric price
        good_row(t0 + 3 * HOUR, low="-1.0"),  # negative price
        good_row(t0 + 4 * HOUR, high="NaN"),
        "not a row",
        good_row(t0 + 5 * HOUR, high="98.0"),  # high under low
        good_row(t0 + 6 * HOUR),
    ]
    with client_answering(rows) as client:
        (page,) = client.klines("BTCUSDT", "1h", t0, t0 + 8 * HOUR)
    assert page.received == 8
    assert page.malformed == 6
    assert page.bars["open_time"].tolist() == [t0, t0 + 6 * HOUR]
    assert page.bars["close"].tolist() == [100.0, 100.0]
    assert page.bars["quote_volume"].tolist() == [1200.0, 1200.0]


def test_parse_klines_reads_binance_text_exactly() -> None:
    row = [1, "1.00000000", "2.12345678", "0.50000001", "1.5", "3", 3599999, "4.25", 9, "1", "2"]
    page = parse_klines(json.dumps([row]).encode(), "GET test")
    assert page.malformed == 0 and page.received == 1
    assert page.bars.iloc[0].tolist() == [1, 2.12345678, 0.50000001, 1.5, 4.25]


def test_negative_quote_volume_is_malformed() -> None:
    t0 = ms("2024-02-01")
    bad = good_row(t0)
    bad[7] = "-1200.0"
    page = parse_klines(json.dumps([bad, good_row(t0 + HOUR)]).encode(), "GET test")
    assert page.malformed == 1
    assert page.bars["open_time"].tolist() == [t0 + HOUR]
