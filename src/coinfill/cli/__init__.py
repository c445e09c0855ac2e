"""The ``coinfill`` command. It runs the same flow objects the Prefect deployments run.

Start-up is what users wait for (DESIGN §11): ``coinfill --help`` and argument errors import
neither Prefect, Great Expectations, pandas nor SQLAlchemy. Every command imports what it
needs in its body; ``tests/unit/test_cli_imports.py`` keeps it so.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated, NoReturn

import typer

from coinfill.cli.assets import assets_app
from coinfill.cli.blocks import blocks_app
from coinfill.cli.common import DEBUG_ENV
from coinfill.cli.database import db_app
from coinfill.cli.reports import coverage, demo
from coinfill.cli.run import run_app

app = typer.Typer(
    help="coinfill: collect, backfill and validate crypto ML data.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(run_app, name="run")
app.add_typer(blocks_app, name="blocks")
app.add_typer(assets_app, name="assets")
app.command()(coverage)
app.command()(demo)


@app.callback()
def options(
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show every log line and traceback (or COINFILL_DEBUG=1)."),
    ] = False,
) -> None:
    """coinfill: collect, backfill and validate crypto ML data."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


def main() -> None:
    """Console entry point. The ephemeral Prefect server must not try to phone home offline."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        app()
    except SystemExit as end:
        exit_now(end.code)
    exit_now(0)


def exit_now(code: int | str | None) -> NoReturn:
    """Exit without the interpreter's teardown: after a run it spends ~1.5 s freeing the
    modules Prefect, pandas and Great Expectations loaded, which nobody needs. What teardown
    would have done that matters is done here: Prefect's queued logs and events are
    delivered, the streams flushed (every helper process ends with us by itself)."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    if "prefect.logging.handlers" in sys.modules:
        from coinfill.prefect_api import deliver_prefect_logs

        deliver_prefect_logs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)
