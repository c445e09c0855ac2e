"""BlockchainInfoClient against the local blockchain.info charts imitation: exact values, every
request unsampled JSON, a year per request with no day lost or doubled at the edges, empty
ranges and gaps left empty, 404/429/5xx/timeouts, malformed bodies and points, and a socket
run whose limiter keeps to the server's interval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pandas as pd
import pytest

from coinfill.sources.blockchain_info import (
    CHUNK_DAYS,
    BlockchainInfoClient,
    BlockchainInfoError,
)
from coinfill.sources.faults import Fault, ProviderOutageError
from coinfill.sources.http import RetryPolicy, SourceResponseError, SourceUnavailableError
from coinfill.sources.ratelimit import TokenBucket, local_window
from tests.fakes.blockchain_server import TIMEOUT, FakeBlockchainInfo, midnight
from tests.fakes.clock import Clock, Sleeper
from tests.fakes.fake_http import Cutting, closed_port_url

NOW = datetime(2025, 1, 1, 12, 34, 56, tzinfo=UTC).timestamp()
BASE = "https://api.blockchain.info"
ADDRESSES, TRANSACTIONS = "n-unique-addresses", "n-transactions"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sleep(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def fake(clock: Clock) -> FakeBlockchainInfo:
    return FakeBlockchainInfo(clock=clock)


ATTEMPTS = RetryPolicy().attempts


def make_client(
    transport: httpx.BaseTransport | None, sleep: Sleeper, base: str = BASE
) -> BlockchainInfoClient:
    limiter = TokenBucket(1e6, burst=1e6)  # the default shared bucket would really wait
    return BlockchainInfoClient(base, limiter, transport=transport, sleep=sleep)


@pytest.fixture
def client(fake: FakeBlockchainInfo, sleep: Sleeper) -> Iterator[BlockchainInfoClient]:
    with make_client(fake.transport(), sleep) as blockchain:
        yield blockchain


def days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=k) for k in range(count)]


def expected(fake: FakeBlockchainInfo, chart: str, wanted: list[date]) -> pd.DataFrame:
    values = [fake.value(chart, d) for d in wanted]
    return pd.DataFrame({"day": pd.Series(wanted, dtype=object), "value": values})


def body(values: object, status: str = "ok") -> str:
    return json.dumps(
        {"status": status, "name": "x", "unit": "x", "period": "day", "values": values}
    )


# -- values and requests -------------------------------------------------------------------------


def test_values_are_exact_and_asked_unsampled_as_json(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo, sleep: Sleeper
) -> None:
    (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 3, 1))
    pd.testing.assert_frame_equal(
        chart.values, expected(fake, ADDRESSES, days(date(2024, 1, 1), 60))
    )
    assert chart.malformed == 0 and client.requests == 1 and sleep.calls == []
    (request,) = fake.requests
    assert request.path == "/charts/n-unique-addresses"
    assert request.params == {
        "timespan": "60days",
        "start": "2024-01-01",
        "format": "json",
        "sampled": "false",
    }


def test_500_days_in_two_requests_without_losing_or_doubling_a_day(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo
) -> None:
    start = date(2022, 6, 15)
    charts = list(client.chart(TRANSACTIONS, start, start + timedelta(days=500)))
    assert CHUNK_DAYS == 365 and len(charts) == 2 and len(fake.requests) == 2
    assert [r.params["start"] for r in fake.requests] == ["2022-06-15", "2023-06-15"]
    assert [r.params["timespan"] for r in fake.requests] == ["365days", "135days"]
    assert {(r.params["sampled"], r.params["format"]) for r in fake.requests} == {("false", "json")}
    assert [len(c.values) for c in charts] == [365, 135]  # a full year: nothing thinned
    values = pd.concat([c.values for c in charts], ignore_index=True)
    pd.testing.assert_frame_equal(values, expected(fake, TRANSACTIONS, days(start, 500)))


def test_a_day_past_the_chunk_is_dropped_not_doubled(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo
) -> None:
    start = date(2022, 6, 15)
    inclusive = fake.points(TRANSACTIONS, start, start + timedelta(days=CHUNK_DAYS + 1))
    fake.queue((200, {}, body(inclusive)))  # a server counting the end day in
    charts = list(client.chart(TRANSACTIONS, start, start + timedelta(days=500)))
    assert [len(c.values) for c in charts] == [365, 135]
    values = pd.concat([c.values for c in charts], ignore_index=True)
    assert values["day"].is_unique and values["day"].tolist() == days(start, 500)


def test_a_range_without_data_is_an_empty_frame(sleep: Sleeper, clock: Clock) -> None:
    fake = FakeBlockchainInfo(first=date(2024, 6, 1), clock=clock)
    with make_client(fake.transport(), sleep) as client:
        (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 3, 1))
        assert chart.values.empty and chart.malformed == 0
        assert list(chart.values.columns) == ["day", "value"]
        (late,) = client.chart(ADDRESSES, date(2024, 12, 20), date(2025, 1, 10))
    assert late.values["day"].tolist() == days(date(2024, 12, 20), 12)  # up to yesterday
    assert (late.values["value"] > 0).all()


def test_gaps_are_missing_days_not_zeros(sleep: Sleeper, clock: Clock) -> None:
    gaps = frozenset({date(2024, 2, 3), date(2024, 2, 4), date(2024, 2, 20)})
    fake = FakeBlockchainInfo(gaps=gaps, clock=clock)
    with make_client(fake.transport(), sleep) as client:
        (chart,) = client.chart(ADDRESSES, date(2024, 2, 1), date(2024, 3, 1))
    present = [d for d in days(date(2024, 2, 1), 29) if d not in gaps]
    pd.testing.assert_frame_equal(chart.values, expected(fake, ADDRESSES, present))


# -- refusals and retries -------------------------------------------------------------------------


def test_unknown_chart_names_the_chart(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo, sleep: Sleeper
) -> None:
    with pytest.raises(
        BlockchainInfoError, match=r"chart 'n-nonsense' does not exist \(HTTP 404\)"
    ) as caught:
        list(client.chart("n-nonsense", date(2024, 1, 1), date(2024, 2, 1)))
    assert len(fake.requests) == 1 and sleep.calls == []
    assert caught.value.fault is Fault.REFUSED
    assert (caught.value.provider, caught.value.status) == ("blockchain.info", 404)
    # That chart only: the next one is asked and served.
    (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 11))
    assert len(chart.values) == 10 and len(fake.requests) == 2


def test_scripted_429_waits_the_asked_seconds(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo, sleep: Sleeper
) -> None:
    fake.queue((429, {"Retry-After": "17"}, "Too Many Requests"))
    (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 11))
    assert len(chart.values) == 10 and sleep.calls == [17.0]


def test_the_servers_interval_is_waited_out(sleep: Sleeper, clock: Clock) -> None:
    fake = FakeBlockchainInfo(clock=clock, min_interval=10.0)
    with make_client(fake.transport(), sleep) as client:
        charts = list(client.chart(ADDRESSES, date(2022, 1, 1), date(2024, 1, 1)))
    assert sum(len(c.values) for c in charts) == 730
    assert [r.status for r in fake.requests] == [200, 429, 200]
    assert len(sleep.calls) == 1 and sleep.calls[0] >= 10.0
    assert fake.requests[2].time - fake.requests[0].time >= 10.0


def test_5xx_and_timeouts_are_retried(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo, sleep: Sleeper
) -> None:
    fake.queue((500, {}, "oops"), (TIMEOUT, {}, b""), (502, {}, "<html>Bad Gateway</html>"))
    (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 11))
    pd.testing.assert_frame_equal(
        chart.values, expected(fake, ADDRESSES, days(date(2024, 1, 1), 10))
    )
    assert client.requests == 4 and len(sleep.calls) == 3


def test_5xx_forever_is_unavailable_naming_the_url(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo
) -> None:
    fake.queue(*[(503, {}, "Service Unavailable")] * RetryPolicy().attempts)
    with pytest.raises(SourceUnavailableError) as caught:
        list(client.chart(TRANSACTIONS, date(2024, 1, 1), date(2024, 1, 11)))
    message = str(caught.value)
    assert "GET https://api.blockchain.info/charts/n-transactions?" in message
    assert "start=2024-01-01" in message and "sampled=false" in message and "HTTP 503" in message
    assert client.requests == RetryPolicy().attempts


# -- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<html><body>Cloudflare</body></html>",
        body([], status="error"),
        body({"x": 1704067200, "y": 1}),
        json.dumps({"status": "ok"}),
        json.dumps([{"x": 1704067200, "y": 1}]),
    ],
    ids=["not-json", "status-error", "values-not-list", "no-values", "not-object"],
)
def test_body_that_is_not_a_chart_is_asked_again_then_a_response_error(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo, sleep: Sleeper, text: str
) -> None:
    fake.queue((200, {}, text))
    (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 5))
    assert len(chart.values) == 4  # asked again: a broken 200 is transient
    assert len(fake.requests) == 2 and len(sleep.calls) == 1
    fake.queue(*[(200, {}, text)] * ATTEMPTS)
    with pytest.raises(
        SourceResponseError,
        match=r"blockchain.info: GET https://api.blockchain.info/charts/n-unique-addresses\?",
    ) as caught:
        list(client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 5)))
    assert caught.value.fault is Fault.TRANSIENT and caught.value.provider == "blockchain.info"
    assert f"asked {ATTEMPTS} times" in str(caught.value)


def test_a_cut_off_chart_is_asked_again_and_arrives_whole(
    fake: FakeBlockchainInfo, sleep: Sleeper
) -> None:
    cutting = Cutting(fake.transport(), times=1)
    with make_client(cutting, sleep) as client:
        (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 3, 1))
    assert cutting.cut == 1 and client.requests == 2
    pd.testing.assert_frame_equal(
        chart.values, expected(fake, ADDRESSES, days(date(2024, 1, 1), 60))
    )


def test_a_chart_cut_off_every_time_is_a_transient_response_error(
    fake: FakeBlockchainInfo, sleep: Sleeper
) -> None:
    cutting = Cutting(fake.transport(), times=None)
    with make_client(cutting, sleep) as client, pytest.raises(SourceResponseError) as caught:
        list(client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 3, 1)))
    assert caught.value.fault is Fault.TRANSIENT
    assert "answered an unexpected body" in str(caught.value)
    assert cutting.cut == client.requests == ATTEMPTS


def test_a_later_year_failing_leaves_the_earlier_years_with_the_caller(
    fake: FakeBlockchainInfo, sleep: Sleeper
) -> None:
    start = date(2022, 6, 15)
    later = Cutting(
        fake.transport(), when=lambda r: r.url.params["start"] != start.isoformat(), times=None
    )
    received = []
    with make_client(later, sleep) as client, pytest.raises(SourceResponseError):
        for chart in client.chart(TRANSACTIONS, start, start + timedelta(days=500)):
            received.append(chart.values)
    assert len(received) == 1 and client.requests == 1 + ATTEMPTS
    pd.testing.assert_frame_equal(received[0], expected(fake, TRANSACTIONS, days(start, 365)))


def test_an_unreachable_host_opens_the_breaker(sleep: Sleeper) -> None:
    with make_client(None, sleep, base=closed_port_url()) as client:
        with pytest.raises(ProviderOutageError) as caught:
            list(client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 5)))
        assert caught.value.fault is Fault.OUTAGE and caught.value.provider == "blockchain.info"
        assert "4 failures in a row: ConnectError" in str(caught.value)
        assert client.requests == 4
        with pytest.raises(ProviderOutageError):  # the next chart fails at once, without a request
            list(client.chart(TRANSACTIONS, date(2024, 1, 1), date(2024, 1, 5)))
        assert client.requests == 4 and len(sleep.calls) == 3


def test_malformed_points_after_the_good_ones_are_counted(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo
) -> None:
    good = fake.points(ADDRESSES, date(2024, 1, 1), date(2024, 1, 4))
    fake.queue((200, {}, body([*good, {"x": "a", "y": 1}, {"x": midnight(date(2024, 1, 4))}, 7])))
    (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 5))
    assert chart.malformed == 3
    pd.testing.assert_frame_equal(
        chart.values, expected(fake, ADDRESSES, days(date(2024, 1, 1), 3))
    )


def test_malformed_points_between_good_ones_leave_the_others_intact(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo
) -> None:
    good = fake.points(ADDRESSES, date(2024, 1, 1), date(2024, 1, 4))
    mixed = [{"x": "a", "y": 1}, good[0], {"x": midnight(date(2024, 1, 4))}, good[1], None, good[2]]
    fake.queue((200, {}, body(mixed)))
    (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 5))
    assert chart.malformed == 3
    pd.testing.assert_frame_equal(
        chart.values, expected(fake, ADDRESSES, days(date(2024, 1, 1), 3))
    )


def test_an_x_out_of_range_is_a_malformed_point(
    client: BlockchainInfoClient, fake: FakeBlockchainInfo
) -> None:
    good = fake.points(ADDRESSES, date(2024, 1, 1), date(2024, 1, 3))
    fake.queue((200, {}, body([*good, {"x": midnight(date(2024, 1, 3)) * 1000, "y": 5}])))
    (chart,) = client.chart(ADDRESSES, date(2024, 1, 1), date(2024, 1, 5))
    assert chart.malformed == 1 and len(chart.values) == 2


# -- defaults and a real socket -----------------------------------------------------------------


def test_default_limiter_is_one_request_every_ten_seconds() -> None:
    first, second = BlockchainInfoClient(), BlockchainInfoClient()
    with first, second:
        assert first.http.limiter is second.http.limiter
        # One shared sliding window: one request per 10 s, with a margin for jittered arrivals.
        assert first.http.limiter is local_window("blockchain-info", 1, 10.0)


def test_socket_run_keeps_to_the_servers_interval() -> None:
    # The limiter keeps a margin under the server's 5 per second: the server times arrivals, and
    # the first request also opens the connection, so it may arrive late and the next one early
    # (an exact TokenBucket(5) meets 429s most runs).
    with (
        FakeBlockchainInfo(min_interval=0.2) as fake,
        BlockchainInfoClient(fake.url, TokenBucket(3.0), timeout=5.0) as client,
    ):
        start = date(2021, 1, 1)
        charts = list(client.chart(ADDRESSES, start, start + timedelta(days=800)))
        stats = fake.stats()
    assert stats["count_429"] == 0 and stats["charts"] == {ADDRESSES: 3}
    values = pd.concat([c.values for c in charts], ignore_index=True)
    pd.testing.assert_frame_equal(values, expected(fake, ADDRESSES, days(start, 800)))
