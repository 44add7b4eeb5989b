# SPDX-License-Identifier: Apache-2.0
"""AWS Bedrock Runtime streams through the real ``boto3``: ConverseStream and InvokeModelWithResponseStream.

The stream comes back nested in the response (``response["stream"]`` / ``response["body"]``, a
botocore ``EventStream`` parsed from the fake server's AWS event-stream binary framing); the
instrumentation proxies it in place. Lifecycle: exhausted, closed early (``cancelled``), SDK error
mid-stream (the exception event → botocore's ``EventStreamError``; a dropped connection →
urllib3's ``ProtocolError``), garbage-collected (``abandoned``). ``EventStream`` is no context
manager, so there is no ``with``-exit case. boto3 has no async client.
"""

from __future__ import annotations

import base64
import gc
import json
from collections.abc import Iterator
from typing import Any

import botocore.eventstream
import botocore.exceptions
import pytest
import urllib3.exceptions
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import otel_llmperf
from fakeserver import FakeServerProcess, start_fake_server
from helpers import only_span, points, total_count
from otel_llmperf.demo import wire_bedrock
from otel_llmperf.providers.base import ChunkKind
from otel_llmperf.providers.bedrock import ConverseStreamFolder, InvokeStreamFolder, Usage
from test_provider_bedrock import ANTHROPIC_BODY, LLAMA, MESSAGES, MODEL, fake_headers, make_bedrock_client

DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
PER_TOKEN = "llmperf.client.time_per_output_token"
STREAMS = ["converse_stream", "invoke_model_with_response_stream"]


@pytest.fixture(name="bedrock_server", scope="module")
def fixture_bedrock_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(ttft=0.01, token_delay=0.002, output_tokens=5, seed=1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="client", scope="module")
def fixture_client(bedrock_server: FakeServerProcess) -> Iterator[Any]:
    client = make_bedrock_client(bedrock_server.url)
    yield client
    client.close()


def open_stream(client: Any, operation: str, **headers: Any) -> tuple[dict[str, Any], Any]:
    """(response, its EventStream) of one streaming call."""
    with fake_headers(client, **headers):
        if operation == "converse_stream":
            response = client.converse_stream(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 50})
            return response, response["stream"]
        response = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(ANTHROPIC_BODY))
        return response, response["body"]


def native(event: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(event["chunk"]["bytes"])
    return decoded


def only_span_pending(exporter: InMemorySpanExporter) -> bool:
    """True while the stream's span is still open (nothing finished yet)."""
    return exporter.get_finished_spans() == ()


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


# --- what each stream records -------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
def test_converse_stream_records_first_chunk_gaps_and_usage(
    client: Any,
    bedrock_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    response, stream = open_stream(client, "converse_stream", cached_tokens=2)
    assert only_span_pending(span_exporter)
    events = list(stream)
    # The caller gets botocore's events unchanged.
    assert list(events[0]) == ["messageStart"] and list(events[-1]) == ["metadata"]
    deltas = [event for event in events if "contentBlockDelta" in event]
    assert len(deltas) == 5
    usage = events[-1]["metadata"]["usage"]
    assert usage["cacheReadInputTokens"] == 2

    attrs = assert_ended_once(span_exporter, metric_reader, None)
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["gen_ai.usage.input_tokens"] == usage["inputTokens"] + 2
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 2
    assert attrs["gen_ai.usage.output_tokens"] == usage["outputTokens"] == 5
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert "gen_ai.response.id" not in attrs and "gen_ai.response.model" not in attrs
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": bedrock_server.port,
    }
    (ttfc,) = points(metric_reader, TTFC)
    assert ttfc.count == 1 and ttfc.sum == pytest.approx(attrs["gen_ai.response.time_to_first_chunk"])
    assert dict(ttfc.attributes) == expected
    assert total_count(metric_reader, PER_CHUNK) == 4  # every contentBlockDelta after the first
    assert total_count(metric_reader, PER_TOKEN) == 1
    assert dict(points(metric_reader, DURATION)[0].attributes) == expected
    tokens = {point.attributes["gen_ai.token.type"]: point.sum for point in points(metric_reader, TOKENS)}
    assert tokens == {"input": usage["inputTokens"] + 2, "output": 5}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.usefixtures("instrumented")
def test_invoke_stream_reads_the_native_events(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    _, stream = open_stream(client, "invoke_model_with_response_stream")
    natives = [native(event) for event in stream]  # the chunk bytes reach the caller intact
    start, last = natives[0], natives[-1]
    assert start["type"] == "message_start" and last["type"] == "message_stop"
    metrics = last["amazon-bedrock-invocationMetrics"]

    attrs = assert_ended_once(span_exporter, metric_reader, None)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.max_tokens"] == 50 and attrs["gen_ai.request.top_k"] == 40
    assert attrs["gen_ai.response.id"] == start["message"]["id"]
    assert attrs["gen_ai.response.model"] == start["message"]["model"] == "claude-3-haiku-20240307"
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["gen_ai.usage.input_tokens"] == metrics["inputTokenCount"]
    assert attrs["gen_ai.usage.output_tokens"] == metrics["outputTokenCount"] == 5
    (ttfc,) = points(metric_reader, TTFC)
    assert ttfc.attributes["gen_ai.response.model"] == "claude-3-haiku-20240307"
    assert total_count(metric_reader, PER_CHUNK) == 4  # content_block_delta events after the first


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("operation", ["converse_stream", "invoke_model_with_response_stream"])
def test_stream_span_has_the_aws_request_id_and_feedback_finds_the_call(
    client: Any, operation: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    response, stream = open_stream(client, operation)
    list(stream)
    request_id = response["ResponseMetadata"]["RequestId"]
    attrs = assert_ended_once(span_exporter, metric_reader, None)
    assert attrs["aws.request_id"] == request_id
    assert attrs.get("gen_ai.response.id") != request_id  # the completion's id (Anthropic's), if any
    for found in (
        otel_llmperf.record_feedback("thumbs", True, response=response),
        otel_llmperf.record_feedback("thumbs", True, response_id=request_id),
    ):
        assert (found.matched, found.model, found.provider) == (True, MODEL, "aws.bedrock")


@pytest.mark.usefixtures("instrumented")
def test_invoke_stream_of_a_text_model(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    body = {"prompt": "Say hello", "max_gen_len": 20}
    natives = [
        native(event)
        for event in client.invoke_model_with_response_stream(modelId=LLAMA, body=json.dumps(body))["body"]
    ]
    attrs = assert_ended_once(span_exporter, metric_reader, None)
    assert only_span(span_exporter).name == f"text_completion {LLAMA}"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.output_tokens"] == natives[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"]
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, PER_CHUNK) == len(natives) - 1


@pytest.mark.parametrize("operation", STREAMS)
def test_streams_capture_the_output_when_asked(
    client: Any, instrument: Any, span_exporter: InMemorySpanExporter, operation: str
) -> None:
    instrument(capture_content=True)
    _, stream = open_stream(client, operation)
    for _event in stream:
        pass
    attrs = dict(only_span(span_exporter).attributes or {})
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "tok1 tok2 tok3 tok4 tok5 "}],
            "finish_reason": "stop",
        }
    ]
    assert json.loads(attrs["gen_ai.input.messages"])[0]["role"] == "user"


