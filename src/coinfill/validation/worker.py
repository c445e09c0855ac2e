"""The warm validator: a process that imports Great Expectations while the CLI starts, then
runs the coverage passes the CLI's flow asks for (see :mod:`coinfill.validation.warm`).

    python -m coinfill.validation.worker --parent PID [--pdeathsig]

Protocol: pickled ``(url, args, kwargs)`` requests on stdin, one pickled reply each on the
original stdout: ``("ok", SuiteReport)`` or ``("error", type, args, state, traceback)``. Everything
else this process (or Great Expectations) prints goes to stderr. It exits when stdin closes or
its parent dies (:mod:`coinfill.lifeline`).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import traceback
from collections.abc import Sequence
from typing import IO, Any

from coinfill.lifeline import parent_death_signal, watch_parent

READY = "ready"
# Below the CLI and its Prefect server: the import fills an idle core, it does not take one
# they need for the first flow line.
NICENESS = 10


def _serve(channel: IO[bytes], requests: IO[bytes]) -> None:
    from sqlalchemy import Engine

    from coinfill.db.engine import make_engine
    from coinfill.validation.gxrun import validate  # the slow import this process exists for

    pickle.dump((READY,), channel)
    channel.flush()
    engines: dict[str, Engine] = {}
    while True:
        try:
            url, args, kwargs = pickle.load(requests)
        except EOFError:
            return
        try:
            engine = engines.get(url) or engines.setdefault(url, make_engine(url, check=False))
            reply: tuple[Any, ...] = ("ok", validate(engine, *args, **kwargs))
        except Exception as exc:
            reply = ("error", type(exc), exc.args, vars(exc), traceback.format_exc())
        try:
            data = pickle.dumps(reply)
        except Exception as exc:  # an unpicklable detail: say what it was, as plain text
            data = pickle.dumps(("error", RuntimeError, (f"{reply[0]}: {exc}",), {}, ""))
        channel.write(data)
        channel.flush()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coinfill.validation.worker")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--pdeathsig", action="store_true")
    args = parser.parse_args(argv)
    if args.pdeathsig:
        parent_death_signal()
    if not watch_parent(args.parent, lambda: os._exit(0), 0.0):
        return
    os.nice(NICENESS)
    # The replies get the real stdout; a stray print (ours or a library's) goes to stderr.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(channel, sys.stdin.buffer)


if __name__ == "__main__":
    main()
