"""Where a run's database and keys come from, in one order: explicit → Block → env → default.

A Prefect server (``PREFECT_API_URL``) may hold Block documents: ``coinfill-database``
(:class:`blocks.CoinfillDatabase`) and ``coinfill-credentials``
(:class:`blocks.CoinfillApiCredentials`), plus the per-key Secret blocks Terraform writes.
Without a server, or without the document, the ``COINFILL_*`` settings apply (env, ``.env``),
then their defaults. The choice is logged, the values never are.
"""

from __future__ import annotations

import logging
from typing import Any

from coinfill.settings import Settings

log = logging.getLogger(__name__)


def database_url(settings: Settings, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    from blocks.database import CoinfillDatabase

    document = load_block(CoinfillDatabase, settings.database_block)
    if document is not None:
        log.info("database: Prefect block '%s'", settings.database_block)
        return str(document.url())
    return settings.database_url.get_secret_value()


def load_block(kind: Any, name: str) -> Any | None:
    """The document ``name`` of Block class ``kind``, or None (no server, no such document)."""
    from prefect.settings import PREFECT_API_URL

    if not name or not PREFECT_API_URL.value():
        return None
    try:
        return kind.load(name, _sync=True)
    except ValueError:  # "Unable to find block document named …"
        return None
    except Exception as exc:  # an unreachable server: say so, then fall back to the env
        log.warning("could not read Prefect block '%s': %s", name, type(exc).__name__)
        return None
