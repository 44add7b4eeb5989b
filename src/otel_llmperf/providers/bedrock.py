# SPDX-License-Identifier: Apache-2.0
"""AWS Bedrock Runtime through ``boto3``/``botocore``: patch table and pure extractors.

boto3 generates its client classes at run time, so the one stable place to hook is
``botocore.client.BaseClient._make_api_call``. :func:`select_call` picks out the four
Bedrock Runtime operations that run a model -- ``Converse``, ``ConverseStream``, ``InvokeModel``
and ``InvokeModelWithResponseStream`` -- and lets every other AWS call through untouched.

Streams come back nested in the response (``response["stream"]`` / ``response["body"]``, a
botocore ``EventStream``); the core proxies them in place. ``InvokeModel`` answers with a
``StreamingBody`` the caller reads once, so its usage is read from Bedrock's
``x-amzn-bedrock-*-token-count`` response headers instead of the body.

Input token counts include cache reads and writes: Bedrock reports ``inputTokens`` without them,
and the semantic conventions count every input token. The SDK is imported lazily; nothing here
records telemetry.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any

from opentelemetry.semconv._incubating.attributes.aws_attributes import AWS_BEDROCK_GUARDRAIL_ID, AWS_REQUEST_ID
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
    GEN_AI_OUTPUT_TYPE,
    GEN_AI_REQUEST_ENCODING_FORMATS,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_SEED,
    GEN_AI_REQUEST_STOP_SEQUENCES,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_REQUEST_TOP_K,
    GEN_AI_REQUEST_TOP_P,
    GenAiOperationNameValues,
    GenAiOutputTypeValues,
    GenAiProviderNameValues,
)

from otel_llmperf.providers import hosts
from otel_llmperf.providers._fields import count, field, number, positive_int, stop_sequences
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
TEXT_COMPLETION = GenAiOperationNameValues.TEXT_COMPLETION.value
EMBEDDINGS = GenAiOperationNameValues.EMBEDDINGS.value
PROVIDER = GenAiProviderNameValues.AWS_BEDROCK.value
SERVICE = "bedrock-runtime"

# Where select_call puts the InvokeModel body it parsed, next to the caller's own parameters
# (which are camelCase, so this key cannot collide with one of them).
BODY = "llmperf.body"
# InvokeModel bodies larger than this are not parsed for attributes: base64 images and documents
# would make every call pay a large json.loads for a few numbers.
MAX_PARSED_BODY = 1 << 20
_CAPTURE_LIMIT = 1 << 20  # characters of streamed output kept for content capture
_ELIDED = "data:(inline content elided)"

# Bedrock's (and its models') stop reasons in the semconv output-message vocabulary. The span's
# gen_ai.response.finish_reasons keeps the provider's own words; unknown reasons pass through.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "FINISH": "stop",
    "COMPLETE": "stop",
    "max_tokens": "length",
    "length": "length",
    "LENGTH": "length",
    "MAX_TOKENS": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "tool_calls": "tool_call",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "CONTENT_FILTERED": "content_filter",
    "malformed_model_output": "error",
    "malformed_tool_use": "error",
}


def semconv_finish_reason(reason: str | None) -> str | None:
    """A Bedrock stop reason as a semconv output-message ``finish_reason``."""
    if reason is None:
        return None
    return _FINISH_REASONS.get(reason, reason)


# --- request side -----------------------------------------------------------------------


def _seed(value: Any) -> int | None:
    return positive_int(value, allow_zero=True)


# How a request attribute's value is checked; the others (temperature, top_p) take any real number.
_CHECKS: dict[str, Callable[[Any], Any]] = {
    GEN_AI_REQUEST_STOP_SEQUENCES: stop_sequences,
    GEN_AI_REQUEST_MAX_TOKENS: positive_int,
    GEN_AI_REQUEST_TOP_K: positive_int,
    GEN_AI_REQUEST_SEED: _seed,
}


def _sampling(config: Any, attrs: Attributes, keys: Mapping[str, tuple[str, ...]]) -> None:
    # First key found wins, and an attribute already set by an earlier container stays.
    if not isinstance(config, Mapping):
        return
    for attribute, names in keys.items():
        if attribute in attrs:
            continue
        check: Callable[[Any], Any] = _CHECKS.get(attribute, number)
        for name in names:
            found = check(config.get(name))
            if found is not None:
                attrs[attribute] = found
                break


_CONVERSE_KEYS = {
    GEN_AI_REQUEST_MAX_TOKENS: ("maxTokens",),
    GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
    GEN_AI_REQUEST_TOP_P: ("topP",),
    GEN_AI_REQUEST_STOP_SEQUENCES: ("stopSequences",),
}
# Model-specific fields Converse passes through (additionalModelRequestFields) and the native
# InvokeModel bodies: Anthropic, Llama, Mistral, Cohere, AI21 (snake_case), Titan
# (textGenerationConfig) and Nova (inferenceConfig).
_NATIVE_KEYS = {
    GEN_AI_REQUEST_MAX_TOKENS: ("max_tokens", "max_gen_len", "max_new_tokens", "maxTokens", "maxTokenCount"),
    GEN_AI_REQUEST_TEMPERATURE: ("temperature",),
    GEN_AI_REQUEST_TOP_P: ("top_p", "topP", "p"),
    GEN_AI_REQUEST_TOP_K: ("top_k", "topK", "k"),
    GEN_AI_REQUEST_STOP_SEQUENCES: ("stop_sequences", "stopSequences", "stop"),
    GEN_AI_REQUEST_SEED: ("seed",),
}


def _guardrail(identifier: Any, attrs: Attributes) -> None:
    if isinstance(identifier, str) and identifier:
        attrs[AWS_BEDROCK_GUARDRAIL_ID] = identifier


def converse_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a Converse / ConverseStream request."""
    attrs: Attributes = {}
    _sampling(kwargs.get("inferenceConfig"), attrs, _CONVERSE_KEYS)
    _sampling(kwargs.get("additionalModelRequestFields"), attrs, _NATIVE_KEYS)
    _guardrail(field(kwargs.get("guardrailConfig"), "guardrailIdentifier"), attrs)
    text_format = field(field(kwargs.get("outputConfig"), "textFormat"), "type")
    if text_format == "json_schema":
        attrs[GEN_AI_OUTPUT_TYPE] = GenAiOutputTypeValues.JSON.value
    return attrs


