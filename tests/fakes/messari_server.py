"""A local imitation of Messari's v1 asset metric time series for offline tests.

Serves ``GET /api/v1/assets/{asset}/metrics/{metric}/time-series?start=&end=&interval=1d``
(``end`` inclusive) for ``act.addr.cnt`` and ``txn.cnt`` in Messari's format: ``status``
(elapsed, timestamp) and ``data`` (id, symbol, name, slug, parameters, schema, values as
``[unix ms, value]`` rows). A range without data answers ``"values": null`` as Messari does.

Refusals, each with ``status.error_code`` / ``status.error_message``: no ``x-messari-api-key``
header → 401 "an API key is required"; a key not in ``keys`` → 401 "invalid API key"; an unknown
asset or metric → 404; more than :data:`MAX_POINTS` points, a bad date or interval → 400; more
than ``requests_per_minute`` admitted requests in a sliding 60-second window (by ``clock``) →
429 with ``Retry-After`` (whole seconds). Refused requests do not count toward the window.
"""

from __future__ import annotations

import math
import re
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.fakes.fake_http import TIMEOUT as TIMEOUT
from tests.fakes.fake_http import FakeServer, Response, json_response

SERIES_RE = re.compile(r"/api/v1/assets/([^/]+)/metrics/([^/]+)/time-series/?")
KEY_HEADER = "x-messari-api-key"
MAX_POINTS = 5000
MISSING_KEY_MESSAGE = "Unauthorized: an API key is required."
INVALID_KEY_MESSAGE = "Unauthorized: invalid API key."
RATE_LIMIT_MESSAGE = "Too Many Requests: the rate limit of your API key was exceeded."
ATTRIBUTION = [{"name": "Coin Metrics", "url": "https://coinmetrics.io"}]
# slug -> (symbol, name, id) of assets Messari knows; other slugs get made-up ones.
KNOWN_ASSETS = {
    "bitcoin": ("BTC", "Bitcoin", "1e31218a-e44e-4285-820c-8282ee222035"),
    "ethereum": ("ETH", "Ethereum", "21c795f5-1bfd-40c3-858e-e9d7e820c6d0"),
}


@dataclass(frozen=True)
class MetricInfo:
    name: str
    column: str
    description: str
    column_description: str
    scale: int  # a typical daily value


METRICS: dict[str, MetricInfo] = {
    "act.addr.cnt": MetricInfo(
        "Active Addresses",
        "active_addresses",
        "The sum count of unique addresses that were active in the network that interval.",
        "The sum count of unique addresses that were active in the network (either as a "
        "recipient or originator of a ledger change) that interval.",
        700_000,
    ),
    "txn.cnt": MetricInfo(
        "Transaction Count",
        "transaction_count",
        "The sum count of transactions that interval.",
        "The sum count of transactions that interval. Transactions represent a bundle of "
        "intended actions to alter the ledger initiated by a user (human or machine).",
        400_000,
    ),
}


def day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


