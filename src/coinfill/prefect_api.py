"""The Prefect API a CLI run talks to, chosen in this order:

1. the configured one (``PREFECT_API_URL`` in the environment or the active Prefect profile —
   production, a team server, Prefect Cloud);
2. a Prefect server already answering at the local URL (``COINFILL_LOCAL_API_URL``, default
   ``http://127.0.0.1:4200/api``: the stack ``make up`` starts, or a ``prefect server start``),
   so the run shows in the UI that is open;
3. a temporary server of its own (:mod:`coinfill.prefect_server`), started before the heavy
   imports and waited for after them, and stopped when the run ends.

    with temporary_api(warm=lambda: import_module("flows.technical_indicators")):
        mark_orphaned_runs_crashed()
        with prefect.tags(run_tag()):
            technical_indicators(days=2)

Runs a killed CLI left RUNNING are marked Crashed by :mod:`coinfill.prefect_runs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

from coinfill.prefect_server import (
    DEFAULT_STARTUP_TIMEOUT,
    STOP_GRACE_SECONDS,
    ApiStartupError,
    TemporaryServer,
    answers,
)

__all__ = ["ApiStartupError", "deliver_prefect_logs", "temporary_api"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def temporary_api(
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    *,
    local_url: str | None = None,
    warm: Callable[[], object] | None = None,
) -> Iterator[str]:
    """Yield the Prefect API URL flows called in-process use (see the module doc).

    ``warm`` (the imports the run needs) is called once, while a temporary server boots.
    Raises ``ApiStartupError`` (a ``ConfigurationError``) when that server does not answer
    within ``startup_timeout`` seconds.
    """
    configured_here = _probably_configured()
    local = local_url if local_url and not configured_here and answers(local_url) else None
    # Launch before importing Prefect (~2 s) when no API is configured: the server then boots
    # on the other core meanwhile. A configuration the guess missed is found below and the
    # launch undone.
    early = None if local or configured_here else TemporaryServer(startup_timeout).launch()
    try:
        if warm is not None:
            warm()
        from prefect.settings import PREFECT_API_URL

        configured = PREFECT_API_URL.value()
    except BaseException:
        if early is not None:
            early.discard()
        raise
    if configured or local:
        if early is not None:
            early.discard()
        if configured:
            yield str(configured)
            return
        assert local is not None
        with _prefect_uses(local):
            try:
                yield local
            finally:
                deliver_prefect_logs()
        return
    with early or TemporaryServer(startup_timeout).launch() as server:
        url = server.wait()
        with _prefect_uses(url):
            try:
                yield url
            finally:
                deliver_prefect_logs()


def _probably_configured() -> bool:
    """Whether ``PREFECT_API_URL`` is set, read without importing Prefect when it is not
    loaded yet (environment, active profile). Only a guess to save a launch: Prefect's own
    settings decide."""
    if "prefect.settings" in sys.modules:  # loaded (a test, a caller in-process): just ask
        from prefect.settings import PREFECT_API_URL

        return bool(PREFECT_API_URL.value())
    if os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    profile = profiles.get("profiles", {}).get(active, {})
    return isinstance(profile, dict) and bool(profile.get("PREFECT_API_URL"))


@contextlib.contextmanager
def _prefect_uses(url: str) -> Iterator[None]:
    """Point Prefect at ``url`` in this context and in threads that do not copy it."""
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        # Threads started without a copy of the context (a plain ThreadPoolExecutor) read the
        # process-global settings: without the URL there, Prefect would start its own server.
        # Private Prefect API (its test harness uses it); prefect is pinned to 3.8.x.
        global_settings = getattr(prefect.context, "_temporary_global_settings_context", None)
        with (
            global_settings(prefect.context.get_settings_context())
            if global_settings is not None
            else contextlib.nullcontext()
        ):
            yield


def deliver_prefect_logs() -> None:
    """Deliver queued logs and events before the server goes away (Prefect's test harness
    does the same), and retire the workers bound to its URL."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return  # from async code drain_all returns an awaitable; sync callers only
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=STOP_GRACE_SECONDS)
        except Exception:  # a failed delivery must not hide the run's own outcome
            log.debug("draining %s failed", worker.__name__, exc_info=True)
