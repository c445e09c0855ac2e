"""MessariClient against the local Messari v1 imitation: exact values, the key only in its
header (never in a URL, error or log line), 401 with and without a key, unknown assets, empty
ranges, ranges split under the 5,000-point cap, 429/5xx retried, malformed bodies."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pandas as pd
import pytest

from coinfill.errors import ConfigurationError
from coinfill.sources.faults import CredentialsRefusedError, Fault, ProviderOutageError
from coinfill.sources.http import (
    RetryPolicy,
    SourceRequestError,
    SourceResponseError,
    SourceUnavailableError,
)
from coinfill.sources.messari import (
    CHUNK_DAYS,
    KEY_HEADER,
    KEY_SETTING,
    MessariClient,
    MessariError,
)
from coinfill.sources.ratelimit import TokenBucket, local_bucket
from tests.fakes.clock import Clock, Sleeper
from tests.fakes.fake_http import Cutting, closed_port_url
from tests.fakes.messari_server import MAX_POINTS, TIMEOUT, FakeMessari, day_ms

NOW = datetime(2025, 1, 2, 8, tzinfo=UTC).timestamp()
BASE = "https://data.messari.io"
GOOD_KEY, WRONG_KEY = "mK3y-g00d-5ecret-1234", "mK3y-wr0ng-5ecret-9876"
ASSETS = {"bitcoin": (date(2010, 7, 18), date(2024, 12, 31))}
ACTIVE = "act.addr.cnt"
PATH = "/api/v1/assets/bitcoin/metrics/act.addr.cnt/time-series"
ATTEMPTS = RetryPolicy().attempts


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sleep(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def fake(clock: Clock) -> FakeMessari:
    return FakeMessari(ASSETS, keys=frozenset({GOOD_KEY}), clock=clock)


class Recording(httpx.BaseTransport):
    """Keeps every request a client sends, then hands it to ``inner``."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self.inner.handle_request(request)


def make_client(
    transport: httpx.BaseTransport | None,
    sleep: Sleeper,
    api_key: str | None = GOOD_KEY,
    base: str = BASE,
) -> MessariClient:
    limiter = TokenBucket(1e6, burst=1e6)  # the default shared bucket would really wait
    return MessariClient(api_key, base, limiter, transport=transport, sleep=sleep)


@pytest.fixture
def client(fake: FakeMessari, sleep: Sleeper) -> Iterator[MessariClient]:
    with make_client(fake.transport(), sleep) as messari:
        yield messari


def days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=k) for k in range(count)]


def expected(fake: FakeMessari, wanted: list[date], metric: str = ACTIVE) -> pd.DataFrame:
    values = [fake.value("bitcoin", metric, d) for d in wanted]
    return pd.DataFrame({"day": pd.Series(wanted, dtype=object), "value": values})


def series_body(values: object) -> str:
    return json.dumps({"status": {"elapsed": 1}, "data": {"values": values}})


# -- values and the key ----------------------------------------------------------------------------


def test_values_are_exact_and_the_key_travels_in_the_header_only(
    fake: FakeMessari, sleep: Sleeper
) -> None:
    transport = Recording(fake.transport())
    with make_client(transport, sleep) as client:
        (series,) = client.series("bitcoin", "txn.cnt", date(2024, 1, 1), date(2024, 3, 1))
    pd.testing.assert_frame_equal(
        series.values, expected(fake, days(date(2024, 1, 1), 60), "txn.cnt")
    )
    assert series.malformed == 0 and sleep.calls == []
    (request,) = transport.sent
    assert request.headers[KEY_HEADER] == GOOD_KEY and GOOD_KEY not in str(request.url)
    assert str(request.url.params) == "start=2024-01-01&end=2024-02-29&interval=1d"


