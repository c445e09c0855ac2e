"""HttpSource: one rate-limited attempt at a time, retries with capped backoff, and no secret
in any error or log line. HTTP goes through ``httpx.MockTransport`` or the local FakeFred."""

from __future__ import annotations

import json
import logging
import random
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from coinfill.sources.faults import ProviderOutageError
from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceRequestError,
    SourceUnavailableError,
    retry_after,
)
from tests.fakes.fred_server import NO_SERIES_MESSAGE, FakeFred, SeriesSpec

SECRET = "s3cr3t-key"
BASE = "https://api.stlouisfed.org"
PATH = "/fred/series/observations"
PARAMS: dict[str, Any] = {"series_id": "DGS10", "api_key": SECRET, "file_type": "json"}
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)

Step = httpx.Response | Callable[[httpx.Request], httpx.Response]


class RecordingSleep:
    """An injected ``sleep`` that records the delays and does not wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class CountingLimiter:
    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self, cost: float = 1.0) -> None:
        self.acquired += 1

    def describe(self) -> str:
        return "counting limiter"


class Script:
    """A MockTransport handler answering with ``steps`` in order, then a FRED page forever."""

    def __init__(self, *steps: Step) -> None:
        self.steps: deque[Step] = deque(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.popleft() if self.steps else ok()
        return step(request) if callable(step) else step


def fred_page(observations: list[dict[str, str]]) -> dict[str, Any]:
    """A body in the format of FRED's ``series/observations`` JSON answer."""
    return {
        "realtime_start": "2026-11-21",
        "realtime_end": "2026-11-21",
        "observation_start": "1600-01-01",
        "observation_end": "9999-12-31",
        "units": "lin",
        "output_type": 1,
        "file_type": "json",
        "order_by": "observation_date",
        "sort_order": "asc",
        "count": len(observations),
        "offset": 0,
        "limit": 100000,
        "observations": observations,
    }


OBSERVATIONS = [
    {
        "realtime_start": "2026-11-21",
        "realtime_end": "2026-11-21",
        "date": "2024-01-02",
        "value": "3.95",
    },
    {
        "realtime_start": "2026-11-21",
        "realtime_end": "2026-11-21",
        "date": "2024-01-15",
        "value": ".",
    },
]


def ok() -> httpx.Response:
    return httpx.Response(200, json=fred_page(OBSERVATIONS))


def fred_error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, headers=headers, json={"error_code": status, "error_message": message}
    )


def raising(exc_type: type[httpx.TransportError], message: str) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise exc_type(message.format(url=request.url), request=request)

    return step


def make_source(
    script: Script,
    *,
    retry: RetryPolicy = FAST,
    sleep: RecordingSleep | None = None,
    limiter: CountingLimiter | None = None,
    rng: random.Random | None = None,
) -> HttpSource:
    return HttpSource(
        "FRED",
        BASE,
        limiter or CountingLimiter(),
        secrets=[SECRET],
        retry=retry,
        transport=httpx.MockTransport(script),
        sleep=sleep or RecordingSleep(),
        rng=rng or random.Random(0),
    )


# -- Retry-After -------------------------------------------------------------------------------


def test_429_with_retry_after_seconds_waits_then_succeeds() -> None:
    script = Script(
        fred_error(429, "Too Many Requests.  Exceeded Rate Limit", {"Retry-After": "2"})
    )
    sleep = RecordingSleep()
    with make_source(script, sleep=sleep) as source:
        response = source.get(PATH, PARAMS)
    assert response.status_code == 200
    assert response.json()["observations"] == OBSERVATIONS
    assert len(script.requests) == 2 == source.requests
    assert len(sleep.calls) == 1
    assert sleep.calls[0] >= 2.0
    assert source.waited == pytest.approx(sum(sleep.calls))


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == pytest.approx(30.0)
    assert retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0  # already past
    assert retry_after("120") == 120.0
    assert retry_after(" 2.5 ") == 2.5
    assert retry_after("-3") == 0.0
    assert retry_after(None) is None
    assert retry_after("   ") is None
    assert retry_after("soon, please") is None


