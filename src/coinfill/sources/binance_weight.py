"""Binance's request-weight budget: ``limit`` weight per fixed clock minute, per IP.

Binance counts the weight of every request an IP sends in the current minute and reports it in
``X-MBX-USED-WEIGHT-1M``; past the limit it answers 429 with ``Retry-After``, and an IP that
keeps sending after a 429 is banned with 418. So the budget:

- reserves each request's weight in the current minute before it goes out, and waits for the
  next minute when the request would not fit (the whole minute's budget may be spent at once:
  that is what the limit allows);
- raises its count to what the server reports (other clients on the same IP spend from it too);
- after a 429 or 418, holds every request of this process until ``Retry-After`` has passed.

With a Prefect global concurrency limit ``binance`` (slot decay = limit/60 per second) every
run on every worker also draws from one shared budget (``base``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import httpx

from coinfill.sources.http import SourceUnavailableError, retry_after
from coinfill.sources.ratelimit import RateLimiter

WINDOW_SECONDS = 60.0
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


class WeightBudget:
    """A :class:`RateLimiter` whose cost is Binance request weight; thread-safe."""

    def __init__(
        self,
        limit: int = 6000,
        *,
        base: RateLimiter | None = None,
        margin_seconds: float = 0.25,
        max_wait: float = 600.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.base = base
        # Our clock and Binance's differ a little: a new minute starts this much later for us.
        self.margin = margin_seconds
        # A ban longer than this fails the request at once instead of stalling the run.
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self._window = -1
        self._used = 0.0
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0
        self.peak = 0.0

    def acquire(self, cost: float = 1.0) -> None:
        if cost > self.limit:
            raise ValueError(f"a request of weight {cost:g} exceeds the budget of {self.limit}")
        while True:
            wait = self._reserve(cost)
            if wait <= 0:
                break
            self.waited += wait
            self.sleep(wait)
        if self.base is not None:
            self.base.acquire(cost)

    def _reserve(self, cost: float) -> float:
        with self._lock:
            now = self.clock()
            if now < self._blocked_until:
                if self._blocked_until - now > self.max_wait:
                    raise SourceUnavailableError(
                        f"binance: asked to wait {self._blocked_until - now:.0f} s more "
                        f"(Retry-After of a 429/418); more than {self.max_wait:.0f} s, so this "
                        "request stops here — retry later"
                    )
                return self._blocked_until - now
            window = self._window_of(now)
            if window != self._window:
                self._window, self._used = window, 0.0
            if self._used + cost <= self.limit:
                self._used += cost
                self.peak = max(self.peak, self._used)
                return 0.0
            return (window + 1) * WINDOW_SECONDS + self.margin - now

    def _window_of(self, now: float) -> int:
        return int((now - self.margin) // WINDOW_SECONDS)

    def observe(self, response: httpx.Response) -> None:
        """Learn from a response: the server's count of this minute, and any back-off order."""
        with self._lock:
            now = self.clock()
            reported = response.headers.get(USED_WEIGHT_HEADER)
            if reported is not None and self._window_of(now) == self._window:
                with contextlib.suppress(ValueError):  # a garbled header teaches nothing
                    self._used = max(self._used, float(reported))
            if response.status_code in (418, 429):
                asked = retry_after(response.headers.get("Retry-After"))
                # No Retry-After: wait for the next minute, when the weight count resets.
                until = now + asked if asked is not None else self._next_window(now)
                self._blocked_until = max(self._blocked_until, until)

    def _next_window(self, now: float) -> float:
        return (self._window_of(now) + 1) * WINDOW_SECONDS + self.margin

    def describe(self) -> str:
        shared = f"; and {self.base.describe()}" if self.base is not None else ""
        return f"Binance weight budget {self.limit}/min, tracked from {USED_WEIGHT_HEADER}{shared}"