def test_the_key_is_in_no_error_and_no_log_line(
    fake: FakeMessari, sleep: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="httpcore")
    messages: list[str] = []
    with (
        fake,
        MessariClient(GOOD_KEY, fake.url, TokenBucket(1e6, burst=1e6), sleep=sleep) as client,
    ):
        fake.queue((500, {}, "oops"))  # a retry: its warning names the request
        assert len(client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 3)).values) == 2
        with pytest.raises(MessariError) as unknown:
            client.span("xyz", ACTIVE, date(2024, 1, 1), date(2024, 1, 3))
        fake.queue((400, {}, json.dumps({"status": {"error_message": f"bad key {GOOD_KEY}"}})))
        with pytest.raises(SourceRequestError) as refused:
            client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 3))
        fake.queue(*[(503, {}, f"down for {GOOD_KEY}")] * RetryPolicy().attempts)
        with pytest.raises(SourceUnavailableError) as down:
            client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 3))
        messages += [str(e.value) for e in (unknown, refused, down)]
    assert "xyz" in messages[0] and "bad key ***" in messages[1]
    assert "HTTP Request: GET" in caplog.text and "retry 1/5" in caplog.text
    assert all(GOOD_KEY not in text for text in [*messages, caplog.text])


def test_no_key_is_refused_credentials_naming_the_setting(
    fake: FakeMessari, sleep: Sleeper
) -> None:
    transport = Recording(fake.transport())
    client = make_client(transport, sleep, api_key=None)
    with client, pytest.raises(CredentialsRefusedError) as caught:
        list(client.series("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 2, 1)))
    assert isinstance(caught.value, ConfigurationError) and caught.value.setting == KEY_SETTING
    assert (caught.value.provider, caught.value.status) == ("messari", 401)
    message = str(caught.value)
    assert KEY_SETTING == "COINFILL_MESSARI_API_KEY" and KEY_SETTING in message
    assert "needs a key" in message and "401" in message
    assert KEY_HEADER not in transport.sent[0].headers
    assert fake.count_401 == 1 and sleep.calls == []


def test_wrong_key_is_rejected_without_showing_it(fake: FakeMessari, sleep: Sleeper) -> None:
    client = make_client(fake.transport(), sleep, api_key=WRONG_KEY)
    with client:
        with pytest.raises(CredentialsRefusedError) as caught:
            list(client.series("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 2, 1)))
        # The provider is stopped: the next asset fails at once, without a request.
        with pytest.raises(CredentialsRefusedError) as again:
            list(client.series("ethereum", ACTIVE, date(2024, 1, 1), date(2024, 2, 1)))
    assert again.value is caught.value and caught.value.fault is Fault.CREDENTIALS
    assert caught.value.setting == KEY_SETTING
    message = str(caught.value)
    assert f"rejected the key in {KEY_SETTING}" in message and "invalid API key" in message
    assert "Secret block" in message
    assert WRONG_KEY not in message and len(fake.requests) == 1 and sleep.calls == []


def test_a_401_echoing_the_key_masks_it(fake: FakeMessari, sleep: Sleeper) -> None:
    echo = {"status": {"error_code": 401, "error_message": f"key {WRONG_KEY} is revoked"}}
    fake.queue((401, {}, json.dumps(echo)))
    client = make_client(fake.transport(), sleep, api_key=WRONG_KEY)
    with client, pytest.raises(CredentialsRefusedError) as caught:
        client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 2, 1))
    assert WRONG_KEY not in str(caught.value) and "key *** is revoked" in str(caught.value)


def test_unknown_asset_names_it_and_the_fix(
    client: MessariClient, fake: FakeMessari, sleep: Sleeper
) -> None:
    with pytest.raises(MessariError) as caught:
        list(client.series("xyz", ACTIVE, date(2024, 1, 1), date(2024, 2, 1)))
    message = str(caught.value)
    assert "asset 'xyz'" in message and "Asset with key = 'xyz' not found." in message
    assert "coinfill assets add" in message and "--messari" in message
    assert caught.value.fault is Fault.REFUSED
    assert (caught.value.provider, caught.value.status) == ("messari", 404)
    assert len(fake.requests) == 1 and sleep.calls == []
    # That asset only: the next one is asked and served.
    (series,) = client.series("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 11))
    pd.testing.assert_frame_equal(series.values, expected(fake, days(date(2024, 1, 1), 10)))


# -- ranges ------------------------------------------------------------------------------------------


def test_a_range_without_data_is_empty(client: MessariClient) -> None:
    (series,) = client.series("bitcoin", ACTIVE, date(2009, 1, 3), date(2009, 12, 1))  # null
    assert series.values.empty and series.malformed == 0
    assert list(series.values.columns) == ["day", "value"]
    (edge,) = client.series("bitcoin", ACTIVE, date(2024, 12, 25), date(2025, 1, 2))
    assert edge.values["day"].tolist() == days(date(2024, 12, 25), 7)


def test_a_long_range_is_asked_in_pieces_under_the_point_cap(
    client: MessariClient, fake: FakeMessari
) -> None:
    start = date(2011, 1, 1)
    pieces = list(client.series("bitcoin", ACTIVE, start, start + timedelta(days=4500)))
    assert CHUNK_DAYS == 2000 and len(pieces) == 3 and len(fake.requests) == 3
    starts = [start + timedelta(days=k * CHUNK_DAYS) for k in range(3)]
    assert [r.params["start"] for r in fake.requests] == [d.isoformat() for d in starts]
    ends = [starts[1], starts[2], start + timedelta(days=4500)]
    assert [r.params["end"] for r in fake.requests] == [
        (d - timedelta(days=1)).isoformat() for d in ends
    ]
    assert {r.status for r in fake.requests} == {200}
    assert [len(p.values) for p in pieces] == [2000, 2000, 500] and CHUNK_DAYS < MAX_POINTS
    values = pd.concat([p.values for p in pieces], ignore_index=True)
    pd.testing.assert_frame_equal(values, expected(fake, days(start, 4500)))


# -- retries ---------------------------------------------------------------------------------------


def test_scripted_429_waits_the_asked_seconds(
    client: MessariClient, fake: FakeMessari, sleep: Sleeper
) -> None:
    fake.queue((429, {"Retry-After": "21"}, json.dumps({"status": {"error_code": 429}})))
    (series,) = client.series("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 11))
    assert len(series.values) == 10 and sleep.calls == [21.0]


def test_the_per_minute_limit_is_waited_out(clock: Clock, sleep: Sleeper) -> None:
    fake = FakeMessari(ASSETS, keys=frozenset({GOOD_KEY}), clock=clock, requests_per_minute=2)
    with make_client(fake.transport(), sleep) as client:
        for k in range(3):
            begin = date(2024, 1, 1) + timedelta(days=10 * k)
            (series,) = client.series("bitcoin", ACTIVE, begin, begin + timedelta(days=10))
            pd.testing.assert_frame_equal(series.values, expected(fake, days(begin, 10)))
    assert [r.status for r in fake.requests] == [200, 200, 429, 200]
    assert sleep.calls == [60.0] and fake.count_429 == 1


def test_5xx_and_timeouts_are_retried(
    client: MessariClient, fake: FakeMessari, sleep: Sleeper
) -> None:
    fake.queue((500, {}, "oops"), (TIMEOUT, {}, b""), (503, {}, "<html>busy</html>"))
    (series,) = client.series("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 11))
    pd.testing.assert_frame_equal(series.values, expected(fake, days(date(2024, 1, 1), 10)))
    assert client.requests == 4 and len(sleep.calls) == 3


# -- bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<html>Cloudflare</html>",
        json.dumps({"status": {"elapsed": 0}}),
        json.dumps({"status": {}, "data": None}),
        series_body({"1704067200000": 5}),
        series_body("none"),
        json.dumps([[1704067200000, 5]]),
    ],
    ids=["not-json", "no-data", "data-null", "values-object", "values-string", "not-object"],
)
def test_body_that_is_not_a_series_is_asked_again_then_a_response_error(
    client: MessariClient, fake: FakeMessari, sleep: Sleeper, text: str
) -> None:
    fake.queue((200, {}, text))
    series = client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 5))
    assert len(series.values) == 4  # asked again: a broken 200 is transient
    assert len(fake.requests) == 2 and len(sleep.calls) == 1
    fake.queue(*[(200, {}, text)] * ATTEMPTS)
    with pytest.raises(
        SourceResponseError, match=rf"messari: GET {BASE}{PATH}\?start=2024-01-01"
    ) as caught:
        client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 5))
    assert caught.value.fault is Fault.TRANSIENT and caught.value.provider == "messari"
    assert f"asked {ATTEMPTS} times" in str(caught.value)


