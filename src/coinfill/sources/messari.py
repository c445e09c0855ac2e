"""Messari asset metrics, used only when a key is configured.

    GET /api/v1/assets/{asset}/metrics/{metric}/time-series?start=2024-01-01&end=2024-06-30
        &interval=1d            (header x-messari-api-key)
    → {"status": {...}, "data": {"schema": {"metric_id": "act.addr.cnt", "values_schema":
         {"timestamp": …, "active_addresses": …}}, "values": [[1704067200000, 719553.0], …]}}

Messari's keyless API, which the system coinfill replaces relied on, now answers 401: without a
key coinfill does not call it, and a 401 says which setting to fill. A time series is at most
5,000 points, so long ranges are asked in pieces. Free keys allow about 20 requests a minute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pandas as pd

from coinfill.sources.blockchain_info import daily_points, within
from coinfill.sources.faults import CredentialsRefusedError
from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceError,
    SourceRequestError,
    SourceResponseError,
)
from coinfill.sources.ratelimit import RateLimiter, local_bucket

DEFAULT_BASE_URL = "https://data.messari.io"
SERIES_PATH = "/api/v1/assets/{asset}/metrics/{metric}/time-series"
KEY_HEADER = "x-messari-api-key"
CHUNK_DAYS = 2_000  # under the 5,000-point cap
KEY_SETTING = "COINFILL_MESSARI_API_KEY"
PROVIDER = "messari"


class MessariError(SourceError):
    """Messari refused one asset or metric; the message names it."""


@dataclass(frozen=True)
class SeriesValues:
    values: pd.DataFrame  # day, value
    malformed: int


class MessariClient:
    def __init__(
        self,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        limiter: RateLimiter | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.has_key = bool(api_key)
        self.http = HttpSource(
            PROVIDER,
            base_url,
            limiter or local_bucket("messari", 20 / 60),
            secrets=[api_key] if api_key else [],
            timeout=timeout,
            retry=retry,
            transport=transport,
            sleep=sleep,
            headers={KEY_HEADER: api_key} if api_key else None,
        )

    def __enter__(self) -> MessariClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    @property
    def requests(self) -> int:
        return self.http.requests

    def series(self, asset: str, metric: str, start: date, end: date) -> Iterator[SeriesValues]:
        """Daily values on ``[start, end)``, in pieces under Messari's point cap, each piece
        yielded as it arrives: a failure on a later one leaves the caller the earlier ones."""
        begin = start
        while begin < end:
            stop = min(begin + timedelta(days=CHUNK_DAYS), end)
            yield self.span(asset, metric, begin, stop)
            begin = stop

    def span(self, asset: str, metric: str, start: date, end: date) -> SeriesValues:
        path = SERIES_PATH.format(asset=asset, metric=metric)
        params = {
            "start": start.isoformat(),
            "end": (end - timedelta(days=1)).isoformat(),
            "interval": "1d",
        }
        what = self.http.describe(path, params)

        def read(response: httpx.Response) -> SeriesValues:
            # Parsed inside the retry loop: a cut-off or malformed 200 is asked again.
            parsed = parse_series(response.content, what)
            return SeriesValues(within(parsed.values, start, end), parsed.malformed)

        return self.http.fetch(
            path, params, read, explain=lambda exc: self._explain(exc, asset, metric)
        )

    def _explain(self, exc: SourceRequestError, asset: str, metric: str) -> SourceError:
        message = self.http.redact(_message(exc.body))
        if exc.status == 401:
            if not self.has_key:
                return CredentialsRefusedError(
                    "messari answered 401: its API needs a key since the keyless API was "
                    f"closed — set {KEY_SETTING} (or the Prefect Secret block) or leave Messari "
                    "out; CoinMetrics and blockchain.info need none",
                    provider=PROVIDER,
                    status=401,
                    setting=KEY_SETTING,
                )
            return CredentialsRefusedError(
                f"messari rejected the key in {KEY_SETTING} (HTTP 401: {message}) — check "
                f"{KEY_SETTING} or the Prefect Secret block holding it",
                provider=PROVIDER,
                status=401,
                setting=KEY_SETTING,
            )
        if exc.status == 404:
            return MessariError(
                f"messari: asset {asset!r} or metric {metric!r} not found ({message}) — fix the "
                "asset key with `coinfill assets add <SYMBOL> --messari <KEY>`",
                provider=PROVIDER,
                status=404,
            )
        return exc


def _message(body: str) -> str:
    try:
        status = json.loads(body).get("status") or {}
        return str(status.get("error_message") or body[:200])
    except (ValueError, AttributeError):
        return body[:200]


def parse_series(content: bytes, what: str) -> SeriesValues:
    """``data.values`` (``[ms, value, …]``) as days and floats; unusable points counted."""
    try:
        payload = json.loads(content)
        values = payload["data"]["values"]
        if values is None:  # Messari answers null for a range without data
            values = []
        if not isinstance(values, list):
            raise TypeError("'data.values' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceResponseError(
            f"messari: {what} answered an unexpected body ({exc}): {content[:120]!r}",
            provider=PROVIDER,
        ) from None
    pairs = [(v[0], v[1]) if isinstance(v, list) and len(v) >= 2 else (None, None) for v in values]
    days, malformed = daily_points(pairs, seconds_per_unit=1000)  # Messari: milliseconds
    return SeriesValues(days, malformed)
