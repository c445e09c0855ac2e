"""How every collector flow begins and ends when interrupted (DESIGN §10).

``@interruptible`` sits under ``@flow``: while the flow body runs, SIGINT and SIGTERM only ask
it to stop (:mod:`coinfill.interrupts`); when the body gives up with :class:`RunInterruptedError`,
the flow run ends **Cancelled** with that one line as its state message (in the Prefect UI
too) instead of Crashed with a traceback. A caller of the flow gets Prefect's
``CancelledRun`` carrying the same message. A known failure (a :class:`CoinfillError`) ends
the run **Failed** with its message as the state message, without an engine traceback.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

from prefect import get_run_logger
from prefect.exceptions import CancelledRun
from prefect.states import Cancelled, Failed

from coinfill.errors import CoinfillError, RunInterruptedError, one_line
from coinfill.interrupts import NOT_STARTED, STOP, stop_on_signals

P = ParamSpec("P")
R = TypeVar("R")


def interruptible(fn: Callable[P, R]) -> Callable[P, R]:
    """The flow function, stopping cleanly on SIGINT/SIGTERM.

    It returns a Cancelled state instead of ``R`` when interrupted: Prefect takes a returned
    state as the run's final state, so callers never receive it as a value.
    """

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with stop_on_signals():
            try:
                STOP.check(lambda: NOT_STARTED)
                return fn(*args, **kwargs)
            except RunInterruptedError as exc:
                message = str(exc)
            except CoinfillError as exc:
                # A known failure: the run's state message is its one line (in the UI too),
                # and a caller of the flow still gets the exception itself.
                get_run_logger().error(one_line(exc))
                return cast(R, Failed(message=one_line(exc), data=exc))
            except CancelledRun as exc:  # a subflow (the feature refresh) was interrupted
                if not STOP:
                    raise
                message = str(exc) or "interrupted"
        get_run_logger().warning(message)
        return cast(R, Cancelled(message=message))

    # Prefect validates parameters from the annotations; resolve them where ``fn`` lives (its
    # module's names), not here.
    run.__annotations__ = typing.get_type_hints(fn)
    run.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return run
