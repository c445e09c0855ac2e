"""The macro series coinfill collects (DESIGN §4), and how users add their own.

The system coinfill replaces had four wrong ids in nine: DFF10 does not exist (the 10-year
yield is DGS10), DEXUSEU is dollars per euro (the broad dollar index is DTWEXBGS), GOLDAMND never
existed, and CPIAUCSL is an index level (inflation is its change from a year ago, ``pc1``).

``lag_days`` is the longest a series takes from its observation date to publication. It says
which dates should exist by now (coverage does not count an unpublished month as missing) and,
for ``point_in_time="lag"`` series, when a value became known (see ``coinfill.macro.rows``).

Users extend or override the catalogue without code: ``COINFILL_MACRO_SERIES`` is JSON keyed by
indicator name, e.g. ``{"US_M2": {"series_id": "M2SL", "frequency": "monthly", "units": "pc1",
"unit_label": "percent", "lag_days": 30}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coinfill.errors import ConfigurationError, InputError

Frequency = Literal["daily", "monthly", "quarterly"]
PointInTime = Literal["first_release", "lag"]


class MacroSeries(BaseModel):
    """One indicator: where it comes from and how to read its dates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    indicator_name: str = Field(pattern=r"^[A-Z0-9_]{1,64}$")
    series_id: str | None = Field(default=None, description="FRED series id; None: no source")
    frequency: Frequency = "daily"
    units: str = Field(default="lin", description="FRED units transformation, e.g. pc1")
    unit_label: str = ""
    lag_days: int = Field(default=5, ge=0, le=400)
    point_in_time: PointInTime = Field(
        default="first_release",
        description="first_release: FRED's first realtime_start (ALFRED vintages); "
        "lag: the observation date + lag_days (market closes, never revised)",
    )
    stale_after_days: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="feature table: a value older than this (from its observation date) is "
        "NULL; default one period + lag_days + slack (coinfill.features.catalog)",
    )
    note: str = ""

    @property
    def collectable(self) -> bool:
        return self.series_id is not None


# Monthly and quarterly statistics are revised and published weeks later: their first release
# date comes from ALFRED. Daily market closes are not revised; they are known by the end of
# ``date + lag_days`` (US Eastern). Lags are upper bounds with slack for holidays.
DEFAULT_SERIES: tuple[MacroSeries, ...] = (
    MacroSeries(
        indicator_name="US_UNEMPLOYMENT",
        series_id="UNRATE",
        frequency="monthly",
        unit_label="percent",
        lag_days=45,
        note="Employment Situation, first Friday of the next month",
    ),
    MacroSeries(
        indicator_name="US_INFLATION",
        series_id="CPIAUCSL",
        frequency="monthly",
        units="pc1",
        unit_label="percent, from a year ago",
        lag_days=50,
        note="CPIAUCSL is an index level; units=pc1 makes it YoY inflation",
    ),
    MacroSeries(
        indicator_name="US_GDP",
        series_id="A191RO1Q156NBEA",
        frequency="quarterly",
        unit_label="percent, from a year ago",
        lag_days=130,
        note="real GDP growth; the advance estimate comes ~30 days after the quarter ends",
    ),
    MacroSeries(
        indicator_name="FEDERAL_FUNDS_RATE",
        series_id="FEDFUNDS",
        frequency="monthly",
        unit_label="percent",
        lag_days=40,
        note="monthly average of the effective rate",
    ),
    MacroSeries(
        indicator_name="10Y_YIELD",
        series_id="DGS10",
        frequency="daily",
        unit_label="percent",
        lag_days=2,
        point_in_time="lag",
        note="the old mapping said DFF10, which does not exist",
    ),
    MacroSeries(
        indicator_name="VIX",
        series_id="VIXCLS",
        frequency="daily",
        unit_label="index",
        lag_days=2,
        point_in_time="lag",
    ),
    MacroSeries(
        indicator_name="DXY",
        series_id="DTWEXBGS",
        frequency="daily",
        unit_label="index, Jan 2006 = 100",
        lag_days=10,
        point_in_time="lag",
        note="broad dollar index, published weekly (H.10); the old mapping said DEXUSEU",
    ),
    MacroSeries(
        indicator_name="GOLD_PRICE",
        series_id=None,
        frequency="daily",
        unit_label="USD per troy ounce",
        note="no FRED series: FRED dropped its LBMA gold prices in 2022 and GOLDAMND never "
        "existed; left NULL (a tokenised-gold price from the price collector is planned)",
    ),
    MacroSeries(
        indicator_name="OIL_PRICE",
        series_id="DCOILWTICO",
        frequency="daily",
        unit_label="USD per barrel",
        lag_days=10,
        point_in_time="lag",
        note="WTI spot, published weekly by the EIA; can be negative (−36.98 on 2020-04-20)",
    ),
)


def catalog(extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, MacroSeries]:
    """The default series, then each entry of ``extra`` (settings) added or overriding."""
    series = {s.indicator_name: s for s in DEFAULT_SERIES}
    for name, fields in (extra or {}).items():
        base = series[name].model_dump() if name in series else {}
        try:
            series[name] = MacroSeries(**{**base, **fields, "indicator_name": name})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigurationError(f"COINFILL_MACRO_SERIES[{name!r}]: {problems}") from None
    return series


def choose(series: Mapping[str, MacroSeries], names: Iterable[str] | None) -> list[MacroSeries]:
    """The indicators a run was asked for (all by default); an unknown name is an error."""
    if names is None:
        return list(series.values())
    wanted = list(dict.fromkeys(name.strip().upper() for name in names if name.strip()))
    unknown = [name for name in wanted if name not in series]
    if unknown:
        raise InputError(
            f"unknown indicator {', '.join(unknown)}; choose from {', '.join(series)} "
            "(or add it to COINFILL_MACRO_SERIES)"
        )
    if not wanted:
        raise InputError("indicators is empty; leave it out to collect every indicator")
    return [series[name] for name in wanted]
