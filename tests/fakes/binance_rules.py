"""Binance's rules for the fake server: error bodies, parameter checks, which bars a klines
request selects, and exchangeInfo entries (used by :mod:`tests.fakes.binance_server`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.fakes.binance_bars import Ints, grid

DEFAULT_LIMIT, MAX_LIMIT = 500, 1000
INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
INVALID_INTERVAL = {"code": -1120, "msg": "Invalid interval."}
INVALID_LIMIT = {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
START_AFTER_END = {"code": -1023, "msg": "Start time is greater than end time."}
REGION_BLOCKED = {
    "code": 0,
    "msg": "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you "
    "received this message in error.",
}
TOO_MUCH_WEIGHT = (
    "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
BANNED = (
    "Way too much request weight used; IP banned until {until}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)
SYMBOL_RE = re.compile(r"[A-Z0-9\-_.]{1,20}")
LONG_RE = re.compile(r"[0-9]{1,20}")
_QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL")
_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]


@dataclass(frozen=True)
class PairSpec:
    """One fake pair: bars from ``listed_ms`` (aligned up) to ``min(now, delisted_ms)``, none
    in the ``gaps`` (``[start_ms, end_ms)`` exchange downtimes)."""

    symbol: str
    listed_ms: int
    delisted_ms: int | None = None
    base_price: float = 100.0
    gaps: Sequence[tuple[int, int]] = field(default_factory=tuple)
    base_asset: str | None = None
    quote_asset: str | None = None

    def assets(self) -> tuple[str, str]:
        if self.base_asset and self.quote_asset:
            return self.base_asset, self.quote_asset
        quote = next((q for q in _QUOTES if self.symbol.endswith(q)), self.symbol[-4:])
        return self.symbol[: -len(quote)], quote


class ApiError(Exception):
    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload["msg"])
        self.payload = payload


def illegal(name: str, legal: str) -> ApiError:
    message = f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    return ApiError({"code": -1100, "msg": message})


def mandatory(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        message = f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        raise ApiError({"code": -1102, "msg": message})
    return value


def long_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not LONG_RE.fullmatch(raw):
        raise illegal(name, "^[0-9]{1,20}$")
    return int(raw)


def select_bars(
    spec: PairSpec,
    interval: str,
    start: int | None,
    end: int | None,
    limit: int | None,
    now_ms: int,
) -> Ints:
    """Indices of the bars to answer: Binance's paging over the pair's existing bars."""
    g = grid(interval)
    low, high = g.ceil(spec.listed_ms), g.floor(now_ms)
    if spec.delisted_ms is not None:
        high = min(high, g.ceil(spec.delisted_ms) - 1)
    if start is not None:
        low = max(low, g.ceil(start))
    if end is not None:
        high = min(high, g.floor(end))
    spans = [(low, high)] if low <= high else []
    for gap_start, gap_end in spec.gaps:
        first, last = g.ceil(gap_start), g.ceil(gap_end) - 1
        pieces = ((s, min(e, first - 1)) for s, e in spans)
        after = ((max(s, last + 1), e) for s, e in spans)
        spans = sorted(p for p in (*pieces, *after) if p[0] <= p[1])
    from_end = start is None  # only endTime, or neither: the last `limit` bars
    left = limit if limit is not None else 1 << 62
    picked: list[Ints] = []
    for s, e in reversed(spans) if from_end else spans:
        take = min(left, e - s + 1)
        picked.append(np.arange(e - take + 1, e + 1) if from_end else np.arange(s, s + take))
        left -= take
        if left <= 0:
            break
    if from_end:
        picked.reverse()
    return np.concatenate(picked).astype(np.int64) if picked else np.empty(0, np.int64)


def rate_limit(kind: str, interval: str, number: int, limit: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": number, "limit": limit}


def symbol_info(spec: PairSpec, now_ms: int) -> dict[str, Any]:
    base, quote = spec.assets()
    delisted = spec.delisted_ms is not None and spec.delisted_ms <= now_ms
    status = "BREAK" if delisted else "TRADING"
    return {
        "symbol": spec.symbol,
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": _ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": not delisted,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.00000001",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.00000001",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00000001",
                "maxQty": "90000000.00000000",
                "stepSize": "0.00000001",
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def parse_symbols(raw: str) -> list[str]:
    """exchangeInfo's ``symbols=["A","B"]`` parameter."""
    try:
        names = json.loads(raw)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("not a list of strings")
    except ValueError:
        legal = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
        raise illegal("symbols", legal) from None
    return names
