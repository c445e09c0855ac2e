"""CoinGeckoClient against the local CoinGecko imitation: ranges split for hourly points,
points kept inside [start, end), the free tier's 365 days, unknown coins, 429 retried,
malformed and empty charts (the demo key: test_coingecko_key.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest

from coinfill.errors import ConfigurationError
from coinfill.sources.coingecko import (
    CoinGeckoClient,
    CoinGeckoError,
    parse_chart,
)
from coinfill.sources.faults import Fault, ProviderOutageError
from coinfill.sources.http import RetryPolicy, SourceResponseError
from coinfill.sources.ratelimit import TokenBucket
from tests.fakes.clock import Clock, Sleeper
from tests.fakes.coingecko_server import CoinSpec, FakeCoinGecko
from tests.fakes.fake_http import Cutting, closed_port_url

SECOND, HOUR = 1000, 3_600_000
DAY = 24 * HOUR


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW_MS = ms("2025-01-01T12:34:56")
BITCOIN = CoinSpec("bitcoin", base_price=42000.0, supply=19_500_000)
FRESH = CoinSpec("fresh-coin", listed_ms=ms("2024-12-20T08:00"), base_price=0.2)
BASE = "https://api.coingecko.com"
GOOD_KEY, WRONG_KEY = "CG-g00dDemoKey123", "CG-wr0ngDemoKey456"
RANGE_PATH = "/api/v3/coins/bitcoin/market_chart/range"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW_MS / 1000)


@pytest.fixture
def sleep(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def fake(clock: Clock) -> FakeCoinGecko:
    return FakeCoinGecko([BITCOIN, FRESH], clock=clock, requests_per_minute=1000)


ATTEMPTS = RetryPolicy().attempts


def make_client(
    transport: httpx.BaseTransport | None,
    sleep: Sleeper,
    api_key: str | None = None,
    base: str = BASE,
) -> CoinGeckoClient:
    limiter = TokenBucket(1e6, burst=1e6)  # the default shared bucket would really wait
    return CoinGeckoClient(base, limiter, api_key=api_key, transport=transport, sleep=sleep)


@pytest.fixture
def client(fake: FakeCoinGecko, sleep: Sleeper) -> Iterator[CoinGeckoClient]:
    with make_client(fake.transport(), sleep) as coingecko:
        yield coingecko


def logged_ranges(fake: FakeCoinGecko) -> list[tuple[int, int]]:
    return [(int(r.params["from"]), int(r.params["to"])) for r in fake.requests]


def fake_points(fake: FakeCoinGecko, start: int, end: int, piece: int) -> pd.DataFrame:
    """The fake's hourly points in ``[start, end)``, asked in pieces of ``piece`` ms."""
    stamps, prices, volumes = [], [], []
    for begin in range(start, end, piece):
        chart = fake.chart("bitcoin", begin, min(begin + piece, end) - 1)
        stamps += [int(p[0]) for p in chart["prices"]]
        prices += [p[1] for p in chart["prices"]]
        volumes += [v[1] for v in chart["total_volumes"]]
    return pd.DataFrame({"ms": stamps, "price": prices, "volume_24h": volumes})


# -- ranges ------------------------------------------------------------------------------------


