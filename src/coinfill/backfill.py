"""Backfill windows: typed, half-open ``[start, end)``, planned by a pure function.

``days=0`` means all history (the old ``BACKFILL_DAYS=0``); ``days=N`` the trailing N days up
to now; ``start``/``end`` (dates or datetimes, UTC) replace ``days``. Stored times are unix-ms,
so nothing lies before 1970: a ``days`` or ``start`` reaching before :data:`EPOCH` means all
history, and an ``end`` in the last year a ``datetime`` can hold means no end (both keep the
look-back and look-ahead arithmetic downstream clear of ``OverflowError``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from coinfill.errors import InputError

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}$")
EPOCH = datetime(1970, 1, 1)  # no stored time is older: windows reaching further mean "all"
LAST_END = datetime(datetime.max.year, 1, 1)  # an end this late (or later) means "no end"


@dataclass(frozen=True)
class Window:
    """Half-open ``[start, end)`` in naive UTC; ``None`` is unbounded on that side."""

    start: datetime | None
    end: datetime | None
    days: int | None = None

    @property
    def label(self) -> str:
        """Short name for run names and reports: ``365d``, ``all``, ``2024-01-01..2024-02-01``."""
        if self.days is not None:
            return "all" if self.days == 0 else f"{self.days}d"
        return f"{_fmt(self.start) or '…'}..{_fmt(self.end) or '…'}"

    @property
    def start_ms(self) -> int | None:
        return None if self.start is None else to_ms(self.start)

    @property
    def end_ms(self) -> int | None:
        return None if self.end is None else to_ms(self.end)


def end_day(moment: datetime) -> date:
    """The first day not inside ``[…, moment)``: a window ending within a day keeps that day."""
    return moment.date() + timedelta(days=0 if moment.time() == time(0) else 1)


def day_span(start: datetime | None, end: datetime | None) -> tuple[date | None, date | None]:
    """A window as observation days ``[first day, end day)`` (``None`` stays open)."""
    return (
        None if start is None else start.date(),
        None if end is None else end_day(end),
    )


def to_ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def _fmt(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.strftime(
        "%Y-%m-%d"
        if moment == datetime(moment.year, moment.month, moment.day)
        else "%Y-%m-%dT%H:%M"
    )


def _as_naive_utc(value: date | datetime | str, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(f"{name}={value!r} is not an ISO date (YYYY-MM-DD)") from None
    if isinstance(value, datetime):
        try:
            return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        except OverflowError:
            raise InputError(f"{name}={value.isoformat()} is out of range in UTC") from None
    return datetime(value.year, value.month, value.day)


def plan_window(
    days: int | None,
    start: date | datetime | str | None,
    end: date | datetime | str | None,
    *,
    now: datetime,
    default_days: int | None = None,
) -> Window:
    """Check a request and turn it into a :class:`Window`; ``now`` is naive UTC."""
    if days is not None and (start is not None or end is not None):
        raise InputError("give either days or start/end, not both")
    if days is None and start is None and end is None:
        days = default_days
    if days is not None:
        if days < 0:
            raise InputError(f"days={days} is negative; use 0 for all history or N > 0")
        hour = now.replace(minute=0, second=0, microsecond=0)
        if days == 0 or days > (hour - EPOCH).days:
            return Window(None, None, days=0)
        return Window(hour - timedelta(days=days), None, days=days)
    begin = None if start is None else _as_naive_utc(start, "start")
    finish = None if end is None else _as_naive_utc(end, "end")
    if begin is not None and finish is not None and begin >= finish:
        raise InputError(
            f"start {_fmt(begin)} is not before end {_fmt(finish)}; the window is [start, end)"
        )
    if begin is not None and begin > now:
        raise InputError(
            f"the window starting {_fmt(begin)} lies entirely in the future (now is "
            f"{now:%Y-%m-%dT%H:%M} UTC)"
        )
    return Window(
        None if begin is not None and begin < EPOCH else begin,
        None if finish is not None and finish >= LAST_END else finish,
    )


def parse_symbols(symbols: str | Iterable[str] | None) -> list[str] | None:
    """``"btc, eth"`` or ``["BTC"]`` → ``["BTC", "ETH"]``; ``None`` means the active assets."""
    if symbols is None:
        return None
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    cleaned = list(dict.fromkeys(item.strip().upper() for item in items if item.strip()))
    bad = [item for item in cleaned if not SYMBOL_PATTERN.match(item)]
    if bad:
        raise InputError(f"not a valid symbol: {', '.join(bad)} (letters, digits, . _ - only)")
    if not cleaned:
        raise InputError("symbols is empty; leave it out to run every active asset")
    return cleaned


def check_cap(max_assets: int, requested: Sequence[str] | None = None) -> None:
    """``max_assets`` is at least 1 and ``requested`` (if given) is within it."""
    if max_assets < 1:
        raise InputError(f"max_assets={max_assets}; it must be at least 1")
    if requested is not None and len(requested) > max_assets:
        raise InputError(
            f"{len(requested)} symbols asked for but max_assets={max_assets}; raise max_assets "
            "or split the run"
        )


def symbols_per_chunk(
    window: Window, *, minimum: int, target_rows: int, lookback_rows: int, now: datetime
) -> int:
    """How many symbols one chunk takes: ``minimum`` for all-history runs, more for short
    windows, so each chunk reads about ``target_rows`` price rows (hourly bars assumed)."""
    if window.start is None:
        return minimum
    hours = ((window.end or now) - window.start).total_seconds() / 3600
    return max(minimum, int(target_rows // (lookback_rows + max(hours, 1.0))))


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
