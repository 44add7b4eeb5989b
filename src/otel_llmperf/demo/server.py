# SPDX-License-Identifier: Apache-2.0
"""An OpenAI-compatible fake LLM server on loopback, for the test suite and the demo (stdlib only).

Endpoints (the base URL for SDKs is ``http://127.0.0.1:PORT/v1``; any ``Authorization`` header is accepted):

* ``POST /v1/chat/completions`` -- non-streaming and SSE streaming (``stream_options.include_usage`` honoured),
  ``n`` choices, ``max_tokens``/``max_completion_tokens`` (truncates with ``finish_reason="length"``),
  ``response_format`` ``json_object``/``json_schema`` (the content is JSON matching a simple schema).
* ``POST /v1/responses`` -- Responses API, non-streaming and typed-event streaming; ``text.format`` as above.
* ``POST /v1/embeddings`` -- ``dimensions`` (default 8) and ``encoding_format`` ``float`` (default) or ``base64``.
* ``POST /v1/completions`` -- legacy text completions, non-streaming and streaming.
* ``GET /v1/models`` -- the configured model ids.
* ``GET /healthz`` -- ``ok``; ``GET /_fake/stats`` -- counters as JSON; ``POST /_fake/reset`` -- clears them.
  These three are not counted in the stats.

Generated text is ``tok1 tok2 ...`` (one streamed chunk per token).  Input tokens are estimated as the number of
whitespace-separated words of all message/input text plus 3 per message (minimum 1).  Usage reports
``completion_tokens = n * (output_tokens + reasoning_tokens)`` -- reasoning tokens are hidden, as with real reasoning
models -- and ``cached_tokens`` capped at the prompt tokens.  Timing: the response (headers included) starts after
``ttft``; each further token of a stream follows ``token_delay`` later; a non-streaming body waits the whole
generation time (``ttft + (tokens - 1) * token_delay``).  ``jitter`` scales every delay by a seeded uniform
factor in ``[1 - jitter, 1 + jitter]``.

Per-request override headers (case-insensitive; a bad value gets a 400 naming the header):

* ``x-fake-ttft`` -- seconds, 0..60
* ``x-fake-token-delay`` -- seconds, 0..10
* ``x-fake-jitter`` -- fraction, 0..1
* ``x-fake-output-tokens`` -- visible output tokens per choice, 1..100000
* ``x-fake-cached-tokens`` -- 0..10000000
* ``x-fake-reasoning-tokens`` -- 0..10000000
* ``x-fake-response-model`` -- the model name reported in the response
* ``x-fake-system-fingerprint`` -- the ``system_fingerprint`` of chat and legacy completions
* ``x-fake-error`` -- ``429`` | ``500`` | ``disconnect`` | ``stream-error``: forces that fault, ignoring the rates.
  ``429``/``500`` answer at once with an OpenAI error body (429 adds ``retry-after: 0``).  ``disconnect`` closes
  the socket mid-stream without the terminating chunk (for a non-streaming request: without any response).
  ``stream-error`` sends ``data: {"error": {...}}`` mid-stream (an ``event: error`` for the Responses API) and
  ends the body; on a non-streaming request it acts as ``500``.
* ``x-fake-error-after`` -- SSE events sent before a ``disconnect``/``stream-error``, 0..1000000

Every response carries ``x-request-id`` and ``openai-processing-ms``.  ``GET /_fake/stats`` returns
``total_requests``, ``requests`` (per path), ``statuses``, ``faults``, ``last_body`` and ``last_headers`` (per
path, ``authorization`` redacted), ``connections_total`` and ``connections_open``.

Python API (for the demo, in-process)::

    config = ServerConfig(default=Behaviour(ttft=0.2, token_delay=0.01),
                          per_model={"gpt-4o-mini": Behaviour(response_model="gpt-4o-mini-2024-07-18")})
    with FakeLLMServer(config) as server:      # or server = FakeLLMServer(config).start(); server.stop()
        client = openai.OpenAI(base_url=server.base_url, api_key="fake")

Configuration file (``--config``), all keys optional; each ``models`` entry is merged over ``default``, and
command-line flags override ``default``::

    {
      "seed": 7,
      "default": {"ttft": 0.2, "token_delay": 0.02, "jitter": 0.1, "output_tokens": 32,
                  "cached_tokens": 0, "reasoning_tokens": 0, "error_rate_429": 0.0, "error_rate_500": 0.0,
                  "disconnect_rate": 0.0, "disconnect_after": 2, "stream_error_rate": 0.0,
                  "response_model": null, "system_fingerprint": "fp_fakellm"},
      "models": {"gpt-4o-mini": {"response_model": "gpt-4o-mini-2024-07-18", "ttft": 0.1}},
      "listed_models": ["gpt-4o-mini", "text-embedding-3-small"]
    }

Command line: ``python -m otel_llmperf.demo.server [--port 0] [--seed N] [--ttft S] [--token-delay S]
[--jitter F] [--output-tokens N] [--cached-tokens N] [--reasoning-tokens N] [--error-rate-429 P]
[--error-rate-500 P] [--disconnect-rate P] [--disconnect-after N] [--stream-error-rate P] [--config FILE]
[--exit-on-stdin-close] [--verbose]``.  It prints ``LISTENING <port>`` as its first stdout line, serves until
SIGTERM/SIGINT (or, with ``--exit-on-stdin-close``, until its stdin reaches EOF) and exits 0.  Invalid values
exit 2 with a message naming the option.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import random
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from otel_llmperf.demo import routes, wire
from otel_llmperf.demo.wire import InvalidRequest, JsonObject

__all__ = ["Behaviour", "FakeLLMServer", "FakeStats", "ServerConfig", "main"]

LOOPBACK = "127.0.0.1"
FAULTS = ("429", "500", "disconnect", "stream-error")
DEFAULT_LISTED_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small")
MAX_BODY_BYTES = 32 * 1024 * 1024
# A hard ceiling on one request's lifetime, whatever the configured delays add up to.
MAX_REQUEST_SECONDS = 600.0
# Idle keep-alive connections are dropped after this long so their handler threads end.
IDLE_CONNECTION_SECONDS = 60.0

# (minimum, maximum) of each numeric Behaviour field; shared by the dataclass, the headers and the CLI.
LIMITS: dict[str, tuple[float, float]] = {
    "ttft": (0.0, 60.0),
    "token_delay": (0.0, 10.0),
    "jitter": (0.0, 1.0),
    "output_tokens": (1, 100_000),
    "cached_tokens": (0, 10_000_000),
    "reasoning_tokens": (0, 10_000_000),
    "error_rate_429": (0.0, 1.0),
    "error_rate_500": (0.0, 1.0),
    "disconnect_rate": (0.0, 1.0),
    "disconnect_after": (0, 1_000_000),
    "stream_error_rate": (0.0, 1.0),
}
_INT_FIELDS = frozenset({"output_tokens", "cached_tokens", "reasoning_tokens", "disconnect_after"})

# Header -> Behaviour field it overrides (x-fake-error is handled separately: it is not a field).
HEADER_FIELDS: dict[str, str] = {
    "x-fake-ttft": "ttft",
    "x-fake-token-delay": "token_delay",
    "x-fake-jitter": "jitter",
    "x-fake-output-tokens": "output_tokens",
    "x-fake-cached-tokens": "cached_tokens",
    "x-fake-reasoning-tokens": "reasoning_tokens",
    "x-fake-error-after": "disconnect_after",
    "x-fake-response-model": "response_model",
    "x-fake-system-fingerprint": "system_fingerprint",
}


def check_field(name: str, value: object) -> float | int:
    """Validate one numeric Behaviour field against LIMITS; raises ValueError naming the field."""
    low, high = LIMITS[name]
    # bool is an int subclass, but `"output_tokens": true` in a config file is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if name in _INT_FIELDS and not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return value


@dataclass(frozen=True)
class Behaviour:
    """How the fake model answers: latency, output size, usage details and fault probabilities."""

    # Seconds before the response starts (headers and first chunk, or the whole non-streaming body).
    ttft: float = 0.0
    # Seconds between streamed tokens (a non-streaming body also waits for the tokens it holds).
    token_delay: float = 0.0
    # Every delay is scaled by a uniform factor in [1 - jitter, 1 + jitter].
    jitter: float = 0.0
    # Visible output tokens per choice; one streamed chunk each.
    output_tokens: int = 8
    cached_tokens: int = 0
    # Hidden tokens added to the completion/output token count, as reasoning models report them.
    reasoning_tokens: int = 0
    error_rate_429: float = 0.0
    error_rate_500: float = 0.0
    # Probabilities applied to streaming requests only.
    disconnect_rate: float = 0.0
    stream_error_rate: float = 0.0
    # SSE events sent before an injected disconnect or stream error.
    disconnect_after: int = 2
    # The model reported in responses (e.g. a dated snapshot); None echoes the request's model.
    response_model: str | None = None
    # The system_fingerprint of chat and legacy completions (OpenAI changes it with the backend).
    system_fingerprint: str = wire.SYSTEM_FINGERPRINT

    def __post_init__(self) -> None:
        for name in LIMITS:
            check_field(name, getattr(self, name))
        if self.response_model is not None and (not isinstance(self.response_model, str) or not self.response_model):
            raise ValueError(f"response_model must be a non-empty string or null, got {self.response_model!r}")
        if not isinstance(self.system_fingerprint, str) or not self.system_fingerprint:
            raise ValueError(f"system_fingerprint must be a non-empty string, got {self.system_fingerprint!r}")

    def output_spec(self) -> wire.OutputSpec:
        """The part of the behaviour that shapes response bodies (timing and faults stay in the server)."""
        return wire.OutputSpec(
            self.output_tokens, self.cached_tokens, self.reasoning_tokens, self.response_model, self.system_fingerprint
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Behaviour | None = None) -> Behaviour:
        """Build from a JSON-like mapping, merged over `base`; unknown keys raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown behaviour key(s): {', '.join(unknown)}")
        return dataclasses.replace(base or cls(), **dict(data))


