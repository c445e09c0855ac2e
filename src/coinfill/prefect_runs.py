"""The runs a killed CLI left behind.

A run whose CLI was killed stays RUNNING in the database (``prefect flow-run ls``) forever:
the CLI runs flows under ``prefect.tags(run_tag())``, and ``mark_orphaned_runs_crashed``, called
before the next flow starts, marks the runs whose process is gone Crashed. (On Kubernetes,
flow-run heartbeats and an automation do it: infra/terraform/automations.tf.)
"""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

log = logging.getLogger(__name__)

TAG_PREFIX = "coinfill-pid:"
_TAG = re.compile(re.escape(TAG_PREFIX) + r"(\d+)@(.+)")
# A run's start time comes from the server's clock, a process's from this host's: only a
# process started this much later than the run is taken for a reused pid (after a reboot, say).
_CLOCK_SLACK_SECONDS = 60.0


def run_tag() -> str:
    """The tag of flow runs this process runs: ``coinfill-pid:<pid>@<hostname>``."""
    return f"{TAG_PREFIX}{os.getpid()}@{socket.gethostname()}"


def mark_orphaned_runs_crashed() -> int:
    """Mark Crashed the RUNNING or PENDING flow runs tagged by ``run_tag()`` on this host whose
    process is gone. Returns how many were marked."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Crashed

    if not PREFECT_API_URL.value():
        return 0  # asking now would make Prefect start a server just for this
    host = socket.gethostname()
    open_runs = FlowRunFilter(
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
        ),
        tags=FlowRunFilterTags(is_null_=False),
    )
    with get_client(sync_client=True) as client:
        # Tags cannot be filtered by prefix on the server: read every open run, then mark
        # (marking while paging would shift the pages).
        orphans: list[tuple[FlowRun, int]] = []
        offset = 0
        # Pages of the server's own default size (its maximum may have been lowered).
        while page := client.read_flow_runs(
            flow_run_filter=open_runs, sort=FlowRunSort.ID_DESC, offset=offset
        ):
            for run in page:
                pid = _orphaned_by(run, host)
                if pid is not None:
                    orphans.append((run, pid))
            offset += len(page)
        for run, pid in orphans:
            message = (
                f"the process that ran it (pid {pid} on host {host}) is gone; "
                "marked Crashed by coinfill"
            )
            client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            log.info("flow run %s (%s): %s", run.name, run.id, message)
    return len(orphans)


def _orphaned_by(run: FlowRun, host: str) -> int | None:
    """The pid of this host's process tagged on ``run`` if that process is gone, else None."""
    started = run.start_time or run.created
    for tag in run.tags:
        match = _TAG.fullmatch(tag)
        if match and match.group(2) == host:
            pid = int(match.group(1))
            if not _still_running(pid, started.timestamp() if started else None):
                return pid
    return None


def _still_running(pid: int, run_started: float | None) -> bool:
    """Whether ``pid`` is alive and is not a newer process that reuses the pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    stat = _proc_stat(pid)
    if stat is None:
        # No /proc (macOS): alive is all we know. With /proc: it ended since os.kill.
        return not os.path.isdir("/proc/self")
    state, process_started = stat
    if state == "Z":  # exited, not yet reaped
        return False
    return run_started is None or process_started <= run_started + _CLOCK_SLACK_SECONDS


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """(state, start time as a Unix timestamp) of ``pid`` from Linux's /proc, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open("/proc/stat") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime "))
        # The command name (field 2) is in parentheses and may hold spaces and ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = float(fields[19])  # field 22: starttime, clock ticks after boot
        return fields[0], boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
