"""NewsAPI.org ``/v2/everything``: dated news search, used only with a key.

    GET /v2/everything?q=bitcoin OR ethereum&from=2026-11-19T00:00:00&to=2026-11-19T23:59:59
        &language=en&sortBy=publishedAt&pageSize=100&page=1        (header X-Api-Key)
    → {"status": "ok", "totalResults": 130, "articles": [{"source": {"id": null, "name": …},
        "author": …, "title": …, "description": …, "url": …, "publishedAt": "…Z", …}]}

Errors come as ``{"status": "error", "code": "apiKeyInvalid", "message": …}``: a bad key
(401) stops the provider naming the setting (:class:`CredentialsRefusedError`);
``maximumResultsReached`` (426, the developer plan serves 100 results per query) ends paging
for that day without failing it; a date before the plan's history (426 ``parameterInvalid``)
names the limit and is of kind ``unavailable``. A page that still fails after its retries ends
the day: the items of the pages before it are kept, the failure in :attr:`DayResult.error`.
Items NewsAPI withdrew come back as ``"[Removed]"`` and are skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from coinfill.sources.faults import CredentialsRefusedError, Fault
from coinfill.sources.http import (
    HttpSource,
    RetryPolicy,
    SourceError,
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
MAX_RESULTS = "maximumResultsReached"
PLAN_LIMIT = 426  # NewsAPI's status for what the plan does not serve
PROVIDER = "newsapi"


class NewsApiError(SourceRequestError):
    """NewsAPI refused a request; ``code`` is its error code (``parameterInvalid``, …)."""

    def __init__(
        self, message: str, status: int, body: str, *, code: str, fault: Fault | None = None
    ) -> None:
        super().__init__(message, status, body, provider=PROVIDER, fault=fault)
        self.code = code


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
    # A page that failed after ``pages`` pages had arrived (their articles are in ``items``).
    error: SourceError | None = None


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
            PROVIDER,
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
        """Every article of one UTC day the plan lets us page through. A page failing after
        others arrived keeps their items and records the failure in ``error``; a failing
        first page raises."""
        result = DayResult([], 0, 0)
        pages = self._pages(day, result)
        while True:
            try:
                items = next(pages)
            except StopIteration:
                break
            except SourceError as exc:
                if not result.pages:
                    raise
                result.error = exc
                break
            result.items += items
        return result

    def _pages(self, day: date, result: DayResult) -> Iterator[list[NewsItem]]:
        end = datetime.combine(day, datetime.min.time()) + timedelta(days=1, seconds=-1)
        for page in range(1, self.max_pages + 1):
            params = {
                "q": self.query, "from": f"{day.isoformat()}T00:00:00",
                "to": end.isoformat(), "language": self.language, "sortBy": "publishedAt",
                "pageSize": PAGE_SIZE, "page": page,
            }  # fmt: skip
            what = self.http.describe(PATH, params)
            try:
                total, items = self.http.fetch(
                    PATH,
                    params,
                    lambda response, what=what: self._read(response, what),  # type: ignore[misc]
                    explain=lambda exc: self._explain(exc, day),
                )
            except NewsApiError as exc:
                if exc.code != MAX_RESULTS:
                    raise
                result.truncated = f"page {page}: {self.http.redact(_error(exc.body)[1])}"
                return
            result.total = total
            result.pages = page
            yield items
            if page * PAGE_SIZE >= result.total or len(items) < PAGE_SIZE:
                return
        if result.pages * PAGE_SIZE < result.total:
            result.truncated = f"{result.total} results, read {result.pages} page(s)"

    def _read(self, response: httpx.Response, what: str) -> tuple[int, list[NewsItem]]:
        """Inside the retry loop: a cut-off or malformed page is asked again."""
        payload = _json(response, what, self.http.redact)
        articles = payload.get("articles")
        if payload.get("status") != "ok" or not isinstance(articles, list):
            raise SourceResponseError(
                f"newsapi: {what}: no 'articles' list in the answer: "
                f"{self.http.redact(response.text)[:200]}",
                provider=PROVIDER,
            )
        if not all(isinstance(a, dict) for a in articles):
            raise SourceResponseError(
                f"newsapi: {what}: an article that is not an object in the answer",
                provider=PROVIDER,
            )
        try:
            total = int(payload.get("totalResults") or 0)
        except (TypeError, ValueError):
            total = 0
        return total, [_item(a) for a in articles]

    def _explain(self, exc: SourceRequestError, day: date) -> SourceError:
        """NewsAPI's refusal, decided from status and the parsed error ``code``."""
        code, message = _error(exc.body)
        message = self.http.redact(message)  # an echoed key stays out of every message
        if code in _BAD_KEY or exc.status == 401:
            return CredentialsRefusedError(
                f"newsapi refused the key ({code}: {message}) — check {KEY_SETTING} "
                "or the Prefect Secret block named by COINFILL_NEWSAPI_KEY_BLOCK",
                provider=PROVIDER,
                status=exc.status,
                setting=KEY_SETTING,
            )
        unavailable = exc.status == PLAN_LIMIT and code != MAX_RESULTS
        return NewsApiError(
            f"newsapi: {day}: {code or exc.status}: {message}",
            exc.status or 400,
            exc.body,
            code=code,
            fault=Fault.UNAVAILABLE if unavailable else None,
        )


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


def _json(response: httpx.Response, what: str, redact: Callable[[str], str]) -> dict[str, Any]:
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SourceResponseError(
            f"newsapi: {what}: not JSON: {redact(response.text)[:200]}", provider=PROVIDER
        ) from None
    if not isinstance(payload, dict):
        raise SourceResponseError(
            f"newsapi: {what}: not a JSON object: {redact(response.text)[:200]}",
            provider=PROVIDER,
        )
    return payload


def _error(body: str) -> tuple[str, str]:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        return "", body[:200]
    if not isinstance(payload, dict):
        return "", body[:200]
    return str(payload.get("code") or ""), str(payload.get("message") or "")[:300]