@dataclass(frozen=True)
class ServerConfig:
    """The server's behaviour: a default, exact-match per-model overrides, the RNG seed and listed models."""

    default: Behaviour = field(default_factory=Behaviour)
    per_model: Mapping[str, Behaviour] = field(default_factory=dict)
    seed: int = 0
    listed_models: tuple[str, ...] = DEFAULT_LISTED_MODELS

    def behaviour_for(self, model: str) -> Behaviour:
        """The Behaviour for a request model."""
        return self.per_model.get(model, self.default)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerConfig:
        """Build from the JSON config format described in the module docstring."""
        unknown = sorted(set(data) - {"seed", "default", "models", "listed_models"})
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        default_data = data.get("default", {})
        models_data = data.get("models", {})
        if not isinstance(default_data, dict) or not isinstance(models_data, dict):
            raise ValueError("'default' and 'models' must be objects")
        default = Behaviour.from_dict(default_data)
        per_model: dict[str, Behaviour] = {}
        for model, overrides in models_data.items():
            if not isinstance(overrides, dict):
                raise ValueError(f"models.{model} must be an object")
            try:
                per_model[model] = Behaviour.from_dict(overrides, default)
            except ValueError as exc:
                raise ValueError(f"models.{model}: {exc}") from None
        listed = data.get("listed_models", list(DEFAULT_LISTED_MODELS))
        if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
            raise ValueError("listed_models must be an array of strings")
        return cls(default=default, per_model=per_model, seed=seed, listed_models=tuple(listed))

    def all_models(self) -> list[str]:
        """Listed models plus the overridden ones, without duplicates, in order."""
        return list(dict.fromkeys([*self.listed_models, *self.per_model]))


