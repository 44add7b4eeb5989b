# SPDX-License-Identifier: Apache-2.0
"""Anthropic streams through the real SDK: ``create(stream=True)`` and the ``messages.stream`` helper.

Sync and async against the fake server's Anthropic wire format. Time to first chunk is the first
``content_block_delta`` that carries generated tokens (``text_delta``, ``thinking_delta``,
``input_json_delta``); ``message_start``, block starts/stops, ``ping`` and ``signature_delta`` are not
output. Every way a stream ends ends its call exactly once. The stream folder and the helper hook are
unit-tested at the end, on the SDK's own event objects.
"""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pydantic
import pytest
from anthropic.lib.streaming import MessageStreamManager
from anthropic.types import RawMessageStreamEvent
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import drain, enter, leave, only_span, points, resolve, take, total_count
from otel_llmperf.providers.anthropic import MessagesFolder, adopt_request
from otel_llmperf.providers.base import ChunkKind, Usage

MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Say hello to the world"}]
INPUT_TOKENS = 8  # 3 per message + 5 words (the fake server's estimate)
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
PER_TOKEN = "llmperf.client.time_per_output_token"
TEXT = "tok1 tok2 tok3 tok4 tok5 "


@pytest.fixture(name="anthropic_server", scope="module")
def fixture_anthropic_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(ttft=0.01, token_delay=0.002, output_tokens=5, seed=1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="client")
async def fixture_client(mode: str, anthropic_server: FakeServerProcess) -> AsyncIterator[Any]:
    """A real client, sync or async, that never retries (so each fault is seen once)."""
    cls = anthropic.AsyncAnthropic if mode == "async" else anthropic.Anthropic
    client = cls(base_url=f"{anthropic_server.url}/anthropic", api_key="test-key", max_retries=0, timeout=10.0)
    yield client
    await resolve(client.close())


def fake(**headers: str) -> dict[str, str]:
    """Fake-server override headers (``x-fake-*``)."""
    return {f"x-fake-{key.replace('_', '-')}": value for key, value in headers.items()}


def request(**overrides: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 50, "messages": MESSAGES, **overrides}


async def open_stream(client: Any, **headers: str) -> Any:
    return await resolve(client.messages.create(**request(stream=True), extra_headers=fake(**headers)))


def assert_ended_once(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader, error_type: str | None
) -> dict[str, Any]:
    span = only_span(exporter)
    attrs = dict(span.attributes or {})
    assert attrs.get("error.type") == error_type
    assert span.status.status_code is (StatusCode.ERROR if error_type else StatusCode.UNSET)
    assert total_count(reader, DURATION) == 1
    if error_type:
        assert total_count(reader, DURATION, {"error.type": error_type}) == 1
    return attrs


def assert_complete_stream(exporter: InMemorySpanExporter, reader: InMemoryMetricReader, output_chunks: int) -> None:
    attrs = assert_ended_once(exporter, reader, None)
    assert attrs["gen_ai.request.stream"] is True
    assert str(attrs["gen_ai.response.id"]).startswith("msg_")
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["gen_ai.usage.input_tokens"] == INPUT_TOKENS
    assert attrs["gen_ai.usage.output_tokens"] == 5
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and 0 < ttfc < only_span(exporter).end_time  # type: ignore[operator]
    assert total_count(reader, TTFC) == 1
    assert total_count(reader, PER_CHUNK) == output_chunks - 1
    assert total_count(reader, PER_TOKEN) == 1
    usage = {point.attributes["gen_ai.token.type"]: point.sum for point in points(reader, TOKENS)}
    assert usage == {"input": INPUT_TOKENS, "output": 5}


def _sdk_error(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] in ("anthropic", "httpx", "httpx2")


# --- create(stream=True) ------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_stream_full_consumption(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    assert isinstance(stream, (anthropic.Stream, anthropic.AsyncStream))  # isinstance still holds
    events = await drain(stream)
    assert [event.type for event in events].count("content_block_delta") == 5
    await resolve(stream.close())  # closing a finished stream must not end it twice
    assert_complete_stream(span_exporter, metric_reader, output_chunks=5)


