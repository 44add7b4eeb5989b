# SPDX-License-Identifier: Apache-2.0
"""Pure builders for the fake server's OpenAI-compatible JSON bodies and SSE frames (no I/O; ids and clock injected)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]

SYSTEM_FINGERPRINT = "fp_fakellm"
SERVICE_TIER = "default"
# Real chat chunks and responses carry this many framing tokens per message; the exact number only
# has to be deterministic, but a non-zero overhead keeps estimates in a plausible range.
PER_MESSAGE_TOKENS = 3
MAX_EMBEDDING_INPUTS = 2048
MAX_CHOICES = 128
MAX_DIMENSIONS = 4096
DEFAULT_DIMENSIONS = 8
STREAM_ERROR_MESSAGE = "The server had an error while streaming the response (injected by the fake server)."
# JSON schemas can be recursive ($ref cycles); the example builder stops descending here.
MAX_SCHEMA_DEPTH = 12

DONE_FRAME = b"data: [DONE]\n\n"
# The zero-length chunk that ends an HTTP/1.1 chunked body; omitting it is how a disconnect is simulated.
LAST_CHUNK = b"0\r\n\r\n"


class InvalidRequest(ValueError):
    """A request body the fake rejects with HTTP 400, naming the offending parameter."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Frame:
    """One SSE event; `delayed` marks frames the server sleeps `token_delay` before sending."""

    data: bytes
    delayed: bool = False


