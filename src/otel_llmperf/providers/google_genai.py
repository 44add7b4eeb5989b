# SPDX-License-Identifier: Apache-2.0
"""Google Gen AI (``google-genai``: Gemini API and Vertex AI): patch table and pure extractors.

Covers ``client.models.generate_content``, ``generate_content_stream`` and ``embed_content``
and their ``client.aio.models`` twins. The public methods are patched, not the private
``_generate_content*`` ones they call, so one user call is one span even when the SDK makes
several requests for it (automatic function calling, automatic continuation): the span then
measures the whole exchange, local function calls included, and reports the final response.
The SDK is imported lazily, at instrument time; nothing here records telemetry.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
    GEN_AI_OUTPUT_TYPE,
    GEN_AI_REQUEST_CHOICE_COUNT,
    GEN_AI_REQUEST_FREQUENCY_PENALTY,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_PRESENCE_PENALTY,
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
from otel_llmperf.providers._fields import field, given, number, positive_int, stop_sequences, whole_count
from otel_llmperf.providers.base import (
    Adapter,
    Api,
    Attributes,
    ChunkKind,
    Messages,
    PatchTarget,
    ResponseInfo,
    Usage,
)

GENERATE_CONTENT = GenAiOperationNameValues.GENERATE_CONTENT.value
EMBEDDINGS = GenAiOperationNameValues.EMBEDDINGS.value
GEMINI = GenAiProviderNameValues.GCP_GEMINI.value
VERTEX_AI = GenAiProviderNameValues.GCP_VERTEX_AI.value


# --- reading SDK models, dicts and raw JSON alike ----------------------------------------


@functools.cache
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _get(obj: Any, name: str) -> Any:
    """``field(obj, name)``; for dicts also the camelCase key the API and the SDK's dicts accept."""
    value = field(obj, name)
    if value is None and type(obj) is dict:
        value = obj.get(_camel(name))
    return value


def _enum_text(value: Any) -> str | None:
    """An SDK enum (or its wire string) as a lower-case string: ``FinishReason.MAX_TOKENS`` → ``max_tokens``."""
    value = getattr(value, "value", value)
    return value.lower() if isinstance(value, str) and value else None


# --- request side -----------------------------------------------------------------------


def _option(config: Any, name: str) -> Any:
    return given(_get(config, name))


def _output_type(config: Any) -> str | None:
    mime = _option(config, "response_mime_type")
    if isinstance(mime, str):
        if mime == "application/json":
            return GenAiOutputTypeValues.JSON.value
        if mime.startswith("text/"):
            return GenAiOutputTypeValues.TEXT.value
    modalities = _option(config, "response_modalities")
    if isinstance(modalities, (list, tuple)) and modalities:
        kinds = {str(getattr(item, "value", item)).upper() for item in modalities}
        if kinds == {"IMAGE"} or kinds == {"IMAGE", "TEXT"}:
            return GenAiOutputTypeValues.IMAGE.value
        if "AUDIO" in kinds:
            return GenAiOutputTypeValues.SPEECH.value
    return None


def generate_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a ``generate_content`` request, from its ``config`` (model or dict)."""
    config = given(kwargs.get("config"))
    attrs: Attributes = {}
    if config is None:
        return attrs
    for key, name in (
        ("temperature", GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", GEN_AI_REQUEST_TOP_P),
        ("top_k", GEN_AI_REQUEST_TOP_K),
        ("frequency_penalty", GEN_AI_REQUEST_FREQUENCY_PENALTY),
        ("presence_penalty", GEN_AI_REQUEST_PRESENCE_PENALTY),
    ):
        value = number(_option(config, key))
        if value is not None:
            attrs[name] = value
    max_tokens = positive_int(_option(config, "max_output_tokens"))
    if max_tokens is not None:
        attrs[GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    seed = _option(config, "seed")
    if isinstance(seed, int) and not isinstance(seed, bool):  # Gemini seeds may be negative
        attrs[GEN_AI_REQUEST_SEED] = seed
    candidates = positive_int(_option(config, "candidate_count"))
    if candidates is not None and candidates != 1:
        attrs[GEN_AI_REQUEST_CHOICE_COUNT] = candidates
    stop = stop_sequences(_option(config, "stop_sequences"))
    if stop is not None:
        attrs[GEN_AI_REQUEST_STOP_SEQUENCES] = stop
    output_type = _output_type(config)
    if output_type is not None:
        attrs[GEN_AI_OUTPUT_TYPE] = output_type
    return attrs


def embed_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of an ``embed_content`` request: the requested dimensions."""
    dimensions = positive_int(_option(given(kwargs.get("config")), "output_dimensionality"))
    return {GEN_AI_EMBEDDINGS_DIMENSION_COUNT: dimensions} if dimensions is not None else {}


