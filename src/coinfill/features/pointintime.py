"""Point-in-time joins: for a row at time t, only values that were published at or before t.

Each source becomes a list of *events* ``(known_at, observed, value)``: the moment a value
became readable, the period it describes, the value. At time t the state is the event with the
latest ``observed`` among those with ``known_at ≤ t``; a later event for the same period (a
revision) replaces it, an event for an older period (a late revision of last month while this
month is out) does not. The result is then dropped when ``t − observed`` exceeds the column's
limit. ``pandas.merge_asof`` (backward, exact matches allowed) does the as-of lookup.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

KNOWN = "known_at"
OBSERVED = "observed"  # (``assign(value=…, observed=…)`` below spells these two out)
VALUE = "value"


def macro_events(rows: pd.DataFrame) -> pd.DataFrame:
    """One indicator's stored rows → events: the first release at ``published_at`` and, when
    it differs, the latest value at ``value_known_at`` (see ``coinfill.macro.rows``)."""
    first = rows.loc[rows["published_at"].notna() & rows["first_value"].notna()]
    latest = rows.loc[rows["value_known_at"].notna() & rows["value"].notna()]
    later = (latest["value_known_at"] > latest["published_at"]) | latest["published_at"].isna()
    latest = latest.loc[later.to_numpy() | (latest["value"] != latest["first_value"]).to_numpy()]
    events = pd.concat(
        [
            pd.DataFrame({KNOWN: first["published_at"], OBSERVED: first["observed"],
                          VALUE: first["first_value"]}),
            pd.DataFrame({KNOWN: latest["value_known_at"], OBSERVED: latest["observed"],
                          VALUE: latest["value"]}),
        ],
        ignore_index=True,
    )  # fmt: skip
    return effective(events)


def effective(events: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """The events that change the state: in ``known_at`` order, those whose period is at least
    as recent as every period already known (per ``by`` group when given)."""
    if events.empty:
        return events
    order = [by, KNOWN, OBSERVED] if by else [KNOWN, OBSERVED]
    events = events.sort_values(order, kind="stable").reset_index(drop=True)
    observed = events[OBSERVED]
    newest = observed.groupby(events[by]).cummax() if by else observed.cummax()
    kept = events.loc[(observed >= newest).to_numpy()]
    # Several events at the same instant: the last one (latest period, then revision) wins.
    keys = [by, KNOWN] if by else [KNOWN]
    return kept.drop_duplicates(keys, keep="last").reset_index(drop=True)


def as_of(
    times: pd.Series,
    events: pd.DataFrame,
    max_age: timedelta,
    *,
    age_from: timedelta = timedelta(0),
) -> pd.DataFrame:
    """For each time: the value and its period known at that time, NULL when older than
    ``max_age`` measured from ``observed + age_from``. Aligned with ``times``' index."""
    probe = pd.DataFrame(
        {"t": times.to_numpy(dtype="datetime64[us]"), "pos": np.arange(len(times))}
    )
    probe = probe.sort_values("t", kind="stable")
    if events.empty:
        found = probe.assign(value=np.nan, observed=np.datetime64("NaT", "us"))
    else:
        right = events[[KNOWN, OBSERVED, VALUE]].astype({KNOWN: "datetime64[us]"})
        found = pd.merge_asof(probe, right, left_on="t", right_on=KNOWN, direction="backward")
    found = found.sort_values("pos")
    observed = pd.to_datetime(found[OBSERVED]).astype("datetime64[us]")
    stale = (found["t"] - (observed + age_from)) > max_age
    value = found[VALUE].astype(float).where(~stale.to_numpy())
    observed = observed.where(value.notna())
    return pd.DataFrame({VALUE: value.to_numpy(), OBSERVED: observed.to_numpy()}, index=times.index)


def as_of_by(
    rows: pd.DataFrame,
    events: pd.DataFrame,
    max_age: timedelta,
    *,
    age_from: timedelta,
    extra: tuple[str, ...] = (),
) -> pd.DataFrame:
    """``as_of`` per symbol: ``rows`` has ``symbol`` and ``timestamp_iso``; ``events`` has
    ``symbol``, ``known_at``, ``observed``, ``value`` and the ``extra`` columns."""
    probe = pd.DataFrame(
        {
            "symbol": rows["symbol"].astype(str).to_numpy(),
            "t": rows["timestamp_iso"].to_numpy(dtype="datetime64[us]"),
            "pos": np.arange(len(rows)),
        }
    ).sort_values("t", kind="stable")
    columns = [VALUE, OBSERVED, *extra]
    if events.empty:
        found = probe.assign(value=np.nan, observed=np.datetime64("NaT", "us"))
        for name in extra:
            found[name] = None
    else:
        right = (
            events[["symbol", KNOWN, *columns]]
            .astype({KNOWN: "datetime64[us]", "symbol": str})
            .sort_values(KNOWN, kind="stable")
        )
        found = pd.merge_asof(
            probe, right, left_on="t", right_on=KNOWN, by="symbol", direction="backward"
        )
    found = found.sort_values("pos")
    observed = pd.to_datetime(found[OBSERVED]).astype("datetime64[us]")
    stale = ((found["t"] - (observed + age_from)) > max_age).to_numpy()
    value = found[VALUE].astype(float).mask(stale)
    out = pd.DataFrame({VALUE: value.to_numpy(), OBSERVED: observed.to_numpy()}, index=rows.index)
    for name in extra:
        out[name] = found[name].mask(stale | value.isna().to_numpy()).to_numpy()
    return out


def trailing_counts(
    row_keys: np.ndarray, event_keys: np.ndarray, span: timedelta, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per row key k: the number (or weighted sum) of event keys in (k − span, k].

    Both key arrays are ascending (symbol code × stride + seconds, see ``price_features``).
    """
    hi = np.searchsorted(event_keys, row_keys, side="right")
    lo = np.searchsorted(event_keys, row_keys - int(span.total_seconds()), side="right")
    if weights is None:
        return (hi - lo).astype(np.int64)
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    return np.asarray(cumulative[hi] - cumulative[lo])
