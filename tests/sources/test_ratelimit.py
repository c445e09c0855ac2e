"""Rate limiters: the local token bucket (fake and real clocks, threads), the process-wide
sharing of buckets, and Prefect's global concurrency limit against a real Prefect API."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from coinfill.errors import ConfigurationError
from coinfill.sources.ratelimit import PrefectRateLimit, TokenBucket, local_bucket, make_limiter


class FakeClock:
    """A monotonic clock that only moves when ``sleep`` is called (or ``advance``)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def no_prefect_server() -> Iterator[None]:
    """No PREFECT_API_URL, whatever the profile or an enclosing harness says."""
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert not PREFECT_API_URL.value()
        yield


# -- TokenBucket with a fake clock -------------------------------------------------------------


def test_bucket_spaces_acquisitions_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, burst=1, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(10):
        bucket.acquire()
    assert sum(clock.sleeps) == pytest.approx(9.0)
    assert clock.now - start == pytest.approx(9.0)
    assert len(clock.sleeps) == 9
    assert all(s == pytest.approx(1.0) for s in clock.sleeps)


def test_bucket_burst_lets_a_burst_through_then_holds_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    assert clock.sleeps == []
    bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.5)]
    bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.5), pytest.approx(0.5)]


def test_bucket_refills_while_idle_but_never_beyond_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    clock.advance(100.0)  # a long pause refills only up to the burst
    for _ in range(3):
        bucket.acquire()
    assert clock.sleeps == []
    bucket.acquire()
    assert clock.sleeps == [pytest.approx(1.0)]


def test_bucket_partial_refill_shortens_the_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, burst=1, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    clock.advance(0.1)  # 0.4 of a token back
    bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.15)]


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.5)])
def test_bucket_rejects_impossible_settings(rate: float, burst: float) -> None:
    with pytest.raises(ConfigurationError, match="rate limit must be > 0 requests/s"):
        TokenBucket(rate, burst)


def test_make_limiter_with_zero_rate_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        make_limiter(unique("zero"), 0, "local")


# -- TokenBucket with the real clock and threads -----------------------------------------------


def test_bucket_holds_the_rate_across_threads() -> None:
    rate = 20.0
    bucket = TokenBucket(rate)
    times: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        for _ in range(3):
            bucket.acquire()
            with lock:
                times.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(times) == 12
    times.sort()
    tolerance = 0.01
    for i in range(len(times)):
        for k in range(1, len(times) - i):
            assert times[i + k] - times[i] >= k / rate - tolerance, (i, k, times)
    # Every window of 1 s holds at most rate + 1 requests; and none of them were lost.
    assert times[-1] - times[0] >= 11 / rate - tolerance
    assert times[-1] - times[0] < 11 / rate + 0.5


# -- make_limiter without a Prefect server -----------------------------------------------------


def test_local_mode_shares_one_bucket_per_provider() -> None:
    name = unique("x")
    first = make_limiter(name, 1, "local")
    second = make_limiter(name, 1, "local")
    assert isinstance(first, TokenBucket)
    assert first is second
    assert first is local_bucket(name, 1)
    assert first.rate == 1
    assert make_limiter(unique("y"), 1, "local") is not first
    assert "this process only" in first.describe()


def test_prefect_mode_without_server_is_a_configuration_error(no_prefect_server: None) -> None:
    name = unique("fred")
    with pytest.raises(ConfigurationError) as caught:
        make_limiter(name, 2, "prefect")
    message = str(caught.value)
    assert "PREFECT_API_URL" in message
    assert f"prefect gcl create {name} --limit 1 --slot-decay-per-second 2" in message


def test_auto_mode_without_server_falls_back_to_the_local_bucket(
    no_prefect_server: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="coinfill.sources.ratelimit")
    name = unique("fred")
    limiter = make_limiter(name, 1, "auto")
    assert isinstance(limiter, TokenBucket)
    assert limiter is make_limiter(name, 1, "local")
    assert "local token bucket" in caplog.text and "PREFECT_API_URL" in caplog.text


def test_unreachable_server_falls_back_in_auto_and_fails_in_prefect_mode() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
        assert isinstance(make_limiter(unique("fred"), 1, "auto"), TokenBucket)
        with pytest.raises(ConfigurationError, match="could not be asked"):
            make_limiter(unique("fred"), 1, "prefect")


# -- with a real Prefect API (keep these last: the harness lives until the module ends) --------


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    """A throw-away Prefect API for this module; failing to start it fails the tests."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


def create_limit(name: str, *, limit: int = 1, decay: float = 5.0, active: bool = True) -> None:
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(
                name=name, limit=limit, slot_decay_per_second=decay, active=active
            )
        )


def test_auto_mode_uses_the_global_limit_and_holds_its_rate(prefect_api: None) -> None:
    name = unique("fred")
    create_limit(name, limit=1, decay=5.0)
    limiter = make_limiter(name, 5, "auto")
    assert limiter == PrefectRateLimit(name)
    assert name in limiter.describe()
    started = time.monotonic()
    for _ in range(6):
        limiter.acquire()
    elapsed = time.monotonic() - started
    assert elapsed >= 0.8, elapsed  # 1 slot, decaying at 5/s: 5 waits of ~0.2 s
    assert make_limiter(name, 5, "prefect") == PrefectRateLimit(name)


def test_auto_mode_without_the_named_limit_falls_back(prefect_api: None) -> None:
    assert PREFECT_API_URL.value()
    limiter = make_limiter("missing-name", 1, "auto")
    assert isinstance(limiter, TokenBucket)
    assert limiter is local_bucket("missing-name", 1)


def test_prefect_mode_without_the_named_limit_is_a_configuration_error(
    prefect_api: None,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_limiter("missing-name", 1, "prefect")
    message = str(caught.value)
    assert "no global concurrency limit 'missing-name'" in message
    assert "prefect gcl create missing-name" in message


def test_limit_without_slot_decay_is_not_a_rate(prefect_api: None) -> None:
    name = unique("nodecay")
    create_limit(name, limit=1, decay=0.0)
    assert isinstance(make_limiter(name, 1, "auto"), TokenBucket)
    with pytest.raises(ConfigurationError, match="no slot decay"):
        make_limiter(name, 1, "prefect")


def test_inactive_limit_is_not_used(prefect_api: None) -> None:
    name = unique("inactive")
    create_limit(name, limit=1, decay=5.0, active=False)
    assert isinstance(make_limiter(name, 1, "auto"), TokenBucket)
    with pytest.raises(ConfigurationError, match="inactive"):
        make_limiter(name, 1, "prefect")
