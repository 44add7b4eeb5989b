# SPDX-License-Identifier: Apache-2.0
"""The Gemini API (and Vertex AI) wire format of the fake server, under ``/gemini``.

Point the ``google-genai`` SDK at ``http://127.0.0.1:PORT/gemini/`` with
``HttpOptions(base_url=...)``. Gemini API paths (``/gemini/v1beta/models/{model}:generateContent``)
and Vertex AI paths (``/gemini/v1beta1/projects/p/locations/l/publishers/google/models/{model}:...``)
are both answered; the model comes from the path.

* ``:generateContent`` / ``:streamGenerateContent`` (SSE ``data:`` events, no ``[DONE]``): one
  candidate per ``generationConfig.candidateCount``; ``maxOutputTokens`` truncates with
  ``finishReason: MAX_TOKENS``; ``responseMimeType: application/json`` returns JSON text (matching
  ``responseJsonSchema`` when given). Every stream event carries the running ``usageMetadata``.
  When the request declares functions and its last turn holds no function response, the model
  calls the first declared function (so the SDK's automatic function calling takes two requests).
* ``:batchEmbedContents``, ``:embedContent`` and Vertex's ``:predict``, each in its own shape.

Usage: ``promptTokenCount`` is the words of every text part (and the system instruction), at
least 1; ``candidatesTokenCount`` the visible tokens of all candidates; reasoning tokens are
reported apart as ``thoughtsTokenCount``, as Gemini does; ``cachedContentTokenCount`` is capped at
the prompt. Errors use Google's envelope ``{"error": {"code", "message", "status"}}``; a mid-stream
error is a ``data: {"error": ...}`` event, which the SDK raises as ``ServerError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from otel_llmperf.demo import wire
from otel_llmperf.demo.routes import Route
from otel_llmperf.demo.wire import Frame, InvalidRequest, JsonObject, OutputSpec, Reply, Stamp

PREFIX = "/gemini"
# Gemini API: /v1beta/models/{model}; Vertex AI: /v1beta1/projects/{p}/locations/{l}/publishers/{pub}/models/{model}.
_MODEL_PATH = (
    r"/gemini/(?:v1|v1beta|v1alpha|v1beta1)/(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?"
    r"models/(?P<model>[^/:]+)"
)
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_body(status: int, message: str, code: str, param: str | None = None) -> JsonObject:
    """Google's error envelope: numeric code, message and the canonical status name."""
    return {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}


def stream_error_frame(message: str) -> bytes:
    """The mid-stream error event; its leading ``"error"`` key is what makes the SDK raise."""
    return wire.sse_data(error_body(500, message, "server_error"))


# ---------------------------------------------------------------------------------------------------------------
# Request reading


def _texts(content: Any) -> list[str]:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return []
    return [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]


def _contents(body: Mapping[str, Any]) -> list[JsonObject]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents or not all(isinstance(item, dict) for item in contents):
        raise InvalidRequest("'contents' must be a non-empty array of Content objects", "contents")
    return contents


def input_tokens(body: Mapping[str, Any]) -> int:
    """Prompt tokens: the words of every text part of the contents and the system instruction."""
    words = sum(wire.count_words(text) for content in _contents(body) for text in _texts(content))
    words += sum(wire.count_words(text) for text in _texts(body.get("systemInstruction")))
    return max(1, words)


def _generation_config(body: Mapping[str, Any]) -> Mapping[str, Any]:
    config = body.get("generationConfig")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidRequest("'generationConfig' must be an object", "generationConfig")
    return config


def _response_format(config: Mapping[str, Any]) -> JsonObject | None:
    # Expressed as the OpenAI response_format the shared text builders understand.
    if config.get("responseMimeType") != "application/json":
        return None
    schema = config.get("responseJsonSchema")
    if isinstance(schema, dict):
        return {"type": "json_schema", "json_schema": {"schema": schema}}
    return {"type": "json_object"}


