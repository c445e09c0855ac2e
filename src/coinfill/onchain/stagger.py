"""Steps started one after another, each as soon as the previous one's requests are answered.

An on-chain step asks a provider, then writes what it got. The write waits its turn (and, in a
run's first step, the "before" coverage), which can take longer than the provider needs between
two requests; a provider's next request should not wait for it. So the next step starts once
the previous one says its requests are done (or it ended), and at most ``depth`` steps are
unfinished at once: the writes cannot fall further behind than that. Starting them one at a
time keeps the chunk runner's rule: after a stop (checked as each step starts) none starts.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, TypeVar

R = TypeVar("R")
# A step: called with the function it calls once its requests are answered.
Step = Callable[[Callable[[], None]], R]


class Staggered:
    def __init__(self, depth: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(depth, thread_name_prefix=name)
        self._depth = depth
        self._unfinished: set[Future[Any]] = set()

    def __enter__(self) -> Staggered:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pool.shutdown(wait=True)  # a step in flight finishes its write, even on a stop

    def start(self, step: Step[R]) -> Future[R]:
        """Start ``step`` in a thread once fewer than ``depth`` are unfinished; return when its
        requests are answered (or it ended)."""
        self._unfinished = {f for f in self._unfinished if not f.done()}
        if len(self._unfinished) >= self._depth:
            wait(self._unfinished, return_when=FIRST_COMPLETED)
        answered = threading.Event()
        # The caller's context travels along: a step is a task run of the caller's flow run.
        context = contextvars.copy_context()
        future = self._pool.submit(context.run, step, answered.set)
        future.add_done_callback(lambda _: answered.set())
        answered.wait()
        self._unfinished.add(future)
        return future