# --- lifecycle ----------------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("operation", STREAMS)
def test_stream_full_consumption_then_close(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader, operation: str
) -> None:
    _, stream = open_stream(client, operation)
    assert len(list(stream)) > 5
    stream.close()  # closing a finished stream must not end it twice
    assert_ended_once(span_exporter, metric_reader, None)


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("operation", STREAMS)
def test_stream_break_then_close_is_cancelled(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader, operation: str
) -> None:
    _, stream = open_stream(client, operation)
    for position, _event in enumerate(stream):
        if position == 2:  # past the first output chunk
            break
    assert only_span_pending(span_exporter)
    stream.close()
    attrs = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert total_count(metric_reader, TTFC) == 1


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("operation", STREAMS)
def test_stream_exception_event_raises_event_stream_error(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader, operation: str
) -> None:
    _, stream = open_stream(client, operation, error="stream-error", error_after=4)
    seen: list[Any] = []
    with pytest.raises(botocore.exceptions.EventStreamError) as raised:
        for event in stream:
            seen.append(event)
    assert len(seen) == 4
    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    attrs = assert_ended_once(span_exporter, metric_reader, "ModelStreamErrorException")
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("operation", STREAMS)
def test_stream_disconnect_raises_the_sdk_error_unchanged(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader, operation: str
) -> None:
    _, stream = open_stream(client, operation, error="disconnect", error_after=3)
    with pytest.raises(urllib3.exceptions.ProtocolError):  # botocore lets urllib3's error through
        for _event in stream:
            pass
    assert_ended_once(span_exporter, metric_reader, "ProtocolError")


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("operation", STREAMS)
def test_stream_abandoned_and_collected(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader, operation: str
) -> None:
    response, stream = open_stream(client, operation)
    next(iter(stream))
    del response, stream
    gc.collect()
    assert_ended_once(span_exporter, metric_reader, "abandoned")