_MODALITIES = ("image", "audio", "video")
_ELIDED = "(inline content elided)"


def _media(kind: str, mime: Any, extra: dict[str, Any]) -> dict[str, Any]:
    part: dict[str, Any] = {"type": kind}
    if isinstance(mime, str):
        modality = mime.partition("/")[0]
        if modality in _MODALITIES:
            part["modality"] = modality
        part["mime_type"] = mime
    part.update(extra)
    return part


def _part(part: Any) -> dict[str, Any]:
    """One Gemini part (``Part``, part dict, string or ``File``) as a semconv message part."""
    if isinstance(part, str):
        return {"type": "text", "content": part}
    text = _get(part, "text")
    if isinstance(text, str):
        return {"type": "reasoning" if _get(part, "thought") is True else "text", "content": text}
    call = _get(part, "function_call")
    if call is not None:
        return {
            "type": "tool_call",
            "id": _get(call, "id"),
            "name": _get(call, "name"),
            "arguments": _get(call, "args"),
        }
    response = _get(part, "function_response")
    if response is not None:
        return {"type": "tool_call_response", "id": _get(response, "id"), "response": _get(response, "response")}
    blob = _get(part, "inline_data")
    if blob is not None:
        # Inline bytes are payload, not a reference: never copied onto a span.
        return _media("blob", _get(blob, "mime_type"), {"content": _ELIDED})
    file_data = _get(part, "file_data")
    if file_data is not None:
        return _media("uri", _get(file_data, "mime_type"), {"uri": _get(file_data, "file_uri")})
    uri = _get(part, "uri")  # a types.File uploaded through the Files API
    if isinstance(uri, str):
        return _media("uri", _get(part, "mime_type"), {"uri": uri})
    code = _get(part, "executable_code")
    if code is not None:
        return {"type": "executable_code", "content": _get(code, "code")}
    result = _get(part, "code_execution_result")
    if result is not None:
        return {"type": "code_execution_result", "content": _get(result, "output")}
    return {"type": "unknown"}


def _parts(parts: Any) -> list[dict[str, Any]]:
    if isinstance(parts, (list, tuple)):
        return [_part(part) for part in parts]
    return [_part(parts)] if parts is not None else []


def _role(role: Any, parts: list[dict[str, Any]]) -> str:
    if role == "model":
        return "assistant"
    # Gemini sends function results in a user turn; semconv names that turn "tool".
    if parts and all(part["type"] == "tool_call_response" for part in parts):
        return "tool"
    return role if isinstance(role, str) and role else "user"


def _is_content(item: Any) -> bool:
    return _get(item, "parts") is not None or isinstance(_get(item, "role"), str)


def _message(role: Any, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": _role(role, parts), "parts": parts}


def contents_messages(contents: Any) -> Messages:
    """``contents`` (a string, a part, a ``Content``, or a list of those) as semconv messages.

    Loose strings and parts in a list are grouped into one turn, as the SDK does before sending:
    a user turn, or a model turn when they are function calls.
    """
    items = contents if isinstance(contents, (list, tuple)) else [contents]
    messages: Messages = []
    loose: list[dict[str, Any]] = []

    def flush() -> None:
        if loose:
            calls = all(part["type"] == "tool_call" for part in loose)
            messages.append(_message("model" if calls else "user", list(loose)))
            loose.clear()

    for item in items:
        if isinstance(item, (list, tuple)):  # a nested list is one turn's parts
            flush()
            messages.append(_message("user", _parts(item)))
        elif not isinstance(item, str) and _is_content(item):
            flush()
            messages.append(_message(_get(item, "role"), _parts(_get(item, "parts"))))
        else:
            loose.append(_part(item))
    flush()
    return messages


def generate_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """The request's ``contents`` in the semconv ``gen_ai.input.messages`` shape."""
    contents = given(kwargs.get("contents"))
    if contents is None:
        return None
    return contents_messages(contents) or None


def system_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """``config.system_instruction`` (text, part(s) or a ``Content``) as semconv parts."""
    instruction = _option(given(kwargs.get("config")), "system_instruction")
    if instruction is None:
        return None
    if not isinstance(instruction, str) and _is_content(instruction):
        return _parts(_get(instruction, "parts")) or None
    return _parts(instruction) or None


def _no_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    return None


# --- response side ----------------------------------------------------------------------


def gemini_usage(metadata: Any) -> Usage | None:
    """Token usage from ``usage_metadata``; thoughts count as output and as reasoning."""
    if metadata is None:
        return None
    prompt = whole_count(_get(metadata, "prompt_token_count"))
    tool_prompt = whole_count(_get(metadata, "tool_use_prompt_token_count"))
    visible = whole_count(_get(metadata, "candidates_token_count"))
    thoughts = whole_count(_get(metadata, "thoughts_token_count"))
    # prompt_token_count already includes cached_content_token_count (Gemini reports the whole
    # effective prompt), so input is not summed with the cache-read count, unlike Anthropic.
    # Tool-use prompt tokens are input Gemini counts apart from the prompt (and bills as input).
    input_tokens = prompt + (tool_prompt or 0) if prompt is not None else tool_prompt
    output_tokens = None if visible is None and thoughts is None else (visible or 0) + (thoughts or 0)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_input_tokens=whole_count(_get(metadata, "cached_content_token_count")),
        reasoning_output_tokens=thoughts,
    )


