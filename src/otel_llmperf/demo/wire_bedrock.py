# SPDX-License-Identifier: Apache-2.0
"""The fake server's AWS Bedrock Runtime wire format (pure builders, no I/O).

Routes, under the ``/bedrock`` prefix (point boto3 at ``endpoint_url=http://127.0.0.1:PORT/bedrock``):

* ``POST /bedrock/model/{modelId}/converse`` and ``/converse-stream`` -- the Converse API; the stream is
  AWS event-stream binary (``application/vnd.amazon.eventstream``): ``messageStart``, one
  ``contentBlockDelta`` per token, ``contentBlockStop``, ``messageStop``, ``metadata`` (usage, metrics).
* ``POST /bedrock/model/{modelId}/invoke`` and ``/invoke-with-response-stream`` -- the model's native
  JSON: Anthropic Messages for a body with ``messages``, Meta Llama (``generation``) for a body with
  ``prompt``, Titan embeddings (``embedding``) for a model id containing ``embed``. Streams wrap each
  native event in a ``chunk`` event (``{"bytes": base64}``); the last one carries
  ``amazon-bedrock-invocationMetrics``. Non-streaming replies carry the token counts in the
  ``x-amzn-bedrock-*-token-count`` headers, as Bedrock sends them.

Model ids arrive URL-encoded in the path (botocore escapes ``:``); they are decoded. Usage follows
Bedrock's semantics: ``inputTokens`` counts the input tokens *not* read from the cache, and
``cacheReadInputTokens`` the cached ones (``x-fake-cached-tokens``); reasoning tokens are included
in ``outputTokens``. Errors are ``{"message": ...}`` bodies with ``__type`` naming the AWS error
(429 ``ThrottlingException``, 500 ``InternalServerException``, 400 ``ValidationException``), which
botocore turns into its modeled exceptions; a mid-stream error is an event-stream ``exception``
message (``modelStreamErrorException``).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import uuid
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from otel_llmperf.demo.routes import Route
from otel_llmperf.demo.wire import (
    PER_MESSAGE_TOKENS,
    Frame,
    Generation,
    InvalidRequest,
    JsonObject,
    OutputSpec,
    Reply,
    Stamp,
    chat_input_tokens,
    count_words,
    embedding_vector,
    generate,
)

PREFIX = "/bedrock/model/"
EVENT_STREAM = "application/vnd.amazon.eventstream"
STREAM_ERROR_MESSAGE = "The model stream failed (injected by the fake server)."
# AWS error names for the HTTP statuses the fake server produces.
ERROR_TYPES = {
    400: "ValidationException",
    404: "ResourceNotFoundException",
    413: "ValidationException",
    429: "ThrottlingException",
    500: "InternalServerException",
}
# Fake generation reasons in Bedrock's words: Converse stopReason, Anthropic and Llama stop_reason.
CONVERSE_REASONS = {"stop": "end_turn", "length": "max_tokens"}
LLAMA_REASONS = {"stop": "stop", "length": "length"}
_STRING_HEADER = 7  # event-stream header value type: UTF-8 string with a 2-byte length


# ---------------------------------------------------------------------------------------------------------------
# AWS event-stream framing


def event_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths + CRC32), string headers, payload, message CRC32."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        encoded += struct.pack(">B", len(raw_name)) + raw_name
        encoded += struct.pack(">BH", _STRING_HEADER, len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message) & 0xFFFFFFFF)


def event(event_type: str, payload: JsonObject) -> bytes:
    """An ``event`` message of type ``event_type`` with a JSON payload."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return event_message(headers, _dumps(payload))


