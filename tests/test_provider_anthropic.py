# SPDX-License-Identifier: Apache-2.0
"""Anthropic (``anthropic`` SDK): non-streaming Messages calls through the real SDK, and the pure extractors.

The real SDK, sync (``Anthropic``) and async (``AsyncAnthropic``), talks to the fake server's
Anthropic wire format (``/anthropic/v1/messages``). Streams and the ``messages.stream`` helper
are in ``test_provider_anthropic_streams.py``; the pure extractors of requests and messages are tested at the end.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import genai_prices
import pydantic
import pytest
from anthropic.types import Message
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import only_span, points, resolve, total_count
from otel_llmperf.attributes import LLMPERF_USAGE_COST
from otel_llmperf.providers.anthropic import (
    ADAPTER,
    MESSAGES_API,
    message_response_info,
    messages_input_messages,
    messages_request_attributes,
    request_user_id,
    system_instructions,
)
from otel_llmperf.providers.base import ResultKind, Usage

MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Say hello to the world"}]
SYSTEM = "Be brief."
INPUT_TOKENS = 10  # 3 per message + 5 words + 2 words of system (the fake server's estimate)
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
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
    return {"model": MODEL, "max_tokens": 50, "messages": MESSAGES, "system": SYSTEM, **overrides}


def without_cost(attributes: Any) -> dict[str, Any]:
    # The cost appears once the shipped price table knows the model; it is tested in test_pricing.
    return {key: value for key, value in dict(attributes or {}).items() if key != LLMPERF_USAGE_COST}


def assert_metric_attributes_bounded(reader: InMemoryMetricReader) -> None:
    for name in (DURATION, TOKENS):
        for point in points(reader, name):
            assert set(point.attributes) <= METRIC_ATTRIBUTES, (name, dict(point.attributes))


# --- messages.create ----------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_create_records_span_and_metrics(
    client: Any,
    anthropic_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    message = await resolve(
        client.messages.create(
            **request(stop_sequences=["never"], metadata={"user_id": "user-1"}),
            # anthropic 2.x takes the sampling parameters through extra_body only.
            extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 40},
        )
    )
    assert isinstance(message, Message)  # the caller gets the SDK's own object
    span = only_span(span_exporter)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert without_cost(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.stream": False,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.stop_sequences": ("never",),
        "server.address": "127.0.0.1",
        "server.port": anthropic_server.port,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.id": message.id,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": INPUT_TOKENS,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_creation.input_tokens": 0,
    }  # no content, no user id: capture is off and no user_id_key is set
    assert isinstance(span.attributes["gen_ai.request.top_k"], int)
    assert isinstance(span.attributes["gen_ai.request.temperature"], float)
    (duration,) = points(metric_reader, DURATION)
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": anthropic_server.port,
    }
    assert duration.count == 1 and duration.sum > 0
    usage = {point.attributes["gen_ai.token.type"]: point.sum for point in points(metric_reader, TOKENS)}
    assert usage == {"input": INPUT_TOKENS, "output": 5}
    assert points(metric_reader, TTFC) == []  # time to first chunk is for streams only
    assert_metric_attributes_bounded(metric_reader)


@pytest.mark.usefixtures("instrumented")
async def test_create_usage_counts_cache_in_input_and_thinking_as_reasoning(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    # A cache_control mark makes the fake server write half the uncached prompt to the cache.
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    message = await resolve(
        client.messages.create(
            **request(system=system, thinking={"type": "adaptive"}),
            extra_headers=fake(cached_tokens="4", reasoning_tokens="2"),
        )
    )
    assert message.usage.input_tokens == 3  # Anthropic's own count leaves the cache out
    assert message.usage.cache_read_input_tokens == 4
    assert message.usage.cache_creation_input_tokens == 3
    attrs = only_span(span_exporter).attributes or {}
    assert attrs["gen_ai.usage.input_tokens"] == INPUT_TOKENS  # semconv: cache reads and writes included
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 3
    assert attrs["gen_ai.usage.output_tokens"] == 7  # 5 visible + 2 thinking
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 2
    usage = {point.attributes["gen_ai.token.type"]: point.sum for point in points(metric_reader, TOKENS)}
    assert usage == {"input": INPUT_TOKENS, "output": 7}


def anthropic_price(input_tokens: int, output_tokens: int, read: int, written: int, written_1h: int) -> float:
    usage = genai_prices.Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=read,
        cache_write_tokens=written,
        cache_write_1h_tokens=written_1h,
    )
    return float(genai_prices.calc_price(usage, MODEL, provider_id="anthropic").total_price)


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_cache_writes_kept_for_an_hour_are_priced_as_such(
    client: Any, stream: bool, span_exporter: InMemorySpanExporter
) -> None:
    costs = []
    for ttl in ("5m", "1h"):
        system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral", "ttl": ttl}}]
        answer = await resolve(client.messages.create(**request(system=system, stream=stream)))
        if stream:
            async for _ in _aiter(answer):
                pass
        span = span_exporter.get_finished_spans()[-1]
        costs.append(span.attributes[LLMPERF_USAGE_COST])
        # The fake server writes half the prompt to the cache, with the lifetime asked for.
        assert span.attributes["gen_ai.usage.cache_creation.input_tokens"] == INPUT_TOKENS // 2
    assert costs[0] == pytest.approx(anthropic_price(INPUT_TOKENS, 5, 0, INPUT_TOKENS // 2, 0))
    assert costs[1] == pytest.approx(anthropic_price(INPUT_TOKENS, 5, 0, INPUT_TOKENS // 2, INPUT_TOKENS // 2))
    assert costs[1] > costs[0]  # an hour's write costs 2x the input price, five minutes' 1.25x


async def _aiter(stream: Any) -> Any:
    if hasattr(stream, "__aiter__"):
        async for event in stream:
            yield event
    else:
        for event in stream:
            yield event


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"max_tokens": 3}, "max_tokens"),
        ({"stop_sequences": ["tok3"]}, "stop_sequence"),
        (
            {
                "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
                "tool_choice": {"type": "any"},
            },
            "tool_use",
        ),
    ],
    ids=["max_tokens", "stop_sequence", "tool_use"],
)
async def test_create_finish_reason_is_the_stop_reason(
    client: Any, overrides: dict[str, Any], reason: str, span_exporter: InMemorySpanExporter
) -> None:
    message = await resolve(client.messages.create(**request(**overrides)))
    assert message.stop_reason == reason
    assert (only_span(span_exporter).attributes or {})["gen_ai.response.finish_reasons"] == (reason,)


async def test_create_captures_content_and_hashed_user(
    client: Any, instrument: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True, user_id_key="pepper")
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is on this picture?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            ],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"x": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a cat"}]},
    ]
    await resolve(client.messages.create(**request(messages=messages, metadata={"user_id": "user-1"})))
    attrs = only_span(span_exporter).attributes or {}
    assert json.loads(str(attrs["gen_ai.system_instructions"])) == [{"type": "text", "content": SYSTEM}]
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is on this picture?"},
                {"type": "uri", "modality": "image", "uri": "data:(inline content elided)", "mime_type": "image/png"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
            ],
        },
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "toolu_1", "name": "look", "arguments": {"x": 1}}]},
        {"role": "user", "parts": [{"type": "tool_call_response", "id": "toolu_1", "response": "a cat"}]},
    ]
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "tok1 tok2 tok3 tok4 tok5 "}],
            "finish_reason": "end_turn",
        }
    ]
    user_hash = attrs["user.hash"]
    assert isinstance(user_hash, str) and len(user_hash) == 64 and "user-1" not in str(attrs.values())


@pytest.mark.usefixtures("instrumented")
async def test_parse_and_beta_messages_are_recorded(client: Any, span_exporter: InMemorySpanExporter) -> None:
    class Answer(pydantic.BaseModel):
        answer: str

    parsed = await resolve(client.messages.parse(**request(), output_format=Answer))
    assert isinstance(parsed.parsed_output, Answer)
    await resolve(client.beta.messages.create(**request()))
    parse_span, beta_span = span_exporter.get_finished_spans()
    assert (parse_span.attributes or {})["gen_ai.output.type"] == "json"
    assert (parse_span.attributes or {})["gen_ai.usage.output_tokens"] == 5
    assert (beta_span.attributes or {})["gen_ai.response.finish_reasons"] == ("end_turn",)


# --- raw responses --------------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_with_raw_response_keeps_headers_and_ends_at_once(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    raw = await resolve(client.messages.with_raw_response.create(**request()))
    assert raw.headers["request-id"].startswith("req_")  # the caller's headers, untouched
    span = only_span(span_exporter)  # the body was read: the call is over before parse()
    message = await resolve(raw.parse())
    assert isinstance(message, Message)
    assert (span.attributes or {})["gen_ai.response.id"] == message.id
    assert (span.attributes or {})["gen_ai.usage.output_tokens"] == 5
    assert total_count(metric_reader, DURATION) == 1


@pytest.mark.usefixtures("instrumented")
async def test_with_streaming_response_ends_at_parse(
    client: Any, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    manager = client.messages.with_streaming_response.create(**request())
    if mode == "async":
        async with manager as response:
            assert response.headers["request-id"].startswith("req_")
            assert span_exporter.get_finished_spans() == ()  # the body is still on the wire
            message = await response.parse()
    else:
        with manager as response:
            assert response.headers["request-id"].startswith("req_")
            assert span_exporter.get_finished_spans() == ()
            message = response.parse()
    assert (only_span(span_exporter).attributes or {})["gen_ai.response.id"] == message.id
    assert total_count(metric_reader, DURATION) == 1


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize(
    ("status", "error"), [("429", anthropic.RateLimitError), ("500", anthropic.InternalServerError)]
)
async def test_http_errors_raise_the_sdk_exception(
    client: Any,
    status: str,
    error: type[Exception],
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with pytest.raises(error) as raised:
        await resolve(client.messages.create(**request(), extra_headers=fake(error=status)))
    assert type(raised.value) is error  # unchanged, the SDK's own class
    body = raised.value.body  # type: ignore[attr-defined]
    assert body["type"] == "error" and body["error"]["type"] in ("rate_limit_error", "api_error")
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == error.__name__
    assert total_count(metric_reader, DURATION, {"error.type": error.__name__}) == 1
    assert points(metric_reader, TOKENS) == []


# --- the adapter on SDK objects -------------------------------------------------------------


def test_request_info_names_the_platform_of_the_client() -> None:
    kwargs = {"model": MODEL, "stream": True}
    direct = ADAPTER.request_info(MESSAGES_API, anthropic.Anthropic(api_key="k").messages, kwargs)
    assert (direct.provider, direct.server_address, direct.server_port, direct.stream) == (
        "anthropic",
        "api.anthropic.com",
        443,
        True,
    )
    vertex = anthropic.AnthropicVertex(region="us-east5", project_id="p", access_token="t")
    assert ADAPTER.request_info(MESSAGES_API, vertex.messages, kwargs).provider == "gcp.vertex_ai"
    bedrock = anthropic.AsyncAnthropicBedrock(aws_region="us-east-1", aws_access_key="a", aws_secret_key="b")
    assert ADAPTER.request_info(MESSAGES_API, bedrock.messages, kwargs).provider == "aws.bedrock"


def test_request_attributes_ignore_sdk_sentinels_and_iterators() -> None:
    kwargs = {
        "max_tokens": 64,
        "temperature": anthropic.omit,
        "stop_sequences": iter(["x"]),  # a caller's iterator must reach the SDK unconsumed
        "extra_body": {"temperature": 1, "top_k": True},
        "output_config": {"format": {"type": "json_schema", "schema": {}}},
    }
    assert messages_request_attributes(kwargs) == {
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 1,
        "gen_ai.output.type": "json",
    }
    assert next(kwargs["stop_sequences"]) == "x"
    assert request_user_id({"metadata": {"user_id": "u"}}) == "u"
    assert request_user_id({"metadata": anthropic.omit}) is None
    assert system_instructions({"system": anthropic.omit}) is None
    assert messages_input_messages({"messages": [{"role": "user", "content": "hi"}]}) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]


def test_message_response_info_on_a_message() -> None:
    message = Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 10,
                "output_tokens": 20,
                "cache_read_input_tokens": 5,
                "cache_creation_input_tokens": None,
                "output_tokens_details": {"thinking_tokens": 8},
            },
        }
    )
    info = message_response_info(message, True)
    assert (info.response_id, info.response_model, info.finish_reasons) == ("msg_1", "claude-x", ("tool_use",))
    assert info.usage == Usage(15, 20, 5, None, 8)
    assert info.output_messages == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "hmm"},
                {"type": "tool_call", "id": "toolu_1", "name": "f", "arguments": {"a": 1}},
            ],
            "finish_reason": "tool_use",
        }
    ]
    assert message_response_info(message, False).output_messages is None
    assert ADAPTER.result_kind(message) is ResultKind.PARSED
