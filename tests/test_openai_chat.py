# SPDX-License-Identifier: Apache-2.0
"""Chat completions through the real openai SDK and the fake server: spans and metrics."""

from __future__ import annotations

from typing import Any

import openai
import pydantic
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fakeserver import FakeServerProcess
from helpers import drain, enter, leave, only_span, points, resolve, take, total_count
from otel_llmperf.instruments import DURATION_BUCKETS, TIME_PER_TOKEN_BUCKETS, TOKEN_BUCKETS

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the world"}]
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
PER_TOKEN = "llmperf.client.time_per_output_token"
METRIC_ATTRIBUTES = {
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "server.address",
    "server.port",
    "error.type",
    "gen_ai.token.type",
}


def assert_metric_attributes_bounded(reader: InMemoryMetricReader) -> None:
    for name in (DURATION, TOKENS, TTFC, PER_CHUNK, PER_TOKEN):
        for point in points(reader, name):
            assert set(point.attributes) <= METRIC_ATTRIBUTES, (name, dict(point.attributes))


@pytest.mark.usefixtures("instrumented")
async def test_openai_chat_create_records_span_and_metrics(
    client: Any,
    fake_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    response = await resolve(
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, temperature=0.3, top_p=0.9, max_tokens=50, seed=7, stop=["END"]
        )
    )

    span = only_span(span_exporter)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == fake_server.port
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert attrs["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["openai.api.type"] == "chat_completions"
    assert attrs["gen_ai.response.id"] == response.id
    assert attrs["gen_ai.response.model"] == response.model
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert isinstance(attrs["gen_ai.usage.input_tokens"], int)
    assert "gen_ai.response.time_to_first_chunk" not in attrs
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs

    (duration,) = points(metric_reader, DURATION)
    assert duration.count == 1 and duration.sum > 0
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": response.model,
        "server.address": "127.0.0.1",
        "server.port": fake_server.port,
    }
    tokens = {point.attributes["gen_ai.token.type"]: point for point in points(metric_reader, TOKENS)}
    assert set(tokens) == {"input", "output"}
    assert tokens["input"].sum == response.usage.prompt_tokens
    assert tokens["output"].sum == response.usage.completion_tokens
    assert tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
    # Streaming-only metrics must not appear for a non-streaming call.
    assert points(metric_reader, TTFC) == [] and points(metric_reader, PER_CHUNK) == []
    assert points(metric_reader, PER_TOKEN) == []
    assert_metric_attributes_bounded(metric_reader)


@pytest.mark.usefixtures("instrumented")
async def test_openai_chat_reports_cached_and_reasoning_tokens(
    client: Any, span_exporter: InMemorySpanExporter
) -> None:
    headers = {"x-fake-cached-tokens": "4", "x-fake-reasoning-tokens": "6"}
    await resolve(client.chat.completions.create(model="o4-mini", messages=MESSAGES, extra_headers=headers))
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 6


@pytest.mark.usefixtures("instrumented")
async def test_openai_chat_stream_records_time_to_first_chunk_and_gaps(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    chunks = await drain(stream)
    output_chunks = [chunk for chunk in chunks if chunk.choices]

    span = only_span(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.response.id"] == chunks[0].id
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and 0.02 <= ttfc < 5  # the server waits ttft=0.02 s
    assert total_count(metric_reader, TTFC) == 1
    (ttfc_point,) = points(metric_reader, TTFC)
    assert ttfc_point.sum == pytest.approx(ttfc)
    assert tuple(ttfc_point.explicit_bounds) == DURATION_BUCKETS
    # One gap per output chunk after the first.
    assert total_count(metric_reader, PER_CHUNK) == len(output_chunks) - 1
    assert total_count(metric_reader, DURATION) == 1
    # Without stream_usage the SDK reports no usage for streams: nothing is invented.
    assert points(metric_reader, TOKENS) == [] and points(metric_reader, PER_TOKEN) == []
    assert "gen_ai.usage.output_tokens" not in attrs


async def test_openai_chat_stream_usage_injected_and_hidden(
    instrument: Any,
    mode: str,
    fresh_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    """stream_usage adds include_usage and hides the extra chunk: the caller sees the same chunks."""
    from conftest import make_client

    client = make_client(mode, fresh_server.base_url)
    plain = await drain(await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)))
    assert "stream_options" not in fresh_server.stats()["last_body"]["/v1/chat/completions"]

    instrument(stream_usage=True)
    seen = await drain(await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)))

    sent = fresh_server.stats()["last_body"]["/v1/chat/completions"]
    assert sent["stream_options"] == {"include_usage": True}
    assert len(seen) == len(plain)
    assert [c.choices[0].delta.content for c in seen] == [c.choices[0].delta.content for c in plain]
    assert all(chunk.choices for chunk in seen) and all(chunk.usage is None for chunk in seen)

    attrs = dict(only_span(span_exporter).attributes or {})
    output_tokens = attrs["gen_ai.usage.output_tokens"]
    assert output_tokens == 5
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in points(metric_reader, TOKENS)}
    assert tokens["output"] == 5 and tokens["input"] > 0
    (per_token,) = points(metric_reader, PER_TOKEN)
    assert per_token.count == 1
    assert tuple(per_token.explicit_bounds) == TIME_PER_TOKEN_BUCKETS
    # (t_last - t_first) / (tokens - 1): within the stream's duration; its exact value is timing.
    (duration,) = points(metric_reader, DURATION)
    assert 0 < per_token.sum < duration.sum


