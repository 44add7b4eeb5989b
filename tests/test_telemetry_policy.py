# SPDX-License-Identifier: Apache-2.0
"""Rules that hold for every call: suppression, sampling, privacy, exemplars, parenting, failure policy."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import otel_llmperf
from conftest import make_client
from fakeserver import FakeServerProcess
from helpers import drain, only_span, points, resolve, total_count
from otel_llmperf.providers import openai as openai_adapter

MODEL = "gpt-4o-mini"
SECRET = "my card number is 4111 1111 1111 1111"
DURATION = "gen_ai.client.operation.duration"
TTFC = "gen_ai.client.operation.time_to_first_chunk"


@pytest.mark.usefixtures("instrumented")
async def test_suppress_instrumentation_records_nothing(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    with suppress_instrumentation():
        await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}]))
    assert span_exporter.get_finished_spans() == ()
    assert points(metric_reader, DURATION) == []


@pytest.fixture(name="unsampled")
def fixture_unsampled(metric_reader: InMemoryMetricReader) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel_llmperf.instrument(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[metric_reader]),
        capture_content=True,
    )
    yield exporter
    otel_llmperf.uninstrument()


async def test_unsampled_calls_still_record_metrics(
    client: Any, unsampled: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await resolve(
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
    )
    await drain(stream)
    await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}]))
    assert unsampled.get_finished_spans() == ()
    assert total_count(metric_reader, DURATION) == 2
    assert total_count(metric_reader, TTFC) == 1
    assert total_count(metric_reader, "gen_ai.client.token.usage", {"gen_ai.token.type": "output"}) == 1


@pytest.mark.usefixtures("instrumented")
async def test_content_is_not_captured_by_default(client: Any, span_exporter: InMemorySpanExporter) -> None:
    await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": SECRET}]))
    exported = json.dumps({k: str(v) for k, v in (only_span(span_exporter).attributes or {}).items()})
    assert "4111" not in exported
    assert "gen_ai.input.messages" not in exported and "gen_ai.output.messages" not in exported


async def test_content_capture_puts_semconv_messages_on_the_span(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    response = await resolve(
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": SECRET}]
        )
    )
    attrs = only_span(span_exporter).attributes or {}
    inputs = json.loads(str(attrs["gen_ai.input.messages"]))
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": SECRET}]},
    ]
    outputs = json.loads(str(attrs["gen_ai.output.messages"]))
    assert outputs == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": response.choices[0].message.content}],
            "finish_reason": "stop",
        }
    ]


async def test_content_capture_of_a_stream_reassembles_the_text(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    stream = await resolve(
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in await drain(stream))
    outputs = json.loads(str(only_span(span_exporter).attributes["gen_ai.output.messages"]))
    assert outputs[0]["parts"] == [{"type": "text", "content": text}]


async def test_content_capture_is_size_capped_and_stays_valid_json(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True, content_max_length=300)
    prompt = "word " * 2000
    await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}]))
    value = str(only_span(span_exporter).attributes["gen_ai.input.messages"])
    assert len(value) <= 300
    parsed = json.loads(value)
    assert parsed[0]["role"] == "user" and parsed[0]["parts"][0]["content"].endswith("…[truncated]")


async def test_content_capture_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, instrument: Any, client: Any, span_exporter: InMemorySpanExporter
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    instrument()
    await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}]))
    assert "gen_ai.input.messages" in (only_span(span_exporter).attributes or {})


@pytest.mark.usefixtures("instrumented")
async def test_metrics_carry_exemplars_of_the_span(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}]))
    span = only_span(span_exporter)
    (duration,) = points(metric_reader, DURATION)
    exemplar_ids = {(exemplar.trace_id, exemplar.span_id) for exemplar in duration.exemplars}
    assert (span.context.trace_id, span.context.span_id) in exemplar_ids


@pytest.mark.usefixtures("instrumented")
async def test_llm_span_is_a_child_of_the_callers_span(
    client: Any, tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as parent:
        await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}]))
    llm = next(span for span in span_exporter.get_finished_spans() if span.name.startswith("chat"))
    assert llm.parent is not None and llm.parent.span_id == parent.get_span_context().span_id


async def test_provider_hosts_name_a_compatible_server(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    instrument(provider_hosts={"127.0.0.1": "vllm"})
    await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}]))
    assert only_span(span_exporter).attributes["gen_ai.provider.name"] == "vllm"
    assert total_count(metric_reader, DURATION, {"gen_ai.provider.name": "vllm"}) == 1


async def test_internal_errors_never_reach_the_caller(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    instrument: Any,
    mode: str,
    fake_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    """A bug in an extractor costs telemetry detail, never the application's call."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(openai_adapter.ChoicesFolder, "fold", broken)
    monkeypatch.setattr(openai_adapter, "_openai_response_attributes", broken)  # used by every extractor
    instrument()
    client = make_client(mode, fake_server.base_url)
    caplog.set_level(logging.DEBUG, logger="otel_llmperf")
    response = await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}]))
    chunks = await drain(
        await resolve(
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
        )
    )
    assert response.choices and chunks
    assert len(span_exporter.get_finished_spans()) == 2  # both calls still end
    assert total_count(metric_reader, DURATION) == 2
    assert "extractor bug" in caplog.text