class _RefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FakeMessari(FakeServer):
    """Messari v1 time series on 127.0.0.1 (``with fake:``) or through ``transport()``.

    ``assets`` maps a slug to the first and last day (inclusive) it has data; the symbol works
    as asset key too. Counters (``stats()``): ``series`` (requests per ``asset/metric`` asked,
    scripted responses excluded), ``count_401``, ``count_429``.
    """

    def __init__(
        self,
        assets: Mapping[str, tuple[date, date]],
        *,
        keys: frozenset[str] = frozenset({"good-key"}),
        clock: Callable[[], float] = time.time,
        requests_per_minute: int | None = None,
        timeout_sleep: float = 5.0,
    ) -> None:
        super().__init__(clock=clock, timeout_sleep=timeout_sleep)
        self.assets = dict(assets)
        self.keys = keys
        self.requests_per_minute = requests_per_minute
        self.series_requests: Counter[str] = Counter()
        self.count_401 = 0
        self.count_429 = 0
        self._recent: deque[float] = deque()

    # -- test helpers ----------------------------------------------------------------------------

    def value(self, asset: str, metric: str, day: date) -> float:
        """The (positive, whole) value the fake gives for ``asset``'s ``metric`` on ``day``."""
        scale = METRICS[metric].scale
        noise = zlib.crc32(f"{asset}:{metric}:{day.isoformat()}".encode()) % scale
        return float(scale // 2 + noise)

    def identity(self, asset: str) -> tuple[str, str, str]:
        """(symbol, name, id) of a slug."""
        if asset in KNOWN_ASSETS:
            return KNOWN_ASSETS[asset]
        made_up = str(uuid.uuid5(uuid.NAMESPACE_URL, f"messari:{asset}"))
        return asset[:3].upper(), asset.replace("-", " ").title(), made_up

    def stats(self) -> dict[str, Any]:
        with self._lock:
            extra = {
                "series": dict(self.series_requests),
                "count_401": self.count_401,
                "count_429": self.count_429,
            }
        return {**super().stats(), **extra}

    # -- request handling ------------------------------------------------------------------------

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        now = self.clock()
        match = SERIES_RE.fullmatch(path)
        if match is not None:
            with self._lock:
                self.series_requests[f"{match.group(1)}/{match.group(2)}"] += 1
        key = headers.get(KEY_HEADER, "")
        if not key or key not in self.keys:
            with self._lock:
                self.count_401 += 1
            return self._error(401, MISSING_KEY_MESSAGE if not key else INVALID_KEY_MESSAGE, now)
        wait = self._admit(now)
        if wait:
            return self._error(429, RATE_LIMIT_MESSAGE, now, {"Retry-After": str(wait)})
        if match is None:
            return self._error(404, "Not Found", now)
        try:
            return json_response(200, self._series(match.group(1), match.group(2), params, now))
        except _RefusedError as refused:
            return self._error(refused.status, str(refused), now)

    def _series(
        self, asked: str, metric: str, params: Mapping[str, str], now: float
    ) -> dict[str, Any]:
        slug = self._slug(asked)
        if slug is None:
            raise _RefusedError(404, f"Asset with key = '{asked}' not found.")
        info = METRICS.get(metric)
        if info is None:
            raise _RefusedError(404, f"Metric with id = '{metric}' not found.")
        interval = params.get("interval", "1d")
        if interval != "1d":
            raise _RefusedError(400, f"Unsupported interval '{interval}'.")
        try:
            start, end = date.fromisoformat(params["start"]), date.fromisoformat(params["end"])
        except (KeyError, ValueError):
            raise _RefusedError(400, "start and end must be dates (YYYY-MM-DD).") from None
        if end < start:
            raise _RefusedError(400, "end must not be before start.")
        if (end - start).days + 1 > MAX_POINTS:
            raise _RefusedError(400, f"Requested range exceeds the maximum of {MAX_POINTS} points.")
        first, last = self.assets[slug]
        days = [start + timedelta(days=k) for k in range((end - start).days + 1)]
        values = [[day_ms(d), self.value(slug, metric, d)] for d in days if first <= d <= last]
        symbol, name, asset_id = self.identity(slug)
        return {
            "status": {"elapsed": 3 + len(values) // 100, "timestamp": _stamp(now)},
            "data": {
                "id": asset_id,
                "symbol": symbol,
                "name": name,
                "slug": slug,
                "parameters": {
                    "asset_key": asked,
                    "asset_id": asset_id,
                    "start": f"{start.isoformat()}T00:00:00Z",
                    "end": f"{end.isoformat()}T00:00:00Z",
                    "interval": interval,
                    "order": "ascending",
                    "format": "json",
                    "timestamp_format": "unix-milliseconds",
                    "columns": ["timestamp", info.column],
                },
                "schema": {
                    "metric_id": metric,
                    "name": info.name,
                    "description": info.description,
                    "values_schema": {
                        "timestamp": "Time in milliseconds since the epoch (1/1/1970 midnight)",
                        info.column: info.column_description,
                    },
                    "minimum_interval": "1d",
                    "source_attribution": ATTRIBUTION,
                },
                "values": values or None,
            },
        }

    def _slug(self, asked: str) -> str | None:
        lowered = asked.lower()
        if lowered in self.assets:
            return lowered
        for slug in self.assets:
            if self.identity(slug)[0].lower() == lowered or self.identity(slug)[2] == lowered:
                return slug
        return None

    def _admit(self, now: float) -> int:
        """0 if within the per-minute limit (the request is counted), else Retry-After."""
        if self.requests_per_minute is None:
            return 0
        with self._lock:
            while self._recent and self._recent[0] <= now - 60:
                self._recent.popleft()
            if len(self._recent) >= self.requests_per_minute:
                self.count_429 += 1
                return max(1, math.ceil(self._recent[0] + 60 - now))
            self._recent.append(now)
            return 0

    @staticmethod
    def _error(
        status: int, message: str, now: float, headers: Mapping[str, str] | None = None
    ) -> Response:
        body = {
            "status": {
                "elapsed": 0,
                "timestamp": _stamp(now),
                "error_code": status,
                "error_message": message,
            }
        }
        return json_response(status, body, headers)
