"""A local imitation of CoinGecko's public (free / demo) market chart API for offline tests.

Serves ``GET /api/v3/coins/{id}/market_chart/range?vs_currency=usd&from=&to=`` and
``/api/v3/coins/{id}/market_chart?vs_currency=usd&days=N`` (and ``/api/v3/ping``) in CoinGecko's
real formats, with its automatic granularity, the free tier's 365-day limit (401, error 10012),
a requests-per-minute limit (429 + ``Retry-After``) and the demo key header.

Granularity follows CoinGecko's documentation ("1 day from current time = 5-minutely; 1 day
from any time (except current time) = hourly; 2-90 days = hourly; above 90 days = daily
(00:00 UTC)"): a range of at most a day that starts within the last 24 hours gives 5-minutely
points, any other range of at most 90 days hourly points, a longer one daily points.
Hourly and 5-minutely points sit a few seconds to minutes after their hour / 5 minutes
(deterministic jitter), like the real ones; when the range reaches now, the last point is now.
Values are deterministic functions of (coin id, point time). Every request answered counts
toward the per-minute limit (errors too, as CoinGecko documents; refused 429s do not), in a
sliding 60-second window.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tests.fakes.binance_bars import DAY_MS, HOUR_MS, Ints, price_path, seed_of, uniforms
from tests.fakes.fake_http import TIMEOUT as TIMEOUT
from tests.fakes.fake_http import FakeServer, Response, json_response

CHART_RE = re.compile(r"/api/v3/coins/([^/]+)/market_chart(/range)?/?")
PING_PATH = "/api/v3/ping"
DEMO_KEY_HEADER = "x-cg-demo-api-key"
DEMO_KEY_PARAM = "x_cg_demo_api_key"
FIVE_MINUTES_MS = 300_000
SUPPORTED_CURRENCIES = frozenset({"usd", "eur", "btc"})
OUT_OF_RANGE_CODE = 10012
OUT_OF_RANGE_MESSAGE = (
    "Your request exceeds the allowed time range. Public API users are limited to querying "
    "historical data within the past 365 days. Upgrade to a paid plan to enjoy full historical "
    "data access: https://www.coingecko.com/en/api/pricing. "
)
RATE_LIMIT_MESSAGE = (
    "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to "
    "subscribe to our API plans for higher rate limits."
)
INVALID_KEY_MESSAGE = (
    "If you are using Pro API key, please change your root URL from api.coingecko.com to "
    "pro-api.coingecko.com"
)
MISSING_KEY_MESSAGE = (
    "API Key Missing. Please make sure you're using the right authentication method. For Pro "
    "API, ensure you pass in x_cg_pro_api_key parameter with a Pro Key and for Demo API, ensure "
    "you pass in x_cg_demo_api_key parameter with a Demo Key."
)
COIN_NOT_FOUND = {"error": "coin not found"}
JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class CoinSpec:
    """One fake coin; points only from ``listed_ms`` on (when given)."""

    coin_id: str
    listed_ms: int | None = None
    base_price: float = 100.0
    supply: float = 10_000_000.0


class _BadRequestError(Exception):
    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(str(payload))
        self.status = status
        self.payload = payload


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(status, payload, {"Content-Type": JSON_TYPE, **(headers or {})})


def _status_body(code: int, message: str, now: float) -> dict[str, Any]:
    return {"status": {"timestamp": _stamp(now), "error_code": code, "error_message": message}}


def _time_ms(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name, "")
    if not raw:
        raise _BadRequestError(400, {"error": f"Missing parameter {name}"})
    try:
        return round(float(raw) * 1000)
    except ValueError:
        pass
    try:  # CoinGecko also takes ISO dates (YYYY-MM-DD or YYYY-MM-DDTHH:MM), read as UTC
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _BadRequestError(400, {"error": f"Invalid {name} parameter"}) from None
    return round(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


class FakeCoinGecko(FakeServer):
    """CoinGecko market charts on 127.0.0.1 (random port); use as a context manager, or
    ``transport()`` for an ``httpx.MockTransport``.

    ``demo_api_key``: when set, a request carrying another key (``x-cg-demo-api-key`` header or
    ``x_cg_demo_api_key`` parameter) answers 401 (error 10010); ``require_key`` also refuses
    requests without one (10002). Counters: ``count_429``, ``requests`` (the log).
    """

    def __init__(
        self,
        coins: Sequence[CoinSpec],
        *,
        clock: Callable[[], float] = time.time,
        requests_per_minute: int = 30,
        demo_api_key: str | None = None,
        require_key: bool = False,
        history_days: int = 365,
        timeout_sleep: float = 5.0,
    ) -> None:
        super().__init__(clock=clock, timeout_sleep=timeout_sleep)
        self.coins: dict[str, CoinSpec] = {spec.coin_id: spec for spec in coins}
        self.requests_per_minute = requests_per_minute
        self.demo_api_key = demo_api_key
        self.require_key = require_key
        self.history_days = history_days
        self.count_429 = 0
        self._recent: deque[float] = deque()  # times of the requests counted in the last minute

    # -- test helpers ----------------------------------------------------------------------------

    def chart(
        self, coin_id: str, from_ms: int, to_ms: int, *, now_ms: int | None = None
    ) -> dict[str, list[list[float]]]:
        """The ``market_chart/range`` payload for ``[from_ms, to_ms]`` (now: the clock's)."""
        now_ms = int(self.clock() * 1000) if now_ms is None else now_ms
        return self._payload(self.coins[coin_id], from_ms, to_ms, now_ms, daily=False)

    def price_at(self, coin_id: str, ms: int) -> float:
        """The price the server gives for a point at ``ms``."""
        spec = self.coins[coin_id]
        return float(price_path(seed_of(coin_id), spec.base_price, np.array([ms]))[0])

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "count_429": self.count_429}

    # -- request handling ------------------------------------------------------------------------

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        now = self.clock()
        wait = self._admit(now)
        if wait:
            limited = {"status": {"error_code": 429, "error_message": RATE_LIMIT_MESSAGE}}
            return _json(429, limited, {"Retry-After": str(wait)})
        key = headers.get(DEMO_KEY_HEADER) or params.get(DEMO_KEY_PARAM)
        if key and self.demo_api_key is not None and key != self.demo_api_key:
            return _json(401, _status_body(10010, INVALID_KEY_MESSAGE, now))
        if not key and self.require_key:
            return _json(401, _status_body(10002, MISSING_KEY_MESSAGE, now))
        if path == PING_PATH:
            return _json(200, {"gecko_says": "(V3) To the Moon!"})
        match = CHART_RE.fullmatch(path)
        if match is None:
            return _json(
                404, {"error": "Incorrect path. Please check https://www.coingecko.com/api/"}
            )
        spec = self.coins.get(match.group(1))
        if spec is None:
            return _json(404, COIN_NOT_FOUND)
        now_ms = int(now * 1000)
        try:
            currency = params.get("vs_currency", "")
            if not currency:
                raise _BadRequestError(400, {"error": "Missing parameter vs_currency"})
            if currency.lower() not in SUPPORTED_CURRENCIES:
                raise _BadRequestError(400, {"error": "invalid vs_currency"})
            if match.group(2):
                from_ms, to_ms = _time_ms(params, "from"), _time_ms(params, "to")
            else:
                from_ms, to_ms = self._days_range(params, now_ms), now_ms
        except _BadRequestError as bad:
            return _json(bad.status, bad.payload)
        if from_ms < now_ms - self.history_days * DAY_MS:
            body = _status_body(OUT_OF_RANGE_CODE, OUT_OF_RANGE_MESSAGE, now)
            return _json(401, {"error": body})
        daily = params.get("interval") == "daily"
        return _json(200, self._payload(spec, from_ms, to_ms, now_ms, daily=daily))

    def _admit(self, now: float) -> int:
        """0 if the request is within the per-minute limit (it is counted), else Retry-After."""
        with self._lock:
            while self._recent and self._recent[0] <= now - 60:
                self._recent.popleft()
            if len(self._recent) >= self.requests_per_minute:
                self.count_429 += 1
                return max(1, math.ceil(self._recent[0] + 60 - now))
            self._recent.append(now)
            return 0

    @staticmethod
    def _days_range(params: Mapping[str, str], now_ms: int) -> int:
        raw = params.get("days", "")
        if not raw:
            raise _BadRequestError(400, {"error": "Missing parameter days"})
        if raw == "max":
            return -(1 << 62)
        try:
            days = float(raw)
        except ValueError:
            raise _BadRequestError(400, {"error": "invalid days parameter"}) from None
        return now_ms - round(days * DAY_MS)

    def _payload(
        self, spec: CoinSpec, from_ms: int, to_ms: int, now_ms: int, *, daily: bool
    ) -> dict[str, list[list[float]]]:
        times = _point_times(spec, from_ms, to_ms, now_ms, daily=daily)
        seed = seed_of(spec.coin_id)
        prices = price_path(seed, spec.base_price, times)
        days = times.astype(np.float64) / DAY_MS
        phase = uniforms(seed, np.array([7], dtype=np.int64), 1)[0][0] * 2 * np.pi
        caps = prices * spec.supply * (1 + 0.002 * np.sin(2 * np.pi * days / 3.7 + phase))
        volumes = (
            0.03
            * spec.supply
            * spec.base_price
            * np.exp(0.3 * np.sin(2 * np.pi * days / 7.3 + phase))
        )
        stamps = times.tolist()
        return {
            "prices": [list(p) for p in zip(stamps, prices.tolist(), strict=True)],
            "market_caps": [list(p) for p in zip(stamps, caps.tolist(), strict=True)],
            "total_volumes": [list(p) for p in zip(stamps, volumes.tolist(), strict=True)],
        }


