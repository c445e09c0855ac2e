"""Prefect Block classes of coinfill: the database connection and the API credentials.

    coinfill blocks register        # register the block types; create documents from env

Configuration is resolved in one order everywhere (``coinfill.config``): an explicit parameter,
then the Block document, then the ``COINFILL_*`` environment, then the default.
"""

from blocks.credentials import CREDENTIALS_DOCUMENT, CoinfillApiCredentials
from blocks.database import DATABASE_DOCUMENT, CoinfillDatabase

__all__ = [
    "CREDENTIALS_DOCUMENT",
    "DATABASE_DOCUMENT",
    "CoinfillApiCredentials",
    "CoinfillDatabase",
]
