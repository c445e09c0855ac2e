"""``coinfill blocks register``: the Block types on a Prefect server, documents from the env.

For a new server: registers ``coinfill-database`` and ``coinfill-api-credentials`` (the UI then
offers them), and — unless ``--types-only`` — saves the documents ``coinfill-database`` from
``COINFILL_DATABASE_URL`` and ``coinfill-credentials`` from the ``COINFILL_*_API_KEY`` values
that are set. Existing documents are replaced only with ``--overwrite``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from coinfill.cli.common import fail, out, settings_or_exit
from coinfill.errors import ConfigurationError

blocks_app = typer.Typer(help="Prefect Blocks: database and API credentials.", no_args_is_help=True)


@blocks_app.command("register")
def register(
    types_only: Annotated[
        bool, typer.Option("--types-only", help="Register the types, create no documents.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace documents that exist already.")
    ] = False,
) -> None:
    """Register coinfill's Block types and create their documents from the environment."""
    from prefect.settings import PREFECT_API_URL

    from blocks.credentials import FIELDS, CoinfillApiCredentials
    from blocks.database import CoinfillDatabase

    if not PREFECT_API_URL.value():
        raise fail(ConfigurationError("no Prefect server: set PREFECT_API_URL (make up does)"))
    settings = settings_or_exit()
    for kind in (CoinfillDatabase, CoinfillApiCredentials):
        kind.register_type_and_schema(_sync=True)  # type: ignore[call-arg]
        out.print(f"registered block type {kind.get_block_type_slug()}")
    if types_only:
        return
    if "database_url" in settings.model_fields_set:
        database = CoinfillDatabase.from_url(settings.database_url.get_secret_value())
        _save(database, settings.database_block, overwrite)
    keys = {
        field: getattr(settings, setting)
        for field, setting in FIELDS.items()
        if getattr(settings, setting) is not None
    }
    if keys:
        _save(CoinfillApiCredentials(**keys), settings.credentials_block, overwrite)
    else:
        out.print("no COINFILL_*_API_KEY set: no credentials document created")


def _save(document: object, name: str, overwrite: bool) -> None:
    if not overwrite and _exists(document, name):
        out.print(f"block document {name} exists (kept; --overwrite replaces it)")
        return
    document.save(name, overwrite=overwrite, _sync=True)  # type: ignore[attr-defined]
    out.print(f"saved block document {name}")


def _exists(document: object, name: str) -> bool:
    """Whether a block document of this type and name is stored (Prefect raises ValueError
    for a name it cannot find)."""
    try:
        type(document).load(name, _sync=True)  # type: ignore[attr-defined]
    except ValueError:
        return False
    return True
