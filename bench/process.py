"""One ``coinfill …`` command as users run it: a whole process, timed from outside.

    with Bench("technical") as bench:           # a fresh PREFECT_HOME, a Prefect API server
        run = bench.coinfill(["run", "technical", "--days", "0"], "own", COINFILL_DATABASE_URL=url)
        run.whole_s, run.in_flow_s, run.first_line_s, run.exit, run.peak_rss

Two API modes per command:

- ``own``: no ``PREFECT_API_URL``, so the command starts (and stops) its own temporary Prefect
  API, as on a laptop;
- ``configured``: ``PREFECT_API_URL`` points at one ``prefect server start`` the bench runs
  for its whole length, as with the local stack or production.

What is measured, only from the command's outside (its stdout log, stderr, exit code):

- ``whole_s``: process start to exit (imports, the API, the flow, shutdown);
- ``in_flow_s``: the flow run's first log line ("Beginning flow run") to its last
  "Finished in state" line, from the log's own HH:MM:SS.mmm stamps;
- ``first_line_s``: process start to the arrival of that first flow line on the pipe;
- ``peak_rss``: ``ru_maxrss`` from ``wait4`` of the command: the largest of the command and of
  every child it waited for (Linux keeps a maximum, not a sum). The temporary API server runs in
  its own session and its memory is not added: the figure is, in practice, the command's own.

Children run with ``PYTHONUNBUFFERED=1`` (log lines arrive as a terminal would show them) and
``PREFECT_LOGGING_LEVEL=INFO``; every ``COINFILL_*``/``PREFECT_*`` of the bench's environment is
dropped, so only what the bench passes applies.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

BIN = Path(sys.executable).parent
COINFILL = BIN / "coinfill"
PREFECT = BIN / "prefect"
MODES = ("own", "configured")
STAMP = re.compile(r"(\d\d:\d\d:\d\d\.\d{3}) \|")
FIRST_LINE = "Beginning flow run"
LAST_LINE = re.compile(r"\| Flow run '.*' - Finished in state")


@dataclass
class Run:
    """One finished command."""

    args: list[str]
    mode: str
    whole_s: float
    in_flow_s: float | None
    first_line_s: float | None
    exit: int
    peak_rss: int
    stdout: list[str] = field(repr=False)
    stderr: list[str]

    def brief(self) -> dict[str, Any]:
        """The figures, without the log."""
        return {
            "command": "coinfill " + " ".join(self.args),
            "mode": self.mode,
            "whole_s": round(self.whole_s, 2),
            "in_flow_s": self.in_flow_s,
            "first_line_s": None if self.first_line_s is None else round(self.first_line_s, 2),
            "exit": self.exit,
            "peak_rss_mib": round(self.peak_rss / 2**20),
            "stderr": self.stderr[:5],
        }

    def line(self) -> str:
        flow = "–" if self.in_flow_s is None else f"{self.in_flow_s:.1f}"
        first = "–" if self.first_line_s is None else f"{self.first_line_s:.1f}"
        err = f", stderr: {self.stderr[0][:120]}" if self.stderr else ""
        return (
            f"  [{self.mode}] whole {self.whole_s:.1f} s, in flow {flow} s, first flow line "
            f"{first} s, exit {self.exit}, peak {self.peak_rss / 2**20:,.0f} MiB{err}"
        )


def clean_env(**extra: str) -> dict[str, str]:
    """The bench's environment without COINFILL_*/PREFECT_*, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINFILL_", "PREFECT_"))}
    return env | {"PYTHONUNBUFFERED": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"} | extra


def in_flow_seconds(lines: list[str]) -> float | None:
    """From the flow run's first log line to its last "Finished in state" line (Prefect's
    console log, local HH:MM:SS.mmm; a run across midnight is handled)."""
    stamps = []
    for line in lines:
        match = STAMP.match(line)
        if match:
            stamps.append((datetime.strptime(match.group(1), "%H:%M:%S.%f"), line))
    begun = next((t for t, line in stamps if FIRST_LINE in line), None)
    ended = next((t for t, line in reversed(stamps) if LAST_LINE.search(line)), None)
    if begun is None or ended is None:
        return None
    span = ended - begun
    return round((span + timedelta(days=1) if span < timedelta(0) else span).total_seconds(), 2)


def _read(stream: IO[str], into: list[tuple[float, str]]) -> None:
    for line in stream:
        into.append((time.monotonic(), line.rstrip("\n")))


def run_command(
    program: Path, args: list[str], env: dict[str, str], mode: str = "", echo: bool = False
) -> Run:
    """Run ``program args`` to its end; stdout read line by line as it arrives."""
    out: list[tuple[float, str]] = []
    err: list[tuple[float, str]] = []
    began = time.monotonic()
    process = subprocess.Popen(
        [str(program), *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, errors="replace",
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    readers = [
        threading.Thread(target=_read, args=(process.stdout, out), daemon=True),
        threading.Thread(target=_read, args=(process.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.kill()
        process.wait()
        raise
    ended = time.monotonic()
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=10)  # a grandchild holding the pipe open must not hang the bench
    for stream in (process.stdout, process.stderr):
        with contextlib.suppress(OSError):
            stream.close()
    lines = [line for _, line in out]
    first = next((t for t, line in out if FIRST_LINE in line), None)
    if echo:
        print("\n".join(lines[-40:]))
    return Run(
        args=args,
        mode=mode,
        whole_s=ended - began,
        in_flow_s=in_flow_seconds(lines),
        first_line_s=None if first is None else first - began,
        exit=process.returncode,
        peak_rss=usage.ru_maxrss * 1024,  # KiB on Linux
        stdout=lines,
        stderr=[line for _, line in err if line.strip()],
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


class Bench:
    """A bench's Prefect homes (fresh, one per mode) and its ``prefect server start``."""

    def __init__(self, name: str, modes: tuple[str, ...] = MODES) -> None:
        self.name = name
        self.modes = modes
        self.root = Path(tempfile.mkdtemp(prefix=f"coinfill-bench-{name}-"))
        self.api_url = ""
        self.server_start_s = 0.0
        self._server: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Bench:
        if "configured" in self.modes:
            self._start_server()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._server.pid, signal.SIGTERM)  # its own session: pgid = pid
            try:
                self._server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._server.pid, signal.SIGKILL)
                self._server.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def home(self, mode: str) -> Path:
        path = self.root / mode
        path.mkdir(exist_ok=True)
        return path

    def env(self, mode: str, **extra: str) -> dict[str, str]:
        """The command's environment in ``mode`` ("own" or "configured")."""
        env = clean_env(PREFECT_HOME=str(self.home(mode)), PREFECT_LOGGING_LEVEL="INFO")
        if mode == "configured":
            env["PREFECT_API_URL"] = self.api_url
        elif mode != "own":
            raise ValueError(f"unknown API mode {mode!r}")
        return env | extra

    def coinfill(self, args: list[str], mode: str, echo: bool = False, **extra: str) -> Run:
        run = run_command(COINFILL, args, self.env(mode, **extra), mode, echo)
        print(f"$ coinfill {' '.join(args)[:100]}\n{run.line()}", flush=True)
        return run

    def warm_up(self, args: list[str], **extra: str) -> None:
        """The first command of a fresh PREFECT_HOME creates Prefect's database (once per
        user, not per command): run it once per mode, not counted."""
        for mode in self.modes:
            run = run_command(COINFILL, args, self.env(mode, **extra), mode)
            print(f"warm-up [{mode}] {' '.join(args)[:80]}: {run.whole_s:.1f} s (not counted)")
            if run.exit:  # what follows will fail and say why; show it here too
                print(f"  warm-up exit {run.exit}: {(run.stderr or run.stdout)[-3:]}")

    def _start_server(self) -> None:
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}/api"
        env = clean_env(PREFECT_HOME=str(self.home("server")), PREFECT_UI_ENABLED="false")
        log = (self.root / "server.log").open("wb")
        began = time.monotonic()
        self._server = subprocess.Popen(
            [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        while not healthy(self.api_url):
            if self._server.poll() is not None or time.monotonic() - began > 180:
                self.__exit__()
                raise SystemExit(f"prefect server start failed: see {self.root}/server.log")
            time.sleep(0.2)
        self.server_start_s = time.monotonic() - began
        print(f"configured API: {self.api_url} (prefect server start, {self.server_start_s:.1f} s)")
