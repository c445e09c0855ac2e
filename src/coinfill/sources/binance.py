"""Binance public market data: klines (candlestick bars) and exchangeInfo.

    GET /api/v3/klines?symbol=BTCUSDT&interval=1h&startTime=&endTime=&limit=1000
    → [[openTime, "open", "high", "low", "close", "volume", closeTime, "quoteVolume", …], …]

Weight 2 per klines request, 6,000 per minute per IP (:mod:`coinfill.sources.binance_weight`).
The default base URL is ``https://data-api.binance.vision`` (market data only, served where
``api.binance.com`` answers 451); it stays configurable (``COINFILL_BINANCE_BASE_URL``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd

from coinfill.sources.binance_weight import WeightBudget
from coinfill.sources.faults import CredentialsRefusedError
from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceError,
    SourceRequestError,
    SourceResponseError,
)

DEFAULT_BASE_URL = "https://data-api.binance.vision"
KLINES_PATH = "/api/v3/klines"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
KLINES_WEIGHT = 2
EXCHANGE_INFO_WEIGHT = 20
PAGE_BARS = 1000
# 418 (IP banned after ignoring a 429) is retried too, after its Retry-After.
RETRY_STATUSES = frozenset({408, 418, 425, 429})
INVALID_SYMBOL, INVALID_INTERVAL = -1121, -1120
KLINE_COLUMNS = ("open_time", "high", "low", "close", "quote_volume")
_MINUTE, _HOUR = 60_000, 3_600_000
# Bar lengths in ms. Longer bars (3d, 1w, 1M) are left out: the rolling 24-hour values of
# price_data_real need bars of a day or less.
INTERVALS: dict[str, int] = {
    "1m": _MINUTE,
    "3m": 3 * _MINUTE,
    "5m": 5 * _MINUTE,
    "15m": 15 * _MINUTE,
    "30m": 30 * _MINUTE,
    "1h": _HOUR,
    "2h": 2 * _HOUR,
    "4h": 4 * _HOUR,
    "6h": 6 * _HOUR,
    "8h": 8 * _HOUR,
    "12h": 12 * _HOUR,
    "1d": 24 * _HOUR,
}


class BinanceError(SourceError):
    """Binance refused one pair or interval; the message names it and what to do."""


class BinanceRegionError(CredentialsRefusedError):
    """HTTP 451: the configured base URL does not serve this location. Stops the provider."""


@dataclass(frozen=True)
class KlinePage:
    """Parsed bars (``KLINE_COLUMNS``, open time ascending) and how many rows were unusable."""

    bars: pd.DataFrame
    malformed: int
    received: int


class BinanceClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        budget: WeightBudget | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url
        self.budget = budget or WeightBudget()
        self.http = HttpSource(
            "binance",
            base_url,
            self.budget,
            timeout=timeout,
            retry=retry or RetryPolicy(retry_statuses=RETRY_STATUSES),
            transport=transport,
            sleep=sleep,
            observe=self.budget.observe,
        )

    def __enter__(self) -> BinanceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    @property
    def requests(self) -> int:
        return self.http.requests

    def klines(self, pair: str, interval: str, start_ms: int, end_ms: int) -> Iterator[KlinePage]:
        """Pages of bars opened in ``[start_ms, end_ms)``, each request after the last bar.

        Paging by the last bar received (not by precomputed offsets) follows a pair's listing
        date and the exchange's own outages without empty requests.
        """
        if interval not in INTERVALS:
            raise BinanceError(
                f"binance: interval {interval!r} is not offered; choose one of "
                f"{', '.join(INTERVALS)}"
            )
        step, cursor = INTERVALS[interval], start_ms
        while cursor < end_ms:
            page = self.page(pair, interval, cursor, end_ms - 1)
            yield page
            if page.received < PAGE_BARS or page.bars.empty:
                return
            cursor = int(page.bars["open_time"].iloc[-1]) + step

    def first_open(self, pair: str, interval: str) -> int | None:
        """Open time of the pair's first bar (its listing), or ``None`` if it has none."""
        page = self.page(pair, interval, 0, None, limit=1)
        return None if page.bars.empty else int(page.bars["open_time"].iloc[0])

    def page(
        self, pair: str, interval: str, start_ms: int, end_ms: int | None, *, limit: int = PAGE_BARS
    ) -> KlinePage:
        """One request: up to ``limit`` bars opened in ``[start_ms, end_ms]`` (inclusive)."""
        params: dict[str, Any] = {
            "symbol": pair,
            "interval": interval,
            "startTime": start_ms,
            "limit": limit,
        }
        if end_ms is not None:
            params["endTime"] = end_ms
        what = self.http.describe(KLINES_PATH, params)
        return self.http.fetch(
            KLINES_PATH,
            params,
            lambda response: parse_klines(response.content, what),
            cost=KLINES_WEIGHT,
            explain=lambda exc: self._explain(exc, pair, interval),
        )

    def exchange_info(self, pairs: Sequence[str] | None = None) -> dict[str, str]:
        """``{pair: status}`` (``TRADING``, ``BREAK``, …) for every pair, or just ``pairs``."""
        params = {"symbols": json.dumps(list(pairs), separators=(",", ":"))} if pairs else {}
        what = self.http.describe(EXCHANGE_INFO_PATH, params)

        def statuses(response: httpx.Response) -> dict[str, str]:
            try:
                symbols = response.json()["symbols"]
                return {str(s["symbol"]): str(s["status"]) for s in symbols}
            except (ValueError, KeyError, TypeError) as exc:
                raise SourceResponseError(
                    f"binance: {what} answered an unexpected body: {exc}", provider="binance"
                ) from None

        return self.http.fetch(
            EXCHANGE_INFO_PATH,
            params,
            statuses,
            cost=EXCHANGE_INFO_WEIGHT,
            explain=lambda exc: self._explain(exc, "", ""),
        )

    def _explain(self, exc: SourceRequestError, pair: str, interval: str) -> SourceError:
        if exc.status == 451:
            return BinanceRegionError(
                f"binance: {self.base_url} refuses requests from this location (HTTP 451, "
                f"restricted location). Public market data is served worldwide by "
                f"{DEFAULT_BASE_URL}: set COINFILL_BINANCE_BASE_URL to it (or to a mirror you "
                "may use)",
                provider="binance",
                status=451,
                setting="COINFILL_BINANCE_BASE_URL",
            )
        code = _error_code(exc.body)
        if code == INVALID_SYMBOL and pair:
            return BinanceError(
                f"binance: pair {pair} is not listed (Binance answered 'Invalid symbol.'): the "
                "pair is wrong or was delisted — fix it with `coinfill assets add <SYMBOL> "
                "--binance <PAIR>`, or `coinfill assets deactivate <SYMBOL>`",
                provider="binance",
                status=exc.status,
            )
        if code == INVALID_INTERVAL:
            return BinanceError(
                f"binance: interval {interval!r} is not offered ('Invalid interval.')",
                provider="binance",
                status=exc.status,
            )
        return exc


