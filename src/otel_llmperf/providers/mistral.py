# SPDX-License-Identifier: Apache-2.0
"""Mistral AI (the ``mistralai`` SDK): patch table and pure extractors.

Covers ``client.chat.complete``/``complete_async`` (and ``parse``/``parse_async``, which call
them), ``client.chat.stream``/``stream_async`` (and ``parse_stream``), and
``client.embeddings.create``/``create_async``; the chat methods also of ``MistralAzure`` (Azure
AI Foundry) and ``MistralGCP`` (Vertex AI), which speak the same API. The SDK is
Speakeasy-generated: a stream is an ``EventStream`` (a context manager and iterator;
``EventStreamAsync`` its async twin) of ``CompletionEvent`` objects whose ``.data`` is a
``CompletionChunk``. Mistral sends the usage in the last chunk without being asked, so there is
no stream-usage option to inject. The SDK has no raw-response variants (a stream's httpx
response is its ``.response``). Imported lazily, at instrument time; nothing here records
telemetry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
    GEN_AI_REQUEST_ENCODING_FORMATS,
    GenAiOperationNameValues,
    GenAiProviderNameValues,
)

from otel_llmperf.providers import hosts
from otel_llmperf.providers._chat import embedding_attributes, input_messages, request_attributes, tool_call_parts
from otel_llmperf.providers._fields import (
    count,
    field,
    given,
    positive_int,
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
    Usage,
)
from otel_llmperf.providers.hosts import server_of

CHAT = GenAiOperationNameValues.CHAT.value
EMBEDDINGS = GenAiOperationNameValues.EMBEDDINGS.value
PROVIDER = GenAiProviderNameValues.MISTRAL_AI.value
DEFAULT_SERVER = "https://api.mistral.ai"


def _present(value: Any) -> Any:
    """The value, or ``None`` for the SDK's ``Unset`` placeholder (a falsy model) of omitted fields."""
    return None if value is not None and type(value).__name__ == "Unset" else value


def _get(obj: Any, name: str) -> Any:
    """``field``, with ``Unset`` read as absent."""
    return _present(field(obj, name))


# --- request side -----------------------------------------------------------------------


def chat_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of a chat request (``complete`` and ``stream`` take the same arguments)."""
    # Mistral names the seed random_seed.
    return request_attributes(
        kwargs, {}, top_k="top_k", seed="random_seed", max_tokens="max_tokens", response_format="response_format"
    )


def embeddings_request_attributes(kwargs: Mapping[str, Any]) -> Attributes:
    """Span attributes of an embeddings request: output dtype/encoding and dimension."""
    attrs: Attributes = {}
    formats = (given(kwargs.get("output_dtype")), given(kwargs.get("encoding_format")))
    named = tuple(str(value) for value in formats if isinstance(value, str))
    if named:
        attrs[GEN_AI_REQUEST_ENCODING_FORMATS] = named
    dimensions = positive_int(kwargs.get("output_dimension"))
    if dimensions is not None:
        attrs[GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
    return attrs


def _parts(content: Any) -> list[dict[str, Any]]:
    """Mistral content (a string or typed chunks) as semconv parts; thinking chunks become reasoning."""
    content = _present(content)
    if content == "":
        return []  # Mistral sends content "" beside tool calls: not a part of its own
    if not isinstance(content, (list, tuple)):
        return text_parts(content)
    parts: list[dict[str, Any]] = []
    for chunk in content:
        if _get(chunk, "type") == "thinking":
            texts = [_get(piece, "text") for piece in _get(chunk, "thinking") or ()]
            parts.append({"type": "reasoning", "content": "".join(text for text in texts if isinstance(text, str))})
        else:
            parts.extend(text_parts([chunk]))
    return parts


def _message_parts(message: Any) -> list[dict[str, Any]]:
    return _parts(_get(message, "content")) + tool_call_parts(message, _get)


def chat_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """Chat request messages in the semconv ``gen_ai.input.messages`` shape."""
    return input_messages(given(kwargs.get("messages")), lambda _role, message: _message_parts(message), _get)


def embeddings_input_messages(kwargs: Mapping[str, Any]) -> Messages | None:
    """Embedding inputs are not messages: nothing is captured."""
    return None


# --- response side ----------------------------------------------------------------------


def usage_of(usage: Any) -> Usage | None:
    """Token usage: prompt/completion tokens, and cached prompt tokens on a cache hit."""
    if usage is None:
        return None
    # prompt_tokens_details is not in the SDK's model: it arrives as an extra field (a dict).
    return Usage(
        input_tokens=count(_get(usage, "prompt_tokens")),
        output_tokens=count(_get(usage, "completion_tokens")),
        cache_read_input_tokens=count(field(_get(usage, "prompt_tokens_details"), "cached_tokens")),
    )


def _finish(reason: Any) -> str | None:
    return str(reason) if isinstance(reason, str) and reason else None


def _error_type(finish_reasons: Sequence[str]) -> str | None:
    # Mistral ends a choice with finish_reason "error" when generation failed inside a 200 answer.
    return "error" if "error" in finish_reasons else None


def chat_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What a ``ChatCompletionResponse`` says about the call."""
    choices = _get(response, "choices") or ()
    finish = tuple(_finish(_get(choice, "finish_reason")) or "" for choice in choices)
    info = ResponseInfo(
        response_model=_get(response, "model"),
        response_id=_get(response, "id"),
        finish_reasons=finish,
        usage=usage_of(_get(response, "usage")),
        error_type=_error_type(finish),
    )
    if capture:
        outputs: Messages = []
        for choice in choices:
            message = _get(choice, "message")
            outputs.append(
                {
                    "role": "assistant",
                    "parts": _message_parts(message),
                    "finish_reason": _finish(_get(choice, "finish_reason")),
                }
            )
        info.output_messages = outputs
    return info


