"""NewsAPI.org ``/v2/everything``: dated news search, used only with a key.

    GET /v2/everything?q=bitcoin OR ethereum&from=2026-11-19T00:00:00&to=2026-11-19T23:59:59
        &language=en&sortBy=publishedAt&pageSize=100&page=1        (header X-Api-Key)
    → {"status": "ok", "totalResults": 130, "articles": [{"source": {"id": null, "name": …},
        "author": …, "title": …, "description": …, "url": …, "publishedAt": "…Z", …}]}

Errors come as ``{"status": "error", "code": "apiKeyInvalid", "message": …}``: a bad key
(401) stops the run naming the setting; ``maximumResultsReached`` (426, the developer plan
serves 100 results per query) ends paging for that day without failing it; a date before the
plan's history (``parameterInvalid``) names the limit. Items NewsAPI withdrew come back as
``"[Removed]"`` and are skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from coinfill.errors import ConfigurationError
from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceRequestError,
    SourceResponseError,
)
from coinfill.sources.ratelimit import RateLimiter, local_bucket

DEFAULT_BASE_URL = "https://newsapi.org"
PATH = "/v2/everything"
PAGE_SIZE = 100
KEY_HEADER = "X-Api-Key"
KEY_SETTING = "COINFILL_NEWSAPI_KEY"
REMOVED = "[Removed]"
_BAD_KEY = {"apiKeyInvalid", "apiKeyMissing", "apiKeyDisabled", "apiKeyExhausted"}


@dataclass(frozen=True)
class NewsItem:
    url: str
    source: str
    title: str | None
    description: str | None
    published: datetime | None
    removed: bool


@dataclass
class DayResult:
    items: list[NewsItem]
    total: int
    pages: int
    truncated: str | None = None  # why not every result was read


class NewsApiClient:
    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        limiter: RateLimiter | None = None,
        *,
        query: str = "bitcoin OR ethereum OR crypto",
        language: str = "en",
        max_pages: int = 1,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.query = query
        self.language = language
        self.max_pages = max_pages
        self.http = HttpSource(
            "newsapi",
            base_url,
            limiter or local_bucket("newsapi", 1.0),
            secrets=[api_key],
            timeout=timeout,
            retry=retry or RetryPolicy(attempts=3),
            transport=transport,
            sleep=sleep,
            headers={KEY_HEADER: api_key},
        )

    def __enter__(self) -> NewsApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def day(self, day: date) -> DayResult:
        """Every article of one UTC day the plan lets us page through."""
        result = DayResult([], 0, 0)
        for page in self._pages(day, result):
            result.items += [_item(a) for a in page]
        return result

    def _pages(self, day: date, result: DayResult) -> Iterator[list[dict[str, Any]]]:
        end = datetime.combine(day, datetime.min.time()) + timedelta(days=1, seconds=-1)
        for page in range(1, self.max_pages + 1):
            params = {
                "q": self.query, "from": f"{day.isoformat()}T00:00:00",
                "to": end.isoformat(), "language": self.language, "sortBy": "publishedAt",
                "pageSize": PAGE_SIZE, "page": page,
            }  # fmt: skip
            try:
                response = self.http.get(PATH, params)
            except SourceRequestError as exc:
                code, message = _error(exc.body)
                message = self.http.redact(message)  # an echoed key stays out of every message
                if code in _BAD_KEY or exc.status == 401:
                    raise ConfigurationError(
                        f"newsapi refused the key ({code}: {message}) — check {KEY_SETTING} "
                        "or the Prefect Secret block named by COINFILL_NEWSAPI_KEY_BLOCK"
                    ) from None
                if code == "maximumResultsReached":
                    result.truncated = f"page {page}: {message}"
                    return
                raise SourceRequestError(
                    f"newsapi: {day}: {code or exc.status}: {message}", exc.status, exc.body
                ) from None
            payload = _json(response, self.http.describe(PATH, params))
            articles = payload.get("articles")
            if payload.get("status") != "ok" or not isinstance(articles, list):
                raise SourceResponseError(
                    f"newsapi: {self.http.describe(PATH, params)}: no 'articles' list in "
                    f"the answer: {response.text[:200]}"
                )
            result.total = int(payload.get("totalResults") or 0)
            result.pages = page
            yield articles
            if page * PAGE_SIZE >= result.total or len(articles) < PAGE_SIZE:
                return
        if result.pages * PAGE_SIZE < result.total:
            result.truncated = f"{result.total} results, read {result.pages} page(s)"


def _item(raw: dict[str, Any]) -> NewsItem:
    source = raw.get("source") or {}
    title = raw.get("title")
    return NewsItem(
        url=str(raw.get("url") or ""),
        source=str(source.get("name") or "newsapi"),
        title=title,
        description=raw.get("description"),
        published=_time(raw.get("publishedAt")),
        removed=title == REMOVED or source.get("name") == REMOVED,
    )


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = (parsed - (parsed.utcoffset() or timedelta())).replace(tzinfo=None)
    return parsed


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        payload = response.json()
    except json.JSONDecodeError:
        raise SourceResponseError(f"newsapi: {what}: not JSON: {response.text[:200]}") from None
    if not isinstance(payload, dict):
        raise SourceResponseError(f"newsapi: {what}: not a JSON object: {response.text[:200]}")
    return payload


def _error(body: str) -> tuple[str, str]:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        return "", body[:200]
    if not isinstance(payload, dict):
        return "", body[:200]
    return str(payload.get("code") or ""), str(payload.get("message") or "")[:300]
