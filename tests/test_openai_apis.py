# SPDX-License-Identifier: Apache-2.0
"""Responses API, embeddings and legacy completions through the real openai SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from helpers import drain, enter, leave, only_span, points, resolve, total_count

DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
PER_TOKEN = "llmperf.client.time_per_output_token"


def token_sums(reader: InMemoryMetricReader) -> dict[str, float]:
    return {str(point.attributes["gen_ai.token.type"]): point.sum for point in points(reader, TOKENS)}


@pytest.mark.usefixtures("instrumented")
async def test_openai_responses_create(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    response = await resolve(
        client.responses.create(model="gpt-4.1", input="Tell me a joke", instructions="Be nice", max_output_tokens=64)
    )
    assert response.output_text
    span = only_span(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4.1"
    assert attrs["openai.api.type"] == "responses"
    assert attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["gen_ai.response.id"] == response.id
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == response.usage.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == response.usage.output_tokens
    assert token_sums(metric_reader) == {
        "input": response.usage.input_tokens,
        "output": response.usage.output_tokens,
    }
    assert points(metric_reader, TTFC) == []


@pytest.mark.usefixtures("instrumented")
async def test_openai_responses_stream(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    events = await drain(await resolve(client.responses.create(model="gpt-4.1", input="Hi there", stream=True)))
    deltas = [event for event in events if event.type == "response.output_text.delta"]
    completed = events[-1]
    assert completed.type == "response.completed"
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.id"] == completed.response.id
    assert attrs["gen_ai.usage.output_tokens"] == completed.response.usage.output_tokens
    # Lifecycle events (created, in_progress, ...) are not output: TTFC waits for the first delta.
    assert total_count(metric_reader, TTFC) == 1
    assert total_count(metric_reader, PER_CHUNK) == len(deltas) - 1
    assert total_count(metric_reader, PER_TOKEN) == 1
    assert token_sums(metric_reader)["output"] == completed.response.usage.output_tokens


@pytest.mark.usefixtures("instrumented")
async def test_openai_responses_stream_error_event_is_recorded(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    headers = {"x-fake-error": "stream-error", "x-fake-error-after": "4"}
    stream = await resolve(client.responses.create(model="gpt-4.1", input="Hi", stream=True, extra_headers=headers))
    with pytest.raises(openai.APIError) as raised:
        await drain(stream)
    assert type(raised.value) is openai.APIError
    assert only_span(span_exporter).attributes["error.type"] == "APIError"
    assert total_count(metric_reader, DURATION, {"error.type": "APIError"}) == 1


@pytest.mark.usefixtures("instrumented")
async def test_openai_embeddings_create(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    result = await resolve(
        client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"], dimensions=16)
    )
    assert len(result.data[0].embedding) == 16
    span = only_span(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "embeddings text-embedding-3-small"
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.embeddings.dimension.count"] == 16
    assert attrs["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert "gen_ai.usage.output_tokens" not in attrs
    # Embeddings have no output tokens: only the input series is recorded.
    assert token_sums(metric_reader) == {"input": result.usage.prompt_tokens}
    assert total_count(metric_reader, DURATION, {"gen_ai.operation.name": "embeddings"}) == 1


@pytest.mark.usefixtures("instrumented")
async def test_openai_legacy_completions(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    result = await resolve(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon", max_tokens=20))
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.request.max_tokens"] == 20
    assert attrs["gen_ai.response.finish_reasons"] == (result.choices[0].finish_reason,)
    assert token_sums(metric_reader)["output"] == result.usage.completion_tokens


async def test_openai_legacy_completions_stream_with_usage(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    instrument(stream_usage=True)
    chunks = await drain(
        await resolve(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon", stream=True))
    )
    assert all(chunk.choices for chunk in chunks)  # the injected usage chunk stays hidden
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.usage.output_tokens"] == len(chunks)
    assert total_count(metric_reader, TTFC) == 1
    assert total_count(metric_reader, PER_TOKEN) == 1


@pytest.mark.usefixtures("instrumented")
async def test_openai_responses_stream_helper(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.responses.stream(model="gpt-4.1", input="Hi there")
    stream = await enter(manager)
    events = await drain(stream)
    final = await resolve(stream.get_final_response())
    await leave(manager)
    assert any(event.type == "response.output_text.delta" for event in events)
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.response.id"] == final.id
    assert "error.type" not in attrs
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, DURATION) == 1
