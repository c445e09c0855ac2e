"""FRED ``fred/series/observations``: the macro collector's source (DESIGN §8).

FRED puts the API key in the query string, so every URL this client shows is masked.
Values arrive as strings; ``"."`` means "no observation that day" (a market holiday) and
becomes ``None``. A 400 carries FRED's ``error_message`` (wrong key, unknown series): it is
never retried and is reported naming the series.

With ``vintages=True`` the request spans every real-time period (ALFRED): each observation
comes once per release, with the ``realtime_start`` day it became public. That is how a
value's first publication is known (point-in-time joins, DESIGN §5).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceRequestError,
    SourceResponseError,
)
from coinfill.sources.ratelimit import RateLimiter

PATH = "/fred/series/observations"
PAGE_LIMIT = 100_000  # FRED's maximum page size
ALL_REALTIME = {"realtime_start": "1776-07-04", "realtime_end": "9999-12-31"}
MISSING = "."


class FredError(SourceRequestError):
    """FRED refused a request (HTTP 400): its own message, naming the series."""


@dataclass(frozen=True)
class Observation:
    """One value of a series as FRED publishes it, for one real-time period."""

    day: date
    value: float | None
    realtime_start: date
    realtime_end: date


class FredClient:
    def __init__(
        self,
        api_key: str,
        base_url: str,
        limiter: RateLimiter,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        self.api_key = api_key
        self.page_limit = page_limit
        kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = HttpSource(
            "FRED",
            base_url,
            limiter,
            secrets=[api_key],
            timeout=timeout,
            retry=retry,
            transport=transport,
            **kwargs,
        )

    def __enter__(self) -> FredClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    @property
    def requests(self) -> int:
        return self.http.requests

    def observations(
        self,
        series_id: str,
        start: date | None = None,
        end: date | None = None,
        *,
        units: str = "lin",
        vintages: bool = False,
    ) -> list[Observation]:
        """Observations with ``start ≤ date < end`` (``None`` = open), every page of them."""
        params: dict[str, Any] = {
            "series_id": series_id,
            "api_key": self.api_key,
            "file_type": "json",
            "units": units,
            "limit": self.page_limit,
        }
        if start is not None:
            params["observation_start"] = start.isoformat()
        if end is not None:
            # FRED's observation_end is inclusive; our windows are half-open.
            params["observation_end"] = (end - timedelta(days=1)).isoformat()
        if vintages:
            params.update(ALL_REALTIME)
        found: list[Observation] = []
        offset = 0
        while True:
            page = self._page(series_id, {**params, "offset": offset})
            rows = page["observations"]
            found += [self._parse(series_id, row) for row in rows]
            offset += len(rows)
            if not rows or offset >= int(page.get("count", 0)):
                return found

    def _page(self, series_id: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.get(PATH, params)
        except SourceRequestError as exc:
            raise FredError(
                f"FRED refused series {series_id} (HTTP {exc.status}): "
                + self.http.redact(_fred_message(exc.body))[:300],
                exc.status,
                exc.body,
            ) from None
        where = self.http.describe(PATH, params)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SourceResponseError(
                f"FRED series {series_id}: {where} returned a body that is not JSON: "
                f"{self.http.redact(response.text)[:120]!r}"
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("observations"), list):
            raise SourceResponseError(
                f"FRED series {series_id}: {where} returned JSON without an observations list"
            )
        return body

    def _parse(self, series_id: str, row: Any) -> Observation:
        try:
            raw = row["value"]
            value = None if raw in (MISSING, "", None) else float(raw)
            return Observation(
                date.fromisoformat(row["date"]),
                value,
                date.fromisoformat(row["realtime_start"]),
                date.fromisoformat(row["realtime_end"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceResponseError(
                f"FRED series {series_id}: malformed observation {str(row)[:120]} ({exc})"
            ) from None


def _fred_message(body: str) -> str:
    try:
        message = json.loads(body).get("error_message")
    except (json.JSONDecodeError, AttributeError):
        message = None
    return str(message or body or "no message").replace("  ", " ")