def test_429_with_retry_after_http_date_is_honoured() -> None:
    when = datetime.now(UTC) + timedelta(seconds=6)
    header = format_datetime(when, usegmt=True)  # second resolution: up to 1 s is cut
    script = Script(fred_error(503, "Service Unavailable", {"Retry-After": header}))
    sleep = RecordingSleep()
    with make_source(script, sleep=sleep) as source:
        assert source.get(PATH, PARAMS).status_code == 200
    assert len(script.requests) == 2
    assert len(sleep.calls) == 1
    assert 4.5 <= sleep.calls[0] <= 6.0


def test_retry_after_longer_than_allowed_fails_at_once() -> None:
    script = Script(fred_error(429, "Too Many Requests", {"Retry-After": "3600"}))
    sleep = RecordingSleep()
    policy = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=60)
    with (
        make_source(script, sleep=sleep, retry=policy) as source,
        pytest.raises(SourceUnavailableError) as caught,
    ):
        source.get(PATH, PARAMS)
    message = str(caught.value)
    assert "FRED" in message
    assert "3600 s" in message and "Retry-After" in message and "429" in message
    assert "60 s" in message
    assert len(script.requests) == 1
    assert sleep.calls == []


def test_retry_after_http_date_too_far_ahead_fails_at_once() -> None:
    header = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    script = Script(fred_error(503, "Maintenance", {"Retry-After": header}))
    with make_source(script) as source, pytest.raises(SourceUnavailableError, match="Retry-After"):
        source.get(PATH, PARAMS)
    assert len(script.requests) == 1


# -- backoff -----------------------------------------------------------------------------------


def test_5xx_are_retried_with_growing_capped_backoff() -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.1, max_delay=0.25)
    script = Script(
        fred_error(500, "Internal Server Error"),
        fred_error(502, "Bad Gateway"),
        fred_error(503, "Service Unavailable"),
        fred_error(504, "Gateway Timeout"),
    )
    sleep = RecordingSleep()
    with make_source(script, retry=policy, sleep=sleep, rng=random.Random(0)) as source:
        response = source.get(PATH, PARAMS)
    assert response.status_code == 200
    assert len(script.requests) == 5
    delays = sleep.calls
    assert len(delays) == 4
    # Full jitter within [ceiling/2, ceiling]; the ceiling doubles and is capped at max_delay.
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[0] < delays[1] < delays[2]
    assert all(delay <= policy.max_delay for delay in delays)
    assert source.waited == pytest.approx(sum(delays))


def test_backoff_never_exceeds_max_delay_on_many_attempts() -> None:
    policy = RetryPolicy(attempts=12, base_delay=1.0, max_delay=3.0)
    rng = random.Random(0)
    delays = [policy.backoff(attempt, rng) for attempt in range(1, 13)]
    assert all(0.5 <= delay <= 3.0 for delay in delays)
    assert max(delays[6:]) > 2.0  # the cap is reached, not an ever-small delay
    assert delays[0] <= 1.0


def test_backoff_with_the_same_seed_is_reproducible() -> None:
    script_a = Script(fred_error(503, "x"), fred_error(503, "x"))
    script_b = Script(fred_error(503, "x"), fred_error(503, "x"))
    sleep_a, sleep_b = RecordingSleep(), RecordingSleep()
    with make_source(script_a, sleep=sleep_a, rng=random.Random(7)) as source:
        source.get(PATH, PARAMS)
    with make_source(script_b, sleep=sleep_b, rng=random.Random(7)) as source:
        source.get(PATH, PARAMS)
    assert sleep_a.calls == sleep_b.calls and len(sleep_a.calls) == 2


@pytest.mark.parametrize("status", [408, 425, 429, 500, 503, 599])
def test_retryable_statuses_are_retried(status: int) -> None:
    script = Script(fred_error(status, "try again"))
    with make_source(script) as source:
        assert source.get(PATH, PARAMS).status_code == 200
    assert len(script.requests) == 2


# -- transport failures ------------------------------------------------------------------------


