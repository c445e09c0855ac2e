"""What the ``coinfill`` sub-commands share: the consoles and the way errors end a command."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from coinfill.errors import CoinfillError, one_line

if TYPE_CHECKING:  # pydantic-settings loads only when a command reads its settings
    from coinfill.settings import Settings

DEBUG_ENV = "COINFILL_DEBUG"

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DateOpt = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])]


def fail(exc: Exception, code: int = 2, hint: str | None = None) -> typer.Exit:
    """One ``error:`` line on stderr (and a ``hint:`` line when given), whatever the message's
    own line breaks or brackets; an error coinfill does not know is named by its type."""
    what = str(exc) if isinstance(exc, CoinfillError) else f"{type(exc).__name__}: {exc}"
    err.print(f"[red]error:[/red] {escape(one_line(what))}", highlight=False)
    if hint:
        err.print(f"hint: {hint}", highlight=False, markup=False)
    return typer.Exit(code)


def debugging() -> bool:
    """``--debug`` or ``COINFILL_DEBUG=1``: every log line and traceback."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def settings_or_exit() -> Settings:
    from coinfill.settings import load_settings

    try:
        return load_settings()
    except CoinfillError as exc:
        raise fail(exc) from None
