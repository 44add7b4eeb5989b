# SPDX-License-Identifier: Apache-2.0
"""The per-call lifecycle: the only place spans are finished and metrics recorded.

One :class:`Invocation` per instrumented SDK call. It starts a CLIENT span and a monotonic
clock, takes stream chunks as they arrive (time to first chunk, gaps between chunks), and
finishes exactly once: on a response, on the end of a stream, on an error, on an early close
or when an abandoned stream is garbage-collected.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import MutableMapping
from time import perf_counter
from typing import Any, ClassVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OPERATION_NAME,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    GEN_AI_TOKEN_TYPE,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    GenAiTokenTypeValues,
)
from opentelemetry.semconv._incubating.attributes.openai_attributes import OPENAI_RESPONSE_SYSTEM_FINGERPRINT
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_HASH
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode, Tracer

from otel_llmperf import _errors
from otel_llmperf.attributes import LLMPERF_EXPERIMENT, LLMPERF_USAGE_COST, LLMPERF_VARIANT
from otel_llmperf.calllog import log_call
from otel_llmperf.config import Settings
from otel_llmperf.consent_policy import CONSENT, decide
from otel_llmperf.experiments import current_experiment, current_variant
from otel_llmperf.instruments import Instruments
from otel_llmperf.labels import (
    ERROR_TYPES,
    FINGERPRINTS,
    FINISH_REASONS,
    OVERFLOW,
    REQUEST_MODELS,
    RESPONSE_MODELS,
    SERVER_ADDRESSES,
    cap_length,
)
from otel_llmperf.layering import another_layer_records, suppress_inner_layers
from otel_llmperf.privacy import bounded_json, hash_user_id, redact_messages
from otel_llmperf.providers.base import (
    Api,
    Attributes,
    ChunkFolder,
    ChunkKind,
    ProviderAdapter,
    ResponseInfo,
    ResultKind,
)
from otel_llmperf.registry import REGISTRY, CallRecord

# Documented outcomes of streams that did not run to their end.
CANCELLED = "cancelled"  # closed (close(), with-exit, break + close) before the last chunk
ABANDONED = "abandoned"  # garbage-collected while neither exhausted nor closed

# Set in the context while an instrumented SDK call runs, so that an instrumented method
# called from inside another one (an SDK helper, a second instrumentation layer of ours)
# is recorded once, by the outermost call.
_ACTIVE = otel_context.create_key("otel_llmperf.active")

_INPUT = GenAiTokenTypeValues.INPUT.value
_OUTPUT = GenAiTokenTypeValues.OUTPUT.value
_USAGE_SPAN_ATTRIBUTES = (
    ("input_tokens", GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_read_input_tokens", GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_creation_input_tokens", GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
    ("reasoning_output_tokens", GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
)


def error_type_of(error: BaseException) -> str:
    """The ``error.type`` of an exception: its class name; task cancellation is ``cancelled``."""
    if isinstance(error, asyncio.CancelledError):
        return CANCELLED
    # Function-local classes would carry "f.<locals>." in their qualname; keep the class part.
    return type(error).__qualname__.rpartition(">.")[2]


def _capped(value: object) -> str | None:
    return cap_length(value) if isinstance(value, str) and value else None


class Telemetry:
    """What every call of one provider needs, bound once at instrument time."""

    __slots__ = (
        "adapter",
        "capture",
        "chunk_metrics",
        "consent_ask",
        "consent_default",
        "consent_needed",
        "content_max_length",
        "enabled",
        "instruments",
        "log_calls",
        "prices",
        "redact",
        "stream_usage",
        "tracer",
        "user_id_key",
    )

    # True where the instrumentor's wrapper already applied the layering rules to the call.
    layering_checked: ClassVar[bool] = False

    def __init__(self, tracer: Tracer, instruments: Instruments, settings: Settings, adapter: ProviderAdapter) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self.adapter = adapter
        # A redactor that was asked for but failed to load turns capture off: fail closed.
        self.capture = settings.capture_content and not settings.redactor_failed
        self.redact = settings.redact
        self.user_id_key = settings.user_id_key
        self.log_calls = settings.log_calls
        self.content_max_length = settings.content_max_length
        self.stream_usage = settings.stream_usage
        self.chunk_metrics = settings.chunk_metrics
        self.prices = settings.prices
        self.consent_ask = settings.consent
        self.consent_default = settings.consent_default
        # Only then is a per-call decision worth making: otherwise nothing personal is exported.
        self.consent_needed = self.capture or self.user_id_key is not None or self.consent_ask is not None
        self.enabled = True

    def begin(self, api: Api, instance: Any, kwargs: dict[str, Any]) -> Invocation | None:
        """Start recording a call, or return ``None`` when it must not be (suppressed, nested, broken)."""
        try:
            if (
                not self.enabled
                or not is_instrumentation_enabled()
                or otel_context.get_value(_ACTIVE)
                or (not self.layering_checked and another_layer_records())
            ):
                return None
            call = Invocation(self, api, instance, kwargs)
            # A span the sampler dropped knows no parent, and feedback inside a request span must
            # find the call whatever the sampling: then the parent comes from the context now.
            # Recorded (SDK) spans know their parent: only the others pay for the lookup.
            call.parent_span_id = 0 if call.recording else trace.get_current_span().get_span_context().span_id
            return call
        except Exception as error:
            _errors.report("starting a call", error)
            return None


class Invocation:
    """One LLM call from start to its single end."""

    __slots__ = (
        "_first_chunk_at",
        "_last_chunk_at",
        "_lock",
        "_telemetry",
        "api",
        "capture",
        "chunk_attributes",
        "consent",
        "context",
        "done",
        "folder",
        "hide_usage_chunk",
        "kwargs",
        "metric_attributes",
        "parent_span_id",
        "recording",
        "request",
        "request_id",
        "response_id",
        "span",
        "start",
        "stream",
        "variant",
    )
    parent_span_id: int  # the span current at call start, when self.span cannot say; set by Telemetry.begin

    def __init__(self, telemetry: Telemetry, api: Api, instance: Any, kwargs: dict[str, Any]) -> None:
        adapter = telemetry.adapter
        request = adapter.request_info(api, instance, kwargs)
        self._telemetry = telemetry
        self.api = api
        self.request = request
        self.stream = request.stream
        self.kwargs = kwargs
        self.hide_usage_chunk = False
        if request.stream and api.stream_usage_option and telemetry.stream_usage:
            injected = adapter.with_stream_usage(kwargs)
            if injected is not None:
                self.kwargs = injected
                self.hide_usage_chunk = True
        attrs: Attributes = {GEN_AI_OPERATION_NAME: request.operation, GEN_AI_PROVIDER_NAME: request.provider}
        # Values the application (or its gateway's clients) chose: capped in length and in
        # distinct count before they become labels and the span name; the SDK gets them unchanged.
        model = REQUEST_MODELS.admit(request.request_model) if request.request_model else None
        if model:
            attrs[GEN_AI_REQUEST_MODEL] = model
        if request.server_address:
            attrs[SERVER_ADDRESS] = SERVER_ADDRESSES.admit(request.server_address)
            if request.server_port is not None:
                attrs[SERVER_PORT] = request.server_port
        self.variant = current_variant()
        experiment = None
        if self.variant:
            attrs[LLMPERF_VARIANT] = self.variant
            experiment = current_experiment(self.variant)
        self.metric_attributes = attrs
        self.response_id: str | None = None
        self.request_id: str | None = None
        self.chunk_attributes: Attributes | None = None
        self.folder: ChunkFolder | None = None
        self.done = False
        self._lock = threading.Lock()
        self._first_chunk_at: float | None = None
        self._last_chunk_at = 0.0
        name = f"{request.operation} {model}" if model else request.operation
        # Request parameters go in with the start attributes: one attribute update instead of
        # two. Computing them costs ~1.5 µs even for a span the sampler then drops.
        span_attributes = self._request_attributes()
        span_attributes.update(attrs)
        if model is OVERFLOW and request.request_model:
            # The span keeps the (cut) name its metrics fold into _other: spans are not series.
            span_attributes[GEN_AI_REQUEST_MODEL] = cap_length(request.request_model)
        span_attributes[GEN_AI_REQUEST_STREAM] = request.stream
        if experiment is not None:
            # Spans only: the metrics' variant label already splits them, and series stay fewer.
            span_attributes[LLMPERF_EXPERIMENT] = experiment
        # Made once per call, here, where the application's request context is current.
        if telemetry.consent_needed:
            self.consent: bool | None = decide(telemetry.consent_ask, telemetry.consent_default)
        else:
            self.consent = CONSENT.get()  # remembered for feedback; None outside consent() blocks
        self.capture = telemetry.capture and self.consent is True
        if telemetry.user_id_key is not None and api.user_id is not None and self.consent:
            self._add_user_hash(span_attributes, telemetry.user_id_key)
        self.span: Span = INVALID_SPAN  # a raising on_start costs the span, not the call's metrics
        try:
            self.span = telemetry.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes)
        except Exception as error:
            _errors.SPAN_START.caught(error)
        self.context = suppress_inner_layers(
            otel_context.set_value(_ACTIVE, True, trace.set_span_in_context(self.span))
        )
        self.recording = self.span.is_recording()
        if self.recording and self.capture:
            self._capture_input()
        self.start = perf_counter()

    # --- request ---------------------------------------------------------------------------

    def _request_attributes(self) -> Attributes:
        try:
            return self.api.request_attributes(self.kwargs)
        except Exception as error:
            _errors.report("reading request attributes", error)
            return {}

    def _add_user_hash(self, attributes: Attributes, key: bytes) -> None:
        try:
            hashed = hash_user_id(self.api.user_id(self.kwargs) if self.api.user_id else None, key)
            if hashed is not None:
                attributes[USER_HASH] = hashed
        except Exception as error:
            _errors.report("hashing the user id", error)

    def _capture_input(self) -> None:
        try:
            messages = redact_messages(self.api.input_messages(self.kwargs), self._telemetry.redact)
            if messages:
                self.span.set_attribute(
                    GEN_AI_INPUT_MESSAGES, bounded_json(messages, self._telemetry.content_max_length)
                )
            instructions = self.api.system_instructions
            if instructions is not None:
                parts = redact_messages(instructions(self.kwargs), self._telemetry.redact)
                if parts:
                    self.span.set_attribute(
                        GEN_AI_SYSTEM_INSTRUCTIONS, bounded_json(parts, self._telemetry.content_max_length)
                    )
        except Exception as error:
            _errors.report("capturing input messages", error)

    # --- results ---------------------------------------------------------------------------

    def result_kind(self, result: Any) -> ResultKind:
        """What the SDK method returned, as the provider adapter classifies it."""
        return self._telemetry.adapter.result_kind(result)

    def nested_stream(self, result: Any) -> tuple[MutableMapping[str, Any], str] | None:
        """Where a response keeps its stream, as the provider adapter knows."""
        slot = self._telemetry.adapter.nested_stream(result)
        if slot is not None:
            self._read_envelope(result)
        return slot

    def _read_envelope(self, response: Any) -> None:
        # The response around a stream names the request (Bedrock's AWS request id), which the
        # stream's chunks never do: its attributes go on the span now, its id to the registry.
        try:
            info = self.api.response_info(response, False)
            self.request_id = info.request_id
            if self.recording and info.attributes:
                self.span.set_attributes(info.attributes)
        except Exception as error:
            _errors.report("reading a stream's response", error)

    def response_info(self, response: Any) -> ResponseInfo:
        """The facts of a parsed response, via the API's extractor."""
        return self.api.response_info(response, self.capture)

    def finish_with(self, response: Any) -> None:
        """End the call with a parsed response; the duration stops before the response is read."""
        end = perf_counter()
        info: ResponseInfo | None
        try:
            info = self.api.response_info(response, self.capture)
        except Exception as error:
            _errors.report("reading a response", error)
            info = None
        self.finish(info, end)

    # --- streams ---------------------------------------------------------------------------

    def start_stream(self) -> None:
        """Prepare to take chunks; called once the SDK returned a stream."""
        factory = self.api.new_folder
        if factory is not None:
            self.folder = factory(self.capture)

    def observe(self, chunk: Any) -> bool:
        """Take one chunk; return True when it must be hidden from the caller."""
        now = perf_counter()
        folder = self.folder
        if folder is None:
            return False
        try:
            kind = folder.fold(chunk)
            if kind is ChunkKind.OUTPUT:
                self._output_chunk(now, folder)
            return kind is ChunkKind.USAGE_ONLY and self.hide_usage_chunk
        except Exception as error:
            _errors.report("reading a stream chunk", error)
            return False

    def _output_chunk(self, now: float, folder: ChunkFolder) -> None:
        instruments = self._telemetry.instruments
        last, self._last_chunk_at = self._last_chunk_at, now
        try:
            if self._first_chunk_at is None:
                self._first_chunk_at = now
                model = getattr(folder, "response_model", None)
                attrs = self.metric_attributes
                self.chunk_attributes = (
                    {**attrs, GEN_AI_RESPONSE_MODEL: RESPONSE_MODELS.admit(model)} if isinstance(model, str) else attrs
                )
                instruments.time_to_first_chunk.record(now - self.start, self.chunk_attributes, self.context)
            elif self._telemetry.chunk_metrics:
                instruments.time_per_output_chunk.record(now - last, self.chunk_attributes, self.context)
        except Exception as error:
            _errors.METRICS.caught(error)

    # --- the single end ----------------------------------------------------------------------

    def _claim(self) -> bool:
        with self._lock:
            if self.done:
                return False
            self.done = True
            return True

    def finish(self, info: ResponseInfo | None, end: float | None = None) -> None:
        """End a call that produced a response (``info``) or nothing we could read (``None``)."""
        if self._claim():
            self._end(end or perf_counter(), info, info.error_type if info else None, None, "")

    def fail(self, error: BaseException) -> None:
        """End a call on an exception the SDK (or the caller's code in a stream block) raised."""
        if self._claim():
            self._end(perf_counter(), self._folded(), self._error_type(error), error, "")

    def _error_type(self, error: BaseException) -> str:
        describe = self.api.error_type
        if describe is not None:
            try:
                named = describe(error)
                if named:
                    return named
            except Exception as failure:
                _errors.report("naming an error", failure)
        return error_type_of(error)

    def end_stream(self, error_type: str | None = None, description: str = "") -> None:
        """End a stream: exhausted (no ``error_type``), closed early, or abandoned."""
        if self._claim():
            info = self._folded()
            if error_type is None and info is not None:
                error_type = info.error_type
            self._end(perf_counter(), info, error_type, None, description)

    def _folded(self) -> ResponseInfo | None:
        # What the stream said so far; a provider folder that fails costs the facts, not the end.
        folder = self.folder
        if folder is None:
            return None
        try:
            return folder.result()
        except Exception as error:
            _errors.report("reading a stream's result", error)
            return None

    def _end(
        self, end: float, info: ResponseInfo | None, error_type: str | None, error: BaseException | None, why: str
    ) -> None:
        # Each step is contained on its own (the SDK steps inside _record and _describe_end, the
        # rest here), so one broken hook costs its own signal and never reaches the caller.
        cost: float | None = None
        try:
            if info is not None and info.response_id:
                self.response_id = info.response_id
            cost = self._record(end, info, error_type)
            if self.recording:
                self._describe_end(info, error_type, error, why, cost)
            self._remember(info)
        except Exception as failure:
            _errors.report("finishing a call", failure)
        try:
            self.span.end()
        except Exception as failure:
            _errors.SPAN_END.caught(failure)
        if self._telemetry.log_calls:
            try:
                log_call(self._log_fields(end, info, error_type, cost))
            except Exception as failure:
                _errors.CALL_LOG.caught(failure)

    def _remember(self, info: ResponseInfo | None) -> None:
        context = self.span.get_span_context()
        parent = getattr(self.span, "parent", None)
        request = self.request
        request_id = info.request_id if info is not None and info.request_id else self.request_id
        model = self.metric_attributes.get(GEN_AI_REQUEST_MODEL)  # the label its metrics carry
        REGISTRY.remember_fields(
            model if isinstance(model, str) else None,
            request.provider,
            request.operation,
            self.variant,
            self.response_id,
            context.trace_id,
            context.span_id,
            int(context.trace_flags),
            parent.span_id if parent is not None else self.parent_span_id,
            request_id,
            self.consent,
        )

    def call_record(self) -> CallRecord:
        """What feedback about this call needs to know, at any point of its life."""
        attrs = self.metric_attributes
        model = attrs.get(GEN_AI_REQUEST_MODEL)
        response_id = self.response_id or getattr(self.folder, "response_id", None)
        return CallRecord(
            model=model if isinstance(model, str) else None,
            provider=str(attrs[GEN_AI_PROVIDER_NAME]),
            operation=str(attrs[GEN_AI_OPERATION_NAME]),
            variant=self.variant,
            span_context=self.span.get_span_context(),
            response_id=response_id if isinstance(response_id, str) else None,
            consent=self.consent,
        )

    def _log_fields(
        self, end: float, info: ResponseInfo | None, error_type: str | None, cost: float | None
    ) -> dict[str, Any]:
        attrs = self.metric_attributes
        context = self.span.get_span_context()
        usage = info.usage if info is not None else None
        fields: dict[str, Any] = {
            "operation": attrs.get(GEN_AI_OPERATION_NAME),
            "provider": attrs.get(GEN_AI_PROVIDER_NAME),
            # A log line is not a series: the call's own names, cut like every value from outside.
            "model": _capped(self.request.request_model),
            "response_model": _capped(info.response_model) if info is not None else None,
            "response_id": _capped(self.response_id),
            "variant": self.variant,
            "stream": self.stream,
            "duration_s": round(max(end - self.start, 0.0), 6),
            "time_to_first_chunk_s": round(self._first_chunk_at - self.start, 6)
            if self._first_chunk_at is not None
            else None,
            "input_tokens": usage.input_tokens if usage is not None else None,
            "output_tokens": usage.output_tokens if usage is not None else None,
            "cost_usd": cost,
            "error_type": error_type,
            "trace_id": f"{context.trace_id:032x}" if context.is_valid else None,
            "span_id": f"{context.span_id:016x}" if context.is_valid else None,
        }
        telemetry = self._telemetry
        if self.capture:
            inputs = redact_messages(self.api.input_messages(self.kwargs), telemetry.redact)
            outputs = redact_messages(info.output_messages, telemetry.redact) if info is not None else None
            if inputs:
                fields["input_messages"] = bounded_json(inputs, telemetry.content_max_length)
            if outputs:
                fields["output_messages"] = bounded_json(outputs, telemetry.content_max_length)
        return fields

    def _record(self, end: float, info: ResponseInfo | None, error_type: str | None) -> float | None:
        """Record the call's metrics; return its cost when the price table knows the model."""
        instruments = self._telemetry.instruments
        attrs = self.metric_attributes
        if info is not None and info.response_model and isinstance(info.response_model, str):
            attrs = {**attrs, GEN_AI_RESPONSE_MODEL: RESPONSE_MODELS.admit(info.response_model)}
        usage = info.usage if info is not None else None
        try:
            failed = {**attrs, ERROR_TYPE: ERROR_TYPES.admit(error_type)} if error_type else attrs
            instruments.duration.record(max(end - self.start, 0.0), failed, self.context)
            if usage is not None and usage.input_tokens is not None:
                instruments.token_usage.record(usage.input_tokens, {**attrs, GEN_AI_TOKEN_TYPE: _INPUT}, self.context)
            if usage is not None and usage.output_tokens is not None:
                instruments.token_usage.record(usage.output_tokens, {**attrs, GEN_AI_TOKEN_TYPE: _OUTPUT}, self.context)
                first, last = self._first_chunk_at, self._last_chunk_at
                if error_type is None and first is not None and usage.output_tokens > 1 and last > first:
                    instruments.time_per_output_token.record(
                        (last - first) / (usage.output_tokens - 1), self.chunk_attributes or attrs, self.context
                    )
        except Exception as error:
            _errors.METRICS.caught(error)
        if info is not None:
            try:
                self._count_identity(info, attrs)
            except Exception as error:
                _errors.METRICS.caught(error)
        if usage is None:
            return None
        # The cost is ours (a dict under a lock), so a broken meter still prices the call for the span.
        models = (info.response_model if info is not None else None, self.request.request_model)
        cost = self._telemetry.prices.cost(self.request.provider, models, usage)
        if cost is not None:
            instruments.cost.add(cost, attrs)
        return cost

    def _count_identity(self, info: ResponseInfo, attrs: Attributes) -> None:
        # What model answered (drift: a snapshot or fingerprint swapped behind a name) and how each
        # choice ended: dict totals under a lock, like the cost, so the hot path adds no SDK Counter.add.
        instruments = self._telemetry.instruments
        base: Attributes = {GEN_AI_PROVIDER_NAME: attrs[GEN_AI_PROVIDER_NAME]}
        model = attrs.get(GEN_AI_REQUEST_MODEL)
        if model is not None:
            base[GEN_AI_REQUEST_MODEL] = model
        response_model = attrs.get(GEN_AI_RESPONSE_MODEL)
        if response_model is not None:
            identity = {**base, GEN_AI_RESPONSE_MODEL: response_model}
            fingerprint = info.attributes.get(OPENAI_RESPONSE_SYSTEM_FINGERPRINT) if info.attributes else None
            if isinstance(fingerprint, str) and fingerprint:
                identity[OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = FINGERPRINTS.admit(fingerprint)
            instruments.identity.add(1.0, identity)
        for reason in info.finish_reasons:
            if isinstance(reason, str) and reason:
                instruments.finish_reasons.add(
                    1.0, {**base, GEN_AI_RESPONSE_FINISH_REASONS: FINISH_REASONS.admit(reason)}
                )

    def _describe_end(
        self,
        info: ResponseInfo | None,
        error_type: str | None,
        error: BaseException | None,
        why: str,
        cost: float | None,
    ) -> None:
        # One set_attributes call: every call into the span takes its lock and cleans values.
        attrs: Attributes = self._response_attributes(info) if info is not None else {}
        if cost is not None:
            attrs[LLMPERF_USAGE_COST] = cost
        if self._first_chunk_at is not None:
            attrs[GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self._first_chunk_at - self.start
        if error_type:
            attrs[ERROR_TYPE] = cap_length(error_type)  # servers name some error types (Bedrock's codes)
        span = self.span
        try:
            span.set_attributes(attrs)
            if error is not None:
                span.record_exception(error)
            if error_type:
                span.set_status(Status(StatusCode.ERROR, why or error_type))
        except Exception as failure:
            _errors.SPAN_UPDATE.caught(failure)

    def _response_attributes(self, info: ResponseInfo) -> Attributes:
        attrs: Attributes = dict(info.attributes) if info.attributes else {}
        # The server's words: cut to the same length as every other value taken from outside.
        if info.response_model:
            model = info.response_model
            attrs[GEN_AI_RESPONSE_MODEL] = cap_length(model) if isinstance(model, str) else model
        if info.response_id:
            response_id = info.response_id
            attrs[GEN_AI_RESPONSE_ID] = cap_length(response_id) if isinstance(response_id, str) else response_id
        if info.finish_reasons:
            attrs[GEN_AI_RESPONSE_FINISH_REASONS] = info.finish_reasons
        usage = info.usage
        if usage is not None:
            for field_name, attribute in _USAGE_SPAN_ATTRIBUTES:
                value = getattr(usage, field_name)
                if value is not None:
                    attrs[attribute] = value
        if info.output_messages and self.capture:
            outputs = redact_messages(info.output_messages, self._telemetry.redact)
            if outputs:
                attrs[GEN_AI_OUTPUT_MESSAGES] = bounded_json(outputs, self._telemetry.content_max_length)
        return attrs
