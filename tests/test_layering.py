# SPDX-License-Identifier: Apache-2.0
"""Layered instrumentation: another GenAI instrumentation or a framework around the same call.

The "other instrumentation" here is a small wrapt layer written like the real ones (the
OpenTelemetry contrib openai-v2 and OpenLLMetry both wrap the SDK's methods with wrapt and
start a CLIENT span with gen_ai.* attributes). It lives in this test module, so its wrapper
function is given the module name such a package would have.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from helpers import counter_value, drain, resolve, total_count
from otel_llmperf.instruments import LLMPERF_USAGE_COST
from otel_llmperf.layering import SUPPRESS_LANGUAGE_MODEL_INSTRUMENTATION, foreign_layer

MESSAGES = [{"role": "user", "content": "Say hello"}]
DURATION = "gen_ai.client.operation.duration"
OURS = "otel_llmperf"
THEIRS = "fake.genai.instrumentation"
CREATE = [
    (openai.resources.chat.completions.Completions, "create"),
    (openai.resources.chat.completions.AsyncCompletions, "create"),
]


class OtherInstrumentation:
    """Another GenAI instrumentation of ``chat.completions.create`` (sync and async)."""

    def __init__(
        self, tracer_provider: TracerProvider, module: str = "opentelemetry.instrumentation.fake_genai"
    ) -> None:
        self.tracer = tracer_provider.get_tracer(THEIRS)
        self.module = module
        self.originals: list[tuple[Any, str, Any]] = []

    def _span(self, kwargs: dict[str, Any]) -> Any:
        attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}
        return self.tracer.start_as_current_span(
            f"chat {kwargs.get('model')}", kind=SpanKind.CLIENT, attributes=attributes
        )

    def instrument(self) -> None:
        def sync_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            with self._span(kwargs):
                return wrapped(*args, **kwargs)

        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            with self._span(kwargs):
                return await wrapped(*args, **kwargs)

        for wrapper in (sync_wrapper, async_wrapper):
            wrapper.__module__ = self.module
        for (owner, name), wrapper in zip(CREATE, (sync_wrapper, async_wrapper), strict=True):
            self.originals.append((owner, name, vars(owner)[name]))
            wrapt.wrap_function_wrapper(owner, name, wrapper)

    def uninstrument(self) -> None:
        while self.originals:
            owner, name, original = self.originals.pop()
            setattr(owner, name, original)


@pytest.fixture(name="other")
def fixture_other(tracer_provider: TracerProvider) -> Iterator[OtherInstrumentation]:
    layer = OtherInstrumentation(tracer_provider)
    yield layer
    layer.uninstrument()


def scopes(exporter: InMemorySpanExporter) -> list[str]:
    return sorted(span.instrumentation_scope.name for span in exporter.get_finished_spans())


async def call(client: Any, stream: bool = False) -> Any:
    result = await resolve(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=stream))
    if stream:
        await drain(result)
    return result


@pytest.mark.parametrize("stream", [False, True])
async def test_another_layer_outside_ours_records_the_call_alone(
    instrument: Any,
    other: OtherInstrumentation,
    client: Any,
    stream: bool,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    instrument()
    other.instrument()  # wrapped after us: its span is current when our wrapper runs
    await call(client, stream)
    assert scopes(span_exporter) == [THEIRS]
    assert total_count(metric_reader, DURATION) == 0
    if not stream:  # openai streams report no usage unless asked (stream_usage)
        assert counter_value(metric_reader, LLMPERF_USAGE_COST) > 0  # what only we record goes on


async def test_a_method_another_layer_already_wraps_gets_ours_beneath_it(
    instrument: Any,
    other: OtherInstrumentation,
    client: Any,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other.instrument()  # wrapped before us: we go in beneath it, as if we had come first
    owner, name = CREATE[0]
    theirs = vars(owner)[name]
    with caplog.at_level(logging.INFO, logger="otel_llmperf"):
        instrument()
    assert vars(owner)[name] is theirs  # their wrapper stays where they put it
    await call(client)
    # They keep the span and the duration; we add the cost, which nobody else records.
    assert scopes(span_exporter) == [THEIRS]
    assert total_count(metric_reader, DURATION) == 0
    assert counter_value(metric_reader, LLMPERF_USAGE_COST) > 0
    (note,) = [record.getMessage() for record in caplog.records if "already instrumented" in record.getMessage()]
    assert "Completions.create (opentelemetry.instrumentation.fake_genai)" in note
    assert "adds the cost" in note
    # Methods nobody else wrapped are ours alone.
    await resolve(client.embeddings.create(model="text-embedding-3-small", input="hi"))
    assert total_count(metric_reader, DURATION, {"gen_ai.operation.name": "embeddings"}) == 1


async def test_a_wrapt_wrapper_that_is_no_genai_instrumentation_does_not_stop_us(
    tracer_provider: TracerProvider,
    instrument: Any,
    client: Any,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    retrying = OtherInstrumentation(tracer_provider, module="mylib.retry")
    retrying.instrument()
    try:
        instrument()
        await call(client)
    finally:
        retrying.uninstrument()
    # Wrapped before us but not a GenAI instrumentation: we wrap on top and record.
    assert OURS in scopes(span_exporter)
    assert total_count(metric_reader, DURATION) == 1


async def test_cooperating_layers_inside_ours_see_the_suppression_key(
    instrument: Any, client: Any, mode: str, metric_reader: InMemoryMetricReader
) -> None:
    # A lower-level layer, like OpenLLMetry's, checks the shared key before recording.
    seen: list[object] = []
    owner = openai.AsyncOpenAI if mode == "async" else openai.OpenAI

    def probe(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append(otel_context.get_value(SUPPRESS_LANGUAGE_MODEL_INSTRUMENTATION))
        return wrapped(*args, **kwargs)

    original = vars(owner.__mro__[1])["request"]
    wrapt.wrap_function_wrapper(owner.__mro__[1], "request", probe)
    try:
        await call(client)  # not instrumented yet: the key is not set
        instrument()
        await call(client)
    finally:
        owner.__mro__[1].request = original
    assert seen == [None, True]
    assert total_count(metric_reader, DURATION) == 1


async def test_a_framework_that_records_the_call_itself_silences_us(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    instrument()
    token = otel_context.attach(otel_context.set_value(SUPPRESS_LANGUAGE_MODEL_INSTRUMENTATION, True))
    try:
        await call(client)
    finally:
        otel_context.detach(token)
    await call(client)
    assert total_count(metric_reader, DURATION) == 1


@pytest.mark.parametrize(
    ("kind", "attributes"),
    [
        (SpanKind.INTERNAL, {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai"}),
        (SpanKind.CLIENT, {"gen_ai.operation.name": "invoke_agent"}),  # a remote agent, not this inference
        (SpanKind.CLIENT, {"http.request.method": "POST"}),  # some other client span
        (SpanKind.INTERNAL, {"gen_ai.operation.name": "chat"}),  # not a client call
    ],
)
async def test_spans_that_are_not_another_inference_layer_do_not_silence_us(
    instrument: Any,
    tracer_provider: TracerProvider,
    client: Any,
    kind: SpanKind,
    attributes: dict[str, Any],
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    instrument()
    with tracer_provider.get_tracer("framework").start_as_current_span("outer", kind=kind, attributes=attributes):
        await call(client)
    assert total_count(metric_reader, DURATION) == 1
    ours = [span for span in span_exporter.get_finished_spans() if span.instrumentation_scope.name == OURS]
    assert len(ours) == 1


async def test_older_convention_spans_of_another_layer_silence_us(
    instrument: Any, tracer_provider: TracerProvider, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument()
    tracer = tracer_provider.get_tracer("older")
    with tracer.start_as_current_span("openai.chat", kind=SpanKind.CLIENT, attributes={"gen_ai.system": "openai"}):
        await call(client)
    assert total_count(metric_reader, DURATION) == 0


def test_an_unsampled_outer_layer_does_not_count_as_recording() -> None:
    # A non-recording span has no attributes to read; our layer records (and samples) on its own.
    context = trace.set_span_in_context(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))
    token = otel_context.attach(context)
    try:
        from otel_llmperf.layering import another_layer_records

        assert another_layer_records() is False
    finally:
        otel_context.detach(token)


def test_foreign_layer_reads_the_wrapper_module_through_partials_and_objects() -> None:
    class Holder:
        def method(self) -> None:
            """Stand-in SDK method."""

    def wrapper(tracer: Any, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    wrapper.__module__ = "opentelemetry.instrumentation.openai_v2.patch"
    assert foreign_layer(wrapt.FunctionWrapper(Holder.method, functools.partial(wrapper, None))) == (
        "opentelemetry.instrumentation.openai_v2.patch"
    )

    class CallableWrapper:
        def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return wrapped(*args, **kwargs)

    CallableWrapper.__module__ = "openlit.instrumentation.openai"
    assert foreign_layer(wrapt.FunctionWrapper(Holder.method, CallableWrapper())) == "openlit.instrumentation.openai"
    assert foreign_layer(Holder.method) is None
    wrapper.__module__ = "mylib.retry"
    assert foreign_layer(wrapt.FunctionWrapper(Holder.method, wrapper)) is None