def _called_function(body: Mapping[str, Any]) -> JsonObject | None:
    """The function call the fake model makes, or ``None`` when it answers in text."""
    last_parts = body["contents"][-1].get("parts") or []
    if any(isinstance(part, dict) and "functionResponse" in part for part in last_parts):
        return None  # the function already ran: answer with its result in mind
    for tool in body.get("tools") or ():
        for declaration in (tool.get("functionDeclarations") if isinstance(tool, dict) else None) or ():
            name = declaration.get("name") if isinstance(declaration, dict) else None
            if isinstance(name, str):
                schema = declaration.get("parametersJsonSchema")
                args = wire.example_for_schema(schema, schema, 0) if isinstance(schema, dict) else {}
                return {"name": name, "args": args if isinstance(args, dict) else {}}
    return None


# ---------------------------------------------------------------------------------------------------------------
# Generation


def generate(body: Mapping[str, Any], spec: OutputSpec, stamp: Stamp) -> wire.Generation:
    """Decide the candidates' text and the usage of one generateContent request."""
    config = _generation_config(body)
    limit = config.get("maxOutputTokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidRequest("'maxOutputTokens' must be a positive integer", "generationConfig.maxOutputTokens")
    # The shared builder speaks OpenAI's names: candidateCount is n, maxOutputTokens max_tokens.
    openai_like = {"model": body["model"], "n": config.get("candidateCount", 1), "max_tokens": limit}
    try:
        gen = wire.generate(openai_like, spec, stamp, "", input_tokens(body), _response_format(config))
    except InvalidRequest as error:
        if error.param == "n":
            raise InvalidRequest(
                f"'candidateCount' must be an integer between 1 and {wire.MAX_CHOICES}",
                "generationConfig.candidateCount",
            ) from None
        raise
    return gen


def usage_metadata(gen: wire.Generation, visible_tokens: int) -> JsonObject:
    """Gemini's ``usageMetadata``: thoughts are counted apart from the candidates' tokens."""
    thoughts = gen.usage.reasoning_tokens
    usage: JsonObject = {
        "promptTokenCount": gen.usage.input_tokens,
        "candidatesTokenCount": visible_tokens,
        "totalTokenCount": gen.usage.input_tokens + visible_tokens + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": gen.usage.input_tokens}],
    }
    if gen.usage.cached_tokens:
        usage["cachedContentTokenCount"] = gen.usage.cached_tokens
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


_FINISH = {"stop": "STOP", "length": "MAX_TOKENS"}


def _response(gen: wire.Generation, candidates: list[JsonObject], visible_tokens: int, vertex: bool) -> JsonObject:
    body: JsonObject = {
        "candidates": candidates,
        "usageMetadata": usage_metadata(gen, visible_tokens),
        "modelVersion": gen.model,
        "responseId": gen.response_id,
    }
    if vertex:
        body["createTime"] = "2025-01-01T00:00:00.000000Z"
    return body


def _candidate(index: int, parts: list[JsonObject], finish: str | None) -> JsonObject:
    candidate: JsonObject = {"content": {"parts": parts, "role": "model"}, "index": index}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


def generate_content_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``:generateContent`` and ``:streamGenerateContent``."""
    body: JsonObject = {**request.body, "model": request.params["model"]}
    vertex = "/projects/" in request.path or "/publishers/" in request.path
    gen = generate(body, spec, stamp)  # Gemini response ids are opaque strings without a prefix
    call = _called_function(body)
    finish = _FINISH[gen.finish_reason]
    if call is not None:
        candidates = [_candidate(0, [{"functionCall": call}], "STOP")]
        reply_body = _response(gen, candidates, 1, vertex)
        if not stream:
            return Reply(body=reply_body)
        return Reply(frames=[Frame(wire.sse_data(reply_body))], done=False, error_frame=_error_frame)
    visible = len(gen.pieces)
    if not stream:
        candidates = [_candidate(index, [{"text": gen.text}], finish) for index in range(gen.choices)]
        return Reply(body=_response(gen, candidates, gen.choices * visible, vertex), tokens=visible)
    frames = []
    last = visible - 1
    for position, piece in enumerate(gen.pieces):
        reason = finish if position == last else None
        candidates = [_candidate(index, [{"text": piece}], reason) for index in range(gen.choices)]
        event = _response(gen, candidates, gen.choices * (position + 1), vertex)
        frames.append(Frame(wire.sse_data(event), position > 0))
    return Reply(frames=frames, done=False, error_frame=_error_frame)


def _error_frame(_position: int) -> bytes:
    return stream_error_frame(wire.STREAM_ERROR_MESSAGE)


# ---------------------------------------------------------------------------------------------------------------
# Embeddings


def _dimensions(*holders: Any) -> int:
    for holder in holders:
        value = holder.get("outputDimensionality") if isinstance(holder, dict) else None
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= wire.MAX_DIMENSIONS:
                raise InvalidRequest(
                    f"'outputDimensionality' must be an integer between 1 and {wire.MAX_DIMENSIONS}",
                    "outputDimensionality",
                )
            return value
    return wire.DEFAULT_DIMENSIONS


def _seed_text(content: Any, param: str) -> tuple[str, int]:
    text = " ".join(_texts(content)) if isinstance(content, dict) else content
    if not isinstance(text, str) or not text:
        raise InvalidRequest(f"'{param}' must hold text", param)
    return text, max(1, wire.count_words(text))


def _embedding_usage(tokens: int) -> JsonObject:
    return {"promptTokenCount": tokens, "totalTokenCount": tokens}


def batch_embed_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``:batchEmbedContents`` (Gemini API; Vertex AI for several contents)."""
    requests = request.body.get("requests")
    if not isinstance(requests, list) or not requests or not all(isinstance(item, dict) for item in requests):
        raise InvalidRequest("'requests' must be a non-empty array of objects", "requests")
    if len(requests) > wire.MAX_EMBEDDING_INPUTS:
        raise InvalidRequest(f"'requests' may hold at most {wire.MAX_EMBEDDING_INPUTS} items", "requests")
    embeddings, tokens = [], 0
    for item in requests:
        text, count = _seed_text(item.get("content"), "requests.content")
        dimensions = _dimensions(item, item.get("embedContentConfig"))
        embeddings.append({"values": wire.embedding_vector(text, dimensions)})
        tokens += count
    return Reply(body={"embeddings": embeddings, "usageMetadata": _embedding_usage(tokens)})


def embed_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """``:embedContent``: one content, one vector."""
    body = request.body
    text, tokens = _seed_text(body.get("content"), "content")
    dimensions = _dimensions(body, body.get("embedContentConfig"))
    return Reply(
        body={
            "embedding": {"values": wire.embedding_vector(text, dimensions)},
            "usageMetadata": _embedding_usage(tokens),
            "truncated": False,
        }
    )


def predict_reply(request: Any, spec: OutputSpec, stream: bool, stamp: Stamp) -> Reply:
    """Vertex AI ``:predict`` for text embedding models: token counts per prediction."""
    instances = request.body.get("instances")
    if not isinstance(instances, list) or not instances or not all(isinstance(item, dict) for item in instances):
        raise InvalidRequest("'instances' must be a non-empty array of objects", "instances")
    dimensions = _dimensions(request.body.get("parameters"))
    predictions, characters = [], 0
    for instance in instances:
        text, tokens = _seed_text(instance.get("content"), "instances.content")
        characters += len(text)
        statistics = {"token_count": tokens, "truncated": False}
        predictions.append(
            {"embeddings": {"values": wire.embedding_vector(text, dimensions), "statistics": statistics}}
        )
    return Reply(body={"predictions": predictions, "metadata": {"billableCharacterCount": characters}})


# ---------------------------------------------------------------------------------------------------------------


def _model(request: Any) -> str | None:
    model = request.params.get("model")
    return model if isinstance(model, str) and model else None


def routes() -> list[Route]:
    """The Gemini API's and Vertex AI's routes (see :mod:`otel_llmperf.demo.routes`)."""

    def route(method: str, build: Callable[..., Reply], stream: bool = False) -> Route:
        return Route(
            "POST",
            _MODEL_PATH + re.escape(f":{method}"),
            build,
            model=_model,
            stream=lambda _r: stream,
            error=error_body,
        )

    return [
        route("generateContent", generate_content_reply),
        route("streamGenerateContent", generate_content_reply, stream=True),
        route("batchEmbedContents", batch_embed_reply),
        route("embedContent", embed_reply),
        route("predict", predict_reply),
    ]
