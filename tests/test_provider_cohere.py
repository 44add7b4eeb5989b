# SPDX-License-Identifier: Apache-2.0
"""Cohere v2 (``cohere``): chat and embed through the real SDK, and the pure extractors.

The real ``ClientV2`` and ``AsyncClientV2`` talk to the fake server's Cohere wire format
(``/cohere/v2/...``). Streams (``chat_stream``) are in ``test_provider_cohere_streams.py``.
"""

from __future__ import annotations

import contextlib
import json
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import cohere
import genai_prices
import httpx
import pytest
from cohere import (
    AssistantChatMessageV2,
    SystemChatMessageV2,
    ToolCallV2,
    ToolCallV2Function,
    ToolChatMessageV2,
    UserChatMessageV2,
)
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import only_span, points, resolve, total_count
from otel_llmperf.demo.wire_cohere import TEMPLATE_TOKENS
from otel_llmperf.providers._fields import whole_count as tokens
from otel_llmperf.providers.base import ResultKind
from otel_llmperf.providers.cohere import (
    ADAPTER,
    CHAT_API,
    ChatStreamFolder,
    adopt_stream_request,
    chat_input_messages,
    chat_request_attributes,
    chat_response_info,
    embed_request_attributes,
    embed_response_info,
    server_of,
    usage_of,
)

MODEL = "command-a-03-2025"
EMBED_MODEL = "embed-v4.0"
PROMPT = "Say hello to the whole wide world"
PROMPT_TOKENS = 7 + 3  # the fake server counts words, plus 3 per message
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


def fake(**headers: str) -> dict[str, Any]:
    """Request options carrying fake-server override headers (``x-fake-*``)."""
    return {"additional_headers": {f"x-fake-{key.replace('_', '-')}": value for key, value in headers.items()}}


def user(text: str = PROMPT) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def assert_metric_attributes_bounded(reader: InMemoryMetricReader) -> None:
    for name in (DURATION, TOKENS):
        for point in points(reader, name):
            assert set(point.attributes) <= METRIC_ATTRIBUTES, (name, dict(point.attributes))


