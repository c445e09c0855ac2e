"""The on-chain metrics coinfill collects, and which free source serves each.

| column | CoinMetrics (primary) | blockchain.info (BTC fallback) | Messari (with a key) |
|---|---|---|---|
| ``active_addresses_24h`` | ``AdrActCnt``: addresses active in the day as sender or receiver | ``n-unique-addresses``: unique addresses used | ``act.addr.cnt`` |
| ``transaction_count_24h`` | ``TxCnt``: transactions in the day | ``n-transactions``: confirmed transactions | ``txn.cnt`` |
| ``exchange_net_flow_24h`` | ``FlowInExNtv − FlowOutExNtv``: native units sent to exchanges minus units withdrawn (> 0: net deposits) | — | — |
| ``price_volatility_7d`` | computed from ``price_data_real`` (``coinfill.onchain.volatility``) | | |

The sources count differently (blockchain.info's "unique addresses" is not CoinMetrics' "active
addresses"), so every value's source is stored next to it (``<metric>_source`` columns) and a
stored value is only ever replaced by a value from the same source.
"""  # noqa: E501

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

COINMETRICS = "coinmetrics"
BLOCKCHAIN_INFO = "blockchain.info"
MESSARI = "messari"
COMPUTED = "coinfill"  # price_volatility_7d, computed from price_data_real
SOURCES = (COINMETRICS, BLOCKCHAIN_INFO, MESSARI)

# blockchain.info charts describe Bitcoin only.
BLOCKCHAIN_INFO_SYMBOL = "BTC"
BITCOIN_GENESIS = date(2009, 1, 3)

# When a day's values can first be read: the day must end, then the source publishes. Used for
# ``available_at`` (the feature table's point-in-time join); generous on purpose.
PUBLICATION_DELAY = {
    COINMETRICS: timedelta(days=1),  # the community tier publishes the day during the next day
    BLOCKCHAIN_INFO: timedelta(hours=1),
    MESSARI: timedelta(days=1),
    COMPUTED: timedelta(0),  # the day's last close
}

VOLATILITY = "price_volatility_7d"


@dataclass(frozen=True)
class OnchainMetric:
    column: str
    source_column: str
    coinmetrics: tuple[str, ...]  # every one is needed (a flow is in − out)
    blockchain_chart: str | None
    messari: str | None


METRICS = (
    OnchainMetric(
        "active_addresses_24h", "active_addresses_source", ("AdrActCnt",), "n-unique-addresses",
        "act.addr.cnt",
    ),
    OnchainMetric(
        "transaction_count_24h", "transaction_count_source", ("TxCnt",), "n-transactions",
        "txn.cnt",
    ),
    OnchainMetric(
        "exchange_net_flow_24h", "exchange_net_flow_source", ("FlowInExNtv", "FlowOutExNtv"),
        None, None,
    ),
)  # fmt: skip
BY_COLUMN = {m.column: m for m in METRICS}
MEASURED = (*(m.column for m in METRICS), VOLATILITY)
COINMETRICS_NAMES = tuple(dict.fromkeys(n for m in METRICS for n in m.coinmetrics))


def available_at(day: date, source: str) -> datetime:
    """The moment ``source``'s value for UTC day ``day`` can be read (naive UTC)."""
    return datetime.combine(day + timedelta(days=1), time()) + PUBLICATION_DELAY[source]