def invoke_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of an InvokeModel request: the common fields of the model's native JSON body."""
    attrs: Attributes = {}
    _guardrail(kwargs.get("guardrailIdentifier"), attrs)
    body = kwargs.get(BODY)
    if not isinstance(body, Mapping):
        return attrs
    for config in (body, body.get("textGenerationConfig"), body.get("inferenceConfig")):
        _sampling(config, attrs, _NATIVE_KEYS)
    dimensions = positive_int(body.get("dimensions"))
    if dimensions is not None:
        attrs[GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
    formats = body.get("embeddingTypes") or body.get("embedding_types")
    if isinstance(formats, list) and formats and all(isinstance(item, str) for item in formats):
        attrs[GEN_AI_REQUEST_ENCODING_FORMATS] = tuple(formats)
    return attrs


def _media_part(kind: str, value: Any) -> dict[str, Any]:
    source = field(value, "source")
    location = field(field(source, "s3Location"), "uri")
    # Inline bytes are payload, not a reference: never copied onto a span.
    uri = location if isinstance(location, str) else _ELIDED
    if kind in ("image", "video", "audio"):
        return {"type": "uri", "modality": kind, "uri": uri}
    return {"type": kind, "name": field(value, "name")}


def _tool_response(content: Any) -> Any:
    # Tool results are lists of blocks; keep text and JSON, name anything else by its kind.
    if not isinstance(content, (list, tuple)):
        return content if isinstance(content, (str, int, float, bool, dict)) else None
    items: list[Any] = []
    for block in content:
        if isinstance(block, str):
            items.append(block)
        elif isinstance(block, Mapping):
            text = block.get("text")
            if isinstance(text, str):
                items.append(text)
            elif "json" in block:
                items.append(block["json"])
            elif isinstance(block.get("type"), str):
                items.append({"type": block["type"]})
            else:
                items.extend({"type": key} for key in block)
    return items[0] if len(items) == 1 else items


def _typed_part(block: Mapping[str, Any]) -> dict[str, Any] | None:
    # Anthropic-native content blocks (InvokeModel bodies): {"type": ..., ...}.
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "content": block.get("text")}
    if kind == "image":
        source = block.get("source")
        url = field(source, "url") if field(source, "type") == "url" else None
        return {"type": "uri", "modality": "image", "uri": url if isinstance(url, str) else _ELIDED}
    if kind == "tool_use":
        return {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": block.get("input")}
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": block.get("tool_use_id"),
            "response": _tool_response(block.get("content")),
        }
    if kind == "thinking":
        return {"type": "reasoning", "content": block.get("thinking")}
    if kind == "redacted_thinking":
        return {"type": "reasoning"}
    return {"type": str(kind)}


