"""How every collector flow ends: a known failure Failed with its one line as the state message,
an interrupt Cancelled; callers get the exception itself (DESIGN §10)."""

from __future__ import annotations

import signal

import pytest
from prefect import flow
from prefect.exceptions import CancelledRun

from coinfill.errors import BackfillFailedError, RunInterruptedError
from coinfill.interrupts import STOP
from flows.lifecycle import interruptible


@flow(name="lifecycle-probe")
@interruptible
def probe(outcome: str) -> int:
    if outcome == "fail":
        raise BackfillFailedError("2 of 5 symbols failed:\n  SOL: refused")
    if outcome == "interrupt":
        raise RunInterruptedError(
            "interrupted: 3 of 9 chunks written; run it again", signal.SIGTERM
        )
    return 7


def test_a_known_failure_ends_failed_with_its_one_line_and_the_caller_gets_the_exception() -> None:
    state = probe("fail", return_state=True)
    assert state.is_failed()
    assert state.message == "2 of 5 symbols failed: SOL: refused"
    with pytest.raises(BackfillFailedError, match="2 of 5 symbols failed"):
        probe("fail")


def test_an_interrupt_ends_cancelled_with_its_line() -> None:
    state = probe("interrupt", return_state=True)
    assert state.is_cancelled()
    assert state.message == "interrupted: 3 of 9 chunks written; run it again"
    with pytest.raises(CancelledRun, match="interrupted: 3 of 9"):
        probe("interrupt")


def test_a_stop_asked_before_the_flow_starts_cancels_it_before_any_work() -> None:
    STOP.request(signal.SIGINT)
    try:
        state = probe("ok", return_state=True)
    finally:
        STOP.clear()
    assert state.is_cancelled() and "before the run started" in (state.message or "")
    assert probe("ok") == 7
