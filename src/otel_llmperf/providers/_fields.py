# SPDX-License-Identifier: Apache-2.0
"""Small pure helpers shared by provider adapters: field access and value checks.

SDK request arguments arrive as dicts, TypedDicts, pydantic models or the SDK's "not given"
sentinels; responses as pydantic models or dicts. These helpers read all of them alike and
never raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GenAiOutputTypeValues

OMITTED = object()

# The SDKs' "argument not given" sentinels, recognised by name so no SDK import is needed.
_SENTINEL_NAMES = frozenset({"Omit", "NotGiven", "NotGivenOr", "_NotGiven", "NOT_GIVEN"})


def omitted(value: Any) -> bool:
    """True for a missing argument or an SDK "not given" sentinel (``None`` is a real value)."""
    return value is OMITTED or type(value).__name__ in _SENTINEL_NAMES


def given(value: Any) -> Any:
    """The value, or ``None`` when it is missing, ``None`` or an SDK sentinel."""
    if value is None or omitted(value):
        return None
    return value


_ABSENT = object()


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` otherwise, ``None`` when absent."""
    # Hot path (every response and stream chunk): plain dicts and SDK models first; the
    # Mapping ABC check is slow and only needed for exotic mapping types.
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(name)
    value = getattr(obj, name, _ABSENT)
    if value is not _ABSENT:
        return value
    if isinstance(obj, Mapping):
        return obj.get(name)
    return None


def number(value: Any) -> float | int | None:
    """A real int or float (not a bool), else ``None``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def count(value: Any) -> int | None:
    """A non-negative int (not a bool), else ``None``: the shape of every token count."""
    return value if type(value) is int and value >= 0 else None


def whole_count(value: Any) -> int | None:
    """A token count that may come typed as a float (``12.0``: Cohere, Vertex AI); whole, non-negative only."""
    if type(value) is float and value.is_integer() and value >= 0:
        return int(value)
    return count(value)


def stop_sequences(value: Any) -> tuple[str, ...] | None:
    """Stop sequences as a tuple: one string, or a non-empty list/tuple of strings; else ``None``.

    Only real sequences: an iterator given by the caller must reach the SDK unconsumed.
    """
    value = given(value)
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def response_format_type(response_format: Any) -> str | None:
    """``gen_ai.output.type`` of an OpenAI-style ``response_format`` (``{"type": "json_schema", ...}``)."""
    response_format = given(response_format)
    if response_format is None:
        return None
    if isinstance(response_format, type):  # a pydantic model given to parse()
        return GenAiOutputTypeValues.JSON.value
    kind = field(response_format, "type")
    if kind in ("json_schema", "json_object"):
        return GenAiOutputTypeValues.JSON.value
    if kind == "text":
        return GenAiOutputTypeValues.TEXT.value
    return None


def positive_int(value: Any, allow_zero: bool = False) -> int | None:
    """A non-bool int that is > 0 (or >= 0), else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and (value > 0 or (allow_zero and value == 0)):
        return value
    return None


_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})
_IMAGE_TYPES = frozenset({"image_url", "input_image", "image"})


def _uri(value: Any) -> str | None:
    url = field(value, "url") if not isinstance(value, str) else value
    if not isinstance(url, str):
        return None
    # Inline data URIs are payload, not a reference: never copy them onto a span.
    return "data:(inline content elided)" if url.startswith("data:") else url


def text_parts(content: Any) -> list[dict[str, Any]]:
    """Message content (a string or a list of typed parts) as semconv message parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if not isinstance(content, (list, tuple)):
        return parts
    for part in content:
        if isinstance(part, str):
            parts.append({"type": "text", "content": part})
            continue
        kind = field(part, "type")
        if kind in _TEXT_TYPES:
            parts.append({"type": "text", "content": field(part, "text")})
        elif kind in _IMAGE_TYPES:
            uri = _uri(field(part, "image_url") or field(part, "url") or field(part, "source"))
            parts.append({"type": "uri", "modality": "image", "uri": uri})
        elif kind == "refusal":
            parts.append({"type": "text", "content": field(part, "refusal")})
        else:
            parts.append({"type": str(kind or "unknown")})
    return parts