def _error_code(body: str) -> int | None:
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return int(code) if isinstance(code, int) else None


def parse_klines(content: bytes, what: str) -> KlinePage:
    """Binance's kline arrays → numeric bars; rows that do not parse are counted and dropped."""
    try:
        rows = json.loads(content)
    except ValueError:
        raise SourceResponseError(
            f"binance: {what} answered a body that is not JSON: {content[:120]!r}",
            provider="binance",
        ) from None
    if not isinstance(rows, list):
        raise SourceResponseError(
            f"binance: {what} answered {str(rows)[:200]}, not a list of bars", provider="binance"
        )
    picked = [
        (r[0], r[2], r[3], r[4], r[7]) if isinstance(r, list) and len(r) >= 8 else (None,) * 5
        for r in rows
    ]
    frame = pd.DataFrame(picked, columns=list(KLINE_COLUMNS))
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    values = numeric.to_numpy(dtype=float)
    ok = np.isfinite(values).all(axis=1)
    ok &= (values[:, 2] > 0) & (values[:, 3] > 0) & (values[:, 1] >= values[:, 2])
    ok &= values[:, 4] >= 0  # quote volume
    bars = numeric.loc[ok].astype({"open_time": "int64"}).reset_index(drop=True)
    return KlinePage(bars, int((~ok).sum()), len(rows))
