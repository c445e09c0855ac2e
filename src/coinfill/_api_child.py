"""Runs Prefect's temporary API server (uvicorn) so that it cannot outlive the process that
started it. ``coinfill.prefect_api.temporary_api`` starts it as::

    python -m coinfill._api_child --parent PID [--pdeathsig] -- <uvicorn arguments>

Prefect's own temporary server is a plain ``python -m uvicorn`` child: after a ``kill -9`` of
the CLI it keeps listening forever. Here two guards stop it when the parent goes:

- ``--pdeathsig`` (Linux): ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` makes the kernel send SIGTERM
  the moment the parent dies, even by SIGKILL. The kernel ties it to the parent *thread* that
  forked us, so the parent asks for it only when it starts us from its main thread.
- A watchdog thread (any POSIX system): polls ``getppid()``, which changes when the parent dies
  and we are re-parented, then asks uvicorn to stop and exits hard if it does not within
  ``GRACE_SECONDS``.

Deliberately imports nothing from coinfill: it should start fast and run only Prefect's code.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 0.5
# uvicorn's graceful shutdown of Prefect's app takes well under a second; a server that hangs
# longer is killed, not waited for (the parent that would have waited is gone).
GRACE_SECONDS = 5.0


def _set_parent_death_signal() -> None:
    """Ask Linux to SIGTERM us when the parent dies. Silently unavailable elsewhere: the
    watchdog covers those systems."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _watch_parent(parent: int) -> None:
    """Stop uvicorn once the parent is gone; exit hard if the stop hangs."""
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    # SIGTERM runs uvicorn's graceful shutdown (or, before uvicorn installed its handler, the
    # default action ends the process at once).
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_SECONDS)
    os._exit(1)


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
        _set_parent_death_signal()
    # The parent may have died before the guard above was set: then nobody would signal us.
    if os.getppid() != args.parent:
        sys.exit(0)
    threading.Thread(target=_watch_parent, args=(args.parent,), daemon=True).start()

    import uvicorn

    # The very command Prefect runs (`python -m uvicorn …`), in this process, after the guards.
    uvicorn.main.main(args=uvicorn_args, prog_name="uvicorn")


if __name__ == "__main__":
    main()