@pytest.mark.usefixtures("instrumented")
def test_http_error_before_the_stream(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        open_stream(client, "converse_stream", error="429")
    assert type(raised.value) is client.exceptions.ThrottlingException
    assert_ended_once(span_exporter, metric_reader, "ThrottlingException")


# --- folders and framing, one level below the SDK -----------------------------------------


def test_converse_folder_counts_deltas_and_captures_blocks() -> None:
    folder = ConverseStreamFolder(capture=True)
    events = [
        ({"messageStart": {"role": "assistant"}}, ChunkKind.OTHER),
        ({"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think"}}}}, 1),
        ({"contentBlockDelta": {"contentBlockIndex": 1, "delta": {"text": "Hi"}}}, ChunkKind.OUTPUT),
        ({"contentBlockStart": {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}}, 0),
        ({"contentBlockDelta": {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a":'}}}}, 1),
        ({"contentBlockDelta": {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "1}"}}}}, 1),
        ({"messageStop": {"stopReason": "tool_use"}}, ChunkKind.OTHER),
        ({"metadata": {"usage": {"inputTokens": 4, "outputTokens": 6, "cacheWriteInputTokens": 8}}}, 0),
    ]
    for event, kind in events:
        assert folder.fold(event) == kind
    info = folder.result()
    assert info.finish_reasons == ("tool_use",)
    assert info.usage == Usage(12, 6, None, 8, None)
    assert info.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "think"},
                {"type": "text", "content": "Hi"},
                {"type": "tool_call", "id": "t", "name": "f", "arguments": '{"a":1}'},
            ],
            "finish_reason": "tool_call",
        }
    ]
    assert ConverseStreamFolder(capture=False).result().output_messages is None


def chunk(payload: Any) -> dict[str, Any]:
    return {"chunk": {"bytes": json.dumps(payload).encode()}}


def test_invoke_folder_reads_each_model_family() -> None:
    nova = InvokeStreamFolder(capture=True)
    assert nova.fold(chunk({"messageStart": {"role": "assistant"}})) == ChunkKind.OTHER
    assert nova.fold(chunk({"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}})) == 1
    assert nova.fold(chunk({"messageStop": {"stopReason": "end_turn"}})) == ChunkKind.OTHER
    metrics = {"inputTokenCount": 3, "outputTokenCount": 1}
    assert nova.fold(chunk({"metadata": {}, "amazon-bedrock-invocationMetrics": metrics})) == ChunkKind.OTHER
    info = nova.result()
    assert (info.finish_reasons, info.usage) == (("end_turn",), Usage(3, 1, None, None, None))
    assert info.output_messages is not None and info.output_messages[0]["parts"] == [{"type": "text", "content": "Hi"}]

    titan = InvokeStreamFolder(capture=False)
    assert titan.fold(chunk({"outputText": "Hello", "index": 0, "completionReason": None})) == ChunkKind.OUTPUT
    assert titan.fold(chunk({"outputText": "", "completionReason": "FINISH"})) == ChunkKind.OTHER
    assert titan.result().finish_reasons == ("FINISH",)

    mistral = InvokeStreamFolder(capture=False)
    assert mistral.fold(chunk({"outputs": [{"text": "Hi", "stop_reason": None}]})) == ChunkKind.OUTPUT
    assert mistral.fold(chunk({"outputs": [{"text": "", "stop_reason": "length"}]})) == ChunkKind.OTHER
    assert mistral.result().finish_reasons == ("length",)

    openai_style = InvokeStreamFolder(capture=False)
    event = {"id": "c1", "model": "gpt-oss", "choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]}
    assert openai_style.fold(chunk(event)) == ChunkKind.OUTPUT
    assert (openai_style.response_id, openai_style.response_model) == ("c1", "gpt-oss")

    broken = InvokeStreamFolder(capture=False)
    assert broken.fold({"chunk": {"bytes": b"{not json"}}) == ChunkKind.OTHER
    assert broken.fold({"chunk": {"bytes": b"[1, 2]"}}) == ChunkKind.OTHER
    assert broken.fold({"internalServerException": {}}) == ChunkKind.OTHER
    assert broken.result().usage is None


def test_anthropic_tool_and_thinking_deltas() -> None:
    folder = InvokeStreamFolder(capture=True)
    start = {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f"}}
    assert folder.fold(chunk(start)) == ChunkKind.OTHER
    thinking = {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}
    assert folder.fold(chunk(thinking)) == ChunkKind.OUTPUT
    tool = {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}}
    assert folder.fold(chunk(tool)) == ChunkKind.OUTPUT
    assert folder.fold(chunk({"type": "message_delta", "delta": {"stop_reason": "tool_use"}})) == ChunkKind.OTHER
    info = folder.result()
    assert info.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "hm"},
                {"type": "tool_call", "id": "t", "name": "f", "arguments": "{}"},
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_wire_framing_parses_with_botocore() -> None:
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(wire_bedrock.event("contentBlockDelta", {"delta": {"text": "é"}, "contentBlockIndex": 0}))
    buffer.add_data(wire_bedrock.chunk_event({"type": "message_stop"}))
    buffer.add_data(wire_bedrock.exception("throttlingException", "slow down"))
    delta, chunk_message, error = list(buffer)  # each prelude and message CRC checked by botocore
    assert delta.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(delta.payload) == {"delta": {"text": "é"}, "contentBlockIndex": 0}
    assert json.loads(base64.b64decode(json.loads(chunk_message.payload)["bytes"])) == {"type": "message_stop"}
    assert error.headers[":message-type"] == "exception" and error.headers[":exception-type"] == "throttlingException"
    assert error.to_response_dict()["status_code"] == 400
