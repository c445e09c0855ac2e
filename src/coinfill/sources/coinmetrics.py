"""CoinMetrics Community API v4 (no key): daily network metrics for many assets per request.

    GET /v4/catalog-v2/asset-metrics?assets=btc,eth
    → {"data": [{"asset": "btc", "metrics": [{"metric": "AdrActCnt", "frequencies":
         [{"frequency": "1d", "min_time": "2009-01-03T00:00:00.000000000Z", "max_time": …}]}]}],
       "next_page_url": …}
    GET /v4/timeseries/asset-metrics?assets=btc,eth&metrics=AdrActCnt,TxCnt&frequency=1d
        &start_time=2024-01-01&end_time=2024-06-29&page_size=10000
    → {"data": [{"asset": "btc", "time": "2024-01-01T00:00:00.000000000Z",
                 "AdrActCnt": "595445", "TxCnt": "661420"}], "next_page_url": …}

Values are strings; a metric missing from a row is "not supported for the asset", ``null`` is
"no data". The community tier allows 10 requests per 6 s per IP and serves a subset of the
metrics: a metric outside it answers 403 ``forbidden`` and fails the *whole* request, naming
metric and asset — so the catalogue is asked first (it lists only what the tier serves), and a
403 that still happens is recorded for that asset and the request repeated without it. An unknown
asset answers 400 ``Value 'xyz' is not supported.``; it is recorded and left out the same way.
Every page is parsed inside the retry loop (a cut-off page is asked again); when a later page
still fails, the rows of the pages received are returned with the failure in
:attr:`MetricRows.error`. Data licence: CC BY-NC 4.0.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

import httpx
import pandas as pd

from coinfill.sources.coinmetrics_rows import Catalog as Catalog
from coinfill.sources.coinmetrics_rows import Span as Span
from coinfill.sources.coinmetrics_rows import combine, parse_rows, read_catalog_item
from coinfill.sources.faults import Fault
from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceError,
    SourceRequestError,
    SourceResponseError,
)
from coinfill.sources.ratelimit import RateLimiter, local_window

DEFAULT_BASE_URL = "https://community-api.coinmetrics.io"
CATALOG_PATH = "/v4/catalog-v2/asset-metrics"
METRICS_PATH = "/v4/timeseries/asset-metrics"
PAGE_SIZE = 10_000  # the API's maximum
REQUESTS_PER_WINDOW, WINDOW_SECONDS = 10, 6.0
_FORBIDDEN = re.compile(r"metric '([^']+)'.*?asset '([^']+)'", re.IGNORECASE)
_UNSUPPORTED = re.compile(r"Value '([^']+)' is not supported", re.IGNORECASE)
PROVIDER = "coinmetrics"
T = TypeVar("T")


class CoinMetricsError(SourceRequestError):
    """CoinMetrics refused a request (its ``error.type`` and ``error.message`` in the body);
    a 403 ``forbidden`` (a metric outside the community tier) is of kind ``unavailable``."""


@dataclass
class MetricRows:
    """Daily values: columns ``asset``, ``day`` and one float column per metric asked."""

    frame: pd.DataFrame
    forbidden: set[tuple[str, str]] = field(default_factory=set)  # (asset, metric)
    unknown: set[str] = field(default_factory=set)
    malformed: int = 0
    pages: int = 0  # pages received
    # Why the rows stop short: a page failed after ``pages`` pages had arrived (their rows are
    # in ``frame``). ``None`` when every page arrived.
    error: SourceError | None = None


class CoinMetricsClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        limiter: RateLimiter | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.page_size = page_size
        self.http = HttpSource(
            PROVIDER,
            base_url,
            limiter or local_window("coinmetrics", REQUESTS_PER_WINDOW, WINDOW_SECONDS),
            timeout=timeout,
            retry=retry,
            transport=transport,
            sleep=sleep,
        )

    def __enter__(self) -> CoinMetricsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    @property
    def requests(self) -> int:
        return self.http.requests

    def catalog(self, assets: Sequence[str]) -> Catalog:
        """What the tier serves daily for ``assets``; assets CoinMetrics does not know are
        listed in ``unknown`` instead of failing the others."""
        result = Catalog()
        remaining = sorted(set(assets))
        while remaining:
            params = {"assets": ",".join(remaining), "page_size": self.page_size}
            try:
                for items in self._pages(CATALOG_PATH, params, _as_items):
                    for item in items:
                        read_catalog_item(item, result)
                break
            except SourceRequestError as exc:
                bad = _unsupported_asset(exc, remaining)
                if bad is None:
                    raise
                result.unknown.add(bad)
                remaining.remove(bad)
        return result

    def asset_metrics(
        self, assets: Sequence[str], metrics: Sequence[str], start: date, end: date
    ) -> MetricRows:
        """Daily values of ``metrics`` for ``assets`` on days ``[start, end)``, every page.

        A metric the tier refuses for an asset (403) or an asset CoinMetrics does not know (400)
        is recorded in the result and the request repeated without it. A page that still fails
        after its retries ends the request: with pages received, their rows are returned and
        the failure is in ``error``; with none, it is raised.
        """
        result = MetricRows(pd.DataFrame())
        frames: list[pd.DataFrame] = []
        todo: list[tuple[list[str], list[str]]] = [(sorted(set(assets)), list(metrics))]
        while todo:
            group, wanted = todo.pop()
            if not group or not wanted:
                continue
            try:
                self._fetch(group, wanted, start, end, result, frames)
            except SourceRequestError as exc:
                try:
                    todo += _without_refused(exc, group, wanted, result)
                except SourceError as failed:
                    result.error = failed
            except SourceError as exc:
                result.error = exc
            if result.error is not None:
                if not result.pages:
                    raise result.error
                break
        result.frame = combine(frames, metrics)
        return result

    def _fetch(
        self,
        assets: list[str],
        metrics: list[str],
        start: date,
        end: date,
        result: MetricRows,
        frames: list[pd.DataFrame],
    ) -> None:
        """Every page of one request into ``frames``, page by page: a page that fails leaves
        the ones before it in ``frames``."""
        params = {
            "assets": ",".join(assets),
            "metrics": ",".join(metrics),
            "frequency": "1d",
            "start_time": start.isoformat(),
            "end_time": (end - timedelta(days=1)).isoformat(),
            "page_size": self.page_size,
            "ignore_unsupported_errors": "true",  # an asset lacking one metric keeps the others
        }

        def rows(items: list[dict[str, Any]], what: str) -> tuple[pd.DataFrame, int]:
            return parse_rows(items, metrics, what)

        for frame, malformed in self._pages(METRICS_PATH, params, rows):
            result.pages += 1
            result.malformed += malformed
            frames.append(frame)

    def _pages(
        self,
        path: str,
        params: Mapping[str, Any],
        read: Callable[[list[dict[str, Any]], str], T],
    ) -> Iterator[T]:
        """``read(data, what)`` of every page, page by page; a next page is fetched from
        ``next_page_url`` as given. Each page is read inside the retry loop, so a cut-off or
        malformed page is asked again."""
        url: str = path
        query: Mapping[str, Any] = params
        while True:
            what = self.http.describe(url, query)
            content, next_url = self.http.fetch(
                url,
                query,
                lambda response, what=what: _page(response.content, what, read),  # type: ignore[misc]
                explain=_explain,
            )
            yield content
            if not next_url:
                return
            url, query = next_url, {}


def _page(
    content: bytes, what: str, read: Callable[[list[dict[str, Any]], str], T]
) -> tuple[T, str | None]:
    payload = _payload(content, what)
    next_url = payload.get("next_page_url")
    if next_url is not None and not isinstance(next_url, str):
        raise SourceResponseError(
            f"coinmetrics: {what} answered a next_page_url that is not a string: {next_url!r}",
            provider=PROVIDER,
        )
    return read(payload["data"], what), next_url or None


def _as_items(items: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    return items


def _explain(exc: SourceRequestError) -> SourceError:
    """CoinMetrics' refusal, decided from status and the parsed ``error.type``."""
    kind, _message = _error(exc)
    fault = Fault.UNAVAILABLE if exc.status == 403 and kind == "forbidden" else Fault.REFUSED
    return CoinMetricsError(str(exc), exc.status or 400, exc.body, provider=PROVIDER, fault=fault)


