"""Request rate limits per provider: one budget for every client of a provider.

With a Prefect server configured and a global concurrency limit named after the provider
(``fred``: limit 1, slot decay 1/s — Terraform or ``make up`` creates it), every run on every
worker draws from the same budget through ``rate_limit(name, strict=True)``. Without one, a
token bucket shared by the clients of this process holds the rate; a second process on the
same key would then not see it, which is why production uses the global limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from coinfill.errors import ConfigurationError

log = logging.getLogger(__name__)

LimiterMode = Literal["auto", "local", "prefect"]


class RateLimiter(Protocol):
    """Blocks until one more request of ``cost`` (Binance: its request weight) may go out."""

    def acquire(self, cost: float = 1.0) -> None: ...

    def describe(self) -> str: ...


@dataclass
class TokenBucket:
    """``rate`` requests per second with bursts of ``burst``; thread-safe.

    A caller reserves its slot under the lock and sleeps outside it, so waiting threads are
    served in order and never all wake at once. ``clock``/``sleep`` are injectable for tests.
    """

    rate: float
    burst: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False)
    _updated: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ConfigurationError(
                f"rate limit must be > 0 requests/s with a burst ≥ 1, "
                f"got rate={self.rate:g}, burst={self.burst:g}"
            )
        self._tokens = self.burst
        self._updated = self.clock()

    def acquire(self, cost: float = 1.0) -> None:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= cost
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)

    def describe(self) -> str:
        burst = f", bursts of {self.burst:g}" if self.burst > 1 else ""
        return f"local token bucket, {self.rate:g} per second{burst} (this process only)"


@dataclass
class SlidingWindow:
    """At most ``limit`` requests in any ``window`` seconds — CoinMetrics' own rule (10 per
    6 s), so a short run sends its first ``limit`` requests at once. ``margin`` widens the
    window a little: the provider counts arrivals, which network jitter can bunch up."""

    limit: int
    window: float
    margin: float = 0.05
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent: deque[float] = field(init=False, default_factory=deque)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ConfigurationError(
                f"a rate limit needs ≥ 1 request per window > 0 s, got {self.limit} per "
                f"{self.window:g} s"
            )

    def acquire(self, cost: float = 1.0) -> None:
        with self._lock:
            span = self.window * (1 + self.margin)
            now = self.clock()
            at = now
            if len(self._sent) >= self.limit:
                at = max(now, self._sent[-self.limit] + span)
            self._sent.append(at)
            while len(self._sent) > self.limit:
                self._sent.popleft()
        if at > now:
            self.sleep(at - now)

    def describe(self) -> str:
        return f"local sliding window, {self.limit} per {self.window:g} s (this process only)"


_WINDOWS: dict[tuple[str, int, float], SlidingWindow] = {}


def local_window(name: str, limit: int, window: float) -> SlidingWindow:
    """The process-wide sliding window of a provider."""
    with _BUCKETS_LOCK:
        key = (name, limit, window)
        if key not in _WINDOWS:
            _WINDOWS[key] = SlidingWindow(limit, window)
        return _WINDOWS[key]


@dataclass(frozen=True)
class PrefectRateLimit:
    """A Prefect global concurrency limit with slot decay: shared by every run and worker."""

    name: str

    def acquire(self, cost: float = 1.0) -> None:
        from prefect.concurrency.sync import rate_limit

        rate_limit(self.name, occupy=max(1, round(cost)), strict=True)

    def describe(self) -> str:
        return f"Prefect global concurrency limit '{self.name}' (shared across runs)"


_BUCKETS: dict[tuple[str, float, float], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def local_bucket(name: str, rate: float, burst: float = 1.0) -> TokenBucket:
    """The process-wide bucket of a provider: every client of ``name`` shares it."""
    with _BUCKETS_LOCK:
        key = (name, rate, burst)
        if key not in _BUCKETS:
            _BUCKETS[key] = TokenBucket(rate, burst)
        return _BUCKETS[key]


def make_limiter(
    name: str, rate: float, mode: LimiterMode = "auto", *, burst: float = 1.0
) -> RateLimiter:
    """The limiter for provider ``name``: Prefect's global limit if configured, else local.

    ``prefect`` insists on the global limit (a missing one is a configuration error);
    ``auto`` uses it when the server has it and otherwise says why it falls back.
    """
    shared = global_limit(name, rate, mode, burst=burst, fallback="a local token bucket")
    return shared if shared is not None else local_bucket(name, rate, burst)


def global_limit(
    name: str, rate: float, mode: LimiterMode, *, burst: float = 1.0, fallback: str = ""
) -> PrefectRateLimit | None:
    """Prefect's global limit ``name`` when usable; ``None`` (said in the log) when not, or
    a :class:`ConfigurationError` in ``prefect`` mode."""
    if mode == "local":
        return None
    found = _global_limit_problem(name)
    if found is None:
        return PrefectRateLimit(name)
    problem, creatable = found
    hint = (
        f"create it with `prefect gcl create {name} --limit {max(1, round(burst))} "
        f"--slot-decay-per-second {rate:g}` (Terraform does in production)"
        if creatable
        else "check PREFECT_API_URL and the server"
    )
    if mode == "prefect":
        raise ConfigurationError(f"rate limit '{name}': {problem}; {hint}")
    log.info(
        "rate limit '%s': %s; using %s (%s)", name, problem, fallback or "no shared limit", hint
    )
    return None


def _global_limit_problem(name: str) -> tuple[str, bool] | None:
    """Why the global limit ``name`` cannot be used and whether creating it is the fix, or
    ``None`` when it can be used."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return "no Prefect server is configured (PREFECT_API_URL)", True
    try:
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        return f"the Prefect server has no global concurrency limit '{name}'", True
    except Exception as exc:  # an unreachable server must not stop a local run
        return f"the Prefect server could not be asked ({type(exc).__name__}: {exc})", False
    if not limit.active:
        return f"the global concurrency limit '{name}' is inactive", False
    if not limit.slot_decay_per_second:
        return f"the global concurrency limit '{name}' has no slot decay, so it is no rate", False
    return None
