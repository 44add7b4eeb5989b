# SPDX-License-Identifier: Apache-2.0
"""The Cohere v2 API on the fake server: ``POST /cohere/v2/chat`` and ``POST /cohere/v2/embed``.

Point the SDK at ``http://127.0.0.1:PORT/cohere`` (``cohere.ClientV2(base_url=...)``). Pure
builders, as in :mod:`otel_llmperf.demo.wire`. A stream (``"stream": true`` in the body, which
``chat_stream`` sends) is typed SSE events (``event:`` and ``data:`` lines, no ``[DONE]``), in the
order the real API sends them: ``message-start`` (the id), then per content block
``content-start``, ``content-delta`` (one per token, ``delta.message.content.text``, or
``.thinking`` for a thinking block) and ``content-end``; for a tool call ``tool-plan-delta``
events, then ``tool-call-start``, ``tool-call-delta`` and ``tool-call-end``; last
``message-end`` with ``delta.finish_reason`` and ``delta.usage``.

What the fake model produces:

* text ``tok1 tok2 ...``, cut by ``max_tokens`` (``finish_reason="MAX_TOKENS"``, else
  ``"COMPLETE"``); JSON when ``response_format`` asks for ``json_object``;
* a ``thinking`` content block before the text when the behaviour has reasoning tokens
  (``x-fake-reasoning-tokens``); they count in the output tokens, as Cohere folds them in;
* with ``tools`` and ``tool_choice="REQUIRED"`` one tool call (``"TOOL_CALL"``), its plan
  streamed token by token.

Usage follows Cohere's double accounting: ``usage.tokens`` counts everything the model read and
wrote (the input includes a fixed prompt-template overhead), ``usage.billed_units`` what is billed
(the caller's messages only); ``usage.cached_tokens`` is the behaviour's cached tokens. Errors use
Cohere's envelope (``{"id": ..., "message": ...}``): 429 is ``TooManyRequestsError`` in the SDK,
500 ``InternalServerError``. Cohere reports a failure inside a started stream in-band: a mid-stream
fault is a ``message-end`` with ``finish_reason="ERROR"`` and ``delta.error`` (the SDK raises
nothing for it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from otel_llmperf.demo.routes import Route
from otel_llmperf.demo.wire import (
    DEFAULT_DIMENSIONS,
    MAX_DIMENSIONS,
    Frame,
    Generation,
    InvalidRequest,
    JsonObject,
    OutputSpec,
    Reply,
    Stamp,
    chat_input_tokens,
    embedding_inputs,
    embedding_vector,
    generate,
    plain_pieces,
    sse_event,
)

PREFIX = "/cohere/v2"
STREAM_ERROR_MESSAGE = "internal error while generating (injected by the fake server)"
# Tokens of Cohere's own prompt template around the caller's messages: counted in usage.tokens,
# not billed.
TEMPLATE_TOKENS = 7
_FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS"}
EMBEDDING_TYPES = ("float", "int8", "uint8", "binary", "ubinary", "base64")


def error_body(status: int, message: str, code: str, param: str | None = None) -> JsonObject:
    """Cohere's error envelope."""
    return {"id": f"err-{code}", "message": message}


def _uuid(token: str) -> str:
    # Cohere's ids are UUIDs; the stamp's token is 32 hex digits.
    return f"{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:32]}"


class _Answer:
    """What one request gets: text pieces, optional thinking pieces or tool call, and usage."""

    def __init__(self, body: JsonObject, spec: OutputSpec, stamp: Stamp) -> None:
        input_tokens = chat_input_tokens(body.get("messages"))
        # Thinking tokens are streamed as their own block, so they are not hidden reasoning here.
        visible = OutputSpec(spec.output_tokens, spec.cached_tokens, 0, spec.response_model)
        gen = generate(body, visible, stamp, "", input_tokens, body.get("response_format"))
        self.gen: Generation = gen
        self.id = _uuid(stamp.token)
        self.thinking = plain_pieces(spec.reasoning_tokens) if spec.reasoning_tokens else ()
        self.tool = _forced_tool(body)
        self.finish = "TOOL_CALL" if self.tool else _FINISH.get(gen.finish_reason, "COMPLETE")
        output = len(gen.pieces) + len(self.thinking)
        billed = {"input_tokens": input_tokens, "output_tokens": output}
        self.usage: JsonObject = {
            "billed_units": billed,
            "tokens": {"input_tokens": input_tokens + TEMPLATE_TOKENS, "output_tokens": output},
        }
        if gen.usage.cached_tokens:
            self.usage["cached_tokens"] = gen.usage.cached_tokens

    @property
    def tool_call(self) -> JsonObject:
        """The one tool call of a forced tool use."""
        arguments = json.dumps({"query": self.gen.text.strip()})
        return {
            "id": f"{self.tool}_{self.id[:8]}",
            "type": "function",
            "function": {"name": self.tool, "arguments": arguments},
        }