def _raw_body(response: Any) -> Any:
    """The JSON body of a ``should_return_http_response`` result, which the SDK leaves unparsed."""
    body = field(field(response, "sdk_http_response"), "body")
    if isinstance(body, str) and body:
        try:
            return json.loads(body)
        except ValueError:
            return None
    return None


def _candidate_output(candidate: Any, reason: str | None) -> dict[str, Any]:
    return {
        "role": "assistant",
        "parts": _parts(_get(_get(candidate, "content"), "parts")),
        "finish_reason": reason or "",
    }


def generate_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a ``GenerateContentResponse`` (or its raw JSON body) says about the call."""
    candidates = _get(response, "candidates")
    if candidates is None and _get(response, "usage_metadata") is None:
        body = _raw_body(response)
        if body is not None:
            response, candidates = body, _get(body, "candidates")
    candidates = candidates or ()
    reasons = [_enum_text(_get(candidate, "finish_reason")) for candidate in candidates]
    model = _get(response, "model_version")
    response_id = _get(response, "response_id")
    return ResponseInfo(
        response_model=model if isinstance(model, str) else None,
        response_id=response_id if isinstance(response_id, str) else None,
        finish_reasons=tuple(reason or "" for reason in reasons) if any(reasons) else (),
        usage=gemini_usage(_get(response, "usage_metadata")),
        output_messages=[_candidate_output(c, r) for c, r in zip(candidates, reasons, strict=True)]
        if capture
        else None,
    )


def embed_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What an ``EmbedContentResponse`` says: input tokens and the vectors' dimension."""
    embeddings = _get(response, "embeddings") or ()
    attrs: Attributes = {}
    if embeddings:
        values = _get(embeddings[0], "values")
        if isinstance(values, (list, tuple)):
            attrs[GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(values)
    input_tokens = whole_count(_get(_get(response, "usage_metadata"), "prompt_token_count"))
    if input_tokens is None and embeddings:
        # Vertex AI's predict endpoint counts tokens per input, in each vector's statistics.
        counts = [whole_count(_get(_get(item, "statistics"), "token_count")) for item in embeddings]
        if all(value is not None for value in counts):
            input_tokens = sum(value for value in counts if value is not None)
    return ResponseInfo(usage=Usage(input_tokens=input_tokens) if input_tokens is not None else None, attributes=attrs)


# --- streams ----------------------------------------------------------------------------


class _PartBuffers:
    """Per-candidate output parts, kept only when content capture is on, and capped."""

    __slots__ = ("_limit", "_size", "parts")

    def __init__(self, limit: int) -> None:
        self.parts: dict[int, list[dict[str, Any]]] = {}
        self._size = 0
        self._limit = limit

    def add(self, index: int, parts: Any) -> None:
        if self._size >= self._limit:
            return
        kept = self.parts.setdefault(index, [])
        for part in _parts(parts):
            content = part.get("content")
            # Text arrives a few tokens per chunk: join it to the part it continues.
            if kept and part["type"] in ("text", "reasoning") and kept[-1]["type"] == part["type"]:
                kept[-1]["content"] += content
            else:
                kept.append(part)
            self._size += len(content) if isinstance(content, str) else 1

    def messages(self, finish: Mapping[int, str]) -> Messages:
        indexes = sorted(set(self.parts) | set(finish))
        return [
            {"role": "assistant", "parts": self.parts.get(index, []), "finish_reason": finish.get(index, "")}
            for index in indexes
        ]


class GenerateContentFolder:
    """Folds ``GenerateContentResponse`` chunks: those with candidate parts carry output.

    Every chunk repeats the response id and model and carries the running ``usage_metadata``;
    the last one seen is the stream's usage.
    """

    __slots__ = ("_buffers", "_finish", "_usage", "response_id", "response_model")

    def __init__(self, capture: bool, capture_limit: int = 1 << 20) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None
        self._finish: dict[int, str] = {}
        self._usage: Any = None
        self._buffers = _PartBuffers(capture_limit) if capture else None

    def fold(self, chunk: Any) -> ChunkKind:
        """Remember id, model, finish reasons and usage; say whether the chunk carried output."""
        if self.response_id is None:
            response_id, model = _get(chunk, "response_id"), _get(chunk, "model_version")
            self.response_id = response_id if isinstance(response_id, str) else None
            self.response_model = model if isinstance(model, str) else None
        usage = _get(chunk, "usage_metadata")
        if usage is not None:
            self._usage = usage
        output = False
        for position, candidate in enumerate(_get(chunk, "candidates") or ()):
            index = _get(candidate, "index")
            index = index if isinstance(index, int) else position
            reason = _enum_text(_get(candidate, "finish_reason"))
            if reason:
                self._finish[index] = reason
            parts = _get(_get(candidate, "content"), "parts")
            if parts:
                output = True
                if self._buffers is not None:
                    self._buffers.add(index, parts)
        return ChunkKind.OUTPUT if output else ChunkKind.OTHER

    def result(self) -> ResponseInfo:
        """The stream's id, model, finish reasons (by candidate index) and last usage."""
        return ResponseInfo(
            response_model=self.response_model,
            response_id=self.response_id,
            finish_reasons=tuple(self._finish[index] for index in sorted(self._finish)),
            usage=gemini_usage(self._usage),
            output_messages=self._buffers.messages(self._finish) if self._buffers is not None else None,
        )


# --- the adapter ------------------------------------------------------------------------

GENERATE_API = Api(
    operation=GENERATE_CONTENT,
    request_attributes=generate_request_attributes,
    input_messages=generate_input_messages,
    response_info=generate_response_info,
    new_folder=GenerateContentFolder,
    system_instructions=system_instructions,
)
# The same API streamed: a distinct object (request_info tells them apart by identity).
GENERATE_STREAM_API = dataclasses.replace(GENERATE_API)
EMBED_API = Api(
    operation=EMBEDDINGS,
    request_attributes=embed_request_attributes,
    input_messages=_no_messages,
    response_info=embed_response_info,
)

_MODULE = "google.genai.models"
PATCH_TARGETS: tuple[PatchTarget, ...] = (
    PatchTarget(_MODULE, "Models.generate_content", GENERATE_API),
    PatchTarget(_MODULE, "AsyncModels.generate_content", GENERATE_API, is_async=True),
    PatchTarget(_MODULE, "Models.generate_content_stream", GENERATE_STREAM_API),
    # Awaited, it returns the async iterator of chunks; the request is sent at the first chunk.
    PatchTarget(_MODULE, "AsyncModels.generate_content_stream", GENERATE_STREAM_API, is_async=True),
    PatchTarget(_MODULE, "Models.embed_content", EMBED_API),
    PatchTarget(_MODULE, "AsyncModels.embed_content", EMBED_API, is_async=True),
)


def request_model(model: Any) -> str | None:
    """The model id of a ``model`` argument: ``models/x`` and ``publishers/p/models/x`` name ``x``."""
    if not isinstance(model, str) or not model:
        return None
    prefix, _, name = model.rpartition("/")
    # Only the standard resource prefixes; tuned models and endpoints keep their full name.
    if prefix == "models" or prefix.endswith("/models"):
        return name or model
    return model


class GoogleGenAIAdapter(Adapter):
    """The Google Gen AI SDK, ``google-genai >= 1.0``, in Gemini API and Vertex AI modes.

    Responses are parsed models; streams are (async) generators of chunks, and always report usage.
    """

    name = "llmperf_google_genai"
    package = "google.genai"
    requirement = "google-genai >= 1.0"
    targets = PATCH_TARGETS
    stream_api = GENERATE_STREAM_API

    def server(self, instance: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, str]:
        """The client's server, and Vertex AI or the Gemini API by the client's mode."""
        client = getattr(instance, "_api_client", None)
        base_url = getattr(getattr(client, "_http_options", None), "base_url", None)
        address, port = hosts.server_of(base_url) if isinstance(base_url, str) else (None, None)
        return address, port, VERTEX_AI if getattr(client, "vertexai", False) else GEMINI

    def request_model(self, kwargs: Mapping[str, Any]) -> str | None:
        """The model id, without its resource prefix."""
        return request_model(kwargs.get("model"))


ADAPTER = GoogleGenAIAdapter()
