# SPDX-License-Identifier: Apache-2.0
"""The Mistral AI API on the fake server: ``POST /mistral/v1/chat/completions`` and ``/mistral/v1/embeddings``.

Point the SDK at ``http://127.0.0.1:PORT/mistral`` (``Mistral(api_key=..., server_url=...)``). The
same chat API answers ``MistralAzure`` at ``/mistral/azure/models/chat/completions`` and
``MistralGCP`` at Vertex AI's ``/v1/projects/.../publishers/mistralai/models/M:rawPredict``
(and ``:streamRawPredict``).
Pure builders, as in :mod:`otel_llmperf.demo.wire`. Mistral's chat API is OpenAI-shaped, with
its own differences, which the fake keeps:

* a stream reports ``usage`` in its last chunk (the one with the ``finish_reason``) without being
  asked: there is no ``stream_options``; the stream ends with ``data: [DONE]``;
* ``usage`` has ``prompt_tokens``/``completion_tokens``/``total_tokens``; reasoning tokens are
  folded into ``completion_tokens`` (not reported apart), cached prompt tokens appear as
  ``prompt_tokens_details.cached_tokens`` only on a cache hit;
* ``random_seed`` instead of ``seed``; ``n`` choices; ``max_tokens`` cuts with ``"length"``;
* with ``tools`` and ``tool_choice`` ``"any"``/``"required"`` (or a named function) the answer is
  one tool call (``finish_reason="tool_calls"``), streamed whole in one delta as Mistral does;
* ``response_format`` ``json_object``/``json_schema`` makes the content JSON.

Errors use Mistral's envelope (``{"object": "error", "message": ..., "type": ..., "code": ...}``);
the SDK raises ``SDKError`` for 4xx/5xx. A mid-stream fault is a ``data:`` event holding that
envelope, which the SDK cannot read as a chunk (it raises ``ResponseValidationError``).
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
    split_pieces,
    sse_data,
)

PREFIX = "/mistral/v1"
# MistralAzure posts to {server_url}/models/chat/completions: point it at http://127.0.0.1:PORT/mistral/azure.
AZURE_CHAT_PATH = "/mistral/azure/models/chat/completions"
# MistralGCP replaces the whole path of its server URL with Vertex AI's rawPredict path, so this
# route cannot live under /mistral; "publishers/mistralai" keeps it apart from every other route.
VERTEX_CHAT_PATTERN = (
    r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/mistralai/models/(?P<model>[^/:]+):(?:rawPredict|streamRawPredict)"
)
STREAM_ERROR_MESSAGE = "Service unavailable while streaming (injected by the fake server)."
_ERROR_TYPES = {400: "invalid_request_error", 429: "rate_limited", 500: "internal_server_error"}


def error_body(status: int, message: str, code: str, param: str | None = None) -> JsonObject:
    """Mistral's error envelope."""
    return {
        "object": "error",
        "message": message,
        "type": _ERROR_TYPES.get(status, "invalid_request_error"),
        "param": param,
        "code": code,
    }


def _usage(gen: Generation) -> JsonObject:
    usage: JsonObject = {
        "prompt_tokens": gen.usage.input_tokens,
        "completion_tokens": gen.usage.output_tokens,
        "total_tokens": gen.usage.total_tokens,
    }
    if gen.usage.cached_tokens:
        # Only a cache hit reports the details, and the cached tokens are part of prompt_tokens.
        usage["prompt_tokens_details"] = {"cached_tokens": gen.usage.cached_tokens}
    return usage


