# SPDX-License-Identifier: Apache-2.0
"""AWS Bedrock Runtime through the real ``boto3``/``botocore``: Converse and InvokeModel.

A real ``bedrock-runtime`` client (dummy credentials passed to it, retries off) talks to the
fake server's Bedrock wire format under ``/bedrock``. boto3 has no async client, so these tests
run once, sync. Streams (``ConverseStream``, ``InvokeModelWithResponseStream``) and their
lifecycle are in ``test_provider_bedrock_streams.py``; the pure extractors are tested at the end.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import botocore.config
import botocore.exceptions
import genai_prices
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import otel_llmperf
from fakeserver import FakeServerProcess, start_fake_server
from helpers import metrics, only_span, points, total_count
from otel_llmperf.providers import bedrock
from otel_llmperf.providers.base import ResultKind

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
MESSAGES = [{"role": "user", "content": [{"text": "Say hello to the whole wide world"}]}]
SYSTEM = [{"text": "Be brief."}]
ANTHROPIC_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 50,
    "temperature": 0.3,
    "top_p": 0.9,
    "top_k": 40,
    "stop_sequences": ["END"],
    "system": "Be brief.",
    "messages": [{"role": "user", "content": "Say hello"}],
}
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"


@pytest.fixture(name="bedrock_server", scope="module")
def fixture_bedrock_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(ttft=0.01, token_delay=0.002, output_tokens=5, seed=1)
    try:
        yield server
    finally:
        server.stop()


def make_bedrock_client(url: str) -> Any:
    """A real bedrock-runtime client on the fake server: dummy keys given explicitly, no retries."""
    config = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10)
    return boto3.session.Session().client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"{url}/bedrock",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


@pytest.fixture(name="client", scope="module")
def fixture_client(bedrock_server: FakeServerProcess) -> Iterator[Any]:
    client = make_bedrock_client(bedrock_server.url)
    yield client
    client.close()


@contextlib.contextmanager
def fake_headers(client: Any, **headers: Any) -> Iterator[None]:
    """Send the fake server's ``x-fake-*`` override headers, through botocore's own event hooks."""
    extra = {f"x-fake-{name.replace('_', '-')}": str(value) for name, value in headers.items()}

    def add(request: Any, **_: Any) -> None:
        for name, value in extra.items():
            request.headers[name] = value

    client.meta.events.register("before-send.bedrock-runtime", add, unique_id="llmperf-test-headers")
    try:
        yield
    finally:
        client.meta.events.unregister("before-send.bedrock-runtime", unique_id="llmperf-test-headers")


def span_attributes(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return dict(only_span(exporter).attributes or {})


def metric_attributes(operation: str, port: int, model: str = MODEL, **extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": model,
        "server.address": "127.0.0.1",
        "server.port": port,
        **extra,
    }


# --- Converse -----------------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
def test_converse_records_span_and_metrics(
    client: Any,
    bedrock_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    response = client.converse(
        modelId=MODEL,
        messages=MESSAGES,
        system=SYSTEM,
        inferenceConfig={"maxTokens": 50, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END"]},
        additionalModelRequestFields={"top_k": 40},
    )

    span = only_span(span_exporter)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "aws.bedrock"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == bedrock_server.port
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert attrs["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert attrs["gen_ai.request.top_k"] == 40
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    # Converse has no completion id; the AWS request id is the request's, not the completion's.
    assert attrs["aws.request_id"] == response["ResponseMetadata"]["RequestId"]
    assert "gen_ai.response.id" not in attrs
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert "gen_ai.response.model" not in attrs  # Converse does not name the model that answered
    usage = response["usage"]
    assert attrs["gen_ai.usage.input_tokens"] == usage["inputTokens"] and isinstance(usage["inputTokens"], int)
    assert attrs["gen_ai.usage.output_tokens"] == usage["outputTokens"] == 5
    assert "gen_ai.usage.cache_read.input_tokens" not in attrs
    assert "gen_ai.response.time_to_first_chunk" not in attrs
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs

    (duration,) = points(metric_reader, DURATION)
    assert duration.count == 1 and duration.sum > 0
    assert dict(duration.attributes) == metric_attributes("chat", bedrock_server.port)
    tokens = {point.attributes["gen_ai.token.type"]: point for point in points(metric_reader, TOKENS)}
    assert set(tokens) == {"input", "output"}
    assert tokens["input"].sum == usage["inputTokens"] and tokens["output"].sum == 5
    assert points(metric_reader, TTFC) == [] and points(metric_reader, PER_CHUNK) == []


@pytest.mark.usefixtures("instrumented")
def test_feedback_finds_a_call_by_its_response_or_its_aws_request_id(
    client: Any, metric_reader: InMemoryMetricReader
) -> None:
    conversed = client.converse(modelId=MODEL, messages=MESSAGES)
    invoked = client.invoke_model(modelId=LLAMA, body=json.dumps({"prompt": "Say hello", "max_gen_len": 20}))
    for response, model in ((conversed, MODEL), (invoked, LLAMA)):
        request_id = response["ResponseMetadata"]["RequestId"]
        for found in (
            otel_llmperf.record_feedback("thumbs", True, response=response),
            otel_llmperf.record_feedback("thumbs", False, response_id=request_id),
        ):
            assert (found.matched, found.model, found.provider) == (True, model, "aws.bedrock")
    counter = metrics(metric_reader)["llmperf.feedback"]
    by_model: dict[str, int] = {}
    for point in counter.data.data_points:
        model = point.attributes["gen_ai.request.model"]
        by_model[model] = by_model.get(model, 0) + point.value
    assert by_model == {MODEL: 2, LLAMA: 2}


@pytest.mark.usefixtures("instrumented")
def test_converse_input_tokens_include_the_cache(client: Any, span_exporter: InMemorySpanExporter) -> None:
    with fake_headers(client, cached_tokens=3, reasoning_tokens=4):
        response = client.converse(modelId=MODEL, messages=MESSAGES)
    usage = response["usage"]
    assert usage["cacheReadInputTokens"] == 3
    attrs = span_attributes(span_exporter)
    # Bedrock's inputTokens leaves the cache out; semconv input tokens count every input token.
    assert attrs["gen_ai.usage.input_tokens"] == usage["inputTokens"] + 3 + 0
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 0
    # Bedrock folds reasoning into outputTokens and does not report it apart.
    assert attrs["gen_ai.usage.output_tokens"] == usage["outputTokens"] == 5 + 4
    assert "gen_ai.usage.reasoning.output_tokens" not in attrs


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("stream", [False, True], ids=["converse", "converse_stream"])
def test_converse_cache_writes_kept_for_an_hour_are_priced_as_such(
    client: Any, stream: bool, span_exporter: InMemorySpanExporter
) -> None:
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    costs = []
    for ttl in ("5m", "1h"):
        messages = [
            {"role": "user", "content": [*MESSAGES[0]["content"], {"cachePoint": {"type": "default", "ttl": ttl}}]}
        ]
        if stream:
            for _ in client.converse_stream(modelId=model, messages=messages)["stream"]:
                pass
        else:
            client.converse(modelId=model, messages=messages)
        attrs = dict(span_exporter.get_finished_spans()[-1].attributes or {})
        costs.append(attrs["llmperf.usage.cost"])
        written = attrs["gen_ai.usage.cache_creation.input_tokens"]
        assert written > 0
        usage = genai_prices.Usage(
            input_tokens=attrs["gen_ai.usage.input_tokens"],
            output_tokens=attrs["gen_ai.usage.output_tokens"],
            cache_write_tokens=written,
            cache_write_1h_tokens=written if ttl == "1h" else 0,
        )
        expected = genai_prices.calc_price(usage, model, provider_id="aws").total_price
        assert costs[-1] == pytest.approx(float(expected))
    assert costs[1] > costs[0]


@pytest.mark.usefixtures("instrumented")
def test_converse_max_tokens_finish_reason(client: Any, span_exporter: InMemorySpanExporter) -> None:
    response = client.converse(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 2})
    assert response["stopReason"] == "max_tokens"
    attrs = span_attributes(span_exporter)
    assert attrs["gen_ai.response.finish_reasons"] == ("max_tokens",)
    assert attrs["gen_ai.usage.output_tokens"] == 2


def test_converse_captures_content_when_asked(
    client: Any, instrument: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    response = client.converse(modelId=MODEL, messages=MESSAGES, system=SYSTEM)
    attrs = span_attributes(span_exporter)
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello to the whole wide world"}]}
    ]
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    text = response["output"]["message"]["content"][0]["text"]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}
    ]


# --- InvokeModel --------------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
def test_invoke_model_reads_usage_from_headers_and_leaves_the_body(
    client: Any,
    bedrock_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake_headers(client, cached_tokens=2):
        response = client.invoke_model(modelId=MODEL, body=json.dumps(ANTHROPIC_BODY))
    attrs = span_attributes(span_exporter)  # the call ended before the caller read the body
    native = json.loads(response["body"].read())  # ... which is still whole for the caller
    assert native["type"] == "message" and native["usage"]["output_tokens"] == 5
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    uncached = int(headers["x-amzn-bedrock-input-token-count"])
    assert uncached == native["usage"]["input_tokens"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.stream"] is False
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert attrs["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert attrs["gen_ai.request.top_k"] == 40
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["aws.request_id"] == response["ResponseMetadata"]["RequestId"]
    assert "gen_ai.response.id" not in attrs  # the completion's id is in the unread body only
    assert attrs["gen_ai.usage.input_tokens"] == uncached + 2
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 2
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert "gen_ai.response.finish_reasons" not in attrs  # in the unread body only
    (duration,) = points(metric_reader, DURATION)
    assert dict(duration.attributes) == metric_attributes("chat", bedrock_server.port)
    tokens = {point.attributes["gen_ai.token.type"]: point.sum for point in points(metric_reader, TOKENS)}
    assert tokens == {"input": uncached + 2, "output": 5}


def test_invoke_model_captures_the_native_input(
    client: Any, instrument: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    client.invoke_model(modelId=MODEL, body=json.dumps(ANTHROPIC_BODY).encode())
    attrs = span_attributes(span_exporter)
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello"}]}
    ]
    assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert "gen_ai.output.messages" not in attrs  # the output is in the body, which is the caller's


@pytest.mark.usefixtures("instrumented")
def test_invoke_model_prompt_body_is_a_text_completion(client: Any, span_exporter: InMemorySpanExporter) -> None:
    body = {"prompt": "Say hello to the world", "max_gen_len": 64, "temperature": 0.5, "top_p": 0.8}
    response = client.invoke_model(modelId=LLAMA, body=json.dumps(body))
    native = json.loads(response["body"].read())
    span = only_span(span_exporter)
    assert span.name == f"text_completion {LLAMA}"
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["gen_ai.request.temperature"] == pytest.approx(0.5)
    assert attrs["gen_ai.usage.input_tokens"] == native["prompt_token_count"]
    assert attrs["gen_ai.usage.output_tokens"] == native["generation_token_count"] == 5


@pytest.mark.usefixtures("instrumented")
def test_invoke_model_embeddings(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    response = client.invoke_model(modelId=TITAN_EMBED, body=json.dumps({"inputText": "hello there", "dimensions": 4}))
    native = json.loads(response["body"].read())
    assert len(native["embedding"]) == 4
    span = only_span(span_exporter)
    assert span.name == f"embeddings {TITAN_EMBED}"
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.embeddings.dimension.count"] == 4
    assert attrs["gen_ai.usage.input_tokens"] == native["inputTextTokenCount"]
    assert "gen_ai.usage.output_tokens" not in attrs
    assert {point.attributes["gen_ai.token.type"] for point in points(metric_reader, TOKENS)} == {"input"}


# --- errors, other AWS calls, uninstrument ------------------------------------------------


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize(("fault", "error_type"), [("429", "ThrottlingException"), ("500", "InternalServerException")])
@pytest.mark.parametrize("operation", ["converse", "invoke_model"])
def test_http_errors_raise_the_sdk_exception_and_name_the_aws_error(
    client: Any,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    fault: str,
    error_type: str,
    operation: str,
) -> None:
    with fake_headers(client, error=fault), pytest.raises(botocore.exceptions.ClientError) as raised:
        if operation == "converse":
            client.converse(modelId=MODEL, messages=MESSAGES)
        else:
            client.invoke_model(modelId=MODEL, body=json.dumps(ANTHROPIC_BODY))
    assert type(raised.value) is getattr(client.exceptions, error_type)  # botocore's own modeled class
    assert raised.value.response["Error"]["Code"] == error_type
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error_type
    assert total_count(metric_reader, DURATION, {"error.type": error_type}) == 1
    assert points(metric_reader, TOKENS) == []


@pytest.mark.usefixtures("instrumented")
def test_client_error_type_comes_from_the_aws_error_code(client: Any, span_exporter: InMemorySpanExporter) -> None:
    # A model id the fake server routes nowhere: botocore raises an unmodeled ClientError.
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.invoke_model(modelId=MODEL, body=json.dumps({"neither": "messages nor prompt"}))
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert span_attributes(span_exporter)["error.type"] == "ValidationException"


@pytest.mark.usefixtures("instrumented")
def test_other_aws_calls_pass_through_untouched(
    client: Any, bedrock_server: FakeServerProcess, span_exporter: InMemorySpanExporter
) -> None:
    # The control-plane "bedrock" service, and a bedrock-runtime operation that runs no model.
    control = boto3.session.Session().client(
        "bedrock",
        region_name="us-east-1",
        endpoint_url=f"{bedrock_server.url}/bedrock",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    with pytest.raises(botocore.exceptions.ClientError):
        control.list_foundation_models()
    control.close()
    with pytest.raises(botocore.exceptions.ClientError):
        client.apply_guardrail(
            guardrailIdentifier="g", guardrailVersion="1", source="INPUT", content=[{"text": {"text": "hi"}}]
        )
    assert span_exporter.get_finished_spans() == ()


def test_uninstrument_stops_recording(client: Any, instrument: Any, span_exporter: InMemorySpanExporter) -> None:
    original = vars(botocore.client.BaseClient)["_make_api_call"]
    instrument()
    assert vars(botocore.client.BaseClient)["_make_api_call"] is not original
    otel_llmperf.uninstrument()
    assert vars(botocore.client.BaseClient)["_make_api_call"] is original
    client.converse(modelId=MODEL, messages=MESSAGES)
    assert span_exporter.get_finished_spans() == ()


# --- pure extractors ----------------------------------------------------------------------


def test_select_call_picks_the_four_model_operations_only(client: Any) -> None:
    converse = bedrock.select_call(client, ("Converse", {"modelId": MODEL, "messages": MESSAGES}), {})
    assert converse is not None
    api, request = converse
    assert api is bedrock.CONVERSE_API and request["stream"] is False and request["modelId"] == MODEL
    stream = bedrock.select_call(client, ("ConverseStream", {"modelId": MODEL}), {})
    assert stream is not None and stream[1]["stream"] is True
    invoke = bedrock.select_call(client, ("InvokeModelWithResponseStream", {"modelId": MODEL, "body": "{}"}), {})
    assert invoke is not None and invoke[1]["stream"] is True and invoke[1][bedrock.BODY] == {}
    assert bedrock.select_call(client, ("ApplyGuardrail", {}), {}) is None
    assert bedrock.select_call(client, (), {"operation_name": "Converse", "api_params": None}) is None
    s3 = boto3.session.Session().client(
        "s3", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    assert bedrock.select_call(s3, ("Converse", {}), {}) is None  # same name, other service


def test_request_info_uses_the_client_endpoint(client: Any, bedrock_server: FakeServerProcess) -> None:
    info = bedrock.ADAPTER.request_info(bedrock.CONVERSE_API, client, {"modelId": MODEL, "stream": True})
    assert (info.operation, info.provider, info.request_model) == ("chat", "aws.bedrock", MODEL)
    assert (info.server_address, info.server_port, info.stream) == ("127.0.0.1", bedrock_server.port, True)
    aws = boto3.session.Session().client(
        "bedrock-runtime", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    info = bedrock.ADAPTER.request_info(bedrock.CONVERSE_API, aws, {"modelId": MODEL})
    assert (info.server_address, info.server_port) == ("bedrock-runtime.eu-west-1.amazonaws.com", 443)
    assert bedrock.ADAPTER.result_kind({"output": {}}) is ResultKind.PARSED
    assert bedrock.ADAPTER.nested_stream({"body": b"not a stream"}) is None
    assert bedrock.ADAPTER.with_stream_usage({}) is None


def test_client_error_type_reads_the_code() -> None:
    throttled = botocore.exceptions.ClientError({"Error": {"Code": "ThrottlingException"}}, "Converse")
    assert bedrock.client_error_type(throttled) == "ThrottlingException"
    in_stream = botocore.exceptions.EventStreamError({"Error": {"Code": "throttlingException"}}, "ConverseStream")
    assert bedrock.client_error_type(in_stream) == "ThrottlingException"  # same name as before the stream
    assert bedrock.client_error_type(botocore.exceptions.ClientError({}, "Converse")) is None
    assert bedrock.client_error_type(ValueError("x")) is None


def test_usage_from_each_surface() -> None:
    converse = bedrock.bedrock_usage(
        {"inputTokens": 10, "outputTokens": 4, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 7},
        bedrock.CONVERSE_COUNTS,
    )
    assert converse == bedrock.Usage(117, 4, 100, 7, None)
    headers = {"x-amzn-bedrock-input-token-count": "12", "x-amzn-bedrock-output-token-count": "3"}
    assert bedrock.bedrock_usage(headers, bedrock.HEADER_COUNTS) == bedrock.Usage(12, 3, None, None, None)
    metrics = {"inputTokenCount": 5, "outputTokenCount": 6, "cacheReadInputTokenCount": 1}
    assert bedrock.bedrock_usage(metrics, bedrock.METRICS_COUNTS) == bedrock.Usage(6, 6, 1, None, None)
    assert bedrock.bedrock_usage({"inputTokens": -1, "outputTokens": True}, bedrock.CONVERSE_COUNTS) is None
    assert bedrock.bedrock_usage({"x-amzn-bedrock-input-token-count": "n/a"}, bedrock.HEADER_COUNTS) is None
    assert bedrock.bedrock_usage(None, bedrock.CONVERSE_COUNTS) is None


def test_native_request_attributes() -> None:
    titan = {"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 30, "temperature": 0, "topP": 1}}
    assert bedrock.invoke_request_attributes({bedrock.BODY: titan, "guardrailIdentifier": "gr-1"}) == {
        "aws.bedrock.guardrail.id": "gr-1",
        "gen_ai.request.max_tokens": 30,
        "gen_ai.request.temperature": 0,
        "gen_ai.request.top_p": 1,
    }
    nova = {"messages": [], "inferenceConfig": {"maxTokens": 9, "topK": 5, "stopSequences": ["x"]}}
    assert bedrock.invoke_request_attributes({bedrock.BODY: nova}) == {
        "gen_ai.request.max_tokens": 9,
        "gen_ai.request.top_k": 5,
        "gen_ai.request.stop_sequences": ("x",),
    }
    bad = {"max_tokens": True, "temperature": "hot", "top_k": 0, "seed": 0}
    assert bedrock.invoke_request_attributes({bedrock.BODY: bad}) == {"gen_ai.request.seed": 0}
    assert bedrock.invoke_request_attributes({bedrock.BODY: None}) == {}
    converse = {
        "inferenceConfig": {"maxTokens": 0},
        "guardrailConfig": {"guardrailIdentifier": "gr-2", "guardrailVersion": "1"},
        "outputConfig": {"textFormat": {"type": "json_schema"}},
    }
    assert bedrock.converse_request_attributes(converse) == {
        "aws.bedrock.guardrail.id": "gr-2",
        "gen_ai.output.type": "json",
    }


def test_invoke_operation_and_body_parsing() -> None:
    assert bedrock.invoke_operation(TITAN_EMBED, {"inputText": "x"}) == "embeddings"
    assert bedrock.invoke_operation("cohere.command-r-v1:0", {"texts": ["a"]}) == "embeddings"
    assert bedrock.invoke_operation(MODEL, {"messages": []}) == "chat"
    assert bedrock.invoke_operation(LLAMA, {"prompt": "x"}) == "text_completion"
    assert bedrock.invoke_operation(MODEL, None) == "chat"
    assert bedrock.parse_body(b'{"a": 1}') == {"a": 1}
    assert bedrock.parse_body("[1]") is None and bedrock.parse_body(b"{oops") is None
    assert bedrock.parse_body(b" " * (bedrock.MAX_PARSED_BODY + 1)) is None  # too big to parse per call
    assert bedrock.parse_body(open(__file__, "rb")) is None  # a file is botocore's to read, not ours  # noqa: SIM115


def test_content_parts_of_converse_blocks() -> None:
    blocks = [
        {"text": "look"},
        {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}},
        {"document": {"format": "pdf", "name": "spec", "source": {"s3Location": {"uri": "s3://b/k"}}}},
        {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/v"}}}},
        {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": 1}}},
        {"toolResult": {"toolUseId": "t1", "content": [{"json": {"a": 1}}]}},
        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
        {"cachePoint": {"type": "default"}},
    ]
    assert bedrock.content_parts(blocks) == [
        {"type": "text", "content": "look"},
        {"type": "uri", "modality": "image", "uri": "data:(inline content elided)"},
        {"type": "document", "name": "spec"},
        {"type": "uri", "modality": "video", "uri": "s3://b/v"},
        {"type": "tool_call", "id": "t1", "name": "lookup", "arguments": {"q": 1}},
        {"type": "tool_call_response", "id": "t1", "response": {"a": 1}},
        {"type": "reasoning", "content": "hmm"},
    ]
    anthropic = [
        {"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": "42"}]},
        {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
        {"type": "thinking", "thinking": "so"},
    ]
    assert bedrock.content_parts(anthropic) == [
        {"type": "tool_call_response", "id": "t2", "response": "42"},
        {"type": "uri", "modality": "image", "uri": "data:(inline content elided)"},
        {"type": "reasoning", "content": "so"},
    ]
    assert bedrock.content_parts("plain") == [{"type": "text", "content": "plain"}]
    assert bedrock.content_parts(None) == []


def test_converse_response_info_on_a_parsed_response() -> None:
    response = {
        "ResponseMetadata": {"RequestId": "req-1", "HTTPHeaders": {}},
        "output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "f"}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
    }
    info = bedrock.converse_response_info(response, True)
    assert (info.response_id, info.finish_reasons, info.usage) == (None, ("tool_use",), bedrock.Usage(3, 2))
    assert (info.request_id, info.attributes) == ("req-1", {"aws.request_id": "req-1"})
    assert info.output_messages == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t", "name": "f", "arguments": None}],
            "finish_reason": "tool_call",
        }
    ]
    assert bedrock.converse_response_info(response, False).output_messages is None
    assert bedrock.semconv_finish_reason("guardrail_intervened") == "content_filter"
    assert bedrock.semconv_finish_reason("something_new") == "something_new"
