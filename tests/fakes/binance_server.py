"""A local imitation of Binance's public spot market data API for offline tests and benchmarks.

Serves ``GET /api/v3/klines``, ``/api/v3/exchangeInfo``, ``/api/v3/ping`` and ``/api/v3/time``
in Binance's real formats, with its request-weight limit (a fixed window per clock minute,
``X-MBX-USED-WEIGHT-1M`` on every answer, 429 + ``Retry-After`` past the limit, a 418 IP ban for
a client that sends again before that ``Retry-After``) and its 451 restricted-location answer.

Behaviour chosen where Binance's is not documented (see :class:`FakeBinance`):

- a pair is unknown (-1121 ``Invalid symbol.``, absent from exchangeInfo) before ``listed_ms``;
  after ``delisted_ms`` it stays in exchangeInfo with status ``BREAK`` and its bars stay
  queryable, as Binance does for delisted pairs;
- bars are a deterministic function of (symbol, interval, open time): the currently open bar is
  returned already complete (its values do not change while it is open);
- weight is only spent by admitted requests (a 429 or 418 adds none); 400s spend it;
- intervals 1s..1w, 1M: 1d bars open at 00:00 UTC, 1w on Mondays, 1M on the 1st of each
  month; 3d bars open on multiples of 3 days since the epoch (Binance's anchor for 3d is
  not documented);
- a limit over 1,000 (or 0) answers -1130, a missing symbol/interval -1102, a startTime
  after endTime -1023, a non-numeric time or limit -1100.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from tests.fakes import fake_http
from tests.fakes.binance_bars import INTERVALS, bar_columns, klines_json, rows_as_lists
from tests.fakes.binance_rules import (
    BANNED,
    DEFAULT_LIMIT,
    INVALID_INTERVAL,
    INVALID_LIMIT,
    INVALID_SYMBOL,
    MAX_LIMIT,
    REGION_BLOCKED,
    START_AFTER_END,
    SYMBOL_RE,
    TOO_MUCH_WEIGHT,
    ApiError,
    PairSpec,
    illegal,
    long_param,
    mandatory,
    parse_symbols,
    rate_limit,
    select_bars,
    symbol_info,
)
from tests.fakes.fake_http import TIMEOUT as TIMEOUT
from tests.fakes.fake_http import FakeServer, Response, json_response

__all__ = ["REGION_BLOCKED", "TIMEOUT", "FakeBinance", "PairSpec", "serve_in_subprocess"]
KLINES_PATH = "/api/v3/klines"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
PING_PATH, TIME_PATH = "/api/v3/ping", "/api/v3/time"
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


class FakeBinance(FakeServer):
    """Binance spot market data on 127.0.0.1 (random port); use as a context manager, or
    ``transport()`` for an ``httpx.MockTransport``, or :func:`serve_in_subprocess`.

    Counters: ``count_429``, ``count_418``, ``max_window_weight`` (the most weight ever admitted
    in one minute: it never exceeds ``weight_limit``), ``window_weights`` (window start in clock
    seconds -> weight admitted), ``requests`` (the log). ``region_blocked`` may be flipped while
    running.
    """

    def __init__(
        self,
        pairs: Sequence[PairSpec],
        *,
        clock: Callable[[], float] = time.time,
        weight_limit: int = 6000,
        klines_weight: int = 2,
        exchange_info_weight: int = 20,
        ban_seconds: float = 120.0,
        region_blocked: bool = False,
        timeout_sleep: float = 5.0,
    ) -> None:
        super().__init__(clock=clock, timeout_sleep=timeout_sleep)
        self.pairs: dict[str, PairSpec] = {spec.symbol: spec for spec in pairs}
        self.weight_limit = weight_limit
        self.weights = {
            KLINES_PATH: klines_weight,
            EXCHANGE_INFO_PATH: exchange_info_weight,
            PING_PATH: 1,
            TIME_PATH: 1,
        }
        self.ban_seconds = ban_seconds
        self.region_blocked = region_blocked
        self.count_429 = 0
        self.count_418 = 0
        self.max_window_weight = 0
        self.window_weights: dict[int, int] = {}
        self._window = -1
        self._used = 0
        self._retry_until = 0.0  # after a 429: a request before this is banned
        self._banned_until = 0.0

    # -- test helpers ----------------------------------------------------------------------------

    def expected_bars(
        self,
        symbol: str,
        interval: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        *,
        limit: int | None = None,
    ) -> list[list[int | str]]:
        """The bars the server has now opened in ``[start_ms, end_ms]`` (first ``limit`` of them,
        or the last ``limit`` when ``start_ms`` is None), as ``json.loads`` of a page gives them."""
        spec = self.pairs[symbol]
        keys = select_bars(spec, interval, start_ms, end_ms, limit, int(self.clock() * 1000))
        return rows_as_lists(bar_columns(symbol, spec.base_price, interval, keys))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            windows = {str(start): used for start, used in self.window_weights.items()}
            counters = {
                "count_429": self.count_429,
                "count_418": self.count_418,
                "max_window_weight": self.max_window_weight,
                "weight_limit": self.weight_limit,
                "window_weights": windows,
            }
        return {**super().stats(), **counters}

    # -- request handling ------------------------------------------------------------------------

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        now = self.clock()
        if self.region_blocked:
            return json_response(451, REGION_BLOCKED)
        if path not in self.weights:
            return (
                404,
                {"Content-Type": "text/html"},
                "<html><body><h1>404 Not Found</h1></body></html>",
            )
        refused, used = self._spend(now, self.weights[path])
        if refused is not None:
            return refused
        extra = {WEIGHT_HEADER: str(used)}
        try:
            if path == KLINES_PATH:
                return (
                    200,
                    {"Content-Type": fake_http.JSON_TYPE, **extra},
                    self._klines(params, now),
                )
            if path == EXCHANGE_INFO_PATH:
                return json_response(200, self._exchange_info(params, now), extra)
            if path == TIME_PATH:
                return json_response(200, {"serverTime": int(now * 1000)}, extra)
            return json_response(200, {}, extra)
        except ApiError as error:
            return json_response(400, error.payload, extra)

    def _spend(self, now: float, weight: int) -> tuple[Response | None, int]:
        """Admit a request of ``weight`` now, or the 429/418 refusing it; and the weight used."""
        with self._lock:
            window = math.floor(now / 60)
            if window != self._window:
                self._window, self._used = window, 0
            if now < self._retry_until:  # sent again before the 429's Retry-After: banned
                self._banned_until = now + self.ban_seconds
                self._retry_until = 0.0
            if now < self._banned_until:
                self.count_418 += 1
                until_ms = int(self._banned_until * 1000)
                payload = {"code": -1003, "msg": BANNED.format(until=until_ms)}
                wait = max(1, math.ceil(self._banned_until - now))
                return self._refusal(418, payload, wait), self._used
            if self._used + weight > self.weight_limit:
                self.count_429 += 1
                self._retry_until = (window + 1) * 60.0
                payload = {"code": -1003, "msg": TOO_MUCH_WEIGHT.format(limit=self.weight_limit)}
                wait = max(1, math.ceil(self._retry_until - now))
                return self._refusal(429, payload, wait), self._used
            self._used += weight
            self.window_weights[window * 60] = self._used
            self.max_window_weight = max(self.max_window_weight, self._used)
            return None, self._used

    def _refusal(self, status: int, payload: dict[str, Any], wait: int) -> Response:
        headers = {"Retry-After": str(wait), WEIGHT_HEADER: str(self._used)}
        return json_response(status, payload, headers)

    def _pair(self, symbol: str, now_ms: int) -> PairSpec:
        if not SYMBOL_RE.fullmatch(symbol):
            raise illegal("symbol", "^[A-Z0-9-_.]{1,20}$")
        spec = self.pairs.get(symbol)
        if spec is None or spec.listed_ms > now_ms:
            raise ApiError(INVALID_SYMBOL)
        return spec

    def _klines(self, params: Mapping[str, str], now: float) -> bytes:
        now_ms = int(now * 1000)
        spec = self._pair(mandatory(params, "symbol"), now_ms)
        interval = mandatory(params, "interval")
        if interval not in INTERVALS:
            raise ApiError(INVALID_INTERVAL)
        limit = long_param(params, "limit")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise ApiError(INVALID_LIMIT)
        start, end = long_param(params, "startTime"), long_param(params, "endTime")
        if start is not None and end is not None and start > end:
            raise ApiError(START_AFTER_END)
        keys = select_bars(spec, interval, start, end, limit or DEFAULT_LIMIT, now_ms)
        return klines_json(bar_columns(spec.symbol, spec.base_price, interval, keys))

    def _exchange_info(self, params: Mapping[str, str], now: float) -> dict[str, Any]:
        now_ms = int(now * 1000)
        if "symbol" in params:
            specs = [self._pair(params["symbol"], now_ms)]
        elif "symbols" in params:
            specs = [self._pair(name, now_ms) for name in parse_symbols(params["symbols"])]
        else:
            specs = [spec for spec in self.pairs.values() if spec.listed_ms <= now_ms]
        return {
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": [
                rate_limit("REQUEST_WEIGHT", "MINUTE", 1, self.weight_limit),
                rate_limit("ORDERS", "SECOND", 10, 100),
                rate_limit("ORDERS", "DAY", 1, 200000),
                rate_limit("RAW_REQUESTS", "MINUTE", 5, 61000),
            ],
            "exchangeFilters": [],
            "symbols": [symbol_info(spec, now_ms) for spec in specs],
        }


def _build(pairs: list[dict[str, Any]], options: dict[str, Any]) -> FakeBinance:
    specs = [PairSpec(**{**p, "gaps": tuple(map(tuple, p.get("gaps") or ()))}) for p in pairs]
    return FakeBinance(specs, **options)


@contextmanager
def serve_in_subprocess(pairs: Sequence[PairSpec], **options: Any) -> Iterator[str]:
    """A :class:`FakeBinance` socket server in a spawned process; yields its base URL.

    ``options`` are :class:`FakeBinance`'s keyword arguments and must be picklable (``clock``
    a module-level function). Counters: ``fake_http.fetch_stats(url)`` (``GET /_fake/stats``).
    """
    plain = [asdict(spec) for spec in pairs]
    with fake_http.serve_in_subprocess(_build, plain, options) as url:
        yield url