def _converse_part(kind: str, value: Any) -> dict[str, Any] | None:
    # Converse content blocks are unions: one member set, named by its key.
    if kind == "text":
        return {"type": "text", "content": value}
    if kind == "toolUse":
        return {
            "type": "tool_call",
            "id": field(value, "toolUseId"),
            "name": field(value, "name"),
            "arguments": field(value, "input"),
        }
    if kind == "toolResult":
        response = _tool_response(field(value, "content"))
        return {"type": "tool_call_response", "id": field(value, "toolUseId"), "response": response}
    if kind == "reasoningContent":
        text = field(field(value, "reasoningText"), "text")
        return {"type": "reasoning", "content": text} if isinstance(text, str) else {"type": "reasoning"}
    if kind == "guardContent":
        return {"type": "text", "content": field(field(value, "text"), "text")}
    if kind in ("image", "video", "audio", "document"):
        return _media_part(kind, value)
    if kind == "cachePoint":  # a caching marker, not content
        return None
    return {"type": kind}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """Converse or Anthropic-native message content as semconv message parts."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if not isinstance(content, (list, tuple)):
        return parts
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
            continue
        if not isinstance(block, Mapping):
            continue
        if isinstance(block.get("type"), str):
            part = _typed_part(block)
            if part is not None:
                parts.append(part)
            continue
        for kind, value in block.items():
            part = _converse_part(kind, value)
            if part is not None:
                parts.append(part)
    return parts


def _chat_messages(messages: Any) -> Messages | None:
    if not isinstance(messages, (list, tuple)):
        return None
    result: Messages = [
        {"role": field(message, "role") or "user", "parts": content_parts(field(message, "content"))}
        for message in messages
    ]
    return result or None


def converse_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """Converse ``messages`` in the semconv ``gen_ai.input.messages`` shape."""
    return _chat_messages(kwargs.get("messages"))


def converse_system_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Converse ``system`` blocks as semconv parts for ``gen_ai.system_instructions``."""
    return content_parts(kwargs.get("system")) or None


def invoke_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """The input of a native InvokeModel body: chat ``messages``, a ``prompt`` or ``inputText``, or embed ``texts``."""
    body = kwargs.get(BODY)
    if not isinstance(body, Mapping):
        return None
    if "messages" in body:
        return _chat_messages(body.get("messages"))
    for key in ("prompt", "inputText"):
        text = body.get(key)
        if isinstance(text, str):
            return [{"role": "user", "parts": [{"type": "text", "content": text}]}]
    texts = body.get("texts")
    if isinstance(texts, list) and all(isinstance(text, str) for text in texts):
        return [{"role": "user", "parts": [{"type": "text", "content": text}]} for text in texts] or None
    return None


