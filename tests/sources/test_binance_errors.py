"""BinanceClient when Binance says no: 429/418 with Retry-After, a Retry-After too long to wait,
5xx and timeouts retried, 451 (restricted location), unknown pairs and intervals, bodies that
are not a list of bars. A fake clock moves only when the sleep recorder is called."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from coinfill.errors import ConfigurationError
from coinfill.sources.binance import (
    DEFAULT_BASE_URL,
    BinanceClient,
    BinanceError,
    BinanceRegionError,
)
from coinfill.sources.binance_weight import WeightBudget
from coinfill.sources.faults import Fault, ProviderOutageError
from coinfill.sources.http import (
    SourceRequestError,
    SourceResponseError,
    SourceUnavailableError,
)
from tests.fakes.binance_server import TIMEOUT, FakeBinance, PairSpec
from tests.fakes.clock import Clock, Sleeper

HOUR = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2025-01-01T12:34:56") / 1000
BTC = PairSpec("BTCUSDT", ms("2024-01-01"), base_price=42000.0)
LATER = PairSpec("NEWUSDT", ms("2026-01-01"))  # not listed yet
START = ms("2024-02-01")
END = START + 24 * HOUR
TOO_MUCH = json.dumps({"code": -1003, "msg": "Too much request weight used"})
BANNED = json.dumps({"code": -1003, "msg": "Way too much request weight used; IP banned"})
SERVER_ERROR = json.dumps({"code": -1001, "msg": "Internal error; unable to process your request."})


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sleep(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def fake(clock: Clock) -> FakeBinance:
    return FakeBinance([BTC, LATER], clock=clock)


def make_client(
    fake: FakeBinance, clock: Clock, sleep: Sleeper, base_url: str = DEFAULT_BASE_URL
) -> BinanceClient:
    budget = WeightBudget(clock=clock, sleep=sleep)
    return BinanceClient(base_url, budget, transport=fake.transport(), sleep=sleep)


@pytest.fixture
def client(fake: FakeBinance, clock: Clock, sleep: Sleeper) -> Iterator[BinanceClient]:
    with make_client(fake, clock, sleep) as binance:
        yield binance


def statuses(fake: FakeBinance) -> list[int]:
    return [r.status for r in fake.requests]


def day_of_bars(client: BinanceClient) -> int:
    return sum(len(p.bars) for p in client.klines("BTCUSDT", "1h", START, END))


# -- waits the server asks for -------------------------------------------------------------------


@pytest.mark.parametrize(("status", "body"), [(429, TOO_MUCH), (418, BANNED)])
def test_retry_after_is_waited_then_the_request_succeeds(
    client: BinanceClient, fake: FakeBinance, sleep: Sleeper, status: int, body: str
) -> None:
    fake.queue((status, {"Retry-After": "7"}, body))
    assert day_of_bars(client) == 24
    assert statuses(fake) == [status, 200]
    assert sum(sleep.calls) >= 7
    assert fake.requests[1].time - fake.requests[0].time >= 7  # not sent before Retry-After


def test_servers_own_429_is_waited_out_without_a_ban(clock: Clock, sleep: Sleeper) -> None:
    fake = FakeBinance([BTC], clock=clock, weight_limit=10)  # 5 klines requests a minute
    with make_client(fake, clock, sleep) as client:  # the budget believes 6,000
        for _ in range(8):
            assert day_of_bars(client) == 24
    assert fake.count_429 == 1  # learnt once, then held until the next minute
    assert fake.count_418 == 0
    assert statuses(fake).count(200) == 8
    assert fake.max_window_weight <= 10


def test_retry_after_longer_than_the_policy_fails_at_once(
    client: BinanceClient, fake: FakeBinance, sleep: Sleeper
) -> None:
    fake.queue((429, {"Retry-After": "3600"}, TOO_MUCH))
    with pytest.raises(SourceUnavailableError) as caught:
        day_of_bars(client)
    message = str(caught.value)
    assert "3600 s (Retry-After)" in message and "HTTP 429" in message
    assert "more than 600 s" in message
    assert sleep.calls == []  # it did not wait the hour
    assert len(fake.requests) == 1


def test_a_refused_long_retry_after_does_not_stall_the_next_request(
    client: BinanceClient, fake: FakeBinance, sleep: Sleeper
) -> None:
    fake.queue((418, {"Retry-After": "7200"}, BANNED))
    with pytest.raises(SourceUnavailableError):
        client.first_open("BTCUSDT", "1h")
    with pytest.raises(SourceUnavailableError):  # another pair of the same run
        client.first_open("BTCUSDT", "1d")
    assert all(s <= client.http.retry.max_retry_after for s in sleep.calls)


# -- transient failures ----------------------------------------------------------------------


def test_5xx_is_retried_with_backoff_then_succeeds(
    client: BinanceClient, fake: FakeBinance, sleep: Sleeper
) -> None:
    fake.queue((503, {}, "Service Unavailable"), (500, {}, SERVER_ERROR))
    assert day_of_bars(client) == 24
    assert statuses(fake) == [503, 500, 200]
    assert len(sleep.calls) == 2
    assert 0.5 <= sleep.calls[0] <= 1.0 and 1.0 <= sleep.calls[1] <= 2.0  # capped, jittered


def test_5xx_forever_names_the_url(
    client: BinanceClient, fake: FakeBinance, sleep: Sleeper
) -> None:
    fake.queue(*[(502, {}, "Bad Gateway")] * 6)
    with pytest.raises(SourceUnavailableError) as caught:
        day_of_bars(client)
    message = str(caught.value)
    assert f"GET {DEFAULT_BASE_URL}/api/v3/klines?" in message
    assert "symbol=BTCUSDT" in message and f"startTime={START}" in message
    assert "failed 6 times" in message and "HTTP 502" in message
    assert len(fake.requests) == 6 and len(sleep.calls) == 5


def test_timeout_is_retried(client: BinanceClient, fake: FakeBinance, sleep: Sleeper) -> None:
    fake.queue((TIMEOUT, {}, ""))
    assert day_of_bars(client) == 24
    assert statuses(fake) == [TIMEOUT, 200]
    assert len(sleep.calls) == 1 and 0.5 <= sleep.calls[0] <= 1.0


def test_timeouts_forever_say_so(client: BinanceClient, fake: FakeBinance) -> None:
    fake.queue(*[(TIMEOUT, {}, "")] * 6)
    # Four timeouts in a row open the breaker: the provider is down, and the next request of
    # the run fails at once without asking.
    with pytest.raises(ProviderOutageError, match="4 failures in a row: ReadTimeout") as caught:
        day_of_bars(client)
    assert caught.value.fault is Fault.OUTAGE
    assert "binance unreachable at https://data-api.binance.vision since" in str(caught.value)
    asked = len(fake.requests)
    with pytest.raises(ProviderOutageError):
        day_of_bars(client)
    assert len(fake.requests) == asked == 4


# -- refusals ----------------------------------------------------------------------------------


def test_451_tells_to_set_the_base_url(clock: Clock, sleep: Sleeper) -> None:
    fake = FakeBinance([BTC], clock=clock, region_blocked=True)
    client = make_client(fake, clock, sleep, "https://api.binance.com")
    with client, pytest.raises(BinanceRegionError) as caught:
        day_of_bars(client)
    message = str(caught.value)
    assert "COINFILL_BINANCE_BASE_URL" in message
    assert "data-api.binance.vision" in message
    assert "https://api.binance.com" in message and "451" in message
    assert isinstance(caught.value, ConfigurationError)
    assert len(fake.requests) == 1 and sleep.calls == []


@pytest.mark.parametrize("pair", ["XYZUSDT", "NEWUSDT"])
def test_unknown_pair_names_the_pair(
    client: BinanceClient, fake: FakeBinance, sleep: Sleeper, pair: str
) -> None:
    with pytest.raises(BinanceError) as caught:
        list(client.klines(pair, "1h", START, END))
    message = str(caught.value)
    assert f"pair {pair} is not listed" in message
    assert "coinfill assets add" in message and "coinfill assets deactivate" in message
    assert len(fake.requests) == 1 and sleep.calls == []  # a 400 is not retried


def test_interval_not_offered_is_refused_before_any_request(
    client: BinanceClient, fake: FakeBinance
) -> None:
    with pytest.raises(BinanceError, match=r"interval '1w' is not offered; choose one of 1m, "):
        list(client.klines("BTCUSDT", "1w", START, END))
    assert fake.requests == []


def test_interval_binance_rejects_is_explained(client: BinanceClient, fake: FakeBinance) -> None:
    with pytest.raises(BinanceError, match=r"interval '2m' is not offered \('Invalid interval"):
        client.page("BTCUSDT", "2m", START, END)
    assert len(fake.requests) == 1


def test_other_400_stays_a_request_error(client: BinanceClient, fake: FakeBinance) -> None:
    with pytest.raises(SourceRequestError) as caught:
        client.page("BTCUSDT", "1h", START, END, limit=5000)
    assert not isinstance(caught.value, BinanceError)
    assert caught.value.status == 400 and "-1130" in caught.value.body


# -- bodies that are not bars --------------------------------------------------------------------


def test_non_json_body_is_a_response_error(client: BinanceClient, fake: FakeBinance) -> None:
    broken = (200, {"Content-Type": "text/html"}, "<html>maintenance</html>")
    fake.queue(broken)
    assert day_of_bars(client) == 24  # asked again: a broken 200 is transient
    assert len(fake.requests) == 2
    fake.queue(*[broken] * 6)
    with pytest.raises(SourceResponseError, match="not JSON: b'<html>maintenance") as caught:
        day_of_bars(client)
    assert "/api/v3/klines?symbol=BTCUSDT" in str(caught.value)
    assert "asked 6 times" in str(caught.value)


def test_json_object_body_is_a_response_error(client: BinanceClient, fake: FakeBinance) -> None:
    fake.queue(*[(200, {}, json.dumps({"code": 0, "msg": "ok"}))] * 6)
    with pytest.raises(SourceResponseError, match="not a list of bars"):
        day_of_bars(client)


def test_exchange_info_without_symbols_is_a_response_error(
    client: BinanceClient, fake: FakeBinance
) -> None:
    fake.queue(*[(200, {}, json.dumps({"timezone": "UTC"}))] * 6)
    with pytest.raises(SourceResponseError, match="exchangeInfo answered an unexpected body"):
        client.exchange_info()
