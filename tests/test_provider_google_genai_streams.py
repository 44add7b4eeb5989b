# SPDX-License-Identifier: Apache-2.0
"""Google Gen AI streams: ``generate_content_stream`` through the real SDK, and how each one ends.

``client.models.generate_content_stream`` returns a generator and ``await
client.aio.models.generate_content_stream`` an async generator; the SDK sends the request at the
first iteration. Neither is a context manager: an early end is ``close()`` / ``aclose()`` (also
through ``contextlib.closing`` / ``aclosing``), so an exception raised in the caller's loop
never reaches the stream and the call ends as ``cancelled`` when the stream is closed.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import drain, only_span, points, resolve, take, total_count
from otel_llmperf.instruments import TIME_PER_TOKEN_BUCKETS

MODEL = "gemini-2.0-flash"
PROMPT = "Count to five please"
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
PER_TOKEN = "llmperf.client.time_per_output_token"


@pytest.fixture(name="gemini_server", scope="module")
def fixture_gemini_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(ttft=0.01, token_delay=0.002, output_tokens=5, seed=1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="genai_client")
async def fixture_genai_client(gemini_server: FakeServerProcess) -> AsyncIterator[genai.Client]:
    # No retries, so each injected fault is seen once.
    options = types.HttpOptions(
        base_url=f"{gemini_server.url}/gemini/", retry_options=types.HttpRetryOptions(attempts=1), timeout=10_000
    )
    client = genai.Client(api_key="test-key", http_options=options)
    yield client
    await client.aio.aclose()
    client.close()


@pytest.fixture(name="models")
def fixture_models(genai_client: genai.Client, mode: str) -> Any:
    return genai_client.aio.models if mode == "async" else genai_client.models


async def open_stream(models: Any, config: Any = None, **headers: str) -> Any:
    """Start a stream; ``headers`` become fake-server overrides (``error="disconnect"`` → ``x-fake-error``)."""
    if headers:
        extra = {f"x-fake-{key.replace('_', '-')}": value for key, value in headers.items()}
        config = {**(config or {}), "http_options": {"headers": extra}}
    return await resolve(models.generate_content_stream(model=MODEL, contents=PROMPT, config=config))


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
async def test_gemini_stream_records_time_to_first_chunk_gaps_and_usage(
    models: Any, gemini_server: FakeServerProcess, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    chunks = await drain(await open_stream(models))
    assert [chunk.text for chunk in chunks] == ["tok1 ", "tok2 ", "tok3 ", "tok4 ", "tok5 "]

    span = assert_ended_once(span_exporter, metric_reader, None)
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.operation.name"] == "generate_content" and attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.response.id"] == chunks[0].response_id
    assert attrs["gen_ai.response.model"] == MODEL
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    # Usage is cumulative on every chunk: the last one counts.
    assert attrs["gen_ai.usage.input_tokens"] == 4 and attrs["gen_ai.usage.output_tokens"] == 5
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and 0.01 <= ttfc < 5  # the server waits ttft=0.01 s
    (ttfc_point,) = points(metric_reader, TTFC)
    assert ttfc_point.sum == pytest.approx(ttfc)
    assert ttfc_point.attributes["gen_ai.response.model"] == MODEL
    assert ttfc_point.attributes["server.port"] == gemini_server.port
    assert total_count(metric_reader, PER_CHUNK) == len(chunks) - 1
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in points(metric_reader, TOKENS)}
    assert tokens == {"input": 4, "output": 5}
    (per_token,) = points(metric_reader, PER_TOKEN)
    assert per_token.count == 1 and tuple(per_token.explicit_bounds) == TIME_PER_TOKEN_BUCKETS
    (duration,) = points(metric_reader, DURATION)
    assert 0 < per_token.sum < duration.sum


async def test_gemini_stream_thoughts_candidates_and_capture(
    instrument: Any, models: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(capture_content=True)
    config = {
        "candidate_count": 2,
        "max_output_tokens": 3,
        "http_options": {"headers": {"x-fake-reasoning-tokens": "2"}},
    }
    await drain(await resolve(models.generate_content_stream(model=MODEL, contents=PROMPT, config=config)))
    attrs = dict(only_span(span_exporter).attributes or {})
    assert attrs["gen_ai.response.finish_reasons"] == ("max_tokens", "max_tokens")
    assert attrs["gen_ai.usage.output_tokens"] == 2 * 3 + 2 * 2  # visible tokens plus thoughts
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 4
    message = {"role": "assistant", "parts": [{"type": "text", "content": "tok1 tok2 tok3 "}]}
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [{**message, "finish_reason": "max_tokens"}] * 2


# --- how a stream ends ------------------------------------------------------------------


@pytest.mark.usefixtures("instrumented")
async def test_gemini_stream_full_consumption_then_close_ends_once(
    models: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(models)
    assert len(await drain(stream)) == 5
    await close(stream)  # closing a finished stream must not end it twice
    assert_ended_once(span_exporter, metric_reader, None)


@pytest.mark.usefixtures("instrumented")
async def test_gemini_stream_break_then_close_is_cancelled(
    models: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(models)
    await take(stream)
    assert span_exporter.get_finished_spans() == ()  # still open until closed
    await close(stream)
    span = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert span.attributes["gen_ai.usage.output_tokens"] == 1  # what the stream said before it was closed
    assert total_count(metric_reader, TTFC) == 1


@pytest.mark.usefixtures("instrumented")
async def test_gemini_stream_closing_block_left_early_is_cancelled(
    models: Any, mode: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    """``closing``/``aclosing`` blocks close the stream on the way out, error or not: ``cancelled``."""

    class CallerBug(Exception):
        pass

    stream = await open_stream(models)
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
@pytest.mark.parametrize(("fault", "sdk_error"), [("disconnect", None), ("stream-error", errors.ServerError)])
async def test_gemini_stream_server_error_mid_stream(
    models: Any,
    fault: str,
    sdk_error: type[Exception] | None,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    stream = await open_stream(models, error=fault, error_after="3")
    received = []
    with pytest.raises(Exception) as raised:
        for _ in range(100):
            received.append(await take(stream))
    assert len(received) == 3
    if sdk_error is not None:
        assert type(raised.value) is sdk_error and raised.value.code == 500
    else:  # the SDK lets the HTTP client's protocol error through
        assert type(raised.value).__name__ == "RemoteProtocolError"
        assert type(raised.value).__module__.split(".")[0] in ("httpx", "httpx2")
    span = assert_ended_once(span_exporter, metric_reader, type(raised.value).__name__)
    assert [event.name for event in span.events] == ["exception"]
    assert total_count(metric_reader, TTFC) == 1 and total_count(metric_reader, PER_CHUNK) == 2


@pytest.mark.usefixtures("instrumented")
async def test_gemini_stream_rejected_request_fails_at_the_first_chunk(
    models: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(models, error="429")  # the request is sent when iteration starts
    assert span_exporter.get_finished_spans() == ()
    with pytest.raises(errors.ClientError) as raised:
        await take(stream)
    assert raised.value.code == 429
    span = assert_ended_once(span_exporter, metric_reader, "ClientError")
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes
    assert points(metric_reader, TTFC) == [] and points(metric_reader, TOKENS) == []


@pytest.mark.usefixtures("instrumented")
async def test_gemini_stream_abandoned_is_finished_by_garbage_collection(
    models: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(models)
    await take(stream)
    del stream
    gc.collect()
    assert_ended_once(span_exporter, metric_reader, "abandoned")


@pytest.mark.usefixtures("instrumented")
async def test_gemini_stream_never_iterated_and_dropped_is_abandoned(
    models: Any, gemini_server: FakeServerProcess, span_exporter: InMemorySpanExporter, metric_reader: Any
) -> None:
    gemini_server.reset()
    await open_stream(models)  # result dropped on the floor: the SDK never sends the request
    gc.collect()
    assert_ended_once(span_exporter, metric_reader, "abandoned")
    assert total_count(metric_reader, TTFC) == 0
    assert gemini_server.stats()["total_requests"] == 0
