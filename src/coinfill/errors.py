"""Errors a user can act on. Each message says what is wrong and where.

Decisions are taken on these types and their attributes, never on message text: ``retryable``
tells the chunk runner whether another attempt can help (a deadlock can, a missing privilege
cannot); ``stops_run`` whether the remaining work should not even be started.
"""

from __future__ import annotations

from typing import ClassVar


class CoinfillError(Exception):
    """Base of every error coinfill reports to a user instead of a traceback."""

    retryable: ClassVar[bool] = False
    stops_run: ClassVar[bool] = False


class ConfigurationError(CoinfillError):
    """A setting (env var, .env file, Block) is missing or malformed."""

    stops_run = True


class InputError(CoinfillError):
    """A run was asked for something impossible: a bad window, an unknown symbol, ..."""


class DatabaseUnavailableError(CoinfillError):
    """The configured database cannot be reached or refused the connection."""

    stops_run = True


class DatabaseRefusedError(CoinfillError):
    """The database refused a statement (a privilege, an unknown table or column, a syntax
    error): the same statement would be refused again, so it is neither retried nor followed
    by more writes. The message names the privilege or object, the table and the fix."""

    stops_run = True

    def __init__(self, message: str, *, table: str | None = None, privilege: str | None = None):
        super().__init__(message)
        self.table = table
        self.privilege = privilege


class DatabaseTransientError(CoinfillError):
    """A deadlock, a lock-wait timeout or a lost connection: the transaction was rolled back
    and another attempt is expected to succeed."""

    retryable = True


class BackfillFailedError(CoinfillError):
    """Some chunks of a backfill failed after their retries; the others were written."""


class CoverageMissedError(BackfillFailedError):
    """Coverage after a backfill is under its target (or a validity rule broke); data stays."""


class RunInterruptedError(CoinfillError):
    """SIGINT or SIGTERM arrived: no new work was started, in-flight writes finished."""

    stops_run = True

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def one_line(error: BaseException | str) -> str:
    """The message on one line: what an ``error:`` line and a run's state message show."""
    return " ".join(str(error).split())


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt of the work that raised ``exc`` may succeed.

    Errors coinfill knows carry the answer; anything else (a bug, a driver error no one
    classified) gets the benefit of the doubt, as Prefect's own ``retries`` would give it.
    """
    if isinstance(exc, CoinfillError):
        return exc.retryable
    return not isinstance(exc, (KeyboardInterrupt, SystemExit))
