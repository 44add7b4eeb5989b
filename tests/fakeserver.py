# SPDX-License-Identifier: Apache-2.0
"""Run the fake LLM server (otel_llmperf.demo.server) as a subprocess for tests."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

LOOPBACK = "127.0.0.1"
STOP_TIMEOUT = 5.0


def _source_root() -> str:
    """The directory holding the otel_llmperf package, so the child imports the same code as the tests."""
    spec = importlib.util.find_spec("otel_llmperf.demo.server")
    if spec is None or spec.origin is None:
        raise RuntimeError("otel_llmperf.demo.server is not importable; run with PYTHONPATH=src or install it")
    return str(Path(spec.origin).resolve().parents[2])


def server_env() -> dict[str, str]:
    """This process's environment with the package's source root prepended to PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_source_root(), env.get("PYTHONPATH")]))
    return env


def server_command(*args: str) -> list[str]:
    """The argv that runs the fake server module with `args`."""
    return [sys.executable, "-m", "otel_llmperf.demo.server", *args]


class FakeServerProcess:
    """A running fake server subprocess; `stop()` (or leaving the `with` block) kills and reaps it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, config_path: str | None = None) -> None:
        self.process = process
        self.port = port
        self._config_path = config_path

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI SDK base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    @property
    def returncode(self) -> int | None:
        """The exit status once stopped, else None."""
        return self.process.poll()

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
        """Send one request on a fresh connection; returns (status, decoded JSON or text)."""
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")

    def stats(self) -> dict[str, Any]:
        """The server's ``GET /_fake/stats`` counters."""
        status, body = self.request("GET", "/_fake/stats")
        if status != 200 or not isinstance(body, dict):
            raise RuntimeError(f"stats failed: {status} {body!r}")
        return body

    def reset(self) -> None:
        """Clear the server's counters."""
        self.request("POST", "/_fake/reset")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the server by pid, SIGKILL it if it outlives `timeout`, and reap it (idempotent)."""
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        if self._config_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._config_path)
            self._config_path = None

    def __enter__(self) -> FakeServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _cli_args(options: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not False and value is not None:
            args += [flag, str(value)]
    return args


def _read_first_line(process: subprocess.Popen[bytes], deadline: float) -> str:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        # Bounded by the deadline and by the size of a sane first line.
        while b"\n" not in buffer and len(buffer) < 4096:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the fake server printed no LISTENING line in time")
            if not selector.select(remaining):
                continue
            data = os.read(fd, 4096)
            if not data:
                raise RuntimeError(f"the fake server exited early with status {process.wait(STOP_TIMEOUT)}")
            buffer += data
    return buffer.split(b"\n", 1)[0].decode("utf-8", "replace").strip()


def _wait_ready(port: int, deadline: float) -> None:
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=max(0.1, deadline - time.monotonic()))
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError as exc:
            last_error = exc
        finally:
            conn.close()
        time.sleep(0.02)
    raise TimeoutError(f"the fake server on port {port} did not become ready: {last_error!r}")


def start_fake_server(
    *, config: Mapping[str, Any] | None = None, startup_timeout: float = 10.0, **options: Any
) -> FakeServerProcess:
    """Start ``python -m otel_llmperf.demo.server`` with CLI `options` (``ttft=0.1`` -> ``--ttft 0.1``).

    `config` is written to a temporary JSON file passed as ``--config``.  The child exits by itself when this
    process dies (its stdin is a pipe and it runs with ``--exit-on-stdin-close``).
    """
    config_path = None
    if config is not None:
        fd, config_path = tempfile.mkstemp(prefix="fake-llm-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle)
        options = {**options, "config": config_path}
    options = {"port": 0, **options, "exit_on_stdin_close": True}
    process = subprocess.Popen(
        server_command(*_cli_args(options)), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=server_env()
    )
    server = FakeServerProcess(process, 0, config_path)
    try:
        deadline = time.monotonic() + startup_timeout
        line = _read_first_line(process, deadline)
        word, _, port = line.partition(" ")
        if word != "LISTENING" or not port.isdigit():
            raise RuntimeError(f"unexpected first line from the fake server: {line!r}")
        server.port = int(port)
        _wait_ready(server.port, deadline)
    except BaseException:
        server.stop()
        raise
    return server
