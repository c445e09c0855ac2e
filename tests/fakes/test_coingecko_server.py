"""Quick checks that the fake CoinGecko answers like CoinGecko does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.fakes.coingecko_server import TIMEOUT, CoinSpec, FakeCoinGecko

MINUTE, HOUR = 60_000, 3_600_000
DAY = 24 * HOUR


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW_MS = ms("2025-01-01T12:34:56")
BITCOIN = CoinSpec("bitcoin", base_price=42000.0, supply=19_500_000)
FRESH_LISTED = ms("2024-12-20T08:00")
FRESH = CoinSpec("fresh-coin", listed_ms=FRESH_LISTED, base_price=0.2)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW_MS / 1000)


@pytest.fixture
def fake(clock: Clock) -> FakeCoinGecko:
    return FakeCoinGecko([BITCOIN, FRESH], clock=clock, requests_per_minute=1000)


@pytest.fixture
def client(fake: FakeCoinGecko) -> Iterator[httpx.Client]:
    with httpx.Client(transport=fake.transport(), base_url="https://cg.test") as http:
        yield http


def chart_range(
    client: httpx.Client, start_ms: int, end_ms: int, coin: str = "bitcoin"
) -> httpx.Response:
    params: dict[str, Any] = {"vs_currency": "usd", "from": start_ms // 1000, "to": end_ms // 1000}
    return client.get(f"/api/v3/coins/{coin}/market_chart/range", params=params)


def stamps(body: dict[str, Any]) -> list[int]:
    return [int(point[0]) for point in body["prices"]]


def test_hourly_points_have_jitter_after_the_hour(
    client: httpx.Client, fake: FakeCoinGecko
) -> None:
    start = ms("2024-10-01")
    body = chart_range(client, start, start + 30 * DAY).json()
    times = stamps(body)
    assert len(times) == 30 * 24
    assert all(1000 <= t % HOUR < 5 * MINUTE for t in times)
    assert {t // HOUR for t in times} == {start // HOUR + k for k in range(720)}
    assert (
        stamps({"prices": body["market_caps"]})
        == times
        == stamps({"prices": body["total_volumes"]})
    )
    assert body["prices"][5][1] == fake.price_at("bitcoin", times[5])
    assert all(p[1] > 0 for key in ("prices", "market_caps", "total_volumes") for p in body[key])
    again = chart_range(client, start + 5 * DAY, start + 6 * DAY).json()
    assert again["prices"] == body["prices"][5 * 24 : 6 * 24]  # same point, same value


def test_daily_points_beyond_90_days_and_now_last(client: httpx.Client) -> None:
    body = chart_range(client, NOW_MS - 200 * DAY, NOW_MS + HOUR).json()
    times = stamps(body)
    assert all(t % DAY == 0 for t in times[:-1]) and times[-1] == NOW_MS
    assert len(times) == 201


def test_five_minutely_only_within_the_last_day(client: httpx.Client) -> None:
    recent = stamps(chart_range(client, NOW_MS - 12 * HOUR, NOW_MS).json())
    assert len(recent) == 12 * 12 + 1 and recent[-1] == NOW_MS
    assert all(0 < t % (5 * MINUTE) < MINUTE for t in recent[:-1])
    older = stamps(chart_range(client, NOW_MS - 10 * DAY, NOW_MS - 10 * DAY + 12 * HOUR).json())
    assert len(older) == 12  # a day long but not from the current time: hourly


@pytest.mark.parametrize(("days", "count"), [("1", 289), ("30", 721), ("365", 366)])
def test_market_chart_days(client: httpx.Client, days: str, count: int) -> None:
    params = {"vs_currency": "usd", "days": days}
    times = stamps(client.get("/api/v3/coins/bitcoin/market_chart", params=params).json())
    assert len(times) == count and times[-1] == NOW_MS


@pytest.mark.parametrize("days", ["366", "max"])
def test_market_chart_beyond_a_year_is_refused(client: httpx.Client, days: str) -> None:
    params = {"vs_currency": "usd", "days": days}
    response = client.get("/api/v3/coins/bitcoin/market_chart", params=params)
    assert response.status_code == 401 and response.json()["error"]["status"]["error_code"] == 10012


def test_free_tier_365_day_limit(client: httpx.Client) -> None:
    assert chart_range(client, NOW_MS - 365 * DAY, NOW_MS - 300 * DAY).status_code == 200
    response = chart_range(client, NOW_MS - 366 * DAY, NOW_MS - 300 * DAY)
    assert response.status_code == 401
    status = response.json()["error"]["status"]
    assert status["timestamp"] == "2025-01-01T12:34:56.000+00:00"
    assert status["error_code"] == 10012
    assert status["error_message"].startswith("Your request exceeds the allowed time range.")
    assert status["error_message"].endswith("https://www.coingecko.com/en/api/pricing. ")


def test_unknown_coin_listing_and_parameters(client: httpx.Client) -> None:
    missing = chart_range(client, NOW_MS - DAY * 3, NOW_MS, coin="no-such-coin")
    assert missing.status_code == 404 and missing.json() == {"error": "coin not found"}
    before = chart_range(client, ms("2024-12-01"), ms("2024-12-10"), coin="fresh-coin").json()
    assert before == {"prices": [], "market_caps": [], "total_volumes": []}
    after = stamps(
        chart_range(client, ms("2024-12-19"), ms("2024-12-21"), coin="fresh-coin").json()
    )
    assert (
        after[0] >= FRESH_LISTED and len(after) == 16
    )  # 08:00 .. 23:00 (00:00 is jittered past `to`)
    bad = client.get("/api/v3/coins/bitcoin/market_chart/range", params={"from": 1, "to": 2})
    assert bad.status_code == 400 and bad.json() == {"error": "Missing parameter vs_currency"}


def test_rate_limit_429_with_retry_after(clock: Clock) -> None:
    fake = FakeCoinGecko([BITCOIN], clock=clock, requests_per_minute=3)
    with httpx.Client(transport=fake.transport(), base_url="https://cg.test") as client:
        for _ in range(3):
            assert client.get("/api/v3/ping").status_code == 200
            clock.now += 10
        refused = client.get("/api/v3/ping")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        assert refused.json()["status"]["error_code"] == 429
        assert refused.json()["status"]["error_message"].startswith(
            "You've exceeded the Rate Limit."
        )
        clock.now += 30
        assert client.get("/api/v3/ping").status_code == 200
    assert fake.count_429 == 1


def test_demo_key(clock: Clock) -> None:
    fake = FakeCoinGecko([BITCOIN], clock=clock, demo_api_key="CG-good", require_key=True)
    with httpx.Client(transport=fake.transport(), base_url="https://cg.test") as client:
        assert (
            client.get("/api/v3/ping", headers={"x-cg-demo-api-key": "CG-good"}).status_code == 200
        )
        wrong = client.get("/api/v3/ping", headers={"x-cg-demo-api-key": "CG-bad"})
        assert wrong.status_code == 401 and wrong.json()["status"]["error_code"] == 10010
        missing = client.get("/api/v3/ping")
        assert missing.status_code == 401 and missing.json()["status"]["error_code"] == 10002
        assert (
            client.get("/api/v3/ping", params={"x_cg_demo_api_key": "CG-good"}).status_code == 200
        )


def test_queue_timeout_and_socket_round_trip(clock: Clock) -> None:
    with FakeCoinGecko([BITCOIN], clock=clock, timeout_sleep=1.0) as fake:
        fake.queue((TIMEOUT, {}, ""), (500, {}, "oops"))
        url = f"{fake.url}/api/v3/coins/bitcoin/market_chart/range"
        params: dict[str, str | int] = {"vs_currency": "usd", "from": (NOW_MS - 2 * DAY) // 1000}
        params["to"] = NOW_MS // 1000
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(url, params=params, timeout=0.2)
        assert httpx.get(url, params=params, timeout=5).status_code == 500
        body = httpx.get(url, params=params, timeout=5).json()
        assert body == fake.chart("bitcoin", NOW_MS - 2 * DAY, NOW_MS)
    assert [r.status for r in fake.requests] == [TIMEOUT, 500, 200]
    with httpx.Client(transport=fake.transport()) as client:
        fake.queue((TIMEOUT, {}, ""))
        with pytest.raises(httpx.ReadTimeout):
            client.get("https://cg.test/api/v3/ping")
