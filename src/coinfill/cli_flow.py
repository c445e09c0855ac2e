"""How ``coinfill run …`` runs a flow in-process and ends: one line per known failure.

- The run's log (Prefect's console handler) goes to stdout; stderr carries only the outcome
  line (``error: …`` or ``interrupted: …``), and no traceback unless ``--debug`` or
  ``COINFILL_DEBUG=1``.
- SIGINT/SIGTERM stop the run between writes (:mod:`coinfill.interrupts`); the exit code is
  130 or 143.
- Without a configured Prefect API the CLI starts its own temporary one, which never outlives
  it (:mod:`coinfill.prefect_api`), and first marks runs a killed CLI left RUNNING as Crashed.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import typer

from coinfill.backfill import plan_window
from coinfill.cli_common import err, fail, out
from coinfill.errors import BackfillFailedError, CoinfillError
from coinfill.interrupts import NOT_STARTED, STOP, stop_on_signals

DEBUG_ENV = "COINFILL_DEBUG"
T = TypeVar("T")


class Summary(Protocol):
    coverage: str

    def markdown(self) -> str: ...


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class _KnownFailuresOnly(logging.Filter):
    """Without --debug: drop the engine's records of a failure the CLI reports itself (a
    coinfill error, an interrupt) and strip tracebacks from every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.exceptions import CancelledRun

        if record.exc_info:
            if isinstance(record.exc_info[1], (CoinfillError, CancelledRun)):
                return False
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


@contextmanager
def quiet_prefect_console() -> Iterator[None]:
    """While inside: Prefect's console handlers write to stdout, filtered (see the module
    doc); restored after, so an in-process caller (a test) keeps its own streams."""
    if debugging():
        yield
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    changed: list[tuple[PrefectConsoleHandler, Any, Any]] = []
    quiet = _KnownFailuresOnly()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler) and handler.stream is sys.stderr:
                changed.append((handler, handler.stream, handler.console.file))
                handler.setStream(sys.stdout)
                handler.console.file = sys.stdout  # it prints through a rich Console
                handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler, stream, file in changed:
            handler.setStream(stream)
            handler.console.file = file
            handler.removeFilter(quiet)


def run_flow_command(
    days: int | None, start: datetime | None, end: datetime | None, run: Callable[[], Summary]
) -> None:
    """Check the window before Prefect starts (a typo fails fast and plainly), run, report."""

    def checked() -> Summary:
        plan_window(days, start, end, now=datetime.now(UTC).replace(tzinfo=None))
        return run()

    summary = run_flows(checked)
    out.print(summary.markdown(), highlight=False)
    out.print("\ncoverage before → after:", highlight=False)
    out.print(summary.coverage, highlight=False)


def run_flows(run: Callable[[], T]) -> T:
    """``run()`` (which calls flows in-process) with signals, the Prefect API and the error
    handling of the module doc; a failure ends the command with its one line."""
    STOP.clear()
    with stop_on_signals():
        return _run(run)


def _run(run: Callable[[], T]) -> T:
    from prefect import tags
    from prefect.exceptions import CancelledRun

    from coinfill.prefect_api import temporary_api
    from coinfill.prefect_runs import mark_orphaned_runs_crashed, run_tag

    try:
        with quiet_prefect_console(), temporary_api():
            crashed = mark_orphaned_runs_crashed()
            if crashed:
                out.print(f"marked {crashed} run(s) of killed coinfill processes as Crashed")
            STOP.check(lambda: NOT_STARTED)
            with tags(run_tag()):
                return run()
    except CancelledRun as exc:
        raise _interrupted(str(exc)) from None
    except BackfillFailedError as exc:
        raise _fail(exc, code=1) from None
    except CoinfillError as exc:
        if STOP:
            raise _interrupted(str(exc)) from None
        raise _fail(exc, code=2) from None
    except KeyboardInterrupt:
        raise _interrupted("interrupted (forced by a second signal)") from None
    except Exception as exc:
        if debugging():
            raise
        raise _fail(exc, code=1, hint="this is a bug or an unclassified failure: run again "
                    "with --debug for the traceback and report it") from None  # fmt: skip


def _interrupted(message: str) -> typer.Exit:
    """Every interrupt message of coinfill starts with "interrupted"."""
    err.print(message, highlight=False, markup=False)
    return typer.Exit(STOP.exit_code)


def _fail(exc: Exception, code: int, hint: str | None = None) -> typer.Exit:
    if debugging():  # --debug: where it came from, then the same line
        traceback.print_exception(exc, file=sys.stderr)
    return fail(exc, code, hint)
