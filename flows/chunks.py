"""The one chunk runner of every collector flow (DESIGN §10).

- Bounded parallelism: at most ``max_parallel_chunks`` chunk tasks in flight.
- Prefect retries a chunk only when another attempt can help (:func:`is_retryable`: a
  deadlock yes, a missing privilege no).
- A failed chunk is recorded, not raised, so the other chunks still write — unless its error
  stops the run (a database refusal, a configuration error): then no new chunk starts and that
  error, the real cause, ends the run.
- SIGINT/SIGTERM (:data:`STOP`): no new chunk starts, the chunks in flight finish their write,
  and :class:`RunInterruptedError` says how far the run got.
- A progress artifact follows the chunks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast
from uuid import UUID

from prefect import Task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.client.schemas.objects import State, TaskRun
from prefect.futures import PrefectFuture, as_completed

from coinfill.errors import CoinfillError, is_retryable
from coinfill.interrupts import STOP
from coinfill.runs import ChunkFailure
from coinfill.settings import Settings

R = TypeVar("R")
SHOWN = 3  # failures named in the one-line message; the run's table artifact has them all


def retry_if_it_can_help(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's ``retry_condition_fn``: the failed attempt's exception decides."""
    return not isinstance(state.data, BaseException) or is_retryable(state.data)


def run_chunks(
    task: Task[..., list[R]],
    chunks: Sequence[list[str]],
    arguments: Callable[[list[str]], tuple[Any, ...]],
    settings: Settings,
    description: str,
) -> tuple[list[R], list[ChunkFailure]]:
    """Submit ``task(*arguments(chunk))`` per chunk, at most ``max_parallel_chunks`` at once."""
    progress = create_progress_artifact(0.0, description=description)
    run = task.with_options(
        retries=settings.chunk_retries,
        retry_delay_seconds=settings.chunk_retry_delay_seconds,
        retry_condition_fn=retry_if_it_can_help,
    )
    results: list[R] = []
    failures: list[ChunkFailure] = []
    written = 0
    stopped_by: CoinfillError | None = None
    pending: deque[int] = deque(range(len(chunks)))
    in_flight: dict[PrefectFuture[list[R]], int] = {}
    while pending or in_flight:
        if STOP or stopped_by is not None:
            pending.clear()
        while pending and len(in_flight) < settings.max_parallel_chunks:
            index = pending.popleft()
            in_flight[run.submit(*arguments(chunks[index]))] = index
        if not in_flight:
            break
        future = next(as_completed(list(in_flight)))
        index = in_flight.pop(future)
        future.wait()  # the final state is only cached on the future by wait()/result()
        if future.state.is_completed():
            results += future.result()
            written += 1
        else:
            error = future.state.result(raise_on_failure=False)
            if isinstance(error, CoinfillError) and error.stops_run and stopped_by is None:
                stopped_by = error
            failures.append(ChunkFailure(index, chunks[index], future.state.message or "failed"))
        if isinstance(progress, UUID):  # the sync API returns the id, never a coroutine here
            done = len(chunks) - len(pending) - len(in_flight)
            update_progress_artifact(progress, 100.0 * done / len(chunks))
    if stopped_by is not None:
        raise stopped_by
    STOP.check(
        lambda: f"interrupted: {written} of {len(chunks)} chunks written; run it again to resume"
    )
    return results, failures


def run_step(
    task: Task[..., R],
    label: str,
    step: Callable[[], R],
    failed: Callable[[str, BaseException | None], R],
) -> R:
    """One step of a flow that runs its work in sequence (on-chain requests, news feeds) as
    ``task(label, step)``, on the chunks' rules: nothing starts after a stop was asked for; an
    error that stops the run is raised; another failure becomes ``failed(message, error)``."""
    STOP.check(
        lambda: f"interrupted before {label}; what was written stays — run it again to resume"
    )
    state = cast("State[R]", task(label, step, return_state=True))
    if state.is_completed():
        result: R = state.result()
        return result
    error = state.result(raise_on_failure=False)
    if isinstance(error, CoinfillError) and error.stops_run:
        raise error  # a database refusal, a configuration error: the real cause, said once
    return failed(state.message or "failed", error if isinstance(error, BaseException) else None)


def chunks_failed(failures: Sequence[ChunkFailure], chunks: int, retries: int) -> str | None:
    """The run's failure message when chunks failed after their retries."""
    if not failures:
        return None
    shown = "; ".join(failure.describe() for failure in failures[:SHOWN])
    more = f"; and {len(failures) - SHOWN} more" if len(failures) > SHOWN else ""
    return (
        f"{len(failures)} of {chunks} chunks failed after {retries} retries (the other chunks "
        f"were written): {shown}{more}"
    )