def test_a_cut_off_series_is_asked_again_and_arrives_whole(
    fake: FakeMessari, sleep: Sleeper
) -> None:
    cutting = Cutting(fake.transport(), times=1)
    with make_client(cutting, sleep) as client:
        (series,) = client.series("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 3, 1))
    assert cutting.cut == 1 and client.requests == 2
    pd.testing.assert_frame_equal(series.values, expected(fake, days(date(2024, 1, 1), 60)))


def test_a_series_cut_off_every_time_is_a_transient_response_error(
    fake: FakeMessari, sleep: Sleeper
) -> None:
    cutting = Cutting(fake.transport(), times=None)
    with make_client(cutting, sleep) as client, pytest.raises(SourceResponseError) as caught:
        list(client.series("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 3, 1)))
    assert caught.value.fault is Fault.TRANSIENT
    assert "answered an unexpected body" in str(caught.value)
    assert cutting.cut == client.requests == ATTEMPTS


def test_a_later_piece_failing_leaves_the_earlier_pieces_with_the_caller(
    fake: FakeMessari, sleep: Sleeper
) -> None:
    start = date(2011, 1, 1)
    later = Cutting(
        fake.transport(), when=lambda r: r.url.params["start"] != start.isoformat(), times=None
    )
    received = []
    with make_client(later, sleep) as client, pytest.raises(SourceResponseError):
        for piece in client.series("bitcoin", ACTIVE, start, start + timedelta(days=4500)):
            received.append(piece.values)
    assert len(received) == 1 and client.requests == 1 + ATTEMPTS
    pd.testing.assert_frame_equal(received[0], expected(fake, days(start, CHUNK_DAYS)))


def test_an_unreachable_host_opens_the_breaker(sleep: Sleeper) -> None:
    with make_client(None, sleep, base=closed_port_url()) as client:
        with pytest.raises(ProviderOutageError) as caught:
            client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 5))
        assert caught.value.fault is Fault.OUTAGE and caught.value.provider == "messari"
        assert "4 failures in a row: ConnectError" in str(caught.value)
        assert GOOD_KEY not in str(caught.value)
        assert client.requests == 4
        with pytest.raises(ProviderOutageError):  # the next asset fails at once, without a request
            client.span("ethereum", ACTIVE, date(2024, 1, 1), date(2024, 1, 5))
        assert client.requests == 4 and len(sleep.calls) == 3


def test_malformed_points_after_the_good_ones_are_counted(
    client: MessariClient, fake: FakeMessari
) -> None:
    good = [[day_ms(d), fake.value("bitcoin", ACTIVE, d)] for d in days(date(2024, 1, 1), 3)]
    fake.queue((200, {}, series_body([*good, [day_ms(date(2024, 1, 4)), "n/a"], [1], None])))
    series = client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 5))
    assert series.malformed == 3
    pd.testing.assert_frame_equal(series.values, expected(fake, days(date(2024, 1, 1), 3)))


