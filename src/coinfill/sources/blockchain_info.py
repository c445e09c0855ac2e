"""blockchain.info charts: Bitcoin's daily network counts, the fallback behind CoinMetrics.

    GET /charts/n-unique-addresses?timespan=365days&start=2024-01-01&format=json&sampled=false
    → {"status": "ok", "name": …, "unit": …, "period": "day",
       "values": [{"x": 1704067200, "y": 719553}, …]}

``sampled`` defaults to true and silently thins long ranges to a few hundred points, so every
request sets ``sampled=false`` and asks for at most a year. An empty ``values`` list means "no
data for these days", never zeros. ``x`` is the UTC midnight (unix seconds) the day starts at.
There is no published rate limit for the charts; blockchain.com asks API users for at most one
request every 10 seconds, which is the default here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import numpy as np
import pandas as pd

from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceError,
    SourceRequestError,
    SourceResponseError,
)
from coinfill.sources.ratelimit import RateLimiter, local_window

DEFAULT_BASE_URL = "https://api.blockchain.info"
CHART_PATH = "/charts/{chart}"
CHUNK_DAYS = 365
REQUESTS_PER_SECOND = 0.1
PROVIDER = "blockchain.info"


class BlockchainInfoError(SourceError):
    """blockchain.info refused a chart; the message names it."""


@dataclass(frozen=True)
class ChartValues:
    """``day, value`` rows ascending, and how many points were unusable."""

    values: pd.DataFrame
    malformed: int


class BlockchainInfoClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        limiter: RateLimiter | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = HttpSource(
            PROVIDER,
            base_url,
            limiter or local_window("blockchain-info", 1, 1 / REQUESTS_PER_SECOND),
            timeout=timeout,
            retry=retry,
            transport=transport,
            sleep=sleep,
        )

    def __enter__(self) -> BlockchainInfoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    @property
    def requests(self) -> int:
        return self.http.requests

    def chart(self, chart: str, start: date, end: date) -> Iterator[ChartValues]:
        """Daily values of ``chart`` on days ``[start, end)``, one request per year at most,
        each year yielded as it arrives: a failure on a later one leaves the caller the
        earlier ones."""
        begin = start
        while begin < end:
            stop = min(begin + timedelta(days=CHUNK_DAYS), end)
            yield self.span(chart, begin, stop)
            begin = stop

    def span(self, chart: str, start: date, end: date) -> ChartValues:
        path = CHART_PATH.format(chart=chart)
        params = {
            "timespan": f"{(end - start).days}days",
            "start": start.isoformat(),
            "format": "json",
            "sampled": "false",
        }
        what = self.http.describe(path, params)

        def read(response: httpx.Response) -> ChartValues:
            # Parsed inside the retry loop: a cut-off or malformed 200 is asked again.
            parsed = parse_chart(response.content, what)
            return ChartValues(within(parsed.values, start, end), parsed.malformed)

        return self.http.fetch(path, params, read, explain=lambda exc: _explain(exc, chart))


def _explain(exc: SourceRequestError, chart: str) -> SourceError:
    if exc.status == 404:
        return BlockchainInfoError(
            f"blockchain.info: chart {chart!r} does not exist (HTTP 404)",
            provider=PROVIDER,
            status=404,
        )
    return exc


def within(values: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """The ``day, value`` rows on days ``[start, end)`` (a source may answer a wider range)."""
    days = values["day"]
    inside = (days >= start) & (days < end) if len(days) else days.astype(bool)
    return values.loc[inside].reset_index(drop=True)


def utc_day(seconds: float) -> date | None:
    """The UTC day of a unix time in seconds, or ``None`` when it is not a usable time."""
    try:
        return datetime.fromtimestamp(int(seconds), UTC).date()
    except (ValueError, OverflowError, OSError):
        return None


def parse_chart(content: bytes, what: str) -> ChartValues:
    """``values`` as days and floats; points without a usable ``x``/``y`` are counted."""
    try:
        payload = json.loads(content)
        if not isinstance(payload, dict):
            raise TypeError("not an object")
        if payload.get("status", "ok") != "ok":
            raise TypeError(f"status {payload.get('status')!r}")
        values = payload["values"]
        if not isinstance(values, list):
            raise TypeError("'values' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceResponseError(
            f"blockchain.info: {what} answered an unexpected body ({exc}): {content[:120]!r}",
            provider=PROVIDER,
        ) from None
    pairs = [(v.get("x"), v.get("y")) if isinstance(v, dict) else (None, None) for v in values]
    days, malformed = daily_points(pairs, seconds_per_unit=1)
    return ChartValues(days, malformed)


def daily_points(
    pairs: Sequence[tuple[object, object]], *, seconds_per_unit: float
) -> tuple[pd.DataFrame, int]:
    """``(time, value)`` pairs as ``day, value`` rows ascending (the last value of a day wins)
    and the number of pairs without a usable time or a finite value."""
    frame = pd.DataFrame(list(pairs), columns=["t", "value"]).apply(pd.to_numeric, errors="coerce")
    days = [utc_day(t / seconds_per_unit) if t == t else None for t in frame["t"]]
    ok = np.array([d is not None for d in days], dtype=bool)
    ok &= np.isfinite(frame["value"].to_numpy(float))
    out = pd.DataFrame(
        {"day": [d for d, good in zip(days, ok, strict=True) if good],
         "value": frame["value"].to_numpy(float)[ok]}
    )  # fmt: skip
    out = out.drop_duplicates("day", keep="last").sort_values("day", kind="stable")
    return out.reset_index(drop=True), int((~ok).sum())
