# SPDX-License-Identifier: Apache-2.0
"""User feedback as metrics: ``record_feedback`` and ``feedback_token``.

Each piece of feedback increments ``llmperf.feedback`` (kind, label, model, provider,
operation, variant), records ``llmperf.feedback.score`` for ratings and NPS, and emits the
semconv ``gen_ai.evaluation.result`` event linked to the judged call's span. Input is checked
before anything is recorded: a bad call raises :class:`FeedbackError` and records nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
)
from opentelemetry.trace import SpanContext

from otel_llmperf import _errors, feedback_events, privacy, signals, tokens
from otel_llmperf import labels as labels_module
from otel_llmperf.attributes import LLMPERF_FEEDBACK_KIND, LLMPERF_FEEDBACK_LABEL, LLMPERF_VARIANT
from otel_llmperf.errors import FeedbackError
from otel_llmperf.labels import check_label, check_optional_text, short_repr

KINDS = ("thumbs", "rating", "nps", "label")
MAX_SCALE_SPAN = 100
MAX_DECLARED_LABELS = 50
MAX_USER_ID = 1024
# True/1 and False/0 are the same dict keys: bools and the ints 1/0 are both accepted.
_THUMBS: dict[object, str] = {True: "up", False: "down", "up": "up", "down": "down"}


@dataclass(frozen=True)
class Feedback:
    """What was recorded: the interpreted feedback and the call it was attributed to."""

    kind: str
    label: str
    score: float | None
    model: str
    provider: str
    operation: str
    variant: str | None
    matched: bool  # False: the call was not known here, counted under ``_unknown``
    trace_id: str | None
    span_id: str | None


def _whole(value: Any, low: int, high: int) -> int | None:
    # Ints compare exactly whatever their size; float(10**400) would raise OverflowError.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value) if low <= value <= high else None


def _rating(value: Any, scale: Any) -> tuple[str, float]:
    # Both ends within +-100: the rating label is one of at most 201 values, whatever the caller.
    if (
        not isinstance(scale, (tuple, list))
        or len(scale) != 2
        or not all(isinstance(end, int) and not isinstance(end, bool) for end in scale)
        or not -MAX_SCALE_SPAN <= scale[0] < scale[1] <= min(scale[0] + MAX_SCALE_SPAN, MAX_SCALE_SPAN)
    ):
        raise FeedbackError(
            "scale must be two integers (low, high) with -100 <= low < high <= 100 and high - low <= 100, "
            f"got {short_repr(scale)}"
        )
    low, high = scale
    whole = _whole(value, low, high)
    if whole is None:
        raise FeedbackError(f"value of a rating must be a whole number from {low} to {high}, got {short_repr(value)}")
    return str(whole), float(whole)


def _nps(value: Any) -> tuple[str, float]:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
        raise FeedbackError(f"value of an nps answer must be a whole number from 0 to 10, got {short_repr(value)}")
    group = "promoter" if value >= 9 else "passive" if value >= 7 else "detractor"
    return group, float(value)


def listing(values: Collection[str], limit: int = 10) -> str:
    """The first ``limit`` of ``values``, sorted and comma separated, for an error message."""
    shown = sorted(values)[:limit]
    return ", ".join(shown) + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _declared(value: Any, declared: Any) -> tuple[str, None]:
    if (
        not isinstance(declared, Collection)
        or isinstance(declared, (str, bytes))
        or not 1 <= len(declared) <= MAX_DECLARED_LABELS
    ):
        raise FeedbackError(f"labels must declare 1 to {MAX_DECLARED_LABELS} allowed labels for kind 'label'")
    allowed = [check_label("labels", label) for label in declared]
    if not isinstance(value, str) or value not in allowed:
        raise FeedbackError(f"value {short_repr(value)} is not a declared label; allowed: {listing(allowed)}")
    return value, None


def interpret(kind: Any, value: Any, scale: Any, labels: Collection[str] | None) -> tuple[str, float | None]:
    """The metric label and numeric score of one piece of feedback, or a :class:`FeedbackError`."""
    if kind == "thumbs":
        key = value.lower() if isinstance(value, str) else value
        # Only these types can be keys of _THUMBS: a list or a dict would raise TypeError.
        if not isinstance(key, (str, int)) or key not in _THUMBS:
            raise FeedbackError(
                f"value of a thumbs feedback must be True/False, 'up'/'down' or 1/0, got {short_repr(value)}"
            )
        label = _THUMBS[key]
        return label, 1.0 if label == "up" else 0.0
    if kind == "rating":
        return _rating(value, scale)
    if kind == "nps":
        return _nps(value)
    if kind == "label":
        return _declared(value, labels)
    raise FeedbackError(f"kind must be one of {', '.join(KINDS)}, got {short_repr(kind)}")


def record_feedback(
    kind: str,
    value: Any,
    *,
    response: Any = None,
    response_id: str | None = None,
    token: str | None = None,
    span_context: SpanContext | None = None,
    scale: tuple[int, int] = (1, 5),
    labels: Collection[str] | None = None,
    comment: str | None = None,
    user_id: str | None = None,
    name: str | None = None,
) -> Feedback:
    """Record one piece of user feedback about one LLM call (see the module docstring)."""
    label, score = interpret(kind, value, scale, labels)
    event_name = check_label("name", name) if name is not None else f"user_feedback.{kind}"
    check_optional_text("comment", comment, 10**9)
    _check_user_id(user_id)
    current = signals.current()
    judged = signals.resolve(
        current, response=response, response_id=response_id, token=token, span_context=span_context
    )
    # Checked everything: only now may a new declared label take a slot of its cap.
    if kind == "label":
        label = labels_module.FEEDBACK_LABELS.admit(label)
    attrs = judged.attributes()
    context = judged.context()
    listening = feedback_events.listening()
    # Decided only when something personal could go out (a comment, a user id) or a subscriber listens.
    allowed = signals.consented(current, judged) if comment or user_id is not None or listening else True
    # Metrics and the event are separate places: a broken meter must not cost the event, nor the reverse.
    try:
        current.feedback.add(1, {**attrs, LLMPERF_FEEDBACK_KIND: kind, LLMPERF_FEEDBACK_LABEL: label}, context)
        if score is not None and kind in ("rating", "nps"):
            current.feedback_score.record(score, {**attrs, LLMPERF_FEEDBACK_KIND: kind}, context)
    except Exception as error:
        _errors.METRICS.caught(error)
    try:
        signals.emit_evaluation_event(
            current, judged, event_name, score, label, comment, {LLMPERF_FEEDBACK_KIND: kind}, user_id, allowed
        )
    except Exception as error:
        _errors.EVENTS.caught(error)
    if listening:
        feedback_events.publish(
            judged,
            attrs,
            kind=kind,
            name=event_name,
            evaluation=None,
            score=score,
            label=label,
            consented=allowed,
            comment=comment,
            user_hash=privacy.hash_user_id(user_id, current.settings.user_id_key) if allowed else None,
        )
    span = judged.record.span_context
    return Feedback(
        kind=kind,
        label=label,
        score=score,
        model=str(attrs[GEN_AI_REQUEST_MODEL]),
        provider=str(attrs[GEN_AI_PROVIDER_NAME]),
        operation=str(attrs[GEN_AI_OPERATION_NAME]),
        variant=str(attrs[LLMPERF_VARIANT]) if LLMPERF_VARIANT in attrs else None,
        matched=judged.matched,
        trace_id=f"{span.trace_id:032x}" if span is not None else None,
        span_id=f"{span.span_id:016x}" if span is not None else None,
    )


def _check_user_id(user_id: Any) -> None:
    if user_id is None:
        return
    if isinstance(user_id, str) and len(user_id) <= MAX_USER_ID:
        return
    if isinstance(user_id, int) and not isinstance(user_id, bool) and user_id.bit_length() <= 64:
        return
    raise FeedbackError(
        f"user_id must be a string of at most {MAX_USER_ID} characters or a 64-bit integer, got {short_repr(user_id)}"
    )


def feedback_token(response: Any) -> str:
    """A short opaque string naming the call behind ``response``, to hand back with feedback.

    ``response`` is what the SDK returned (a response, a stream, a raw response) or its response
    id. Signed when ``OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET`` is set. A call this process does not
    know still gets a token; its feedback then counts under ``_unknown``.
    """
    if response is None:
        raise FeedbackError("response must be an SDK response, stream or response id, got None")
    if not isinstance(response, str) and signals.from_response(response) is None:
        raise FeedbackError(f"response must be an SDK response, stream or response id, got {short_repr(response)}")
    current = signals.current()
    judged = signals.resolve(current, response=response)
    return tokens.issue(judged.record, current.settings.feedback_secret)
