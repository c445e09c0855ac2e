"""A helper process that must not outlive the process that started it (the CLI's temporary
Prefect API server, its warm validator).

- ``parent_death_signal()`` (Linux): ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` makes the kernel
  send SIGTERM the moment the parent dies, even by SIGKILL. The kernel ties it to the parent
  *thread* that forked us, so a parent asks for it only when it starts us from its main thread.
- ``watch_parent()`` (any POSIX system): a thread polls ``getppid()``, which changes when the
  parent dies and we are re-parented, then calls ``on_gone`` and exits hard if that does not
  end the process within ``grace`` seconds.

Imports nothing heavy: helpers start with it before anything else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 0.5


def parent_death_signal() -> None:
    """Ask Linux to SIGTERM us when the parent dies. Silently unavailable elsewhere: the
    watchdog covers those systems."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def watch_parent(parent: int, on_gone: Callable[[], None], grace: float) -> bool:
    """Start the watchdog; False (and nothing started) when the parent is already gone —
    it may have died before the guards were set, and then nobody would signal us."""
    if os.getppid() != parent:
        return False

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        on_gone()
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="coinfill-lifeline", daemon=True).start()
    return True