def invoke_system_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The ``system`` of a native chat body (Anthropic: a string or text blocks; Nova: text blocks)."""
    body = kwargs.get(BODY)
    if not isinstance(body, Mapping):
        return None
    return content_parts(body.get("system")) or None


# --- response side ----------------------------------------------------------------------


# Bedrock's four counts -- input without the cache, output, cache reads, cache writes -- as each
# surface names them: the Converse usage object, an InvokeModel stream's last-chunk metrics, and
# the InvokeModel response headers (strings of digits, as botocore hands headers over).
CONVERSE_COUNTS = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
METRICS_COUNTS = ("inputTokenCount", "outputTokenCount", "cacheReadInputTokenCount", "cacheWriteInputTokenCount")
HEADER_COUNTS = tuple(
    f"x-amzn-bedrock-{name}-token-count" for name in ("input", "output", "cache-read-input", "cache-write-input")
)


def _token_count(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else count(value)


def bedrock_usage(source: Any, names: Sequence[str]) -> Usage | None:
    """Usage from the four counts ``names`` of ``source``; input tokens include the cache reads and writes."""
    if not isinstance(source, Mapping):
        return None
    inputs, outputs, cache_read, cache_write = (_token_count(source.get(name)) for name in names)
    if inputs is None and outputs is None:
        return None
    if inputs is not None:
        inputs += (cache_read or 0) + (cache_write or 0)
    return Usage(inputs, outputs, cache_read, cache_write, None, _one_hour_writes(source.get("cacheDetails")))


def _one_hour_writes(details: Any) -> int | None:
    # Converse splits cache writes by lifetime; those kept for an hour cost more than 5 minutes'.
    if not isinstance(details, (list, tuple)):
        return None
    return sum(
        found
        for detail in details
        if isinstance(detail, Mapping)
        and detail.get("ttl") == "1h"
        and (found := _token_count(detail.get("inputTokens"))) is not None
    )


def request_id(response: Any) -> str | None:
    """The AWS request id of a Bedrock response (``ResponseMetadata.RequestId``)."""
    found = field(field(response, "ResponseMetadata"), "RequestId")
    return found if isinstance(found, str) and found else None


def _with_request_id(info: ResponseInfo, response: Any) -> ResponseInfo:
    # Converse and InvokeModel (whose body stays unread) name no completion, so no
    # gen_ai.response.id; the AWS request id is aws.request_id, and feedback can find the call by it.
    found = request_id(response)
    if found is not None:
        info.request_id = found
        info.attributes[AWS_REQUEST_ID] = found
    return info


def assistant_message(parts: list[dict[str, Any]], reason: str | None) -> Messages:
    """The semconv ``gen_ai.output.messages`` of one assistant reply."""
    return [{"role": "assistant", "parts": parts, "finish_reason": semconv_finish_reason(reason)}]


def converse_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a Converse response says: stop reason, usage (with cache tokens), the AWS request id."""
    reason = field(response, "stopReason")
    reason = reason if isinstance(reason, str) else None
    info = _with_request_id(
        ResponseInfo(
            finish_reasons=(reason,) if reason else (),
            usage=bedrock_usage(field(response, "usage"), CONVERSE_COUNTS),
        ),
        response,
    )
    if capture:
        message = field(field(response, "output"), "message")
        if message is not None:
            info.output_messages = assistant_message(content_parts(field(message, "content")), reason)
    return info


def invoke_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What an InvokeModel response says without reading its body: usage headers and the request id."""
    metadata = field(response, "ResponseMetadata")
    headers = field(metadata, "HTTPHeaders")
    return _with_request_id(ResponseInfo(usage=bedrock_usage(headers, HEADER_COUNTS)), response)


def client_error_type(error: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``ThrottlingException``), else ``None``.

    botocore raises one generic class for unmodeled errors and ``EventStreamError`` for every
    exception event inside a stream, whose code is the event's member name
    (``throttlingException``); capitalised, that is the error shape's name, so a throttle
    reads the same before and during a stream.
    """
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = field(response.get("Error"), "Code")
    if not isinstance(code, str) or not code:
        return None
    return code[0].upper() + code[1:]


# --- streams ----------------------------------------------------------------------------


class _Blocks:
    """Streamed output per content block, kept only with content capture on, and capped."""

    __slots__ = ("_size", "blocks")

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self._size = 0

    def start(self, index: int, kind: str, **facts: Any) -> None:
        self.blocks.setdefault(index, {"kind": kind, "text": [], **facts})

    def add(self, index: int, kind: str, text: Any) -> None:
        if not isinstance(text, str) or not text or self._size >= _CAPTURE_LIMIT:
            return
        block = self.blocks.setdefault(index, {"kind": kind, "text": []})
        block["text"].append(text)
        self._size += len(text)

    def parts(self) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            text = "".join(block["text"])
            if block["kind"] == "tool_call":
                parts.append({"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": text})
            elif block["kind"] == "reasoning":
                parts.append({"type": "reasoning", "content": text})
            else:
                parts.append({"type": "text", "content": text})
        return parts