# --- chat -------------------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_cohere_chat_records_span_and_metrics(
    co: Any, cohere_server: FakeServerProcess, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    response = await resolve(
        co.chat(
            model=MODEL,
            messages=user(),
            temperature=0.3,
            p=0.9,
            k=40,
            max_tokens=50,
            seed=7,
            stop_sequences=["END"],
            frequency_penalty=0.25,
            presence_penalty=0.5,
        )
    )
    assert response.message.content[0].text == "tok1 tok2 tok3 tok4 tok5 "

    span = only_span(span_exporter)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "cohere"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == cohere_server.port
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert attrs["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert attrs["gen_ai.request.top_k"] == 40 and isinstance(attrs["gen_ai.request.top_k"], int)
    assert attrs["gen_ai.request.max_tokens"] == 50 and isinstance(attrs["gen_ai.request.max_tokens"], int)
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.request.frequency_penalty"] == pytest.approx(0.25)
    assert attrs["gen_ai.request.presence_penalty"] == pytest.approx(0.5)
    assert attrs["gen_ai.response.id"] == response.id
    assert attrs["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert "gen_ai.response.model" not in attrs  # Cohere names no model in its responses
    # billed_units (what is charged), not usage.tokens (which adds Cohere's prompt template):
    # the GenAI semconv says to report billable tokens when a system reports both.
    assert attrs["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert isinstance(attrs["gen_ai.usage.input_tokens"], int)
    assert "gen_ai.response.time_to_first_chunk" not in attrs
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs  # capture is off

    (duration,) = points(metric_reader, DURATION)
    assert duration.attributes["gen_ai.provider.name"] == "cohere" and "error.type" not in duration.attributes
    assert duration.sum >= 0.01  # the server waits ttft before answering
    token_points = {p.attributes["gen_ai.token.type"]: p.sum for p in points(metric_reader, TOKENS)}
    assert token_points == {"input": PROMPT_TOKENS, "output": 5}
    assert points(metric_reader, TTFC) == []
    assert_metric_attributes_bounded(metric_reader)


async def test_cohere_cost_is_priced_from_billed_units_with_genai_prices(
    instrument: Any, co: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument()
    await resolve(co.chat(model=MODEL, messages=user()))
    cost = only_span(span_exporter).attributes["llmperf.usage.cost"]

    def price(input_tokens: int) -> float:
        usage = genai_prices.Usage(input_tokens=input_tokens, output_tokens=5)
        return float(genai_prices.calc_price(usage, MODEL, provider_id="cohere").total_price)

    # The fake server, like Cohere, counts its prompt template in usage.tokens but does not bill it.
    assert cost == pytest.approx(price(PROMPT_TOKENS))
    assert cost != pytest.approx(price(PROMPT_TOKENS + TEMPLATE_TOKENS))


async def test_cohere_chat_captures_messages_of_every_role(
    instrument: Any, co: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    messages = [
        SystemChatMessageV2(content="Be brief."),
        UserChatMessageV2(content=[{"type": "text", "text": "What is the weather?"}]),
        AssistantChatMessageV2(
            tool_plan="I will look it up.",
            tool_calls=[
                ToolCallV2(id="call_1", type="function", function=ToolCallV2Function(name="weather", arguments="{}"))
            ],
        ),
        ToolChatMessageV2(tool_call_id="call_1", content="sunny"),
        {"role": "user", "content": "Thanks"},
    ]
    await resolve(co.chat(model=MODEL, messages=messages, max_tokens=2))

    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.response.finish_reasons"] == ("MAX_TOKENS",)
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the weather?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "I will look it up."},
                {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": "{}"},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}]},
        {"role": "user", "parts": [{"type": "text", "content": "Thanks"}]},
    ]
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "tok1 tok2 "}], "finish_reason": "length"}
    ]