def test_200_days_hourly_in_requests_of_at_most_89_days(
    client: CoinGeckoClient, fake: FakeCoinGecko, sleep: Sleeper
) -> None:
    start = NOW_MS - 250 * DAY + 1234  # not on a second: from/to round outwards
    end = start + 200 * DAY
    charts = list(client.chart("bitcoin", start, end, daily=False))
    assert len(charts) == 3 and client.requests == 3
    ranges = logged_ranges(fake)
    assert [f for f, _ in ranges] == [(start + k * 89 * DAY) // SECOND for k in range(3)]
    assert [t for _, t in ranges] == [
        -(-(start + 89 * DAY) // SECOND),
        -(-(start + 178 * DAY) // SECOND),
        -(-end // SECOND),
    ]
    assert all((t - f) * SECOND <= 89 * DAY + SECOND for f, t in ranges)
    assert all(ranges[k + 1][0] <= ranges[k][1] for k in range(2))  # no hole between requests
    assert {r.params["vs_currency"] for r in fake.requests} == {"usd"}
    points = pd.concat([c.points for c in charts], ignore_index=True)
    assert points["ms"].min() >= start and points["ms"].max() < end
    assert points["ms"].is_unique and points["ms"].is_monotonic_increasing
    gaps = points["ms"].diff().dropna()
    assert gaps.between(HOUR - 300 * SECOND, HOUR + 300 * SECOND).all()  # hourly throughout
    expected = fake_points(fake, start, end, 50 * DAY)
    assert len(expected) in (4799, 4800, 4801)
    pd.testing.assert_frame_equal(points, expected, check_dtype=False)
    assert sum(c.malformed for c in charts) == 0 and sleep.calls == []


def test_points_outside_the_range_are_dropped(client: CoinGeckoClient, fake: FakeCoinGecko) -> None:
    start, end = ms("2024-12-01T10:01:30"), ms("2024-12-02T10:01:30")
    fake.queue((200, {}, json.dumps(fake.chart("bitcoin", start - 5 * HOUR, end + 5 * HOUR))))
    (chart,) = client.chart("bitcoin", start, end, daily=False)
    assert len(chart.points) in (23, 24, 25)
    assert chart.points["ms"].min() >= start and chart.points["ms"].max() < end
    edge = fake.chart("bitcoin", end, end + 2 * HOUR)["prices"][0][0]
    assert edge not in chart.points["ms"].tolist()


def test_daily_ranges_go_up_to_364_days(clock: Clock, sleep: Sleeper) -> None:
    fake = FakeCoinGecko([BITCOIN], clock=clock, requests_per_minute=1000, history_days=2000)
    start = ms("2023-01-01")
    with make_client(fake.transport(), sleep) as client:
        charts = list(client.chart("bitcoin", start, start + 700 * DAY, daily=True))
    assert [t - f for f, t in logged_ranges(fake)] == [364 * 86400, 336 * 86400]
    points = pd.concat([c.points for c in charts], ignore_index=True)
    assert len(points) == 700 and (points["ms"] % DAY == 0).all()


# -- refusals ----------------------------------------------------------------------------------


def test_older_than_365_days_explains_the_free_tier(
    client: CoinGeckoClient, fake: FakeCoinGecko, sleep: Sleeper
) -> None:
    start = NOW_MS - 400 * DAY
    with pytest.raises(CoinGeckoError) as caught:
        list(client.chart("bitcoin", start, start + 30 * DAY, daily=False))
    message = str(caught.value)
    assert "365 days" in message and "bitcoin" in message and "paid plan" in message
    assert not isinstance(caught.value, ConfigurationError)
    assert caught.value.fault is Fault.UNAVAILABLE and caught.value.status == 401
    assert caught.value.provider == "coingecko"
    assert len(fake.requests) == 1 and sleep.calls == []
    # A history the tier does not serve is not a refused key: the provider goes on.
    chart = client.range("bitcoin", NOW_MS - 3 * DAY, NOW_MS - 2 * DAY)
    assert len(chart.points) == 24 and len(fake.requests) == 2


def test_unknown_coin_names_the_id_and_the_fix(
    client: CoinGeckoClient, fake: FakeCoinGecko, sleep: Sleeper
) -> None:
    with pytest.raises(CoinGeckoError) as caught:
        client.range("no-such-coin", NOW_MS - 2 * DAY, NOW_MS - DAY)
    message = str(caught.value)
    assert "'no-such-coin'" in message and "coinfill assets add" in message
    assert "--coingecko" in message
    assert caught.value.fault is Fault.REFUSED
    assert (caught.value.provider, caught.value.status) == ("coingecko", 404)
    assert len(fake.requests) == 1 and sleep.calls == []
    # That coin only: the next one is asked and served.
    chart = client.range("bitcoin", NOW_MS - 2 * DAY, NOW_MS - DAY)
    assert len(chart.points) == 24 and len(fake.requests) == 2


def test_rate_limit_429_is_retried_after_retry_after(clock: Clock, sleep: Sleeper) -> None:
    fake = FakeCoinGecko([BITCOIN], clock=clock, requests_per_minute=2)
    start = NOW_MS - 10 * DAY
    with make_client(fake.transport(), sleep) as client:
        for k in range(3):
            chart = client.range("bitcoin", start + k * DAY, start + (k + 1) * DAY)
            assert len(chart.points) == 24
    assert fake.count_429 == 1
    assert [r.status for r in fake.requests] == [200, 200, 429, 200]
    assert sum(sleep.calls) >= 60  # the fake's Retry-After: until the first request is a minute old
    assert fake.requests[3].time - fake.requests[0].time >= 60


def test_scripted_429_waits_the_asked_seconds(
    client: CoinGeckoClient, fake: FakeCoinGecko, sleep: Sleeper
) -> None:
    fake.queue((429, {"Retry-After": "13"}, json.dumps({"status": {"error_code": 429}})))
    chart = client.range("bitcoin", NOW_MS - 3 * DAY, NOW_MS - 2 * DAY)
    assert len(chart.points) == 24
    assert sleep.calls == [13.0]


# -- bodies --------------------------------------------------------------------------------------


def test_malformed_points_are_dropped_and_counted(
    client: CoinGeckoClient, fake: FakeCoinGecko
) -> None:
    t = ms("2024-12-10")
    body = {
        "prices": [
            [t, 101.5],
            [t + HOUR, None],
            [t + 2 * HOUR, "abc"],
            [t + 3 * HOUR],
            [t + 4 * HOUR, -3.0],
            "junk",
            [t + 5 * HOUR, 0],
            [None, 7.0],
            [t + 6 * HOUR, 102.25],
        ],
        "market_caps": [],
        "total_volumes": [[t, 5e9], [t + 6 * HOUR, "n/a"], [t + 9 * HOUR, 1.0]],
    }
    fake.queue((200, {}, json.dumps(body)))
    chart = client.range("bitcoin", t, t + DAY)
    assert chart.malformed == 7
    assert chart.points["ms"].tolist() == [t, t + 6 * HOUR]
    assert chart.points["price"].tolist() == [101.5, 102.25]
    assert chart.points["volume_24h"].iloc[0] == 5e9
    assert pd.isna(chart.points["volume_24h"].iloc[1])  # a bad volume is no volume, not a drop


def test_parse_chart_joins_volumes_by_time_and_sorts() -> None:
    body = {
        "prices": [[3000, 3.0], [1000, 1.0], [2000, 2.0]],
        "total_volumes": [[2000, 20.0], [1000, 10.0], [1000, 11.0]],
    }
    chart = parse_chart(json.dumps(body).encode(), "GET test")
    assert chart.points["ms"].tolist() == [1000, 2000, 3000]
    assert chart.points["volume_24h"].tolist()[:2] == [11.0, 20.0]  # the last duplicate wins
    assert pd.isna(chart.points["volume_24h"].iloc[2])


def test_negative_volume_is_no_volume() -> None:
    body = {"prices": [[1000, 1.0], [2000, 2.0]], "total_volumes": [[1000, -5.0], [2000, 7.0]]}
    chart = parse_chart(json.dumps(body).encode(), "GET test")
    assert chart.points["price"].tolist() == [1.0, 2.0]
    assert pd.isna(chart.points["volume_24h"].iloc[0])
    assert chart.points["volume_24h"].iloc[1] == 7.0


def test_empty_chart_is_an_empty_frame(client: CoinGeckoClient, fake: FakeCoinGecko) -> None:
    chart = client.range("fresh-coin", ms("2024-12-01"), ms("2024-12-10"))  # before its listing
    assert chart.points.empty and chart.malformed == 0
    assert list(chart.points.columns) == ["ms", "price", "volume_24h"]
    fake.queue((200, {}, json.dumps({"prices": []})))
    chart = client.range("bitcoin", ms("2024-12-01"), ms("2024-12-10"))
    assert chart.points.empty and chart.malformed == 0


@pytest.mark.parametrize(
    "body", ["<html>Cloudflare</html>", json.dumps({"error": "x"}), json.dumps({"prices": "x"})]
)
def test_body_that_is_not_a_chart_is_asked_again_then_a_response_error(
    client: CoinGeckoClient, fake: FakeCoinGecko, sleep: Sleeper, body: str
) -> None:
    start, end = ms("2024-12-01"), ms("2024-12-02")
    fake.queue((200, {}, body))
    assert len(client.range("bitcoin", start, end).points) == 24  # asked again: transient
    assert len(fake.requests) == 2 and len(sleep.calls) == 1
    fake.queue(*[(200, {}, body)] * ATTEMPTS)
    with pytest.raises(
        SourceResponseError, match=r"coingecko: GET .*/market_chart/range"
    ) as caught:
        client.range("bitcoin", start, end)
    assert caught.value.fault is Fault.TRANSIENT and caught.value.provider == "coingecko"
    assert f"asked {ATTEMPTS} times" in str(caught.value)
    assert len(fake.requests) == 2 + ATTEMPTS


# -- faults: cut-off pages, later spans, an unreachable host -------------------------------------


def test_a_cut_off_chart_is_asked_again_and_arrives_whole(
    fake: FakeCoinGecko, sleep: Sleeper
) -> None:
    start, end = NOW_MS - 250 * DAY, NOW_MS - 200 * DAY
    with make_client(fake.transport(), sleep) as clean:
        whole = clean.range("bitcoin", start, end).points
    cutting = Cutting(fake.transport(), times=1)
    with make_client(cutting, sleep) as client:
        chart = client.range("bitcoin", start, end)
    assert cutting.cut == 1 and client.requests == 2 and len(whole) == 50 * 24
    pd.testing.assert_frame_equal(chart.points, whole)


def test_a_chart_cut_off_every_time_is_a_transient_response_error(
    fake: FakeCoinGecko, sleep: Sleeper
) -> None:
    cutting = Cutting(fake.transport(), times=None)
    with make_client(cutting, sleep) as client, pytest.raises(SourceResponseError) as caught:
        client.range("bitcoin", NOW_MS - 20 * DAY, NOW_MS - 10 * DAY)
    assert caught.value.fault is Fault.TRANSIENT and caught.value.provider == "coingecko"
    assert "answered an unexpected body" in str(caught.value)
    assert cutting.cut == client.requests == ATTEMPTS


def test_a_later_span_failing_leaves_the_earlier_spans_with_the_caller(
    fake: FakeCoinGecko, sleep: Sleeper
) -> None:
    start = NOW_MS - 250 * DAY
    cutting = Cutting(
        fake.transport(), when=lambda r: int(r.url.params["from"]) > start // 1000, times=None
    )
    received: list[pd.DataFrame] = []
    with make_client(cutting, sleep) as client, pytest.raises(SourceResponseError):
        for chart in client.chart("bitcoin", start, start + 200 * DAY, daily=False):
            received.append(chart.points)
    assert len(received) == 1 and len(received[0]) == 89 * 24
    assert client.requests == 1 + ATTEMPTS


def test_an_unreachable_host_opens_the_breaker(sleep: Sleeper) -> None:
    with make_client(None, sleep, base=closed_port_url()) as client:
        with pytest.raises(ProviderOutageError) as caught:
            client.range("bitcoin", NOW_MS - 2 * DAY, NOW_MS - DAY)
        assert caught.value.fault is Fault.OUTAGE and caught.value.provider == "coingecko"
        assert "4 failures in a row: ConnectError" in str(caught.value)
        assert client.requests == 4 and len(sleep.calls) == 3
        with pytest.raises(ProviderOutageError):  # the next coin fails at once, without a request
            client.range("ethereum", NOW_MS - 2 * DAY, NOW_MS - DAY)
        assert client.requests == 4 and len(sleep.calls) == 3
