"""Compare freshly computed rows with stored ones: what to insert, what to update, what to skip.

Writing only what changed is what makes a re-run cheap: a merge that rewrites 3.3M unchanged
rows costs ~2 minutes on MariaDB, reading and comparing them a few seconds (DESIGN §9).
A NULL in the new rows never replaces a stored value: the stored one is carried over — except
for derived tables rebuilt from their sources (``keep_stored=False``), where the new row is the
truth, NULLs included.

Rows whose value columns are all float64 on both sides (the technical and feature tables)
take a numpy path: keys are matched through integer codes and every column is compared as an
array, ~10x faster than the general path (a pandas merge on string and datetime keys), which
stays for other column types, NULL keys and duplicate stored keys. Both give the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

OLD = "__old"
# Above this many key combinations the integer codes of a row's key could overflow int64.
MAX_KEY_SPACE = 1 << 62


@dataclass(frozen=True)
class RowChanges:
    """New rows, changed rows (NULLs already filled from storage) and untouched rows."""

    inserts: pd.DataFrame
    updates: pd.DataFrame
    unchanged: pd.DataFrame


def diff_rows(
    new: pd.DataFrame,
    existing: pd.DataFrame,
    keys: Sequence[str],
    *,
    rtol: float = 1e-9,
    atol: float | pd.Series = 1e-12,
    keep_stored: bool = True,
) -> RowChanges:
    """Split ``new`` by comparing it with ``existing`` on ``keys``.

    Floats count as equal within ``rtol``/``atol`` (``atol`` may be a per-row Series aligned
    with ``new``, e.g. a fraction of the price level), so a recompute that differs only by
    float noise writes nothing.
    """
    values = [col for col in new.columns if col not in keys]
    existing = existing.astype(
        {k: new[k].dtype for k in keys if k in existing and existing[k].dtype != new[k].dtype}
    )
    if _all_float(new, existing, values):
        found = _locate(new, existing, keys)
        if found is not None:
            return _diff_float(new, existing, keys, found, rtol, atol, keep_stored)
    return _diff_merge(new, existing, keys, values, rtol, atol, keep_stored)


def _all_float(new: pd.DataFrame, existing: pd.DataFrame, values: Sequence[str]) -> bool:
    # No stored rows: their column types do not matter (SQLite reads them as object).
    frames = (new, existing) if len(existing) else (new,)
    return all(f[c].dtype == np.float64 for c in values for f in frames if c in f.columns)


def _locate(new: pd.DataFrame, existing: pd.DataFrame, keys: Sequence[str]) -> np.ndarray | None:
    """For each row of ``new`` the position of its key in ``existing``, -1 where it is not
    stored; ``None`` when the fast path does not apply (a NULL key, a key stored twice)."""
    combined = np.zeros(len(new) + len(existing), dtype=np.int64)
    space = 1
    for key in keys:
        codes, uniques = pd.factorize(pd.concat([new[key], existing[key]], ignore_index=True))
        space *= max(len(uniques), 1)
        if space >= MAX_KEY_SPACE or (codes < 0).any():
            return None
        combined = combined * max(len(uniques), 1) + codes
    stored = pd.Index(combined[len(new) :])
    if not stored.is_unique:
        return None
    found: np.ndarray = stored.get_indexer(pd.Index(combined[: len(new)]))
    return found


def _diff_float(
    new: pd.DataFrame,
    existing: pd.DataFrame,
    keys: Sequence[str],
    found: np.ndarray,
    rtol: float,
    atol: float | pd.Series,
    keep_stored: bool,
) -> RowChanges:
    matched = np.flatnonzero(found >= 0)
    at = found[matched]
    row_atol = atol.to_numpy(dtype=float)[matched] if isinstance(atol, pd.Series) else atol
    changed = np.zeros(len(matched), dtype=bool)
    filled: dict[str, np.ndarray] = {}
    for col in new.columns:
        if col in keys:
            continue
        fresh = new[col].to_numpy()[matched]
        has_fresh = ~np.isnan(fresh)
        if col not in existing.columns:
            changed |= has_fresh
            continue
        old = existing[col].to_numpy(dtype=float)[at]  # float64 already, or no rows
        with np.errstate(invalid="ignore"):
            differs = ~(np.abs(fresh - old) <= row_atol + rtol * np.abs(old))
        if keep_stored:
            changed |= has_fresh & (np.isnan(old) | differs)
            filled[col] = np.where(has_fresh, fresh, old)
        else:
            has_old = ~np.isnan(old)
            changed |= (has_fresh != has_old) | (has_fresh & has_old & differs)
    updates = new.iloc[matched[changed]].reset_index(drop=True)
    for col, merged in filled.items():
        updates[col] = merged[changed]
    return RowChanges(
        inserts=new.iloc[np.flatnonzero(found < 0)].reset_index(drop=True),
        updates=updates,
        unchanged=new.iloc[matched[~changed]][list(keys)].reset_index(drop=True),
    )


def _diff_merge(
    new: pd.DataFrame,
    existing: pd.DataFrame,
    keys: Sequence[str],
    values: Sequence[str],
    rtol: float,
    atol: float | pd.Series,
    keep_stored: bool,
) -> RowChanges:
    keep = [*keys, *[col for col in values if col in existing.columns]]
    if isinstance(atol, pd.Series):
        new = new.assign(**{f"{OLD}atol": atol.to_numpy()})
    merged = new.merge(
        existing[keep], on=list(keys), how="left", suffixes=("", OLD), indicator=True
    )
    is_new = (merged["_merge"] == "left_only").to_numpy()
    stored = merged.loc[~is_new]
    row_atol: float | np.ndarray = (
        stored[f"{OLD}atol"].to_numpy() if isinstance(atol, pd.Series) else atol
    )
    changed = np.zeros(len(stored), dtype=bool)
    filled = {}
    for col in values:
        fresh = stored[col]
        if col not in existing.columns:
            changed |= fresh.notna().to_numpy()
            continue
        old = stored[col + OLD]
        differs = _differs(fresh, old, rtol, row_atol)
        if keep_stored:
            changed |= (fresh.notna() & (old.isna() | differs)).to_numpy()
            filled[col] = fresh.where(fresh.notna(), old)
        else:
            both = (fresh.notna() & old.notna()).to_numpy()
            changed |= (fresh.isna() != old.isna()).to_numpy() | (both & differs)
    result_cols = list(new.columns.drop(f"{OLD}atol", errors="ignore"))
    updated = stored.assign(**filled).loc[changed, result_cols]
    return RowChanges(
        inserts=merged.loc[is_new, result_cols].reset_index(drop=True),
        updates=updated.reset_index(drop=True),
        unchanged=stored.loc[~changed, list(keys)].reset_index(drop=True),
    )


def _differs(fresh: pd.Series, old: pd.Series, rtol: float, atol: float | np.ndarray) -> np.ndarray:
    if pd.api.types.is_float_dtype(fresh) and pd.api.types.is_numeric_dtype(old):
        a = fresh.to_numpy(dtype=float, na_value=np.nan)
        b = old.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            close: np.ndarray = np.abs(a - b) <= atol + rtol * np.abs(b)
            return ~close
    return (fresh.astype(object) != old.astype(object)).to_numpy()