@dataclass(frozen=True)
class Usage:
    """Token accounting for one request; `output_tokens` already includes the hidden reasoning tokens."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def chat(self) -> JsonObject:
        """The `usage` object of chat and legacy completions."""
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def responses(self) -> JsonObject:
        """The `usage` object of the Responses API."""
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class Generation:
    """What the fake model produced for one request: `pieces` is the text of each output token, per choice."""

    response_id: str
    model: str
    created: int
    pieces: tuple[str, ...]
    usage: Usage
    choices: int = 1
    finish_reason: str = "stop"
    fingerprint: str = SYSTEM_FINGERPRINT

    @property
    def text(self) -> str:
        """The full text of one choice."""
        return "".join(self.pieces)


@dataclass(frozen=True)
class OutputSpec:
    """What the configured behaviour asks the output to look like (timing and faults are not the builders' job)."""

    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    response_model: str | None = None
    system_fingerprint: str = SYSTEM_FINGERPRINT


@dataclass(frozen=True)
class Stamp:
    """The unique id suffix and the Unix time a reply is built with, injected so that builders stay pure."""

    token: str
    now: int


@dataclass
class Reply:
    """An endpoint's answer before faults and timing: a JSON `body`, or SSE `frames` for a stream."""

    body: JsonObject | None = None
    frames: list[Frame] | None = None
    # Chat and legacy completion streams end with `data: [DONE]`; Responses streams do not.
    done: bool = True
    # What the stream's events are framed as (Bedrock streams are AWS event-stream binary).
    content_type: str = "text/event-stream"
    # Builds the mid-stream error event given its position (the Responses API numbers its events).
    error_frame: Callable[[int], bytes] | None = None
    # Output tokens per choice: a non-streaming reply waits as long as streaming them would take.
    tokens: int = 1


# ---------------------------------------------------------------------------------------------------------------
# Framing


def sse_data(payload: JsonObject) -> bytes:
    """A `data:`-only SSE event, as chat and legacy completions stream them."""
    return b"data: " + _dumps(payload) + b"\n\n"


def sse_event(event_type: str, payload: JsonObject) -> bytes:
    """An SSE event with an `event:` line, as the Responses API streams them."""
    return b"event: " + event_type.encode("ascii") + b"\ndata: " + _dumps(payload) + b"\n\n"


def http_chunk(data: bytes) -> bytes:
    """Frame bytes as one HTTP/1.1 chunk (hex size line, data, CRLF)."""
    return f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n"


def error_body(message: str, error_type: str, code: str | None, param: str | None = None) -> JsonObject:
    """An OpenAI-style error envelope."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _dumps(payload: JsonObject) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Input token estimates


def count_words(text: str) -> int:
    """Whitespace-separated words in `text`."""
    return len(text.split())


def content_text(content: Any) -> str:
    """The text of a message `content`: a string, or a list of parts carrying `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
        texts += [part for part in content if isinstance(part, str)]
        return " ".join(texts)
    return ""


def chat_input_tokens(messages: Any) -> int:
    """Estimate prompt tokens of a chat `messages` list; rejects anything but a non-empty list of objects."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", "messages")
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            raise InvalidRequest("each message must be an object", "messages")
        total += PER_MESSAGE_TOKENS + count_words(content_text(message.get("content")))
    return max(1, total)


def responses_input_tokens(input_value: Any, instructions: Any) -> int:
    """Estimate input tokens of a Responses `input` (string or item list) plus string `instructions`."""
    total = count_words(instructions) if isinstance(instructions, str) else 0
    if isinstance(input_value, str):
        total += count_words(input_value)
    elif isinstance(input_value, list):
        for item in input_value:
            if isinstance(item, str):
                total += count_words(item)
            elif isinstance(item, dict):
                total += PER_MESSAGE_TOKENS + count_words(content_text(item.get("content")))
    elif input_value is not None:
        raise InvalidRequest("'input' must be a string or an array", "input")
    return max(1, total)


def prompt_tokens(prompt: Any) -> int:
    """Estimate tokens of a legacy `prompt`: string, list of strings, token array or list of token arrays."""
    if isinstance(prompt, str):
        return max(1, count_words(prompt))
    if isinstance(prompt, list) and prompt:
        if all(isinstance(item, int) for item in prompt):
            return len(prompt)
        total = 0
        for item in prompt:
            if isinstance(item, str):
                total += count_words(item)
            elif isinstance(item, list) and all(isinstance(tok, int) for tok in item):
                total += len(item)
            else:
                raise InvalidRequest("'prompt' items must be strings or token arrays", "prompt")
        return max(1, total)
    raise InvalidRequest("'prompt' must be a string or a non-empty array", "prompt")


def embedding_inputs(input_value: Any) -> list[tuple[str, int]]:
    """Normalise an embeddings `input` into (seed text, token count) per vector to return."""
    if isinstance(input_value, str):
        items: list[Any] = [input_value]
    elif isinstance(input_value, list) and input_value:
        # A flat list of ints is ONE tokenised input, not many.
        items = [input_value] if all(isinstance(item, int) for item in input_value) else list(input_value)
    else:
        raise InvalidRequest("'input' must be a non-empty string or array", "input")
    if len(items) > MAX_EMBEDDING_INPUTS:
        raise InvalidRequest(f"'input' may hold at most {MAX_EMBEDDING_INPUTS} items", "input")
    result: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, str) and item:
            result.append((item, max(1, count_words(item))))
        elif isinstance(item, list) and item and all(isinstance(tok, int) for tok in item):
            result.append((",".join(map(str, item)), len(item)))
        else:
            raise InvalidRequest("'input' items must be non-empty strings or token arrays", "input")
    return result


# ---------------------------------------------------------------------------------------------------------------
# Output text


def include_usage(body: Mapping[str, Any]) -> bool:
    """Whether a streaming request asked for the final usage chunk."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def generate(
    body: Mapping[str, Any],
    spec: OutputSpec,
    stamp: Stamp,
    id_prefix: str,
    input_tokens: int,
    response_format: Any,
    honour_max_tokens: bool = True,
) -> Generation:
    """Decide the output pieces and the usage of one text-generating request."""
    choices = body.get("n", 1)
    if choices is None:
        choices = 1
    if isinstance(choices, bool) or not isinstance(choices, int) or not 1 <= choices <= MAX_CHOICES:
        raise InvalidRequest(f"'n' must be an integer between 1 and {MAX_CHOICES}", "n")
    count = spec.output_tokens
    finish_reason = "stop"
    if honour_max_tokens:
        for name in ("max_completion_tokens", "max_tokens"):
            limit = body.get(name)
            if limit is None:
                continue
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise InvalidRequest(f"'{name}' must be a positive integer", name)
            if limit < count:
                count, finish_reason = limit, "length"
    structured = structured_text(response_format, count)
    pieces = plain_pieces(count) if structured is None else split_pieces(structured, count)
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=choices * (count + spec.reasoning_tokens),
        # The real API never reports more cached than prompt tokens; instrumentation may rely on that.
        cached_tokens=min(spec.cached_tokens, input_tokens),
        reasoning_tokens=choices * spec.reasoning_tokens,
    )
    model = spec.response_model or body["model"]
    return Generation(
        f"{id_prefix}{stamp.token}", model, stamp.now, pieces, usage, choices, finish_reason, spec.system_fingerprint
    )


def plain_pieces(count: int) -> tuple[str, ...]:
    """The deterministic plain-text output: `tok1 `, `tok2 `, ... one piece per token."""
    return tuple(f"tok{i} " for i in range(1, count + 1))


def split_pieces(text: str, count: int) -> tuple[str, ...]:
    """Split `text` into exactly `count` pieces, padding with trailing spaces (still valid JSON) if short."""
    if len(text) < count:
        text += " " * (count - len(text))
    size = len(text)
    return tuple(text[i * size // count : (i + 1) * size // count] for i in range(count))


def structured_text(response_format: Any, count: int) -> str | None:
    """JSON text satisfying a chat `response_format` or Responses `text.format`; None for plain text."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return json.dumps({"answer": " ".join(f"tok{i}" for i in range(1, count + 1))})
    if kind == "json_schema":
        # Chat nests the schema under `json_schema`; the Responses API puts it on the format itself.
        holder = response_format.get("json_schema", response_format)
        schema = holder.get("schema") if isinstance(holder, dict) else None
        if not isinstance(schema, dict):
            return json.dumps({})
        return json.dumps(example_for_schema(schema, schema, 0))
    return None


_STRING_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def example_for_schema(schema: Any, root: Mapping[str, Any], depth: int) -> Any:
    """A minimal instance of a (simple) JSON schema: objects, arrays, scalars, enums, anyOf and local $refs."""
    if not isinstance(schema, dict) or depth > MAX_SCHEMA_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return example_for_schema(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            # Prefer a non-null branch so Optional[...] fields get a real value.
            chosen = next((opt for opt in options if isinstance(opt, dict) and opt.get("type") != "null"), options[0])
            return example_for_schema(chosen, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {name: example_for_schema(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        min_items = schema.get("minItems", 1)
        count = min(max(min_items if isinstance(min_items, int) else 1, 1), 8)
        return [example_for_schema(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind == "string":
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _STRING_FORMATS:
            return _STRING_FORMATS[fmt]
        min_length = schema.get("minLength", 0)
        return "tok" + "x" * max(0, (min_length if isinstance(min_length, int) else 0) - 3)
    if kind == "integer":
        return _bounded_number(schema, 1)
    if kind == "number":
        return _bounded_number(schema, 1.5)
    if kind == "boolean":
        return True
    return None


def _bounded_number(schema: Mapping[str, Any], preferred: float) -> Any:
    value = preferred
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if isinstance(low, (int, float)) and value <= low:
        value = low + 1
    if isinstance(high, (int, float)) and value >= high:
        value = (low + high) / 2 if isinstance(low, (int, float)) else high - 1
    return int(value) if isinstance(preferred, int) else float(value)


# ---------------------------------------------------------------------------------------------------------------
# Chat completions


def chat_completion_body(gen: Generation) -> JsonObject:
    """A non-streaming `chat.completion` object."""
    return {
        "id": gen.response_id,
        "object": "chat.completion",
        "created": gen.created,
        "model": gen.model,
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": gen.text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": gen.finish_reason,
            }
            for index in range(gen.choices)
        ],
        "usage": gen.usage.chat(),
        "service_tier": SERVICE_TIER,
        "system_fingerprint": gen.fingerprint,
    }


def chat_stream_frames(gen: Generation, include_usage: bool) -> list[Frame]:
    """The `chat.completion.chunk` frames of a stream, without the trailing `[DONE]`."""

    def chunk(choices: list[JsonObject]) -> JsonObject:
        body: JsonObject = {
            "id": gen.response_id,
            "object": "chat.completion.chunk",
            "created": gen.created,
            "model": gen.model,
            "service_tier": SERVICE_TIER,
            "system_fingerprint": gen.fingerprint,
            "choices": choices,
        }
        if include_usage:
            # OpenAI sends an explicit null on every chunk once usage was asked for.
            body["usage"] = None
        return body

    def choice(index: int, delta: JsonObject, finish_reason: str | None) -> JsonObject:
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    frames = [
        Frame(sse_data(chunk([choice(index, {"role": "assistant", "content": ""}, None)])))
        for index in range(gen.choices)
    ]
    last = len(gen.pieces) - 1
    for position, piece in enumerate(gen.pieces):
        finish = gen.finish_reason if position == last else None
        for index in range(gen.choices):
            delayed = position > 0 and index == 0
            frames.append(Frame(sse_data(chunk([choice(index, {"content": piece}, finish)])), delayed))
    if include_usage:
        final = chunk([])
        final["usage"] = gen.usage.chat()
        frames.append(Frame(sse_data(final)))
    return frames


def stream_error_frame(message: str) -> bytes:
    """The mid-stream error event of chat and legacy completions (the SDK raises APIError on it)."""
    return sse_data(error_body(message, "server_error", "server_error"))


# ---------------------------------------------------------------------------------------------------------------
# Legacy completions


def completion_body(gen: Generation) -> JsonObject:
    """A non-streaming `text_completion` object."""
    return {
        "id": gen.response_id,
        "object": "text_completion",
        "created": gen.created,
        "model": gen.model,
        "system_fingerprint": gen.fingerprint,
        "choices": [
            {"text": gen.text, "index": index, "logprobs": None, "finish_reason": gen.finish_reason}
            for index in range(gen.choices)
        ],
        "usage": gen.usage.chat(),
    }


def completion_stream_frames(gen: Generation, include_usage: bool) -> list[Frame]:
    """The `text_completion` chunks of a legacy stream, without the trailing `[DONE]`."""

    def chunk(choices: list[JsonObject]) -> JsonObject:
        body: JsonObject = {
            "id": gen.response_id,
            "object": "text_completion",
            "created": gen.created,
            "model": gen.model,
            "system_fingerprint": gen.fingerprint,
            "choices": choices,
        }
        if include_usage:
            body["usage"] = None
        return body

    frames: list[Frame] = []
    last = len(gen.pieces) - 1
    for position, piece in enumerate(gen.pieces):
        finish = gen.finish_reason if position == last else None
        for index in range(gen.choices):
            text_choice = {"text": piece, "index": index, "logprobs": None, "finish_reason": finish}
            frames.append(Frame(sse_data(chunk([text_choice])), position > 0 and index == 0))
    if include_usage:
        final = chunk([])
        final["usage"] = gen.usage.chat()
        frames.append(Frame(sse_data(final)))
    return frames


# ---------------------------------------------------------------------------------------------------------------
# Responses API

# Request fields the real API echoes back on the Response object, with its defaults.
_ECHOED_RESPONSE_FIELDS: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
}


def response_body(
    gen: Generation,
    request: Mapping[str, Any],
    message_id: str,
    *,
    status: str = "completed",
    completed_at: int | None = None,
) -> JsonObject:
    """A Responses API `response` object; an `in_progress` one has no output and no usage yet."""
    done = status == "completed"
    body: JsonObject = {
        "id": gen.response_id,
        "object": "response",
        "created_at": gen.created,
        "status": status,
        "background": False,
        "completed_at": completed_at if done else None,
        "error": None,
        "incomplete_details": None,
        "model": gen.model,
        "output": [_output_message(message_id, gen.text, "completed")] if done else [],
        "service_tier": SERVICE_TIER,
        "usage": gen.usage.responses() if done else None,
    }
    for name, default in _ECHOED_RESPONSE_FIELDS.items():
        value = request.get(name)
        body[name] = default if value is None else value
    return body


def _output_message(message_id: str, text: str, status: str) -> JsonObject:
    content = [_output_text(text)] if status == "completed" else []
    return {"id": message_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _output_text(text: str) -> JsonObject:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def responses_stream_frames(
    gen: Generation, request: Mapping[str, Any], message_id: str, completed_at: int
) -> list[Frame]:
    """The typed SSE events of a Responses stream, in the order and shape the real API sends them."""
    events: list[tuple[JsonObject, bool]] = []

    def add(event: JsonObject, delayed: bool = False) -> None:
        events.append((event, delayed))

    in_progress = response_body(gen, request, message_id, status="in_progress")
    where: JsonObject = {"item_id": message_id, "output_index": 0, "content_index": 0}
    add({"type": "response.created", "response": in_progress})
    add({"type": "response.in_progress", "response": in_progress})
    add(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _output_message(message_id, "", "in_progress"),
        }
    )
    add({"type": "response.content_part.added", **where, "part": _output_text("")})
    for position, piece in enumerate(gen.pieces):
        add({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}, position > 0)
    add({"type": "response.output_text.done", **where, "text": gen.text, "logprobs": []})
    add({"type": "response.content_part.done", **where, "part": _output_text(gen.text)})
    add(
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": _output_message(message_id, gen.text, "completed"),
        }
    )
    completed = response_body(gen, request, message_id, completed_at=completed_at)
    add({"type": "response.completed", "response": completed})
    frames = []
    for sequence_number, (event, delayed) in enumerate(events):
        event["sequence_number"] = sequence_number
        frames.append(Frame(sse_event(event["type"], event), delayed))
    return frames


def responses_error_frame(message: str, sequence_number: int) -> bytes:
    """A Responses `error` event; the nested `error` object is what makes the SDK raise APIError."""
    details = error_body(message, "server_error", "server_error")["error"]
    payload = {"type": "error", **details, "sequence_number": sequence_number, "error": details}
    return sse_event("error", payload)


# ---------------------------------------------------------------------------------------------------------------
# Embeddings and models


def embedding_vector(seed_text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `seed_text`, exactly representable as float32."""
    raw = hashlib.shake_256(seed_text.encode("utf-8")).digest(4 * dimensions)
    values = [(word / 0xFFFFFFFF) * 2.0 - 1.0 for word in struct.unpack(f"<{dimensions}I", raw)]
    norm = sum(value * value for value in values) ** 0.5 or 1.0
    # Round-trip through float32 so the "float" and "base64" encodings carry identical numbers.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in values))))


def embeddings_body(inputs: Sequence[tuple[str, int]], model: str, dimensions: int, encoding_format: str) -> JsonObject:
    """A `list` of embeddings; `base64` packs little-endian float32 like the real API."""
    data = []
    for index, (seed_text, _tokens) in enumerate(inputs):
        vector = embedding_vector(seed_text, dimensions)
        encoded: Any = vector
        if encoding_format == "base64":
            encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(count for _seed, count in inputs)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def models_body(models: Sequence[str], created: int) -> JsonObject:
    """The `GET /v1/models` list."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "otel-llmperf-fake"} for name in models
        ],
    }
