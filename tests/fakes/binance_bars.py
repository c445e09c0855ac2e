"""Deterministic Binance klines for the fake server: interval grids, values, fast JSON text.

A bar's values depend only on (symbol, interval, open time), so the same bar is identical in
every response whatever range was asked. Prices follow a smooth seeded path
``base * exp(sum of sines)``: a bar opens at the path's value at its open time and closes at
the value at its close (the next bar's open), so consecutive bars join up. Values are held as
integers in units of 1e-8 and written with exactly 8 decimals, like Binance.

Page text is built without a Python loop over rows: the rows' %-format, with every decimal's
8 fixed digits already written in by numpy, is filled by one ``%`` with the variable-width
integers (about 1 ms for 1,000 bars).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
SECOND_MS, MINUTE_MS, HOUR_MS, DAY_MS = 1000, 60_000, 3_600_000, 86_400_000
SCALE = 100_000_000  # 8 decimals
MONTH = "1M"
INTERVAL_MS: dict[str, int] = {
    "1s": SECOND_MS,
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}
INTERVALS = (*INTERVAL_MS, MONTH)
# Weekly bars open on Mondays 00:00 UTC; 1970-01-01 was a Thursday.
OFFSET_MS = {"1w": 4 * DAY_MS}


@dataclass(frozen=True)
class Grid:
    """Bar ``k`` of an interval opens at ``open_ms(k)``; ``k`` counts from the epoch."""

    interval: str

    def open_ms(self, k: Ints) -> Ints:
        if self.interval == MONTH:
            months = k.astype("datetime64[M]").astype("datetime64[ms]")
            return months.astype(np.int64)
        return OFFSET_MS.get(self.interval, 0) + k * INTERVAL_MS[self.interval]

    def floor(self, ms: int) -> int:
        """Index of the last bar opening at or before ``ms``."""
        if self.interval == MONTH:
            return int(np.datetime64(ms, "ms").astype("datetime64[M]").astype(np.int64))
        return (ms - OFFSET_MS.get(self.interval, 0)) // INTERVAL_MS[self.interval]

    def ceil(self, ms: int) -> int:
        """Index of the first bar opening at or after ``ms``."""
        k = self.floor(ms)
        return k if int(self.open_ms(np.array([k]))[0]) == ms else k + 1


@cache
def grid(interval: str) -> Grid:
    return Grid(interval)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser: a well-spread integer hash, vectorised (wraps on overflow)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniforms(seed: int, keys: Ints, count: int) -> list[NDArray[np.float64]]:
    """``count`` arrays of deterministic uniforms in [0, 1), one value per key."""
    state = keys.astype(np.uint64) ^ np.uint64(seed)
    out = []
    for _ in range(count):
        state = _mix(state)
        out.append((state >> np.uint64(11)).astype(np.float64) * 2.0**-53)
    return out


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode()) * 0x9E3779B1


def price_path(seed: int, base: float, ms: Ints) -> NDArray[np.float64]:
    """The smooth price at times ``ms``: ``base * exp(...)``, always > 0, within e^±0.4."""
    phases = np.array(uniforms(seed, np.arange(4, dtype=np.int64), 1)[0]) * 2 * np.pi
    days = ms.astype(np.float64) / DAY_MS
    x = (
        0.25 * np.sin(2 * np.pi * days / 97.0 + phases[0])
        + 0.10 * np.sin(2 * np.pi * days / 11.3 + phases[1])
        + 0.03 * np.sin(2 * np.pi * days / 1.7 + phases[2])
        + 0.01 * np.sin(2 * np.pi * days * 24 / 5.3 + phases[3])
    )
    return np.asarray(base * np.exp(x), dtype=np.float64)


def bar_columns(symbol: str, base: float, interval: str, k: Ints) -> list[Ints]:
    """The 11 numeric columns of bars ``k``: open time, open, high, low, close, volume, close
    time, quote volume, trades, taker buy base, taker buy quote (decimals in units of 1e-8)."""
    seed = seed_of(f"{symbol}/{interval}")
    g = grid(interval)
    opens_ms, next_ms = g.open_ms(k), g.open_ms(k + 1)
    hours = (next_ms - opens_ms).astype(np.float64) / HOUR_MS
    path_seed = seed_of(symbol)
    p_open, p_close = price_path(path_seed, base, opens_ms), price_path(path_seed, base, next_ms)
    u_high, u_low, u_vol, u_taker = uniforms(seed, opens_ms, 4)
    wick = 0.004 * np.sqrt(hours)
    o = np.rint(p_open * SCALE).astype(np.int64)
    c = np.rint(p_close * SCALE).astype(np.int64)
    h = np.maximum(
        np.rint(np.maximum(p_open, p_close) * (1 + wick * u_high) * SCALE), np.maximum(o, c)
    )
    low = np.rint(np.minimum(p_open, p_close) * (1 - wick * u_low / (1 + wick)) * SCALE)
    low = np.maximum(np.minimum(low, np.minimum(o, c)), 1)
    per_hour = 100_000.0 / max(base, 0.01)  # about 100k quote units traded an hour
    volume = np.rint(per_hour * hours * (0.5 + u_vol) * SCALE).astype(np.int64)
    close_price = c.astype(np.float64) / SCALE
    quote = np.rint(volume.astype(np.float64) * close_price).astype(np.int64)
    trades = 1 + (u_vol * 40.0 * hours).astype(np.int64)
    taker = np.rint(volume * (0.3 + 0.4 * u_taker)).astype(np.int64)
    taker_quote = np.rint(taker.astype(np.float64) * close_price).astype(np.int64)
    return [
        opens_ms, o, h.astype(np.int64), low.astype(np.int64), c, volume,
        next_ms - 1, quote, trades, taker, taker_quote,
    ]  # fmt: skip


def decimal_text(units: int) -> str:
    """Binance's decimal string of a value in units of 1e-8 (``"123.45000000"``)."""
    return f"{units // SCALE}.{units % SCALE:08d}"


