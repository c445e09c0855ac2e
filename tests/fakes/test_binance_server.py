"""Quick checks that the fake Binance answers like Binance does."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.fakes.binance_server import (
    KLINES_PATH,
    REGION_BLOCKED,
    TIMEOUT,
    WEIGHT_HEADER,
    FakeBinance,
    PairSpec,
    serve_in_subprocess,
)
from tests.fakes.fake_http import fetch_stats, queue_remote

HOUR = 3_600_000
DAY = 24 * HOUR


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2025-01-01T12:34:56") / 1000  # seconds, 56 s into a minute
BTC = PairSpec("BTCUSDT", ms("2024-01-01"), base_price=42000.0)
ETH = PairSpec("ETHUSDT", ms("2024-03-05T13:27:00"), base_price=3000.0)
DEAD = PairSpec("LUNAUSDT", ms("2024-01-01"), delisted_ms=ms("2024-02-01T05:00"), base_price=0.5)
GAPPY = PairSpec(
    "GAPUSDT", ms("2024-01-01"), gaps=[(ms("2024-01-02T03:00"), ms("2024-01-02T06:30"))]
)
LATER = PairSpec("NEWUSDT", ms("2026-01-01"))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def fake(clock: Clock) -> FakeBinance:
    return FakeBinance([BTC, ETH, DEAD, GAPPY, LATER], clock=clock)


@pytest.fixture
def client(fake: FakeBinance) -> Iterator[httpx.Client]:
    with httpx.Client(transport=fake.transport(), base_url="https://binance.test") as http:
        yield http


def klines(client: httpx.Client, **params: Any) -> httpx.Response:
    return client.get(KLINES_PATH, params={"symbol": "BTCUSDT", "interval": "1h", **params})


def test_page_from_start_time_is_aligned_contiguous_and_consistent(
    client: httpx.Client, fake: FakeBinance
) -> None:
    response = klines(client, startTime=BTC.listed_ms - 1, limit=1000)
    assert response.status_code == 200
    assert response.headers[WEIGHT_HEADER] == "2"
    bars = response.json()
    assert len(bars) == 1000
    assert bars == fake.expected_bars("BTCUSDT", "1h", BTC.listed_ms, limit=1000)
    assert bars[0][0] == BTC.listed_ms  # startTime is inclusive, on the open time
    for prev, bar in itertools.pairwise(bars):
        assert bar[0] == prev[0] + HOUR and bar[6] == bar[0] + HOUR - 1
        assert bar[1] == prev[4]  # a bar opens where the last one closed
    for bar in bars:
        assert len(bar) == 12 and bar[11] == "0" and isinstance(bar[8], int) and bar[8] > 0
        o, h, low, c, v, q = (float(bar[i]) for i in (1, 2, 3, 4, 5, 7))
        assert h >= max(o, c) and 0 < low <= min(o, c) and v > 0
        assert q == pytest.approx(v * c, rel=1e-6)
        assert all(len(bar[i].split(".")[1]) == 8 for i in (1, 2, 3, 4, 5, 7, 9, 10))
    assert klines(client, limit=2).json()[0] in (fake.expected_bars("BTCUSDT", "1h"))


def test_same_bar_same_values_whatever_the_range(client: httpx.Client) -> None:
    start = ms("2024-06-01")
    wide = klines(client, startTime=start, endTime=start + 99 * HOUR).json()
    narrow = klines(client, startTime=start + 40 * HOUR, endTime=start + 41 * HOUR).json()
    assert len(wide) == 100 and wide[40:42] == narrow


def test_paging_with_end_time_or_neither(client: httpx.Client) -> None:
    end = ms("2024-06-01T10:30")
    bars = klines(client, endTime=end, limit=3).json()
    assert [b[0] for b in bars] == [end - 30 * 60_000 - k * HOUR for k in (2, 1, 0)]
    assert len(klines(client).json()) == 500  # default limit
    latest = klines(client, limit=2).json()
    assert latest[-1][0] <= NOW * 1000 < latest[-1][6]  # the open bar is included
    assert klines(client, startTime=int(NOW * 1000) + HOUR).json() == []
    listed = client.get(KLINES_PATH, params={"symbol": "ETHUSDT", "interval": "1h", "startTime": 0})
    assert listed.json()[0][0] == ms("2024-03-05T14:00")  # listing aligned up to the interval


@pytest.mark.parametrize(
    ("interval", "first_open"),
    [
        ("1d", "2024-01-01"),
        ("3d", "2024-01-03"),  # multiples of 3 days since the epoch
        ("1w", "2024-01-01"),  # a Monday
        ("1M", "2024-01-01"),
        ("15m", "2024-01-01"),
    ],
)
def test_long_intervals_align_to_utc_boundaries(
    client: httpx.Client, interval: str, first_open: str
) -> None:
    response = klines(client, interval=interval, startTime=BTC.listed_ms, limit=3)
    bars = response.json()
    assert bars[0][0] == ms(first_open)
    if interval == "1M":
        assert [b[0] for b in bars] == [ms("2024-01-01"), ms("2024-02-01"), ms("2024-03-01")]
        assert bars[0][6] == ms("2024-02-01") - 1


def test_delisted_pairs_and_gaps(client: httpx.Client, fake: FakeBinance) -> None:
    dead = client.get(KLINES_PATH, params={"symbol": "LUNAUSDT", "interval": "1d", "limit": 1000})
    days = dead.json()
    assert days[0][0] == ms("2024-01-01") and days[-1][0] == ms(
        "2024-02-01"
    )  # bar open < delisting
    params: dict[str, str | int] = {"symbol": "GAPUSDT", "interval": "1h", "limit": 10}
    params["startTime"] = ms("2024-01-02")
    opens = [b[0] for b in client.get(KLINES_PATH, params=params).json()]
    gone = [ms("2024-01-02T03:00") + k * HOUR for k in range(4)]  # 03:00..06:00 opens
    assert len(opens) == 10 and not set(gone) & set(opens)
    assert opens[3] == ms("2024-01-02T07:00")
    info = client.get("/api/v3/exchangeInfo").json()
    assert {s["symbol"]: s["status"] for s in info["symbols"]} == {
        "BTCUSDT": "TRADING",
        "ETHUSDT": "TRADING",
        "LUNAUSDT": "BREAK",
        "GAPUSDT": "TRADING",
    }  # NEWUSDT is not listed yet


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"interval": "2d"}, -1120),
        ({"symbol": "NOPEUSDT"}, -1121),
        ({"symbol": "NEWUSDT"}, -1121),
        ({"symbol": ""}, -1102),
        ({"limit": 1001}, -1130),
        ({"limit": 0}, -1130),
        ({"startTime": 10, "endTime": 5}, -1023),
        ({"startTime": "yesterday"}, -1100),
        ({"symbol": "btcusdt"}, -1100),
    ],
)
def test_errors(client: httpx.Client, params: dict[str, Any], code: int) -> None:
    response = klines(client, **params)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.headers[WEIGHT_HEADER] == "2"  # errors spend weight too


def test_invalid_interval_and_symbol_bodies(client: httpx.Client) -> None:
    assert klines(client, interval="1y").json() == {"code": -1120, "msg": "Invalid interval."}
    assert klines(client, symbol="XUSDT").json() == {"code": -1121, "msg": "Invalid symbol."}


def test_weight_window_429_then_418_ban(clock: Clock) -> None:
    fake = FakeBinance([BTC], clock=clock, weight_limit=10, ban_seconds=120)
    with httpx.Client(transport=fake.transport(), base_url="https://binance.test") as client:
        used = [klines(client, limit=1).headers[WEIGHT_HEADER] for _ in range(5)]
        assert used == ["2", "4", "6", "8", "10"]
        refused = klines(client, limit=1)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "4"  # NOW is 56 s into its minute
        assert refused.json() == {
            "code": -1003,
            "msg": "Too much request weight used; current limit is 10 request weight per 1 "
            "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
        }
        clock.now += 1  # before Retry-After: banned
        banned = klines(client, limit=1)
        assert banned.status_code == 418 and banned.headers["Retry-After"] == "120"
        until = int((clock.now + 120) * 1000)
        assert banned.json()["msg"].startswith(
            f"Way too much request weight used; IP banned until {until}."
        )
        clock.now += 60  # a new window, still banned
        assert klines(client, limit=1).status_code == 418
        clock.now += 61
        ok = klines(client, limit=1)
        assert ok.status_code == 200 and ok.headers[WEIGHT_HEADER] == "2"
    assert (fake.count_429, fake.count_418, fake.max_window_weight) == (1, 2, 10)
    assert fake.stats()["statuses"] == {"200": 6, "429": 1, "418": 2}


def test_waiting_for_retry_after_is_not_banned(clock: Clock) -> None:
    fake = FakeBinance([BTC], clock=clock, weight_limit=20, exchange_info_weight=20)
    with httpx.Client(transport=fake.transport(), base_url="https://binance.test") as client:
        assert client.get("/api/v3/exchangeInfo").headers[WEIGHT_HEADER] == "20"
        refused = klines(client)
        assert refused.status_code == 429 and refused.headers[WEIGHT_HEADER] == "20"
        clock.now += int(refused.headers["Retry-After"])
        assert klines(client).status_code == 200
    assert fake.count_418 == 0 and fake.max_window_weight == 20
    assert list(fake.window_weights.values()) == [20, 2]


def test_region_blocked_answers_451(fake: FakeBinance, client: httpx.Client) -> None:
    fake.region_blocked = True
    response = klines(client)
    assert response.status_code == 451 and response.json() == REGION_BLOCKED
    assert response.json()["code"] == 0 and "restricted location" in response.json()["msg"]


def test_exchange_info_format_and_filters(client: httpx.Client) -> None:
    info = client.get("/api/v3/exchangeInfo", params={"symbol": "ETHUSDT"})
    assert info.headers[WEIGHT_HEADER] == "20"
    body = info.json()
    assert body["timezone"] == "UTC" and body["serverTime"] == int(NOW * 1000)
    assert body["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }
    (eth,) = body["symbols"]
    assert (eth["symbol"], eth["baseAsset"], eth["quoteAsset"]) == ("ETHUSDT", "ETH", "USDT")
    some = client.get("/api/v3/exchangeInfo", params={"symbols": '["BTCUSDT","LUNAUSDT"]'})
    assert [s["symbol"] for s in some.json()["symbols"]] == ["BTCUSDT", "LUNAUSDT"]
    unknown = client.get("/api/v3/exchangeInfo", params={"symbols": '["BTCUSDT","X"]'})
    assert unknown.status_code == 400 and unknown.json()["code"] == -1121


def test_queue_and_timeout_through_the_transport(fake: FakeBinance, client: httpx.Client) -> None:
    fake.queue((TIMEOUT, {}, ""), (503, {"Retry-After": "1"}, "busy"))
    with pytest.raises(httpx.ReadTimeout):
        klines(client)
    assert klines(client).status_code == 503
    assert klines(client).status_code == 200
    assert [r.status for r in fake.requests] == [TIMEOUT, 503, 200]


def test_socket_server_round_trip_and_timeout(clock: Clock) -> None:
    with FakeBinance([BTC], clock=clock, timeout_sleep=1.0) as fake:
        response = httpx.get(
            f"{fake.url}{KLINES_PATH}", params={"symbol": "BTCUSDT", "interval": "1d"}, timeout=5
        )
        assert response.json() == fake.expected_bars("BTCUSDT", "1d", limit=500)
        assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
        fake.queue((TIMEOUT, {}, ""))
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{fake.url}/api/v3/ping", timeout=0.2)
        assert fetch_stats(fake.url)["max_window_weight"] == 2


def test_subprocess_server_reports_its_counters() -> None:
    clock = functools.partial(float, NOW)  # picklable: the child's clock stands still
    with serve_in_subprocess([BTC], clock=clock, weight_limit=4) as url:
        queue_remote(url, (500, {}, '{"code":-1000,"msg":"An unknown error occurred."}'))
        statuses = []
        for _ in range(4):
            params: dict[str, str | int] = {"symbol": "BTCUSDT", "interval": "1h", "limit": 1000}
            statuses.append(httpx.get(f"{url}{KLINES_PATH}", params=params, timeout=5).status_code)
        stats = fetch_stats(url)
    assert statuses == [500, 200, 200, 429]
    assert stats["requests"] == 4 and stats["count_429"] == 1 and stats["max_window_weight"] == 4
    assert json.loads(json.dumps(stats["window_weights"])) == {str(int(NOW // 60 * 60)): 4}
