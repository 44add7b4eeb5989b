# SPDX-License-Identifier: Apache-2.0
"""Privacy policy: what text may reach telemetry, in what form, and how much.

* Nothing is captured unless content capture is on. When it is, messages are serialised in
  the semconv ``gen_ai.*.messages`` JSON shape and shortened to a size cap in a way that keeps
  the JSON valid (long strings are cut and marked).
* A redaction hook (``str -> str``) rewrites every captured text first; if it fails, the text
  is dropped, never exported unredacted.
* User identifiers are exported only as a keyed hash (``user.hash``), and only with a key.
* All of the above only for calls with consent: :mod:`otel_llmperf.consent_policy` decides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from otel_llmperf import _errors

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


# --- redaction ----------------------------------------------------------------------------

# Keys whose string values are structure, not content: never passed to a redactor.
_STRUCTURAL = frozenset({"role", "type", "finish_reason", "id", "name", "modality"})


def redact_text(text: str, hook: Callable[[str], str] | None) -> str | None:
    """``text`` through the redaction hook; ``None`` (capture nothing) if the hook fails."""
    if hook is None:
        return text
    try:
        result = hook(text)
    except Exception as error:
        _errors.report("the redaction hook (content dropped)", error)
        return None
    if not isinstance(result, str):
        _errors.report("the redaction hook (content dropped)", TypeError(f"it returned {type(result).__name__}"))
        return None
    return result


def redact_messages(value: Any, hook: Callable[[str], str] | None) -> Any:
    """A copy of semconv messages with every content string redacted; ``None`` if any redaction fails."""
    if hook is None:
        return value
    failed = False

    def walk(item: Any, key: str | None) -> Any:
        nonlocal failed
        if isinstance(item, dict):
            return {k: walk(v, k) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, key) for v in item]
        if isinstance(item, str) and key not in _STRUCTURAL:
            redacted = redact_text(item, hook)
            if redacted is None:
                failed = True
            return redacted
        return item

    result = walk(value, None)
    return None if failed else result


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d ().-]{7,}\d(?!\w)")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "<card>" if _luhn(digits) else match.group()


def basic_redactor(text: str) -> str:
    """Mask e-mail addresses, payment card numbers (Luhn-checked), IPv4 addresses and phone numbers."""
    text = _EMAIL.sub("<email>", text)
    text = _CARD.sub(_card, text)
    text = _IPV4.sub("<ip>", text)
    return _PHONE.sub("<phone>", text)


# --- user identifiers ---------------------------------------------------------------------


def hash_user_id(user_id: Any, key: bytes | None) -> str | None:
    """HMAC-SHA256 of a user id under ``key`` (hex); ``None`` without a key or an id: never the raw id."""
    if key is None or user_id is None or user_id == "":
        return None
    import hashlib  # here, not at import: loading OpenSSL's hashes costs instrument() ~3 ms
    import hmac

    return hmac.new(key, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()
