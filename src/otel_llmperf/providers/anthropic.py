# SPDX-License-Identifier: Apache-2.0
"""Anthropic (the ``anthropic`` SDK): patch table and pure extractors.

Covers the Messages API of ``messages`` and ``beta.messages``: ``create`` (also with
``stream=True``), ``parse`` and the ``stream`` helper, sync and async. ``with_raw_response`` and
``with_streaming_response`` call the patched ``create``, so they are measured too. The
``stream`` helper makes its request itself (``partial(self._post, ...)`` handed to a
``MessageStreamManager``); :func:`adopt_request` hands that request to the core, which records it
like ``create(stream=True)`` and proxies the raw event stream the helper's ``MessageStream``
reads, so every way of reading the helper (events, ``text_stream``, ``get_final_message()``,
``until_done()``) is measured. The SDK is imported lazily, at instrument time; nothing here
records telemetry.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OUTPUT_TYPE,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_STOP_SEQUENCES,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_REQUEST_TOP_K,
    GEN_AI_REQUEST_TOP_P,
    GenAiOperationNameValues,
    GenAiOutputTypeValues,
    GenAiProviderNameValues,
)

from otel_llmperf.layering import SelfTracing
from otel_llmperf.providers import hosts
from otel_llmperf.providers._fields import count, field, given, number, positive_int, stop_sequences
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
ANTHROPIC = GenAiProviderNameValues.ANTHROPIC.value

# Clients of the SDK that reach Claude through a cloud platform, for SDKs too old to say so
# themselves (newer ones carry ``_gen_ai_provider_name``).
PLATFORM_CLIENTS: Mapping[str, str] = {
    "AnthropicBedrock": GenAiProviderNameValues.AWS_BEDROCK.value,
    "AsyncAnthropicBedrock": GenAiProviderNameValues.AWS_BEDROCK.value,
    "AnthropicVertex": GenAiProviderNameValues.GCP_VERTEX_AI.value,
    "AsyncAnthropicVertex": GenAiProviderNameValues.GCP_VERTEX_AI.value,
}

_INLINE_ELIDED = "data:(inline content elided)"


# --- request side -----------------------------------------------------------------------


def _param(kwargs: Mapping[str, Any], key: str) -> Any:
    value = given(kwargs.get(key))
    if value is None:
        # anthropic 2.x dropped temperature/top_p/top_k from its signatures; callers still send
        # them through extra_body, which is what reaches the API.
        value = field(given(kwargs.get("extra_body")), key)
    return value


def _output_type(kwargs: Mapping[str, Any]) -> str | None:
    if isinstance(given(kwargs.get("output_format")), type):  # a pydantic model for parse()/stream()
        return GenAiOutputTypeValues.JSON.value
    text_format = field(_param(kwargs, "output_config"), "format")
    if field(text_format, "type") == "json_schema":
        return GenAiOutputTypeValues.JSON.value
    return None


def messages_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a Messages request."""
    attrs: Attributes = {}
    max_tokens = positive_int(kwargs.get("max_tokens"))
    if max_tokens is not None:
        attrs[GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    for key, name in (("temperature", GEN_AI_REQUEST_TEMPERATURE), ("top_p", GEN_AI_REQUEST_TOP_P)):
        value = number(_param(kwargs, key))
        if value is not None:
            attrs[name] = value
    top_k = positive_int(_param(kwargs, "top_k"))
    if top_k is not None:
        attrs[GEN_AI_REQUEST_TOP_K] = top_k
    stop = stop_sequences(kwargs.get("stop_sequences"))
    if stop is not None:
        attrs[GEN_AI_REQUEST_STOP_SEQUENCES] = stop
    output_type = _output_type(kwargs)
    if output_type is not None:
        attrs[GEN_AI_OUTPUT_TYPE] = output_type
    return attrs


def _media_part(block: Any, modality: str) -> dict[str, Any]:
    source = field(block, "source")
    kind = field(source, "type")
    part: dict[str, Any]
    if kind == "base64":
        # Inline payload, not a reference: never copied onto a span.
        part = {"type": "uri", "modality": modality, "uri": _INLINE_ELIDED}
    elif kind == "url":
        url = field(source, "url")
        uri = _INLINE_ELIDED if isinstance(url, str) and url.startswith("data:") else url
        part = {"type": "uri", "modality": modality, "uri": uri}
    elif kind == "file":
        part = {"type": "file", "modality": modality, "file_id": field(source, "file_id")}
    elif kind == "text":  # a plain-text document
        return {"type": "text", "content": field(source, "data")}
    else:
        return {"type": str(field(block, "type"))}
    mime_type = field(source, "media_type")
    if isinstance(mime_type, str):
        part["mime_type"] = mime_type
    return part


def _tool_response(content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content
    return content_parts(content)


def block_part(block: Any) -> dict[str, Any]:
    """One Anthropic content block (request or response) as a semconv message part."""
    if isinstance(block, str):
        return {"type": "text", "content": block}
    kind = field(block, "type")
    if kind == "text":
        return {"type": "text", "content": field(block, "text")}
    if kind == "thinking":
        return {"type": "reasoning", "content": field(block, "thinking")}
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        return {
            "type": "tool_call",
            "id": field(block, "id"),
            "name": field(block, "name"),
            "arguments": field(block, "input"),
        }
    if kind == "tool_result" or (isinstance(kind, str) and kind.endswith("_tool_result")):
        response = _tool_response(field(block, "content"))
        return {"type": "tool_call_response", "id": field(block, "tool_use_id"), "response": response}
    if kind == "image":
        return _media_part(block, "image")
    if kind == "document":
        return _media_part(block, "document")
    return {"type": str(kind or "unknown")}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Message content (a string or a list of content blocks) as semconv message parts."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    # Only lists and tuples: an iterator given by the caller must reach the SDK unconsumed.
    if isinstance(content, (list, tuple)):
        return [block_part(block) for block in content]
    return []


def messages_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """Request messages in the semconv ``gen_ai.input.messages`` shape (``system`` goes elsewhere)."""
    messages = given(kwargs.get("messages"))
    if not isinstance(messages, (list, tuple)):
        return None
    return [
        {"role": str(field(message, "role") or "user"), "parts": content_parts(field(message, "content"))}
        for message in messages
    ]


def system_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The separate ``system`` prompt as semconv ``gen_ai.system_instructions`` parts."""
    return content_parts(given(kwargs.get("system"))) or None


def request_user_id(kwargs: Mapping[str, Any]) -> str | None:
    """The end-user id the caller passed as ``metadata.user_id``."""
    user = field(given(kwargs.get("metadata")), "user_id")
    return user if isinstance(user, str) and user else None


# --- response side ----------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _input_total(uncached: int | None, cache_read: int | None, cache_write: int | None) -> int | None:
    # Anthropic's input_tokens leaves the cache out; gen_ai.usage.input_tokens includes it.
    if uncached is None:
        return None
    return uncached + (cache_read or 0) + (cache_write or 0)


def message_usage(usage: Any) -> Usage | None:
    """Token usage of a ``Message``: input includes cache reads and writes; thinking is reasoning."""
    if usage is None:
        return None
    cache_read = count(field(usage, "cache_read_input_tokens"))
    cache_write = count(field(usage, "cache_creation_input_tokens"))
    return Usage(
        _input_total(count(field(usage, "input_tokens")), cache_read, cache_write),
        count(field(usage, "output_tokens")),
        cache_read,
        cache_write,
        count(field(field(usage, "output_tokens_details"), "thinking_tokens")),
        _one_hour_writes(field(usage, "cache_creation")),
    )


def _one_hour_writes(cache_creation: Any) -> int | None:
    # Cache writes kept for an hour cost more than the default five minutes (2x input, not 1.25x).
    return count(field(cache_creation, "ephemeral_1h_input_tokens"))


def message_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a ``Message`` says about the call; the finish reason is its ``stop_reason`` as sent."""
    stop_reason = _text(field(response, "stop_reason"))
    info = ResponseInfo(
        response_model=_text(field(response, "model")),
        response_id=_text(field(response, "id")),
        finish_reasons=(stop_reason,) if stop_reason else (),
        usage=message_usage(field(response, "usage")),
    )
    if capture:
        parts = content_parts(field(response, "content"))
        info.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": stop_reason}]
    return info


# --- streams ----------------------------------------------------------------------------

# Deltas that carry no generated tokens: a thinking block's signature, a citation's metadata.
_NOT_OUTPUT_DELTAS = frozenset({"signature_delta", "citations_delta"})
_DELTA_TEXT = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


class _Blocks:
    """The streamed content blocks, kept only when content capture is on, and capped."""

    __slots__ = ("_limit", "_size", "blocks")

    def __init__(self, limit: int) -> None:
        self.blocks: dict[int, tuple[Any, list[str]]] = {}
        self._size = 0
        self._limit = limit

    def start(self, index: Any, block: Any) -> None:
        if isinstance(index, int):
            self.blocks[index] = (block, [])

    def add(self, index: Any, delta: Any) -> None:
        entry = self.blocks.get(index) if isinstance(index, int) else None
        key = _DELTA_TEXT.get(field(delta, "type"))
        if entry is None or key is None or self._size >= self._limit:
            return
        text = field(delta, key)
        if isinstance(text, str) and text:
            entry[1].append(text)
            self._size += len(text)

    def parts(self) -> list[dict[str, Any]]:
        parts = []
        for index in sorted(self.blocks):
            block, pieces = self.blocks[index]
            kind = field(block, "type")
            streamed = "".join(pieces)
            if kind == "text":
                parts.append({"type": "text", "content": (field(block, "text") or "") + streamed})
            elif kind == "thinking":
                parts.append({"type": "reasoning", "content": (field(block, "thinking") or "") + streamed})
            elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
                parts.append(
                    {
                        "type": "tool_call",
                        "id": field(block, "id"),
                        "name": field(block, "name"),
                        "arguments": _arguments(streamed, block),
                    }
                )
            else:
                parts.append(block_part(block))
        return parts


def _arguments(streamed: str, block: Any) -> Any:
    if not streamed:
        return field(block, "input")
    try:
        return json.loads(streamed)
    except ValueError:  # cut short, or capped: keep what arrived
        return streamed


class MessagesFolder:
    """Folds raw Messages stream events: every content delta with generated tokens is output.

    ``message_start`` says id, model and input usage; ``message_delta`` the stop reason and the
    cumulative usage (its ``output_tokens`` is final, the one of ``message_start`` a placeholder).
    """

    __slots__ = ("_blocks", "_delta_usage", "_start_usage", "_stop_reason", "response_id", "response_model")

    def __init__(self, capture: bool, capture_limit: int = 1 << 20) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None
        self._start_usage: Any = None
        self._delta_usage: Any = None
        self._stop_reason: str | None = None
        self._blocks = _Blocks(capture_limit) if capture else None

    def fold(self, event: Any) -> ChunkKind:
        """Track id, model, stop reason and usage; say whether the event carried output."""
        kind = field(event, "type")
        if kind == "content_block_delta":
            delta = field(event, "delta")
            if self._blocks is not None:
                self._blocks.add(field(event, "index"), delta)
            return ChunkKind.OTHER if field(delta, "type") in _NOT_OUTPUT_DELTAS else ChunkKind.OUTPUT
        if kind == "message_start":
            message = field(event, "message")
            self.response_id = _text(field(message, "id"))
            self.response_model = _text(field(message, "model"))
            self._start_usage = field(message, "usage")
        elif kind == "message_delta":
            self._stop_reason = _text(field(field(event, "delta"), "stop_reason")) or self._stop_reason
            self._delta_usage = field(event, "usage") or self._delta_usage
        elif kind == "content_block_start" and self._blocks is not None:
            self._blocks.start(field(event, "index"), field(event, "content_block"))
        return ChunkKind.OTHER

    def _usage(self) -> Usage | None:
        start, delta = self._start_usage, self._delta_usage
        if start is None and delta is None:
            return None

        def latest(name: str) -> int | None:
            # message_delta's counts are cumulative and win; it omits those that did not change.
            value = count(field(delta, name))
            return value if value is not None else count(field(start, name))

        cache_read = latest("cache_read_input_tokens")
        cache_write = latest("cache_creation_input_tokens")
        return Usage(
            _input_total(latest("input_tokens"), cache_read, cache_write),
            count(field(delta, "output_tokens")),
            cache_read,
            cache_write,
            count(field(field(delta, "output_tokens_details"), "thinking_tokens")),
            _one_hour_writes(field(delta, "cache_creation") or field(start, "cache_creation")),
        )

    def result(self) -> ResponseInfo:
        """The stream's id, model, stop reason and usage, as far as it got."""
        stop_reason = self._stop_reason
        info = ResponseInfo(
            response_model=self.response_model,
            response_id=self.response_id,
            finish_reasons=(stop_reason,) if stop_reason else (),
            usage=self._usage(),
        )
        if self._blocks is not None:
            parts = self._blocks.parts()
            if parts or stop_reason:  # a stream closed before any content said nothing
                info.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": stop_reason}]
        return info


# --- the adapter ------------------------------------------------------------------------

MESSAGES_API = Api(
    operation=CHAT,
    request_attributes=messages_request_attributes,
    input_messages=messages_input_messages,
    response_info=message_response_info,
    new_folder=MessagesFolder,
    user_id=request_user_id,
    system_instructions=system_instructions,
)


def adopt_request(manager: Any, wrap: Callable[[Any], Any]) -> None:
    """Hand a stream manager's own request to ``wrap`` and keep what ``wrap`` returns in its place.

    ``MessageStreamManager`` keeps it as the name-mangled ``__api_request`` (a callable; for the
    async managers a coroutine), set by whichever class of the manager's MRO defines it.
    """
    state = getattr(manager, "__dict__", None) or {}
    for cls in type(manager).__mro__:
        name = f"_{cls.__name__.lstrip('_')}__api_request"
        if name in state:
            setattr(manager, name, wrap(state[name]))
            return
    # Left untouched, the helper still works; the core logs this once.
    raise AttributeError(f"{type(manager).__qualname__} keeps no __api_request: its stream is not measured")


def _targets(module: str) -> tuple[PatchTarget, ...]:
    return (
        PatchTarget(module, "Messages.create", MESSAGES_API),
        PatchTarget(module, "AsyncMessages.create", MESSAGES_API, is_async=True),
        PatchTarget(module, "Messages.parse", MESSAGES_API),
        PatchTarget(module, "AsyncMessages.parse", MESSAGES_API, is_async=True),
        PatchTarget(module, "Messages.stream", MESSAGES_API, helper=True, adopt=adopt_request),
        PatchTarget(module, "AsyncMessages.stream", MESSAGES_API, is_async=True, helper=True, adopt=adopt_request),
    )


# The resource packages re-export the classes: the table survives the SDK moving files around.
PATCH_TARGETS: tuple[PatchTarget, ...] = (
    *_targets("anthropic.resources.messages"),
    *_targets("anthropic.resources.beta.messages"),
)


def provider_name(client: Any, host: str | None) -> str:
    """``gen_ai.provider.name`` of a call: the cloud platform of a platform client, else by host."""
    # The SDK's platform clients (Bedrock, Vertex) say which provider they reach.
    said = getattr(client, "_gen_ai_provider_name", None)
    if isinstance(said, str) and said and said != ANTHROPIC:
        return said
    cls = type(client).__name__
    platform = PLATFORM_CLIENTS.get(cls)
    if platform is not None:
        return platform
    # Other vendors serve Anthropic-compatible endpoints (api.deepseek.com/anthropic, ...).
    return hosts.provider_for_host(host, cls, default=ANTHROPIC) if host else ANTHROPIC


@functools.cache
def _result_types() -> tuple[type[Any], type[Any], type[Any], tuple[type[Any], ...]]:
    import anthropic

    try:  # older SDKs return these from with_raw_response: the body is read, parse() is sync
        legacy: tuple[type[Any], ...] = (importlib.import_module("anthropic._legacy_response").LegacyAPIResponse,)
    except (ImportError, AttributeError):
        legacy = ()
    return anthropic.BaseModel, anthropic.Stream, anthropic.AsyncStream, legacy


def _body_read(raw: Any) -> bool:
    try:
        return isinstance(raw.http_response.content, bytes)
    except Exception:  # httpx's ResponseNotRead: the body is still streaming
        return False


class AnthropicAdapter(Adapter):
    """The Anthropic SDK, ``anthropic >= 0.40``, including its Bedrock and Vertex clients.

    Streams are returned directly and always report usage.
    """

    name = "llmperf_anthropic"
    package = "anthropic"
    requirement = "anthropic >= 0.40"
    targets = PATCH_TARGETS

    def server(self, instance: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, str]:
        """The client's host and port, and the provider by its client class and host."""
        client = getattr(instance, "_client", None)
        address, port, _ = hosts.describe(getattr(client, "base_url", None), type(client).__name__)
        return address, port, provider_name(client, address)

    def result_kind(self, result: Any) -> ResultKind:
        """Parsed model, sync/async stream, or a raw response with its body read or still streaming."""
        model, stream, async_stream, legacy = _result_types()
        if isinstance(result, model):
            return ResultKind.PARSED
        if isinstance(result, stream):
            return ResultKind.STREAM
        if isinstance(result, async_stream):
            return ResultKind.ASYNC_STREAM
        if legacy and isinstance(result, legacy):
            return ResultKind.RAW_READ
        if hasattr(result, "http_response") and hasattr(result, "parse"):
            # with_raw_response reads the body before returning; with_streaming_response does not.
            return ResultKind.RAW_READ if _body_read(result) else ResultKind.RAW_UNREAD
        return ResultKind.PARSED


ADAPTER = AnthropicAdapter()

# anthropic (>= 1.14) starts a CLIENT span of its own for every API call, through the global
# tracer provider unless told otherwise; both sync and async clients get it from this function.
SELF_TRACING = SelfTracing(
    "anthropic._base_client",
    "start_api_call_span",
    "ANTHROPIC_OPEN_TELEMETRY=false, or the client option open_telemetry=False",
)
