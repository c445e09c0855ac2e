"""The Prefect API a CLI run talks to, and the runs a killed CLI left behind.

Without ``PREFECT_API_URL`` Prefect starts a temporary API server of its own the first time a
flow needs one. That server shares the terminal's process group (Ctrl-C kills it while the flow
goes on), outlives a ``kill -9`` of the CLI, and must answer within 20 s. ``temporary_api``
starts the same server (same uvicorn command, same environment) but in its own session, bound
to the life of this process (``coinfill._api_child``), with a longer start-up timeout, and
points Prefect at it so Prefect never starts its own.

Runs a killed CLI left RUNNING are marked Crashed by :mod:`coinfill.prefect_runs`.

    with temporary_api():
        mark_orphaned_runs_crashed()
        with prefect.tags(run_tag()):
            my_flow()

Environment: ``COINFILL_API_STARTUP_TIMEOUT`` (seconds, default 90) bounds the server's start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO

from coinfill.errors import ConfigurationError

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_ENV = "COINFILL_API_STARTUP_TIMEOUT"
# Idle, the server answers in ~5 s here; Prefect's 20 s is missed on a loaded 2-core machine.
DEFAULT_STARTUP_TIMEOUT = 90.0
STOP_GRACE_SECONDS = 5.0
# What Prefect's SubprocessASGIServer sets for its server (prefect/server/api/server.py).
_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
_UVICORN_STARTUP_FAILURE = 3  # uvicorn's exit code when it could not start (port taken, …)
_PORT_ATTEMPTS = 3


class ApiStartupError(ConfigurationError):
    """The temporary Prefect API server did not come up."""


# -- the API -----------------------------------------------------------------------------------


@contextlib.contextmanager
def temporary_api(startup_timeout: float | None = None) -> Iterator[str]:
    """Yield the Prefect API URL flows called in-process use: the configured
    ``PREFECT_API_URL``, or a temporary server started here and stopped on exit.

    ``startup_timeout`` (seconds) defaults to ``COINFILL_API_STARTUP_TIMEOUT`` or 90 s.
    Raises ``ApiStartupError`` (a ``ConfigurationError``) when the server does not answer.
    """
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        yield str(configured)
        return

    timeout = startup_timeout if startup_timeout is not None else _startup_timeout_from_env()
    with tempfile.TemporaryFile() as output:
        process, url = _start_server(timeout, output)
        try:
            with _prefect_uses(url):
                try:
                    yield url
                finally:
                    _drain_prefect_workers()
        finally:
            _stop(process)


def _startup_timeout_from_env() -> float:
    raw = os.environ.get(STARTUP_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_STARTUP_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigurationError(
            f"{STARTUP_TIMEOUT_ENV}={raw!r} is not a number of seconds > 0 (default "
            f"{DEFAULT_STARTUP_TIMEOUT:g})"
        )
    return value


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _launch(port: int, output: IO[bytes]) -> subprocess.Popen[bytes]:
    import prefect
    from prefect.settings import get_current_settings

    uvicorn_args = [
        # prefect/server/api/server.py, SubprocessASGIServer._run_uvicorn_command
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    # Linux ties the parent-death signal to the forking *thread*: from another thread, whose
    # end would kill the server early, the child's watchdog alone guards it.
    pdeathsig = ["--pdeathsig"] if threading.current_thread() is threading.main_thread() else []
    env = {
        **os.environ,
        **_SERVER_ENV,
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }
    launcher = [sys.executable, "-m", "coinfill._api_child", "--parent", str(os.getpid())]
    return subprocess.Popen(
        [*launcher, *pdeathsig, "--", *uvicorn_args],
        env=env,
        # Its own session: a terminal's Ctrl-C (SIGINT to the foreground process group) must
        # not reach it while the flow is still reporting to it.
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        # To a file, not a pipe nobody reads: only its last line is shown, on failure.
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def _start_server(timeout: float, output: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    deadline = time.monotonic() + timeout
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = _free_port()
        url = f"http://127.0.0.1:{port}/api"
        process = _launch(port, output)
        code: int | None = None
        try:
            while time.monotonic() < deadline:
                code = process.poll()
                if code is not None:
                    break
                try:
                    if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                        return process, url
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        except BaseException:  # Ctrl-C while waiting included: never leave it behind
            _stop(process)
            raise
        _stop(process)
        if code == _UVICORN_STARTUP_FAILURE and attempt < _PORT_ATTEMPTS:
            continue  # most likely the port was taken between choosing and binding it
        what = (
            f"exited with code {code} while starting"
            if code is not None
            else f"did not answer on {url} within {timeout:g} s"
        )
        last = _last_line(output)
        raise ApiStartupError(
            f"the temporary Prefect API server {what}"
            + (f" ({last})" if last else "")
            + f"; on a loaded machine set {STARTUP_TIMEOUT_ENV} to more seconds, or set "
            "PREFECT_API_URL to a running Prefect server"
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _last_line(output: IO[bytes], limit: int = 200) -> str:
    output.seek(0)
    lines = [line.strip() for line in output.read().decode(errors="replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    return last if len(last) <= limit else last[: limit - 1] + "…"


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


def _drain_prefect_workers() -> None:
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


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn's graceful shutdown), SIGKILL after STOP_GRACE_SECONDS."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