class _StreamFolder:
    """What both Bedrock stream folders keep: stop reason, usage, and the output when captured."""

    __slots__ = ("_blocks", "_reason", "_usage", "response_id", "response_model")

    def __init__(self, capture: bool) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None
        self._reason: str | None = None
        self._usage: Usage | None = None
        self._blocks = _Blocks() if capture else None

    def _set_reason(self, reason: Any) -> None:
        if isinstance(reason, str) and reason:
            self._reason = reason

    def result(self) -> ResponseInfo:
        """Model and id (when the stream names them), stop reason, usage and, with capture, the output."""
        blocks = self._blocks
        return ResponseInfo(
            response_model=self.response_model,
            response_id=self.response_id,
            finish_reasons=(self._reason,) if self._reason else (),
            usage=self._usage,
            output_messages=assistant_message(blocks.parts(), self._reason) if blocks is not None else None,
        )


class ConverseStreamFolder(_StreamFolder):
    """Folds ConverseStream events: each ``contentBlockDelta`` is output; ``metadata`` has the usage.

    The stream names neither the model nor a completion id: both stay ``None``.
    """

    __slots__ = ()

    def fold(self, event: Any) -> ChunkKind:
        """Take one event; text, tool-input and reasoning deltas count as output."""
        if not isinstance(event, Mapping):
            return ChunkKind.OTHER
        delta_event = event.get("contentBlockDelta")
        if delta_event is not None:
            if self._blocks is not None:
                self._capture(delta_event)
            return ChunkKind.OUTPUT
        if "messageStop" in event:
            self._set_reason(field(event["messageStop"], "stopReason"))
        elif "metadata" in event:
            self._usage = bedrock_usage(field(event["metadata"], "usage"), CONVERSE_COUNTS)
        elif "contentBlockStart" in event and self._blocks is not None:
            start = event["contentBlockStart"]
            tool = field(field(start, "start"), "toolUse")
            if tool is not None:
                index = field(start, "contentBlockIndex") or 0
                self._blocks.start(index, "tool_call", id=field(tool, "toolUseId"), name=field(tool, "name"))
        return ChunkKind.OTHER

    def _capture(self, delta_event: Any) -> None:
        assert self._blocks is not None
        index = field(delta_event, "contentBlockIndex") or 0
        delta = field(delta_event, "delta")
        if not isinstance(delta, Mapping):
            return
        if "text" in delta:
            self._blocks.add(index, "text", delta["text"])
        elif "toolUse" in delta:
            self._blocks.add(index, "tool_call", field(delta["toolUse"], "input"))
        elif "reasoningContent" in delta:
            self._blocks.add(index, "reasoning", field(delta["reasoningContent"], "text"))


# Top-level text fields of the text-generation models' native stream events: Llama
# ("generation"), Titan ("outputText"), Anthropic text completions ("completion"), Cohere ("text").
_NATIVE_TEXT_KEYS = ("generation", "outputText", "completion", "text")
_NATIVE_REASON_KEYS = ("stop_reason", "completionReason", "finish_reason", "stopReason")


def _native_text(event: Mapping[str, Any]) -> str | None:
    for key in _NATIVE_TEXT_KEYS:
        text = event.get(key)
        if isinstance(text, str) and text:
            return text
    # Mistral ("outputs") and OpenAI-style models ("choices").
    for key in ("outputs", "choices"):
        items = event.get(key)
        if isinstance(items, list) and items:
            first = items[0]
            text = field(first, "text") or field(field(first, "delta"), "content")
            if isinstance(text, str) and text:
                return text
    return None


def _native_reason(event: Mapping[str, Any]) -> str | None:
    for key in _NATIVE_REASON_KEYS:
        reason = event.get(key)
        if isinstance(reason, str) and reason:
            return reason
    for key in ("outputs", "choices"):
        items = event.get(key)
        if isinstance(items, list) and items:
            reason = field(items[0], "stop_reason") or field(items[0], "finish_reason")
            if isinstance(reason, str) and reason:
                return reason
    return None