def test_read_timeout_against_fake_fred_is_retried() -> None:
    spec = SeriesSpec("DGS10", "d", datetime(2024, 1, 1).date(), base=3.0)
    with FakeFred([spec], api_key=SECRET) as fake:
        fake.queue((0, {"sleep": "1.0"}, b""))
        sleep = RecordingSleep()
        source = HttpSource(
            "FRED",
            fake.url,
            CountingLimiter(),
            secrets=[SECRET],
            timeout=0.3,
            retry=FAST,
            sleep=sleep,
        )
        with source:
            params = {**PARAMS, "observation_start": "2024-01-01", "observation_end": "2024-01-31"}
            response = source.get(PATH, params)
        assert response.status_code == 200
        assert len(response.json()["observations"]) == 23
        assert len(fake.requests) == 2
        assert len(sleep.calls) == 1


def test_read_timeout_from_transport_is_retried() -> None:
    script = Script(raising(httpx.ReadTimeout, "timed out"))
    with make_source(script) as source:
        assert source.get(PATH, PARAMS).status_code == 200
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    "exc_type",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError],
)
def test_connection_failures_are_retried(exc_type: type[httpx.TransportError]) -> None:
    script = Script(raising(exc_type, "boom"), raising(exc_type, "boom again"))
    sleep = RecordingSleep()
    with make_source(script, sleep=sleep) as source:
        assert source.get(PATH, PARAMS).status_code == 200
    assert len(script.requests) == 3
    assert len(sleep.calls) == 2


def test_real_connection_refused_is_retried_then_reported() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = RecordingSleep()
    source = HttpSource(
        "FRED",
        f"http://127.0.0.1:{port}",
        CountingLimiter(),
        secrets=[SECRET],
        timeout=2,
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02),
        sleep=sleep,
    )
    with source, pytest.raises(SourceUnavailableError) as caught:
        source.get(PATH, PARAMS)
    assert source.requests == 3
    assert len(sleep.calls) == 2
    assert "ConnectError" in str(caught.value)
    assert SECRET not in str(caught.value)


# -- client errors are not retried -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, NO_SERIES_MESSAGE),
        (401, "Unauthorized."),
        (403, "Forbidden."),
        (404, "Not Found."),
    ],
)
def test_other_4xx_are_not_retried(status: int, message: str) -> None:
    script = Script(fred_error(status, message))
    sleep = RecordingSleep()
    limiter = CountingLimiter()
    with (
        make_source(script, sleep=sleep, limiter=limiter) as source,
        pytest.raises(SourceRequestError) as caught,
    ):
        source.get(PATH, PARAMS)
    assert type(caught.value) is SourceRequestError
    assert caught.value.status == status
    assert json.loads(caught.value.body)["error_message"] == message
    assert f"answered {status}" in str(caught.value)
    assert "FRED" in str(caught.value)
    assert len(script.requests) == 1 == limiter.acquired
    assert sleep.calls == []


def test_exhausted_retries_name_source_and_attempts() -> None:
    script = Script(*(fred_error(503, "Service Unavailable") for _ in range(10)))
    sleep = RecordingSleep()
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
    with (
        make_source(script, retry=policy, sleep=sleep) as source,
        pytest.raises(SourceUnavailableError) as caught,
    ):
        source.get(PATH, PARAMS)
    message = str(caught.value)
    assert message.startswith("FRED: GET ")
    assert "3 times" in message
    assert "HTTP 503" in message
    assert "series_id=DGS10" in message
    assert len(script.requests) == 3
    assert len(sleep.calls) == 2  # no pointless wait after the last attempt


# -- rate limiting -----------------------------------------------------------------------------


def test_limiter_is_acquired_once_per_attempt_before_the_request() -> None:
    limiter = CountingLimiter()
    seen: list[int] = []

    def record(response: httpx.Response) -> Step:
        def step(request: httpx.Request) -> httpx.Response:
            seen.append(limiter.acquired)
            return response

        return step

    script = Script(
        record(fred_error(503, "x")),
        record(fred_error(429, "x", {"Retry-After": "0"})),
        record(ok()),
    )
    with make_source(script, limiter=limiter) as source:
        source.get(PATH, PARAMS)
    assert seen == [1, 2, 3]
    assert limiter.acquired == 3 == source.requests