@pytest.mark.usefixtures("instrumented")
async def test_stream_thinking_deltas_are_output_and_reasoning(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    await drain(await open_stream(client, reasoning_tokens="2"))
    attrs = assert_ended_once(span_exporter, metric_reader, None)
    assert attrs["gen_ai.usage.output_tokens"] == 7
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 2
    # 2 thinking deltas and 5 text deltas; the signature_delta between them is not output.
    assert total_count(metric_reader, PER_CHUNK) == 6


@pytest.mark.usefixtures("instrumented")
async def test_stream_break_then_close_is_cancelled(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    while (await take(stream)).type != "content_block_delta":
        pass
    assert span_exporter.get_finished_spans() == ()  # still open until closed
    await resolve(stream.close())
    attrs = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert attrs["gen_ai.response.id"].startswith("msg_")  # message_start arrived before the close
    assert total_count(metric_reader, TTFC) == 1


@pytest.mark.usefixtures("instrumented")
async def test_stream_with_block_exit_before_end_is_cancelled(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    assert await enter(stream) is stream
    await take(stream)
    await leave(stream)
    attrs = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert "gen_ai.response.time_to_first_chunk" not in attrs  # message_start is not output
    assert total_count(metric_reader, TTFC) == 0


@pytest.mark.usefixtures("instrumented")
async def test_stream_user_exception_in_with_block_is_recorded(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    class CallerBug(Exception):
        pass

    stream = await open_stream(client)
    await enter(stream)
    await take(stream)
    assert not await leave(stream, CallerBug("raised by the caller's loop body"))
    assert_ended_once(span_exporter, metric_reader, "CallerBug")


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("fault", ["disconnect", "stream-error"], ids=["disconnect", "error-event"])
async def test_stream_server_error_mid_stream(
    client: Any, fault: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    # 4 events: message_start, content_block_start, ping, the first text delta; then the fault.
    stream = await open_stream(client, error=fault, error_after="4")
    received = []
    with pytest.raises(Exception) as raised:
        for _ in range(100):
            received.append(await take(stream))
    assert [event.type for event in received][-1] == "content_block_delta"
    assert _sdk_error(raised.value)  # the SDK's own exception reaches the caller, unchanged
    if fault == "stream-error":
        # anthropic raises an APIStatusError for an ``event: error`` (the HTTP status was 200).
        assert isinstance(raised.value, anthropic.APIStatusError)
        assert raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    attrs = assert_ended_once(span_exporter, metric_reader, type(raised.value).__name__)
    assert "gen_ai.response.finish_reasons" not in attrs
    assert attrs["gen_ai.usage.input_tokens"] == INPUT_TOKENS  # from message_start
    assert total_count(metric_reader, TTFC) == 1


@pytest.mark.usefixtures("instrumented")
async def test_stream_abandoned_is_finished_by_garbage_collection(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    await take(stream)
    del stream
    gc.collect()
    assert_ended_once(span_exporter, metric_reader, "abandoned")


@pytest.mark.usefixtures("instrumented")
async def test_with_streaming_response_stream_is_measured(
    client: Any, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.messages.with_streaming_response.create(**request(stream=True))
    response = await enter(manager)
    assert response.headers["request-id"].startswith("req_")  # the caller's headers, untouched
    await drain(await resolve(response.parse()))
    await leave(manager)
    assert_complete_stream(span_exporter, metric_reader, output_chunks=5)


async def test_stream_tool_use_is_captured(client: Any, instrument: Any, span_exporter: InMemorySpanExporter) -> None:
    instrument(capture_content=True)
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    stream = await resolve(client.messages.create(**request(stream=True, tools=tools, tool_choice={"type": "any"})))
    deltas = [event.delta for event in await drain(stream) if event.type == "content_block_delta"]
    assert {delta.type for delta in deltas} == {"input_json_delta"}
    attrs = only_span(span_exporter).attributes or {}
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_use",)
    (output,) = json.loads(str(attrs["gen_ai.output.messages"]))
    (part,) = output["parts"]
    assert (part["type"], part["name"], output["finish_reason"]) == ("tool_call", "get_weather", "tool_use")
    assert isinstance(part["arguments"], dict) and part["id"].startswith("toolu_")


# --- the messages.stream helper -------------------------------------------------------------


async def _read(stream: Any, how: str) -> Any:
    if how == "events":
        return [event async for event in stream] if hasattr(stream, "__aiter__") else list(stream)
    if how == "text_stream":
        return "".join(await drain(stream.text_stream))
    return await resolve(getattr(stream, how)())


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("how", ["events", "text_stream", "get_final_message", "get_final_text", "until_done"])
async def test_stream_helper_every_way_of_reading_is_measured(
    client: Any, how: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.messages.stream(**request())
    assert span_exporter.get_finished_spans() == () and total_count(metric_reader, DURATION) == 0
    stream = await enter(manager)
    result = await _read(stream, how)
    if how == "text_stream" or how == "get_final_text":
        assert result == TEXT
    final = await resolve(stream.get_final_message())  # the helper's own accumulation still works
    assert final.usage.output_tokens == 5
    await leave(manager)
    assert_complete_stream(span_exporter, metric_reader, output_chunks=5)
    assert (only_span(span_exporter).attributes or {})["gen_ai.response.id"] == final.id


@pytest.mark.usefixtures("instrumented")
async def test_stream_helper_exit_before_end_is_cancelled(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.messages.stream(**request())
    stream = await enter(manager)
    await take(stream.text_stream)
    await leave(manager)
    attrs = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert attrs["gen_ai.request.stream"] is True
    assert total_count(metric_reader, TTFC) == 1


@pytest.mark.usefixtures("instrumented")
async def test_stream_helper_user_exception_is_recorded(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.messages.stream(**request())
    stream = await enter(manager)
    await take(stream)
    assert not await leave(manager, KeyError("raised in the caller's with block"))
    assert_ended_once(span_exporter, metric_reader, "KeyError")


@pytest.mark.usefixtures("instrumented")
async def test_stream_helper_error_event_raises_the_sdk_exception(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.messages.stream(**request(), extra_headers=fake(error="stream-error", error_after="4"))
    stream = await enter(manager)
    with pytest.raises(anthropic.APIStatusError) as raised:
        await drain(stream.text_stream)
    assert await leave(manager, raised.value) is not True
    assert_ended_once(span_exporter, metric_reader, type(raised.value).__name__)


@pytest.mark.usefixtures("instrumented")
async def test_stream_helper_http_error_on_enter(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.messages.stream(**request(), extra_headers=fake(error="429"))
    with pytest.raises(anthropic.RateLimitError):
        await enter(manager)
    assert_ended_once(span_exporter, metric_reader, "RateLimitError")


@pytest.mark.usefixtures("instrumented")
# An async manager never entered leaves its request coroutine unawaited, as without otel-llmperf.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_stream_helper_never_entered_records_nothing(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.messages.stream(**request())
    assert span_exporter.get_finished_spans() == ()
    del manager
    gc.collect()
    assert span_exporter.get_finished_spans() == ()
    assert total_count(metric_reader, DURATION) == 0


async def test_stream_helper_captures_content(
    client: Any, instrument: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    manager = client.messages.stream(**request(system="Be brief."))
    stream = await enter(manager)
    await resolve(stream.until_done())
    await leave(manager)
    attrs = only_span(span_exporter).attributes or {}
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": MESSAGES[0]["content"]}]}
    ]
    assert json.loads(str(attrs["gen_ai.system_instructions"])) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "end_turn"}
    ]


@pytest.mark.usefixtures("instrumented")
async def test_beta_stream_helper_is_measured(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.beta.messages.stream(**request())
    stream = await enter(manager)
    assert await resolve(stream.get_final_text()) == TEXT
    await leave(manager)
    assert_complete_stream(span_exporter, metric_reader, output_chunks=5)


# --- the stream extractors on SDK objects ------------------------------------------------


def _events(*raw: dict[str, Any]) -> list[Any]:
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)
    return [adapter.validate_python(event) for event in raw]


def test_messages_folder_on_stream_events() -> None:
    start = {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "claude-y",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 4, "output_tokens": 1, "cache_read_input_tokens": 6},
    }
    events = _events(
        {"type": "message_start", "message": start},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        },
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a": '}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    )
    folder = MessagesFolder(capture=True)
    kinds = [folder.fold(event) for event in events]
    # Every generated delta is output (thinking and tool input too); a signature is not.
    assert [index for index, kind in enumerate(kinds) if kind is ChunkKind.OUTPUT] == [2, 6, 7]
    info = folder.result()
    assert (folder.response_id, folder.response_model) == ("msg_2", "claude-y")
    assert info.finish_reasons == ("tool_use",)
    assert info.usage == Usage(10, 9, 6, None, None)  # input = 4 uncached + 6 read from the cache
    assert info.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "hm"},
                {"type": "tool_call", "id": "t", "name": "f", "arguments": {"a": 1}},
            ],
            "finish_reason": "tool_use",
        }
    ]


def test_adopt_request_replaces_the_managers_request_or_says_why_not() -> None:
    def original() -> None:
        return None

    manager: MessageStreamManager[Any] = MessageStreamManager(original, output_format=None)
    adopt_request(manager, lambda request: ("wrapped", request))
    assert vars(manager)["_MessageStreamManager__api_request"] == ("wrapped", original)
    with pytest.raises(AttributeError, match="no __api_request"):
        adopt_request(object(), lambda request: request)  # a future SDK: the core logs it, the helper still works
