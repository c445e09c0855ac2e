"""How ``coinfill run …`` runs a flow in-process and ends: one line per known failure.

- The run's log (Prefect's console handler) goes to stdout; stderr carries only the outcome
  line (``error: …`` or ``interrupted: …``), and no traceback unless ``--debug`` or
  ``COINFILL_DEBUG=1``.
- SIGINT/SIGTERM stop the run between writes (:mod:`coinfill.interrupts`); the exit code is
  130 or 143.
- Without a configured Prefect API the CLI reports to the local one (``make up``) or starts
  its own temporary one, which never outlives it (:mod:`coinfill.prefect_api`); it first marks
  runs a killed CLI left RUNNING as Crashed.
- Start-up is what users wait for (DESIGN §11): this module imports neither Prefect nor the
  flows at import time; the flow's module is imported while a temporary server boots.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import typer

from coinfill.backfill import plan_window
from coinfill.cli.common import debugging, err, fail, out, settings_or_exit
from coinfill.errors import BackfillFailedError, CoinfillError
from coinfill.interrupts import NOT_STARTED, STOP, stop_on_signals

T = TypeVar("T")
# What Prefect imports when the first flow starts (~0.7 s): warmed with the flow's module, so
# that it happens while a temporary server boots, not after.
ENGINE_MODULES = ("prefect.flow_engine", "prefect.task_engine", "fastapi.encoders")


class Summary(Protocol):
    coverage: str

    def markdown(self) -> str: ...


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


def run_flow(
    module: str,
    name: str,
    days: int | None,
    start: datetime | None,
    end: datetime | None,
    parameters: Callable[[], dict[str, Any]],
) -> None:
    """``coinfill run …``: flow ``name`` of ``module`` over the window with ``parameters()``.

    The window and the parameters are checked before anything starts (a typo fails fast and
    plainly); the flow's module is imported while the Prefect API starts; then the summary
    and the coverage before → after are printed.
    """
    try:
        plan_window(days, start, end, now=datetime.now(UTC).replace(tzinfo=None))
        checked = parameters()
    except CoinfillError as exc:
        raise fail(exc) from None

    def run() -> Summary:
        flow: Callable[..., Summary] = getattr(importlib.import_module(module), name)
        return flow(days=days, start=start, end=end, **checked)

    summary = run_flows(run, warm=[module])
    out.print(summary.markdown(), highlight=False)
    out.print("\ncoverage before → after:", highlight=False)
    out.print(summary.coverage, highlight=False)


def run_flows(run: Callable[[], T], warm: Sequence[str] = ()) -> T:
    """``run()`` (which calls flows in-process) with signals, the Prefect API and the error
    handling of the module doc; a failure ends the command with its one line. The modules
    ``warm`` names are imported while a temporary API server starts."""
    settings = settings_or_exit()
    STOP.clear()
    with stop_on_signals():
        return _run(run, warm, settings.local_api_url, settings.api_startup_timeout)


def _import_all(modules: Sequence[str]) -> None:
    for name in modules:
        importlib.import_module(name)


def _run(run: Callable[[], T], warm: Sequence[str], local_url: str, timeout: float) -> T:
    from coinfill.prefect_api import temporary_api
    from coinfill.validation.warm import warm_validator

    try:
        # Three things start at once, on two cores: Great Expectations imports in the warm
        # validator, a temporary Prefect server boots (if one is needed), the flow imports here.
        with (
            warm_validator(),
            temporary_api(
                timeout, local_url=local_url, warm=lambda: _import_all([*warm, *ENGINE_MODULES])
            ),
        ):
            from prefect import tags

            from coinfill.prefect_runs import mark_orphaned_runs_crashed, run_tag

            with quiet_prefect_console():
                crashed = mark_orphaned_runs_crashed()
                if crashed:
                    out.print(f"marked {crashed} run(s) of killed coinfill processes as Crashed")
                STOP.check(lambda: NOT_STARTED)
                with tags(run_tag()):
                    return run()
    except KeyboardInterrupt:
        raise _interrupted("interrupted (forced by a second signal)") from None
    except Exception as exc:
        raise _ended(exc) from None


def _ended(exc: Exception) -> typer.Exit:
    """The command's end for a run that raised: one line, the exit code by kind."""
    if "prefect.exceptions" in sys.modules:  # not loaded: it cannot be Prefect's
        from prefect.exceptions import CancelledRun

        if isinstance(exc, CancelledRun):
            return _interrupted(str(exc))
    if isinstance(exc, BackfillFailedError):
        return _fail(exc, code=1)
    if isinstance(exc, CoinfillError):
        return _interrupted(str(exc)) if STOP else _fail(exc, code=2)
    if debugging():
        raise exc
    return _fail(exc, code=1, hint="this is a bug or an unclassified failure: run again "
                 "with --debug for the traceback and report it")  # fmt: skip


def _interrupted(message: str) -> typer.Exit:
    """Every interrupt message of coinfill starts with "interrupted"."""
    err.print(message, highlight=False, markup=False)
    return typer.Exit(STOP.exit_code)


def _fail(exc: Exception, code: int, hint: str | None = None) -> typer.Exit:
    if debugging():  # --debug: where it came from, then the same line
        traceback.print_exception(exc, file=sys.stderr)
    return fail(exc, code, hint)