def embeddings_response_info(response: Any, capture: bool) -> ResponseInfo:
    """What an ``EmbeddingResponse`` says: model, id, input tokens and the vector size."""
    usage = _get(response, "usage")
    return ResponseInfo(
        response_model=_get(response, "model"),
        response_id=_get(response, "id"),
        usage=Usage(input_tokens=count(_get(usage, "prompt_tokens"))) if usage is not None else None,
        attributes=embedding_attributes(response, _get),
    )


# --- streams ----------------------------------------------------------------------------


class ChatFolder:
    """Folds ``CompletionEvent`` objects: every chunk with a choice carries output."""

    __slots__ = ("_finish", "_limit", "_size", "_texts", "_tools", "_usage", "response_id", "response_model")

    def __init__(self, capture: bool, capture_limit: int = 1 << 20) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None
        self._finish: dict[int, str] = {}
        self._usage: Any = None
        # Output text per (choice index, "text" | "reasoning"), kept only when content capture is on.
        self._texts: dict[tuple[int, str], list[str]] | None = {} if capture else None
        self._tools: dict[int, list[dict[str, Any]]] = {}
        self._size = 0
        self._limit = capture_limit

    def fold(self, event: Any) -> ChunkKind:
        """Remember id, model, finish reasons and usage; a chunk with choices is output."""
        chunk = _get(event, "data")
        if self.response_id is None:
            self.response_id = _get(chunk, "id")
            self.response_model = _get(chunk, "model")
        usage = _get(chunk, "usage")
        if usage is not None:
            self._usage = usage  # the last chunk: Mistral sends usage without being asked
        choices = _get(chunk, "choices")
        if not choices:
            return ChunkKind.OTHER
        for choice in choices:
            index = _get(choice, "index") or 0
            reason = _finish(_get(choice, "finish_reason"))
            if reason:
                self._finish[index] = reason
            if self._texts is not None:
                self._keep(index, _get(choice, "delta"))
        return ChunkKind.OUTPUT

    def _add(self, index: int, kind: str, text: Any) -> None:
        assert self._texts is not None
        if isinstance(text, str) and text and self._size < self._limit:
            self._texts.setdefault((index, kind), []).append(text)
            self._size += len(text)

    def _keep(self, index: int, delta: Any) -> None:
        content = _present(_get(delta, "content"))
        if isinstance(content, (list, tuple)):
            # Reasoning models stream typed chunks: thinking chunks (reasoning) and text chunks.
            for chunk in content:
                if _get(chunk, "type") == "thinking":
                    for piece in _get(chunk, "thinking") or ():
                        self._add(index, "reasoning", _get(piece, "text"))
                else:
                    self._add(index, "text", _get(chunk, "text"))
        else:
            self._add(index, "text", content)
        calls = tool_call_parts(delta, _get)
        if calls:
            self._tools.setdefault(index, []).extend(calls)

    def _parts(self, index: int) -> list[dict[str, Any]]:
        assert self._texts is not None
        parts: list[dict[str, Any]] = []
        reasoning = self._texts.get((index, "reasoning"))
        if reasoning:
            parts.append({"type": "reasoning", "content": "".join(reasoning)})
        text = self._texts.get((index, "text"))
        if text:
            parts.append({"type": "text", "content": "".join(text)})
        return parts + self._tools.get(index, [])

    def result(self) -> ResponseInfo:
        """The stream's id, model, finish reasons (by choice index) and usage."""
        finish = tuple(self._finish[index] for index in sorted(self._finish))
        info = ResponseInfo(
            response_model=self.response_model,
            response_id=self.response_id,
            finish_reasons=finish,
            usage=usage_of(self._usage),
            error_type=_error_type(finish),
        )
        if self._texts is not None:
            indexes = sorted({index for index, _kind in self._texts} | set(self._finish) | set(self._tools))
            info.output_messages = [
                {"role": "assistant", "parts": self._parts(index), "finish_reason": self._finish.get(index)}
                for index in indexes
            ]
        return info


