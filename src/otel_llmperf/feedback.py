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

from opentelemetry.trace import SpanContext

from otel_llmperf import _errors, signals, tokens
from otel_llmperf.attributes import LLMPERF_FEEDBACK_KIND, LLMPERF_FEEDBACK_LABEL
from otel_llmperf.errors import FeedbackError
from otel_llmperf.labels import check_label

KINDS = ("thumbs", "rating", "nps", "label")
MAX_SCALE_SPAN = 100
MAX_DECLARED_LABELS = 50
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


def _rating(value: Any, scale: Any) -> tuple[str, float]:
    if (
        not isinstance(scale, (tuple, list))
        or len(scale) != 2
        or not all(isinstance(end, int) and not isinstance(end, bool) for end in scale)
        or not scale[0] < scale[1] <= scale[0] + MAX_SCALE_SPAN
    ):
        raise FeedbackError(f"scale must be two integers (low, high) with low < high <= low + 100, got {scale!r}")
    low, high = scale
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value != int(value)
        or not low <= value <= high
    ):
        raise FeedbackError(f"value of a rating must be a whole number from {low} to {high}, got {value!r}")
    return str(int(value)), float(value)


def _nps(value: Any) -> tuple[str, float]:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
        raise FeedbackError(f"value of an nps answer must be a whole number from 0 to 10, got {value!r}")
    group = "promoter" if value >= 9 else "passive" if value >= 7 else "detractor"
    return group, float(value)


def _declared(value: Any, labels: Collection[str] | None) -> tuple[str, None]:
    if not labels or isinstance(labels, str) or len(labels) > MAX_DECLARED_LABELS:
        raise FeedbackError(f"labels must declare 1 to {MAX_DECLARED_LABELS} allowed labels for kind 'label'")
    allowed = [check_label("labels", label) for label in labels]
    if value not in allowed:
        raise FeedbackError(f"value {value!r} is not a declared label; allowed: {', '.join(sorted(allowed))}")
    return str(value), None


def interpret(kind: Any, value: Any, scale: Any, labels: Collection[str] | None) -> tuple[str, float | None]:
    """The metric label and numeric score of one piece of feedback, or a :class:`FeedbackError`."""
    if kind == "thumbs":
        key = value.lower() if isinstance(value, str) else value
        if isinstance(key, float) or key not in _THUMBS:
            raise FeedbackError(f"value of a thumbs feedback must be True/False, 'up'/'down' or 1/0, got {value!r}")
        label = _THUMBS[key]
        return label, 1.0 if label == "up" else 0.0
    if kind == "rating":
        return _rating(value, scale)
    if kind == "nps":
        return _nps(value)
    if kind == "label":
        return _declared(value, labels)
    raise FeedbackError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


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
    current = signals.current()
    judged = signals.resolve(
        current, response=response, response_id=response_id, token=token, span_context=span_context
    )
    attrs = judged.attributes()
    try:
        context = judged.context()
        current.feedback.add(1, {**attrs, LLMPERF_FEEDBACK_KIND: kind, LLMPERF_FEEDBACK_LABEL: label}, context)
        if score is not None and kind in ("rating", "nps"):
            current.feedback_score.record(score, {**attrs, LLMPERF_FEEDBACK_KIND: kind}, context)
        signals.emit_evaluation_event(
            current, judged, event_name, score, label, comment, {LLMPERF_FEEDBACK_KIND: kind}, user_id
        )
    except Exception as error:
        _errors.report("recording feedback", error)
    span = judged.record.span_context
    return Feedback(
        kind=kind,
        label=label,
        score=score,
        model=str(attrs["gen_ai.request.model"]),
        provider=str(attrs["gen_ai.provider.name"]),
        operation=str(attrs["gen_ai.operation.name"]),
        variant=str(attrs["llmperf.variant"]) if "llmperf.variant" in attrs else None,
        matched=judged.matched,
        trace_id=f"{span.trace_id:032x}" if span is not None else None,
        span_id=f"{span.span_id:016x}" if span is not None else None,
    )


def feedback_token(response: Any) -> str:
    """A short opaque string naming the call behind ``response``, to hand back with feedback.

    ``response`` is what the SDK returned (a response, a stream, a raw response) or its response
    id. Signed when ``OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET`` is set. A call this process does not
    know still gets a token; its feedback then counts under ``_unknown``.
    """
    if response is None:
        raise FeedbackError("response must be an SDK response, stream or response id, got None")
    current = signals.current()
    judged = signals.resolve(current, response=response)
    return tokens.issue(judged.record, current.settings.feedback_secret)
