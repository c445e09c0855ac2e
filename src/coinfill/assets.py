"""Which symbols a run covers: the ones asked for (checked) or the active assets."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from coinfill.backfill import check_cap, parse_symbols
from coinfill.db.queries import active_symbols, known_symbols
from coinfill.errors import InputError


def resolve_symbols(
    engine: Engine, requested: str | Sequence[str] | None, max_assets: int
) -> list[str]:
    """Validate ``requested`` against the registry and price table, or list active assets."""
    check_cap(max_assets)
    symbols = parse_symbols(requested)
    if symbols is None:
        return active_symbols(engine, max_assets)
    unknown = sorted(set(symbols) - known_symbols(engine, symbols))
    if unknown:
        raise InputError(
            f"unknown symbol(s): {', '.join(unknown)} — not in crypto_assets and no rows in "
            "price_data_real; nothing was written"
        )
    check_cap(max_assets, symbols)
    return symbols
