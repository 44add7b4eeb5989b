# SPDX-License-Identifier: Apache-2.0
"""The Anthropic Messages API on the fake server: ``POST /anthropic/v1/messages``.

Point the SDK at ``http://127.0.0.1:PORT/anthropic`` (``anthropic.Anthropic(base_url=...)``).
Pure builders, as in :mod:`otel_llmperf.demo.wire`: a non-streaming ``Message`` body, or the
typed SSE events of a stream (``event:`` lines, no ``[DONE]``), in the order the real API sends
them: ``message_start``, then per content block ``content_block_start``, its deltas and
``content_block_stop`` (a ``ping`` after the first start), ``message_delta`` (stop reason and
cumulative usage) and ``message_stop``.

What the fake model produces:

* text ``tok1 tok2 ...`` (one ``text_delta`` per token), cut by ``max_tokens``
  (``stop_reason="max_tokens"``) or by the first ``stop_sequences`` entry the text reaches
  (``"stop_sequence"``, the sequence itself not included);
* JSON matching ``output_config.format`` (``json_schema``) when asked;
* one ``tool_use`` block (``input_json_delta`` pieces, ``"tool_use"``) when ``tool_choice`` is
  ``{"type": "tool", ...}`` or ``{"type": "any"}`` and tools are given;
* a ``thinking`` block before the answer (``thinking_delta`` events and a ``signature_delta``)
  when the behaviour has reasoning tokens (``x-fake-reasoning-tokens``) or the request enables
  ``thinking`` (3 tokens then); they count in ``output_tokens`` and in
  ``output_tokens_details.thinking_tokens``.

Usage follows Anthropic's accounting: ``input_tokens`` excludes the cache.
``cache_read_input_tokens`` is the behaviour's cached tokens (capped at the prompt), and a request
that marks ``cache_control`` anywhere writes half of the rest to the cache
(``cache_creation_input_tokens``). Errors use Anthropic's envelope
(``{"type": "error", "error": {"type": "rate_limit_error", "message": ...}}``); a mid-stream
fault is an ``event: error`` with an ``overloaded_error``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_llmperf.demo.routes import Route
from otel_llmperf.demo.wire import (
    PER_MESSAGE_TOKENS,
    Frame,
    InvalidRequest,
    JsonObject,
    OutputSpec,
    Reply,
    Stamp,
    content_text,
    count_words,
    example_for_schema,
    plain_pieces,
    split_pieces,
    sse_event,
    structured_text,
)

PATH = "/anthropic/v1/messages"
STREAM_ERROR_MESSAGE = "Overloaded (injected by the fake server)."
# Thinking tokens when the request enables thinking but the behaviour names none.
DEFAULT_THINKING_TOKENS = 3
# A summarised thinking block shows at most this many deltas, whatever the thinking tokens.
MAX_THINKING_DELTAS = 8
SIGNATURE = "c2lnbmF0dXJlLWZha2VsbG0="

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str, code: str, param: str | None = None) -> JsonObject:
    """Anthropic's error envelope for an HTTP status."""
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}


def stream_error_frame() -> bytes:
    """The mid-stream ``error`` event (the API's "overloaded" failure after a 200)."""
    payload = {"type": "error", "error": {"type": "overloaded_error", "message": STREAM_ERROR_MESSAGE}}
    return sse_event("error", payload)


# --- the request ------------------------------------------------------------------------


