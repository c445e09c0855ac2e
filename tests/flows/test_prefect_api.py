"""coinfill.prefect_api: the temporary Prefect API a CLI run starts (its own session, dies with
the CLI even on SIGKILL) and the runs a killed CLI left RUNNING.

Server start-up is tested in child processes with a clean environment (no PREFECT_API_URL, a
PREFECT_HOME of their own): this session's harness (conftest.py) configures an API URL, under
which temporary_api starts nothing.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.schemas.objects import StateType
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Pending, Running

from coinfill.errors import ConfigurationError
from coinfill.prefect_api import ApiStartupError, _probably_configured, temporary_api
from coinfill.prefect_runs import mark_orphaned_runs_crashed, run_tag
from coinfill.prefect_server import STARTUP_TIMEOUT_SETTING
from coinfill.prefect_server import answers as prefect_answers
from coinfill.settings import load_settings

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="process checks read Linux's /proc"
)

LAUNCHER = [sys.executable, "-m", "coinfill._api_child"]
APP = "prefect.server.api.server:create_app"
STARTUP_TIMEOUT = 120  # seconds: a loaded CI machine; ~4-8 s when idle

# Enters temporary_api, runs a flow through it, announces the URL, then waits. A Ctrl-C is
# answered with the server's health as seen from inside the still-running script.
SCRIPT = textwrap.dedent(
    """
    import signal
    import time

    import httpx
    import prefect

    # A background job's SIGINT is ignored, and children inherit that (CI runs tests so):
    # this script plays a terminal's CLI, which gets KeyboardInterrupt on Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from prefect.server.api.server import SubprocessASGIServer

    from coinfill.prefect_api import temporary_api
    from coinfill.prefect_runs import run_tag

    @prefect.flow
    def hello() -> str:
        return "hi"

    with temporary_api() as url:
        with prefect.tags(run_tag()):
            state = hello(return_state=True)
        print(f"FLOW {state.name} prefect_servers={len(SubprocessASGIServer._instances)}",
              flush=True)
        announced = False
        while True:
            try:
                if not announced:
                    print(f"URL {url}", flush=True)
                    announced = True
                time.sleep(3600)
            except KeyboardInterrupt:
                try:
                    status = httpx.get(f"{url}/health", timeout=30).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                print(f"INTERRUPTED health={status}", flush=True)
    """
)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without any Prefect setting, with a throw-away PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "COINFILL_"))}
    return env | {"PREFECT_HOME": str(home), "HOME": str(home)} | extra


def launchers(parent: int) -> list[int]:
    """Pids of coinfill._api_child processes started for ``parent``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"coinfill._api_child" in argv
            and b"--parent" in argv
            and argv[argv.index(b"--parent") + 1] == str(parent).encode()
        ):
            found.append(int(entry.name))
    return found


def answers(url: str) -> bool:
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


