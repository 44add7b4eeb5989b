# SPDX-License-Identifier: Apache-2.0
"""Cohere (the ``cohere`` SDK, v2 API): patch table and pure extractors.

Covers ``ClientV2``/``AsyncClientV2`` (and ``Client().v2``) ``chat``, ``chat_stream`` and
``embed``, and their ``with_raw_response`` twins. Every client method calls the raw client's
(``RawV2Client``/``AsyncRawV2Client``), looked up at call time, so the raw methods are where
calls are recorded; the client's ``chat`` and ``embed`` are patched too, for the outer duration
(the raw call inside is then left alone). That matters because ``cohere.Client.__init__`` binds
``chat`` and ``chat_stream`` on the instance (argument checks, experimental-feature warnings):
a client made before ``instrument()`` never sees a patch of ``V2Client``, but its raw client does.

``chat_stream`` is a generator (an async generator on the async client) that enters the raw
``chat_stream`` context manager on its first iteration; entering makes the request and returns
an ``HttpResponse`` whose ``data`` is the iterator of typed events: ``message-start`` (the id),
``content-start``/``content-delta``/``content-end`` per content block, ``tool-plan-delta`` and
``tool-call-*`` for tool use, ``citation-*``, and ``message-end`` with ``delta.finish_reason`` and
``delta.usage``. :func:`adopt_stream_request` hands that entry to the core, which records it as a
streaming call and proxies ``data``. Cohere always sends the usage in ``message-end``, so there is
no stream-usage option to inject, and names no model in its responses, so
``gen_ai.response.model`` stays unset. The SDK is imported lazily; nothing here records telemetry.

Not covered: the v1 ``Client.chat``/``chat_stream`` API, and the Bedrock/SageMaker/OCI Cohere
clients (other transports and wire formats).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
    GEN_AI_REQUEST_ENCODING_FORMATS,
    GenAiOperationNameValues,
    GenAiProviderNameValues,
)

from otel_llmperf.providers import hosts
from otel_llmperf.providers._chat import input_messages, request_attributes, tool_call_parts
from otel_llmperf.providers._fields import (
    field,
    given,
    positive_int,
    text_parts,
    whole_count,
)
from otel_llmperf.providers.base import (
    Adapter,
    Api,
    Attributes,
    ChunkKind,
    Messages,
    PatchTarget,
    ResponseInfo,
    ResultKind,
    Usage,
)

CHAT = GenAiOperationNameValues.CHAT.value
EMBEDDINGS = GenAiOperationNameValues.EMBEDDINGS.value
PROVIDER = GenAiProviderNameValues.COHERE.value
DEFAULT_BASE_URL = "https://api.cohere.com"  # the SDK's ClientEnvironment.PRODUCTION

# gen_ai.response.finish_reasons keeps Cohere's own words; output messages use the semconv
# finish_reason values. Unknown reasons pass through.
_FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_call",
    "ERROR": "error",
    "TIMEOUT": "error",
}
# Finish reasons that mean the generation failed inside a 200 answer (Cohere reports a failure
# in a started stream in-band, in message-end, and the SDK raises nothing): the error.type.
_FAILED = {"ERROR": "error", "TIMEOUT": "timeout"}


def semconv_finish_reason(reason: str | None) -> str | None:
    """A Cohere finish reason as a semconv output-message ``finish_reason``."""
    if reason is None:
        return None
    return _FINISH_REASONS.get(reason, reason)


# --- request side -----------------------------------------------------------------------


def chat_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a v2 chat request (``chat`` and ``chat_stream`` take the same arguments)."""
    # Cohere names nucleus sampling ``p`` and top-k sampling ``k``, and has no choice count.
    return request_attributes(
        kwargs,
        {},
        top_p="p",
        top_k="k",
        choices=None,
        stop="stop_sequences",
        max_tokens="max_tokens",
        response_format="response_format",
    )