def test_limiter_is_acquired_for_attempts_that_time_out() -> None:
    limiter = CountingLimiter()
    script = Script(raising(httpx.ReadTimeout, "slow"), raising(httpx.ConnectError, "refused"))
    with make_source(script, limiter=limiter) as source:
        source.get(PATH, PARAMS)
    assert limiter.acquired == 3 == len(script.requests)


# -- redaction ---------------------------------------------------------------------------------


def echo_url(status: int) -> Step:
    """An error body that echoes the request URL, as many servers' error pages do."""

    def step(request: httpx.Request) -> httpx.Response:
        return fred_error(status, f"Bad Request.  Could not serve {request.url}")

    return step


def test_secret_is_in_the_request_but_not_in_describe() -> None:
    script = Script()
    with make_source(script) as source:
        source.get(PATH, PARAMS)
        described = source.describe(PATH, PARAMS)
    assert script.requests[0].url.params["api_key"] == SECRET  # the key does travel
    assert SECRET not in described
    assert "api_key=***" in described
    assert described.startswith(f"GET {BASE}{PATH}?")


def test_secret_not_in_4xx_error() -> None:
    script = Script(echo_url(400))
    with make_source(script) as source, pytest.raises(SourceRequestError) as caught:
        source.get(PATH, PARAMS)
    assert SECRET in caught.value.body  # the server did echo it ...
    assert SECRET not in str(caught.value)  # ... the message does not
    assert "***" in str(caught.value)


def test_secret_not_in_exhausted_5xx_error() -> None:
    script = Script(*(echo_url(500) for _ in range(4)))
    with make_source(script) as source, pytest.raises(SourceUnavailableError) as caught:
        source.get(PATH, PARAMS)
    assert SECRET not in str(caught.value)
    assert "api_key=***" in str(caught.value)


def test_secret_not_in_timeout_error() -> None:
    script = Script(*(raising(httpx.ReadTimeout, "timed out reading {url}") for _ in range(4)))
    # Four timeouts in a row: the breaker opens (an outage), saying the cause, masked.
    with make_source(script) as source, pytest.raises(ProviderOutageError) as caught:
        source.get(PATH, PARAMS)
    message = str(caught.value)
    assert "ReadTimeout" in message
    assert SECRET not in message
    assert message.count("***") >= 1  # in the echoed exception text, which names the URL
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_secret_not_in_any_log_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spec = SeriesSpec("DGS10", "d", datetime(2024, 1, 1).date(), base=3.0)
    with FakeFred([spec], api_key=SECRET) as fake:
        fake.queue((503, {"Retry-After": "0"}, b'{"error_code":503,"error_message":"busy"}'))
        source = HttpSource(
            "FRED",
            fake.url,
            CountingLimiter(),
            secrets=[SECRET],
            retry=FAST,
            sleep=RecordingSleep(),
        )
        with source:
            params = {**PARAMS, "observation_start": "2024-01-01", "observation_end": "2024-01-05"}
            assert source.get(PATH, params).status_code == 200
            with pytest.raises(SourceRequestError):
                source.get(PATH, {**params, "series_id": "NOSUCH"})
    names = {record.name for record in caplog.records}
    assert "httpx" in names  # httpx did log the request URLs ...
    assert "coinfill.sources.http" in names  # ... and the retry was logged
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(httpx_lines) == 3 and all("api_key=***" in line for line in httpx_lines)
    assert SECRET not in caplog.text
    assert "***" in caplog.text
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_secret_needing_url_encoding_is_redacted() -> None:
    secret = "abc+def/ghi="
    source = HttpSource(
        "X", BASE, CountingLimiter(), secrets=[secret], transport=httpx.MockTransport(Script())
    )
    with source:
        described = source.describe(PATH, {"api_key": secret})
    assert "abc%2Bdef%2Fghi%3D" not in described
    assert "***" in described


def test_secret_cut_by_truncation_does_not_leak_a_prefix() -> None:
    body = "x" * 285 + f"?api_key={SECRET}"  # the key starts at 294, the cut is at 300
    script = Script(httpx.Response(400, text=body))
    with make_source(script) as source, pytest.raises(SourceRequestError) as caught:
        source.get(PATH, PARAMS)
    assert "api_key=" in str(caught.value)
    assert SECRET[:6] not in str(caught.value)  # "s3cr3t" of "s3cr3t-key"