async def test_cohere_chat_tool_call_thinking_and_json_output(
    instrument: Any, co: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    tools = [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]
    await resolve(co.chat(model=MODEL, messages=user("find it"), tools=tools, tool_choice="REQUIRED", max_tokens=2))
    await resolve(
        co.chat(
            model=MODEL,
            messages=user(),
            response_format={"type": "json_object"},
            request_options=fake(reasoning_tokens="2", cached_tokens="3"),
        )
    )
    tool_span, json_span = span_exporter.get_finished_spans()
    tool_attrs = dict(tool_span.attributes or {})
    assert tool_attrs["gen_ai.response.finish_reasons"] == ("TOOL_CALL",)
    (output,) = json.loads(str(tool_attrs["gen_ai.output.messages"]))
    assert output["finish_reason"] == "tool_call"
    assert [part["type"] for part in output["parts"]] == ["reasoning", "tool_call"]
    assert output["parts"][1]["name"] == "search" and json.loads(output["parts"][1]["arguments"]) == {
        "query": "tok1 tok2"
    }

    json_attrs = dict(json_span.attributes or {})
    assert json_attrs["gen_ai.output.type"] == "json"
    # Thinking tokens are part of Cohere's output tokens; Cohere reports no separate count.
    assert json_attrs["gen_ai.usage.output_tokens"] == 5 + 2
    assert "gen_ai.usage.reasoning.output_tokens" not in json_attrs
    assert json_attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    assert json_attrs["gen_ai.usage.input_tokens"] == PROMPT_TOKENS  # billed, cached ones included
    (output,) = json.loads(str(json_attrs["gen_ai.output.messages"]))
    assert [part["type"] for part in output["parts"]] == ["reasoning", "text"]
    assert isinstance(json.loads(output["parts"][1]["content"]), dict)


@pytest.mark.usefixtures("instrumented")
async def test_cohere_raw_chat_keeps_headers_and_records_once(
    co: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    raw = await resolve(co.with_raw_response.chat(model=MODEL, messages=user()))
    assert type(raw).__name__ in ("HttpResponse", "AsyncHttpResponse")  # handed back untouched
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.data.finish_reason == "COMPLETE"
    attrs = dict(only_span(span_exporter).attributes or {})  # the raw call inside chat() is not counted twice
    assert attrs["gen_ai.response.id"] == raw.data.id
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert total_count(metric_reader, DURATION) == 1


@pytest.mark.usefixtures("instrumented")
async def test_cohere_client_v2_attribute_is_instrumented_too(
    cohere_server: FakeServerProcess, span_exporter: InMemorySpanExporter
) -> None:
    with httpx.Client(timeout=10) as http:
        client = cohere.Client(api_key="test-key", base_url=f"{cohere_server.url}/cohere", httpx_client=http)
        client.v2.chat(model=MODEL, messages=user(), request_options={"max_retries": 0})
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.provider.name"] == "cohere" and attrs["server.port"] == cohere_server.port


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize(
    ("fault", "error_class"), [("429", cohere.TooManyRequestsError), ("500", cohere.InternalServerError)]
)
async def test_cohere_chat_http_errors(
    co: Any, fault: str, error_class: type[Exception], span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    with pytest.raises(error_class) as raised:
        await resolve(co.chat(model=MODEL, messages=user(), request_options=fake(error=fault)))
    assert raised.value.status_code == int(fault)  # type: ignore[attr-defined]
    span = only_span(span_exporter)
    assert span.attributes["error.type"] == error_class.__name__
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
    assert total_count(metric_reader, DURATION, {"error.type": error_class.__name__}) == 1
    assert points(metric_reader, TOKENS) == []


# --- embed ------------------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_cohere_embed_records_input_tokens_and_dimensions(
    co: Any, cohere_server: FakeServerProcess, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    response = await resolve(
        co.embed(
            model=EMBED_MODEL,
            input_type="search_document",
            texts=["hello world", "bye"],
            embedding_types=["float", "int8"],
            output_dimension=16,
        )
    )
    assert len(response.embeddings.float_[0]) == 16
    span = only_span(span_exporter)
    assert span.name == f"embeddings {EMBED_MODEL}"
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "embeddings" and attrs["gen_ai.provider.name"] == "cohere"
    assert attrs["gen_ai.request.encoding_formats"] == ("float", "int8")
    assert attrs["gen_ai.embeddings.dimension.count"] == 16
    assert attrs["gen_ai.response.id"] == response.id
    assert attrs["gen_ai.usage.input_tokens"] == 3 and "gen_ai.usage.output_tokens" not in attrs
    assert {p.attributes["gen_ai.token.type"]: p.sum for p in points(metric_reader, TOKENS)} == {"input": 3}
    assert total_count(metric_reader, DURATION, {"gen_ai.operation.name": "embeddings"}) == 1
    assert_metric_attributes_bounded(metric_reader)


@pytest.mark.usefixtures("instrumented")
async def test_cohere_raw_embed_and_embed_errors(co: Any, span_exporter: InMemorySpanExporter) -> None:
    raw = await resolve(co.with_raw_response.embed(model=EMBED_MODEL, input_type="classification", texts=["a b c"]))
    assert raw.headers["content-type"].startswith("application/json")
    with pytest.raises(cohere.TooManyRequestsError):
        await resolve(
            co.embed(model=EMBED_MODEL, input_type="classification", texts=["x"], request_options=fake(error="429"))
        )
    ok, failed = span_exporter.get_finished_spans()
    assert ok.attributes["gen_ai.usage.input_tokens"] == 3
    assert ok.attributes["gen_ai.embeddings.dimension.count"] == 8  # the fake server's default
    assert failed.attributes["error.type"] == "TooManyRequestsError"


# --- the pure extractors, on the SDK's own objects --------------------------------------


def test_token_counts_come_as_floats_and_are_the_billed_units_else_the_tokens() -> None:
    assert tokens(12.0) == 12 and tokens(3) == 3
    assert tokens(1.5) is None and tokens(-1.0) is None and tokens(True) is None and tokens(None) is None
    usage = cohere.Usage(
        billed_units=cohere.UsageBilledUnits(input_tokens=10.0, output_tokens=4.0),
        tokens=cohere.UsageTokens(input_tokens=17.0, output_tokens=None),
        cached_tokens=2.0,
    )
    found = usage_of(usage)
    assert found is not None
    assert (found.input_tokens, found.output_tokens, found.cache_read_input_tokens) == (10, 4, 2)
    unbilled = usage_of(cohere.Usage(tokens=cohere.UsageTokens(input_tokens=17.0, output_tokens=3.0)))
    assert unbilled is not None and (unbilled.input_tokens, unbilled.output_tokens) == (17, 3)
    assert usage_of(None) is None


def test_chat_response_info_of_sdk_models() -> None:
    response = cohere.V2ChatResponse(
        id="r1",
        finish_reason="ERROR",
        message=cohere.AssistantMessageResponse(
            role="assistant", content=[{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "hi"}]
        ),
        usage=cohere.Usage(tokens=cohere.UsageTokens(input_tokens=5.0, output_tokens=2.0)),
    )
    info = chat_response_info(response, True)
    assert info.response_id == "r1" and info.finish_reasons == ("ERROR",) and info.error_type == "error"
    assert info.response_model is None
    assert info.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "hmm"}, {"type": "text", "content": "hi"}],
            "finish_reason": "error",
        }
    ]
    assert chat_response_info(response, False).output_messages is None


