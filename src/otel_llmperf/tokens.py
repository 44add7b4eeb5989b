# SPDX-License-Identifier: Apache-2.0
"""Feedback tokens: a short opaque string naming a call, to be handed back with feedback.

Format ``lpf1.<payload>.<signature>``: the payload is base64url of compact JSON holding the
call's response id, model, provider, operation, variant, span context, issue time and, for a
call made without consent, a flag saying so (``"c": 0``); the
signature is base64url of the first 16 bytes of HMAC-SHA256(secret, payload), or empty when no
secret is configured. With a secret, verification rejects unsigned, forged, altered and expired
tokens; the payload is never trusted before the signature is checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

from otel_llmperf.errors import InvalidFeedbackToken
from otel_llmperf.labels import check_label
from otel_llmperf.registry import MAX_STRING, CallRecord

PREFIX = "lpf1"
_SIGNATURE_BYTES = 16
_MAX_TOKEN = 2048
# Issue times are seconds since the epoch: anything outside this is forged, and a huge int would
# overflow the float arithmetic of the age check.
_MAX_ISSUED = 2**40
_SPAN_CONTEXT = re.compile(r"[0-9a-f]{50}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    import hashlib  # here, not at import: loading OpenSSL's hashes costs instrument() ~3 ms
    import hmac

    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()[:_SIGNATURE_BYTES])


def issue(record: CallRecord, secret: bytes | None, now: float | None = None) -> str:
    """A token for ``record``, signed when ``secret`` is given."""
    body: dict[str, Any] = {
        "p": record.provider,
        "o": record.operation,
        "i": int(now if now is not None else time.time()),
    }
    if record.response_id:
        body["r"] = record.response_id
    if record.model:
        body["m"] = record.model
    if record.variant:
        body["v"] = record.variant
    if record.consent is False:
        body["c"] = 0  # feedback in another process must not export this call's comment or user hash
    context = record.span_context
    if context is not None and context.is_valid:
        body["t"] = f"{context.trace_id:032x}{context.span_id:016x}{int(context.trace_flags):02x}"
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii"))
    return f"{PREFIX}.{payload}.{_sign(secret, payload) if secret else ''}"


def _text(body: dict[str, Any], key: str, field: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_STRING or not value.isprintable():
        raise InvalidFeedbackToken(f"token: {field} is missing or not a printable string of at most {MAX_STRING}")
    return value


def _span_context(value: Any) -> SpanContext | None:
    if value is None:
        return None
    # int(..., 16) alone would take signs, spaces and underscores.
    if not isinstance(value, str) or not _SPAN_CONTEXT.fullmatch(value):
        raise InvalidFeedbackToken("token: span context is not 50 lowercase hex digits")
    trace_id, span_id, flags = int(value[:32], 16), int(value[32:48], 16), int(value[48:], 16)
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))


def verify(token: object, secret: bytes | None, ttl: float, now: float | None = None) -> tuple[CallRecord, bool]:
    """The call a token names and whether it was signed; :class:`InvalidFeedbackToken` otherwise."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        raise InvalidFeedbackToken(f"token must be a string from feedback_token() of at most {_MAX_TOKEN} characters")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise InvalidFeedbackToken(f"token is not a feedback token (expected '{PREFIX}.<payload>.<signature>')")
    _, payload, signature = parts
    if secret is not None:
        if not signature:
            raise InvalidFeedbackToken("token is not signed, and this process requires signed tokens")
        import hmac

        if not hmac.compare_digest(signature, _sign(secret, payload)):
            raise InvalidFeedbackToken("token signature does not match: forged, altered or signed with another secret")
    try:
        body = json.loads(_unb64(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: a payload of nested brackets.
        raise InvalidFeedbackToken("token payload is not valid base64url JSON") from None
    if not isinstance(body, dict):
        raise InvalidFeedbackToken("token payload is not a JSON object")
    issued = body.get("i")
    if not isinstance(issued, int) or isinstance(issued, bool) or not 0 <= issued < _MAX_ISSUED:
        raise InvalidFeedbackToken("token: issue time is missing or not a time")
    current = now if now is not None else time.time()
    if ttl > 0 and current - issued > ttl:
        raise InvalidFeedbackToken(f"token expired: issued {int(current - issued)} s ago, valid for {int(ttl)} s")
    variant = body.get("v")
    if variant is not None:
        try:
            variant = check_label("variant", variant)
        except ValueError as error:
            raise InvalidFeedbackToken(f"token: {error}") from None
    if body.get("c", 0) != 0:
        raise InvalidFeedbackToken("token: consent flag is not 0")
    record = CallRecord(
        model=_text(body, "m", "model"),
        provider=_text(body, "p", "provider", required=True) or "",
        operation=_text(body, "o", "operation", required=True) or "",
        variant=variant,
        span_context=_span_context(body.get("t")),
        response_id=_text(body, "r", "response id"),
        consent=False if "c" in body else None,
    )
    return record, bool(signature)
