# SPDX-License-Identifier: Apache-2.0
"""What feedback and evaluations share: their instruments, the call they judge, their event.

The judged call is named by a feedback token, a response (object or id), a span context, or
explicit model/provider; with none of them, by the current span. It is looked up in the
bounded :class:`~otel_llmperf.registry.CallRegistry` that instrumented calls fill. A call this
process does not know is still counted, with model, provider and operation ``_unknown``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_EVALUATION_EXPLANATION,
    GEN_AI_EVALUATION_NAME,
    GEN_AI_EVALUATION_SCORE_LABEL,
    GEN_AI_EVALUATION_SCORE_VALUE,
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_ID,
)
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_HASH
from opentelemetry.trace import NonRecordingSpan, SpanContext
from opentelemetry.util.types import AttributeValue

from otel_llmperf import _errors, experiments, privacy, tokens
from otel_llmperf.attributes import LLMPERF_VARIANT, UNKNOWN
from otel_llmperf.config import Settings, load_settings
from otel_llmperf.errors import FeedbackError
from otel_llmperf.instruments import (
    LLMPERF_EVALUATION_OUTCOME,
    LLMPERF_EVALUATION_SCORE,
    LLMPERF_FEEDBACK,
    LLMPERF_FEEDBACK_SCORE,
    counter,
    histogram,
)
from otel_llmperf.labels import BoundedLabels
from otel_llmperf.providers import bedrock
from otel_llmperf.registry import REGISTRY, CallRecord, parent_key
from otel_llmperf.version import __version__

_logger = _errors.logger("otel_llmperf")

EVALUATION_EVENT = "gen_ai.evaluation.result"
SCOPE = "otel_llmperf"


class Signals:
    """Instruments, event logger and settings of feedback and evaluations, made once."""

    def __init__(self, meter: metrics.Meter, logger: _logs.Logger, settings: Settings) -> None:
        self.feedback = counter(meter, LLMPERF_FEEDBACK)
        self.feedback_score = histogram(meter, LLMPERF_FEEDBACK_SCORE)
        self.evaluation_score = histogram(meter, LLMPERF_EVALUATION_SCORE)
        self.evaluation_outcome = counter(meter, LLMPERF_EVALUATION_OUTCOME)
        self.logger = logger
        self.settings = settings
        self.registry = REGISTRY
        # Unsigned tokens can claim any model: cap what they may add to the series.
        self.unsigned_models = BoundedLabels("model names from unsigned feedback tokens", 100)
        self.evaluation_names = BoundedLabels("gen_ai.evaluation.name", 100)
        self.warned_unsigned = False


_signals: Signals | None = None
_lock = threading.Lock()


def configure(settings: Settings, meter_provider: metrics.MeterProvider | None, logger_provider: Any = None) -> Signals:
    """Bind feedback and evaluations to these providers and settings (done by ``instrument()``)."""
    global _signals
    signals = Signals(
        metrics.get_meter(SCOPE, __version__, meter_provider),
        _logs.get_logger(SCOPE, __version__, logger_provider=logger_provider),
        settings,
    )
    REGISTRY.configure(settings.feedback_max_calls, settings.feedback_retention)
    with _lock:
        _signals = signals
    return signals


def current() -> Signals:
    """The configured signals, or ones bound to the global providers and the environment."""
    with _lock:
        found = _signals
    return found if found is not None else configure(load_settings(), None)


@dataclass(frozen=True)
class Judged:
    """The call a feedback or evaluation is about, and whether this process really knew it."""

    record: CallRecord
    matched: bool

    def attributes(self) -> dict[str, AttributeValue]:
        """The bounded metric attributes of the judged call (variant: the call's, else the current one)."""
        record = self.record
        attrs: dict[str, AttributeValue] = {
            GEN_AI_REQUEST_MODEL: record.model or UNKNOWN,
            GEN_AI_PROVIDER_NAME: record.provider or UNKNOWN,
            GEN_AI_OPERATION_NAME: record.operation or UNKNOWN,
        }
        variant = record.variant or experiments.current_variant()
        if variant:
            attrs[LLMPERF_VARIANT] = variant
        return attrs

    def context(self) -> Context | None:
        """A context whose span is the judged one, for exemplars and for linking the event."""
        span_context = self.record.span_context
        if span_context is None or not span_context.is_valid:
            return None
        return trace.set_span_in_context(NonRecordingSpan(span_context))


_UNKNOWN_CALL = CallRecord(None, UNKNOWN, UNKNOWN, None, None, None)


def _from_response(response: Any) -> CallRecord | str | None:
    # Our stream and response proxies know their call; SDK objects carry the response id.
    invocation = getattr(response, "_self_invocation", None)
    if invocation is not None:
        record = invocation.call_record()
        if isinstance(record, CallRecord):
            return record
    if isinstance(response, str):
        return response
    if isinstance(response, Mapping):
        return _from_mapping(response)
    for name in ("id", "response_id"):  # response_id: google-genai's GenerateContentResponse
        response_id = getattr(response, name, None)
        if isinstance(response_id, str):
            return response_id
    return None


def _from_mapping(response: Mapping[Any, Any]) -> CallRecord | str | None:
    # boto3 answers with dicts: a stream one holds our stream proxy in a slot; any of them
    # names its call by the AWS request id, which the registry knows the call by.
    for value in response.values():
        invocation = getattr(value, "_self_invocation", None)
        if invocation is not None:
            record = invocation.call_record()
            if isinstance(record, CallRecord):
                return record
    response_id = response.get("id")
    if isinstance(response_id, str) and response_id:
        return response_id
    return bedrock.request_id(response)


def _from_token(signals: Signals, token: object) -> CallRecord:
    settings = signals.settings
    record, signed = tokens.verify(token, settings.feedback_secret, settings.feedback_token_ttl)
    if not signed:
        if not signals.warned_unsigned:
            signals.warned_unsigned = True
            _logger.warning(
                "accepting unsigned feedback tokens: anyone can forge them; set OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET"
            )
        if record.model:
            record = record._replace(model=signals.unsigned_models.admit(record.model))
    known = signals.registry.find(record.response_id) if record.response_id else None
    return known or record


def resolve(
    signals: Signals,
    *,
    response: Any = None,
    response_id: str | None = None,
    token: str | None = None,
    span_context: SpanContext | None = None,
    model: str | None = None,
    provider: str | None = None,
    operation: str | None = None,
) -> Judged:
    """Find the judged call from whichever reference was given (see the module docstring)."""
    if token is not None:
        return Judged(_from_token(signals, token), True)
    if response is not None:
        found = _from_response(response)
        if isinstance(found, CallRecord):
            return Judged(found, True)
        response_id = response_id or found
    if response_id is not None:
        if not isinstance(response_id, str) or not response_id:
            raise FeedbackError(f"response_id must be a non-empty string, got {response_id!r}")
        known = signals.registry.find(response_id)
        if known is not None:
            return Judged(known, True)
        return Judged(_UNKNOWN_CALL._replace(response_id=response_id), False)
    if model is not None or provider is not None:
        return Judged(CallRecord(model, provider or UNKNOWN, operation or UNKNOWN, None, span_context, None), True)
    if span_context is None:
        span_context = trace.get_current_span().get_span_context()
    known = None
    if span_context.is_valid:
        # The span may be the LLM call itself, or a request span the call was made in.
        known = signals.registry.find(span_context.span_id) or signals.registry.find(parent_key(span_context.span_id))
    if known is not None:
        return Judged(known, True)
    return Judged(_UNKNOWN_CALL._replace(span_context=span_context if span_context.is_valid else None), False)


def emit_evaluation_event(
    signals: Signals,
    judged: Judged,
    name: str,
    score: float | None,
    label: str | None,
    explanation: str | None,
    extra: Mapping[str, AttributeValue],
    user_id: str | None = None,
) -> None:
    """The semconv ``gen_ai.evaluation.result`` event, linked to the judged span."""
    attrs: dict[str, AttributeValue] = {GEN_AI_EVALUATION_NAME: name, **judged.attributes(), **extra}
    if score is not None:
        attrs[GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
    if label is not None:
        attrs[GEN_AI_EVALUATION_SCORE_LABEL] = label
    if judged.record.response_id:
        attrs[GEN_AI_RESPONSE_ID] = judged.record.response_id
    settings = signals.settings
    if explanation and settings.capture_content and not settings.redactor_failed:
        text = privacy.redact_text(explanation, settings.redact)
        if text is not None:
            attrs[GEN_AI_EVALUATION_EXPLANATION] = text[: settings.content_max_length]
    hashed = privacy.hash_user_id(user_id, settings.user_id_key)
    if hashed is not None:
        attrs[USER_HASH] = hashed
    signals.logger.emit(event_name=EVALUATION_EVENT, attributes=attrs, context=judged.context())