@pytest.mark.parametrize("caller_options", [{"include_usage": True}, {"include_usage": False}])
async def test_openai_chat_stream_usage_leaves_caller_stream_options_alone(
    instrument: Any, mode: str, fresh_server: FakeServerProcess, caller_options: dict[str, bool]
) -> None:
    from conftest import make_client

    instrument(stream_usage=True)
    client = make_client(mode, fresh_server.base_url)
    chunks = await drain(
        await resolve(
            client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, stream_options=caller_options)
        )
    )
    assert fresh_server.stats()["last_body"]["/v1/chat/completions"]["stream_options"] == caller_options
    # A usage chunk the caller asked for is theirs to see.
    assert any(chunk.usage is not None and not chunk.choices for chunk in chunks) is caller_options["include_usage"]


class Greeting(pydantic.BaseModel):
    text: str
    words: int


@pytest.mark.usefixtures("instrumented")
async def test_openai_chat_parse_records_json_output(client: Any, span_exporter: InMemorySpanExporter) -> None:
    completion = await resolve(client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Greeting))
    assert isinstance(completion.choices[0].message.parsed, Greeting)
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.output.type"] == "json"
    assert attrs["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens


@pytest.mark.usefixtures("instrumented")
async def test_openai_chat_stream_helper_measures_the_stream(
    client: Any, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.chat.completions.stream(model=MODEL, messages=MESSAGES)
    stream = await enter(manager)
    events = await drain(stream)
    final = await resolve(stream.get_final_completion())
    await leave(manager)
    assert any(event.type == "content.delta" for event in events)
    assert final.choices[0].message.content
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in (span.attributes or {})
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, DURATION) == 1


@pytest.mark.usefixtures("instrumented")
async def test_openai_chat_stream_helper_exit_before_end_is_cancelled(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.chat.completions.stream(model=MODEL, messages=MESSAGES)
    stream = await enter(manager)
    await take(stream)
    await leave(manager)
    span = only_span(span_exporter)
    assert span.attributes["error.type"] == "cancelled"
    assert total_count(metric_reader, DURATION, {"error.type": "cancelled"}) == 1


@pytest.mark.parametrize(
    ("fault", "error"), [("429", openai.RateLimitError), ("500", openai.InternalServerError)], ids=["429", "500"]
)
@pytest.mark.usefixtures("instrumented")
async def test_openai_chat_http_error_is_recorded_and_reraised(
    client: Any,
    fault: str,
    error: type[Exception],
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with pytest.raises(error) as raised:
        await resolve(
            client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_headers={"x-fake-error": fault})
        )
    assert type(raised.value) is error  # the SDK's own exception, not a wrapper of ours
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error.__name__
    assert [event.name for event in span.events] == ["exception"]
    (duration,) = points(metric_reader, DURATION)
    assert duration.attributes["error.type"] == error.__name__ and duration.count == 1
    assert points(metric_reader, TOKENS) == []


@pytest.mark.usefixtures("instrumented")
async def test_openai_chat_connection_refused_is_recorded(
    mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    from conftest import make_client

    client = make_client(mode, "http://127.0.0.1:9/v1")  # discard port: nothing listens
    with pytest.raises(openai.APIConnectionError):
        await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES))
    assert only_span(span_exporter).attributes["error.type"] == "APIConnectionError"
    assert total_count(metric_reader, DURATION, {"error.type": "APIConnectionError"}) == 1


async def test_openai_chat_stream_without_chunk_metrics(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    """chunk_metrics=False drops only the per-chunk histogram; per-call stream timings stay."""
    instrument(chunk_metrics=False, stream_usage=True)
    await drain(await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)))
    assert points(metric_reader, PER_CHUNK) == []
    assert total_count(metric_reader, TTFC) == 1
    assert total_count(metric_reader, PER_TOKEN) == 1
    assert "gen_ai.response.time_to_first_chunk" in (only_span(span_exporter).attributes or {})
