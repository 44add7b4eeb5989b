# SPDX-License-Identifier: Apache-2.0
"""The OpenAI API's endpoints on the fake server: request body → :class:`Reply`, and their routes.

The bodies and SSE frames are built by :mod:`otel_llmperf.demo.wire`, whose pieces the other
providers' wire formats share.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from otel_llmperf.demo.routes import Route
from otel_llmperf.demo.wire import (
    DEFAULT_DIMENSIONS,
    MAX_DIMENSIONS,
    STREAM_ERROR_MESSAGE,
    InvalidRequest,
    JsonObject,
    OutputSpec,
    Reply,
    Stamp,
    chat_completion_body,
    chat_input_tokens,
    chat_stream_frames,
    completion_body,
    completion_stream_frames,
    embedding_inputs,
    embeddings_body,
    generate,
    include_usage,
    prompt_tokens,
    response_body,
    responses_error_frame,
    responses_input_tokens,
    responses_stream_frames,
    stream_error_frame,
)


def chat_reply(body: JsonObject, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /v1/chat/completions``."""
    input_tokens = chat_input_tokens(body.get("messages"))
    gen = generate(body, spec, stamp, "chatcmpl-", input_tokens, body.get("response_format"))
    if not stream:
        return Reply(body=chat_completion_body(gen), tokens=len(gen.pieces))
    frames = chat_stream_frames(gen, include_usage(body))
    return Reply(frames=frames, error_frame=lambda _position: stream_error_frame(STREAM_ERROR_MESSAGE))


def completions_reply(body: JsonObject, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /v1/completions``."""
    gen = generate(body, spec, stamp, "cmpl-", prompt_tokens(body.get("prompt")), None)
    if not stream:
        return Reply(body=completion_body(gen), tokens=len(gen.pieces))
    frames = completion_stream_frames(gen, include_usage(body))
    return Reply(frames=frames, error_frame=lambda _position: stream_error_frame(STREAM_ERROR_MESSAGE))


def responses_reply(body: JsonObject, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /v1/responses``."""
    text = body.get("text")
    text_format = text.get("format") if isinstance(text, dict) else None
    input_tokens = responses_input_tokens(body.get("input"), body.get("instructions"))
    # max_output_tokens would need an `incomplete` response; it is echoed but not applied.
    gen = generate(body, spec, stamp, "resp_", input_tokens, text_format, honour_max_tokens=False)
    message_id = f"msg_{stamp.token}"
    if not stream:
        return Reply(body=response_body(gen, body, message_id, completed_at=stamp.now), tokens=len(gen.pieces))
    return Reply(
        frames=responses_stream_frames(gen, body, message_id, stamp.now),
        done=False,
        error_frame=lambda position: responses_error_frame(STREAM_ERROR_MESSAGE, position),
    )


def embeddings_reply(body: JsonObject, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``POST /v1/embeddings``."""
    if stream:
        raise InvalidRequest("embeddings cannot be streamed", "stream")
    inputs = embedding_inputs(body.get("input"))
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise InvalidRequest(f"'dimensions' must be an integer between 1 and {MAX_DIMENSIONS}", "dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    model = spec.response_model or body["model"]
    return Reply(body=embeddings_body(inputs, model, dimensions, encoding))


def routes() -> list[Route]:
    """The OpenAI API's routes (see :mod:`otel_llmperf.demo.routes`)."""

    def route(path: str, builder: Callable[[JsonObject, OutputSpec, bool, Stamp], Reply]) -> Route:
        def build(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
            return builder(request.body, spec, stream, stamp)

        return Route("POST", re.escape(path), build)

    return [
        route("/v1/chat/completions", chat_reply),
        route("/v1/completions", completions_reply),
        route("/v1/responses", responses_reply),
        route("/v1/embeddings", embeddings_reply),
    ]