# --- the adapter ------------------------------------------------------------------------

CHAT_API = Api(
    operation=CHAT,
    request_attributes=chat_request_attributes,
    input_messages=chat_input_messages,
    response_info=chat_response_info,
)
CHAT_STREAM_API = Api(
    operation=CHAT,
    request_attributes=chat_request_attributes,
    input_messages=chat_input_messages,
    response_info=chat_response_info,
    new_folder=ChatFolder,
)
EMBEDDINGS_API = Api(
    operation=EMBEDDINGS,
    request_attributes=embeddings_request_attributes,
    input_messages=embeddings_input_messages,
    response_info=embeddings_response_info,
)


def _targets(module: str, cls: str, sync: str, api: Api) -> tuple[PatchTarget, PatchTarget]:
    # Speakeasy SDKs keep sync and async methods on one class, the async one suffixed _async.
    return PatchTarget(module, f"{cls}.{sync}", api), PatchTarget(module, f"{cls}.{sync}_async", api, is_async=True)


# mistralai >= 2 keeps the SDK under mistralai.client; 1.x had the same classes at the top level.
# Mistral models on Azure AI Foundry (MistralAzure) and Vertex AI (MistralGCP) have their own
# Chat classes: mistralai.azure.client / mistralai.gcp.client (mistralai_azure / mistralai_gcp in 1.x).
# A module missing from the installed version is skipped by the instrumentor.
_CHAT_PACKAGES = (
    *("mistralai.client", "mistralai"),
    *("mistralai.azure.client", "mistralai_azure"),
    *("mistralai.gcp.client", "mistralai_gcp"),
)
PATCH_TARGETS: tuple[PatchTarget, ...] = (
    *(
        target
        for package in _CHAT_PACKAGES
        for target in (
            *_targets(f"{package}.chat", "Chat", "complete", CHAT_API),
            *_targets(f"{package}.chat", "Chat", "stream", CHAT_STREAM_API),
        )
    ),
    *_targets("mistralai.client.embeddings", "Embeddings", "create", EMBEDDINGS_API),
    *_targets("mistralai.embeddings", "Embeddings", "create", EMBEDDINGS_API),
)

# The provider a client class stands for when its host is not a known one (a proxy, a private
# endpoint): the cloud SDKs answer for their cloud, the main SDK for Mistral AI.
_CLOUD_PROVIDERS = (
    ("mistralai.azure.", GenAiProviderNameValues.AZURE_AI_INFERENCE.value),
    ("mistralai_azure.", GenAiProviderNameValues.AZURE_AI_INFERENCE.value),
    ("mistralai.gcp.", GenAiProviderNameValues.GCP_VERTEX_AI.value),
    ("mistralai_gcp.", GenAiProviderNameValues.GCP_VERTEX_AI.value),
)


@functools.lru_cache(maxsize=16)
def default_provider(module: str) -> str:
    """The provider of a ``Chat``/``Embeddings`` class by its module, before looking at the host."""
    for prefix, provider in _CLOUD_PROVIDERS:
        if module.startswith(prefix):
            return provider
    return PROVIDER


def _server_url(instance: Any, kwargs: Mapping[str, Any]) -> str:
    override = kwargs.get("server_url")
    if isinstance(override, str) and override:
        return override
    try:
        url, _variables = instance.sdk_configuration.get_server_details()
    except Exception:  # an SDK without it, or a misconfigured server name: the call will say so
        return DEFAULT_SERVER
    return url if isinstance(url, str) else DEFAULT_SERVER


class MistralAdapter(Adapter):
    """The Mistral AI SDK, ``mistralai >= 1.0`` (tested with 3.7).

    Wraps chat (complete, stream; also on Azure and Vertex AI) and embeddings, sync and async.
    ``chat.stream`` always streams and ``complete`` never does; ``EventStream`` (sync) and
    ``EventStreamAsync`` are the streams.
    """

    name = "llmperf_mistral"
    package = "mistralai"
    requirement = "mistralai >= 1.0"
    targets = PATCH_TARGETS
    stream_api = CHAT_STREAM_API

    def server(self, instance: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, str]:
        """The server the SDK is configured for, and who answers there."""
        address, port = server_of(_server_url(instance, kwargs))
        provider = default_provider(type(instance).__module__)
        if address is not None:
            # Known hosts (and the user's OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS) say who really answers.
            provider = hosts.provider_for_host(address, default=provider)
        return address, port, provider


ADAPTER = MistralAdapter()