class _Random:
    """A seeded RNG shared by the handler threads."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def chance(self, probability: float) -> bool:
        # Zero/one probabilities skip the draw so that they do not shift the seeded sequence.
        if probability <= 0.0:
            return False
        if probability >= 1.0:
            return True
        with self._lock:
            return self._rng.random() < probability

    def scale(self, value: float, jitter: float) -> float:
        if value <= 0.0 or jitter <= 0.0:
            return value
        with self._lock:
            return value * (1.0 + self._rng.uniform(-jitter, jitter))


class FakeStats:
    """Thread-safe counters of what the server received and answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A gauge, not a counter: reset() must not forget connections that are still open.
        self._connections_open = 0
        self.reset()

    def reset(self) -> None:
        """Clear every counter (the open-connections gauge stays)."""
        with self._lock:
            self._requests: dict[str, int] = {}
            self._statuses: dict[str, int] = {}
            self._faults: dict[str, int] = {}
            self._last_body: dict[str, Any] = {}
            self._last_headers: dict[str, dict[str, str]] = {}
            self._connections_total = 0

    def record_request(self, path: str, headers: Mapping[str, str], body: Any) -> None:
        """Count a request and remember its (JSON) body and headers as the last for its path."""
        with self._lock:
            self._requests[path] = self._requests.get(path, 0) + 1
            self._last_headers[path] = dict(headers)
            if body is not None:
                self._last_body[path] = body

    def record_connection(self, opened: bool) -> None:
        """Count a TCP connection opening or closing (tests use it to check keep-alive and early closes)."""
        with self._lock:
            if opened:
                self._connections_total += 1
                self._connections_open += 1
            else:
                self._connections_open = max(0, self._connections_open - 1)

    def record_status(self, status: int) -> None:
        """Count a response status."""
        with self._lock:
            self._statuses[str(status)] = self._statuses.get(str(status), 0) + 1

    def record_fault(self, fault: str) -> None:
        """Count an injected fault."""
        with self._lock:
            self._faults[fault] = self._faults.get(fault, 0) + 1

    def snapshot(self) -> JsonObject:
        """A JSON-serialisable copy of the counters (what ``GET /_fake/stats`` returns)."""
        with self._lock:
            # A deep copy through JSON: callers may keep or mutate it while requests keep arriving.
            snapshot: JsonObject = json.loads(
                json.dumps(
                    {
                        "total_requests": sum(self._requests.values()),
                        "requests": self._requests,
                        "statuses": self._statuses,
                        "faults": self._faults,
                        "last_body": self._last_body,
                        "last_headers": self._last_headers,
                        "connections_total": self._connections_total,
                        "connections_open": self._connections_open,
                    }
                )
            )
        return snapshot


