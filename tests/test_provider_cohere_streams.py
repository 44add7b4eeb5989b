# SPDX-License-Identifier: Apache-2.0
"""Cohere v2 streams: ``chat_stream`` and ``with_raw_response.chat_stream`` through the real SDK.

``ClientV2.chat_stream`` returns a generator and ``AsyncClientV2.chat_stream`` an async
generator; on the first iteration they enter the raw client's ``chat_stream`` context manager,
which makes the request: that entry is what is recorded, so a stream never iterated sends and
records nothing. The generators are not context managers: an early end is ``close()`` /
``aclose()`` (also through ``contextlib.closing`` / ``aclosing``, or Python's finaliser of a
dropped generator), which is ``cancelled``. The raw manager is a context manager: leaving its
``with`` block early is ``cancelled``, an exception in it is that exception's class, and a raw
stream entered and then dropped unclosed is ``abandoned``. Time to first chunk is the first
``content-delta`` (or ``tool-plan-delta`` / ``tool-call-*`` when the model answers with a tool call).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import cohere
import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import drain, enter, leave, only_span, points, take, total_count
from otel_llmperf.instruments import TIME_PER_TOKEN_BUCKETS

MODEL = "command-a-03-2025"
PROMPT = "Count to five please"
PROMPT_TOKENS = 4 + 3  # the fake server counts words, plus 3 per message
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
PER_TOKEN = "llmperf.client.time_per_output_token"
# message-start, content-start, 5 content-deltas, content-end, message-end
EVENTS = ["message-start", "content-start", *["content-delta"] * 5, "content-end", "message-end"]


@pytest.fixture(name="cohere_server", scope="module")
def fixture_cohere_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(ttft=0.01, token_delay=0.002, output_tokens=5, seed=1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="co")
async def fixture_co(mode: str, cohere_server: FakeServerProcess) -> AsyncIterator[Any]:
    """A real ClientV2 or AsyncClientV2 on the fake server; no retries, so each fault is seen once."""
    url = f"{cohere_server.url}/cohere"
    if mode == "async":
        async with httpx.AsyncClient(timeout=10) as http:
            yield cohere.AsyncClientV2(api_key="test-key", base_url=url, max_retries=0, httpx_client=http)
    else:
        with httpx.Client(timeout=10) as http:
            yield cohere.ClientV2(api_key="test-key", base_url=url, max_retries=0, httpx_client=http)


def open_stream(co: Any, **options: Any) -> Any:
    """Start a stream (nothing is sent yet); ``headers`` become fake-server overrides."""
    headers = options.pop("headers", {})
    extra = {f"x-fake-{key.replace('_', '-')}": value for key, value in headers.items()}
    messages = options.pop("messages", [{"role": "user", "content": PROMPT}])
    return co.chat_stream(model=MODEL, messages=messages, request_options={"additional_headers": extra}, **options)


async def close(stream: Any) -> None:
    """End a stream early the way its kind allows: ``aclose()`` for async generators, else ``close()``."""
    if hasattr(stream, "__anext__"):
        await stream.aclose()
    else:
        stream.close()


def assert_ended_once(exporter: InMemorySpanExporter, reader: InMemoryMetricReader, error_type: str | None) -> Any:
    span = only_span(exporter)
    assert span.attributes.get("error.type") == error_type
    assert span.status.status_code is (StatusCode.ERROR if error_type else StatusCode.UNSET)
    assert total_count(reader, DURATION) == 1
    if error_type:
        assert total_count(reader, DURATION, {"error.type": error_type}) == 1
    return span


@pytest.mark.usefixtures("instrumented")
async def test_cohere_stream_records_time_to_first_chunk_gaps_and_usage(
    co: Any, cohere_server: FakeServerProcess, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    events = await drain(open_stream(co, temperature=0.5, max_tokens=20))
    assert [event.type for event in events] == EVENTS

    span = assert_ended_once(span_exporter, metric_reader, None)
    assert span.name == f"chat {MODEL}"
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "cohere"
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.5) and attrs["gen_ai.request.max_tokens"] == 20
    assert attrs["gen_ai.response.id"] == events[0].id
    assert attrs["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert attrs["gen_ai.usage.input_tokens"] == PROMPT_TOKENS  # billed_units: the template is not billed
    assert attrs["gen_ai.usage.output_tokens"] == 5
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and 0.01 <= ttfc < 5  # the server waits ttft=0.01 s
    (ttfc_point,) = points(metric_reader, TTFC)
    assert ttfc_point.sum == pytest.approx(ttfc)
    assert ttfc_point.attributes["gen_ai.provider.name"] == "cohere"
    assert ttfc_point.attributes["server.port"] == cohere_server.port
    assert total_count(metric_reader, PER_CHUNK) == 5 - 1  # between content-deltas only
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in points(metric_reader, TOKENS)}
    assert tokens == {"input": PROMPT_TOKENS, "output": 5}
    (per_token,) = points(metric_reader, PER_TOKEN)
    assert per_token.count == 1 and tuple(per_token.explicit_bounds) == TIME_PER_TOKEN_BUCKETS
    (duration,) = points(metric_reader, DURATION)
    assert 0 < per_token.sum < duration.sum


async def test_cohere_stream_thinking_cache_and_capture(
    instrument: Any, co: Any, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    instrument(capture_content=True)
    events = await drain(open_stream(co, max_tokens=3, headers={"reasoning_tokens": "2", "cached_tokens": "4"}))
    assert [event.type for event in events].count("content-delta") == 2 + 3
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.response.finish_reasons"] == ("MAX_TOKENS",)
    assert attrs["gen_ai.usage.output_tokens"] == 3 + 2  # thinking tokens are output tokens
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 4
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "tok1 tok2 "}, {"type": "text", "content": "tok1 tok2 tok3 "}],
            "finish_reason": "length",
        }
    ]
    assert total_count(metric_reader, PER_CHUNK) == 5 - 1  # thinking deltas are output chunks too


async def test_cohere_stream_tool_call_counts_the_plan_as_output(
    instrument: Any, co: Any, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    instrument(capture_content=True)
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    events = await drain(open_stream(co, tools=tools, tool_choice="REQUIRED", max_tokens=2))
    kinds = [event.type for event in events]
    plan = ["tool-plan-delta"] * 2
    assert kinds == ["message-start", *plan, "tool-call-start", "tool-call-delta", "tool-call-end", "message-end"]
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.response.finish_reasons"] == ("TOOL_CALL",)
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    (output,) = json.loads(str(attrs["gen_ai.output.messages"]))
    assert output["finish_reason"] == "tool_call"
    plan, call = output["parts"]
    assert plan == {"type": "reasoning", "content": "tok1 tok2 "}
    assert call["type"] == "tool_call" and call["name"] == "search" and call["id"].startswith("search_")
    assert json.loads(call["arguments"]) == {"query": "tok1 tok2"}
    # 2 plan deltas + tool-call-start + tool-call-delta carry output.
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, PER_CHUNK) == 3


# --- how a stream ends ------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_cohere_stream_full_consumption_then_close_ends_once(
    co: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = open_stream(co)
    assert len(await drain(stream)) == len(EVENTS)
    await close(stream)  # closing a finished stream must not end it twice
    assert_ended_once(span_exporter, metric_reader, None)


@pytest.mark.usefixtures("instrumented")
async def test_cohere_stream_break_then_close_is_cancelled(
    co: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = open_stream(co)
    for _ in range(4):  # message-start, content-start, two content-deltas
        await take(stream)
    assert span_exporter.get_finished_spans() == ()  # still open until closed
    await close(stream)
    span = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert "gen_ai.usage.output_tokens" not in span.attributes  # usage only comes with message-end
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, PER_CHUNK) == 1


@pytest.mark.usefixtures("instrumented")
async def test_cohere_stream_closing_block_left_early_is_cancelled(
    co: Any, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    """``closing``/``aclosing`` blocks close the stream on the way out, error or not: ``cancelled``."""

    class CallerBug(Exception):
        pass

    stream = open_stream(co)
    with pytest.raises(CallerBug):
        if mode == "async":
            async with contextlib.aclosing(stream):
                await take(stream)
                raise CallerBug
        else:
            with contextlib.closing(stream):
                await take(stream)
                raise CallerBug
    assert_ended_once(span_exporter, metric_reader, "cancelled")


@pytest.mark.usefixtures("instrumented")
async def test_cohere_stream_disconnect_mid_stream_raises_the_transport_error(
    co: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = open_stream(co, headers={"error": "disconnect", "error_after": "4"})
    received = []
    with pytest.raises(httpx.RemoteProtocolError):  # the SDK lets httpx's error through
        for _ in range(100):
            received.append(await take(stream))
    assert [event.type for event in received] == EVENTS[:4]
    span = assert_ended_once(span_exporter, metric_reader, "RemoteProtocolError")
    assert [event.name for event in span.events] == ["exception"]
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, PER_CHUNK) == 1


@pytest.mark.usefixtures("instrumented")
async def test_cohere_stream_in_band_error_ends_the_call_as_error(
    co: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    """Cohere reports a failure in a started stream in ``message-end``; the SDK raises nothing."""
    events = await drain(open_stream(co, headers={"error": "stream-error", "error_after": "4"}))
    assert events[-1].type == "message-end" and events[-1].delta.finish_reason == "ERROR"
    span = assert_ended_once(span_exporter, metric_reader, "error")
    assert span.attributes["gen_ai.response.finish_reasons"] == ("ERROR",)
    assert points(metric_reader, PER_TOKEN) == []  # no usage, and a failed stream says nothing per token


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize(
    ("fault", "error_class"), [("429", cohere.TooManyRequestsError), ("500", cohere.InternalServerError)]
)
async def test_cohere_stream_rejected_request_fails_at_the_first_event(
    co: Any,
    fault: str,
    error_class: type[Exception],
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    stream = open_stream(co, headers={"error": fault})  # the request is sent when iteration starts
    assert span_exporter.get_finished_spans() == ()
    with pytest.raises(error_class):
        await take(stream)
    span = assert_ended_once(span_exporter, metric_reader, error_class.__name__)
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes
    assert points(metric_reader, TTFC) == [] and points(metric_reader, TOKENS) == []


async def test_cohere_stream_dropped_generator_is_closed_by_its_finaliser(
    instrument: Any, co: Any, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    """Python closes a dropped generator (the SDK's stream), which closes the stream: ``cancelled``."""
    instrument()
    stream = open_stream(co)
    await take(stream)
    if mode == "async":
        # The event loop's async-generator finaliser would aclose() it later; do it now.
        await stream.aclose()
    del stream
    gc.collect()
    span = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert span.attributes["gen_ai.request.stream"] is True


@pytest.mark.usefixtures("instrumented")
async def test_cohere_stream_never_iterated_sends_and_records_nothing(
    co: Any, cohere_server: FakeServerProcess, span_exporter: InMemorySpanExporter
) -> None:
    cohere_server.reset()
    stream = open_stream(co)
    del stream
    gc.collect()
    assert span_exporter.get_finished_spans() == ()
    assert cohere_server.stats()["total_requests"] == 0


async def test_cohere_stream_of_a_client_made_before_instrumenting_is_recorded(
    instrument: Any, cohere_server: FakeServerProcess, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    """``cohere.Client.__init__`` binds ``chat``/``chat_stream`` on the instance; the raw client is still patched."""
    with httpx.Client(timeout=10) as http:
        client = cohere.ClientV2(api_key="k", base_url=f"{cohere_server.url}/cohere", max_retries=0, httpx_client=http)
        instrument()
        assert len(list(client.chat_stream(model=MODEL, messages=[{"role": "user", "content": PROMPT}]))) == len(EVENTS)
        client.chat(model=MODEL, messages=[{"role": "user", "content": PROMPT}])
    stream_span, chat_span = span_exporter.get_finished_spans()
    assert (
        stream_span.attributes["gen_ai.request.stream"] is True
        and stream_span.attributes["gen_ai.usage.output_tokens"] == 5
    )
    assert (
        chat_span.attributes["gen_ai.request.stream"] is False
        and chat_span.attributes["gen_ai.usage.output_tokens"] == 5
    )
    assert total_count(metric_reader, TTFC) == 1


# --- with_raw_response.chat_stream: a context manager -----------------------------------


def raw_stream(co: Any, **headers: str) -> Any:
    extra = {f"x-fake-{key.replace('_', '-')}": value for key, value in headers.items()}
    messages = [{"role": "user", "content": PROMPT}]
    return co.with_raw_response.chat_stream(
        model=MODEL, messages=messages, request_options={"additional_headers": extra}
    )


@pytest.mark.usefixtures("instrumented")
async def test_cohere_raw_stream_keeps_headers_and_records_the_events(
    co: Any, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = raw_stream(co)
    if mode == "async":
        async with manager as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [event async for event in response.data]
    else:
        with manager as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = list(response.data)
    assert [event.type for event in events] == EVENTS
    span = assert_ended_once(span_exporter, metric_reader, None)
    assert span.attributes["gen_ai.usage.output_tokens"] == 5 and span.attributes["gen_ai.response.id"] == events[0].id
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, PER_CHUNK) == 4


@pytest.mark.usefixtures("instrumented")
async def test_cohere_raw_stream_with_exit_before_the_end_is_cancelled(
    co: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = raw_stream(co)
    response = await enter(manager)
    await take(response.data)
    await leave(manager)
    assert_ended_once(span_exporter, metric_reader, "cancelled")


@pytest.mark.usefixtures("instrumented")
async def test_cohere_raw_stream_caller_exception_in_with_block_is_its_class(
    co: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    class CallerBug(Exception):
        pass

    manager = raw_stream(co)
    response = await enter(manager)
    await take(response.data)
    with pytest.raises(CallerBug):
        try:
            raise CallerBug
        except CallerBug as error:
            assert not await leave(manager, error)  # the manager does not swallow it
            raise
    span = assert_ended_once(span_exporter, metric_reader, "CallerBug")
    assert [event.name for event in span.events] == ["exception"]


@pytest.mark.usefixtures("instrumented")
async def test_cohere_raw_stream_rejected_request_fails_on_entry(
    co: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    with pytest.raises(cohere.TooManyRequestsError):
        await enter(raw_stream(co, error="429"))
    assert_ended_once(span_exporter, metric_reader, "TooManyRequestsError")


@pytest.mark.usefixtures("instrumented")
async def test_cohere_raw_stream_entered_and_dropped_is_abandoned(
    co: Any, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = raw_stream(co)
    response = await enter(manager)
    await take(response.data)
    if mode == "async":
        # An async generator's own finaliser needs the loop; close the SDK's event generator
        # behind our proxy, as the loop would, so only the proxy is left for the collector.
        await response.data.__wrapped__.aclose()
    del manager, response
    gc.collect()
    if mode == "async":
        # Callbacks of the still-open connection hold a copy of the context the stream was
        # opened in; the SDK generator's finaliser closes the connection on the next loop turns.
        await asyncio.sleep(0.05)
        gc.collect()
    assert_ended_once(span_exporter, metric_reader, "abandoned")
