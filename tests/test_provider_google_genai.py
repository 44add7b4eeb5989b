# SPDX-License-Identifier: Apache-2.0
"""Google Gen AI (``google-genai``): generate_content and embed_content through the real SDK.

The real SDK, sync (``client.models``) and async (``client.aio.models``), talks to the fake
server's Gemini wire format (``/gemini/...``), in Gemini API mode and in Vertex AI mode. Streams
are in ``test_provider_google_genai_streams.py``; the pure extractors are tested at the end.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import google.auth.credentials
import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, types
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import only_span, points, resolve, total_count
from otel_llmperf.providers.base import ChunkKind, ResultKind
from otel_llmperf.providers.google_genai import (
    ADAPTER,
    EMBED_API,
    GENERATE_API,
    GENERATE_STREAM_API,
    GenerateContentFolder,
    contents_messages,
    embed_response_info,
    generate_request_attributes,
    generate_response_info,
    request_model,
    system_instructions,
)

MODEL = "gemini-2.0-flash"
PROMPT = "Say hello to the whole wide world"
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


@pytest.fixture(name="gemini_server", scope="module")
def fixture_gemini_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(ttft=0.01, token_delay=0.002, output_tokens=5, seed=1)
    try:
        yield server
    finally:
        server.stop()


def make_genai_client(url: str, vertex: bool = False) -> genai.Client:
    """A real client on the fake server that never retries, so each fault is seen once."""
    options = types.HttpOptions(
        base_url=f"{url}/gemini/", retry_options=types.HttpRetryOptions(attempts=1), timeout=10_000
    )
    if vertex:
        # A static OAuth token: valid, never refreshed, so Vertex mode needs no network but ours.
        token = google.oauth2.credentials.Credentials(token="test-token")  # type: ignore[no-untyped-call]
        return genai.Client(vertexai=True, project="p", location="us-central1", credentials=token, http_options=options)
    return genai.Client(api_key="test-key", http_options=options)


@pytest.fixture(name="genai_client")
async def fixture_genai_client(gemini_server: FakeServerProcess) -> AsyncIterator[genai.Client]:
    client = make_genai_client(gemini_server.url)
    yield client
    await client.aio.aclose()
    client.close()


@pytest.fixture(name="models")
def fixture_models(genai_client: genai.Client, mode: str) -> Any:
    """``client.models`` or ``client.aio.models``: tests are written once, for both."""
    return genai_client.aio.models if mode == "async" else genai_client.models


def fake(**headers: str) -> dict[str, Any]:
    """Per-request config carrying fake-server override headers (``x-fake-*``)."""
    return {"http_options": {"headers": {f"x-fake-{key.replace('_', '-')}": value for key, value in headers.items()}}}


def assert_metric_attributes_bounded(reader: InMemoryMetricReader) -> None:
    for name in (DURATION, TOKENS, TTFC, PER_CHUNK, PER_TOKEN):
        for point in points(reader, name):
            assert set(point.attributes) <= METRIC_ATTRIBUTES, (name, dict(point.attributes))


# --- generate_content -------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_gemini_generate_content_records_span_and_metrics(
    models: Any,
    gemini_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    config = {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 20,
        "max_output_tokens": 50,
        "seed": 7,
        "stop_sequences": ["END"],
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
    }
    response = await resolve(models.generate_content(model=MODEL, contents=PROMPT, config=config))

    span = only_span(span_exporter)
    assert span.name == f"generate_content {MODEL}"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "generate_content"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == gemini_server.port
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert attrs["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert attrs["gen_ai.request.top_k"] == pytest.approx(20)
    assert attrs["gen_ai.request.max_tokens"] == 50 and isinstance(attrs["gen_ai.request.max_tokens"], int)
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.request.presence_penalty"] == pytest.approx(0.5)
    assert attrs["gen_ai.request.frequency_penalty"] == pytest.approx(0.25)
    assert attrs["gen_ai.response.id"] == response.response_id
    assert attrs["gen_ai.response.model"] == response.model_version == MODEL
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    usage = response.usage_metadata
    assert attrs["gen_ai.usage.input_tokens"] == usage.prompt_token_count == 7
    assert attrs["gen_ai.usage.output_tokens"] == usage.candidates_token_count == 5
    assert "gen_ai.usage.reasoning.output_tokens" not in attrs and "gen_ai.usage.cache_read.input_tokens" not in attrs
    assert "gen_ai.response.time_to_first_chunk" not in attrs
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs

    (duration,) = points(metric_reader, DURATION)
    assert duration.count == 1 and duration.sum > 0
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": gemini_server.port,
    }
    tokens = {point.attributes["gen_ai.token.type"]: point.sum for point in points(metric_reader, TOKENS)}
    assert tokens == {"input": 7, "output": 5}
    assert points(metric_reader, TTFC) == [] and points(metric_reader, PER_CHUNK) == []
    assert points(metric_reader, PER_TOKEN) == []
    assert_metric_attributes_bounded(metric_reader)


@pytest.mark.usefixtures("instrumented")
async def test_gemini_thoughts_and_cached_tokens(
    models: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    config = fake(cached_tokens="3", reasoning_tokens="4")
    response = await resolve(models.generate_content(model=MODEL, contents=PROMPT, config=config))
    assert response.usage_metadata.thoughts_token_count == 4
    attrs = dict(only_span(span_exporter).attributes or {})
    # Gemini counts thoughts apart from the candidates; output is both, reasoning the thoughts.
    assert attrs["gen_ai.usage.output_tokens"] == 5 + 4
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 4
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    # The prompt count already holds the cached tokens: input is not 7 + 3.
    assert attrs["gen_ai.usage.input_tokens"] == response.usage_metadata.prompt_token_count == 7
    assert total_count(metric_reader, TOKENS, {"gen_ai.token.type": "output"}) == 1
    assert {p.attributes["gen_ai.token.type"]: p.sum for p in points(metric_reader, TOKENS)}["output"] == 9


@pytest.mark.usefixtures("instrumented")
async def test_gemini_candidates_length_and_json_output(models: Any, span_exporter: InMemorySpanExporter) -> None:
    config = types.GenerateContentConfig(candidate_count=2, max_output_tokens=3, response_mime_type="application/json")
    response = await resolve(models.generate_content(model=MODEL, contents=PROMPT, config=config))
    assert len(response.candidates) == 2
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.request.choice.count"] == 2
    assert attrs["gen_ai.request.max_tokens"] == 3
    assert attrs["gen_ai.output.type"] == "json"
    assert attrs["gen_ai.response.finish_reasons"] == ("max_tokens", "max_tokens")


async def test_gemini_content_capture(
    instrument: Any, models: Any, span_exporter: InMemorySpanExporter, mode: str
) -> None:
    instrument(capture_content=True)
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text="What time is it?")]),
        types.Content(role="model", parts=[types.Part.from_function_call(name="clock", args={"tz": "UTC"})]),
        types.Content(role="user", parts=[types.Part.from_function_response(name="clock", response={"t": "noon"})]),
    ]
    config = {"system_instruction": "Answer briefly.", "max_output_tokens": 2}
    await resolve(models.generate_content(model=MODEL, contents=contents, config=config))
    attrs = dict(only_span(span_exporter).attributes or {})
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "What time is it?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": None, "name": "clock", "arguments": {"tz": "UTC"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": None, "response": {"t": "noon"}}]},
    ]
    assert json.loads(str(attrs["gen_ai.system_instructions"])) == [{"type": "text", "content": "Answer briefly."}]
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "tok1 tok2 "}], "finish_reason": "max_tokens"}
    ]


@pytest.mark.usefixtures("instrumented")
async def test_gemini_full_http_response_keeps_headers_and_is_measured(
    models: Any, span_exporter: InMemorySpanExporter
) -> None:
    """``should_return_http_response`` hands back the raw body: headers untouched, usage still read."""
    response = await resolve(
        models.generate_content(model=MODEL, contents=PROMPT, config={"should_return_http_response": True})
    )
    raw = response.sdk_http_response
    assert raw.headers["x-request-id"].startswith("req_") and isinstance(raw.body, str)
    assert response.candidates is None  # the SDK leaves the body unparsed
    body = json.loads(raw.body)
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.response.id"] == body["responseId"]
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.output_tokens"] == body["usageMetadata"]["candidatesTokenCount"]


def current_time() -> str:
    """The current time (a tool for automatic function calling)."""
    return "noon"


@pytest.mark.usefixtures("instrumented")
async def test_gemini_automatic_function_calling_is_one_call(
    models: Any, gemini_server: FakeServerProcess, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    """The SDK runs the tool and asks again: two requests, one span for the one user call."""
    gemini_server.reset()
    response = await resolve(
        models.generate_content(model=MODEL, contents="What time is it?", config={"tools": [current_time]})
    )
    assert gemini_server.stats()["requests"] == {f"/gemini/v1/models/{MODEL}:generateContent": 2}
    assert len(response.automatic_function_calling_history) == 3  # question, call, result
    span = only_span(span_exporter)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.usage.output_tokens"] == 5  # the final answer's
    assert total_count(metric_reader, DURATION) == 1


@pytest.mark.usefixtures("instrumented")
async def test_gemini_chat_messages_are_recorded(
    genai_client: genai.Client, mode: str, span_exporter: InMemorySpanExporter
) -> None:
    chats = genai_client.aio.chats if mode == "async" else genai_client.chats
    chat = chats.create(model=MODEL)
    await resolve(chat.send_message("hello"))
    await resolve(chat.send_message("again"))
    spans = span_exporter.get_finished_spans()
    assert [span.name for span in spans] == [f"generate_content {MODEL}"] * 2


@pytest.mark.parametrize(("fault", "error"), [("429", errors.ClientError), ("500", errors.ServerError)])
@pytest.mark.usefixtures("instrumented")
async def test_gemini_http_error_is_recorded_and_reraised(
    models: Any, fault: str, error: type[Exception], span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    with pytest.raises(error) as raised:
        await resolve(models.generate_content(model=MODEL, contents=PROMPT, config=fake(error=fault)))
    assert type(raised.value) is error and raised.value.code == int(fault)
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    # The SDK's class; its status code (429 or 500) stays on the exception event, off the metric.
    assert span.attributes["error.type"] == error.__name__
    assert [event.name for event in span.events] == ["exception"]
    (duration,) = points(metric_reader, DURATION)
    assert duration.attributes["error.type"] == error.__name__
    assert points(metric_reader, TOKENS) == []


@pytest.mark.usefixtures("instrumented")
async def test_gemini_connection_refused_is_recorded(
    mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    client = make_genai_client("http://127.0.0.1:9")  # discard port: nothing listens
    models = client.aio.models if mode == "async" else client.models
    try:
        with pytest.raises(Exception) as raised:
            await resolve(models.generate_content(model=MODEL, contents=PROMPT))
    finally:
        await client.aio.aclose()
        client.close()
    assert type(raised.value).__module__.split(".")[0] in ("httpx", "httpx2")
    error_type = type(raised.value).__name__
    assert only_span(span_exporter).attributes["error.type"] == error_type
    assert total_count(metric_reader, DURATION, {"error.type": error_type}) == 1


# --- embed_content and Vertex AI --------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_gemini_embed_content(
    models: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    response = await resolve(
        models.embed_content(
            model="text-embedding-004", contents=["first text", "second"], config={"output_dimensionality": 4}
        )
    )
    assert len(response.embeddings) == 2 and len(response.embeddings[0].values) == 4
    span = only_span(span_exporter)
    assert span.name == "embeddings text-embedding-004"
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "embeddings" and attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.embeddings.dimension.count"] == 4
    assert attrs["gen_ai.usage.input_tokens"] == 3 and "gen_ai.usage.output_tokens" not in attrs
    assert {p.attributes["gen_ai.token.type"] for p in points(metric_reader, TOKENS)} == {"input"}
    assert total_count(metric_reader, DURATION) == 1


@pytest.mark.usefixtures("instrumented")
async def test_vertex_ai_mode_is_its_own_provider(
    mode: str, gemini_server: FakeServerProcess, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    client = make_genai_client(gemini_server.url, vertex=True)
    models = client.aio.models if mode == "async" else client.models
    try:
        await resolve(models.generate_content(model=f"publishers/google/models/{MODEL}", contents=PROMPT))
        # text-embedding-* use :predict, with per-vector token counts; gemini-embedding-* :embedContent.
        await resolve(models.embed_content(model="text-embedding-005", contents=["one two", "three"]))
        await resolve(models.embed_content(model="gemini-embedding-001", contents="one two three"))
    finally:
        await client.aio.aclose()
        client.close()
    generate, predict, embed = span_exporter.get_finished_spans()
    for span in (generate, predict, embed):
        assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
        assert span.attributes["server.port"] == gemini_server.port
    assert generate.attributes["gen_ai.request.model"] == MODEL  # the resource prefix is dropped
    assert generate.attributes["gen_ai.usage.output_tokens"] == 5
    assert predict.attributes["gen_ai.usage.input_tokens"] == 3
    assert embed.attributes["gen_ai.usage.input_tokens"] == 3
    assert embed.attributes["gen_ai.embeddings.dimension.count"] == 8
    providers = {p.attributes["gen_ai.provider.name"] for p in points(metric_reader, DURATION)}
    assert providers == {"gcp.vertex_ai"}


# --- the adapter's pure extractors, on the SDK's own objects ---------------------------


def test_gemini_patch_table_matches_this_sdk() -> None:
    from google.genai import models

    for target in ADAPTER.patch_targets():
        owner, _, method = target.attribute.partition(".")
        assert method in vars(getattr(models, owner)), target.attribute
    assert {target.api for target in ADAPTER.patch_targets()} == {GENERATE_API, GENERATE_STREAM_API, EMBED_API}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, {}),
        ({"temperature": None, "top_k": True, "seed": 0}, {"gen_ai.request.seed": 0}),
        ({"maxOutputTokens": 9, "topP": 0.5}, {"gen_ai.request.max_tokens": 9, "gen_ai.request.top_p": 0.5}),
        (
            types.GenerateContentConfig(response_mime_type="text/plain", candidate_count=1),
            {"gen_ai.output.type": "text"},
        ),
        ({"response_modalities": ["IMAGE", "TEXT"]}, {"gen_ai.output.type": "image"}),
        (types.GenerateContentConfig(response_modalities=["AUDIO"]), {"gen_ai.output.type": "speech"}),
    ],
)
def test_gemini_request_attributes(config: Any, expected: dict[str, Any]) -> None:
    assert generate_request_attributes({"model": MODEL, "contents": "x", "config": config}) == expected


def test_gemini_request_model_names() -> None:
    assert request_model("models/gemini-2.0-flash") == "gemini-2.0-flash"
    assert request_model("projects/p/locations/l/publishers/google/models/gemini-2.0-flash") == "gemini-2.0-flash"
    assert request_model("tunedModels/my-model-123") == "tunedModels/my-model-123"
    assert request_model("projects/p/locations/l/endpoints/42") == "projects/p/locations/l/endpoints/42"
    assert request_model(None) is None


def test_gemini_contents_shapes() -> None:
    assert contents_messages("hi") == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    image = types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png")
    video = {"fileData": {"fileUri": "gs://b/v.mp4", "mimeType": "video/mp4"}}
    assert contents_messages(["look", image, video]) == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "look"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "(inline content elided)"},
                {"type": "uri", "modality": "video", "mime_type": "video/mp4", "uri": "gs://b/v.mp4"},
            ],
        }
    ]
    thought = {"role": "model", "parts": [{"text": "hmm", "thought": True}, {"text": "yes"}]}
    assert contents_messages([thought, ["a", "b"]]) == [
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "hmm"}, {"type": "text", "content": "yes"}]},
        {"role": "user", "parts": [{"type": "text", "content": "a"}, {"type": "text", "content": "b"}]},
    ]
    call = types.Part.from_function_call(name="f", args={})
    assert contents_messages([call])[0]["role"] == "assistant"  # loose function calls are a model turn
    assert system_instructions({"config": {"system_instruction": types.Content(parts=[{"text": "s"}])}}) == [
        {"type": "text", "content": "s"}
    ]
    assert system_instructions({"config": types.GenerateContentConfig()}) is None


def test_gemini_response_info_on_sdk_objects() -> None:
    response = types.GenerateContentResponse.model_validate(
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "a"}]}, "finish_reason": "SAFETY", "index": 0},
                {"content": {"role": "model", "parts": [{"text": "b"}]}, "index": 1},
            ],
            "model_version": "gemini-2.5-pro-001",
            "response_id": "r-1",
            "usage_metadata": {
                "prompt_token_count": 10,
                "tool_use_prompt_token_count": 2,
                "candidates_token_count": 3,
                "thoughts_token_count": 4,
                "cached_content_token_count": 6,
            },
        }
    )
    info = generate_response_info(response, capture=True)
    assert (info.response_model, info.response_id) == ("gemini-2.5-pro-001", "r-1")
    assert info.finish_reasons == ("safety", "")
    assert info.usage is not None
    assert (info.usage.input_tokens, info.usage.output_tokens) == (12, 7)
    assert (info.usage.cache_read_input_tokens, info.usage.reasoning_output_tokens) == (6, 4)
    assert info.output_messages is not None and info.output_messages[1]["parts"] == [{"type": "text", "content": "b"}]
    assert generate_response_info(types.GenerateContentResponse(), capture=False).usage is None


def test_gemini_embed_response_info_counts_vertex_statistics() -> None:
    vertex = types.EmbedContentResponse.model_validate(
        {"embeddings": [{"values": [0.1, 0.2], "statistics": {"token_count": 2.0}}, {"values": [0.3, 0.4]}]}
    )
    assert embed_response_info(vertex, capture=False).usage is None  # one count missing: no guess
    vertex.embeddings[1].statistics = types.ContentEmbeddingStatistics(token_count=3.0)
    info = embed_response_info(vertex, capture=False)
    assert info.usage is not None and info.usage.input_tokens == 5
    assert info.attributes == {"gen_ai.embeddings.dimension.count": 2}


def test_gemini_folder_kinds_usage_and_capture() -> None:
    folder = GenerateContentFolder(capture=True)

    def chunk(parts: list[Any], finish: str | None = None, output: int = 1) -> types.GenerateContentResponse:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finish_reason"] = finish
        usage = {"prompt_token_count": 2, "candidates_token_count": output}
        return types.GenerateContentResponse.model_validate(
            {"candidates": [candidate], "usage_metadata": usage, "response_id": "s-1", "model_version": "m-1"}
        )

    assert folder.fold(chunk([{"text": "Hel"}])) is ChunkKind.OUTPUT
    assert folder.fold(chunk([{"text": "lo"}], output=2)) is ChunkKind.OUTPUT
    assert folder.fold(chunk([], finish="STOP", output=2)) is ChunkKind.OTHER  # no parts: no output
    info = folder.result()
    assert (info.response_id, info.response_model, info.finish_reasons) == ("s-1", "m-1", ("stop",))
    assert info.usage is not None and (info.usage.input_tokens, info.usage.output_tokens) == (2, 2)
    assert info.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}
    ]


def test_gemini_request_info_names_the_provider_from_the_client_mode() -> None:
    gemini = genai.Client(api_key="k")
    anonymous = google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]
    vertex = genai.Client(vertexai=True, project="p", location="europe-west4", credentials=anonymous)
    info = ADAPTER.request_info(GENERATE_STREAM_API, gemini.models, {"model": "models/gemini-2.0-flash"})
    assert (info.provider, info.server_address, info.server_port) == (
        "gcp.gemini",
        "generativelanguage.googleapis.com",
        443,
    )
    assert info.stream is True and info.request_model == "gemini-2.0-flash"
    info = ADAPTER.request_info(EMBED_API, vertex.aio.models, {"model": "text-embedding-005"})
    assert (info.provider, info.server_address, info.operation) == (
        "gcp.vertex_ai",
        "europe-west4-aiplatform.googleapis.com",
        "embeddings",
    )
    assert info.stream is False
    assert ADAPTER.result_kind(types.GenerateContentResponse()) is ResultKind.PARSED
    assert ADAPTER.result_kind(iter(())) is ResultKind.STREAM


@pytest.mark.usefixtures("instrumented")
async def test_feedback_on_a_gemini_response_finds_its_call(models: Any, span_exporter: InMemorySpanExporter) -> None:
    import otel_llmperf

    response = await resolve(models.generate_content(model=MODEL, contents=PROMPT))
    assert response.response_id  # Gemini names it response_id, not id
    feedback = otel_llmperf.record_feedback("thumbs", True, response=response)
    assert feedback.matched and feedback.model == MODEL and feedback.provider == "gcp.gemini"
    assert feedback.span_id == f"{only_span(span_exporter).context.span_id:016x}"
