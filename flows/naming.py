"""Run names that say what a run does: ``technical-365d``, ``macro-all-dry-run``, ..."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.runtime import flow_run


def run_namer(prefix: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable: ``<prefix>-<days|all|start..end|scheduled>[-dry-run]``."""

    def name() -> str:
        params: dict[str, Any] = flow_run.parameters
        days, start, end = params.get("days"), params.get("start"), params.get("end")
        if days is not None:
            label = "all" if days == 0 else f"{days}d"
        elif start is not None or end is not None:
            label = f"{start or '…'}..{end or '…'}"
        else:
            label = "scheduled"
        return f"{prefix}-{label}{'-dry-run' if params.get('dry_run') else ''}"

    return name
