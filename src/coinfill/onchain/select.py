"""Which symbols an on-chain run covers, and what to say of those it cannot."""

from __future__ import annotations

from sqlalchemy import Engine

from coinfill.backfill import check_cap, parse_symbols
from coinfill.db.assets import list_assets
from coinfill.db.onchain import asset_ids
from coinfill.onchain.availability import AssetIds


def choose_symbols(
    engine: Engine, requested: list[str] | None, max_assets: int
) -> tuple[list[str], list[str]]:
    """The symbols asked for (or the registry's, at most ``max_assets``): registered, unknown."""
    check_cap(max_assets)
    symbols = parse_symbols(requested)
    if symbols is None:
        symbols = sorted(list_assets(engine)["symbol"])[:max_assets]
    check_cap(max_assets, symbols)
    registered = set(asset_ids(engine, symbols))
    return [s for s in symbols if s in registered], [s for s in symbols if s not in registered]


def unknown_coinmetrics_asset(asset: str, ids: dict[str, AssetIds]) -> str:
    owners = [s for s, a in ids.items() if (a.coinmetrics_id or "").lower() == asset]
    owner = owners[0] if owners else "<SYMBOL>"
    return (
        f"CoinMetrics does not know asset '{asset}' (crypto_assets.coinmetrics_id of "
        f"{', '.join(owners) or '?'}) — fix it with `coinfill assets add {owner} "
        "--coinmetrics <id>`"
    )