class _FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Do not join handler threads on close: a keep-alive connection could hold one for a minute.
    block_on_close = False
    # socketserver's default backlog of 5 resets connections when a load generator opens many at once.
    request_queue_size = 1024

    def __init__(self, port: int, config: ServerConfig, verbose: bool) -> None:
        self.config = config
        self.rng = _Random(config.seed)
        self.stats = FakeStats()
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((LOOPBACK, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name with getfqdn; loopback needs no lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name = LOOPBACK
        self.server_port = self.server_address[1]

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
        self.stats.record_connection(alive)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            # Wakes handler threads blocked on keep-alive reads so they end promptly.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otel-llmperf-fake/1"
    timeout = IDLE_CONNECTION_SECONDS
    # Each SSE event is one small write; Nagle plus delayed ACKs would add ~40 ms stalls to the timings.
    disable_nagle_algorithm = True
    server: _FakeHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            # A keep-alive peer that resets or is shut down by stop() is normal, not worth a traceback.
            self.close_connection = True

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's parameter name
        if self.server.verbose:
            sys.stderr.write(f"fake-llm: {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    # Other methods get the same JSON 404 as the real API instead of the stdlib's HTML 501.
    do_PUT = do_PATCH = do_DELETE = do_POST

    # -- request plumbing -------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._route_errors: Callable[[int, str, str, str | None], JsonObject] | None = None
        self._started = time.monotonic()
        self._request_id = f"req_{uuid.uuid4().hex}"
        self._headers_sent = False
        try:
            self._route(urlsplit(self.path).path)
        except _HTTPError as exc:
            self._send_error(exc.status, str(exc), exc.code, exc.param)
        except OSError:
            # The client went away (broken pipe, reset, write timeout): stop writing to this socket.
            self.close_connection = True
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            if not self._headers_sent:
                self._send_error(500, f"fake server bug: {exc!r}", "fake_server_bug")
            self.close_connection = True

    def _route(self, path: str) -> None:
        method = self.command
        # Read the body first whatever the route: unread bytes would corrupt the next keep-alive request.
        raw = self._read_body()
        if (method, path) == ("GET", "/healthz"):
            self._send_bytes(200, b"ok", "text/plain; charset=utf-8")
        elif (method, path) == ("GET", "/_fake/stats"):
            self._send_json(200, self.server.stats.snapshot(), record=False)
        elif (method, path) == ("POST", "/_fake/reset"):
            self.server.stats.reset()
            self._send_json(200, {"ok": True}, record=False)
        else:
            self._api_request(method, path, raw)

    def _api_request(self, method: str, path: str, raw: bytes) -> None:
        body: JsonObject | None = None
        parse_error: _HTTPError | None = None
        try:
            body = self._parse_json(raw) if raw else None
        except _HTTPError as exc:
            parse_error = exc
        headers = {k.lower(): ("<redacted>" if k.lower() == "authorization" else v) for k, v in self.headers.items()}
        self.server.stats.record_request(path, headers, body)
        if (method, path) == ("GET", "/v1/models"):
            self._send_json(200, wire.models_body(self.server.config.all_models(), int(time.time())))
            return
        found = routes.find(method, path)
        # An unknown URL wins over a bad body, as with the real API.
        if found is None:
            raise _HTTPError(404, f"Invalid URL ({method} {path})", "unknown_url")
        route, params = found
        self._route_errors = route.error
        if parse_error is not None:
            raise parse_error
        if body is None:
            raise _HTTPError(400, "the request body must be a JSON object", "invalid_json")
        query = dict(parse_qsl(urlsplit(self.path).query))
        request = routes.ApiRequest(method, path, params, query, body, headers)
        try:
            model = route.model(request)
            if not model:
                raise _HTTPError(400, "you must provide a model parameter", "missing_required_parameter", "model")
            behaviour, forced = self._behaviour(model)
            stream = route.stream(request)
            stamp = wire.Stamp(uuid.uuid4().hex, int(time.time()))
            reply = route.build(request, behaviour.output_spec(), stream, stamp)
        except InvalidRequest as exc:
            raise _HTTPError(400, str(exc), "invalid_value", exc.param) from None
        extra = route.headers(request, reply) if route.headers is not None else {}
        self._deliver(reply, behaviour, self._pick_fault(behaviour, forced, reply.frames is not None), extra)

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise _HTTPError(411, "chunked request bodies are not supported; send Content-Length", "length_required")
        try:
            length = int(length_header or "0")
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            # The body cannot be skipped reliably, so the connection cannot be reused.
            self.close_connection = True
            raise _HTTPError(413 if length > 0 else 400, "bad or too large Content-Length", "invalid_body")
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _parse_json(raw: bytes) -> JsonObject:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _HTTPError(400, f"could not parse the JSON body: {exc}", "invalid_json") from None
        if not isinstance(body, dict):
            raise _HTTPError(400, "the request body must be a JSON object", "invalid_json")
        return body

    def _behaviour(self, model: str) -> tuple[Behaviour, str | None]:
        behaviour = self.server.config.behaviour_for(model)
        for header, name in HEADER_FIELDS.items():
            raw = self.headers.get(header)
            if raw is None:
                continue
            try:
                if name in ("response_model", "system_fingerprint"):
                    value: Any = raw.strip()
                else:
                    value = int(raw) if name in _INT_FIELDS else float(raw)
                    check_field(name, value)
                behaviour = dataclasses.replace(behaviour, **{name: value})
            except ValueError as exc:
                raise _HTTPError(400, f"invalid {header} header {raw!r}: {exc}", "invalid_header", header) from None
        forced = self.headers.get("x-fake-error")
        if forced is not None:
            forced = forced.strip().lower()
            if forced not in FAULTS:
                message = f"invalid x-fake-error header {forced!r}: expected one of {', '.join(FAULTS)}"
                raise _HTTPError(400, message, "invalid_header", "x-fake-error")
        return behaviour, forced

    def _pick_fault(self, behaviour: Behaviour, forced: str | None, stream: bool) -> str | None:
        if forced is not None:
            return forced
        rng = self.server.rng
        if rng.chance(behaviour.error_rate_429):
            return "429"
        if rng.chance(behaviour.error_rate_500):
            return "500"
        if stream and rng.chance(behaviour.disconnect_rate):
            return "disconnect"
        if stream and rng.chance(behaviour.stream_error_rate):
            return "stream-error"
        return None

    # -- delivery ---------------------------------------------------------------------------------------------

    def _deliver(
        self, reply: wire.Reply, behaviour: Behaviour, fault: str | None, extra: Mapping[str, str] | None = None
    ) -> None:
        stats, rng = self.server.stats, self.server.rng
        if fault is not None:
            stats.record_fault(fault)
        if fault == "429":
            message = "Rate limit reached for requests (injected by the fake server)."
            self._send_error(429, message, "rate_limit_exceeded", error_type="requests", headers={"retry-after": "0"})
            return
        if fault == "500" or (fault == "stream-error" and reply.frames is None):
            message = "The server had an error while processing your request (injected by the fake server)."
            self._send_error(500, message, "server_error", error_type="server_error")
            return
        self._sleep(rng.scale(behaviour.ttft, behaviour.jitter))
        if reply.frames is None:
            self._sleep(rng.scale(behaviour.token_delay * (reply.tokens - 1), behaviour.jitter))
            if fault == "disconnect":
                self._abort()
                return
            assert reply.body is not None
            self._send_json(200, reply.body, extra)
            return
        self._stream(reply, behaviour, fault, extra)

    def _stream(
        self, reply: wire.Reply, behaviour: Behaviour, fault: str | None, extra: Mapping[str, str] | None = None
    ) -> None:
        assert reply.frames is not None
        frames = reply.frames
        cut = min(behaviour.disconnect_after, len(frames)) if fault in ("disconnect", "stream-error") else len(frames)
        self.send_response(200)
        self.send_header("Content-Type", reply.content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._common_headers()
        self.end_headers()
        self.server.stats.record_status(200)
        deadline = self._started + MAX_REQUEST_SECONDS
        for frame in frames[:cut]:
            if frame.delayed:
                self._sleep(self.server.rng.scale(behaviour.token_delay, behaviour.jitter))
            if time.monotonic() > deadline:
                self._abort()
                return
            # An OSError here means the client closed the stream early; _dispatch stops the handler.
            self.wfile.write(wire.http_chunk(frame.data))
        if fault == "disconnect":
            self._abort()
            return
        # The last event and the terminating chunk go out in one write so that a client which stops reading at
        # [DONE] already holds the complete body and can keep the connection.
        tail = b""
        if fault == "stream-error":
            assert reply.error_frame is not None
            tail = wire.http_chunk(reply.error_frame(cut))
        elif reply.done:
            tail = wire.http_chunk(wire.DONE_FRAME)
        self.wfile.write(tail + wire.LAST_CHUNK)

    def _abort(self) -> None:
        # FIN without the terminating zero-length chunk: the client sees an incomplete chunked body.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _sleep(self, seconds: float) -> None:
        remaining = self._started + MAX_REQUEST_SECONDS - time.monotonic()
        if seconds > 0 and remaining > 0:
            time.sleep(min(seconds, remaining))

    def _common_headers(self) -> None:
        self.send_header("x-request-id", self._request_id)
        self.send_header("openai-processing-ms", str(int((time.monotonic() - self._started) * 1000)))
        self._headers_sent = True

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self._common_headers()
        self.end_headers()
        self.wfile.write(data)

    def _send_json(
        self, status: int, body: JsonObject, headers: Mapping[str, str] | None = None, record: bool = True
    ) -> None:
        if record:
            self.server.stats.record_status(status)
        self._send_bytes(status, json.dumps(body).encode("utf-8"), "application/json", headers)

    def _send_error(
        self,
        status: int,
        message: str,
        code: str,
        param: str | None = None,
        error_type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # A provider's route spells its errors its own way; before a route is known, OpenAI's.
        spell = getattr(self, "_route_errors", None)
        body = (
            spell(status, message, code, param)
            if spell is not None
            else wire.error_body(message, error_type, code, param)
        )
        self._send_json(status, body, headers)


class FakeLLMServer:
    """The fake server, serving in a daemon thread of this process."""

    def __init__(
        self, config: ServerConfig | None = None, host: str = LOOPBACK, port: int = 0, *, verbose: bool = False
    ) -> None:
        if host != LOOPBACK:
            raise ValueError(f"the fake LLM server binds {LOOPBACK} only, not {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer between 0 and 65535, got {port!r}")
        self.config = config or ServerConfig()
        self._requested_port = port
        self._verbose = verbose
        self._httpd: _FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeLLMServer:
        """Bind and start serving; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the server is already running")
        httpd = _FakeHTTPServer(self._requested_port, self.config, self._verbose)
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm-server", daemon=True
        )
        self._httpd = httpd
        self._thread.start()
        return self

    def reconfigure(self, config: ServerConfig) -> None:
        """Serve later requests with ``config`` (requests in flight finish with the old one)."""
        self.config = config
        if self._httpd is not None:
            self._httpd.config = config  # one attribute store: handlers read it once per request

    def _running(self) -> _FakeHTTPServer:
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._httpd

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._running().server_address[1])

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI SDK base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    @property
    def stats(self) -> FakeStats:
        """The live request counters."""
        return self._running().stats

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, drop open connections and close the socket (idempotent, bounded by `timeout`)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        if thread is not None and thread.is_alive():
            httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------------------------
# Command line

# CLI flag -> Behaviour field.
_CLI_FLAGS: dict[str, str] = {
    "--ttft": "ttft",
    "--token-delay": "token_delay",
    "--jitter": "jitter",
    "--output-tokens": "output_tokens",
    "--cached-tokens": "cached_tokens",
    "--reasoning-tokens": "reasoning_tokens",
    "--error-rate-429": "error_rate_429",
    "--error-rate-500": "error_rate_500",
    "--disconnect-rate": "disconnect_rate",
    "--disconnect-after": "disconnect_after",
    "--stream-error-rate": "stream_error_rate",
}


def _field_type(name: str) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        kind = "an integer" if name in _INT_FIELDS else "a number"
        try:
            value = int(text) if name in _INT_FIELDS else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        try:
            return check_field(name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer between 0 and 65535, got {text!r}")
    return port


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m otel_llmperf.demo.server", description="OpenAI-compatible fake LLM server on 127.0.0.1."
    )
    parser.add_argument("--port", type=_port, default=0, help="TCP port; 0 picks a free one (default)")
    parser.add_argument("--seed", type=_seed, default=None, help="seed of the jitter/fault RNG")
    parser.add_argument("--config", default=None, metavar="JSON_FILE", help="JSON configuration file")
    for flag, name in _CLI_FLAGS.items():
        parser.add_argument(flag, dest=name, type=_field_type(name), default=None, help=f"default {name}")
    parser.add_argument(
        "--exit-on-stdin-close", action="store_true", help="exit when stdin reaches EOF (the parent went away)"
    )
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    return parser


def _load_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ServerConfig:
    data: dict[str, Any] = {}
    if args.config is not None:
        try:
            with open(args.config, encoding="utf-8") as handle:
                loaded = json.load(handle)
        except (OSError, ValueError) as exc:
            parser.error(f"--config: cannot read {args.config!r}: {exc}")
        if not isinstance(loaded, dict):
            parser.error("--config: the file must hold a JSON object")
        data = loaded
    default = dict(data.get("default") or {})
    default.update({name: getattr(args, name) for name in _CLI_FLAGS.values() if getattr(args, name) is not None})
    data = {**data, "default": default}
    if args.seed is not None:
        data["seed"] = args.seed
    try:
        return ServerConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        parser.error(f"--config: {exc}")


def _watch_stdin(stop: threading.Event) -> None:
    # Reads until EOF, which comes when the parent closes the pipe or dies; the loop ends with the stream.
    # os.read on the raw descriptor: a daemon thread parked inside sys.stdin's buffered reader holds its lock
    # and makes interpreter shutdown abort.
    try:
        fd = sys.stdin.fileno()
        while os.read(fd, 4096):
            pass
    except (OSError, ValueError):
        pass
    stop.set()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT; prints ``LISTENING <port>`` first."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = _load_config(parser, args)
    server = FakeLLMServer(config, port=args.port, verbose=args.verbose)
    try:
        server.start()
    except OSError as exc:
        parser.error(f"--port: cannot listen on {LOOPBACK}:{args.port}: {exc}")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.exit_on_stdin_close:
        threading.Thread(target=_watch_stdin, args=(stop,), name="stdin-watch", daemon=True).start()
    print(f"LISTENING {server.port}", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
