"""CoinGecko market charts: the price source for assets Binance does not list.

    GET /api/v3/coins/{id}/market_chart/range?vs_currency=usd&from=<unix s>&to=<unix s>
    → {"prices": [[ms, usd], …], "market_caps": [[ms, usd], …], "total_volumes": [[ms, usd], …]}

CoinGecko picks the spacing of points from the range: up to 1 day 5-minutely, up to 90 days
hourly, beyond that daily. Hourly bars therefore come in requests of at most 90 days. The free
(public and demo) tiers serve only the last 365 days; an older ``from`` answers 401 (error code
10012). ``total_volumes`` is CoinGecko's own trailing 24-hour volume in USD at each point.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pandas as pd

from coinfill.sources.faults import CredentialsRefusedError, Fault
from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceError,
    SourceRequestError,
    SourceResponseError,
)
from coinfill.sources.ratelimit import RateLimiter, local_bucket

DEFAULT_BASE_URL = "https://api.coingecko.com"
RANGE_PATH = "/api/v3/coins/{coin}/market_chart/range"
FREE_HISTORY_DAYS = 365
HOURLY_SPAN_MS = 89 * 86_400_000  # under CoinGecko's 90-day limit for hourly points
DAILY_SPAN_MS = 364 * 86_400_000
OUT_OF_RANGE = 10012
DEMO_KEY_HEADER = "x-cg-demo-api-key"
KEY_SETTING = "COINFILL_COINGECKO_API_KEY"
PROVIDER = "coingecko"


class CoinGeckoError(SourceError):
    """CoinGecko refused one coin or range; the message names it and what to do."""


@dataclass(frozen=True)
class ChartPoints:
    """``ms, price, volume_24h`` points ascending, and how many points were unusable."""

    points: pd.DataFrame
    malformed: int


class CoinGeckoClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        limiter: RateLimiter | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.has_key = bool(api_key)
        self.http = HttpSource(
            PROVIDER,
            base_url,
            limiter or local_bucket("coingecko", 10 / 60),
            secrets=[api_key] if api_key else [],
            timeout=timeout,
            retry=retry,
            transport=transport,
            sleep=sleep,
            headers={DEMO_KEY_HEADER: api_key} if api_key else None,
        )

    def __enter__(self) -> CoinGeckoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    @property
    def requests(self) -> int:
        return self.http.requests

    def chart(self, coin: str, start_ms: int, end_ms: int, *, daily: bool) -> Iterator[ChartPoints]:
        """Points in ``[start_ms, end_ms)``, in requests short enough for hourly spacing
        (or up to 364 days when ``daily``), each span yielded as it arrives: a failure on a
        later span leaves the caller the earlier ones."""
        span = DAILY_SPAN_MS if daily else HOURLY_SPAN_MS
        for begin in range(start_ms, end_ms, span):
            yield self.range(coin, begin, min(begin + span, end_ms))

    def range(self, coin: str, start_ms: int, end_ms: int) -> ChartPoints:
        path = RANGE_PATH.format(coin=coin)
        params = {"vs_currency": "usd", "from": start_ms // 1000, "to": -(-end_ms // 1000)}
        what = self.http.describe(path, params)

        def read(response: httpx.Response) -> ChartPoints:
            # Parsed inside the retry loop: a cut-off or malformed 200 is asked again.
            chart = parse_chart(response.content, what)
            inside = chart.points["ms"].between(start_ms, end_ms - 1)
            return ChartPoints(chart.points.loc[inside].reset_index(drop=True), chart.malformed)

        return self.http.fetch(path, params, read, explain=lambda exc: self._explain(exc, coin))

    def _explain(self, exc: SourceRequestError, coin: str) -> SourceError:
        if exc.status == 404:
            return CoinGeckoError(
                f"coingecko: coin id {coin!r} is unknown (coin not found) — fix it with "
                "`coinfill assets add <SYMBOL> --coingecko <ID>`",
                provider=PROVIDER,
                status=404,
            )
        code = _error_code(exc.body)
        if exc.status == 401 and code == OUT_OF_RANGE:
            return CoinGeckoError(
                f"coingecko: {coin}: the free tier serves only the last {FREE_HISTORY_DAYS} "
                "days; older prices need a paid plan",
                provider=PROVIDER,
                status=401,
                fault=Fault.UNAVAILABLE,
            )
        if exc.status in (401, 403):
            key = f"the key in {KEY_SETTING}" if self.has_key else "no API key"
            return CredentialsRefusedError(
                f"coingecko refused the request with {key} (HTTP {exc.status}): "
                f"{self.http.redact(exc.body)[:200]} — check {KEY_SETTING} or the Prefect "
                "Secret block named by COINFILL_COINGECKO_API_KEY_BLOCK",
                provider=PROVIDER,
                status=exc.status,
                setting=KEY_SETTING,
            )
        return exc


def _error_code(body: str) -> int | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    for holder in (payload.get("error"), payload) if isinstance(payload, dict) else ():
        status = holder.get("status") if isinstance(holder, dict) else None
        if isinstance(status, dict) and isinstance(status.get("error_code"), int):
            return int(status["error_code"])
    return None


def parse_chart(content: bytes, what: str) -> ChartPoints:
    """``prices`` joined with ``total_volumes`` by time; unusable points counted and dropped."""
    try:
        payload = json.loads(content)
        prices, volumes = payload["prices"], payload.get("total_volumes") or []
        if not isinstance(prices, list) or not isinstance(volumes, list):
            raise TypeError("prices/total_volumes are not lists")
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceResponseError(
            f"coingecko: {what} answered an unexpected body ({exc}): {content[:120]!r}",
            provider=PROVIDER,
        ) from None
    price = _pairs(prices, "price")
    volume = _pairs(volumes, "volume_24h").dropna(subset=["ms"]).drop_duplicates("ms", keep="last")
    volume.loc[volume["volume_24h"] < 0, "volume_24h"] = np.nan  # no volume, not a negative one
    points = price.merge(volume, on="ms", how="left")
    ok = np.isfinite(points[["ms", "price"]].to_numpy(dtype=float)).all(axis=1)
    ok &= points["price"].to_numpy(dtype=float) > 0
    good = points.loc[ok].astype({"ms": "int64"}).sort_values("ms", kind="stable")
    return ChartPoints(good.reset_index(drop=True), int((~ok).sum()))


def _pairs(items: list[object], name: str) -> pd.DataFrame:
    picked = [(i[0], i[1]) if isinstance(i, list) and len(i) >= 2 else (None, None) for i in items]
    frame = pd.DataFrame(picked, columns=["ms", name])
    numeric: pd.DataFrame = frame.apply(pd.to_numeric, errors="coerce")
    return numeric
