"""Shared plumbing of the local API imitations (``binance_server``, ``coingecko_server``).

A fake answers through one ``handle(path, params, headers) -> (status, headers, body)``, served
three ways: a ThreadingHTTPServer on 127.0.0.1 (random port, in a thread; ``with fake:``), an
``httpx.MockTransport`` (``fake.transport()``: no sockets), or a separate process
(:func:`serve_in_subprocess`, so the server does not compete for the client's GIL).

Scripted responses (``fake.queue(...)``) are served first, one per request, in order:

- status :data:`TIMEOUT` (-1): the MockTransport raises ``httpx.ReadTimeout``; the socket server
  holds the connection for ``timeout_sleep`` seconds (more than the client's timeout) and
  closes it without an answer;
- status :data:`SLEEP` (0): wait ``float(headers["sleep"])`` seconds, then answer normally;
- status :data:`CUT` (-2): a dropped download — the socket server answers 200 announcing the
  whole body's ``Content-Length``, sends its first half and closes the connection; the
  MockTransport raises ``httpx.RemoteProtocolError``;
- any other status: answered as given (rate limits and counters are bypassed).

``GET /_fake/stats`` answers the fake's counters as JSON (never logged, never rate limited), and
``POST /_fake/queue`` with a JSON list of ``[status, headers, body]`` queues responses in a
server running in another process.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, NamedTuple, Self, cast
from urllib.parse import parse_qs, urlsplit

import httpx

Response = tuple[int, dict[str, str], bytes | str]
TIMEOUT = -1
SLEEP = 0
CUT = -2
STATS_PATH = "/_fake/stats"
QUEUE_PATH = "/_fake/queue"
JSON_TYPE = "application/json;charset=UTF-8"


class RequestRecord(NamedTuple):
    """One request as the fake saw it: clock time (s), path, query (first values), status."""

    time: float
    path: str
    params: dict[str, str]
    status: int


def json_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return status, {"Content-Type": JSON_TYPE, **(headers or {})}, json_body(payload)


class FakeServer:
    """Base of the fakes: lifecycle, queue, request log, transports. Subclasses define
    :meth:`answer` (and may extend :meth:`stats`)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, timeout_sleep: float = 5.0
    ) -> None:
        self.clock = clock
        self.timeout_sleep = timeout_sleep
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._queue: deque[Response] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url = ""

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``; the client appends the API path."""
        if not self._url:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._url

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._stopping.clear()
        server = _Server(self)
        host, port = server.server_address[:2]
        self._url = f"http://{host!s}:{port}"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers held by TIMEOUT / SLEEP
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
        self._url = ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- test helpers ----------------------------------------------------------------------------

    def queue(self, *responses: Response) -> None:
        """Serve these ``(status, headers, body)`` first, one per request, in order."""
        with self._lock:
            self._queue.extend(responses)

    def transport(self) -> httpx.MockTransport:
        """An ``httpx.MockTransport`` answering through :meth:`handle` (no sockets)."""

        def respond(request: httpx.Request) -> httpx.Response:
            params = {key: request.url.params[key] for key in request.url.params}
            headers = {key.lower(): value for key, value in request.headers.items()}
            status, answer_headers, body = self.handle(request.url.path, params, headers)
            if status == TIMEOUT:
                raise httpx.ReadTimeout("fake server: scripted read timeout", request=request)
            if status == CUT:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body", request=request
                )
            content = body.encode() if isinstance(body, str) else body
            return httpx.Response(status, headers=answer_headers, content=content)

        return httpx.MockTransport(respond)

    def stats(self) -> dict[str, Any]:
        """Counters for ``GET /_fake/stats``; subclasses add their own."""
        with self._lock:
            statuses = Counter(str(record.status) for record in self.requests)
            times = [record.time for record in self.requests]
            return {
                "requests": len(self.requests),
                "statuses": dict(statuses),
                "first_request": min(times, default=None),
                "last_request": max(times, default=None),
            }

    # -- request handling ------------------------------------------------------------------------

    def handle(
        self, path: str, params: dict[str, str], headers: Mapping[str, str] | None = None
    ) -> Response:
        """Answer one request (from the server's handler threads or the MockTransport)."""
        if path == STATS_PATH:
            return json_response(200, self.stats())
        with self._lock:
            scripted = self._queue.popleft() if self._queue else None
        if scripted is not None and scripted[0] != SLEEP:
            self._log(path, params, scripted[0])
            return scripted
        if scripted is not None:
            self._stopping.wait(float(scripted[1]["sleep"]))
        response = self.answer(path, params, {k.lower(): v for k, v in (headers or {}).items()})
        self._log(path, params, response[0])
        return response

    def answer(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Response:
        raise NotImplementedError

    def _log(self, path: str, params: dict[str, str], status: int) -> None:
        record = RequestRecord(self.clock(), path, dict(params), status)
        with self._lock:
            self.requests.append(record)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request stderr lines
        return

    def do_GET(self) -> None:
        fake = cast(_Server, self.server).fake
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        params = {name: values[0] for name, values in query.items()}
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, answer_headers, body = fake.handle(parts.path, params, headers)
        if status == TIMEOUT:  # hold the connection past the client's timeout, then drop it
            fake._stopping.wait(fake.timeout_sleep)
            self.close_connection = True
            return
        if status == CUT:  # announce the whole body, send half of it, drop the connection
            self._send(200, answer_headers, body, cut=True)
            return
        self._send(status, answer_headers, body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if urlsplit(self.path).path != QUEUE_PATH:
            self._send(*json_response(405, {"error": "Method Not Allowed"}))
            return
        try:
            items = json.loads(data or b"[]")
            responses = [
                (int(s), {str(k): str(v) for k, v in h.items()}, str(b)) for s, h, b in items
            ]
        except (ValueError, TypeError, AttributeError) as exc:
            self._send(*json_response(400, {"error": f"bad queue body: {exc}"}))
            return
        cast(_Server, self.server).fake.queue(*responses)
        self._send(*json_response(200, {"queued": len(responses)}))

    def _send(
        self, status: int, headers: dict[str, str], body: bytes | str, *, cut: bool = False
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        try:
            self.send_response(status)
            if not any(name.lower() == "content-type" for name in headers):
                self.send_header("Content-Type", JSON_TYPE)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(first_half(data) if cut else data)
            if cut:
                self.wfile.flush()
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. read timeout)
            self.close_connection = True


# -- broken answers and unreachable hosts ------------------------------------------------------


def first_half(body: bytes) -> bytes:
    """A body cut off halfway, as a dropped download leaves it."""
    return body[: len(body) // 2]


class Cutting(httpx.BaseTransport):
    """Hands every request to ``inner`` and cuts the 200 answers ``when(request)`` picks to
    their first half (the next ``times`` of them; ``None``: every one). ``cut`` counts them."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        when: Callable[[httpx.Request], bool] = lambda request: True,
        times: int | None = 1,
    ) -> None:
        self.inner, self.when, self.times = inner, when, times
        self.cut = 0
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        response = self.inner.handle_request(request)
        if response.status_code != 200 or not self.when(request):
            return response
        if self.times is not None and self.cut >= self.times:
            return response
        self.cut += 1
        body = first_half(response.read())
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(200, headers=headers, content=body, request=request)


def closed_port_url() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- a server in another process ---------------------------------------------------------------


def _serve_child(
    factory: Callable[..., FakeServer],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    conn: Connection,
) -> None:
    with factory(*args, **kwargs) as fake:
        conn.send(fake.url)
        with suppress(EOFError):  # any message, or the parent's end closing, stops the server
            conn.recv()


@contextmanager
def serve_in_subprocess(
    factory: Callable[..., FakeServer], *args: Any, start_timeout: float = 60.0, **kwargs: Any
) -> Iterator[str]:
    """Run ``factory(*args, **kwargs)`` as a socket server in a spawned process; yield its URL.

    ``factory`` and every argument must be picklable (module-level functions, plain data).
    Read its counters with :func:`fetch_stats`; queue responses with :func:`queue_remote`.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve_child, args=(factory, args, kwargs, child), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(start_timeout):
            raise RuntimeError(f"the fake server process did not start in {start_timeout:g} s")
        try:
            url = str(parent.recv())
        except EOFError:
            process.join(timeout=5)
            raise RuntimeError(
                f"the fake server process exited (code {process.exitcode}) before serving; a "
                "script starting it needs the `if __name__ == '__main__':` guard (spawn)"
            ) from None
        yield url
    finally:
        with suppress(OSError):
            parent.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
        parent.close()


def fetch_stats(base_url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """The counters of a fake server at ``base_url`` (``GET /_fake/stats``)."""
    response = httpx.get(f"{base_url}{STATS_PATH}", timeout=timeout)
    response.raise_for_status()
    return cast(dict[str, Any], response.json())


def queue_remote(base_url: str, *responses: Response, timeout: float = 5.0) -> None:
    """:meth:`FakeServer.queue` for a server in another process (bodies sent as text)."""
    items = [
        [status, headers, body.decode() if isinstance(body, bytes) else body]
        for status, headers, body in responses
    ]
    httpx.post(f"{base_url}{QUEUE_PATH}", json=items, timeout=timeout).raise_for_status()