class InvokeStreamFolder(_StreamFolder):
    """Folds InvokeModelWithResponseStream chunks by decoding each one's native JSON event.

    Output chunks: Anthropic ``content_block_delta``, Nova ``contentBlockDelta``, and for the
    text-generation models any event with non-empty text. Usage comes from the
    ``amazon-bedrock-invocationMetrics`` Bedrock adds to the last chunk of every model.
    """

    __slots__ = ()

    def fold(self, event: Any) -> ChunkKind:
        """Decode one ``chunk`` event and classify the native event it carries."""
        raw = field(field(event, "chunk"), "bytes")
        if not isinstance(raw, (bytes, bytearray, str)):
            return ChunkKind.OTHER
        try:
            native = json.loads(raw)
        except ValueError:
            return ChunkKind.OTHER
        if not isinstance(native, dict):
            return ChunkKind.OTHER
        metrics = native.get("amazon-bedrock-invocationMetrics")
        if metrics is not None:
            self._usage = bedrock_usage(metrics, METRICS_COUNTS) or self._usage
        kind = native.get("type")
        if isinstance(kind, str):
            return self._fold_anthropic(kind, native)
        if "contentBlockDelta" in native:  # Nova: Converse-shaped native events
            if self._blocks is not None:
                self._blocks.add(0, "text", field(field(native["contentBlockDelta"], "delta"), "text"))
            return ChunkKind.OUTPUT
        if "messageStop" in native:
            self._set_reason(field(native["messageStop"], "stopReason"))
            return ChunkKind.OTHER
        self._set_reason(_native_reason(native))
        if self.response_id is None:
            self._identify(native)
        text = _native_text(native)
        if text is None:
            return ChunkKind.OTHER
        if self._blocks is not None:
            self._blocks.add(0, "text", text)
        return ChunkKind.OUTPUT

    def _fold_anthropic(self, kind: str, native: Mapping[str, Any]) -> ChunkKind:
        if kind == "content_block_delta":
            if self._blocks is not None:
                delta = native.get("delta")
                index = native.get("index") or 0
                delta_kind = field(delta, "type")
                if delta_kind == "input_json_delta":
                    self._blocks.add(index, "tool_call", field(delta, "partial_json"))
                elif delta_kind == "thinking_delta":
                    self._blocks.add(index, "reasoning", field(delta, "thinking"))
                else:
                    self._blocks.add(index, "text", field(delta, "text"))
            return ChunkKind.OUTPUT
        if kind == "message_start":
            self._identify(native.get("message") or {})
        elif kind == "message_delta":
            self._set_reason(field(native.get("delta"), "stop_reason"))
        elif kind == "content_block_start" and self._blocks is not None:
            block = native.get("content_block")
            if field(block, "type") == "tool_use":
                index = native.get("index") or 0
                self._blocks.start(index, "tool_call", id=field(block, "id"), name=field(block, "name"))
        return ChunkKind.OTHER

    def _identify(self, source: Any) -> None:
        response_id, model = field(source, "id"), field(source, "model")
        if isinstance(response_id, str):
            self.response_id = response_id
        if isinstance(model, str):
            self.response_model = model


# --- the adapter ------------------------------------------------------------------------

CONVERSE_API = Api(
    operation=CHAT,
    request_attributes=converse_request_attributes,
    input_messages=converse_input_messages,
    response_info=converse_response_info,
    new_folder=ConverseStreamFolder,
    system_instructions=converse_system_instructions,
    error_type=client_error_type,
)


def _invoke_api(operation: str) -> Api:
    return Api(
        operation=operation,
        request_attributes=invoke_request_attributes,
        input_messages=invoke_input_messages,
        response_info=invoke_response_info,
        new_folder=InvokeStreamFolder,
        system_instructions=invoke_system_instructions,
        error_type=client_error_type,
    )


INVOKE_APIS = {operation: _invoke_api(operation) for operation in (CHAT, TEXT_COMPLETION, EMBEDDINGS)}


