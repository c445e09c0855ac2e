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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from coinfill.sources.faults import CredentialsRefusedError, Fault, SourceError
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
KEY_SETTING = "COINFILL_FRED_API_KEY"


class FredError(SourceRequestError):
    """FRED refused a request (HTTP 400): its own message, naming the series."""


@dataclass(frozen=True)
class FredPage:
    """One page of observations; ``pages`` is how many the request has in all."""

    observations: list[Observation]
    number: int
    pages: int


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
        key_block: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.page_limit = page_limit
        self.key_block = key_block  # the Secret block named in the message of a refused key
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
        pages = self.pages(series_id, start, end, units=units, vintages=vintages)
        return [o for page in pages for o in page.observations]

    def pages(
        self,
        series_id: str,
        start: date | None = None,
        end: date | None = None,
        *,
        units: str = "lin",
        vintages: bool = False,
    ) -> Iterator[FredPage]:
        """The pages of :meth:`observations` as they arrive, so a caller can keep what it
        received when a later page fails."""
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
        offset, number = 0, 0
        while True:
            asked = {**params, "offset": offset}
            page = self.http.fetch(
                PATH,
                asked,
                lambda r, asked=asked: self._read(series_id, r, asked),  # type: ignore[misc]
                explain=lambda exc: self._explain(series_id, exc),
            )
            number += 1
            offset += len(page)
            total = max(page.count, offset)
            yield FredPage(page.rows, number, max(number, -(-total // self.page_limit)))
            if not page.rows or offset >= page.count:
                return

    def _explain(self, series_id: str, exc: SourceRequestError) -> SourceError:
        message = self.http.redact(_fred_message(exc.body))[:300]
        if exc.status in (400, 401, 403) and _names_the_key(exc.body):
            where = f"the Prefect Secret block '{self.key_block}' or " if self.key_block else ""
            return CredentialsRefusedError(
                f"FRED refused the API key (HTTP {exc.status}: {message}) — check {where}"
                f"{KEY_SETTING}",
                provider="FRED",
                status=exc.status,
                setting=KEY_SETTING,
            )
        return FredError(
            f"FRED refused series {series_id} (HTTP {exc.status}): {message} — check the series "
            "id in COINFILL_MACRO_SERIES",
            exc.status or 400,
            exc.body,
            provider="FRED",
            fault=Fault.REFUSED,
        )

    def _read(self, series_id: str, response: httpx.Response, params: dict[str, Any]) -> _Page:
        where = self.http.describe(PATH, params)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SourceResponseError(
                f"FRED series {series_id}: {where} returned a body that is not JSON: "
                f"{self.http.redact(response.text)[:120]!r}",
                provider="FRED",
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("observations"), list):
            raise SourceResponseError(
                f"FRED series {series_id}: {where} returned JSON without an observations list",
                provider="FRED",
            )
        rows = [self._parse(series_id, row) for row in body["observations"]]
        try:
            count = int(body.get("count", 0))
        except (TypeError, ValueError):
            count = 0
        return _Page(rows, count)

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
                f"FRED series {series_id}: malformed observation {str(row)[:120]} ({exc})",
                provider="FRED",
            ) from None


@dataclass(frozen=True)
class _Page:
    rows: list[Observation]
    count: int

    def __len__(self) -> int:
        return len(self.rows)


def _names_the_key(body: str) -> bool:
    """FRED has one status (400) for every refusal; its parsed ``error_message`` tells a
    refused key ("The value for variable api_key is not registered", "Variable api_key is not
    set") from an unknown series. This reads the provider's error body, not our exception."""
    return "api_key" in _fred_message(body)


def _fred_message(body: str) -> str:
    try:
        message = json.loads(body).get("error_message")
    except (json.JSONDecodeError, AttributeError):
        message = None
    return str(message or body or "no message").replace("  ", " ")
