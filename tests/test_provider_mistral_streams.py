# SPDX-License-Identifier: Apache-2.0
"""Mistral AI streams: ``chat.stream`` / ``chat.stream_async`` through the real SDK, and how each one ends.

``client.chat.stream(...)`` sends the request and returns an ``EventStream`` (``await
client.chat.stream_async(...)`` an ``EventStreamAsync``): an iterator and a context manager of
``CompletionEvent`` objects whose ``.data`` is a ``CompletionChunk``. The first chunk (the
assistant role with empty content) is the first chunk with a choice: time to first chunk ends
there. Mistral sends the usage on the last chunk without being asked.
"""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mistralai.client import Mistral, errors
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import drain, enter, leave, only_span, points, resolve, take, total_count
from otel_llmperf.instruments import TIME_PER_TOKEN_BUCKETS

MODEL = "mistral-small-latest"
MESSAGES = [{"role": "user", "content": "Count to five please"}]
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
PER_TOKEN = "llmperf.client.time_per_output_token"


@pytest.fixture(name="mistral_server", scope="module")
def fixture_mistral_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(ttft=0.01, token_delay=0.002, output_tokens=5, seed=1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="mistral")
async def fixture_mistral(mistral_server: FakeServerProcess) -> AsyncIterator[Mistral]:
    # retry_config=None: no retries, so each injected fault is seen once.
    client = Mistral(api_key="test-key", server_url=f"{mistral_server.url}/mistral", retry_config=None)
    yield client
    client.__exit__(None, None, None)
    await client.__aexit__(None, None, None)


async def open_stream(mistral: Mistral, mode: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """``chat.stream`` or ``await chat.stream_async``; ``headers`` become ``x-fake-*`` overrides."""
    extra = {f"x-fake-{key.replace('_', '-')}": value for key, value in (headers or {}).items()}
    kwargs = {"model": MODEL, "messages": MESSAGES, "http_headers": extra, **kwargs}
    method = mistral.chat.stream_async if mode == "async" else mistral.chat.stream
    return await resolve(method(**kwargs))


async def close(stream: Any) -> None:
    await resolve(stream.close())


def assert_ended_once(exporter: InMemorySpanExporter, reader: InMemoryMetricReader, error_type: str | None) -> Any:
    span = only_span(exporter)
    assert span.attributes.get("error.type") == error_type
    assert span.status.status_code is (StatusCode.ERROR if error_type else StatusCode.UNSET)
    assert total_count(reader, DURATION) == 1
    if error_type:
        assert total_count(reader, DURATION, {"error.type": error_type}) == 1
    return span


@pytest.mark.usefixtures("instrumented")
async def test_mistral_stream_records_time_to_first_chunk_gaps_and_usage(
    mistral: Mistral,
    mode: str,
    mistral_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    stream = await open_stream(mistral, mode, temperature=0.5, max_tokens=20)
    manager = await enter(stream)
    assert manager is stream
    # The SDK's httpx response reaches the caller through the proxy, headers untouched.
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    assert stream.response.headers["x-request-id"]
    events = await drain(stream)
    await leave(stream)
    contents = [event.data.choices[0].delta.content for event in events]
    assert contents == ["", "tok1 ", "tok2 ", "tok3 ", "tok4 ", "tok5 "]  # a role-only chunk first

    span = assert_ended_once(span_exporter, metric_reader, None)
    attrs = dict(span.attributes or {})
    assert span.name == f"chat {MODEL}"
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "mistral_ai"
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.5) and attrs["gen_ai.request.max_tokens"] == 20
    assert attrs["gen_ai.response.id"] == events[0].data.id
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    usage = events[-1].data.usage  # only the last chunk carries it
    assert all(event.data.usage is None for event in events[:-1])
    assert attrs["gen_ai.usage.input_tokens"] == usage.prompt_tokens == 7
    assert attrs["gen_ai.usage.output_tokens"] == usage.completion_tokens == 5
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and 0.01 <= ttfc < 5  # the server waits ttft=0.01 s
    (ttfc_point,) = points(metric_reader, TTFC)
    assert ttfc_point.sum == pytest.approx(ttfc)
    assert dict(ttfc_point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": mistral_server.port,
    }
    assert total_count(metric_reader, PER_CHUNK) == len(events) - 1
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in points(metric_reader, TOKENS)}
    assert tokens == {"input": 7, "output": 5}
    (per_token,) = points(metric_reader, PER_TOKEN)
    assert per_token.count == 1 and tuple(per_token.explicit_bounds) == TIME_PER_TOKEN_BUCKETS
    (duration,) = points(metric_reader, DURATION)
    assert 0 < per_token.sum < duration.sum