def parse_body(raw: Any) -> dict[str, Any] | None:
    """An InvokeModel body (bytes or str of JSON, up to 1 MiB) as a dict; ``None`` when it is not one."""
    if not isinstance(raw, (bytes, bytearray, str)) or len(raw) > MAX_PARSED_BODY:
        return None  # file objects are read by botocore itself: never consume them here
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def invoke_operation(model_id: Any, body: Mapping[str, Any] | None) -> str:
    """``embeddings``, ``text_completion`` or ``chat`` (the default) for a native InvokeModel body."""
    if isinstance(model_id, str) and "embed" in model_id.lower():
        return EMBEDDINGS
    if body is None:
        return CHAT
    if "texts" in body or ("inputText" in body and ({"dimensions", "normalize", "embeddingTypes"} & body.keys())):
        return EMBEDDINGS
    if "messages" in body:
        return CHAT
    if "prompt" in body or "inputText" in body:
        return TEXT_COMPLETION
    return CHAT


def _converse(params: Mapping[str, Any], stream: bool) -> tuple[Api, dict[str, Any]]:
    return CONVERSE_API, {**params, "stream": stream}


def _invoke(params: Mapping[str, Any], stream: bool) -> tuple[Api, dict[str, Any]]:
    body = parse_body(params.get("body"))
    api = INVOKE_APIS[invoke_operation(params.get("modelId"), body)]
    return api, {**params, "stream": stream, BODY: body}


_OPERATIONS: dict[str, Callable[[Mapping[str, Any]], tuple[Api, dict[str, Any]]]] = {
    "Converse": functools.partial(_converse, stream=False),
    "ConverseStream": functools.partial(_converse, stream=True),
    "InvokeModel": functools.partial(_invoke, stream=False),
    "InvokeModelWithResponseStream": functools.partial(_invoke, stream=True),
}


def select_call(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Api, dict[str, Any]] | None:
    """The API and request fields of a Bedrock Runtime model call; ``None`` for every other AWS call."""
    operation = args[0] if args else kwargs.get("operation_name")
    # The operation name first: one dict lookup is all an S3 or DynamoDB call pays.
    choose = _OPERATIONS.get(operation) if isinstance(operation, str) else None
    if choose is None or instance.meta.service_model.service_name != SERVICE:
        return None
    params = args[1] if len(args) > 1 else kwargs.get("api_params")
    if not isinstance(params, Mapping):
        return None
    return choose(params)


PATCH_TARGETS: tuple[PatchTarget, ...] = (
    PatchTarget("botocore.client", "BaseClient._make_api_call", CONVERSE_API, select=select_call),
)


@functools.lru_cache(maxsize=64)
@functools.cache
def _event_stream_type() -> type[Any]:
    # botocore ships no type information; importlib keeps mypy from asking for stubs.
    stream_type: type[Any] = importlib.import_module("botocore.eventstream").EventStream
    return stream_type


class BedrockAdapter(Adapter):
    """AWS Bedrock Runtime via ``botocore`` (``boto3`` clients), sync only: boto3 has no async API.

    Wraps one method, ``BaseClient._make_api_call``, narrowed per call by :func:`select_call`.
    Bedrock streams always end with their usage.
    """

    name = "llmperf_bedrock"
    package = "botocore"
    requirement = "botocore >= 1.34"
    targets = PATCH_TARGETS
    model_argument = "modelId"

    def server(self, instance: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, str]:
        """The client's endpoint, and ``aws.bedrock``."""
        endpoint = getattr(getattr(instance, "meta", None), "endpoint_url", None)
        address, port = hosts.server_of(endpoint) if isinstance(endpoint, str) else (None, None)
        return address, port, PROVIDER

    def result_kind(self, result: Any) -> ResultKind:
        """A response holding an ``EventStream`` is a nested stream; anything else is complete."""
        return ResultKind.NESTED_STREAM if self.nested_stream(result) is not None else ResultKind.PARSED

    def nested_stream(self, result: Any) -> tuple[MutableMapping[str, Any], str] | None:
        """``(response, "stream")`` for ConverseStream, ``(response, "body")`` for InvokeModelWithResponseStream."""
        if not isinstance(result, MutableMapping):
            return None
        event_stream = _event_stream_type()
        for key in ("stream", "body"):
            if isinstance(result.get(key), event_stream):
                return result, key
        return None


ADAPTER = BedrockAdapter()
