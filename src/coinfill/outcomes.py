"""The one-line failure message every collector run ends with (DESIGN §10).

A provider that stopped (refused credentials, an outage) is said once, with how many items it
left uncollected, not once per symbol; other failures are named item by item, the first few
only — the run's table artifact lists them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coinfill.sources.faults import Fault, SourceError

SHOWN = 3


@dataclass(frozen=True)
class ItemFailure:
    item: str
    error: str
    fault: Fault | None = None

    @property
    def stops_provider(self) -> bool:
        return self.fault is not None and self.fault.stops_provider


def failure_line(noun: str, failures: Sequence[ItemFailure], total: int) -> str | None:
    """``"3 of 40 symbols failed (the others were written): …"`` or ``None``."""
    if not failures:
        return None
    stopped = [f for f in failures if f.stops_provider]
    parts = []
    for error in dict.fromkeys(f.error for f in stopped):
        count = sum(1 for f in stopped if f.error == error)
        parts.append(f"{error} [{count} {noun} not collected]")
    others = [f for f in failures if not f.stops_provider]
    parts += [f"{f.item}: {f.error}" for f in others[:SHOWN]]
    if len(others) > SHOWN:
        parts.append(f"and {len(others) - SHOWN} more (see the run's table artifact)")
    return (
        f"{len(failures)} of {max(total, len(failures))} {noun} failed (the others were "
        "written): " + "; ".join(parts)
    )


def stop_if_provider_stopped(
    stopped: Sequence[SourceError | None], noun: str, failed: int, total: int
) -> None:
    """A provider that refused our credentials or is unreachable ends the run with its own one
    line (and its own type: a refused key is a configuration error), not a list of items."""
    first = next((error for error in stopped if error is not None), None)
    if first is None:
        return
    raise type(first)(
        f"{first} — {failed} of {total} {noun} not collected; what was received is written",
        provider=first.provider,
        status=first.status,
        fault=first.fault,
        setting=first.setting,
    )
