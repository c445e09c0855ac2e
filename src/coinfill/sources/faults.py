"""The one fault model of every source (DESIGN §10): what went wrong, decided here, once.

Every error a source raises is a :class:`SourceError` carrying its provider, the HTTP status
(if any) and a :class:`Fault` kind; the flows act on the kind, never on message text:

========== ====================================================== ==============================
kind       examples                                               what the run does
========== ====================================================== ==============================
transient  429/408/5xx/timeouts/a body that does not parse, after retried on the HTTP path; if
           the retries ran out                                    still failing, the item fails
refused    unknown series, asset or pair; 404                     the item is named with its
                                                                  fix, the others go on
credentials a key refused (401/403, FRED's 400 for a bad key), a   that provider stops at once
           location refused (Binance 451)
unavailable a metric or a history the provider's tier does not    recorded, asked again after
           serve                                                  its re-check date
outage     DNS, connection refused, timeouts — several in a row   circuit breaker: every further
                                                                  request fails at once
========== ====================================================== ==============================
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from coinfill.errors import CoinfillError, ConfigurationError


class Fault(StrEnum):
    TRANSIENT = "transient"
    REFUSED = "refused"
    CREDENTIALS = "credentials"
    UNAVAILABLE = "unavailable"
    OUTAGE = "outage"

    @property
    def stops_provider(self) -> bool:
        """Every further request to the provider would fail the same way."""
        return self in (Fault.CREDENTIALS, Fault.OUTAGE)


class SourceError(CoinfillError):
    """A source could not give what was asked; the message names source and request."""

    default_fault: ClassVar[Fault] = Fault.REFUSED

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        fault: Fault | None = None,
        setting: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.fault = fault or self.default_fault
        # The setting or Secret block that fixes it (refused credentials, a refused location).
        self.setting = setting


class SourceRequestError(SourceError):
    """The source refused the request (a 4xx other than 429): retrying would not help."""

    def __init__(
        self,
        message: str,
        status: int,
        body: str,
        *,
        provider: str = "",
        fault: Fault | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status, fault=fault)
        self.body = body


class SourceUnavailableError(SourceError):
    """Retries ran out on 429/5xx/timeouts, or the source asked to wait too long."""

    default_fault = Fault.TRANSIENT


class SourceResponseError(SourceError):
    """The source answered 200 with a body that is not what its API documents (cut off, not
    JSON, documented fields missing): transient, the HTTP path asks again."""

    default_fault = Fault.TRANSIENT


class CredentialsRefusedError(SourceError, ConfigurationError):
    """The provider refused our key or our location: nothing more is asked of it this run."""

    default_fault = Fault.CREDENTIALS
    stops_run = False  # the other providers of the run go on


class ProviderOutageError(SourceError):
    """The provider cannot be reached at all (the circuit breaker is open)."""

    default_fault = Fault.OUTAGE


class Breaker:
    """Opens after ``threshold`` transport failures in a row (DNS, refused, timeouts); then
    every request of the run to that host fails at once with one :class:`ProviderOutageError`.

    It stays open for the rest of the run: a provider that was down for four attempts over
    several seconds of backoff is not worth 500 more symbols' worth of waiting.
    """

    def __init__(self, provider: str, base_url: str, threshold: int = 4) -> None:
        self.provider = provider
        self.base_url = base_url
        self.threshold = threshold
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._since: datetime | None = None
        self._open: ProviderOutageError | None = None

    def check(self) -> None:
        if self._open is not None:
            raise self._open

    def success(self) -> None:
        with self._lock:
            if self._open is None:
                self._in_a_row, self._since = 0, None

    def failure(self, cause: str) -> None:
        """Count one transport failure; raise :class:`ProviderOutageError` once it opens."""
        with self._lock:
            if self._open is None:
                self._in_a_row += 1
                self._since = self._since or datetime.now(UTC)
                if self._in_a_row >= self.threshold:
                    self._open = ProviderOutageError(
                        f"{self.provider} unreachable at {self.base_url or 'its feeds'} since "
                        f"{self._since:%Y-%m-%d %H:%M:%S} UTC ({self._in_a_row} failures in a "
                        f"row: {cause})",
                        provider=self.provider,
                    )
        self.check()

    @property
    def outage(self) -> ProviderOutageError | None:
        return self._open
