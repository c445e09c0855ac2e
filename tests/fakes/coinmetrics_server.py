"""A local imitation of the CoinMetrics Community API v4 (daily asset metrics) for offline tests.

Serves, in the API's formats:
- ``GET /v4/catalog-v2/asset-metrics?assets=btc,eth&page_size=N``: per asset the metrics the
  community tier serves, each with a ``1b`` and a ``1d`` frequency (``min_time``/``max_time``);
  paged by asset with ``next_page_url``.
- ``GET /v4/timeseries/asset-metrics?assets=&metrics=&frequency=1d&start_time=&end_time=
  &page_size=&ignore_unsupported_errors=true``: rows ``{"asset", "time", <metric>: "<text>"}``
  ordered by (asset, time), both ends inclusive, paged with an opaque ``next_page_token`` carried
  in ``next_page_url`` (absolute, every original parameter kept). ``paging_from`` defaults to
  ``end`` (believed to be the API's default; its official Python client always sends
  ``start``): the first page holds the *last* rows, each page ascending.

Refusals: an unknown asset → 400 ``bad_parameter`` naming the first one; a metric the tier does
not serve (``AssetSpec.forbidden``, or a ``hide_from_catalog`` pair the catalogue still lists)
→ 403 ``forbidden`` for the whole request (omitted with ``ignore_forbidden_errors=true``); a
metric the asset lacks → omitted with ``ignore_unsupported_errors=true``, else 400. More than
``rate_limit[0]`` requests in any ``rate_limit[1]`` seconds (sliding, by ``clock``; refused
requests do not count) → 429 ``too_many_requests`` with ``Retry-After``. Values are
deterministic (:meth:`FakeCoinMetrics.value`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.fakes import fake_http
from tests.fakes.fake_http import TIMEOUT as TIMEOUT
from tests.fakes.fake_http import FakeServer, Response, json_response

CATALOG_PATH = "/v4/catalog-v2/asset-metrics"
METRICS_PATH = "/v4/timeseries/asset-metrics"
PUBLIC_URL = "https://community-api.coinmetrics.io"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 10_000
METRICS = ("AdrActCnt", "TxCnt", "FlowInExNtv", "FlowOutExNtv")
RATE_LIMIT_MESSAGE = "Requests rate limit exceeded."
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class AssetSpec:
    """One asset: daily rows on ``first..last`` for ``metrics``; none on ``gaps``, ``null``
    values on ``null_days``; ``forbidden`` metrics are outside the community tier."""

    first: date
    last: date
    metrics: tuple[str, ...] = METRICS
    forbidden: frozenset[str] = frozenset()
    gaps: frozenset[date] = frozenset()
    null_days: frozenset[date] = frozenset()


class BadRequestError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.response = json_response(status, {"error": {"type": kind, "message": message}})


def bad_parameter(name: str, detail: str) -> BadRequestError:
    return BadRequestError(400, "bad_parameter", f"Bad parameter '{name}'. {detail}")


def stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00.000000000Z"


def value_text(asset: str, metric: str, day: date) -> str:
    """The string the API gives: an integer for counts (``…Cnt``), 8 decimals otherwise."""
    digest = hashlib.blake2b(f"{asset}|{metric}|{day.toordinal()}".encode(), digest_size=8)
    h = int.from_bytes(digest.digest(), "big")
    if metric.endswith("Cnt"):
        return str(1_000 + h % 999_000)
    units = 1 + h % 10**13
    return f"{units // 10**8}.{units % 10**8:08d}"


def _token(direction: str, index: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{index}".encode()).decode().rstrip("=")


def _untoken(token: str) -> tuple[str, int]:
    try:
        direction, index = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).split(b":")
        return direction.decode(), int(index)
    except ValueError:
        raise bad_parameter("next_page_token", "Value is not a valid token.") from None


def _moment(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", raw.replace("Z", "+00:00")))
    except ValueError:
        raise bad_parameter(name, f"Value '{raw}' is not a valid time.") from None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def _names(params: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in params.get(name, "").split(",") if part.strip()]


class FakeCoinMetrics(FakeServer):
    """CoinMetrics' community API on 127.0.0.1 (``with fake:`` → ``fake.url``), through
    ``transport()``, or in another process (:func:`serve_in_subprocess`).

    ``next_urls`` lists every ``next_page_url`` handed out. ``stats()`` adds ``rate_limited``
    (429s), ``requests_by_path`` and ``pages`` (200 answers per path).
    """

    def __init__(
        self,
        assets: Mapping[str, AssetSpec],
        *,
        clock: Callable[[], float] = time.time,
        rate_limit: tuple[int, float] | None = (10, 6.0),
        hide_from_catalog: frozenset[tuple[str, str]] = frozenset(),
        public_url: str | None = None,
        timeout_sleep: float = 5.0,
    ) -> None:
        """``public_url``: base of ``next_page_url`` through ``transport()`` (default: the
        ``https://`` + Host the client asked); a started server uses its own URL."""
        super().__init__(clock=clock, timeout_sleep=timeout_sleep)
        self.assets = dict(assets)
        self.rate_limit = rate_limit
        self.hide_from_catalog = frozenset(hide_from_catalog)
        self.public_url = public_url
        self.rate_limited = 0
        self.next_urls: list[str] = []
        self._recent: deque[float] = deque()

    # -- test helpers ----------------------------------------------------------------------------

    def value(self, asset: str, metric: str, day: date) -> float:
        """The value the server gives (as text) for ``asset``/``metric`` on ``day``."""
        return float(value_text(asset, metric, day))

    def refused(self, asset: str, metric: str) -> bool:
        return metric in self.assets[asset].forbidden or (asset, metric) in self.hide_from_catalog

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_path = Counter(record.path for record in self.requests)
            pages = Counter(record.path for record in self.requests if record.status == 200)
            limited = self.rate_limited
        return {
            **super().stats(),
            "rate_limited": limited,
            "requests_by_path": dict(by_path),
            "pages": dict(pages),
        }

    # -- request handling ------------------------------------------------------------------------

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        wait = self._admit(self.clock())
        if wait:
            body = {"error": {"type": "too_many_requests", "message": RATE_LIMIT_MESSAGE}}
            return json_response(429, body, {"Retry-After": str(wait)})
        base = self._url or self.public_url or f"https://{headers.get('host', 'localhost')}"
        try:
            if path == CATALOG_PATH:
                return json_response(200, self._catalog(params, base + path))
            if path == METRICS_PATH:
                return json_response(200, self._timeseries(params, base + path))
        except BadRequestError as refused:
            return refused.response
        body = {"error": {"type": "not_found", "message": "Requested resource was not found."}}
        return json_response(404, body)

    def _admit(self, now: float) -> int:
        """0 when the request fits the sliding window (it is counted), else Retry-After."""
        if self.rate_limit is None:
            return 0
        limit, window = self.rate_limit
        with self._lock:
            while self._recent and self._recent[0] <= now - window:
                self._recent.popleft()
            if len(self._recent) >= limit:
                self.rate_limited += 1
                return max(1, math.ceil(self._recent[0] + window - now))
            self._recent.append(now)
            return 0

    def _known(self, params: Mapping[str, str]) -> list[str]:
        assets = [a.lower() for a in _names(params, "assets")] or sorted(self.assets)
        for asset in assets:
            if asset not in self.assets:
                raise bad_parameter("assets", f"Value '{asset}' is not supported.")
        return sorted(dict.fromkeys(assets))

    def _page(
        self, items: list[Any], params: Mapping[str, str], url: str, *, default_from: str
    ) -> dict[str, Any]:
        """One page of ``items`` and, when more remain, the ``next_page_url``."""
        raw_size = params.get("page_size", str(DEFAULT_PAGE_SIZE))
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
            detail = f"Must be an integer between 1 and {MAX_PAGE_SIZE}."
            raise bad_parameter("page_size", detail)
        size, token = int(raw_size), params.get("next_page_token")
        direction = params.get("paging_from", default_from)
        if direction not in ("start", "end"):
            raise bad_parameter("paging_from", "Must be 'start' or 'end'.")
        if direction == "start":
            low = _untoken(token)[1] if token else 0
            high, more = low + size, low + size < len(items)
        else:
            high = _untoken(token)[1] if token else len(items)
            low, more = max(0, high - size), high - size > 0
        page: dict[str, Any] = {"data": items[max(0, low) : max(0, high)]}
        if more:
            following = {k: v for k, v in params.items() if k != "next_page_token"}
            following["next_page_token"] = _token(direction, high if direction == "start" else low)
            page["next_page_url"] = f"{url}?{urlencode(following)}"
            with self._lock:
                self.next_urls.append(page["next_page_url"])
        return page

    def _catalog(self, params: Mapping[str, str], url: str) -> dict[str, Any]:
        wanted = set(_names(params, "metrics"))
        items = []
        for asset in self._known(params):
            spec = self.assets[asset]
            metrics = [
                self._catalog_metric(spec, metric)
                for metric in spec.metrics
                if metric not in spec.forbidden and (not wanted or metric in wanted)
            ]
            if metrics:
                items.append({"asset": asset, "metrics": metrics})
        return self._page(items, params, url, default_from="start")

    @staticmethod
    def _catalog_metric(spec: AssetSpec, metric: str) -> dict[str, Any]:
        """A ``1b`` span (first block to today's) before the ``1d`` one, as the API lists."""
        block_end = (spec.last + timedelta(days=1)).isoformat()
        spans = [
            ("1b", f"{spec.first.isoformat()}T18:15:05.000000000Z", f"{block_end}T09:41:27Z"),
            ("1d", stamp(spec.first), stamp(spec.last)),
        ]
        frequencies = [
            {"frequency": f, "min_time": low, "max_time": high, "community": True}
            for f, low, high in spans
        ]
        return {"metric": metric, "frequencies": frequencies}

    def _timeseries(self, params: Mapping[str, str], url: str) -> dict[str, Any]:
        if not _names(params, "assets"):
            raise bad_parameter("assets", "Must be specified.")
        metrics = list(dict.fromkeys(_names(params, "metrics")))
        if not metrics:
            raise bad_parameter("metrics", "Must be specified.")
        frequency = params.get("frequency", "1d")
        if frequency != "1d":
            raise bad_parameter("frequency", f"Value '{frequency}' is not supported.")
        assets = self._known(params)
        start, end = _moment(params, "start_time"), _moment(params, "end_time")
        ignore_unsupported = params.get("ignore_unsupported_errors") == "true"
        served: dict[str, list[str]] = {}
        for asset in assets:
            spec, served[asset] = self.assets[asset], []
            for metric in metrics:
                if self.refused(asset, metric):
                    if params.get("ignore_forbidden_errors") == "true":
                        continue
                    raise BadRequestError(
                        403,
                        "forbidden",
                        f"Requested metric '{metric}' with frequency '1d' for asset '{asset}' "
                        "is not available with supplied credentials.",
                    )
                if metric in spec.metrics:
                    served[asset].append(metric)
                elif not ignore_unsupported:
                    detail = f"Metric '{metric}' with frequency '1d' is unsupported for '{asset}'."
                    raise bad_parameter("metrics", detail)
        rows = [row for asset in assets for row in self._rows(asset, served[asset], start, end)]
        return self._page(rows, params, url, default_from="end")

    def _rows(
        self, asset: str, metrics: list[str], start: datetime | None, end: datetime | None
    ) -> Iterator[dict[str, Any]]:
        spec = self.assets[asset]
        first, last = spec.first, spec.last if metrics else spec.first - timedelta(days=1)
        if start is not None:
            first = max(first, (start - timedelta(microseconds=1)).date() + timedelta(days=1))
        if end is not None:
            last = min(last, end.date())
        day = first
        while day <= last:
            if day not in spec.gaps:
                row: dict[str, Any] = {"asset": asset, "time": stamp(day)}
                for metric in metrics:
                    row[metric] = None if day in spec.null_days else value_text(asset, metric, day)
                yield row
            day += timedelta(days=1)


def _build(assets: dict[str, AssetSpec], options: dict[str, Any]) -> FakeCoinMetrics:
    return FakeCoinMetrics(assets, **options)


@contextmanager
def serve_in_subprocess(assets: Mapping[str, AssetSpec], **options: Any) -> Iterator[str]:
    """A :class:`FakeCoinMetrics` socket server in a spawned process; yields its base URL.

    ``options`` (constructor keywords) must pickle: ``clock`` a module-level function or a
    ``functools.partial``. Counters: ``fake_http.fetch_stats(url)``.
    """
    with fake_http.serve_in_subprocess(_build, dict(assets), options) as url:
        yield url
