"""SIGINT and SIGTERM stop a run cleanly (DESIGN §10).

Ctrl-C in a terminal, ``kill``, and Kubernetes cancelling a run or deleting its pod all arrive
as one of these two signals. The first one does not raise anywhere: it sets :data:`STOP`. The
chunk runner launches no new chunk once it is set, the collectors stop between two writes
(each write is one transaction, so it commits or rolls back whole), and the flow ends
Cancelled with one line. A second signal is the user insisting: it raises
``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from coinfill.errors import RunInterruptedError

HANDLED = (signal.SIGINT, signal.SIGTERM)
NOT_STARTED = "interrupted before the run started; nothing was written"
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class StopRequest:
    """Set by the first SIGINT/SIGTERM; read by every loop that starts work."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None

    def request(self, signum: int) -> None:
        self.signum = self.signum or signum
        self._event.set()

    def clear(self) -> None:
        self.signum = None
        self._event.clear()

    def __bool__(self) -> bool:
        return self._event.is_set()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(signal.Signals(self.signum or signal.SIGINT), 130)

    def check(self, message: Callable[[], str]) -> None:
        """Raise :class:`RunInterruptedError` with ``message()`` if a stop was asked for."""
        if self:
            raise RunInterruptedError(message(), self.signum or signal.SIGINT)


STOP = StopRequest()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if STOP:
        raise KeyboardInterrupt  # the second signal: the user insists
    STOP.request(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Route SIGINT and SIGTERM to :data:`STOP` while inside; restore the old handlers after.

    Only the main thread may set handlers; elsewhere (a flow run in a worker thread) this does
    nothing and the process's own handlers stay in charge. Re-entering (a subflow) keeps ours.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in HANDLED}
    if all(handler is _on_signal for handler in previous.values()):
        yield
        return
    for s in HANDLED:
        signal.signal(s, _on_signal)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