def embed_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a v2 embed request: the embedding types asked for and the dimension."""
    attrs: Attributes = {}
    kinds = given(kwargs.get("embedding_types"))
    if isinstance(kinds, (list, tuple)) and kinds and all(isinstance(kind, str) for kind in kinds):
        attrs[GEN_AI_REQUEST_ENCODING_FORMATS] = tuple(kinds)
    dimensions = positive_int(kwargs.get("output_dimension"))
    if dimensions is not None:
        attrs[GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
    return attrs


def _parts(content: Any) -> list[dict[str, Any]]:
    """Cohere content (a string or typed items) as semconv parts; thinking items become reasoning."""
    if not isinstance(content, (list, tuple)):
        return text_parts(content)
    parts: list[dict[str, Any]] = []
    for item in content:
        kind = field(item, "type")
        if kind == "thinking":
            parts.append({"type": "reasoning", "content": field(item, "thinking")})
        elif kind == "document":
            parts.append({"type": "document"})  # RAG documents are payload: their kind only
        else:
            parts.extend(text_parts([item]))
    return parts


def _assistant_parts(message: Any) -> list[dict[str, Any]]:
    # The tool plan is the model's stated reasoning before its tool calls.
    plan = field(message, "tool_plan")
    parts: list[dict[str, Any]] = [{"type": "reasoning", "content": plan}] if isinstance(plan, str) and plan else []
    return parts + _parts(field(message, "content")) + tool_call_parts(message)


def _message_parts(role: str, message: Any) -> list[dict[str, Any]]:
    return _assistant_parts(message) if role == "assistant" else _parts(field(message, "content"))


def _tool_response(content: Any) -> Any:
    # A tool result is a string or typed items (text, documents): the items as semconv parts.
    return content if isinstance(content, str) else _parts(content)


def chat_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """v2 chat messages (dicts or the SDK's ``*ChatMessageV2`` models) in the semconv shape."""
    return input_messages(given(kwargs.get("messages")), _message_parts, tool_response=_tool_response)


def embed_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """Embedding inputs are not messages: nothing is captured."""
    return None


# --- response side ----------------------------------------------------------------------


def _count(usage: Any, name: str) -> int | None:
    # usage.tokens counts everything the model read and wrote, Cohere's own prompt template and
    # special tokens included; billed_units only what the caller is charged for. The GenAI
    # semconv says an instrumentation MUST report billable tokens when a system reports both,
    # and the cost is computed from the same counts: billed_units first, tokens when absent.
    found = whole_count(field(field(usage, "billed_units"), name))
    return found if found is not None else whole_count(field(field(usage, "tokens"), name))


def usage_of(usage: Any) -> Usage | None:
    """Token usage of a chat response or ``message-end`` event (or an embed ``meta``)."""
    if usage is None:
        return None
    # cached_tokens are prompt tokens that hit Cohere's cache: part of input_tokens already.
    return Usage(
        input_tokens=_count(usage, "input_tokens"),
        output_tokens=_count(usage, "output_tokens"),
        cache_read_input_tokens=whole_count(field(usage, "cached_tokens")),
    )


def _reason(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def chat_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a ``V2ChatResponse`` (or a raw ``HttpResponse`` holding one) says about the call."""
    response = _parsed(response)
    reason = _reason(field(response, "finish_reason"))
    info = ResponseInfo(
        response_id=field(response, "id"),
        finish_reasons=(reason,) if reason else (),
        usage=usage_of(field(response, "usage")),
        error_type=_FAILED.get(reason or ""),
    )
    if capture:
        message = field(response, "message")
        parts = _assistant_parts(message)
        info.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": semconv_finish_reason(reason)}]
    return info


# (type, dimensions per value): the binary types pack 8 dimensions into each int.
_EMBEDDING_TYPES = (("float_", 1), ("float", 1), ("int8", 1), ("uint8", 1), ("binary", 8), ("ubinary", 8))


def _dimension(embeddings: Any) -> int | None:
    # embeddings_by_type holds one list of vectors per type (the SDK names float ``float_``); the
    # older embeddings_floats shape is a plain list of vectors. Base64 strings say no size.
    if isinstance(embeddings, (list, tuple)):
        return _width(embeddings, 1)
    for kind, per_value in _EMBEDDING_TYPES:
        width = _width(field(embeddings, kind), per_value)
        if width is not None:
            return width
    return None


def _width(vectors: Any, per_value: int) -> int | None:
    if isinstance(vectors, (list, tuple)) and vectors and isinstance(vectors[0], (list, tuple)):
        return len(vectors[0]) * per_value
    return None


def embed_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What an ``EmbedByTypeResponse`` says: id, input tokens (from ``meta``) and the vector size."""
    response = _parsed(response)
    attrs: Attributes = {}
    dimension = _dimension(field(response, "embeddings"))
    if dimension is not None:
        attrs[GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimension
    usage = usage_of(field(response, "meta"))
    return ResponseInfo(
        response_id=field(response, "id"),
        usage=Usage(input_tokens=usage.input_tokens) if usage is not None and usage.input_tokens is not None else None,
        attributes=attrs,
    )


def _parsed(response: Any) -> Any:
    """The parsed body of a raw ``HttpResponse`` (``with_raw_response``), or the response itself."""
    if type(response).__name__ in ("HttpResponse", "AsyncHttpResponse"):
        return getattr(response, "data", None)
    return response


# --- streams ----------------------------------------------------------------------------

# Events that carry generated tokens: text and thinking deltas, the tool plan, tool calls.
_OUTPUT_EVENTS = frozenset({"content-delta", "tool-plan-delta", "tool-call-start", "tool-call-delta"})


class ChatStreamFolder:
    """Folds v2 ``chat_stream`` events; content, tool-plan and tool-call deltas carry output."""

    __slots__ = (
        "_calls",
        "_error",
        "_limit",
        "_plan",
        "_reason",
        "_size",
        "_texts",
        "_usage",
        "response_id",
        "response_model",
    )

    def __init__(self, capture: bool, capture_limit: int = 1 << 20) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None  # Cohere's events name no model
        self._reason: str | None = None
        self._usage: Any = None
        self._error = False
        # Captured output, only when content capture is on: per content index (kind, pieces).
        self._texts: dict[int, tuple[str, list[str]]] | None = {} if capture else None
        self._plan: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._size = 0
        self._limit = capture_limit

    def fold(self, event: Any) -> ChunkKind:
        """Remember id, finish reason and usage; say whether the event carried output."""
        kind = field(event, "type")
        if kind in _OUTPUT_EVENTS:
            if self._texts is not None:
                self._keep(kind, event)
            return ChunkKind.OUTPUT
        if kind == "message-start":
            self.response_id = field(event, "id") or self.response_id
        elif kind == "message-end":
            delta = field(event, "delta")
            self._reason = _reason(field(delta, "finish_reason"))
            self._usage = field(delta, "usage")
            self._error = field(delta, "error") is not None
        return ChunkKind.OTHER

    def _keep(self, kind: str, event: Any) -> None:
        assert self._texts is not None
        message = field(field(event, "delta"), "message")
        if kind == "content-delta":
            content = field(message, "content")
            text, part = field(content, "text"), "text"
            if not isinstance(text, str):
                text, part = field(content, "thinking"), "reasoning"
            if isinstance(text, str) and text and self._size < self._limit:
                self._texts.setdefault(field(event, "index") or 0, (part, []))[1].append(text)
                self._size += len(text)
        elif kind == "tool-plan-delta":
            plan = field(message, "tool_plan")
            if isinstance(plan, str) and self._size < self._limit:
                self._plan.append(plan)
                self._size += len(plan)
        else:
            call = field(message, "tool_calls")
            function = field(call, "function")
            kept = self._calls.setdefault(
                field(event, "index") or 0, {"type": "tool_call", "id": None, "name": None, "arguments": ""}
            )
            kept["id"] = field(call, "id") or kept["id"]
            kept["name"] = field(function, "name") or kept["name"]
            arguments = field(function, "arguments")
            if isinstance(arguments, str):
                kept["arguments"] += arguments

    def result(self) -> ResponseInfo:
        """The stream's id, finish reason, usage, and an error for an in-band failure."""
        reason = self._reason
        error_type = _FAILED.get(reason or "")
        if error_type is None and self._error:
            error_type = "error"
        info = ResponseInfo(
            response_id=self.response_id,
            finish_reasons=(reason,) if reason else (),
            usage=usage_of(self._usage),
            error_type=error_type,
        )
        if self._texts is not None:
            parts: list[dict[str, Any]] = []
            if self._plan:
                parts.append({"type": "reasoning", "content": "".join(self._plan)})
            for index in sorted(self._texts):
                part, pieces = self._texts[index]
                parts.append({"type": part, "content": "".join(pieces)})
            parts.extend(self._calls[index] for index in sorted(self._calls))
            info.output_messages = [
                {"role": "assistant", "parts": parts, "finish_reason": semconv_finish_reason(reason)}
            ]
        return info


# --- the adapter ------------------------------------------------------------------------

CHAT_API = Api(
    operation=CHAT,
    request_attributes=chat_request_attributes,
    input_messages=chat_input_messages,
    response_info=chat_response_info,
)
EMBED_API = Api(
    operation=EMBEDDINGS,
    request_attributes=embed_request_attributes,
    input_messages=embed_input_messages,
    response_info=embed_response_info,
)


def _stream_ended_by_consumer(error: BaseException) -> str | None:
    # An async chat_stream closed early (aclose(), or its finaliser after the caller stopped
    # iterating) throws GeneratorExit through the raw context manager it is suspended in: the
    # caller ended the stream, which is what ``cancelled`` means everywhere else.
    return "cancelled" if isinstance(error, GeneratorExit) else None


CHAT_STREAM_API = Api(
    operation=CHAT,
    request_attributes=chat_request_attributes,
    input_messages=chat_input_messages,
    response_info=chat_response_info,
    new_folder=ChatStreamFolder,
    error_type=_stream_ended_by_consumer,
)


class _RecordedEntry:
    """A context manager's generator whose first step (the entry: the request) goes through ``wrap``.

    ``contextlib``'s managers drive their generator with ``next``/``throw``/``close``; all but
    the first ``next`` reach the SDK's generator unchanged.
    """

    __slots__ = ("_gen", "_wrap")

    def __init__(self, gen: Any, wrap: Callable[[Any], Any]) -> None:
        self._gen = gen
        self._wrap: Callable[[Any], Any] | None = wrap

    def __iter__(self) -> _RecordedEntry:
        return self

    def __next__(self) -> Any:
        wrap = self._wrap
        if wrap is None:
            return next(self._gen)
        self._wrap = None
        return wrap(lambda: next(self._gen))()

    def send(self, value: Any) -> Any:
        return self._gen.send(value) if self._wrap is None else next(self)

    def throw(self, *args: Any) -> Any:
        return self._gen.throw(*args)

    def close(self) -> Any:
        return self._gen.close()


class _AsyncRecordedEntry:
    """The async twin of :class:`_RecordedEntry`, for ``asynccontextmanager`` managers."""

    __slots__ = ("_gen", "_wrap")

    def __init__(self, gen: Any, wrap: Callable[[Any], Any]) -> None:
        self._gen = gen
        self._wrap: Callable[[Any], Any] | None = wrap

    def __aiter__(self) -> _AsyncRecordedEntry:
        return self

    def __anext__(self) -> Any:
        wrap = self._wrap
        if wrap is None:
            return self._gen.__anext__()
        self._wrap = None
        # wrap() takes the entry's awaitable and returns the recorded call's coroutine; made
        # only now, so a manager never entered leaves no coroutine behind un-awaited.
        return wrap(self._gen.__anext__())

    def asend(self, value: Any) -> Any:
        return self._gen.asend(value) if self._wrap is None else self.__anext__()

    def athrow(self, *args: Any) -> Any:
        return self._gen.athrow(*args)

    def aclose(self) -> Any:
        return self._gen.aclose()


def adopt_stream_request(manager: Any, wrap: Callable[[Any], Any]) -> None:
    """Route the raw ``chat_stream`` manager's entry (which makes the request) through ``wrap``."""
    # contextlib's (async) generator context managers keep their generator as ``gen``.
    gen = manager.gen
    if inspect.isasyncgen(gen):
        manager.gen = _AsyncRecordedEntry(gen, wrap)
    elif inspect.isgenerator(gen):
        manager.gen = _RecordedEntry(gen, wrap)
    else:  # left untouched, the stream still works; the core logs this once
        raise AttributeError(f"{type(manager).__qualname__} has no generator: its stream is not measured")


PATCH_TARGETS: tuple[PatchTarget, ...] = (
    PatchTarget("cohere.v2.client", "V2Client.chat", CHAT_API),
    PatchTarget("cohere.v2.client", "AsyncV2Client.chat", CHAT_API, is_async=True),
    PatchTarget("cohere.v2.client", "V2Client.embed", EMBED_API),
    PatchTarget("cohere.v2.client", "AsyncV2Client.embed", EMBED_API, is_async=True),
    PatchTarget("cohere.v2.raw_client", "RawV2Client.chat", CHAT_API),
    PatchTarget("cohere.v2.raw_client", "AsyncRawV2Client.chat", CHAT_API, is_async=True),
    PatchTarget("cohere.v2.raw_client", "RawV2Client.embed", EMBED_API),
    PatchTarget("cohere.v2.raw_client", "AsyncRawV2Client.embed", EMBED_API, is_async=True),
    # Not V2Client.chat_stream: its generator enters the raw manager outside the recorded call,
    # so patching both would record each stream twice.
    PatchTarget(
        "cohere.v2.raw_client", "RawV2Client.chat_stream", CHAT_STREAM_API, helper=True, adopt=adopt_stream_request
    ),
    PatchTarget(
        "cohere.v2.raw_client",
        "AsyncRawV2Client.chat_stream",
        CHAT_STREAM_API,
        is_async=True,
        helper=True,
        adopt=adopt_stream_request,
    ),
)


def server_of(url: str) -> tuple[str | None, int | None, str]:
    """(host, port, provider) of a base URL; the provider is ``cohere`` unless the host says otherwise."""
    host, port = hosts.server_of(url)
    if host is None:
        return None, None, PROVIDER
    # Cohere models hosted elsewhere (Azure AI Foundry) are reached with ClientV2 and a base_url.
    return host, port, hosts.provider_for_host(host, default=PROVIDER)


def _base_url(instance: Any) -> str:
    # ClientV2 and the raw clients hold the client wrapper; a bare V2Client (Client().v2) only
    # through its raw client.
    wrapper = getattr(instance, "_client_wrapper", None)
    if wrapper is None:
        wrapper = getattr(getattr(instance, "_raw_client", None), "_client_wrapper", None)
    try:
        url = wrapper.get_base_url() if wrapper is not None else None
    except Exception:  # an SDK without it: the default server
        url = None
    return url if isinstance(url, str) and url else DEFAULT_BASE_URL


class CohereAdapter(Adapter):
    """The Cohere SDK's v2 API, ``cohere >= 5.0`` (v2 from 5.9; tested with 7.3).

    Wraps v2 chat and embed (client and raw client) and the raw chat_stream, sync and async;
    ``chat_stream`` always streams and ``chat`` never does.
    """

    name = "llmperf_cohere"
    package = "cohere"
    requirement = "cohere >= 5.0"
    targets = PATCH_TARGETS
    stream_api = CHAT_STREAM_API

    def server(self, instance: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, str]:
        """The client's server, and who answers there."""
        return server_of(_base_url(instance))

    def result_kind(self, result: Any) -> ResultKind:
        """A raw ``HttpResponse`` holding the event stream is nested; anything else is a response."""
        if inspect.isgenerator(result):
            return ResultKind.STREAM
        if inspect.isasyncgen(result):
            return ResultKind.ASYNC_STREAM
        data = getattr(result, "_data", None)
        if inspect.isgenerator(data) or inspect.isasyncgen(data):
            return ResultKind.NESTED_STREAM
        # Responses and raw HttpResponse objects of chat/embed: the body is parsed already.
        return ResultKind.PARSED

    def nested_stream(self, result: Any) -> tuple[MutableMapping[str, Any], str] | None:
        """The raw stream ``HttpResponse`` keeps its events in ``_data`` (its ``data`` property reads it)."""
        state = getattr(result, "__dict__", None)
        return (state, "_data") if isinstance(state, dict) and "_data" in state else None


ADAPTER = CohereAdapter()
