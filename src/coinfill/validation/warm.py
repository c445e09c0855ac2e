"""Coverage passes without paying Great Expectations' import on the CLI's critical path.

Importing GX takes ~3 s, more than the rest of a small run's start-up. A flow's coverage pass
calls :func:`validate` here: in-process by default (deployments, tests, anything that already
imported GX), or — inside :func:`warm_validator`, which the CLI enters first thing — in a
helper process (:mod:`coinfill.validation.worker`) that has imported GX on the other core
while this process imported Prefect and the flow. Same function, same database, same report;
a helper that failed to start is reported once at debug level and the pass runs here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from coinfill.validation.report import SuiteReport

log = logging.getLogger(__name__)
_lock = threading.Lock()
_current: WarmValidator | None = None


class WarmValidatorGoneError(Exception):
    """The helper died or answered garbage; the caller runs the pass itself."""


class WarmValidator:
    """One helper process; requests are serialised (one pass at a time)."""

    def __init__(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        command = [sys.executable, "-m", "coinfill.validation.worker", "--parent", str(os.getpid())]
        # Closed in close(); it holds the helper's stderr for a failure's message.
        self._errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [*command, "--pdeathsig"] if main else command,
            # Its own session: a terminal's Ctrl-C is the CLI's to handle, not the helper's.
            start_new_session=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
        )
        self._ready = False
        self.broken = False

    def validate(self, engine: Engine, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        url = engine.url.render_as_string(hide_password=False)
        try:
            if not self._ready:
                self._receive(stdout)  # blocks until GX is imported there
                self._ready = True
            pickle.dump((url, args, kwargs), stdin)
            stdin.flush()
            reply = self._receive(stdout)
        except BaseException:
            self.broken = True  # mid-request (an interrupt, a dead helper): never reuse it
            raise
        if reply[0] == "ok":
            return reply[1]
        _, kind, exc_args, state, remote = reply
        raise _rebuilt(kind, exc_args, state, remote)

    def _receive(self, stdout: IO[bytes]) -> tuple[Any, ...]:
        try:
            reply = pickle.load(stdout)
        except (EOFError, pickle.UnpicklingError, OSError) as exc:
            raise WarmValidatorGoneError(f"{type(exc).__name__}: {self._last_error()}") from None
        if not isinstance(reply, tuple) or not reply:
            raise WarmValidatorGoneError(f"unexpected reply {reply!r:.80}")
        return reply

    def _last_error(self) -> str:
        self._errors.seek(0)
        lines = self._errors.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {self._process.poll()}"

    def close(self) -> None:
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()  # the helper's loop ends at EOF
        if self.broken and self._process.poll() is None:
            self._process.kill()
        self._errors.close()


def _rebuilt(
    kind: type[BaseException], args: tuple[Any, ...], state: dict[str, Any], remote: str
) -> BaseException:
    """The helper's exception as this process's: same class, message and attributes (a class
    whose ``__init__`` takes keywords cannot be unpickled the usual way)."""
    exc = kind.__new__(kind, *args)
    exc.args = args
    vars(exc).update(state)
    if remote:
        exc.add_note(f"raised in the warm validator process:\n{remote}")
    return exc


@contextlib.contextmanager
def warm_validator() -> Iterator[None]:
    """Within: coverage passes run in a helper that imports GX now, in parallel. Nothing is
    started when GX is already imported here (a test session, a second run in-process)."""
    global _current
    if _current is not None or "great_expectations" in sys.modules:
        yield
        return
    try:
        helper = WarmValidator()
    except OSError as exc:
        log.debug("no warm validator (%s): coverage passes run in this process", exc)
        yield
        return
    _current = helper
    try:
        yield
    finally:
        _current = None
        helper.close()


def validate(engine: Engine, *args: Any, **kwargs: Any) -> SuiteReport:
    """``coinfill.validation.gxrun.validate(engine, *args, **kwargs)``, in the warm validator
    when one runs (see the module doc)."""
    helper = _current
    if helper is not None and not helper.broken:
        with _lock:
            try:
                report: SuiteReport = helper.validate(engine, args, kwargs)
                return report
            except WarmValidatorGoneError as exc:
                log.debug("the warm validator is gone (%s): validating in this process", exc)
    from coinfill.validation.gxrun import validate as validate_here

    return validate_here(engine, *args, **kwargs)
