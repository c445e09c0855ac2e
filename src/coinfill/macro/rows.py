"""FRED observations → ``macro_indicators`` rows, with the point-in-time columns.

Per (indicator, date) the row holds:

- ``value``: the latest value FRED has (``None`` for ``"."``; never written over a stored value);
- ``first_value`` and ``published_at``: the first release and when it became known;
- ``value_known_at``: when ``value`` itself became known (later than ``published_at`` when
  revised);
- ``missing_at_source``: FRED lists the date with ``"."`` only (a holiday): not a gap.

A feature row at time t may use ``value`` if ``value_known_at ≤ t``, else ``first_value`` if
``published_at ≤ t``, else nothing — never a number published after t.

How ``published_at`` is found, per series (``MacroSeries.point_in_time``):

- ``first_release``: from ALFRED vintages, the ``realtime_start`` of the first period with a
  value, taken as known at the end of that US Eastern day;
- ``lag``: daily market closes that FRED does not revise; known by the end of
  ``date + lag_days`` (US Eastern). ``first_value`` is then the value as collected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from coinfill.macro.calendar import known_at
from coinfill.macro.catalog import MacroSeries
from coinfill.sources.fred import Observation

DATA_SOURCE = "fred"
ROW_COLUMNS = (
    "indicator_name",
    "indicator_date",
    "value",
    "first_value",
    "series_id",
    "units",
    "frequency",
    "data_source",
    "published_at",
    "value_known_at",
    "missing_at_source",
)


def to_rows(series: MacroSeries, observations: Sequence[Observation]) -> pd.DataFrame:
    """One row per observation date (vintages folded), in ``ROW_COLUMNS`` order."""
    periods: dict[date, list[Observation]] = defaultdict(list)
    for obs in observations:
        periods[obs.day].append(obs)
    records = []
    for _, found in sorted(periods.items()):
        found.sort(key=lambda o: o.realtime_start)
        latest = found[-1]
        first = next((o for o in found if o.value is not None), None)
        if series.point_in_time == "lag":
            latest_known = known_at(latest.day + timedelta(days=series.lag_days))
            published = None if first is None else latest_known
        else:
            published = None if first is None else known_at(first.realtime_start)
            latest_known = known_at(latest.realtime_start)
        records.append(
            (
                series.indicator_name,
                latest.day,
                latest.value,
                None if first is None else first.value,
                series.series_id,
                series.units,
                series.frequency,
                DATA_SOURCE,
                published,
                latest_known if latest.value is not None else None,
                first is None,
            )
        )
    frame = pd.DataFrame.from_records(records, columns=list(ROW_COLUMNS))
    return frame.astype({"value": "float64", "first_value": "float64"})
