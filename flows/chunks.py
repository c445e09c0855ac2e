"""Running a flow's chunks: bounded parallelism, Prefect retries per chunk, a progress
artifact, and failed chunks recorded (not raised) so the others still write."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from prefect import Task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed

from coinfill.runs import ChunkFailure
from coinfill.settings import Settings

R = TypeVar("R")


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
        retries=settings.chunk_retries, retry_delay_seconds=settings.chunk_retry_delay_seconds
    )
    results: list[R] = []
    failures: list[ChunkFailure] = []
    pending: deque[int] = deque(range(len(chunks)))
    in_flight: dict[PrefectFuture[list[R]], int] = {}
    while pending or in_flight:
        while pending and len(in_flight) < settings.max_parallel_chunks:
            index = pending.popleft()
            in_flight[run.submit(*arguments(chunks[index]))] = index
        future = next(as_completed(list(in_flight)))
        index = in_flight.pop(future)
        future.wait()  # the final state is only cached on the future by wait()/result()
        if future.state.is_completed():
            results += future.result()
        else:
            failures.append(ChunkFailure(index, chunks[index], future.state.message or "failed"))
        if isinstance(progress, UUID):  # the sync API returns the id, never a coroutine here
            done = len(chunks) - len(pending) - len(in_flight)
            update_progress_artifact(progress, 100.0 * done / len(chunks))
    return results, failures


def chunks_failed(failures: Sequence[ChunkFailure], chunks: int, retries: int) -> str | None:
    """The run's failure message when chunks failed after their retries."""
    if not failures:
        return None
    return (
        f"{len(failures)} of {chunks} chunks failed after {retries} retries (the other chunks "
        "were written): " + "; ".join(failure.describe() for failure in failures)
    )