def test_request_attributes_skip_unset_and_invalid_values() -> None:
    assert chat_request_attributes({"model": MODEL, "messages": []}) == {}
    attrs = chat_request_attributes({"k": 0, "seed": 0, "max_tokens": True, "p": "0.5", "stop_sequences": []})
    assert attrs == {"gen_ai.request.seed": 0}  # k=0 disables top-k; seed 0 is a seed
    assert chat_request_attributes({"response_format": cohere.TextResponseFormatV2()}) == {"gen_ai.output.type": "text"}
    assert embed_request_attributes({"embedding_types": ["ubinary"], "output_dimension": 0}) == {
        "gen_ai.request.encoding_formats": ("ubinary",)
    }
    assert chat_input_messages({"messages": "not a list"}) is None


def test_tool_message_with_document_content_is_captured_by_kind() -> None:
    message = ToolChatMessageV2(
        tool_call_id="c",
        content=[{"type": "text", "text": "42"}, {"type": "document", "document": {"data": {"t": "x"}}}],
    )
    assert chat_input_messages({"messages": [message]}) == [
        {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": "c",
                    "response": [{"type": "text", "content": "42"}, {"type": "document"}],
                }
            ],
        }
    ]


def test_embed_response_info_of_sdk_models() -> None:
    binary = cohere.EmbedByTypeResponse(
        id="e1",
        embeddings=cohere.EmbedByTypeResponseEmbeddings(ubinary=[[1, 2]]),
        meta=cohere.ApiMeta(billed_units=cohere.ApiMetaBilledUnits(input_tokens=4.0)),
    )
    info = embed_response_info(binary, False)
    assert info.response_id == "e1"
    assert info.attributes == {"gen_ai.embeddings.dimension.count": 16}  # 8 dimensions per packed value
    assert info.usage is not None and info.usage.input_tokens == 4 and info.usage.output_tokens is None
    assert (
        embed_response_info(cohere.EmbedByTypeResponse(id="e2", embeddings={"base64": ["AA=="]}), False).usage is None
    )


