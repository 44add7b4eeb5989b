# SPDX-License-Identifier: Apache-2.0
"""The floor: the least any instrumentation producing our telemetry must pay, written by hand.

Each function wraps one *uninstrumented* SDK call in straight-line code that produces the
same telemetry otel-llmperf produces for it (see ``invocation.py`` and ``providers/openai.py``):

* one CLIENT span named ``chat {model}`` whose context is current during the SDK call, with
  operation, provider, request model, server address and port, the stream flag, the request
  parameters (``openai.api.type``, temperature, max tokens), and at the end the response
  model, id, finish reasons, usage (input, output, cache read, reasoning), system fingerprint
  and service tier, and for streams the time to first chunk;
* ``gen_ai.client.operation.duration`` and two ``gen_ai.client.token.usage`` records; for
  streams also one ``time_to_first_chunk``, one ``time_per_output_chunk`` per chunk after the
  first, and one ``llmperf.client.time_per_output_token``; every record gets the span context.

What the floor leaves out is exactly what a reusable instrumentation adds on top: patching
(wrapt), a proxy around the stream, generic request/response extraction, guards against
SDK or caller misuse, and error reporting. The difference between our figure and the floor's
is the price of those.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from time import perf_counter
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

# The semconv names, spelled out so the floor does not depend on a semconv package version.
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
REQUEST_STREAM = "gen_ai.request.stream"
API_TYPE = "openai.api.type"
TEMPERATURE = "gen_ai.request.temperature"
MAX_TOKENS = "gen_ai.request.max_tokens"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
FINGERPRINT = "openai.response.system_fingerprint"
SERVICE_TIER = "openai.response.service_tier"
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
TOKEN_TYPE = "gen_ai.token.type"
ERROR_TYPE = "error.type"

# Same advisory bucket boundaries as otel-llmperf, so a record costs the same bucket search.
DURATION_BUCKETS = [round(0.01 * 2**k, 2) for k in range(14)]
TOKEN_BUCKETS = [float(4**k) for k in range(14)]
TIME_PER_TOKEN_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]

# A host → provider lookup is the least a provider-aware instrumentation must do per call.
_PROVIDERS = {"api.openai.com": "openai"}
# One price looked up in a dict: the least a cost-reporting instrumentation must do (USD per 1M tokens).
_PRICES = {"gpt-4o-mini": (0.15, 0.6)}
_PORTS = {"https": 443, "http": 80}
COST = "llmperf.usage.cost"
IDENTITY = "llmperf.model.identity"
FINISHES = "llmperf.client.finish_reasons"


class Floor:
    """Hand-written telemetry around plain SDK calls; holds its tracer and instruments."""

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self.tracer = tracer_provider.get_tracer("bench.floor")
        meter = meter_provider.get_meter("bench.floor")
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS
        )
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", explicit_bucket_boundaries_advisory=TOKEN_BUCKETS
        )
        self.time_to_first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.time_per_output_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk",
            unit="s",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.time_per_output_token = meter.create_histogram(
            "llmperf.client.time_per_output_token", unit="s", explicit_bucket_boundaries_advisory=TIME_PER_TOKEN_BUCKETS
        )
        # The cheapest correct cost counter: running totals read by an observable counter.
        self._cost_lock = threading.Lock()
        self._cost_totals: dict[frozenset[tuple[str, Any]], float] = {}
        meter.create_observable_counter("llmperf.usage.cost", callbacks=[self._observe_cost], unit="USD")

        # The drift counters the same way: calls per model identity, choices per finish reason.
        self._counts: dict[str, dict[frozenset[tuple[str, Any]], int]] = {IDENTITY: {}, FINISHES: {}}
        for name in self._counts:
            meter.create_observable_counter(name, callbacks=[functools.partial(self._observe_counts, name)])

    def _observe_cost(self, options: Any) -> list[Observation]:
        with self._cost_lock:
            return [Observation(total, dict(key)) for key, total in self._cost_totals.items()]

    def _observe_counts(self, name: str, options: Any) -> list[Observation]:
        with self._cost_lock:
            return [Observation(count, dict(key)) for key, count in self._counts[name].items()]

    def _count(self, name: str, attrs: Mapping[str, Any]) -> None:
        key = frozenset(attrs.items())
        with self._cost_lock:
            counts = self._counts[name]
            counts[key] = counts.get(key, 0) + 1

    # --- shared pieces -------------------------------------------------------------------------

    def _start(self, client: Any, kwargs: Mapping[str, Any], stream: bool) -> tuple[Span, dict[str, Any], Any]:
        model = kwargs.get("model")
        url = client.base_url
        host = url.host
        attrs: dict[str, Any] = {
            OPERATION: "chat",
            PROVIDER: _PROVIDERS.get(host, "openai"),
            REQUEST_MODEL: model,
            SERVER_ADDRESS: host,
            SERVER_PORT: url.port or _PORTS.get(url.scheme, 443),
        }
        span_attrs = {**attrs, REQUEST_STREAM: stream, API_TYPE: "chat_completions"}
        temperature = kwargs.get("temperature")
        if temperature is not None:
            span_attrs[TEMPERATURE] = temperature
        max_tokens = kwargs.get("max_tokens")
        if max_tokens is not None:
            span_attrs[MAX_TOKENS] = max_tokens
        span = self.tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=span_attrs)
        return span, attrs, trace.set_span_in_context(span)

    def _fail(self, span: Span, error: BaseException, attrs: dict[str, Any], start: float, ctx: Any) -> None:
        error_type = type(error).__qualname__
        self.duration.record(perf_counter() - start, {**attrs, ERROR_TYPE: error_type}, ctx)
        span.record_exception(error)
        span.set_attribute(ERROR_TYPE, error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()

    def _finish(
        self,
        span: Span,
        ctx: Any,
        metric_attrs: dict[str, Any],
        duration: float,
        head: Any,
        finish_reasons: tuple[str, ...],
        usage: Any,
    ) -> None:
        # ``head`` is the response (or the first stream chunk): id, model, fingerprint, tier.
        self.duration.record(duration, metric_attrs, ctx)
        end_attrs: dict[str, Any] = {
            RESPONSE_MODEL: head.model,
            RESPONSE_ID: head.id,
            FINISH_REASONS: finish_reasons,
        }
        if head.system_fingerprint is not None:
            end_attrs[FINGERPRINT] = head.system_fingerprint
        called = {PROVIDER: metric_attrs[PROVIDER], REQUEST_MODEL: metric_attrs[REQUEST_MODEL]}
        identity = {**called, RESPONSE_MODEL: head.model}
        if head.system_fingerprint is not None:
            identity[FINGERPRINT] = head.system_fingerprint
        self._count(IDENTITY, identity)
        for reason in finish_reasons:
            self._count(FINISHES, {**called, FINISH_REASONS: reason})
        if head.service_tier is not None:
            end_attrs[SERVICE_TIER] = head.service_tier
        if usage is not None:
            self.token_usage.record(usage.prompt_tokens, {**metric_attrs, TOKEN_TYPE: "input"}, ctx)
            self.token_usage.record(usage.completion_tokens, {**metric_attrs, TOKEN_TYPE: "output"}, ctx)
            end_attrs[INPUT_TOKENS] = usage.prompt_tokens
            end_attrs[OUTPUT_TOKENS] = usage.completion_tokens
            price = _PRICES.get(metric_attrs[REQUEST_MODEL])
            if price is not None:
                cost = (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1e6
                key = frozenset({**metric_attrs, RESPONSE_MODEL: head.model}.items())
                with self._cost_lock:
                    self._cost_totals[key] = self._cost_totals.get(key, 0.0) + cost
                end_attrs[COST] = cost
            if usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens is not None:
                end_attrs[CACHE_READ_TOKENS] = usage.prompt_tokens_details.cached_tokens
            details = usage.completion_tokens_details
            if details is not None and details.reasoning_tokens is not None:
                end_attrs[REASONING_TOKENS] = details.reasoning_tokens
        span.set_attributes(end_attrs)
        span.end()

    # --- the three scenarios -------------------------------------------------------------------

    def sync_call(self, client: Any, kwargs: dict[str, Any]) -> Any:
        """``chat.completions.create`` (non-streaming) with floor telemetry."""
        start = perf_counter()
        span, attrs, ctx = self._start(client, kwargs, False)
        token = otel_context.attach(ctx)
        try:
            response = client.chat.completions.create(**kwargs)
        except BaseException as error:
            self._fail(span, error, attrs, start, ctx)
            raise
        finally:
            otel_context.detach(token)
        duration = perf_counter() - start
        reasons = tuple(choice.finish_reason for choice in response.choices)
        self._finish(span, ctx, {**attrs, RESPONSE_MODEL: response.model}, duration, response, reasons, response.usage)
        return response

    async def async_call(self, client: Any, kwargs: dict[str, Any]) -> Any:
        """``AsyncOpenAI`` ``chat.completions.create`` (non-streaming) with floor telemetry."""
        start = perf_counter()
        span, attrs, ctx = self._start(client, kwargs, False)
        token = otel_context.attach(ctx)
        try:
            response = await client.chat.completions.create(**kwargs)
        except BaseException as error:
            self._fail(span, error, attrs, start, ctx)
            raise
        finally:
            otel_context.detach(token)
        duration = perf_counter() - start
        reasons = tuple(choice.finish_reason for choice in response.choices)
        self._finish(span, ctx, {**attrs, RESPONSE_MODEL: response.model}, duration, response, reasons, response.usage)
        return response

    def stream_call(self, client: Any, kwargs: dict[str, Any]) -> int:
        """A streamed ``chat.completions.create``, consumed to the end inline; returns the chunk count."""
        start = perf_counter()
        span, attrs, ctx = self._start(client, kwargs, True)
        token = otel_context.attach(ctx)
        try:
            stream = client.chat.completions.create(**kwargs)
        except BaseException as error:
            self._fail(span, error, attrs, start, ctx)
            raise
        finally:
            otel_context.detach(token)
        return self.consume(stream, span, attrs, ctx, start)

    def consume(self, stream: Any, span: Span, attrs: dict[str, Any], ctx: Any, start: float) -> int:
        """Iterate a stream to its end, recording as the consumer goes; returns the chunk count.

        The per-chunk work sits in the consumer's own loop (no proxy object): a clock read, a
        check for usage and choices, and one histogram record.
        """
        count = 0
        head: Any = None
        usage: Any = None
        finish_reason: str | None = None
        chunk_attrs = attrs
        first = last = 0.0
        try:
            for chunk in stream:
                now = perf_counter()
                count += 1
                if chunk.usage is not None:
                    usage = chunk.usage
                choices = chunk.choices
                if not choices:
                    continue
                if head is None:
                    head = chunk
                    first = now
                    chunk_attrs = {**attrs, RESPONSE_MODEL: chunk.model}
                    self.time_to_first_chunk.record(now - start, chunk_attrs, ctx)
                else:
                    self.time_per_output_chunk.record(now - last, chunk_attrs, ctx)
                last = now
                if choices[0].finish_reason:
                    finish_reason = choices[0].finish_reason
        except BaseException as error:
            self._fail(span, error, chunk_attrs, start, ctx)
            raise
        duration = perf_counter() - start
        if head is None:  # an empty stream: nothing but the duration to report
            self.duration.record(duration, attrs, ctx)
            span.end()
            return count
        if usage is not None and usage.completion_tokens > 1 and last > first:
            self.time_per_output_token.record((last - first) / (usage.completion_tokens - 1), chunk_attrs, ctx)
        span.set_attribute(TIME_TO_FIRST_CHUNK, first - start)
        reasons = (finish_reason,) if finish_reason else ()
        self._finish(span, ctx, chunk_attrs, duration, head, reasons, usage)
        return count
