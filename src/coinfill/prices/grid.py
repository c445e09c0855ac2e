"""The bar grid: which close times a symbol should have in a window, at an interval.

A stored bar's ``timestamp`` is its *close* time (open time + interval): ``current_price`` is
the last trade at that moment, so a feature row at time t never sees a price from after t.
Bars of an interval close on multiples of it since the epoch (1d bars at 00:00 UTC).
"""

from __future__ import annotations

from coinfill.errors import InputError
from coinfill.sources.binance import INTERVALS

DAY_MS = 86_400_000
# CoinGecko gives hourly points (≤ 90-day requests) or daily ones; nothing finer in the past.
COINGECKO_INTERVALS = ("1h", "1d")


def interval_ms(interval: str) -> int:
    """``"1h"`` → 3,600,000; an interval no price source offers is an :class:`InputError`."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise InputError(
            f"interval {interval!r} is not offered; choose one of {', '.join(INTERVALS)} "
            "(bars of a day or less: price_data_real holds rolling 24-hour values)"
        ) from None


def align_up(ms: int, step: int) -> int:
    return -(-ms // step) * step


def align_down(ms: int, step: int) -> int:
    return ms // step * step


def last_closed(now_ms: int, step: int) -> int:
    """Close time of the newest bar that has closed by ``now_ms``."""
    return align_down(now_ms, step)


def bars_between(start_ms: int, end_ms: int, step: int) -> int:
    """Grid points in ``[start_ms, end_ms)``."""
    first = align_up(start_ms, step)
    return max(0, (end_ms - first + step - 1) // step) if end_ms > first else 0


def gaps(times: list[int] | None, start_ms: int, end_ms: int, step: int) -> list[tuple[int, int]]:
    """Missing grid ranges ``[a, b)`` of ``[start_ms, end_ms)`` given the stored grid times."""
    out: list[tuple[int, int]] = []
    cursor = align_up(start_ms, step)
    for t in sorted(times or []):
        if t < cursor or t >= end_ms:
            continue
        if t > cursor:
            out.append((cursor, t))
        cursor = t + step
    if cursor < end_ms:
        out.append((cursor, align_up(end_ms, step)))
    return [(a, min(b, align_up(end_ms, step))) for a, b in out if a < b]


def merge_close(ranges: list[tuple[int, int]], max_gap: int) -> list[tuple[int, int]]:
    """Join ranges separated by less than ``max_gap`` ms: one request for both is cheaper."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a - merged[-1][1] < max_gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
