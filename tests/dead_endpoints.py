# SPDX-License-Identifier: Apache-2.0
"""OTLP endpoints that fail the way a down Collector does, on 127.0.0.1, for shutdown tests.

Each is a context manager yielding a base URL (``http://127.0.0.1:PORT``) and owns its sockets
and threads: leaving the block closes them, which also frees any exporter thread still waiting.

* :func:`closed_port`: nothing listens (the port is held bound so no one else takes it);
  a connection is refused at once.
* :func:`silent_endpoint`: accepts connections, reads nothing, never answers (a black hole
  behind a load balancer; a hung Collector).
* :func:`unaccepting_endpoint`: never completes a connection: the listen queue is full, so the
  kernel drops every new SYN and the client waits for its connect timeout (a firewall that drops).
* :func:`unavailable_endpoint`: answers every request with HTTP 503 (or gRPC UNAVAILABLE), which
  the exporters retry with backoff.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"


def _url(sock: socket.socket) -> str:
    return f"http://{LOOPBACK}:{sock.getsockname()[1]}"


@contextmanager
def closed_port() -> Iterator[str]:
    """A port bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield _url(sock)


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """A listener that accepts every connection and never sends a byte."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(64)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:  # the 0.1 s timeout, or the listener closed
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield _url(listener)
    finally:
        stop.set()
        thread.join(timeout=2)
        for sock in [*held, listener]:
            sock.close()


@contextmanager
def unaccepting_endpoint() -> Iterator[str]:
    """A listener whose accept queue is full, so new connections never complete."""
    with ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind((LOOPBACK, 0))
        listener.listen(0)
        # Linux queues backlog + 1 finished handshakes; fill the queue, never accept.
        for _ in range(2):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
        yield _url(listener)


class _Unavailable(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass  # keep test output quiet


@contextmanager
def unavailable_endpoint(protocol: str = "http/protobuf") -> Iterator[str]:
    """A server that answers HTTP 503 (gRPC: UNAVAILABLE) to every export."""
    if protocol == "grpc":
        yield from _grpc_unavailable()
        return
    server = ThreadingHTTPServer((LOOPBACK, 0), _Unavailable)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _grpc_unavailable() -> Iterator[str]:
    import grpc

    class Unavailable(grpc.GenericRpcHandler):  # type: ignore[misc]
        def service(self, handler_call_details: Any) -> Any:
            def answer(request: Any, context: Any) -> Any:
                context.abort(grpc.StatusCode.UNAVAILABLE, "collector down")

            return grpc.unary_unary_rpc_method_handler(answer)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[Unavailable()])
    port = server.add_insecure_port(f"{LOOPBACK}:0")
    server.start()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.stop(grace=None).wait(timeout=5)
