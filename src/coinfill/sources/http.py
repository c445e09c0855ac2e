"""The one HTTP path of every source: rate limit, retries with backoff, redaction.

- Every attempt first takes a slot from the provider's :class:`RateLimiter`.
- 429, 5xx, connect/read timeouts, dropped connections and 200s whose body does not parse
  are retried with capped exponential
  backoff and full jitter; a ``Retry-After`` (seconds or an HTTP date) is honoured as the
  minimum wait. Other 4xx are never retried: the source client explains them (its fault kind).
- Transport failures in a row open the host's circuit breaker (:class:`Breaker`): the
  run's further requests to it fail at once.
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
from typing import Any, TypeVar

import httpx

from coinfill.sources.faults import (
    Breaker,
    Fault,
    SourceError,
    SourceRequestError,
    SourceResponseError,
    SourceUnavailableError,
)
from coinfill.sources.ratelimit import RateLimiter
from coinfill.sources.redaction import redact, register_secrets

log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = [
    "Fault",
    "HttpSource",
    "RetryPolicy",
    "SourceError",
    "SourceRequestError",
    "SourceResponseError",
    "SourceUnavailableError",
    "redact",
    "retry_after",
]


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


Parse = Callable[[httpx.Response], T]
Explain = Callable[[SourceRequestError], SourceError]


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
        outage_after: int = 4,
    ) -> None:
        """``observe`` sees every response before it is judged (Binance reads its used
        weight and ban headers there); it may raise to stop the request. ``outage_after``
        transport failures in a row open the circuit breaker of the host."""
        self.name = name
        self.base_url = base_url
        self.observe = observe
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.secrets = {s for s in secrets if s}
        register_secrets(self.secrets)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.requests = 0
        self.waited = 0.0
        self.outage_after = outage_after
        self._breakers: dict[str, Breaker] = {}
        self._refused: SourceError | None = None  # refused credentials stop the provider
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

    @property
    def stopped(self) -> SourceError | None:
        """Why this provider takes no more requests this run (refused key, outage), if so."""
        if self._refused is not None:
            return self._refused
        return next((b.outage for b in self._breakers.values() if b.outage), None)

    def get(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        cost: float = 1.0,
        headers: Mapping[str, str] | None = None,
        explain: Explain | None = None,
    ) -> httpx.Response:
        """A 2xx response (see :meth:`fetch`), not parsed."""
        return self.fetch(path, params, _as_is, cost=cost, headers=headers, explain=explain)

    def fetch(
        self,
        path: str,
        params: Mapping[str, Any],
        parse: Parse[T],
        *,
        cost: float = 1.0,
        headers: Mapping[str, str] | None = None,
        explain: Explain | None = None,
    ) -> T:
        """``parse(response)`` of a 2xx answer, or a :class:`SourceError` of its fault kind.

        ``parse`` runs inside the retry loop: a 200 whose body is cut off or lacks the
        documented fields (``parse`` raises :class:`SourceResponseError`) is asked again like
        a 5xx. ``explain`` turns a refusal (4xx) into the provider's own error, decided from
        status and parsed body; a refusal of kind ``credentials`` stops the provider: every
        later request raises it at once. ``cost`` is what one attempt takes from the rate
        limiter (Binance: request weight). ``headers`` are added to this request; with
        conditional ones (``If-None-Match``) a 304 Not Modified is an answer too.
        """
        conditional = bool(headers) and any(k.lower().startswith("if-") for k in headers or {})
        what = self.describe(path, params)
        breaker = self._breaker(path)
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            if self._refused is not None:
                raise self._refused
            breaker.check()
            self.limiter.acquire(cost)
            self.requests += 1
            try:
                response = self.client.get(path, params=_query(params), headers=headers)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                last = f"{type(exc).__name__}: {self.redact(str(exc)) or 'no answer'}"
                delay = self.retry.backoff(attempt, self.rng)
                response = None
            if response is None:
                breaker.failure(last)  # outside the except: the outage is not "during" it
            else:
                breaker.success()
                if self.observe is not None:
                    self.observe(response)
                if response.is_success or (conditional and response.status_code == 304):
                    try:
                        return parse(response)
                    except SourceResponseError as exc:
                        last = str(exc)
                        delay = self.retry.backoff(attempt, self.rng)
                        if attempt == self.retry.attempts:
                            raise SourceResponseError(
                                f"{last} (asked {attempt} times)", provider=self.name
                            ) from None
                elif not self.retry.should_retry(response.status_code):
                    raise self._refusal(response, what, explain)
                else:
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
            f"{self.name}: {what} failed {self.retry.attempts} times; last: {last}",
            provider=self.name,
        )

    def _refusal(self, response: httpx.Response, what: str, explain: Explain | None) -> SourceError:
        refused = SourceRequestError(
            f"{self.name}: {what} answered {response.status_code}: "
            f"{self.redact(response.text)[:300]}",
            response.status_code,
            response.text,
            provider=self.name,
        )
        error = refused if explain is None else explain(refused)
        error.provider = error.provider or self.name
        error.status = error.status or response.status_code
        if error.fault is Fault.CREDENTIALS:
            self._refused = error
        return error

    def _breaker(self, path: str) -> Breaker:
        """One breaker per host: a feed client talks to many publishers."""
        url = httpx.URL(path) if httpx.URL(path).host else httpx.URL(self.base_url)
        host = f"{url.host}:{url.port}" if url.port else url.host
        if host not in self._breakers:
            self._breakers[host] = Breaker(self.name, self.base_url or host, self.outage_after)
        return self._breakers[host]

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        backoff = self.retry.backoff(attempt, self.rng)
        asked = retry_after(response.headers.get("Retry-After"))
        if asked is None:
            return backoff
        if asked > self.retry.max_retry_after:
            raise SourceUnavailableError(
                f"{self.name}: asked to wait {asked:.0f} s (Retry-After) after HTTP "
                f"{response.status_code}; more than {self.retry.max_retry_after:.0f} s, "
                "so this run stops here — retry later",
                provider=self.name,
                status=response.status_code,
            )
        return max(asked, min(backoff, self.retry.base_delay))


def _as_is(response: httpx.Response) -> httpx.Response:
    return response


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