def _forced_tool(body: JsonObject) -> str | None:
    tools = body.get("tools")
    if body.get("tool_choice") != "REQUIRED" or not isinstance(tools, list) or not tools:
        return None
    first = tools[0] if isinstance(tools[0], dict) else {}
    name = (first.get("function") or {}).get("name")
    return name if isinstance(name, str) else "tool"


def chat_body(answer: _Answer) -> JsonObject:
    """A non-streaming v2 chat response."""
    message: JsonObject = {"role": "assistant"}
    if answer.tool:
        message["tool_plan"] = answer.gen.text
        message["tool_calls"] = [answer.tool_call]
    else:
        content = [{"type": "thinking", "thinking": "".join(answer.thinking)}] if answer.thinking else []
        message["content"] = [*content, {"type": "text", "text": answer.gen.text}]
    return {"id": answer.id, "finish_reason": answer.finish, "message": message, "usage": answer.usage}


def chat_stream_frames(answer: _Answer) -> list[Frame]:
    """The typed events of a v2 chat stream."""
    frames: list[Frame] = []

    def add(payload: JsonObject, delayed: bool = False) -> None:
        frames.append(Frame(sse_event(payload["type"], payload), delayed))

    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    add({"type": "message-start", "id": answer.id, "delta": {"message": start}})
    first = True

    def block(index: int, kind: str, pieces: tuple[str, ...]) -> None:
        nonlocal first
        add({"type": "content-start", "index": index, "delta": {"message": {"content": {"type": kind, kind: ""}}}})
        for piece in pieces:
            add({"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: piece}}}}, not first)
            first = False
        add({"type": "content-end", "index": index})

    if answer.tool:
        for piece in answer.gen.pieces:
            add({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}, not first)
            first = False
        call = answer.tool_call
        opening = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        add({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": opening}}})
        arguments = {"function": {"arguments": call["function"]["arguments"]}}
        add({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": arguments}}})
        add({"type": "tool-call-end", "index": 0})
    else:
        index = 0
        if answer.thinking:
            block(index, "thinking", answer.thinking)
            index += 1
        block(index, "text", answer.gen.pieces)
    add({"type": "message-end", "id": answer.id, "delta": {"finish_reason": answer.finish, "usage": answer.usage}})
    return frames


def stream_error_frame() -> bytes:
    """Cohere's in-band failure: a ``message-end`` whose finish reason is ``ERROR``."""
    payload = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": STREAM_ERROR_MESSAGE}}
    return sse_event("message-end", payload)


def chat_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /cohere/v2/chat``."""
    answer = _Answer(request.body, spec, stamp)
    tokens = max(1, len(answer.gen.pieces) + len(answer.thinking))
    if not stream:
        return Reply(body=chat_body(answer), tokens=tokens)
    return Reply(frames=chat_stream_frames(answer), done=False, error_frame=lambda _position: stream_error_frame())


def embed_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /cohere/v2/embed``: embeddings by type for ``texts`` (or ``inputs`` given as text)."""
    body: JsonObject = request.body
    texts = body.get("texts")
    if texts is None and isinstance(body.get("inputs"), list):
        texts = [" ".join(str(part.get("text", "")) for part in item.get("content", [])) for item in body["inputs"]]
    inputs = embedding_inputs(texts)
    dimensions = body.get("output_dimension")
    if dimensions is None:
        dimensions = DEFAULT_DIMENSIONS
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise InvalidRequest(
            f"'output_dimension' must be an integer between 1 and {MAX_DIMENSIONS}", "output_dimension"
        )
    kinds = body.get("embedding_types") or ["float"]
    if not isinstance(kinds, list) or any(kind not in EMBEDDING_TYPES for kind in kinds):
        raise InvalidRequest(f"'embedding_types' items must be among {', '.join(EMBEDDING_TYPES)}", "embedding_types")
    vectors = [embedding_vector(seed, dimensions) for seed, _count in inputs]
    embeddings: JsonObject = {}
    for kind in kinds:
        if kind == "float":
            embeddings[kind] = vectors
        elif kind == "base64":
            embeddings[kind] = ["" for _vector in vectors]
        else:
            embeddings[kind] = [[max(-128, min(127, round(value * 127))) for value in vector] for vector in vectors]
    tokens = sum(count for _seed, count in inputs)
    return Reply(
        body={
            "id": _uuid(stamp.token),
            "embeddings": embeddings,
            "texts": [seed for seed, _count in inputs],
            "meta": {
                "api_version": {"version": "2"},
                "billed_units": {"input_tokens": tokens},
                "tokens": {"input_tokens": tokens},
            },
            "response_type": "embeddings_by_type",
        }
    )


def routes() -> list[Route]:
    """The Cohere v2 API's routes (see :mod:`otel_llmperf.demo.routes`)."""
    return [
        Route("POST", re.escape(f"{PREFIX}/chat"), chat_reply, error=error_body),
        Route("POST", re.escape(f"{PREFIX}/embed"), embed_reply, error=error_body),
    ]
