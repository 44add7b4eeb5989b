# SPDX-License-Identifier: Apache-2.0
"""The fake server's routes: which wire format answers which request.

Each provider's wire format is one module, ``wire_<provider>.py``, with a ``routes()`` function
returning its :class:`Route` objects (``wire.py`` holds the pieces they share, and imports no
route). A route says how to find the model and the streaming flag in a request, how to build the
reply, and how that provider spells an HTTP error. Provider modules other than OpenAI's live under their own path prefix
(``/anthropic/v1/messages``, ``/gemini/v1beta/...``), so point each SDK's base URL at
``http://127.0.0.1:PORT/<provider>``.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_llmperf.demo.wire import InvalidRequest, JsonObject, OutputSpec, Reply, Stamp, error_body


@dataclass(frozen=True)
class ApiRequest:
    """One request as a route sees it: path parameters, query, parsed JSON body, headers."""

    method: str
    path: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: JsonObject | None
    headers: Mapping[str, str]


def _body_model(request: ApiRequest) -> str | None:
    model = (request.body or {}).get("model")
    return model if isinstance(model, str) and model else None


def _body_stream(request: ApiRequest) -> bool:
    stream = (request.body or {}).get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", "stream")
    return stream


def openai_error(status: int, message: str, code: str, param: str | None = None) -> JsonObject:
    """The OpenAI error envelope (also used by OpenAI-compatible providers)."""
    kind = {429: "requests", 500: "server_error"}.get(status, "invalid_request_error")
    return error_body(message, kind, code, param)


@dataclass(frozen=True)
class Route:
    """A method and a full-path regex, and how that provider's requests and errors look."""

    method: str
    pattern: str
    build: Callable[[ApiRequest, OutputSpec, bool, Stamp], Reply]
    model: Callable[[ApiRequest], str | None] = _body_model
    stream: Callable[[ApiRequest], bool] = _body_stream
    # (status, message, code, param) -> the provider's error body
    error: Callable[[int, str, str, str | None], JsonObject] = openai_error
    # Extra response headers (e.g. usage headers some providers send besides the body).
    headers: Callable[[ApiRequest, Reply], Mapping[str, str]] | None = None
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.pattern))


ROUTES: list[Route] = []


# Provider wire modules, each with routes(); a missing one is simply absent.
PROVIDER_MODULES = ("wire_openai", "wire_anthropic", "wire_gemini", "wire_bedrock", "wire_mistral", "wire_cohere")
_loaded = False
_lock = threading.Lock()


def _load() -> None:
    global _loaded
    with _lock:
        if not _loaded:
            _import_all()
            _loaded = True


def _import_all() -> None:
    for name in PROVIDER_MODULES:
        try:
            module = importlib.import_module(f"otel_llmperf.demo.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"otel_llmperf.demo.{name}":
                raise
            continue
        ROUTES.extend(module.routes())


def find(method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
    """The route answering ``method path`` (the first that matches) and its path parameters, or ``None``."""
    _load()
    for route in ROUTES:
        if route.method == method:
            match = route.compiled.fullmatch(path)
            if match:
                return route, match.groupdict()
    return None