def exception(exception_type: str, message: str) -> bytes:
    """An ``exception`` message, which botocore raises as ``EventStreamError`` with that code."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return event_message(headers, _dumps({"message": message}))


def chunk_event(native: JsonObject) -> bytes:
    """An InvokeModelWithResponseStream ``chunk``: the native JSON event, base64 in ``bytes``."""
    return event("chunk", {"bytes": base64.b64encode(_dumps(native)).decode("ascii")})


def stream_error_frame(_position: int) -> bytes:
    """The mid-stream error both Bedrock streams send when the model fails."""
    return exception("modelStreamErrorException", STREAM_ERROR_MESSAGE)


def _dumps(payload: JsonObject) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Requests


def model_id(request: Any) -> str | None:
    """The model id from the path (botocore URL-encodes it)."""
    raw = request.params.get("model")
    return unquote(raw) if isinstance(raw, str) and raw else None


def error(status: int, message: str, code: str, param: str | None = None) -> JsonObject:
    """Bedrock's JSON error: ``message`` and the AWS error name botocore reads from ``__type``."""
    return {"__type": ERROR_TYPES.get(status, "ValidationException"), "message": message}


def _converse_input_tokens(body: Mapping[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", "messages")
    tokens = chat_input_tokens(messages)  # Converse content blocks carry "text" like OpenAI parts
    system = body.get("system")
    if isinstance(system, list):
        texts = [block.get("text") for block in system if isinstance(block, dict)]
        tokens += PER_MESSAGE_TOKENS + sum(count_words(text) for text in texts if isinstance(text, str))
    return tokens


def _generation(
    model: str, max_tokens: Any, spec: OutputSpec, stamp: Stamp, input_tokens: int, prefix: str
) -> Generation:
    body: JsonObject = {"model": model}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return generate(body, spec, stamp, prefix, input_tokens, None)


def _cache_split(gen: Generation) -> tuple[int, int]:
    # Bedrock reports the uncached input apart from the cache reads.
    return gen.usage.input_tokens - gen.usage.cached_tokens, gen.usage.cached_tokens


# ---------------------------------------------------------------------------------------------------------------
# Converse


def converse_usage(gen: Generation, cache_point: JsonObject | None = None) -> JsonObject:
    """A Converse ``usage`` object; cache fields only when the cache was read or written.

    A ``cachePoint`` in the request writes half the uncached input to the cache, reported with
    its lifetime in ``cacheDetails`` (the ``ttl`` asked for, else ``5m``), as Bedrock does.
    """
    uncached, cached = _cache_split(gen)
    written = uncached // 2 if cache_point is not None else 0
    uncached -= written
    usage: JsonObject = {
        "inputTokens": uncached,
        "outputTokens": gen.usage.output_tokens,
        "totalTokens": uncached + cached + written + gen.usage.output_tokens,
    }
    if cached or written:
        usage["cacheReadInputTokens"] = cached
        usage["cacheWriteInputTokens"] = written
    if written and cache_point is not None:
        usage["cacheDetails"] = [{"ttl": str(cache_point.get("ttl") or "5m"), "inputTokens": written}]
    return usage


def _cache_point(value: Any) -> JsonObject | None:
    """The first ``cachePoint`` block anywhere in a Converse request, if any."""
    if isinstance(value, dict):
        point = value.get("cachePoint")
        if isinstance(point, dict):
            return point
        values: Any = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return None
    for item in values:
        found = _cache_point(item)
        if found is not None:
            return found
    return None


def converse_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /model/{modelId}/converse`` and ``/converse-stream``."""
    body = request.body or {}
    model = model_id(request) or ""
    config = body.get("inferenceConfig")
    max_tokens = config.get("maxTokens") if isinstance(config, dict) else None
    gen = _generation(model, max_tokens, spec, stamp, _converse_input_tokens(body), "")
    reason = CONVERSE_REASONS[gen.finish_reason]
    metrics = {"latencyMs": 1 + len(gen.pieces)}
    if not stream:
        reply = {
            "output": {"message": {"role": "assistant", "content": [{"text": gen.text}]}},
            "stopReason": reason,
            "usage": converse_usage(gen, _cache_point(body)),
            "metrics": metrics,
        }
        return Reply(body=reply, tokens=len(gen.pieces))
    frames = [Frame(event("messageStart", {"role": "assistant"}))]
    for position, piece in enumerate(gen.pieces):
        frames.append(
            Frame(event("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}), position > 0)
        )
    frames.append(Frame(event("contentBlockStop", {"contentBlockIndex": 0})))
    frames.append(Frame(event("messageStop", {"stopReason": reason})))
    usage = converse_usage(gen, _cache_point(body))
    frames.append(Frame(event("metadata", {"usage": usage, "metrics": metrics})))
    return Reply(frames=frames, done=False, content_type=EVENT_STREAM, error_frame=stream_error_frame)


# ---------------------------------------------------------------------------------------------------------------
# InvokeModel: native bodies


def invocation_metrics(gen: Generation) -> JsonObject:
    """The ``amazon-bedrock-invocationMetrics`` object of a stream's last chunk."""
    uncached, cached = _cache_split(gen)
    metrics: JsonObject = {
        "inputTokenCount": uncached,
        "outputTokenCount": gen.usage.output_tokens,
        "invocationLatency": 1 + len(gen.pieces),
        "firstByteLatency": 1,
    }
    if cached:
        metrics["cacheReadInputTokenCount"] = cached
        metrics["cacheWriteInputTokenCount"] = 0
    return metrics


def _anthropic_usage(gen: Generation) -> JsonObject:
    uncached, cached = _cache_split(gen)
    return {
        "input_tokens": uncached,
        "output_tokens": gen.usage.output_tokens,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def _anthropic_reply(body: Mapping[str, Any], model: str, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    tokens = chat_input_tokens(body.get("messages"))
    system = body.get("system")
    if isinstance(system, str):
        tokens += PER_MESSAGE_TOKENS + count_words(system)
    gen = _generation(model, body.get("max_tokens"), spec, stamp, tokens, "msg_bdrk_")
    reason = CONVERSE_REASONS[gen.finish_reason]  # Anthropic says end_turn / max_tokens too
    # Anthropic names the model without Bedrock's provider prefix and version suffix.
    response_model = spec.response_model or re.sub(r"-v\d+(:\d+)?$", "", model.split(".", 1)[-1])
    if not stream:
        message = {
            "id": gen.response_id,
            "type": "message",
            "role": "assistant",
            "model": response_model,
            "content": [{"type": "text", "text": gen.text}],
            "stop_reason": reason,
            "stop_sequence": None,
            "usage": _anthropic_usage(gen),
        }
        return Reply(body=message, tokens=len(gen.pieces))
    start: JsonObject = {
        "id": gen.response_id,
        "type": "message",
        "role": "assistant",
        "model": response_model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**_anthropic_usage(gen), "output_tokens": 1},
    }
    natives: list[tuple[JsonObject, bool]] = [
        ({"type": "message_start", "message": start}, False),
        ({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, False),
    ]
    for position, piece in enumerate(gen.pieces):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        natives.append((delta, position > 0))
    natives.append(({"type": "content_block_stop", "index": 0}, False))
    stop_delta = {"stop_reason": reason, "stop_sequence": None}
    natives.append(({"type": "message_delta", "delta": stop_delta, "usage": {"output_tokens": len(gen.pieces)}}, False))
    natives.append(({"type": "message_stop", "amazon-bedrock-invocationMetrics": invocation_metrics(gen)}, False))
    return _chunk_reply(natives)


def _llama_reply(body: Mapping[str, Any], model: str, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("'prompt' must be a non-empty string", "prompt")
    gen = _generation(model, body.get("max_gen_len"), spec, stamp, max(1, count_words(prompt)), "")
    reason = LLAMA_REASONS[gen.finish_reason]
    if not stream:
        native = {
            "generation": gen.text,
            "prompt_token_count": gen.usage.input_tokens,
            "generation_token_count": gen.usage.output_tokens,
            "stop_reason": reason,
        }
        return Reply(body=native, tokens=len(gen.pieces))
    natives: list[tuple[JsonObject, bool]] = []
    last = len(gen.pieces) - 1
    for position, piece in enumerate(gen.pieces):
        native = {
            "generation": piece,
            "prompt_token_count": gen.usage.input_tokens if position == 0 else None,
            "generation_token_count": position + 1,
            "stop_reason": reason if position == last else None,
        }
        if position == last:
            native["amazon-bedrock-invocationMetrics"] = invocation_metrics(gen)
        natives.append((native, position > 0))
    return _chunk_reply(natives)


def _embedding_reply(body: Mapping[str, Any], spec: OutputSpec, stream: bool) -> Reply:
    if stream:
        raise InvalidRequest("embedding models cannot be streamed", "modelId")
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        raise InvalidRequest("'inputText' must be a non-empty string", "inputText")
    dimensions = body.get("dimensions", 8)
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
        raise InvalidRequest("'dimensions' must be an integer between 1 and 4096", "dimensions")
    tokens = max(1, count_words(text))
    return Reply(body={"embedding": embedding_vector(text, dimensions), "inputTextTokenCount": tokens})


def _chunk_reply(natives: list[tuple[JsonObject, bool]]) -> Reply:
    frames = [Frame(chunk_event(native), delayed) for native, delayed in natives]
    return Reply(frames=frames, done=False, content_type=EVENT_STREAM, error_frame=stream_error_frame)


def invoke_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /model/{modelId}/invoke`` and ``/invoke-with-response-stream``: the native format by body shape."""
    body = request.body or {}
    model = model_id(request) or ""
    if "embed" in model:
        return _embedding_reply(body, spec, stream)
    if "messages" in body:
        return _anthropic_reply(body, model, spec, stream, stamp)
    if "prompt" in body:
        return _llama_reply(body, model, spec, stream, stamp)
    raise InvalidRequest("the body must hold 'messages' (Anthropic) or 'prompt' (Llama)", "body")


def request_id_header(request: Any, reply: Reply) -> Mapping[str, str]:
    """``x-amzn-RequestId``, which botocore returns as ``ResponseMetadata.RequestId``."""
    return {"x-amzn-RequestId": str(uuid.uuid4())}


def invoke_headers(request: Any, reply: Reply) -> Mapping[str, str]:
    """Bedrock's token-count headers of a non-streaming InvokeModel reply, read off the native body."""
    body = reply.body
    if body is None:
        return request_id_header(request, reply)
    usage = body.get("usage")
    if isinstance(usage, dict):  # Anthropic
        counts = {
            "input": usage.get("input_tokens"),
            "output": usage.get("output_tokens"),
            "cache-read-input": usage.get("cache_read_input_tokens") or None,
        }
    elif "embedding" in body:
        counts = {"input": body.get("inputTextTokenCount")}
    else:  # Llama
        counts = {"input": body.get("prompt_token_count"), "output": body.get("generation_token_count")}
    headers = {f"x-amzn-bedrock-{name}-token-count": str(value) for name, value in counts.items() if value is not None}
    headers["x-amzn-bedrock-invocation-latency"] = "1"
    return {**headers, **request_id_header(request, reply)}


# ---------------------------------------------------------------------------------------------------------------
# Routes


def routes() -> list[Route]:
    """The Bedrock Runtime routes (see :mod:`otel_llmperf.demo.routes`)."""

    def route(suffix: str, build: Callable[[Any, OutputSpec, bool, Stamp], Reply], stream: bool, **extra: Any) -> Route:
        pattern = re.escape(PREFIX) + r"(?P<model>[^/]+)/" + re.escape(suffix)
        return Route("POST", pattern, build, model=model_id, stream=lambda _request: stream, error=error, **extra)

    return [
        route("converse", converse_reply, False, headers=request_id_header),
        route("converse-stream", converse_reply, True, headers=request_id_header),
        route("invoke", invoke_reply, False, headers=invoke_headers),
        route("invoke-with-response-stream", invoke_reply, True, headers=request_id_header),
    ]