def granularity_ms(from_ms: int, to_ms: int, now_ms: int) -> int:
    """CoinGecko's automatic spacing of points for a requested range."""
    span = to_ms - from_ms
    if span > 90 * DAY_MS:
        return DAY_MS
    if span <= DAY_MS and from_ms >= now_ms - DAY_MS:
        return FIVE_MINUTES_MS
    return HOUR_MS


def _point_times(spec: CoinSpec, from_ms: int, to_ms: int, now_ms: int, *, daily: bool) -> Ints:
    low, high = max(from_ms, spec.listed_ms or 0), min(to_ms, now_ms)
    if high < low:
        return np.empty(0, dtype=np.int64)
    step = DAY_MS if daily else granularity_ms(from_ms, to_ms, now_ms)
    jitter_span = {DAY_MS: 0, HOUR_MS: 298_000, FIVE_MINUTES_MS: 59_000}[step]
    k = np.arange((low - jitter_span) // step - 1, high // step + 1, dtype=np.int64)
    times = k * step
    if jitter_span:
        times += 1000 + (uniforms(seed_of(spec.coin_id), times, 1)[0] * jitter_span).astype(
            np.int64
        )
    times = times[(times >= low) & (times <= high)]
    if to_ms >= now_ms and now_ms >= low and (times.size == 0 or times[-1] < now_ms):
        times = np.append(times, np.int64(now_ms))
    return times
