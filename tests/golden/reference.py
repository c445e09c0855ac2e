"""Plain-Python reference formulas, written from the definitions (not from `ta`'s code).

Used to produce ``btc_hourly_golden.csv`` (``python -m tests.golden.reference``) and to check
that the golden file and the formulas still agree.

- SMA n: mean of the last n closes.
- RSI (Wilder): up/down moves smoothed with y_t = y_{t-1} + (x_t - y_{t-1}) / n, seeded with
  the first move (the first difference counts as 0), defined from row n-1 on;
  RSI = 100 − 100 / (1 + up/down), 100 when down = 0.
- EMA span n: alpha = 2/(n+1), seeded with the first value, defined from row n-1 of its input.
- MACD = EMA12 − EMA26; signal = EMA9 of MACD (from its first defined row); hist = MACD − signal.
- Bollinger 20/2: SMA 20 ± 2 × population standard deviation of the same 20 closes.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from coinfill.db.schema import TECHNICAL_COLUMNS

Value = float | None
HERE = Path(__file__).parent
GOLDEN = HERE / "btc_hourly_golden.csv"
COLUMNS = list(TECHNICAL_COLUMNS)


def sma(xs: list[float], n: int) -> list[Value]:
    return [None if i < n - 1 else sum(xs[i - n + 1 : i + 1]) / n for i in range(len(xs))]


def ema(xs: list[Value], n: int) -> list[Value]:
    alpha, out, level, seen = 2 / (n + 1), [], None, 0
    for x in xs:
        if x is None:
            out.append(None)
            continue
        level = x if level is None else level + alpha * (x - level)
        seen += 1
        out.append(level if seen >= n else None)
    return out


def rsi(xs: list[float], n: int = 14) -> list[Value]:
    up = down = 0.0
    out: list[Value] = []
    for i in range(len(xs)):
        move = 0.0 if i == 0 else xs[i] - xs[i - 1]
        gain, loss = max(move, 0.0), max(-move, 0.0)
        if i == 0:
            up, down = gain, loss
        else:
            up += (gain - up) / n
            down += (loss - down) / n
        out.append(None if i < n - 1 else (100.0 if down == 0 else 100 - 100 / (1 + up / down)))
    return out


def bollinger(xs: list[float], n: int = 20, k: float = 2.0) -> tuple[list[Value], ...]:
    upper: list[Value] = []
    middle: list[Value] = []
    lower: list[Value] = []
    for i in range(len(xs)):
        if i < n - 1:
            upper.append(None), middle.append(None), lower.append(None)
            continue
        window = xs[i - n + 1 : i + 1]
        mean = sum(window) / n
        std = math.sqrt(sum((w - mean) ** 2 for w in window) / n)
        upper.append(mean + k * std), middle.append(mean), lower.append(mean - k * std)
    return upper, middle, lower


def indicators(closes: list[float]) -> dict[str, list[Value]]:
    fast, slow = ema(list(closes), 12), ema(list(closes), 26)
    macd = [None if f is None or s is None else f - s for f, s in zip(fast, slow, strict=True)]
    signal = ema(macd, 9)
    hist = [None if m is None or s is None else m - s for m, s in zip(macd, signal, strict=True)]
    upper, middle, lower = bollinger(closes)
    return {
        "sma_20": sma(closes, 20),
        "sma_50": sma(closes, 50),
        "rsi_14": rsi(closes),
        "macd": macd,
        "macd_signal": signal,
        "macd_histogram": hist,
        "bollinger_upper": upper,
        "bollinger_middle": middle,
        "bollinger_lower": lower,
    }


def write_golden(rows: int = 1500) -> None:
    """The first ``rows`` real BTC hourly closes of the bundled file and their indicators."""
    from coinfill.demo import demo_bars

    bars = demo_bars()
    btc = bars[bars["symbol"] == "BTC"].sort_values("timestamp").head(rows)
    closes = [float(c) for c in btc["close"]]
    values = indicators(closes)
    with GOLDEN.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["timestamp", "close", *COLUMNS])
        for i, (stamp, close) in enumerate(zip(btc["timestamp"], closes, strict=True)):
            cells = [values[c][i] for c in COLUMNS]
            out.writerow([int(stamp), repr(close), *("" if v is None else repr(v) for v in cells)])


if __name__ == "__main__":
    write_golden()