def test_malformed_points_between_good_ones_leave_the_others_intact(
    client: MessariClient, fake: FakeMessari
) -> None:
    good = [[day_ms(d), fake.value("bitcoin", ACTIVE, d)] for d in days(date(2024, 1, 1), 3)]
    mixed = [[day_ms(date(2024, 1, 4)), None], good[0], "junk", good[1], [None, 5], good[2]]
    fake.queue((200, {}, series_body(mixed)))
    series = client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 5))
    assert series.malformed == 3
    pd.testing.assert_frame_equal(series.values, expected(fake, days(date(2024, 1, 1), 3)))


def test_default_limiter_is_the_process_wide_messari_bucket() -> None:
    first, second = MessariClient(GOOD_KEY), MessariClient(None)
    with first, second:
        assert first.http.limiter is second.http.limiter
        assert first.http.limiter is local_bucket("messari", 20 / 60)


def test_a_timestamp_out_of_range_is_a_malformed_point(
    client: MessariClient, fake: FakeMessari
) -> None:
    good = [[day_ms(d), fake.value("bitcoin", ACTIVE, d)] for d in days(date(2024, 1, 1), 2)]
    fake.queue((200, {}, series_body([*good, [day_ms(date(2024, 1, 3)) * 1000, 5.0]])))
    series = client.span("bitcoin", ACTIVE, date(2024, 1, 1), date(2024, 1, 5))
    assert series.malformed == 1 and len(series.values) == 2