def _tool_name(body: JsonObject) -> str | None:
    """The function the model must call, when the request forces a tool call."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return name if isinstance(name, str) else None
    if choice in ("any", "required"):
        first = tools[0] if isinstance(tools[0], dict) else {}
        name = (first.get("function") or {}).get("name")
        return name if isinstance(name, str) else "tool"
    return None


def _tool_call(gen: Generation, name: str) -> JsonObject:
    return {
        "id": gen.response_id[5:14],
        "type": "function",
        "function": {"name": name, "arguments": json.dumps({"query": gen.text.strip()})},
        "index": 0,
    }


def chat_body(gen: Generation, tool: str | None) -> JsonObject:
    """A non-streaming ``chat.completion``."""
    message: JsonObject = {"role": "assistant", "content": gen.text, "tool_calls": None, "prefix": False}
    finish = gen.finish_reason
    if tool is not None:
        message.update(content="", tool_calls=[_tool_call(gen, tool)])
        finish = "tool_calls"
    return {
        "id": gen.response_id,
        "object": "chat.completion",
        "created": gen.created,
        "model": gen.model,
        "choices": [{"index": index, "message": message, "finish_reason": finish} for index in range(gen.choices)],
        "usage": _usage(gen),
    }


def chat_stream_frames(gen: Generation, tool: str | None) -> list[Frame]:
    """The ``chat.completion.chunk`` frames, without the trailing ``[DONE]``; usage rides on the last."""

    def chunk(choices: list[JsonObject]) -> JsonObject:
        return {
            "id": gen.response_id,
            "object": "chat.completion.chunk",
            "created": gen.created,
            "model": gen.model,
            "choices": choices,
        }

    def choice(index: int, delta: JsonObject, finish: str | None) -> JsonObject:
        return {"index": index, "delta": delta, "finish_reason": finish}

    frames = [
        Frame(sse_data(chunk([choice(index, {"role": "assistant", "content": ""}, None)])))
        for index in range(gen.choices)
    ]
    if tool is not None:
        for index in range(gen.choices):
            delta = {"content": "", "tool_calls": [_tool_call(gen, tool)]}
            frames.append(Frame(sse_data(chunk([choice(index, delta, "tool_calls")])), index == 0))
    else:
        last = len(gen.pieces) - 1
        for position, piece in enumerate(gen.pieces):
            finish = gen.finish_reason if position == last else None
            for index in range(gen.choices):
                frames.append(
                    Frame(sse_data(chunk([choice(index, {"content": piece}, finish)])), position > 0 and index == 0)
                )
    # Mistral puts the usage on the final chunk itself (no separate usage-only chunk).
    final = json.loads(frames[-1].data[len(b"data: ") :])
    final["usage"] = _usage(gen)
    frames[-1] = Frame(sse_data(final), frames[-1].delayed)
    return frames


def stream_error_frame() -> bytes:
    """A mid-stream error event: Mistral's error envelope as a ``data:`` line."""
    return sse_data(error_body(500, STREAM_ERROR_MESSAGE, "service_unavailable"))


def chat_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /mistral/v1/chat/completions``."""
    body: JsonObject = request.body
    input_tokens = chat_input_tokens(body.get("messages"))
    gen = generate(body, spec, stamp, "cmpl-", input_tokens, body.get("response_format"))
    tool = _tool_name(body)
    if tool is not None:
        # A tool call's arguments take the output tokens; the text is what they quote.
        gen = Generation(
            gen.response_id, gen.model, gen.created, split_pieces(gen.text, 1), gen.usage, gen.choices, "tool_calls"
        )
    if not stream:
        return Reply(body=chat_body(gen, tool), tokens=len(gen.pieces))
    return Reply(frames=chat_stream_frames(gen, tool), error_frame=lambda _position: stream_error_frame())


def embeddings_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /mistral/v1/embeddings``."""
    body: JsonObject = request.body
    if stream:
        raise InvalidRequest("embeddings cannot be streamed", "stream")
    inputs = embedding_inputs(body.get("input"))
    dimensions = body.get("output_dimension")
    if dimensions is None:
        dimensions = DEFAULT_DIMENSIONS
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise InvalidRequest(
            f"'output_dimension' must be an integer between 1 and {MAX_DIMENSIONS}", "output_dimension"
        )
    tokens = sum(count for _seed, count in inputs)
    return Reply(
        body={
            "id": f"embd-{stamp.token}",
            "object": "list",
            "model": spec.response_model or body["model"],
            "data": [
                {"object": "embedding", "embedding": embedding_vector(seed, dimensions), "index": index}
                for index, (seed, _count) in enumerate(inputs)
            ],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens},
        }
    )


def routes() -> list[Route]:
    """The Mistral API's routes (see :mod:`otel_llmperf.demo.routes`)."""
    return [
        Route("POST", re.escape(f"{PREFIX}/chat/completions"), chat_reply, error=error_body),
        Route("POST", re.escape(f"{PREFIX}/embeddings"), embeddings_reply, error=error_body),
        Route("POST", re.escape(AZURE_CHAT_PATH), chat_reply, error=error_body),
        Route("POST", VERTEX_CHAT_PATTERN, chat_reply, error=error_body),
    ]
