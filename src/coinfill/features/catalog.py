"""Every column of ``ml_features_materialized``: what it means, where it comes from, how it is
joined, and how stale it may get. This is the one place the feature table is documented;
``docs/features.md`` is rendered from it (``python -m coinfill.features.catalog``).

A row is one valid price row ``(symbol, t)``, ``t`` = the bar's close time (``timestamp_iso``).
Every joined value obeys *point in time*: it was published at or before ``t``. A value older
than its column's limit is NULL, never carried forward (a stale value is worse than NULL).

Coverage is measured over *eligible* cells only. The builder knows why a cell may be empty and
stores, per row, a bit per measured column in ``eligible_mask`` (bit ``i`` = ``MEASURED[i]``);
the features suite counts a NULL as missing only where its bit is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from coinfill.db.schema import MACRO_FEATURES, TECHNICAL_COLUMNS
from coinfill.indicators import WARMUP
from coinfill.macro.catalog import MacroSeries

# Feature column → macro indicator name (DESIGN §4). gold_price comes from a tokenised-gold price.
MACRO_INDICATORS: dict[str, str] = {
    "unemployment_rate": "US_UNEMPLOYMENT",
    "inflation_rate": "US_INFLATION",
    "gdp_growth": "US_GDP",
    "fed_funds_rate": "FEDERAL_FUNDS_RATE",
    "treasury_10y": "10Y_YIELD",
    "vix": "VIX",
    "dollar_index": "DXY",
    "gold_price": "GOLD_PRICE",
    "oil_price": "OIL_PRICE",
}
assert tuple(MACRO_INDICATORS) == MACRO_FEATURES
GOLD_FEATURE = "gold_price"
GOLD_MAX_AGE = timedelta(hours=2)

RETURN_LAGS: dict[str, timedelta] = {
    "return_1h": timedelta(hours=1),
    "return_4h": timedelta(hours=4),
    "return_24h": timedelta(hours=24),
    "return_7d": timedelta(days=7),
}
# Volatility is the std of log returns over this step: p(t) / p(t − 1 h), on bars of 1 h or
# finer whose interval divides it (coarser bars have no such returns: never eligible).
LOG_RETURN_STEP = timedelta(hours=1)
# Trailing window → the fewest hourly log returns it needs (three quarters of the hours).
VOLATILITY_WINDOWS: dict[str, tuple[timedelta, int]] = {
    "volatility_24h": (timedelta(hours=24), 18),
    "volatility_7d": (timedelta(days=7), 126),
}
RATIOS: dict[str, tuple[str, ...]] = {
    "price_to_sma_20": ("sma_20",),
    "price_to_sma_50": ("sma_50",),
    "sma_20_to_sma_50": ("sma_20", "sma_50"),
    "bollinger_percent_b": ("bollinger_upper", "bollinger_lower"),
    "bollinger_width": ("bollinger_upper", "bollinger_middle", "bollinger_lower"),
}
ONCHAIN_VALUES = (
    "active_addresses_24h",
    "transaction_count_24h",
    "exchange_net_flow_24h",
    "price_volatility_7d",
)
# An on-chain day is carried at most this long after the day ended (then NULL): one day of
# CoinMetrics' publication delay plus two days of a late or missing day.
ONCHAIN_MAX_AGE = timedelta(days=3)
SENTIMENT_WINDOW = timedelta(hours=24)
SENTIMENT_VALUES = (
    "sentiment_mean_24h",
    "sentiment_count_24h",
    "sentiment_positive_share_24h",
    "sentiment_confidence_mean_24h",
)
CALENDAR = ("hour_of_day", "day_of_week", "day_of_month", "month", "is_weekend")

# Measured for coverage, in bit order of ``eligible_mask``. Append only: stored masks use it.
MEASURED: tuple[str, ...] = (
    "current_price",
    "high_24h",
    "low_24h",
    "volume_usd_24h",
    *RETURN_LAGS,
    *VOLATILITY_WINDOWS,
    *TECHNICAL_COLUMNS,
    *RATIOS,
    *MACRO_FEATURES,
    *ONCHAIN_VALUES,
    *SENTIMENT_VALUES,
)
assert len(MEASURED) < 63
BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(MEASURED)}


def age_column(feature: str) -> str:
    return f"{feature}_age_hours"


def macro_max_age(series: MacroSeries) -> timedelta:
    """How old (from its observation date) a macro value may be before it is NULL.

    One period, plus the series' publication lag, plus slack for holidays and late releases:
    daily 1 + lag + 5 days, monthly 31 + lag + 14, quarterly 92 + lag + 30. ``stale_after_days``
    on the series overrides it.
    """
    if series.stale_after_days is not None:
        return timedelta(days=series.stale_after_days)
    period, slack = {"daily": (1, 5), "monthly": (31, 14), "quarterly": (92, 30)}[series.frequency]
    return timedelta(days=period + series.lag_days + slack)


@dataclass(frozen=True)
class Feature:
    name: str
    group: str
    meaning: str
    source: str
    join: str
    eligible: str = "every row"


def _price_features() -> list[Feature]:
    out = [
        Feature("current_price", "price", "close of the bar ending at t, USD", "price_data_real",
                "same row"),
        Feature("high_24h", "price", "highest price over (t − 24 h, t]", "price_data_real",
                "same row"),
        Feature("low_24h", "price", "lowest price over (t − 24 h, t]", "price_data_real",
                "same row"),
        Feature("volume_usd_24h", "price", "traded volume over (t − 24 h, t], USD",
                "price_data_real", "same row"),
    ]  # fmt: skip
    for name, lag in RETURN_LAGS.items():
        hours = int(lag.total_seconds() // 3600)
        out.append(
            Feature(
                name,
                "price",
                f"simple return p(t) / p(t − {hours} h) − 1",
                "price_data_real",
                f"the row exactly {hours} h earlier; NULL if absent",
                f"the bar interval divides {hours} h and the symbol's first price is at or "
                f"before t − {hours} h",
            )
        )
    for name, (window, least) in VOLATILITY_WINDOWS.items():
        hours = int(window.total_seconds() // 3600)
        out.append(
            Feature(
                name,
                "price",
                f"sample std of hourly log returns over (t − {hours} h, t], not annualised",
                "price_data_real",
                f"trailing rows; needs ≥ {least} of {hours} returns",
                f"the bar interval divides 1 h and the symbol's first price is at or before "
                f"t − {hours} h",
            )
        )
    return out


def _technical_features() -> list[Feature]:
    out = [
        Feature(
            name,
            "technical",
            f"{name} on current_price (DESIGN §4)",
            "technical_indicators",
            "same (symbol, timestamp_iso)",
            f"after the first {WARMUP[name]} valid prices of the symbol",
        )
        for name in TECHNICAL_COLUMNS
    ]
    meanings = {
        "price_to_sma_20": "current_price / sma_20",
        "price_to_sma_50": "current_price / sma_50",
        "sma_20_to_sma_50": "sma_20 / sma_50",
        "bollinger_percent_b": "(price − lower) / (upper − lower)",
        "bollinger_width": "(upper − lower) / middle",
    }
    for name, inputs in RATIOS.items():
        out.append(
            Feature(
                name,
                "technical",
                meanings[name],
                "technical_indicators",
                "same row",
                f"where {', '.join(inputs)} are eligible (and upper > lower for %B)",
            )
        )
    return out


def _macro_features(series: dict[str, MacroSeries]) -> list[Feature]:
    out = []
    for name, indicator in MACRO_INDICATORS.items():
        if name == GOLD_FEATURE:
            out.append(
                Feature(
                    name,
                    "macro",
                    "gold, USD per troy ounce: the PAXG close",
                    "price_data_real (PAXG, see COINFILL_GOLD_SYMBOL)",
                    "latest PAXG row at or before t; NULL after 2 h",
                    "from the gold symbol's first price",
                )
            )
            continue
        s = series[indicator]
        out.append(
            Feature(
                name,
                "macro",
                f"{s.series_id} ({s.unit_label or s.units}), {s.frequency}",
                f"macro_indicators {indicator}",
                "latest observation published at or before t (revised value once known); "
                f"NULL {macro_max_age(s).days} days after its observation date",
                "the series has a source",
            )
        )
    return out


def features(series: dict[str, MacroSeries]) -> list[Feature]:
    """The documented columns, measured ones in ``MEASURED`` order, then the others."""
    onchain = [
        Feature(
            name,
            "on-chain",
            f"{name} of the latest UTC day published by t",
            "crypto_onchain_data",
            "latest day whose value was available at or before t "
            f"(source delay); NULL {ONCHAIN_MAX_AGE.days} days after the day ended",
            "a source's catalogue serves the asset and metric for that day",
        )
        for name in ONCHAIN_VALUES
    ]
    sentiment_meanings = {
        "sentiment_mean_24h": "mean score of scored articles mentioning the symbol",
        "sentiment_count_24h": "articles mentioning the symbol",
        "sentiment_positive_share_24h": "share of scored articles labelled positive",
        "sentiment_confidence_mean_24h": "mean confidence of scored articles",
    }
    sentiment = [
        Feature(
            name,
            "sentiment",
            sentiment_meanings[name],
            "news_articles",
            "articles published in (t − 24 h, t]",
            "news was collected in that window"
            if name == "sentiment_count_24h"
            else "an article the model can read mentions the symbol in that window",
        )
        for name in SENTIMENT_VALUES
    ]
    measured = [
        *_price_features(),
        *_technical_features(),
        *_macro_features(series),
        *onchain,
        *sentiment,
    ]
    assert tuple(f.name for f in measured) == MEASURED
    extra = [
        Feature(
            age_column(name),
            "macro",
            f"hours from the {name} observation to t",
            "macro_indicators",
            f"with {name}",
            "not measured",
        )
        for name in MACRO_FEATURES
    ]
    extra += [
        Feature(
            f"{name.rsplit('_', 1)[0]}_source",
            "on-chain",
            f"source of {name}",
            "crypto_onchain_data",
            f"with {name}",
            "not measured",
        )
        for name in ("active_addresses_24h", "transaction_count_24h", "exchange_net_flow_24h")
    ]
    extra += [
        Feature("onchain_data_source", "on-chain", "row summary of the on-chain sources",
                "crypto_onchain_data", "with the on-chain values", "not measured"),
        Feature("hour_of_day", "calendar", "0–23, UTC", "t", "–", "not measured"),
        Feature("day_of_week", "calendar", "0 = Monday … 6 = Sunday, UTC", "t", "–",
                "not measured"),
        Feature("day_of_month", "calendar", "1–31, UTC", "t", "–", "not measured"),
        Feature("month", "calendar", "1–12, UTC", "t", "–", "not measured"),
        Feature("is_weekend", "calendar", "Saturday or Sunday, UTC", "t", "–", "not measured"),
        Feature("eligible_mask", "coverage", "bit i set: MEASURED[i] can have a value here",
                "coinfill", "–", "not measured"),
    ]  # fmt: skip
    return [*measured, *extra]


def markdown(series: dict[str, MacroSeries]) -> str:
    lines = [
        "# ml_features_materialized columns",
        "",
        "Generated from `src/coinfill/features/catalog.py` (`python -m coinfill.features.catalog"
        " > docs/features.md`). A row is one valid price row (symbol, t), t = the bar's close"
        " time; every joined value was published at or before t. Coverage counts a NULL as"
        " missing only where the column is eligible.",
        "",
        "| column | group | meaning | source | how it is joined | eligible |",
        "|---|---|---|---|---|---|",
    ]
    for f in features(series):
        lines.append(
            f"| `{f.name}` | {f.group} | {f.meaning} | {f.source} | {f.join} | {f.eligible} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from coinfill.macro.catalog import catalog

    print(markdown(catalog()), end="")
