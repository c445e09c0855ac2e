"""Coverage targets and validity rules of every table, in one place.

Coverage = non-NULL ÷ eligible rows per column over a backfill's window (DESIGN §6). The
targets are the old runbook's success criteria — technical ≥ 95 %, macro ≥ 95 %, on-chain
≥ 40 %, features ≥ 80 % — plus our own for prices (95 %) and sentiment (96 %, the share of
collected articles the old system scored). They are floors, not goals: the technical
backfill is expected to reach 100 % of eligible rows.

Users tighten or relax a target per table or column with ``COINFILL_COVERAGE_TARGETS``
(``{"technical": 99, "macro.VIX": 90}``) or the flows' ``coverage_targets`` parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from coinfill.db.schema import TECHNICAL_COLUMNS
from coinfill.errors import InputError
from coinfill.features.catalog import MEASURED
from coinfill.indicators import WARMUP


@dataclass(frozen=True)
class Bounds:
    """``low ≤ column ≤ high`` (``None`` = open); ``strict_low`` makes it ``low < column``."""

    column: str
    low: float | None
    high: float | None
    strict_low: bool = False
    why: str = ""


@dataclass(frozen=True)
class Contract:
    """What a table promises: which columns must be filled, how much, and what is valid."""

    name: str
    table: str
    keys: tuple[str, ...]
    time_column: str
    symbol_column: str | None
    target: float
    coverage: tuple[str, ...]
    # Leading rows of a symbol's price history that cannot have a value (technical only).
    warmup: Mapping[str, int] = field(default_factory=dict)
    # Coverage split by a category column: macro measures ``value`` once per indicator.
    split_by: str | None = None
    bounds: tuple[Bounds, ...] = ()
    # (a, b): a ≥ b wherever both are present.
    ordered: tuple[tuple[str, str], ...] = ()
    # Rows are expected for every valid price row in the window (a missing row is a miss).
    rows_follow_prices: bool = False
    # The window is applied to this unix-ms column instead (prices: the indexed ``timestamp``;
    # ``timestamp_iso`` has no index, and filtering on it scans every symbol's history).
    time_ms_column: str | None = None
    # A row is expected for every bar of the interval grid; the caller counts them (prices).
    rows_follow_bars: bool = False
    # Rows are expected on a calendar the caller gives (macro: each series' publication dates).
    rows_follow_calendar: bool = False
    # Eligibility per (symbol, date, column) comes from what the sources can serve (on-chain).
    rows_follow_availability: bool = False
    # A boolean column saying the source itself has no value for the row: not eligible.
    no_value_flag: str | None = None
    # A column whose non-NULL value says why the row cannot have values: not eligible (news:
    # the article is in a language the model does not read, or has no text).
    ineligible_reason: str | None = None
    # An integer column whose bit i says coverage[i] is eligible in the row (features).
    eligibility_mask: str | None = None
    # The target applies to all measured cells together; columns are reported, and enforced
    # only when a per-column target is given (features).
    overall: bool = False

    @property
    def warmup_lengths(self) -> list[int]:
        """The distinct non-zero warm-ups, ascending: one cut-off per symbol for each."""
        return sorted({w for w in self.warmup.values() if w})


# Plausible ranges per FRED indicator (DESIGN §4); a value outside is a unit or series mix-up.
MACRO_BOUNDS: dict[str, tuple[float, float]] = {
    "US_UNEMPLOYMENT": (0.0, 30.0),  # percent
    "US_INFLATION": (-20.0, 30.0),  # YoY %, units=pc1 (a CPI level near 300 is the old bug)
    "US_GDP": (-40.0, 40.0),  # real GDP growth, % from a year ago
    "FEDERAL_FUNDS_RATE": (0.0, 25.0),
    "10Y_YIELD": (-2.0, 20.0),
    "VIX": (5.0, 150.0),
    "DXY": (50.0, 200.0),  # broad dollar index, 2006 = 100
    "GOLD_PRICE": (100.0, 20_000.0),  # USD per troy ounce
    "OIL_PRICE": (-100.0, 300.0),  # WTI was −36.98 on 2020-04-20
}

CONTRACTS: dict[str, Contract] = {
    "prices": Contract(
        name="prices",
        table="price_data_real",
        keys=("symbol", "timestamp"),
        time_column="timestamp_iso",
        symbol_column="symbol",
        target=95.0,
        coverage=("current_price", "high_24h", "low_24h", "volume_usd_24h"),
        bounds=(
            Bounds("current_price", 0.0, None, strict_low=True, why="prices > 0"),
            Bounds("volume_usd_24h", 0.0, None, why="volume ≥ 0"),
        ),
        ordered=(("high_24h", "low_24h"),),
        time_ms_column="timestamp",
        rows_follow_bars=True,
    ),
    "technical": Contract(
        name="technical",
        table="technical_indicators",
        keys=("symbol", "timestamp_iso"),
        time_column="timestamp_iso",
        symbol_column="symbol",
        target=95.0,
        coverage=TECHNICAL_COLUMNS,
        warmup={column: WARMUP[column] for column in TECHNICAL_COLUMNS},
        bounds=(
            Bounds("rsi_14", 0.0, 100.0, why="RSI is within [0, 100]"),
            Bounds("current_price", 0.0, None, strict_low=True, why="prices > 0"),
        ),
        ordered=(("bollinger_upper", "bollinger_middle"), ("bollinger_middle", "bollinger_lower")),
        rows_follow_prices=True,
    ),
    "macro": Contract(
        name="macro",
        table="macro_indicators",
        keys=("indicator_name", "indicator_date"),
        time_column="indicator_date",
        symbol_column=None,
        target=95.0,
        coverage=tuple(MACRO_BOUNDS),
        split_by="indicator_name",
        rows_follow_calendar=True,
        no_value_flag="missing_at_source",
        bounds=tuple(
            Bounds(name, low, high, why=f"plausible {name}")
            for name, (low, high) in MACRO_BOUNDS.items()
        ),
    ),
    "onchain": Contract(
        name="onchain",
        table="crypto_onchain_data",
        keys=("symbol", "metric_date"),
        time_column="metric_date",
        symbol_column="symbol",
        target=40.0,
        coverage=(
            "active_addresses_24h",
            "transaction_count_24h",
            "exchange_net_flow_24h",
            "price_volatility_7d",
        ),
        rows_follow_availability=True,
        bounds=(
            Bounds("active_addresses_24h", 0.0, None, why="counts ≥ 0"),
            Bounds("transaction_count_24h", 0.0, None, why="counts ≥ 0"),
            Bounds("price_volatility_7d", 0.0, None, why="volatility ≥ 0"),
        ),
    ),
    "features": Contract(
        name="features",
        table="ml_features_materialized",
        keys=("symbol", "timestamp_iso"),
        time_column="timestamp_iso",
        symbol_column="symbol",
        target=80.0,
        coverage=MEASURED,
        eligibility_mask="eligible_mask",
        overall=True,
        bounds=(
            Bounds("current_price", 0.0, None, strict_low=True, why="prices > 0"),
            Bounds("rsi_14", 0.0, 100.0, why="RSI is within [0, 100]"),
        ),
    ),
    "sentiment": Contract(
        name="sentiment",
        table="news_articles",
        keys=("url_hash",),
        time_column="published_at",
        symbol_column=None,
        target=96.0,
        coverage=("sentiment_score",),
        ineligible_reason="sentiment_skipped",
        bounds=(
            Bounds("sentiment_score", -1.0, 1.0, why="scores are within [-1, 1]"),
            Bounds("sentiment_confidence", 0.0, 1.0, why="confidence is within [0, 1]"),
        ),
    ),
}


def contract_for(name: str) -> Contract:
    try:
        return CONTRACTS[name]
    except KeyError:
        raise InputError(f"unknown table '{name}'; choose one of {', '.join(CONTRACTS)}") from None


def resolve_targets(contract: Contract, overrides: Mapping[str, float]) -> dict[str, float]:
    """Target per coverage column: the contract's, then ``table``, then ``table.column`` keys.

    Overrides for other tables are ignored here (a flow checks them all when it starts);
    an unknown column of this table is an error, so a typo never leaves the default in force.
    """
    mine = {k: v for k, v in overrides.items() if k.partition(".")[0] == contract.name}
    other_tables = {k.partition(".")[0]: 0.0 for k in overrides if k not in mine}
    validate_overrides({**other_tables, **mine}, {contract.name: contract.coverage})
    targets = {column: 0.0 if contract.overall else contract.target for column in contract.coverage}
    if contract.name in overrides and not contract.overall:
        targets = dict.fromkeys(targets, float(overrides[contract.name]))
    for key, value in overrides.items():
        table, _, column = key.partition(".")
        if table == contract.name and column:
            targets[column] = float(value)
    return targets


def validate_overrides(
    overrides: Mapping[str, float], columns: Mapping[str, Iterable[str]] | None = None
) -> None:
    """Every key names a table (and a measured column) and every value is a percent.

    ``columns`` replaces a table's measured columns where the contract's static list is not the
    whole story (macro: the indicators users add with ``COINFILL_MACRO_SERIES``).
    """
    for key, value in overrides.items():
        table, _, column = key.partition(".")
        if table not in CONTRACTS:
            raise InputError(
                f"coverage target '{key}': unknown table '{table}'; "
                f"choose one of {', '.join(CONTRACTS)}"
            )
        known = list((columns or {}).get(table, CONTRACTS[table].coverage))
        if column and column not in known:
            raise InputError(
                f"coverage target '{key}': '{column}' is not a measured column of {table}; "
                f"choose one of {', '.join(known)}"
            )
        if not 0.0 <= float(value) <= 100.0:
            raise InputError(f"coverage target '{key}' = {value}: must be a percent in [0, 100]")
