# SPDX-License-Identifier: Apache-2.0
"""OpenAI (and OpenAI-compatible servers): patch table and pure extractors.

Covers chat completions (``create``, ``parse``, the ``stream`` helper), the Responses API,
embeddings and legacy completions, sync and async. The SDK is imported lazily, at
instrument time; nothing here records telemetry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
    GEN_AI_OUTPUT_TYPE,
    GEN_AI_REQUEST_ENCODING_FORMATS,
    GEN_AI_REQUEST_MAX_TOKENS,
    GenAiOperationNameValues,
)
from opentelemetry.semconv._incubating.attributes.openai_attributes import (
    OPENAI_API_TYPE,
    OPENAI_REQUEST_SERVICE_TIER,
    OPENAI_RESPONSE_SERVICE_TIER,
    OPENAI_RESPONSE_SYSTEM_FINGERPRINT,
    OpenaiApiTypeValues,
)

from otel_llmperf.providers import hosts
from otel_llmperf.providers._chat import embedding_attributes, input_messages, request_attributes, tool_call_parts
from otel_llmperf.providers._fields import (
    OMITTED,
    count,
    field,
    given,
    omitted,
    positive_int,
    response_format_type,
    text_parts,
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
TEXT_COMPLETION = GenAiOperationNameValues.TEXT_COMPLETION.value


# --- request side -----------------------------------------------------------------------


def _sampling_attributes(kwargs: Mapping[str, Any], attrs: Attributes, max_tokens: str | None = None) -> Attributes:
    request_attributes(kwargs, attrs, max_tokens=max_tokens)
    tier = given(kwargs.get("service_tier"))
    if isinstance(tier, str):
        attrs[OPENAI_REQUEST_SERVICE_TIER] = tier
    return attrs


def chat_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a chat completions request."""
    attrs = _sampling_attributes(kwargs, {OPENAI_API_TYPE: OpenaiApiTypeValues.CHAT_COMPLETIONS.value})
    max_tokens = positive_int(kwargs.get("max_completion_tokens")) or positive_int(kwargs.get("max_tokens"))
    if max_tokens is not None:
        attrs[GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    output_type = response_format_type(kwargs.get("response_format"))
    if output_type is not None:
        attrs[GEN_AI_OUTPUT_TYPE] = output_type
    return attrs


def responses_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a Responses API request."""
    attrs = _sampling_attributes(kwargs, {OPENAI_API_TYPE: OpenaiApiTypeValues.RESPONSES.value}, "max_output_tokens")
    text_format = field(given(kwargs.get("text")), "format")
    output_type = response_format_type(given(kwargs.get("text_format")) or text_format)
    if output_type is not None:
        attrs[GEN_AI_OUTPUT_TYPE] = output_type
    return attrs


def completions_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a legacy completions request."""
    return _sampling_attributes(kwargs, {}, "max_tokens")


def embeddings_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of an embeddings request."""
    attrs: Attributes = {}
    encoding = given(kwargs.get("encoding_format"))
    if isinstance(encoding, str):
        attrs[GEN_AI_REQUEST_ENCODING_FORMATS] = (encoding,)
    dimensions = positive_int(kwargs.get("dimensions"))
    if dimensions is not None:
        attrs[GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
    return attrs


def _message_parts(message: Any) -> list[dict[str, Any]]:
    return text_parts(field(message, "content")) + tool_call_parts(message)


def chat_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """Chat request messages in the semconv ``gen_ai.input.messages`` shape."""
    return input_messages(given(kwargs.get("messages")), lambda _role, message: _message_parts(message))


def responses_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """Responses API input in the semconv shape; ``instructions`` become a system message."""
    result: Messages = []
    instructions = given(kwargs.get("instructions"))
    if isinstance(instructions, str):
        result.append({"role": "system", "parts": text_parts(instructions)})
    items = given(kwargs.get("input"))
    if isinstance(items, str):
        result.append({"role": "user", "parts": text_parts(items)})
    elif isinstance(items, (list, tuple)):
        for item in items:
            role = field(item, "role")
            if role is not None:
                result.append({"role": role, "parts": text_parts(field(item, "content"))})
            elif field(item, "type") == "function_call_output":
                part = {"type": "tool_call_response", "id": field(item, "call_id"), "response": field(item, "output")}
                result.append({"role": "tool", "parts": [part]})
    return result or None


def completions_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """A legacy completions prompt as one user message."""
    prompt = given(kwargs.get("prompt"))
    if isinstance(prompt, str):
        return [{"role": "user", "parts": text_parts(prompt)}]
    if isinstance(prompt, (list, tuple)) and all(isinstance(item, str) for item in prompt):
        return [{"role": "user", "parts": text_parts(item)} for item in prompt]
    return None


def _no_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    return None


def request_user_id(kwargs: Mapping[str, Any]) -> str | None:
    """The end-user identifier the caller passed (``safety_identifier`` or the older ``user``)."""
    for key in ("safety_identifier", "user"):
        value = given(kwargs.get(key))
        if isinstance(value, str) and value:
            return value
    return None


# --- response side ----------------------------------------------------------------------


_USAGE_KEYS = {
    # Chat and legacy completions say prompt/completion, the Responses API input/output.
    "chat": ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"),
    "responses": ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"),
}


def _usage(usage: Any, naming: str) -> Usage | None:
    if usage is None:
        return None
    inputs, outputs, input_details, output_details = _USAGE_KEYS[naming]
    return Usage(
        count(field(usage, inputs)),
        count(field(usage, outputs)),
        count(field(field(usage, input_details), "cached_tokens")),
        None,
        count(field(field(usage, output_details), "reasoning_tokens")),
    )


def chat_usage(usage: Any) -> Usage | None:
    """Token usage of a chat or legacy completion (``prompt_tokens`` naming)."""
    return _usage(usage, "chat")


def responses_usage(usage: Any) -> Usage | None:
    """Token usage of a Responses API response (``input_tokens`` naming)."""
    return _usage(usage, "responses")


def _openai_response_attributes(response: Any) -> Attributes:
    attrs: Attributes = {}
    fingerprint = field(response, "system_fingerprint")
    if isinstance(fingerprint, str):
        attrs[OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint
    tier = field(response, "service_tier")
    if isinstance(tier, str):
        attrs[OPENAI_RESPONSE_SERVICE_TIER] = tier
    return attrs


def _chat_output(choice: Any) -> dict[str, Any]:
    message = field(choice, "message")
    return {
        "role": field(message, "role") or "assistant",
        "parts": _message_parts(message),
        "finish_reason": field(choice, "finish_reason"),
    }


def _text_output(choice: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "parts": text_parts(field(choice, "text")),
        "finish_reason": field(choice, "finish_reason"),
    }


def _choices_response_info(response: Any, capture: bool, output: Callable[[Any], dict[str, Any]]) -> ResponseInfo:
    choices = field(response, "choices") or ()
    return ResponseInfo(
        response_model=field(response, "model"),
        response_id=field(response, "id"),
        finish_reasons=tuple([str(field(choice, "finish_reason") or "") for choice in choices]),
        usage=_usage(field(response, "usage"), "chat"),
        attributes=_openai_response_attributes(response),
        output_messages=[output(choice) for choice in choices] if capture else None,
    )


def chat_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a ``ChatCompletion`` says about the call."""
    return _choices_response_info(response, capture, _chat_output)


def completions_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a legacy ``Completion`` says about the call."""
    return _choices_response_info(response, capture, _text_output)


def embeddings_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a ``CreateEmbeddingResponse`` says; embeddings report input tokens only."""
    usage = field(response, "usage")
    return ResponseInfo(
        response_model=field(response, "model"),
        usage=Usage(input_tokens=positive_int(field(usage, "prompt_tokens"), allow_zero=True)) if usage else None,
        attributes=embedding_attributes(response),
    )


_RESPONSE_STATUS_REASON = {"completed": "stop", "failed": "error", "cancelled": "cancelled"}


def responses_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a Responses API ``Response`` says; a failed status becomes the error type."""
    status = field(response, "status")
    reason = field(field(response, "incomplete_details"), "reason") if status == "incomplete" else None
    error_type = None
    if status == "failed":
        error_type = str(field(field(response, "error"), "code") or "response_failed")
    info = ResponseInfo(
        response_model=field(response, "model"),
        response_id=field(response, "id"),
        finish_reasons=(str(reason or _RESPONSE_STATUS_REASON.get(str(status), status)),) if status else (),
        usage=responses_usage(field(response, "usage")),
        attributes=_openai_response_attributes(response),
        error_type=error_type,
    )
    if capture:
        info.output_messages = _responses_output_messages(response, info.finish_reasons)
    return info


def _responses_output_messages(response: Any, finish_reasons: tuple[str, ...]) -> Messages:
    parts: list[dict[str, Any]] = []
    for item in field(response, "output") or ():
        kind = field(item, "type")
        if kind == "message":
            for content in field(item, "content") or ():
                parts.extend(text_parts(field(content, "text") or field(content, "refusal")))
        elif kind == "function_call":
            parts.append(
                {
                    "type": "tool_call",
                    "id": field(item, "call_id"),
                    "name": field(item, "name"),
                    "arguments": field(item, "arguments"),
                }
            )
    finish = finish_reasons[0] if finish_reasons else None
    return [{"role": "assistant", "parts": parts, "finish_reason": finish}]


# --- streams ----------------------------------------------------------------------------


class _TextBuffers:
    """Per-choice output text, kept only when content capture is on, and capped."""

    __slots__ = ("_limit", "_size", "texts")

    def __init__(self, limit: int) -> None:
        self.texts: dict[int, list[str]] = {}
        self._size = 0
        self._limit = limit

    def add(self, index: int, text: Any) -> None:
        if isinstance(text, str) and text and self._size < self._limit:
            self.texts.setdefault(index, []).append(text)
            self._size += len(text)

    def messages(self, finish: Mapping[int, str]) -> Messages:
        indexes = sorted(set(self.texts) | set(finish))
        return [
            {
                "role": "assistant",
                "parts": text_parts("".join(self.texts.get(index, ()))),
                "finish_reason": finish.get(index),
            }
            for index in indexes
        ]


class ChoicesFolder:
    """Folds chat or legacy completion chunks: choices carry output, an empty list only usage."""

    __slots__ = ("_attrs", "_buffers", "_chat", "_finish", "_usage", "response_id", "response_model")

    def __init__(self, capture: bool, chat: bool = True, capture_limit: int = 1 << 20) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None
        self._finish: dict[int, str] = {}
        self._usage: Any = None
        self._attrs: Attributes = {}
        self._chat = chat
        self._buffers = _TextBuffers(capture_limit) if capture else None

    def fold(self, chunk: Any) -> ChunkKind:
        """Remember id, model, finish reasons and usage; say whether the chunk carried output."""
        if self.response_id is None:
            self.response_id = field(chunk, "id")
            self.response_model = field(chunk, "model")
            self._attrs = _openai_response_attributes(chunk)
        usage = field(chunk, "usage")
        if usage is not None:
            self._usage = usage
        choices = field(chunk, "choices")
        if not choices:
            return ChunkKind.USAGE_ONLY if usage is not None else ChunkKind.OTHER
        for choice in choices:
            reason = field(choice, "finish_reason")
            if reason:
                self._finish[field(choice, "index") or 0] = reason
            if self._buffers is not None:
                text = field(field(choice, "delta"), "content") if self._chat else field(choice, "text")
                self._buffers.add(field(choice, "index") or 0, text)
        return ChunkKind.OUTPUT

    def result(self) -> ResponseInfo:
        """The stream's id, model, finish reasons (by choice index) and usage."""
        return ResponseInfo(
            response_model=self.response_model,
            response_id=self.response_id,
            finish_reasons=tuple(self._finish[index] for index in sorted(self._finish)),
            usage=chat_usage(self._usage),
            attributes=self._attrs,
            output_messages=self._buffers.messages(self._finish) if self._buffers is not None else None,
        )


class ResponsesFolder:
    """Folds Responses API stream events: ``*.delta`` events carry output; the final event has usage."""

    __slots__ = ("_capture", "_error", "_final", "response_id", "response_model")

    def __init__(self, capture: bool) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None
        self._final: Any = None
        self._error: str | None = None
        self._capture = capture

    def fold(self, event: Any) -> ChunkKind:
        """Track the response's id, model and final state."""
        kind = field(event, "type")
        if not isinstance(kind, str):
            return ChunkKind.OTHER
        if kind.endswith(".delta"):
            return ChunkKind.OUTPUT
        if kind in ("response.created", "response.in_progress", "response.queued"):
            response = field(event, "response")
            self.response_id = field(response, "id") or self.response_id
            self.response_model = field(response, "model") or self.response_model
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._final = field(event, "response")
        elif kind == "error":
            self._error = str(field(event, "code") or "error")
        return ChunkKind.OTHER

    def result(self) -> ResponseInfo:
        """The final response's facts, or what the stream said before it ended."""
        if self._final is not None:
            info = responses_response_info(self._final, self._capture)
        else:
            info = ResponseInfo(response_model=self.response_model, response_id=self.response_id)
        if self._error is not None:
            info.error_type = self._error
        return info


# --- the adapter ------------------------------------------------------------------------

CHAT_API = Api(
    operation=CHAT,
    request_attributes=chat_request_attributes,
    input_messages=chat_input_messages,
    response_info=chat_response_info,
    new_folder=lambda capture: ChoicesFolder(capture, chat=True),
    stream_usage_option=True,
    user_id=request_user_id,
)
RESPONSES_API = Api(
    operation=CHAT,
    request_attributes=responses_request_attributes,
    input_messages=responses_input_messages,
    response_info=responses_response_info,
    new_folder=ResponsesFolder,
    user_id=request_user_id,
)
EMBEDDINGS_API = Api(
    operation=EMBEDDINGS,
    request_attributes=embeddings_request_attributes,
    input_messages=_no_messages,
    response_info=embeddings_response_info,
    user_id=request_user_id,
)
COMPLETIONS_API = Api(
    operation=TEXT_COMPLETION,
    request_attributes=completions_request_attributes,
    input_messages=completions_input_messages,
    response_info=completions_response_info,
    new_folder=lambda capture: ChoicesFolder(capture, chat=False),
    stream_usage_option=True,
    user_id=request_user_id,
)


def _pair(module: str, cls: str, method: str, api: Api, helper: bool = False) -> tuple[PatchTarget, PatchTarget]:
    return (
        PatchTarget(module, f"{cls}.{method}", api, is_async=False, helper=helper),
        PatchTarget(module, f"Async{cls}.{method}", api, is_async=True, helper=helper),
    )


# Patch the public re-export modules so the table survives the SDK moving files around.
PATCH_TARGETS: tuple[PatchTarget, ...] = (
    *_pair("openai.resources.chat.completions", "Completions", "create", CHAT_API),
    *_pair("openai.resources.chat.completions", "Completions", "parse", CHAT_API),
    *_pair("openai.resources.chat.completions", "Completions", "stream", CHAT_API, helper=True),
    *_pair("openai.resources.responses", "Responses", "create", RESPONSES_API),
    *_pair("openai.resources.responses", "Responses", "parse", RESPONSES_API),
    *_pair("openai.resources.responses", "Responses", "stream", RESPONSES_API, helper=True),
    *_pair("openai.resources.embeddings", "Embeddings", "create", EMBEDDINGS_API),
    *_pair("openai.resources.completions", "Completions", "create", COMPLETIONS_API),
)


@functools.cache
def _result_types() -> tuple[type[Any], ...]:
    import openai
    from openai._legacy_response import LegacyAPIResponse

    return (openai.BaseModel, openai.Stream, openai.AsyncStream, LegacyAPIResponse)


class OpenAIAdapter(Adapter):
    """The OpenAI SDK, ``openai >= 1.40``, including OpenAI-compatible servers via ``base_url``."""

    name = "llmperf_openai"
    package = "openai"
    requirement = "openai >= 1.40"
    targets = PATCH_TARGETS

    def server(self, instance: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, str]:
        """The client's host and port, and the provider that host stands for."""
        client = getattr(instance, "_client", None)
        return hosts.describe(getattr(client, "base_url", None), type(client).__name__)

    def result_kind(self, result: Any) -> ResultKind:
        """Parsed model, sync/async stream, or one of the two raw-response flavours."""
        model, stream, async_stream, legacy_raw = _result_types()
        if isinstance(result, model):
            return ResultKind.PARSED
        if isinstance(result, stream):
            return ResultKind.STREAM
        if isinstance(result, async_stream):
            return ResultKind.ASYNC_STREAM
        if isinstance(result, legacy_raw):
            return ResultKind.RAW_READ
        if hasattr(result, "http_response") and hasattr(result, "parse"):
            return ResultKind.RAW_UNREAD
        return ResultKind.PARSED

    def with_stream_usage(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """Ask for the final usage chunk unless the caller set ``stream_options`` themselves."""
        if not omitted(kwargs.get("stream_options", OMITTED)):
            return None
        return {**kwargs, "stream_options": {"include_usage": True}}


ADAPTER = OpenAIAdapter()
