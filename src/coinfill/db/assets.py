"""The asset registry, ``crypto_assets``: symbols, whether they are collected, source ids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources

import pandas as pd
from sqlalchemy import Engine, select, update

from coinfill.backfill import to_ms
from coinfill.db.reads import read_frame
from coinfill.db.schema import crypto_assets
from coinfill.db.upsert import UpsertCounts, upsert
from coinfill.prices.plan import AssetSource

A = crypto_assets
KEYS = ("symbol",)
ID_COLUMNS = ("binance_symbol", "coingecko_id", "coinmetrics_id", "messari_id")
DEFAULTS_FILE = "default_assets.csv"


def default_assets() -> pd.DataFrame:
    """The bundled list (``coinfill/data/default_assets.csv``, see its ``.md``)."""
    with resources.files("coinfill.data").joinpath(DEFAULTS_FILE).open("rb") as handle:
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    return frame.replace({"": None})


def list_assets(engine: Engine, *, include_inactive: bool = False) -> pd.DataFrame:
    columns = [A.c.symbol, A.c.name, A.c.is_active, *(A.c[c] for c in ID_COLUMNS)]
    query = select(*columns, A.c.price_history_start).order_by(A.c.symbol)
    if not include_inactive:
        query = query.where(A.c.is_active.is_(True))
    return read_frame(engine, query)


def count_assets(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(A.c.symbol)).all())


def add_assets(engine: Engine, assets: pd.DataFrame, now: datetime | None = None) -> UpsertCounts:
    """Insert or update assets by symbol; a column left empty keeps what is stored."""
    frame = assets.copy()
    frame["symbol"] = frame["symbol"].str.upper()
    return upsert(engine, A, frame, KEYS, now=now or _now())


def add_missing_defaults(engine: Engine) -> int:
    """Insert the bundled assets the registry does not have; never touches stored ones (so a
    deactivated asset stays deactivated and user-fixed ids stay)."""
    defaults = default_assets()
    with engine.connect() as conn:
        known = {row[0] for row in conn.execute(select(A.c.symbol))}
    new = defaults.loc[~defaults["symbol"].isin(known)].assign(is_active=True)
    return add_assets(engine, new).inserted if not new.empty else 0


def set_active(engine: Engine, symbols: Sequence[str], active: bool) -> list[str]:
    """Activate or deactivate; returns the symbols that were not in the registry."""
    wanted = [s.upper() for s in symbols]
    with engine.begin() as conn:
        found = {r[0] for r in conn.execute(select(A.c.symbol).where(A.c.symbol.in_(wanted)))}
        conn.execute(
            update(A).where(A.c.symbol.in_(wanted)).values(is_active=active, updated_at=_now())
        )
    return [s for s in wanted if s not in found]


def active_sourced(engine: Engine) -> list[str]:
    """Active assets that have a price source."""
    query = select(A.c.symbol).where(
        A.c.is_active.is_(True), A.c.binance_symbol.is_not(None) | A.c.coingecko_id.is_not(None)
    )
    with engine.connect() as conn:
        return [str(row[0]) for row in conn.execute(query)]


def set_pairs(engine: Engine, pairs: dict[str, str | None]) -> None:
    """Set (or with ``None`` remove) the Binance pair of each symbol."""
    with engine.begin() as conn:
        for symbol, pair in pairs.items():
            conn.execute(
                update(A).where(A.c.symbol == symbol).values(binance_symbol=pair, updated_at=_now())
            )


def price_sources(engine: Engine, symbols: Sequence[str]) -> dict[str, AssetSource]:
    """Registry rows of ``symbols`` as price sources (symbols not registered are absent)."""
    query = select(A.c.symbol, A.c.binance_symbol, A.c.coingecko_id, A.c.price_history_start).where(
        A.c.symbol.in_(list(symbols))
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        str(s): AssetSource(
            str(s), b or None, c or None, None if start is None else to_ms(_as_datetime(start))
        )
        for s, b, c, start in rows
    }


def set_history_starts(engine: Engine, starts: dict[str, int]) -> None:
    """Remember the close time of each symbol's first bar at its price source."""
    with engine.begin() as conn:
        for symbol, ms in starts.items():
            conn.execute(
                update(A)
                .where(A.c.symbol == symbol)
                .values(price_history_start=_from_ms(ms), updated_at=_now())
            )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def _as_datetime(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
