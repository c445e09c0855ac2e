"""The one HTTP path of every source: rate limit, retries with backoff, redaction.

- Every attempt first takes a slot from the provider's :class:`RateLimiter`.
- 429, 5xx, connect/read timeouts and dropped connections are retried with capped exponential
  backoff and full jitter; a ``Retry-After`` (seconds or an HTTP date) is honoured as the
  minimum wait. Other 4xx are never retried: the source client turns them into a message.
- Secrets that travel in the URL (FRED's ``api_key``) are replaced by ``***`` in every error
  this module raises and in httpx's own request log lines.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from coinfill.errors import CoinfillError
from coinfill.sources.ratelimit import RateLimiter

log = logging.getLogger(__name__)
MASK = "***"


class SourceError(CoinfillError):
    """A source could not give what was asked; the message names source and request."""


class SourceRequestError(SourceError):
    """The source refused the request (a 4xx other than 429): retrying would not help."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class SourceUnavailableError(SourceError):
    """Retries ran out on 429/5xx/timeouts, or the source asked to wait too long."""


class SourceResponseError(SourceError):
    """The source answered 200 with a body that is not what its API documents."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    # A Retry-After longer than this fails the request instead of stalling the run.
    max_retry_after: float = 600.0
    retry_statuses: frozenset[int] = frozenset({408, 425, 429})

    def should_retry(self, status: int) -> bool:
        return status in self.retry_statuses or status >= 500

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter over a capped exponential: spreads retries of parallel runs apart."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


class _Redactor(logging.Filter):
    """Removes registered secrets from log records of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_REDACTOR = _Redactor()
for _name in ("httpx", "httpcore", __name__):
    logging.getLogger(_name).addFilter(_REDACTOR)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret masked, as typed and as it appears URL-encoded."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
                text = text.replace(form, MASK)
    return text


class HttpSource:
    """A rate-limited, retrying GET client for one provider's base URL."""

    def __init__(
        self,
        name: str,
        base_url: str,
        limiter: RateLimiter,
        *,
        secrets: Iterable[str] = (),
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        headers: Mapping[str, str] | None = None,
        observe: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        """``observe`` sees every response before it is judged (Binance reads its used
        weight and ban headers there); it may raise to stop the request."""
        self.name = name
        self.observe = observe
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.secrets = {s for s in secrets if s}
        _REDACTOR.secrets |= self.secrets
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.requests = 0
        self.waited = 0.0
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": "coinfill (+https://github.com/coinfill)", **(headers or {})},
        )

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def describe(self, path: str, params: Mapping[str, Any]) -> str:
        """``GET <url>`` with secrets masked: safe for logs, errors and artifacts."""
        request = self.client.build_request("GET", path, params=_query(params))
        return f"GET {self.redact(str(request.url))}"

    def get(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        cost: float = 1.0,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A 2xx response, or a :class:`SourceError` saying what went wrong, secrets masked.

        ``cost`` is what one attempt takes from the rate limiter (Binance: request weight).
        ``headers`` are added to this request; with conditional ones (``If-None-Match``,
        ``If-Modified-Since``) a 304 Not Modified is an answer too.
        """
        conditional = bool(headers) and any(k.lower().startswith("if-") for k in headers or {})
        what = self.describe(path, params)
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            self.limiter.acquire(cost)
            self.requests += 1
            try:
                response = self.client.get(path, params=_query(params), headers=headers)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                last = f"{type(exc).__name__}: {self.redact(str(exc)) or 'no answer'}"
                delay = self.retry.backoff(attempt, self.rng)
            else:
                if self.observe is not None:
                    self.observe(response)
                if response.is_success or (conditional and response.status_code == 304):
                    return response
                if not self.retry.should_retry(response.status_code):
                    raise SourceRequestError(
                        f"{self.name}: {what} answered {response.status_code}: "
                        f"{self.redact(response.text)[:300]}",
                        response.status_code,
                        response.text,
                    )
                last = f"HTTP {response.status_code}"
                delay = self._delay(response, attempt)
            if attempt == self.retry.attempts:
                break
            log.warning(
                "%s: %s failed (%s); retry %d/%d in %.1f s",
                self.name,
                what,
                last,
                attempt,
                self.retry.attempts - 1,
                delay,
            )
            self.waited += delay
            self.sleep(delay)
        raise SourceUnavailableError(
            f"{self.name}: {what} failed {self.retry.attempts} times; last: {last}"
        )

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        backoff = self.retry.backoff(attempt, self.rng)
        asked = retry_after(response.headers.get("Retry-After"))
        if asked is None:
            return backoff
        if asked > self.retry.max_retry_after:
            raise SourceUnavailableError(
                f"{self.name}: asked to wait {asked:.0f} s (Retry-After) after HTTP "
                f"{response.status_code}; more than {self.retry.max_retry_after:.0f} s, "
                "so this run stops here — retry later"
            )
        return max(asked, min(backoff, self.retry.base_delay))


def _query(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """``None`` for no parameters: httpx would otherwise drop the query of a full URL (a
    ``next_page_url`` is fetched as given)."""
    return dict(params) if params else None


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
