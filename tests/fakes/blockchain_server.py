"""A local imitation of blockchain.info's charts API for offline tests.

Serves ``GET /charts/{chart}?timespan=365days&start=YYYY-MM-DD&format=json&sampled=false`` for
``n-unique-addresses`` and ``n-transactions`` in the real format::

    {"status": "ok", "name": "Unique Addresses Used", "unit": "Addresses", "period": "day",
     "description": "...", "values": [{"x": 1704067200, "y": 719553}, ...]}

``x`` is the UTC midnight the day starts at (unix seconds). A request covers the days
``[start, start + timespan)`` (without ``start``: the last ``timespan`` days up to ``last``).
Like the real API, ``sampled`` defaults to true and then keeps every k-th point so that a long
range comes back with at most :data:`MAX_SAMPLED_POINTS` points: only ``sampled=false`` gives
every day. Days before ``first``, after ``last`` or in ``gaps`` are absent; a range without data
answers ``"values": []``. An unknown chart answers 404 with a small HTML page. With
``min_interval`` set, a request sooner than that after the last admitted one answers 429 with
``Retry-After`` (whole seconds, rounded up); refused requests do not move the window.
"""

from __future__ import annotations

import math
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.fakes.fake_http import TIMEOUT as TIMEOUT
from tests.fakes.fake_http import FakeServer, Response, json_response

GENESIS = date(2009, 1, 3)
MAX_SAMPLED_POINTS = 200
DEFAULT_TIMESPAN = "1year"
CHART_RE = re.compile(r"/charts/([^/]+)/?")
TIMESPAN_RE = re.compile(r"(\d+)\s*(day|week|month|year)s?")
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
NOT_FOUND_HTML = (
    "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
)


@dataclass(frozen=True)
class ChartInfo:
    name: str
    unit: str
    description: str
    scale: int  # a typical recent daily value


CHARTS: dict[str, ChartInfo] = {
    "n-unique-addresses": ChartInfo(
        "Unique Addresses Used",
        "Addresses",
        "The total number of unique addresses used on the blockchain.",
        700_000,
    ),
    "n-transactions": ChartInfo(
        "Confirmed Transactions Per Day",
        "Transactions",
        "The total number of confirmed transactions per day.",
        400_000,
    ),
}


def midnight(day: date) -> int:
    """Unix seconds of the UTC midnight ``day`` starts at."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class _BadRequestError(Exception):
    pass


class FakeBlockchainInfo(FakeServer):
    """blockchain.info charts on 127.0.0.1 (``with fake:``) or through ``transport()``.

    Data exists on ``[first, last]`` minus ``gaps`` (``last`` defaults to yesterday, UTC, by
    ``clock``). Counters (``stats()``): ``charts`` (requests per chart name asked, scripted
    responses excluded) and ``count_429``.
    """

    def __init__(
        self,
        first: date = GENESIS,
        last: date | None = None,
        gaps: frozenset[date] = frozenset(),
        *,
        clock: Callable[[], float] = time.time,
        min_interval: float | None = None,
        timeout_sleep: float = 5.0,
    ) -> None:
        super().__init__(clock=clock, timeout_sleep=timeout_sleep)
        self.first = first
        self._last = last
        self.gaps = gaps
        self.min_interval = min_interval
        self.chart_requests: Counter[str] = Counter()
        self.count_429 = 0
        self._admitted: float | None = None

    # -- test helpers ----------------------------------------------------------------------------

    @property
    def last(self) -> date:
        if self._last is not None:
            return self._last
        return datetime.fromtimestamp(self.clock(), UTC).date() - timedelta(days=1)

    def value(self, chart: str, day: date) -> float:
        """The (positive, whole) value the fake gives for ``chart`` on ``day``."""
        info = CHARTS[chart]
        ramp = min(1.0, (max((day - GENESIS).days, 0) + 1) / 4000)
        noise = zlib.crc32(f"{chart}:{day.isoformat()}".encode()) % (info.scale // 10)
        return float(1 + int(info.scale * ramp) + noise)

    def has_data(self, day: date) -> bool:
        return self.first <= day <= self.last and day not in self.gaps

    def points(self, chart: str, start: date, end: date) -> list[dict[str, int]]:
        """Every point (unsampled) on the days ``[start, end)``."""
        days = (start + timedelta(days=k) for k in range(max((end - start).days, 0)))
        return [
            {"x": midnight(day), "y": int(self.value(chart, day))}
            for day in days
            if self.has_data(day)
        ]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            extra = {"charts": dict(self.chart_requests), "count_429": self.count_429}
        return {**super().stats(), **extra}

    # -- request handling ------------------------------------------------------------------------

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        match = CHART_RE.fullmatch(path)
        if match is not None:
            with self._lock:
                self.chart_requests[match.group(1)] += 1
        wait = self._admit(self.clock())
        if wait:
            return 429, {"Content-Type": TEXT_TYPE, "Retry-After": str(wait)}, "Too Many Requests"
        if match is None or match.group(1) not in CHARTS:
            return 404, {"Content-Type": HTML_TYPE}, NOT_FOUND_HTML
        chart = match.group(1)
        try:
            start, end = self._range(params)
            fmt = params.get("format", "json").lower()
            if fmt not in ("json", "csv"):
                raise _BadRequestError(f"Unsupported format: {fmt}")
        except _BadRequestError as bad:
            return 400, {"Content-Type": TEXT_TYPE}, str(bad)
        values = self.points(chart, start, end)
        if params.get("sampled", "true").lower() != "false" and values:
            values = values[:: math.ceil(len(values) / MAX_SAMPLED_POINTS)]
        if fmt == "csv":
            lines = [
                f"{datetime.fromtimestamp(v['x'], UTC):%Y-%m-%d %H:%M:%S},{float(v['y'])}"
                for v in values
            ]
            return 200, {"Content-Type": "text/csv"}, "".join(f"{line}\n" for line in lines)
        info = CHARTS[chart]
        body = {
            "status": "ok",
            "name": info.name,
            "unit": info.unit,
            "period": "day",
            "description": info.description,
            "values": values,
        }
        return json_response(200, body)

    def _admit(self, now: float) -> int:
        """0 if the request may go (it becomes the last admitted), else seconds to wait."""
        if self.min_interval is None:
            return 0
        with self._lock:
            if self._admitted is not None and now - self._admitted < self.min_interval:
                self.count_429 += 1
                return max(1, math.ceil(self._admitted + self.min_interval - now))
            self._admitted = now
            return 0

    def _range(self, params: Mapping[str, str]) -> tuple[date, date]:
        """The days ``[start, end)`` a request asks for."""
        span_text = params.get("timespan", DEFAULT_TIMESPAN).strip().lower()
        if span_text == "all":
            span = (self.last - self.first).days + 1
        else:
            found = TIMESPAN_RE.fullmatch(span_text)
            if found is None:
                raise _BadRequestError(f"Invalid timespan: {span_text}")
            span = int(found.group(1)) * UNIT_DAYS[found.group(2)]
        raw = params.get("start")
        if not raw:
            end = self.last + timedelta(days=1)
            return end - timedelta(days=span), end
        try:
            start = date.fromisoformat(raw)
        except ValueError:
            raise _BadRequestError(f"Invalid start: {raw}") from None
        return start, start + timedelta(days=span)