def input_tokens(body: Mapping[str, Any]) -> int:
    """Estimate the prompt: words of ``system`` and of every message, plus 3 per message."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: must be a non-empty array", "messages")
    system = body.get("system")
    total = count_words(content_text(system)) if system is not None else 0
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise InvalidRequest("messages: each message needs a role of 'user' or 'assistant'", "messages")
        total += PER_MESSAGE_TOKENS + count_words(content_text(message.get("content")))
    return max(1, total)


def _max_tokens(body: Mapping[str, Any]) -> int:
    limit = body.get("max_tokens")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequest("max_tokens: must be a positive integer", "max_tokens")
    return limit


def _stop_sequences(body: Mapping[str, Any]) -> list[str]:
    stops = body.get("stop_sequences")
    if stops is None:
        return []
    if not isinstance(stops, list) or not all(isinstance(stop, str) and stop for stop in stops):
        raise InvalidRequest("stop_sequences: must be an array of non-empty strings", "stop_sequences")
    return stops


def _caches_for_an_hour(value: Any) -> bool:
    """Whether a ``cache_control`` of the request asks for the 1-hour lifetime (``"ttl": "1h"``)."""
    if isinstance(value, dict):
        control = value.get("cache_control")
        if isinstance(control, dict) and control.get("ttl") == "1h":
            return True
        return any(_caches_for_an_hour(item) for item in value.values())
    if isinstance(value, list):
        return any(_caches_for_an_hour(item) for item in value)
    return False


def _uses_cache_control(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_uses_cache_control(item) for item in value.values())
    if isinstance(value, list):
        return any(_uses_cache_control(item) for item in value)
    return False


def _forced_tool(body: Mapping[str, Any]) -> JsonObject | None:
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, list) or not tools or not isinstance(choice, dict):
        return None
    named = [tool for tool in tools if isinstance(tool, dict) and isinstance(tool.get("name"), str)]
    if choice.get("type") == "tool":
        return next((tool for tool in named if tool["name"] == choice.get("name")), None)
    if choice.get("type") == "any":
        return named[0] if named else None
    return None


def _thinking_tokens(body: Mapping[str, Any], spec: OutputSpec) -> int:
    if spec.reasoning_tokens:
        return spec.reasoning_tokens
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        return DEFAULT_THINKING_TOKENS
    return 0


# --- what the model says ----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One generated message: its blocks' streamed pieces, stop reason and usage."""

    message_id: str
    model: str
    thinking: tuple[str, ...]
    kind: str  # "text" or "tool_use"
    pieces: tuple[str, ...]
    stop_reason: str
    stop_sequence: str | None
    usage: JsonObject
    tool: JsonObject | None = None

    @property
    def text(self) -> str:
        """The text (or the tool input JSON) of the answer block."""
        return "".join(self.pieces)


def _cut_at_stop(pieces: tuple[str, ...], stops: list[str]) -> tuple[tuple[str, ...], str | None]:
    text = ""
    for position, piece in enumerate(pieces):
        text += piece
        for stop in stops:
            if stop in text:
                return pieces[:position], stop
    return pieces, None


def generate(body: Mapping[str, Any], spec: OutputSpec, stamp: Stamp) -> Answer:
    """Decide the blocks, stop reason and usage of one Messages request."""
    prompt = input_tokens(body)
    limit = _max_tokens(body)
    stops = _stop_sequences(body)
    count = spec.output_tokens
    stop_reason, stop_sequence = "end_turn", None
    tool = _forced_tool(body)
    if tool is not None:
        schema = tool.get("input_schema")
        arguments = json.dumps(example_for_schema(schema, schema, 0) if isinstance(schema, dict) else {})
        pieces, kind, stop_reason = split_pieces(arguments, count), "tool_use", "tool_use"
        generated = count
    else:
        kind = "text"
        if limit < count:
            count, stop_reason = limit, "max_tokens"
        output_config = body.get("output_config")
        text_format = output_config.get("format") if isinstance(output_config, dict) else None
        structured = structured_text(text_format, count)
        pieces = plain_pieces(count) if structured is None else split_pieces(structured, count)
        pieces, stop_sequence = _cut_at_stop(pieces, stops)
        if stop_sequence is not None:
            stop_reason = "stop_sequence"
        # The stop sequence's own token was generated, though not returned.
        generated = len(pieces) + (1 if stop_sequence is not None else 0)
    thinking_tokens = _thinking_tokens(body, spec)
    thinking = tuple(f"think{i} " for i in range(1, min(thinking_tokens, MAX_THINKING_DELTAS) + 1))
    cache_read = min(spec.cached_tokens, prompt)
    cache_write = (prompt - cache_read) // 2 if _uses_cache_control(dict(body)) else 0
    hour = cache_write if _caches_for_an_hour(dict(body)) else 0
    usage: JsonObject = {
        "input_tokens": prompt - cache_read - cache_write,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        # Written with the lifetime the request's cache_control asked for (5 minutes unless "1h").
        "cache_creation": {"ephemeral_5m_input_tokens": cache_write - hour, "ephemeral_1h_input_tokens": hour},
        "output_tokens": generated + thinking_tokens,
        "service_tier": "standard",
    }
    if thinking_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    model = spec.response_model or str(body["model"])
    return Answer(f"msg_{stamp.token}", model, thinking, kind, pieces, stop_reason, stop_sequence, usage, tool)


