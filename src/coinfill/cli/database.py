"""``coinfill db …``: the database schema."""

from __future__ import annotations

import typer

from coinfill.cli.common import fail, out, settings_or_exit
from coinfill.errors import CoinfillError

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema (adopts a database of the old system as it is)."""
    from coinfill.config import database_url
    from coinfill.db.engine import make_engine, safe_url
    from coinfill.db.migrate import upgrade

    settings = settings_or_exit()
    try:
        engine = make_engine(database_url(settings))
        changes = upgrade(engine)
    except CoinfillError as exc:
        raise fail(exc) from None
    for change in changes:
        out.print(f"  {change}")
    out.print(f"schema is current on {safe_url(engine.url)}")