async def test_mistral_stream_choices_cache_and_capture(
    instrument: Any, mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    stream = await open_stream(mistral, mode, {"cached_tokens": "2"}, n=2, max_tokens=3)
    await drain(stream)
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.response.finish_reasons"] == ("length", "length")
    assert attrs["gen_ai.usage.output_tokens"] == 2 * 3
    assert attrs["gen_ai.usage.input_tokens"] == 7 and attrs["gen_ai.usage.cache_read.input_tokens"] == 2
    message = {
        "role": "assistant",
        "parts": [{"type": "text", "content": "tok1 tok2 tok3 "}],
        "finish_reason": "length",
    }
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [message, message]
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Count to five please"}]}
    ]


async def test_mistral_stream_tool_call_is_captured(
    instrument: Any, mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    events = await drain(await open_stream(mistral, mode, tools=tools, tool_choice="any"))
    call = events[-1].data.choices[0].delta.tool_calls[0]
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    part = {"type": "tool_call", "id": call.id, "name": "lookup", "arguments": call.function.arguments}
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {"role": "assistant", "parts": [part], "finish_reason": "tool_calls"}
    ]


# --- how a stream ends ------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_mistral_stream_full_consumption_then_close_ends_once(
    mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(mistral, mode)
    assert len(await drain(stream)) == 6
    await close(stream)  # closing a finished stream must not end it twice
    assert_ended_once(span_exporter, metric_reader, None)


@pytest.mark.usefixtures("instrumented")
async def test_mistral_stream_break_then_close_is_cancelled(
    mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(mistral, mode)
    await take(stream)
    await take(stream)
    assert span_exporter.get_finished_spans() == ()  # still open until closed
    await close(stream)
    span = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert "gen_ai.usage.output_tokens" not in span.attributes  # the usage was on the last chunk
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, PER_CHUNK) == 1


@pytest.mark.usefixtures("instrumented")
async def test_mistral_stream_with_block_left_early_is_cancelled(
    mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(mistral, mode)
    await enter(stream)
    await take(stream)
    await leave(stream)
    assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert stream.response.is_closed  # the SDK's own exit ran


@pytest.mark.usefixtures("instrumented")
async def test_mistral_stream_caller_exception_in_with_block(
    mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    class CallerBug(Exception):
        pass

    stream = await open_stream(mistral, mode)
    await enter(stream)
    await take(stream)
    assert not await leave(stream, CallerBug("boom"))  # the exception is not swallowed
    assert_ended_once(span_exporter, metric_reader, "CallerBug")


@pytest.mark.parametrize(("fault", "error_class"), [("disconnect", None), ("stream-error", "ResponseValidationError")])
@pytest.mark.usefixtures("instrumented")
async def test_mistral_stream_server_error_mid_stream(
    mistral: Mistral,
    mode: str,
    fault: str,
    error_class: str | None,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    stream = await open_stream(mistral, mode, {"error": fault, "error_after": "3"})
    received = []
    with pytest.raises(Exception) as raised:
        for _ in range(100):
            received.append(await take(stream))
    assert len(received) == 3
    if error_class is not None:  # the error envelope is not a CompletionChunk: the SDK rejects it
        assert type(raised.value) is errors.ResponseValidationError
    else:  # the SDK lets the HTTP client's protocol error through
        assert type(raised.value).__name__ == "RemoteProtocolError"
        assert type(raised.value).__module__.split(".")[0] in ("httpx", "httpx2")
    span = assert_ended_once(span_exporter, metric_reader, type(raised.value).__name__)
    assert [event.name for event in span.events] == ["exception"]
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, PER_CHUNK) == 2


@pytest.mark.parametrize("status", [429, 500])
@pytest.mark.usefixtures("instrumented")
async def test_mistral_stream_rejected_request_raises_at_the_call(
    mistral: Mistral,
    mode: str,
    status: int,
    mistral_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    mistral_server.reset()
    with pytest.raises(errors.SDKError) as raised:
        await open_stream(mistral, mode, {"error": str(status)})
    assert type(raised.value) is errors.SDKError and raised.value.status_code == status
    assert mistral_server.stats()["total_requests"] == 1  # no retries
    span = assert_ended_once(span_exporter, metric_reader, "SDKError")
    assert span.attributes["gen_ai.request.stream"] is True
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes
    assert points(metric_reader, TTFC) == [] and points(metric_reader, TOKENS) == []


@pytest.mark.usefixtures("instrumented")
async def test_mistral_stream_abandoned_is_finished_by_garbage_collection(
    mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(mistral, mode)
    await take(stream)
    response = stream.response
    del stream
    gc.collect()
    assert_ended_once(span_exporter, metric_reader, "abandoned")
    await resolve(response.aclose() if mode == "async" else response.close())  # what the caller leaked