# --- bodies and events ------------------------------------------------------------------


def _blocks(answer: Answer) -> list[JsonObject]:
    blocks: list[JsonObject] = []
    if answer.thinking:
        blocks.append({"type": "thinking", "thinking": "".join(answer.thinking), "signature": SIGNATURE})
    if answer.tool is not None:
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_{answer.message_id[4:]}",
                "name": answer.tool["name"],
                "input": json.loads(answer.text),
            }
        )
    else:
        blocks.append({"type": "text", "text": answer.text, "citations": None})
    return blocks


def _message(answer: Answer, content: list[JsonObject], done: bool) -> JsonObject:
    return {
        "id": answer.message_id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": answer.stop_reason if done else None,
        "stop_sequence": answer.stop_sequence if done else None,
        "usage": answer.usage if done else {**answer.usage, "output_tokens": 1},
    }


def message_body(answer: Answer) -> JsonObject:
    """A non-streaming ``Message``."""
    return _message(answer, _blocks(answer), done=True)


def stream_frames(answer: Answer) -> list[Frame]:
    """The SSE events of a streamed ``Message``; every output delta after the first is delayed."""
    frames: list[Frame] = []
    first_delta = True

    def add(event: JsonObject, delayed: bool = False) -> None:
        frames.append(Frame(sse_event(str(event["type"]), event), delayed))

    def delta(index: int, payload: JsonObject) -> None:
        nonlocal first_delta
        add({"type": "content_block_delta", "index": index, "delta": payload}, delayed=not first_delta)
        first_delta = False

    add({"type": "message_start", "message": _message(answer, [], done=False)})
    index = 0
    if answer.thinking:
        add({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}})
        add({"type": "ping"})
        for piece in answer.thinking:
            delta(index, {"type": "thinking_delta", "thinking": piece})
        add(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "signature_delta", "signature": SIGNATURE},
            }
        )
        add({"type": "content_block_stop", "index": index})
        index += 1
    if answer.tool is not None:
        start: JsonObject = {
            "type": "tool_use",
            "id": f"toolu_{answer.message_id[4:]}",
            "name": answer.tool["name"],
            "input": {},
        }
        add({"type": "content_block_start", "index": index, "content_block": start})
        if index == 0:
            add({"type": "ping"})
        for piece in answer.pieces:
            delta(index, {"type": "input_json_delta", "partial_json": piece})
    else:
        add({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
        if index == 0:
            add({"type": "ping"})
        for piece in answer.pieces:
            delta(index, {"type": "text_delta", "text": piece})
    add({"type": "content_block_stop", "index": index})
    usage = {key: answer.usage[key] for key in answer.usage if key not in ("cache_creation", "service_tier")}
    add(
        {
            "type": "message_delta",
            "delta": {"stop_reason": answer.stop_reason, "stop_sequence": answer.stop_sequence},
            "usage": usage,
        }
    )
    add({"type": "message_stop"})
    return frames


def messages_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /anthropic/v1/messages``."""
    answer = generate(request.body, spec, stamp)
    tokens = max(1, len(answer.pieces) + len(answer.thinking))
    if not stream:
        return Reply(body=message_body(answer), tokens=tokens)
    return Reply(frames=stream_frames(answer), done=False, error_frame=lambda _position: stream_error_frame())


def response_headers(request: Any, reply: Reply) -> dict[str, str]:
    """The ``request-id`` header the SDK exposes as ``_request_id``."""
    return {"request-id": f"req_{uuid.uuid4().hex}"}


def routes() -> list[Route]:
    """The Anthropic Messages API's route (see :mod:`otel_llmperf.demo.routes`)."""
    return [Route("POST", re.escape(PATH), messages_reply, error=error_body, headers=response_headers)]
