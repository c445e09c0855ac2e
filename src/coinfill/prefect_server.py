"""A temporary Prefect API server bound to the life of this process.

Prefect's own temporary server (started the first time a flow needs an API and none is
configured) shares the terminal's process group, so Ctrl-C kills it while the flow goes on;
it outlives a ``kill -9`` of the CLI; and it must answer within 20 s. ``TemporaryServer``
runs the same uvicorn command with the same environment, but in a session of its own, watched
by ``coinfill._api_child`` so it dies with us, and with a start-up timeout that fits a loaded
2-core machine.

It is launched *before* the caller imports Prefect's client and the flows, and waited for
after: the server boots on one core while this process imports on the other (DESIGN §11).
Launching reads nothing of Prefect's: when ``prefect`` is not imported yet the child resolves
Prefect's settings from the same environment and profile this process would.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

from coinfill.errors import ConfigurationError

STARTUP_TIMEOUT_SETTING = "COINFILL_API_STARTUP_TIMEOUT"
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
_POLL_SECONDS = 0.05


class ApiStartupError(ConfigurationError):
    """The temporary Prefect API server did not come up."""


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a Prefect API answers its health check at ``url`` (``http://host:port/api``).

    Plain ``http.client``: a refused connection costs well under a millisecond, and this runs
    before httpx or Prefect are imported.
    """
    scheme, _, rest = url.partition("://")
    hostport, _, path = rest.partition("/")
    if scheme != "http" or not hostport:
        return False
    host, _, port = hostport.partition(":")
    try:
        conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
        try:
            conn.request("GET", f"/{path}".rstrip("/") + "/health")
            response = conn.getresponse()
            return response.status == 200 and response.read().strip() == b"true"
        finally:
            conn.close()
    except (OSError, ValueError, http.client.HTTPException):
        return False


class TemporaryServer:
    """``launch()`` returns at once; ``wait()`` blocks until it answers; ``stop()`` ends it."""

    def __init__(self, startup_timeout: float = DEFAULT_STARTUP_TIMEOUT) -> None:
        self.startup_timeout = startup_timeout
        self._deadline = 0.0
        self._attempt = 0
        # Closed in stop(); the server's output, for a failure's message.
        self._output: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def launch(self) -> TemporaryServer:
        self._deadline = time.monotonic() + self.startup_timeout
        self._start_process()
        return self

    def _start_process(self) -> None:
        self._attempt += 1
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        self._process = _launch(port, self._output)

    def wait(self) -> str:
        """The URL once the server answers; ``ApiStartupError`` when it does not in time."""
        try:
            while True:
                process = self._process
                assert process is not None, "launch() first"
                code = process.poll()
                if code is None and answers(self.url, timeout=2.0):
                    return self.url
                if code is None and time.monotonic() < self._deadline:
                    time.sleep(_POLL_SECONDS)
                    continue
                self.kill()
                if code == _UVICORN_STARTUP_FAILURE and self._attempt < _PORT_ATTEMPTS:
                    self._start_process()  # most likely the port was taken before it bound
                    continue
                raise self._failure(code)
        except BaseException:  # Ctrl-C while waiting included: never leave it behind
            self.kill()
            raise

    def _failure(self, code: int | None) -> ApiStartupError:
        what = (
            f"exited with code {code} while starting"
            if code is not None
            else f"did not answer on {self.url} within {self.startup_timeout:g} s"
        )
        last = _last_line(self._output)
        return ApiStartupError(
            f"the temporary Prefect API server {what}"
            + (f" ({last})" if last else "")
            + f"; on a loaded machine set {STARTUP_TIMEOUT_SETTING} to more seconds, or set "
            "PREFECT_API_URL to a running Prefect server"
        )

    def stop(self) -> None:
        """Ask for uvicorn's graceful shutdown and do not wait for it: nothing is served any
        more, and the child's guards end it if it lingers once we are gone."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
        self._output.close()

    def kill(self) -> None:
        """End it now and reap it (a server that never served anything)."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def discard(self) -> None:
        """A launch that turned out not to be needed (an API is configured after all)."""
        self.kill()
        self._output.close()

    def __enter__(self) -> TemporaryServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _site_packages_of_prefect() -> str:
    """Prefect's ``--app-dir`` (``prefect.__module_path__.parent``) without importing it."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("prefect is not installed in this environment")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


def _settings_environment() -> dict[str, str]:
    """Prefect settings this process changed in code (tests' ``temporary_settings``), when
    Prefect is loaded; otherwise the child reads the same environment and profile we would."""
    if "prefect.settings" not in sys.modules:
        return {}
    from prefect.settings import get_current_settings

    return dict(get_current_settings().to_environment_variables(exclude_unset=True))


def _launch(port: int, output: IO[bytes]) -> subprocess.Popen[bytes]:
    uvicorn_args = [
        # prefect/server/api/server.py, SubprocessASGIServer._run_uvicorn_command
        "--app-dir",
        _site_packages_of_prefect(),
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
    env = {**os.environ, **_SERVER_ENV, **_settings_environment()}
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


def _last_line(output: IO[bytes], limit: int = 200) -> str:
    output.seek(0)
    lines = [line.strip() for line in output.read().decode(errors="replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    return last if len(last) <= limit else last[: limit - 1] + "…"
