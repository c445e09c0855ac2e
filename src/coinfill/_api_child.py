"""Runs Prefect's temporary API server (uvicorn) so that it cannot outlive the process that
started it. ``coinfill.prefect_api.temporary_api`` starts it as::

    python -m coinfill._api_child --parent PID [--pdeathsig] -- <uvicorn arguments>

Prefect's own temporary server is a plain ``python -m uvicorn`` child: after a ``kill -9`` of
the CLI it keeps listening forever. Here two guards (:mod:`coinfill.lifeline`) stop it when
the parent goes: ``--pdeathsig`` (Linux) has the kernel send SIGTERM when the parent dies, even
by SIGKILL; a watchdog thread (any POSIX system) notices the re-parenting, asks uvicorn to
stop, and exits hard if it does not within ``GRACE_SECONDS``.

Imports nothing else from coinfill: it should start fast and run only Prefect's code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from coinfill.lifeline import parent_death_signal, watch_parent

# uvicorn's graceful shutdown of Prefect's app takes well under a second; a server that hangs
# longer is killed, not waited for (the parent that would have waited is gone).
GRACE_SECONDS = 5.0


def _stop_uvicorn() -> None:
    # SIGTERM runs uvicorn's graceful shutdown (or, before uvicorn installed its handler, the
    # default action ends the process at once).
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m coinfill._api_child")
    parser.add_argument("--parent", type=int, required=True, help="pid to live no longer than")
    parser.add_argument("--pdeathsig", action="store_true", help="use Linux PR_SET_PDEATHSIG")
    parser.add_argument("uvicorn_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    uvicorn_args = list(args.uvicorn_args)
    if uvicorn_args[:1] == ["--"]:
        uvicorn_args = uvicorn_args[1:]

    if args.pdeathsig:
        parent_death_signal()
    if not watch_parent(args.parent, _stop_uvicorn, GRACE_SECONDS):
        sys.exit(0)

    import uvicorn

    # The very command Prefect runs (`python -m uvicorn …`), in this process, after the guards.
    uvicorn.main.main(args=uvicorn_args, prog_name="uvicorn")


if __name__ == "__main__":
    main()
