"""The written column order, and the macro and on-chain columns of a chunk's rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from coinfill.db import features as db
from coinfill.db.schema import FEATURE_VALUE_COLUMNS, ONCHAIN_SOURCE_COLUMNS
from coinfill.features.catalog import CALENDAR, MACRO_INDICATORS, ONCHAIN_MAX_AGE, age_column
from coinfill.features.inputs import Inputs
from coinfill.features.pointintime import KNOWN, OBSERVED, VALUE, as_of, as_of_by, effective
from coinfill.onchain.metrics import COMPUTED, METRICS, PUBLICATION_DELAY, VOLATILITY

FEATURE_COLUMNS: tuple[str, ...] = (
    "symbol",
    "timestamp_iso",
    *FEATURE_VALUE_COLUMNS,
    "onchain_data_source",
    *ONCHAIN_SOURCE_COLUMNS,
    *CALENDAR,
    "eligible_mask",
)
HOUR = np.timedelta64(3600, "s")


def macro_columns(times: pd.Series, inputs: Inputs) -> pd.DataFrame:
    """Each macro feature and its age in hours, as known at each row's time."""
    unique = pd.Series(pd.unique(times.to_numpy(dtype="datetime64[us]")))
    where = pd.Index(unique).get_indexer(pd.Index(times.to_numpy(dtype="datetime64[us]")))
    out: dict[str, np.ndarray] = {}
    for feature in MACRO_INDICATORS:
        events = inputs.gold if feature == "gold_price" else inputs.macro.get(feature)
        if events is None or events.empty:
            out[feature] = np.full(len(times), np.nan)
            out[age_column(feature)] = np.full(len(times), np.nan)
            continue
        known = as_of(unique, events, inputs.macro_age[feature])
        age = (unique.to_numpy(dtype="datetime64[us]") - known[OBSERVED].to_numpy(
            dtype="datetime64[us]")) / HOUR  # fmt: skip
        out[feature] = known[VALUE].to_numpy()[where]
        out[age_column(feature)] = np.asarray(age, dtype=float)[where]
    return pd.DataFrame(out, index=times.index)


def onchain_columns(
    engine: Engine, rows: pd.DataFrame, start: datetime | None, end: datetime | None
) -> pd.DataFrame:
    """Per row, each on-chain value of the latest day readable at t (within the age limit),
    with the source it came from; ``onchain_data_source`` summarises the row."""
    symbols = list(pd.unique(rows["symbol"]))
    since = None if start is None else start - ONCHAIN_MAX_AGE - timedelta(days=2)
    stored = db.onchain_rows(engine, symbols, since, end) if symbols else None
    out = pd.DataFrame(index=rows.index)
    columns = [(m.column, m.source_column) for m in METRICS] + [(VOLATILITY, None)]
    for column, source_column in columns:
        events = _events(stored, column, source_column)
        extra = ("source",) if source_column else ()
        found = as_of_by(rows, events, ONCHAIN_MAX_AGE, age_from=timedelta(days=1), extra=extra)
        out[column] = found[VALUE].to_numpy()
        if source_column:
            out[source_column] = found["source"].astype(object).to_numpy()
    summary = pd.Series([None] * len(rows), index=rows.index, dtype=object)
    for _, source_column in columns[:-1]:
        summary = summary.where(summary.notna(), out[source_column])
    out["onchain_data_source"] = summary.where(summary.notna() | out[VOLATILITY].isna(), COMPUTED)
    return out[[c for c, _ in columns] + ["onchain_data_source", *ONCHAIN_SOURCE_COLUMNS]]


def _events(stored: pd.DataFrame | None, column: str, source_column: str | None) -> pd.DataFrame:
    """A metric's stored days as events known at ``available_at(day, source)``."""
    if stored is None or stored.empty:
        return pd.DataFrame(columns=["symbol", KNOWN, OBSERVED, VALUE, "source"])
    have = stored.loc[stored[column].notna()]
    source = have[source_column] if source_column else pd.Series(COMPUTED, index=have.index)
    source = source.astype(object).where(source.notna(), None)
    # A value stored without its source (older rows): assume a day's delay, the longest.
    delay = source.map(lambda s: PUBLICATION_DELAY.get(s, timedelta(days=1)) if s else
                       timedelta(days=1))  # fmt: skip
    known = have["observed"] + timedelta(days=1) + pd.to_timedelta(delay)
    events = pd.DataFrame(
        {"symbol": have["symbol"].astype(object), KNOWN: known, OBSERVED: have["observed"],
         VALUE: have[column].astype(float), "source": source}
    )  # fmt: skip
    return effective(events, by="symbol")