DECIMAL_COLUMNS = (1, 2, 3, 4, 5, 7, 9, 10)


def rows_as_lists(columns: list[Ints]) -> list[list[int | str]]:
    """Bars as Binance's 12-element arrays (what ``json.loads`` of a page gives)."""
    rows: list[list[int | str]] = []
    for values in zip(*(col.tolist() for col in columns), strict=True):
        row: list[int | str] = [
            decimal_text(v) if i in DECIMAL_COLUMNS else int(v) for i, v in enumerate(values)
        ]
        rows.append([*row, "0"])
    return rows


# -- fast JSON text -------------------------------------------------------------------------------

# One row as a %-format: integers (and the integer parts of decimals) are %d; the 8 decimals of
# each decimal are written into the format itself from a 4-digit lookup table, vectorised.
_ROW = "[" + ",".join('"%d.########"' if i in DECIMAL_COLUMNS else "%d" for i in range(11))
_ROW += ',"0"],'
_TEMPLATE = np.frombuffer(_ROW.encode(), dtype=np.uint8)
_DECIMALS_AT = [j for j in range(len(_ROW)) if _ROW[j - 1 : j + 1] == ".#"]
_FOUR_DIGITS = np.frombuffer(b"".join(b"%04d" % i for i in range(10000)), dtype=np.uint32)


def klines_json(columns: list[Ints]) -> bytes:
    """The JSON array of bars: byte for byte ``json.dumps(rows_as_lists(columns),
    separators=(",", ":"))``, about 1 ms for 1,000 bars."""
    n = columns[0].size
    if n == 0:
        return b"[]"
    whole, fraction = np.divmod(np.stack([columns[i] for i in DECIMAL_COLUMNS], axis=1), SCALE)
    high4, low4 = np.divmod(fraction, 10_000)
    digits = _FOUR_DIGITS[np.stack([high4, low4], axis=2)].view(np.uint8).reshape(n, 8, 8)
    text = np.empty((n, _TEMPLATE.size), dtype=np.uint8)
    text[:] = _TEMPLATE
    for k, at in enumerate(_DECIMALS_AT):
        text[:, at : at + 8] = digits[:, k]
    numbers = np.empty((n, 11), dtype=np.int64)
    numbers[:, 0], numbers[:, 1:6], numbers[:, 6] = columns[0], whole[:, :5], columns[6]
    numbers[:, 7], numbers[:, 8], numbers[:, 9:] = whole[:, 5], columns[8], whole[:, 6:]
    rows = text.tobytes()[:-1].decode("ascii") % tuple(numbers.ravel().tolist())
    return b"[" + rows.encode("ascii") + b"]"
