"""CoinGeckoClient and the demo API key: sent as the ``x-cg-demo-api-key`` header, never in
the URL, an error message or a log line; a refused key is :class:`CredentialsRefusedError` (a
ConfigurationError) and stops the provider: no further request is made."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest

from coinfill.errors import ConfigurationError
from coinfill.sources.coingecko import DEMO_KEY_HEADER, KEY_SETTING, CoinGeckoClient
from coinfill.sources.faults import CredentialsRefusedError, Fault
from coinfill.sources.ratelimit import TokenBucket, local_bucket
from tests.fakes.clock import Clock, Sleeper
from tests.fakes.coingecko_server import CoinSpec, FakeCoinGecko

DAY = 86_400_000
NOW_MS = int(datetime(2025, 1, 1, 12, 34, 56, tzinfo=UTC).timestamp() * 1000)
BITCOIN = CoinSpec("bitcoin", base_price=42000.0, supply=19_500_000)
GOOD_KEY, WRONG_KEY = "CG-g00dDemoKey123", "CG-wr0ngDemoKey456"


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW_MS / 1000)


@pytest.fixture
def sleep(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def fake(clock: Clock) -> FakeCoinGecko:
    return FakeCoinGecko([BITCOIN], clock=clock, requests_per_minute=1000)


def make_client(
    transport: httpx.BaseTransport, sleep: Sleeper, api_key: str | None = None
) -> CoinGeckoClient:
    limiter = TokenBucket(1e6, burst=1e6)
    return CoinGeckoClient(
        "https://api.coingecko.com", limiter, api_key=api_key, transport=transport, sleep=sleep
    )


class Recording(httpx.BaseTransport):
    """Keeps every request a client sends, then hands it to ``inner``."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return self.inner.handle_request(request)


@pytest.fixture
def keyed(clock: Clock) -> FakeCoinGecko:
    return FakeCoinGecko([BITCOIN], clock=clock, demo_api_key=GOOD_KEY, require_key=True)


def test_demo_key_is_sent_as_the_header_only(keyed: FakeCoinGecko, sleep: Sleeper) -> None:
    transport = Recording(keyed.transport())
    with make_client(transport, sleep, GOOD_KEY) as client:
        chart = client.range("bitcoin", NOW_MS - 2 * DAY, NOW_MS - DAY)
    assert len(chart.points) == 24
    (request,) = transport.sent
    assert request.headers[DEMO_KEY_HEADER] == GOOD_KEY
    assert GOOD_KEY not in str(request.url)


def test_wrong_key_is_refused_credentials_without_the_key(
    keyed: FakeCoinGecko, sleep: Sleeper, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(keyed.transport(), sleep, WRONG_KEY)
    with client:
        with pytest.raises(CredentialsRefusedError) as caught:
            client.range("bitcoin", NOW_MS - 2 * DAY, NOW_MS - DAY)
        # The provider is stopped: the next request fails at once, without asking.
        with pytest.raises(CredentialsRefusedError) as again:
            client.range("bitcoin", NOW_MS - 3 * DAY, NOW_MS - 2 * DAY)
    assert isinstance(caught.value, ConfigurationError) and again.value is caught.value
    assert caught.value.fault is Fault.CREDENTIALS and caught.value.setting == KEY_SETTING
    assert (caught.value.provider, caught.value.status) == ("coingecko", 401)
    message = str(caught.value)
    assert "COINFILL_COINGECKO_API_KEY" in message and "HTTP 401" in message
    assert "Secret block" in message
    assert WRONG_KEY not in message and WRONG_KEY not in caplog.text
    assert len(keyed.requests) == 1 and sleep.calls == []


def test_missing_key_says_there_is_none(keyed: FakeCoinGecko, sleep: Sleeper) -> None:
    client = make_client(keyed.transport(), sleep)
    with (
        client,
        pytest.raises(CredentialsRefusedError, match=r"with no API key \(HTTP 401\)") as caught,
    ):
        client.range("bitcoin", NOW_MS - 2 * DAY, NOW_MS - DAY)
    assert caught.value.setting == KEY_SETTING and KEY_SETTING in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refusal_echoing_the_key_masks_it(
    fake: FakeCoinGecko, sleep: Sleeper, status: int
) -> None:
    echo = {"status": {"error_code": 10010, "error_message": f"invalid key {WRONG_KEY}"}}
    fake.queue((status, {}, json.dumps(echo)))
    client = make_client(fake.transport(), sleep, WRONG_KEY)
    with client, pytest.raises(CredentialsRefusedError) as caught:
        client.range("bitcoin", NOW_MS - 2 * DAY, NOW_MS - DAY)
    message = str(caught.value)
    assert caught.value.status == status
    assert WRONG_KEY not in message and "invalid key ***" in message
    assert f"HTTP {status}" in message


def test_default_limiter_is_the_process_wide_coingecko_bucket() -> None:
    first, second = CoinGeckoClient(), CoinGeckoClient()
    with first, second:
        assert first.http.limiter is second.http.limiter
        assert first.http.limiter is local_bucket("coingecko", 10 / 60)
