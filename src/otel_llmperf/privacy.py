# SPDX-License-Identifier: Apache-2.0
"""Content-capture policy: what prompt and completion text may reach a span, and how much.

Nothing is captured unless content capture is on. When it is, messages are serialised in the
semconv ``gen_ai.*.messages`` JSON shape and shortened to a size cap in a way that keeps the
JSON valid (long strings are cut and marked), so a backend never receives a broken value.
"""

from __future__ import annotations

import json
from typing import Any

TRUNCATION_MARK = "…[truncated]"
_MAX_PASSES = 64


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _longest_string(value: Any, best: tuple[int, Any, Any]) -> tuple[int, Any, Any]:
    # Returns (length, container, key) of the longest string leaf, for in-place shortening.
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return best
    for key, item in items:
        if isinstance(item, str):
            if len(item) > best[0]:
                best = (len(item), value, key)
        else:
            best = _longest_string(item, best)
    return best


def bounded_json(value: Any, max_length: int) -> str:
    """Serialise ``value`` as compact JSON of at most ``max_length`` characters, still valid JSON."""
    text = _dump(value)
    if len(text) <= max_length:
        return text
    value = json.loads(text)  # a private copy we may cut
    for _ in range(_MAX_PASSES):
        excess = len(text) - max_length
        if excess <= 0:
            return text
        length, container, key = _longest_string(value, (0, None, None))
        if container is None or length <= len(TRUNCATION_MARK):
            break
        # Escapes make the JSON longer than the raw string; the slack and the next pass absorb that.
        keep = max(0, length - excess - len(TRUNCATION_MARK) - 8)
        container[key] = container[key][:keep] + TRUNCATION_MARK
        text = _dump(value)
    if len(text) <= max_length:
        return text
    return _dump([{"truncated": True}])
