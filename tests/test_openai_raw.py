# SPDX-License-Identifier: Apache-2.0
"""``with_raw_response`` and ``with_streaming_response`` keep working and are measured."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from helpers import drain, enter, leave, only_span, resolve, total_count

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hello"}]
DURATION = "gen_ai.client.operation.duration"
TTFC = "gen_ai.client.operation.time_to_first_chunk"


@pytest.mark.usefixtures("instrumented")
async def test_openai_raw_response_headers_and_parse(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    raw = await resolve(client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES))
    assert raw.headers["x-request-id"]
    assert raw.http_response.status_code == 200
    # The call is over once the body is read, before the caller parses.
    span = only_span(span_exporter)
    completion = await resolve(raw.parse())
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert span.attributes["gen_ai.response.id"] == completion.id
    assert span.attributes["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert total_count(metric_reader, DURATION) == 1


@pytest.mark.usefixtures("instrumented")
async def test_openai_raw_response_stream_parse_is_measured(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    raw = await resolve(client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, stream=True))
    assert raw.headers["content-type"].startswith("text/event-stream")
    stream = await resolve(raw.parse())
    assert stream is await resolve(raw.parse())  # parsing twice hands out the same stream
    chunks = await drain(stream)
    assert chunks
    span = only_span(span_exporter)
    assert span.attributes["gen_ai.request.stream"] is True
    assert "error.type" not in span.attributes
    assert total_count(metric_reader, TTFC) == 1


@pytest.mark.usefixtures("instrumented")
async def test_openai_streaming_response_parse(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES)
    response = await enter(manager)
    assert response.headers["x-request-id"]
    completion = await resolve(response.parse())
    await leave(manager)
    assert completion.choices[0].message.content
    span = only_span(span_exporter)
    assert span.attributes["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert total_count(metric_reader, DURATION) == 1


@pytest.mark.usefixtures("instrumented")
async def test_openai_streaming_response_stream(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES, stream=True)
    response = await enter(manager)
    chunks = await drain(await resolve(response.parse()))
    await leave(manager)
    assert chunks
    span = only_span(span_exporter)
    assert "error.type" not in span.attributes
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, DURATION) == 1


@pytest.mark.usefixtures("instrumented")
async def test_openai_streaming_response_read_without_parse_ends_at_close(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES)
    response = await enter(manager)
    body = await resolve(response.read())
    assert b"chat.completion" in body
    assert span_exporter.get_finished_spans() == ()
    await leave(manager)
    span = only_span(span_exporter)
    assert "error.type" not in (span.attributes or {})
    assert total_count(metric_reader, DURATION) == 1
