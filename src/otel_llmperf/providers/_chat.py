# SPDX-License-Identifier: Apache-2.0
"""Extractors of the chat shape that OpenAI's, Mistral's and Cohere's APIs share.

Their requests name the same sampling parameters (some under other names), their messages carry a
role, content and OpenAI-style ``tool_calls``, and a ``tool`` message answers one call by its
``tool_call_id``. Each adapter passes its own names and readers; everything here is per call,
never per stream chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
)

from otel_llmperf.providers._fields import field, number, positive_int, response_format_type, stop_sequences
from otel_llmperf.providers.base import Attributes, Messages

Get = Callable[[Any, str], Any]  # reads one field of an SDK object or dict (`_fields.field` or a stricter one)
Parts = list[dict[str, Any]]


def request_attributes(
    kwargs: Mapping[str, Any],
    attrs: Attributes,
    *,
    top_p: str = "top_p",
    top_k: str | None = None,
    seed: str = "seed",
    choices: str | None = "n",
    stop: str = "stop",
    max_tokens: str | None = None,
    response_format: str | None = None,
) -> Attributes:
    """Add the sampling parameters of a request to ``attrs``, each read under the SDK's name (None: none)."""
    for key, name in (
        ("temperature", GEN_AI_REQUEST_TEMPERATURE),
        (top_p, GEN_AI_REQUEST_TOP_P),
        ("frequency_penalty", GEN_AI_REQUEST_FREQUENCY_PENALTY),
        ("presence_penalty", GEN_AI_REQUEST_PRESENCE_PENALTY),
    ):
        value = number(kwargs.get(key))
        if value is not None:
            attrs[name] = value
    for optional, name in ((max_tokens, GEN_AI_REQUEST_MAX_TOKENS), (top_k, GEN_AI_REQUEST_TOP_K)):
        # top_k 0 disables top-k sampling: not a real k.
        limit = positive_int(kwargs.get(optional)) if optional is not None else None
        if limit is not None:
            attrs[name] = limit
    seed_value = positive_int(kwargs.get(seed), allow_zero=True)
    if seed_value is not None:
        attrs[GEN_AI_REQUEST_SEED] = seed_value
    count = positive_int(kwargs.get(choices)) if choices is not None else None
    if count is not None and count != 1:
        attrs[GEN_AI_REQUEST_CHOICE_COUNT] = count
    sequences = stop_sequences(kwargs.get(stop))
    if sequences is not None:
        attrs[GEN_AI_REQUEST_STOP_SEQUENCES] = sequences
    output_type = response_format_type(kwargs.get(response_format)) if response_format is not None else None
    if output_type is not None:
        attrs[GEN_AI_OUTPUT_TYPE] = output_type
    return attrs


def tool_call_parts(message: Any, get: Get = field) -> Parts:
    """The OpenAI-style ``tool_calls`` of a message as semconv ``tool_call`` parts."""
    parts = []
    for call in get(message, "tool_calls") or ():
        function = get(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": get(call, "id"),
                "name": get(function, "name"),
                "arguments": get(function, "arguments"),
            }
        )
    return parts


def input_messages(
    messages: Any,
    parts: Callable[[str, Any], Parts],
    get: Get = field,
    tool_response: Callable[[Any], Any] = lambda content: content,
) -> Messages | None:
    """Chat messages as semconv input messages: ``parts(role, message)``, and a tool message as its response.

    Only a list or tuple is read: an iterator the caller gave must reach the SDK unconsumed.
    """
    if not isinstance(messages, (list, tuple)):
        return None
    result: Messages = []
    for message in messages:
        role = get(message, "role") or "user"
        if role == "tool":
            response = tool_response(get(message, "content"))
            part = {"type": "tool_call_response", "id": get(message, "tool_call_id"), "response": response}
            result.append({"role": "tool", "parts": [part]})
        else:
            result.append({"role": role, "parts": parts(role, message)})
    return result


def embedding_attributes(response: Any, get: Get = field) -> Attributes:
    """``gen_ai.embeddings.dimension.count`` from the first vector of an OpenAI-style ``data`` list."""
    data = get(response, "data") or ()
    if data:
        vector = get(data[0], "embedding")
        if isinstance(vector, (list, tuple)):
            return {GEN_AI_EMBEDDINGS_DIMENSION_COUNT: len(vector)}
    return {}