def _payload(content: bytes, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(content)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise TypeError("no 'data' list")
        if not all(isinstance(item, dict) for item in payload["data"]):
            raise TypeError("'data' holds something other than objects")
    except (ValueError, TypeError) as exc:
        raise SourceResponseError(
            f"coinmetrics: {what} answered an unexpected body ({exc}): {content[:120]!r}",
            provider=PROVIDER,
        ) from None
    return payload


def _error(exc: SourceRequestError) -> tuple[str, str]:
    try:
        error = json.loads(exc.body).get("error") or {}
        return str(error.get("type", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        return "", exc.body


def _unsupported_asset(exc: SourceRequestError, assets: Sequence[str]) -> str | None:
    _kind, message = _error(exc)
    match = _UNSUPPORTED.search(message)
    if exc.status == 400 and match and match.group(1).lower() in assets:
        return match.group(1).lower()
    return None


def _without_refused(
    exc: SourceRequestError, assets: list[str], metrics: list[str], result: MetricRows
) -> list[tuple[list[str], list[str]]]:
    """The requests to make instead of one the API refused, or the error re-raised."""
    bad_asset = _unsupported_asset(exc, assets)
    if bad_asset is not None:
        result.unknown.add(bad_asset)
        return [([a for a in assets if a != bad_asset], metrics)]
    kind, message = _error(exc)
    match = _FORBIDDEN.search(message)
    if exc.status == 403 and kind == "forbidden" and match:
        metric, asset = match.group(1), match.group(2).lower()
        if metric in metrics and asset in assets:
            result.forbidden.add((asset, metric))
            others = [a for a in assets if a != asset]
            return [(others, metrics), ([asset], [m for m in metrics if m != metric])]
    if exc.status == 403 and kind == "forbidden" and len(assets) == 1 and len(metrics) == 1:
        result.forbidden.add((assets[0], metrics[0]))  # unnamed, but there is only one pair
        return []
    raise exc