class Script:
    """SCRIPT in a child process of its own session, its output read line by line."""

    def __init__(self, tmp: Path) -> None:
        path = tmp / "script.py"
        path.write_text(SCRIPT)
        self.process = subprocess.Popen(
            [sys.executable, str(path)],
            env=clean_env(tmp / "prefect-home"),
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.flow_line = self.expect("FLOW ")
        self.url = self.expect("URL ").split()[1]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self._lines.put(line.strip())

    def expect(self, prefix: str, timeout: float = STARTUP_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                if self.process.poll() is not None and self._lines.empty():
                    break
                continue
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no {prefix!r} line; output:\n{''.join(self.output)}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()


@pytest.fixture
def script(tmp_path: Path) -> Iterator[Script]:
    s = Script(tmp_path)
    yield s
    s.stop()


def test_the_server_survives_ctrl_c_and_dies_with_a_killed_cli(script: Script) -> None:
    """One server for the three checks (each start is seconds): kept in one test so that
    pytest-xdist cannot split them over two workers and two servers."""
    s = script
    # Flows in the context ran against our server; Prefect started none of its own.
    assert s.url.startswith("http://127.0.0.1:") and s.url.endswith("/api")
    assert s.flow_line == "FLOW Completed prefect_servers=0"
    (server,) = launchers(s.process.pid)
    assert os.getsid(server) == server != os.getsid(s.process.pid)

    # (ii) A terminal's Ctrl-C: SIGINT to the CLI's whole process group.
    os.killpg(s.process.pid, signal.SIGINT)
    # A loaded CI machine can take a while to answer; what matters is the answer.
    assert s.expect("INTERRUPTED", timeout=60) == "INTERRUPTED health=200"
    assert s.alive()
    assert launchers(s.process.pid) == [server]
    assert answers(s.url)

    # (i) kill -9 of the CLI: the server stops listening and its process goes.
    s.process.kill()
    s.process.wait()
    assert wait_until(lambda: not answers(s.url), 10), "the server still listens"
    assert wait_until(lambda: not launchers(s.process.pid), 10), "the server process remains"


def test_the_watchdog_alone_stops_the_server_when_its_parent_dies(tmp_path: Path) -> None:
    """Without Linux's parent-death signal (another OS, or a start from a thread) the
    launcher's watchdog notices the re-parenting."""
    middle = textwrap.dedent(
        """
        import os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-m", "coinfill._api_child",
            "--parent", str(os.getpid()), "--", "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", "0",
            "--log-level", "error"])
        print(child.pid, flush=True)
        child.wait()
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", middle],
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    # Seen in /proc as the launcher (on a loaded machine, allow it a moment to show).
    assert wait_until(lambda: launchers(parent.pid) == [child], 10), launchers(parent.pid)
    time.sleep(1.0)
    parent.kill()
    parent.wait()
    assert wait_until(lambda: not Path(f"/proc/{child}").exists(), 8), "launcher outlived it"


def test_the_launcher_exits_when_its_parent_is_already_gone(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    done = subprocess.run(
        [*LAUNCHER, "--parent", str(gone.pid), "--pdeathsig", "--", "--factory", APP],
        env=clean_env(tmp_path),
        timeout=30,
    )
    assert done.returncode == 0


# -- in this process (the session's harness API is configured) ---------------------------------


def test_a_configured_api_is_used_and_nothing_is_started() -> None:
    configured = PREFECT_API_URL.value()
    assert configured
    with temporary_api() as url:
        assert url == configured
        assert launchers(os.getpid()) == []


def test_a_server_that_does_not_come_up_is_one_line_and_leaves_nothing() -> None:
    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        pytest.raises(ApiStartupError) as failure,
        temporary_api(0.3),
    ):
        pytest.fail("the server cannot answer within 0.3 s")
    message = str(failure.value)
    assert isinstance(failure.value, ConfigurationError)
    assert "\n" not in message
    assert "did not answer" in message and "within 0.3 s" in message
    assert STARTUP_TIMEOUT_SETTING in message and "PREFECT_API_URL" in message
    assert launchers(os.getpid()) == []


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_startup_timeout_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(STARTUP_TIMEOUT_SETTING, value)
    with pytest.raises(ConfigurationError, match=STARTUP_TIMEOUT_SETTING):
        load_settings()


def test_a_running_local_server_is_used_and_nothing_is_started() -> None:
    """The `make up` stack (here: this session's harness server) when nothing is configured."""
    local = str(PREFECT_API_URL.value())
    warmed: list[int] = []
    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        temporary_api(
            local_url=local, warm=lambda: warmed.append(len(launchers(os.getpid())))
        ) as url,
    ):
        assert url == local
        assert PREFECT_API_URL.value() == local
        assert launchers(os.getpid()) == []
    assert warmed == [0]


def test_only_a_prefect_health_check_counts_as_a_local_server(tmp_path: Path) -> None:
    """A port that answers something else (another web app on 4200) is not used."""
    other = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        line = other.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (…) ..."
        port = int(line.split(" port ")[1].split()[0])
        assert not prefect_answers(f"http://127.0.0.1:{port}/api")
    finally:
        other.kill()
        other.wait()
    assert prefect_answers(str(PREFECT_API_URL.value()))
    assert not prefect_answers(closed_port_url())


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/api"


def test_a_profile_with_an_api_url_is_seen_without_importing_prefect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = (
        "import sys; from coinfill.prefect_api import _probably_configured; "
        "print(_probably_configured(), 'prefect' in sys.modules)"
    )
    home = tmp_path / "home"
    home.mkdir()

    def guess(**extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=clean_env(home, **extra),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert guess() == "False False"
    (home / "profiles.toml").write_text(
        'active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://prefect.internal/api"\n'
        "[profiles.local]\n"
    )
    assert guess() == "True False"
    assert guess(PREFECT_PROFILE="local") == "False False"
    assert guess(PREFECT_PROFILE="local", PREFECT_API_URL="http://x/api") == "True False"
    assert _probably_configured()  # in this session Prefect is loaded and configured


WARM_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from coinfill.prefect_api import temporary_api

    def launchers():
        mine = str(os.getpid()).encode()
        found = 0
        for entry in Path("/proc").iterdir():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\\0")
            except OSError:
                continue
            if b"coinfill._api_child" in argv and argv[argv.index(b"--parent") + 1] == mine:
                found += 1
        return found

    seen = []
    def warm():
        # Prefect is not imported before the launch: the server boots while we import.
        loaded = "prefect" in sys.modules
        deadline = time.monotonic() + 10  # the child's exec may trail its fork a moment
        while not launchers() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.append((launchers(), loaded))
        import prefect.client.orchestration  # noqa: F401

    with temporary_api(120, local_url=None, warm=warm) as url:
        print("SEEN", seen, flush=True)
    """
)


def test_the_server_boots_while_the_run_imports(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WARM_SCRIPT],
        env=clean_env(tmp_path, PYTHONPATH=str(Path(__file__).parents[2])),
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT + 30,
    )
    assert done.returncode == 0, done.stderr
    assert "SEEN [(1, False)]" in done.stdout


# -- orphaned runs -------------------------------------------------------------------------------


@flow
def noop() -> None:
    pass


def dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def open_run(tag: str, state: StateType = StateType.RUNNING) -> Any:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(noop, tags=["coinfill", tag], state=Pending())
        if state == StateType.RUNNING:
            client.set_flow_run_state(run.id, Running(), force=True)
        return run.id


def read_state(run_id: Any) -> Any:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def test_run_tag_names_this_process_and_host() -> None:
    assert run_tag() == f"coinfill-pid:{os.getpid()}@{socket.gethostname()}"


def test_runs_of_a_killed_cli_are_marked_crashed() -> None:
    host = socket.gethostname()
    pid = dead_pid()
    orphan = open_run(f"coinfill-pid:{pid}@{host}")
    pending_orphan = open_run(f"coinfill-pid:{pid}@{host}", StateType.PENDING)
    mine = open_run(run_tag())
    elsewhere = open_run(f"coinfill-pid:{pid}@another-host")

    assert mark_orphaned_runs_crashed() >= 2

    for run_id in (orphan, pending_orphan):
        state = read_state(run_id)
        assert state.type == StateType.CRASHED and state.name == "Crashed"
        assert state.message == (
            f"the process that ran it (pid {pid} on host {host}) is gone; "
            "marked Crashed by coinfill"
        )
    assert read_state(mine).type == StateType.RUNNING
    assert read_state(elsewhere).type == StateType.RUNNING
    assert mark_orphaned_runs_crashed() == 0


def test_a_reused_or_exited_pid_is_not_the_process_that_ran_it() -> None:
    """The run's start time against the process's start time from /proc."""
    from coinfill.prefect_runs import _still_running

    now = time.time()
    assert _still_running(os.getpid(), now)
    assert not _still_running(dead_pid(), now)
    newer = subprocess.Popen(["sleep", "60"])
    unreaped = subprocess.Popen(["true"])
    try:
        assert _still_running(newer.pid, now)
        # A run that started an hour before this process: its pid was reused (a reboot).
        assert not _still_running(newer.pid, now - 3600)
        assert wait_until(lambda: not _still_running(unreaped.pid, now), 5)  # a zombie
    finally:
        newer.kill()
        newer.wait()
        unreaped.wait()
