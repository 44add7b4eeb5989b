# SPDX-License-Identifier: Apache-2.0
"""What feedback and evaluations share: their instruments, the call they judge, their event.

The judged call is named by a feedback token, a response (object or id), a span context, or
explicit model/provider; with none of them, by the current span. It is looked up in the
bounded :class:`~otel_llmperf.registry.CallRegistry` that instrumented calls fill. A call this
process does not know is still counted, with model, provider and operation ``_unknown``.
"""

from __future__ import annotations

import sys
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

from otel_llmperf import _errors, consent_policy, experiments, exposures, labels, privacy, tokens
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
from otel_llmperf.labels import check_label, check_text, short_repr
from otel_llmperf.registry import MAX_STRING, REGISTRY, CallRecord, parent_key
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
        self.warned_unsigned = False


_signals: Signals | None = None
_lock = threading.Lock()


def configure(settings: Settings, meter_provider: metrics.MeterProvider | None, logger_provider: Any = None) -> Signals:
    """Bind feedback and evaluations to these providers and settings (done by ``instrument()``)."""
    global _signals
    meter = metrics.get_meter(SCOPE, __version__, meter_provider)
    signals = Signals(meter, _logs.get_logger(SCOPE, __version__, logger_provider=logger_provider), settings)
    exposures.register(meter)
    REGISTRY.configure(settings.feedback_max_calls, settings.feedback_retention)
    labels.configure(settings.max_models, settings.max_label_values)
    with _lock:
        _signals = signals
    return signals


def activate(settings: Settings, meter_provider: Any = None, logger_provider: Any = None) -> None:
    """Bind feedback, evaluations and variants to these settings and providers."""
    configure(settings, meter_provider, logger_provider)
    experiments.configure(settings.variant, settings.max_variants)
    # Experiments declared before instrument() take their variant slots again in the reset cap;
    # an application that never declares one never loads the module.
    assignment = sys.modules.get("otel_llmperf.assignment")
    if assignment is not None:
        assignment.readmit()
    experiments.propagate_to_threads()


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
# Longer ids are not ids but abuse: rejected before any lookup. Ids up to this length are cut to
# the registry's MAX_STRING, as the registry stored them.
MAX_ID_LENGTH = 1024


def from_response(response: Any) -> CallRecord | str | None:
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
    from otel_llmperf.providers import bedrock  # only boto3's dict answers get here; not at import

    return bedrock.request_id(response)


def _from_token(signals: Signals, token: object) -> CallRecord:
    settings = signals.settings
    record, signed = tokens.verify(token, settings.feedback_secret, settings.feedback_token_ttl)
    if not signed and not signals.warned_unsigned:
        signals.warned_unsigned = True
        _logger.warning(
            "accepting unsigned feedback tokens: anyone can forge them; set OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET"
        )
    known = signals.registry.find(record.response_id) if record.response_id else None
    if known is not None:
        return known
    # Every field of a token becomes a label: each goes through its key's cap. What nobody signed
    # has a budget of its own, so forged tokens cannot take the application's slots.
    return record._replace(
        model=labels.REQUEST_MODELS.admit_from(record.model, signed) if record.model else None,
        provider=labels.PROVIDERS.admit_from(record.provider, signed),
        operation=labels.OPERATIONS.admit_from(record.operation, signed),
        variant=labels.VARIANTS.admit_from(record.variant, signed) if record.variant else None,
    )


def check_response_id(response_id: object) -> str:
    """``response_id`` if it is a usable id (a non-empty string of at most 1024), else a :class:`FeedbackError`."""
    if not isinstance(response_id, str) or not response_id or len(response_id) > MAX_ID_LENGTH:
        raise FeedbackError(
            f"response_id must be a non-empty string of at most {MAX_ID_LENGTH} characters,"
            f" got {short_repr(response_id)}"
        )
    return response_id


def check_reference(
    span_context: object = None, model: object = None, provider: object = None, operation: object = None
) -> None:
    """Raise :class:`FeedbackError` unless the explicit references to a judged call are usable."""
    if span_context is not None and not isinstance(span_context, SpanContext):
        raise FeedbackError(f"span_context must be an opentelemetry SpanContext, got {short_repr(span_context)}")
    if model is not None:
        check_text("model", model)
    if provider is not None:
        check_label("provider", provider)
    if operation is not None:
        check_label("operation", operation)


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
    """Find the judged call from whichever reference was given (see the module docstring).

    Every argument is checked before anything is looked up or admitted to a label's cap.
    """
    check_reference(span_context, model, provider, operation)
    if response_id is not None:
        check_response_id(response_id)
    if token is not None:
        return Judged(_from_token(signals, token), True)
    if response is not None:
        found = from_response(response)
        if isinstance(found, CallRecord):
            return Judged(found.capped(), True)
        if isinstance(response, str):
            check_response_id(response)
        # An id read from an SDK object is the server's: cut, never rejected.
        response_id = response_id or found
    if response_id is not None:
        response_id = response_id[:MAX_STRING]
        known = signals.registry.find(response_id)
        if known is not None:
            return Judged(known, True)
        return Judged(_UNKNOWN_CALL._replace(response_id=response_id), False)
    if model is not None or provider is not None:
        record = CallRecord(
            labels.REQUEST_MODELS.admit(model) if model is not None else None,
            labels.PROVIDERS.admit(provider) if provider is not None else UNKNOWN,
            labels.OPERATIONS.admit(operation) if operation is not None else UNKNOWN,
            None,
            span_context,
            None,
        )
        return Judged(record, True)
    if span_context is None:
        span_context = trace.get_current_span().get_span_context()
    known = None
    if span_context.is_valid:
        # The span may be the LLM call itself, or a request span the call was made in.
        known = signals.registry.find(span_context.span_id) or signals.registry.find(parent_key(span_context.span_id))
    if known is not None:
        return Judged(known, True)
    return Judged(_UNKNOWN_CALL._replace(span_context=span_context if span_context.is_valid else None), False)


def consented(signals: Signals, judged: Judged) -> bool:
    """Whether feedback about ``judged`` may export its comment and user hash (see :mod:`.consent_policy`)."""
    settings = signals.settings
    return consent_policy.decide_later(judged.record.consent, settings.consent, settings.consent_default)


def emit_evaluation_event(
    signals: Signals,
    judged: Judged,
    name: str,
    score: float | None,
    label: str | None,
    explanation: str | None,
    extra: Mapping[str, AttributeValue],
    user_id: str | None = None,
    consented: bool = True,
) -> None:
    """The semconv ``gen_ai.evaluation.result`` event, linked to the judged span.

    Without consent (``consented=False``) it carries neither the explanation nor the user hash.
    """
    attrs: dict[str, AttributeValue] = {GEN_AI_EVALUATION_NAME: name, **judged.attributes(), **extra}
    if score is not None:
        attrs[GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
    if label is not None:
        attrs[GEN_AI_EVALUATION_SCORE_LABEL] = label
    if judged.record.response_id:
        attrs[GEN_AI_RESPONSE_ID] = judged.record.response_id[:MAX_STRING]
    settings = signals.settings
    if explanation and consented and settings.capture_content and not settings.redactor_failed:
        text = privacy.redact_text(explanation, settings.redact)
        if text is not None:
            attrs[GEN_AI_EVALUATION_EXPLANATION] = text[: settings.content_max_length]
    hashed = privacy.hash_user_id(user_id, settings.user_id_key) if consented else None
    if hashed is not None:
        attrs[USER_HASH] = hashed
    signals.logger.emit(event_name=EVALUATION_EVENT, attributes=attrs, context=judged.context())
