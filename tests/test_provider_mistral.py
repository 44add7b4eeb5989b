# SPDX-License-Identifier: Apache-2.0
"""Mistral AI (``mistralai``): chat.complete, chat.parse and embeddings.create through the real SDK.

The real SDK, sync (``complete``, ``create``) and async (``complete_async``, ``create_async``),
talks to the fake server's Mistral wire format (``/mistral/v1/...``). Streams are in
``test_provider_mistral_streams.py``; the pure extractors are tested on the SDK's own models at
the end of this file.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pydantic
import pytest
from mistralai.client import Mistral, errors, models
from mistralai.client.utils.eventstreaming import EventStream, EventStreamAsync
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import only_span, points, resolve, total_count
from otel_llmperf.providers.base import ChunkKind, ResultKind
from otel_llmperf.providers.mistral import (
    ADAPTER,
    CHAT_API,
    CHAT_STREAM_API,
    EMBEDDINGS_API,
    ChatFolder,
    chat_input_messages,
    chat_request_attributes,
    chat_response_info,
    embeddings_request_attributes,
    server_of,
    usage_of,
)

MODEL = "mistral-small-latest"
MESSAGES = [{"role": "user", "content": "Say hello to the whole wide world"}]
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


async def complete(mistral: Mistral, mode: str, **kwargs: Any) -> Any:
    """``chat.complete`` or ``chat.complete_async``; ``MODEL`` and ``MESSAGES`` unless given."""
    kwargs = {"model": MODEL, "messages": MESSAGES, **kwargs}
    method = mistral.chat.complete_async if mode == "async" else mistral.chat.complete
    return await resolve(method(**kwargs))


def fake(**headers: str) -> dict[str, str]:
    """Fake-server override headers (``x-fake-*``) for ``http_headers=``."""
    return {f"x-fake-{key.replace('_', '-')}": value for key, value in headers.items()}


def token_sums(reader: InMemoryMetricReader) -> dict[str, float]:
    return {point.attributes["gen_ai.token.type"]: point.sum for point in points(reader, TOKENS)}


# --- chat.complete ----------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_mistral_complete_records_span_and_metrics(
    mistral: Mistral,
    mode: str,
    mistral_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    response = await complete(
        mistral,
        mode,
        temperature=0.3,
        top_p=0.9,
        top_k=20,
        max_tokens=50,
        random_seed=7,
        stop=["END"],
        presence_penalty=0.5,
        frequency_penalty=0.25,
        response_format={"type": "text"},
    )
    assert response.choices[0].message.content == "tok1 tok2 tok3 tok4 tok5 "

    span = only_span(span_exporter)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "mistral_ai"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == mistral_server.port
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert attrs["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert attrs["gen_ai.request.top_k"] == 20 and isinstance(attrs["gen_ai.request.top_k"], int)
    assert attrs["gen_ai.request.max_tokens"] == 50 and isinstance(attrs["gen_ai.request.max_tokens"], int)
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.request.presence_penalty"] == pytest.approx(0.5)
    assert attrs["gen_ai.request.frequency_penalty"] == pytest.approx(0.25)
    assert attrs["gen_ai.output.type"] == "text"
    assert attrs["gen_ai.response.id"] == response.id and response.id.startswith("cmpl-")
    assert attrs["gen_ai.response.model"] == response.model == MODEL
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens == 10
    assert attrs["gen_ai.usage.output_tokens"] == response.usage.completion_tokens == 5
    assert "gen_ai.usage.cache_read.input_tokens" not in attrs
    assert "gen_ai.usage.reasoning.output_tokens" not in attrs
    assert "gen_ai.response.time_to_first_chunk" not in attrs
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs

    (duration,) = points(metric_reader, DURATION)
    assert duration.count == 1 and duration.sum > 0
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": mistral_server.port,
    }
    assert token_sums(metric_reader) == {"input": 10, "output": 5}
    assert points(metric_reader, TTFC) == [] and points(metric_reader, PER_CHUNK) == []
    assert points(metric_reader, PER_TOKEN) == []
    for name in (DURATION, TOKENS):
        for point in points(metric_reader, name):
            assert set(point.attributes) <= METRIC_ATTRIBUTES, (name, dict(point.attributes))


@pytest.mark.usefixtures("instrumented")
async def test_mistral_cached_tokens_are_part_of_the_input(
    mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    response = await complete(mistral, mode, http_headers=fake(cached_tokens="3", reasoning_tokens="4"))
    # prompt_tokens_details is not in the SDK's UsageInfo model: it arrives as an extra field.
    assert response.usage.prompt_tokens_details == {"cached_tokens": 3}
    attrs = dict(only_span(span_exporter).attributes or {})
    # Mistral's prompt_tokens already include the cached ones (as OpenAI's do).
    assert attrs["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens == 10
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    # Reasoning tokens are folded into completion_tokens; Mistral does not report them apart.
    assert attrs["gen_ai.usage.output_tokens"] == 5 + 4
    assert "gen_ai.usage.reasoning.output_tokens" not in attrs
    assert token_sums(metric_reader) == {"input": 10, "output": 9}


@pytest.mark.usefixtures("instrumented")
async def test_mistral_choices_length_and_json_output(
    mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter
) -> None:
    response = await complete(mistral, mode, n=2, max_tokens=3, response_format={"type": "json_object"})
    assert len(response.choices) == 2
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.request.max_tokens"] == 3
    assert attrs["gen_ai.output.type"] == "json"
    assert attrs["gen_ai.response.finish_reasons"] == ("length", "length")


async def test_mistral_content_capture_with_tool_calls(
    instrument: Any, mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Look it up"}]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call1", "function": {"name": "lookup", "arguments": '{"q": 1}'}}],
        },
        {"role": "tool", "tool_call_id": "call1", "name": "lookup", "content": "42"},
    ]
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    response = await complete(mistral, mode, messages=messages, tools=tools, tool_choice="any")
    call = response.choices[0].message.tool_calls[0]

    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Look it up"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call1", "name": "lookup", "arguments": '{"q": 1}'}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call1", "response": "42"}]},
    ]
    tool_part = {"type": "tool_call", "id": call.id, "name": "lookup", "arguments": call.function.arguments}
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {"role": "assistant", "parts": [tool_part], "finish_reason": "tool_calls"}
    ]


@pytest.mark.usefixtures("instrumented")
async def test_mistral_parse_is_recorded_once_through_complete(
    mistral: Mistral, mode: str, span_exporter: InMemorySpanExporter
) -> None:
    class Answer(pydantic.BaseModel):
        text: str

    method = mistral.chat.parse_async if mode == "async" else mistral.chat.parse
    parsed = await resolve(method(response_format=Answer, model=MODEL, messages=MESSAGES))
    assert isinstance(parsed.choices[0].message.parsed, Answer)
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.output.type"] == "json"  # parse() asks complete() for a json_schema
    assert attrs["gen_ai.response.id"] == parsed.id


@pytest.mark.parametrize("status", [429, 500])
@pytest.mark.usefixtures("instrumented")
async def test_mistral_http_error_is_the_sdk_error(
    mistral: Mistral,
    mode: str,
    status: int,
    mistral_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    mistral_server.reset()
    with pytest.raises(errors.SDKError) as raised:
        await complete(mistral, mode, http_headers=fake(error=str(status)))
    assert type(raised.value) is errors.SDKError and raised.value.status_code == status
    assert mistral_server.stats()["total_requests"] == 1  # no retries
    span = only_span(span_exporter)
    assert span.attributes["error.type"] == "SDKError"
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
    assert total_count(metric_reader, DURATION, {"error.type": "SDKError"}) == 1
    assert points(metric_reader, TOKENS) == []


@pytest.mark.usefixtures("instrumented")
async def test_mistral_server_url_override_is_the_server(
    mistral_server: FakeServerProcess, mode: str, span_exporter: InMemorySpanExporter
) -> None:
    client = Mistral(api_key="test-key", retry_config=None)  # default server, overridden per call
    try:
        await complete(client, mode, server_url=f"http://localhost:{mistral_server.port}/mistral")
    finally:
        client.__exit__(None, None, None)
        await client.__aexit__(None, None, None)
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["server.address"] == "localhost" and attrs["server.port"] == mistral_server.port


# --- embeddings -------------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_mistral_embeddings(
    mistral: Mistral,
    mode: str,
    mistral_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    method = mistral.embeddings.create_async if mode == "async" else mistral.embeddings.create
    response = await resolve(
        method(model="mistral-embed", inputs=["one two", "three"], output_dimension=4, output_dtype="float")
    )
    assert len(response.data) == 2 and len(response.data[0].embedding) == 4

    span = only_span(span_exporter)
    assert span.name == "embeddings mistral-embed"
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "embeddings" and attrs["gen_ai.provider.name"] == "mistral_ai"
    assert attrs["gen_ai.request.encoding_formats"] == ("float",)
    assert attrs["gen_ai.embeddings.dimension.count"] == 4
    assert attrs["gen_ai.response.id"] == response.id
    assert attrs["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens == 3
    assert "gen_ai.usage.output_tokens" not in attrs and "gen_ai.response.finish_reasons" not in attrs
    assert token_sums(metric_reader) == {"input": 3}
    (duration,) = points(metric_reader, DURATION)
    assert duration.attributes["gen_ai.operation.name"] == "embeddings"
    assert duration.attributes["server.port"] == mistral_server.port


# --- pure extractors on the SDK's own models --------------------------------------------


def test_chat_request_attributes_reads_mistral_names() -> None:
    attrs = chat_request_attributes({"random_seed": 0, "stop": "END", "n": 1, "max_tokens": 0, "top_k": True})
    assert attrs == {"gen_ai.request.seed": 0, "gen_ai.request.stop_sequences": ("END",)}
    schema = models.ResponseFormat(type="json_schema", json_schema={"name": "a", "schema_definition": {}})
    assert chat_request_attributes({"response_format": schema}) == {"gen_ai.output.type": "json"}
    assert embeddings_request_attributes({"encoding_format": "base64", "output_dtype": "int8"}) == {
        "gen_ai.request.encoding_formats": ("int8", "base64")
    }


def test_chat_input_messages_from_sdk_models() -> None:
    messages = [
        models.SystemMessage(content="sys"),
        models.UserMessage(content=[models.TextChunk(text="hi"), models.ImageURLChunk(image_url="https://x/y.png")]),
        models.AssistantMessage(content=[models.ThinkChunk(thinking=[models.TextChunk(text="hmm")])]),
    ]
    assert chat_input_messages({"messages": messages}) == [
        {"role": "system", "parts": [{"type": "text", "content": "sys"}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "hi"},
                {"type": "uri", "modality": "image", "uri": "https://x/y.png"},
            ],
        },
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "hmm"}]},
    ]
    assert chat_input_messages({}) is None


def test_chat_response_info_on_sdk_response() -> None:
    response = models.ChatCompletionResponse.model_validate(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": "magistral-medium",
            "created": 1,
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
            "choices": [
                {"index": 0, "finish_reason": "error", "message": {"role": "assistant", "content": "partial"}},
                {"index": 1, "finish_reason": "model_length", "message": {"role": "assistant", "content": "x"}},
            ],
        }
    )
    info = chat_response_info(response, True)
    assert (info.response_id, info.response_model) == ("cmpl-1", "magistral-medium")
    assert info.finish_reasons == ("error", "model_length")
    assert info.error_type == "error"  # a failed generation inside a 200 answer
    assert (info.usage.input_tokens, info.usage.output_tokens) == (12, 7)  # type: ignore[union-attr]
    assert info.usage.cache_read_input_tokens is None  # type: ignore[union-attr]
    assert info.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "partial"}], "finish_reason": "error"},
        {"role": "assistant", "parts": [{"type": "text", "content": "x"}], "finish_reason": "model_length"},
    ]
    assert chat_response_info(response, False).output_messages is None


def test_usage_of_reads_cached_tokens_from_the_extra_field() -> None:
    usage = models.UsageInfo.model_validate(
        {"prompt_tokens": 100, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 64}}
    )
    found = usage_of(usage)
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.cache_read_input_tokens) == (100, 3, 64)
    assert usage_of(None) is None


def _event(choices: list[dict[str, Any]], **extra: Any) -> models.CompletionEvent:
    choices = [{"finish_reason": None, **choice} for choice in choices]
    chunk = {"id": "cmpl-9", "model": "mistral-large", "object": "chat.completion.chunk", "choices": choices, **extra}
    return models.CompletionEvent.model_validate({"data": chunk})


def test_chat_folder_on_completion_events() -> None:
    folder = ChatFolder(capture=True)
    think = [{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}]
    assert folder.fold(_event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])) is ChunkKind.OUTPUT
    assert folder.fold(_event([{"index": 0, "delta": {"content": think}}])) is ChunkKind.OUTPUT
    assert folder.fold(_event([{"index": 0, "delta": {"content": [{"type": "text", "text": "Hel"}]}}])) is (
        ChunkKind.OUTPUT
    )
    call = {"id": "c1", "function": {"name": "f", "arguments": "{}"}, "index": 0}
    last = _event(
        [{"index": 0, "delta": {"content": "lo", "tool_calls": [call]}, "finish_reason": "tool_calls"}],
        usage={"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
    )
    assert folder.fold(last) is ChunkKind.OUTPUT
    assert folder.fold(_event([])) is ChunkKind.OTHER
    assert (folder.response_id, folder.response_model) == ("cmpl-9", "mistral-large")
    info = folder.result()
    assert info.finish_reasons == ("tool_calls",) and info.error_type is None
    assert (info.usage.input_tokens, info.usage.output_tokens) == (4, 2)  # type: ignore[union-attr]
    tool = {"type": "tool_call", "id": "c1", "name": "f", "arguments": "{}"}
    assert info.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "hmm"}, {"type": "text", "content": "Hello"}, tool],
            "finish_reason": "tool_calls",
        }
    ]
    assert ChatFolder(capture=False).result().output_messages is None


def test_adapter_request_info_result_kind_and_patch_table() -> None:
    client = Mistral(api_key="test-key")  # no request is sent
    try:
        info = ADAPTER.request_info(CHAT_STREAM_API, client.chat, {"model": MODEL})
        assert (info.operation, info.provider, info.request_model, info.stream) == ("chat", "mistral_ai", MODEL, True)
        assert (info.server_address, info.server_port) == ("api.mistral.ai", 443)
        assert ADAPTER.request_info(CHAT_API, client.chat, {"model": MODEL}).stream is False
        assert ADAPTER.request_info(EMBEDDINGS_API, client.embeddings, {}).operation == "embeddings"
    finally:
        client.__exit__(None, None, None)
    response = httpx.Response(200, content=b"")
    assert ADAPTER.result_kind(EventStream(response, lambda raw: raw)) is ResultKind.STREAM
    assert ADAPTER.result_kind(EventStreamAsync(response, lambda raw: raw)) is ResultKind.ASYNC_STREAM
    assert ADAPTER.result_kind(models.EmbeddingResponse(id="e", object="list", model="m", data=[], usage={})) is (
        ResultKind.PARSED
    )
    assert ADAPTER.with_stream_usage({"model": MODEL}) is None and ADAPTER.nested_stream(object()) is None
    assert server_of("http://[::1]:8080/x") == ("::1", 8080) and server_of("not a url") == (None, None)
    names = {(target.module, target.attribute, target.is_async) for target in ADAPTER.patch_targets()}
    assert ("mistralai.client.chat", "Chat.stream_async", True) in names
    assert ("mistralai.client.embeddings", "Embeddings.create", False) in names