def test_stream_folder_on_sdk_events() -> None:
    folder = ChatStreamFolder(capture=True)
    events = [
        cohere.MessageStartV2ChatStreamResponse(id="s1"),
        cohere.ContentStartV2ChatStreamResponse(index=0),
        cohere.ContentDeltaV2ChatStreamResponse(index=0, delta={"message": {"content": {"text": "Hi"}}}),
        cohere.ContentEndV2ChatStreamResponse(index=0),
        cohere.CitationStartV2ChatStreamResponse(index=0),
        cohere.MessageEndV2ChatStreamResponse(
            delta={"finish_reason": "COMPLETE", "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 1}}}
        ),
    ]
    kinds = [folder.fold(event) for event in events]
    assert [kind.name for kind in kinds] == ["OTHER", "OTHER", "OUTPUT", "OTHER", "OTHER", "OTHER"]
    info = folder.result()
    assert info.response_id == "s1" and info.finish_reasons == ("COMPLETE",) and info.error_type is None
    assert info.usage is not None and (info.usage.input_tokens, info.usage.output_tokens) == (3, 1)
    assert info.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hi"}], "finish_reason": "stop"}
    ]


def test_adapter_server_provider_and_result_kinds() -> None:
    assert server_of("https://api.cohere.com") == ("api.cohere.com", 443, "cohere")
    assert server_of("http://127.0.0.1:8080/cohere") == ("127.0.0.1", 8080, "cohere")
    # Cohere models on Azure AI Foundry are reached with ClientV2 and the Azure endpoint.
    assert server_of("https://my-deployment.models.ai.azure.com")[2] == "azure.ai.inference"
    client = cohere.ClientV2(api_key="k")  # no request is made: only the default base URL is read
    info = ADAPTER.request_info(CHAT_API, client, {"model": MODEL})
    assert (info.server_address, info.server_port, info.stream) == ("api.cohere.com", 443, False)

    def generator() -> Iterator[int]:
        yield 1

    async def async_generator() -> AsyncIterator[int]:
        yield 1

    agen = async_generator()
    assert ADAPTER.result_kind(generator()) is ResultKind.STREAM
    assert ADAPTER.result_kind(agen) is ResultKind.ASYNC_STREAM
    assert ADAPTER.result_kind(cohere.V2ChatResponse(id="x", finish_reason="COMPLETE", message={})) is ResultKind.PARSED
    assert ADAPTER.with_stream_usage({}) is None and ADAPTER.nested_stream(object()) is None


def test_adopted_manager_records_only_its_entry_and_passes_the_rest_through() -> None:
    """The raw chat_stream manager's generator: the first step goes through ``wrap``, the rest unchanged."""
    steps: list[str] = []

    @contextlib.contextmanager
    def manager() -> Iterator[str]:
        steps.append("request")
        try:
            yield "response"
        except KeyError:
            steps.append("caller error seen")
            raise
        finally:
            steps.append("closed")

    def wrap(request: Any) -> Any:
        def recorded() -> Any:
            steps.append("recorded")
            return request()

        return recorded

    cm = manager()
    adopt_stream_request(cm, wrap)
    with pytest.raises(KeyError), cm as value:
        assert value == "response"
        raise KeyError("x")
    assert steps == ["recorded", "request", "caller error seen", "closed"]
    with pytest.raises(AttributeError):
        adopt_stream_request(types.SimpleNamespace(gen=None), wrap)


def test_raw_stream_response_is_nested() -> None:
    from cohere.core.http_response import HttpResponse

    def events() -> Iterator[int]:
        yield 1

    raw = HttpResponse(response=httpx.Response(200), data=events())
    assert ADAPTER.result_kind(raw) is ResultKind.NESTED_STREAM
    slot = ADAPTER.nested_stream(raw)
    assert slot is not None and slot[1] == "_data" and slot[0][slot[1]] is raw.data
    parsed = HttpResponse(
        response=httpx.Response(200), data=cohere.V2ChatResponse(id="x", finish_reason="COMPLETE", message={})
    )
    assert ADAPTER.result_kind(parsed) is ResultKind.PARSED
    assert chat_response_info(parsed, False).response_id == "x"
