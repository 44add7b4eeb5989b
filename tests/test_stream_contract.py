# SPDX-License-Identifier: Apache-2.0
"""The stream proxy contract, on plain fake streams (no SDK): the guarantees every provider inherits."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from helpers import only_span, total_count
from otel_llmperf.config import Settings
from otel_llmperf.instruments import Instruments
from otel_llmperf.invocation import Invocation, Telemetry
from otel_llmperf.providers.base import Api, ChunkKind, RequestInfo, ResponseInfo, ResultKind, Usage
from otel_llmperf.streams import AsyncStreamProxy, SyncStreamProxy, route_result

DURATION = "gen_ai.client.operation.duration"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PER_CHUNK = "gen_ai.client.operation.time_per_output_chunk"


class Folder:
    """Counts chunks; the last chunk ("usage") reports 3 output tokens."""

    def __init__(self, capture: bool) -> None:
        self.response_model = "toy-1"
        self.seen = 0
        self.fail = False

    def fold(self, chunk: Any) -> ChunkKind:
        if self.fail:
            raise RuntimeError("folder bug")
        self.seen += 1
        return ChunkKind.USAGE_ONLY if chunk == "usage" else ChunkKind.OUTPUT

    def result(self) -> ResponseInfo:
        return ResponseInfo(response_model="toy-1", usage=Usage(input_tokens=1, output_tokens=3))


API = Api(
    operation="chat",
    request_attributes=lambda kwargs: {},
    input_messages=lambda kwargs: None,
    response_info=lambda response, capture: ResponseInfo(response_model="toy-1"),
    new_folder=Folder,
)


class ToyAdapter:
    name = "llmperf_toy"
    package = "toy"
    requirement = "toy"

    def patch_targets(self) -> list[Any]:
        return []

    def request_info(self, api: Api, instance: Any, kwargs: Mapping[str, Any]) -> RequestInfo:
        return RequestInfo("chat", "toy", "toy-model", "127.0.0.1", 1, stream=bool(kwargs.get("stream")))

    def result_kind(self, result: Any) -> ResultKind:
        if isinstance(result, FakeStream):
            return ResultKind.STREAM
        if isinstance(result, FakeAsyncStream):
            return ResultKind.ASYNC_STREAM
        return ResultKind.PARSED

    def with_stream_usage(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        return None


class FakeStream:
    """Stands in for an SDK stream: iterable, closable, a context manager, with extra attributes."""

    def __init__(self, chunks: list[Any], error: BaseException | None = None) -> None:
        self._chunks = iter(chunks)
        self._error = error
        self.closed = 0
        self.response = "the-http-response"
        self.headers = {"x-request-id": "r1"}

    def __next__(self) -> Any:
        for chunk in self._chunks:
            return chunk
        if self._error is not None:
            raise self._error
        raise StopIteration

    def __iter__(self) -> Iterator[Any]:
        return self

    def close(self) -> None:
        self.closed += 1

    def __enter__(self) -> FakeStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def until_done(self) -> str:
        return "sdk-method"


class FakeAsyncStream:
    def __init__(self, chunks: list[Any], error: BaseException | None = None) -> None:
        self._chunks = iter(chunks)
        self._error = error
        self.closed = 0
        self.response = "the-http-response"

    async def __anext__(self) -> Any:
        for chunk in self._chunks:
            return chunk
        if self._error is not None:
            raise self._error
        raise StopAsyncIteration

    def __aiter__(self) -> FakeAsyncStream:
        return self

    async def close(self) -> None:
        self.closed += 1

    async def __aenter__(self) -> FakeAsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


@pytest.fixture(name="telemetry")
def fixture_telemetry(tracer_provider: Any, meter_provider: Any) -> Telemetry:
    return Telemetry(
        tracer_provider.get_tracer("test"),
        Instruments(meter_provider.get_meter("test")),
        Settings(),
        ToyAdapter(),  # type: ignore[arg-type]
    )


def start(telemetry: Telemetry, stream: bool = True) -> Invocation:
    invocation = telemetry.begin(API, None, {"stream": stream})
    assert invocation is not None
    return invocation


def test_sync_stream_processes_chunks_and_ends_once(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = route_result(start(telemetry), FakeStream(["a", "b", "c"]))
    assert isinstance(stream, SyncStreamProxy)
    assert list(stream) == ["a", "b", "c"]
    with pytest.raises(StopIteration):
        next(stream)  # iterating past the end does not end the call again
    stream.close()
    assert "error.type" not in (only_span(span_exporter).attributes or {})
    assert total_count(metric_reader, DURATION) == 1
    assert total_count(metric_reader, TTFC) == 1
    assert total_count(metric_reader, PER_CHUNK) == 2
    assert total_count(metric_reader, "llmperf.client.time_per_output_token") == 1


def test_sync_stream_close_ends_once(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    fake = FakeStream(["a", "b"])
    stream = route_result(start(telemetry), fake)
    next(stream)
    stream.close()
    stream.close()
    assert fake.closed == 2  # the SDK's close is always called
    assert only_span(span_exporter).attributes["error.type"] == "cancelled"
    assert total_count(metric_reader, DURATION) == 1


def test_sync_stream_passes_attributes_through(telemetry: Telemetry) -> None:
    fake = FakeStream(["a"])
    stream = route_result(start(telemetry), fake)
    assert stream.response == "the-http-response"
    assert stream.headers == {"x-request-id": "r1"}
    assert stream.until_done() == "sdk-method"
    assert isinstance(stream, FakeStream)
    assert stream.__wrapped__ is fake
    stream.close()


def test_sync_stream_user_error_wins_over_a_broken_hook(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    invocation = start(telemetry)
    stream = route_result(invocation, FakeStream(["a", "b"]))
    invocation.folder.fail = True  # type: ignore[union-attr]
    with pytest.raises(KeyError, match="caller"), stream:
        for _chunk in stream:
            raise KeyError("caller")
    assert only_span(span_exporter).attributes["error.type"] == "KeyError"
    assert total_count(metric_reader, DURATION) == 1


def test_sync_stream_hook_errors_are_swallowed(telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    invocation = start(telemetry)
    stream = route_result(invocation, FakeStream(["a", "b"]))
    invocation.folder.fail = True  # type: ignore[union-attr]
    assert list(stream) == ["a", "b"]
    assert len(span_exporter.get_finished_spans()) == 1


def test_sync_stream_sdk_error_is_reraised_unchanged(telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    error = ConnectionResetError("peer went away")
    stream = route_result(start(telemetry), FakeStream(["a"], error=error))
    with pytest.raises(ConnectionResetError) as raised:
        list(stream)
    assert raised.value is error
    assert only_span(span_exporter).attributes["error.type"] == "ConnectionResetError"


def test_sync_stream_garbage_collected_is_abandoned(telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    stream = route_result(start(telemetry), FakeStream(["a", "b"]))
    next(stream)
    del stream
    gc.collect()
    assert only_span(span_exporter).attributes["error.type"] == "abandoned"


def test_time_to_first_chunk_only_for_streams(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    assert route_result(start(telemetry, stream=False), "a parsed response") == "a parsed response"
    assert total_count(metric_reader, DURATION) == 1
    assert total_count(metric_reader, TTFC) == 0
    assert "gen_ai.response.time_to_first_chunk" not in (only_span(span_exporter).attributes or {})


async def test_async_stream_processes_chunks_and_ends_once(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = route_result(start(telemetry), FakeAsyncStream(["a", "b", "c"]))
    assert isinstance(stream, AsyncStreamProxy)
    assert [chunk async for chunk in stream] == ["a", "b", "c"]
    await stream.close()
    assert "error.type" not in (only_span(span_exporter).attributes or {})
    assert total_count(metric_reader, DURATION) == 1 and total_count(metric_reader, TTFC) == 1


async def test_async_stream_close_and_context_exit_end_once(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    fake = FakeAsyncStream(["a", "b"])
    stream = route_result(start(telemetry), fake)
    async with stream as entered:
        assert entered is stream
        await stream.__anext__()
    await stream.close()
    assert fake.closed == 2
    assert only_span(span_exporter).attributes["error.type"] == "cancelled"
    assert total_count(metric_reader, DURATION) == 1
    assert stream.response == "the-http-response"


async def test_async_stream_user_error_wins(telemetry: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    stream = route_result(start(telemetry), FakeAsyncStream(["a", "b"]))
    with pytest.raises(ValueError, match="caller"):
        async with stream:
            async for _chunk in stream:
                raise ValueError("caller")
    assert only_span(span_exporter).attributes["error.type"] == "ValueError"


async def test_async_stream_garbage_collected_is_abandoned(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    stream = route_result(start(telemetry), FakeAsyncStream(["a", "b"]))
    await stream.__anext__()
    del stream
    gc.collect()
    assert only_span(span_exporter).attributes["error.type"] == "abandoned"


class _Iterator:
    """A stream with neither close() nor aclose() of its own (Bedrock's event stream has no aclose either)."""

    def __init__(self, chunks: list[Any]) -> None:
        self._chunks = iter(chunks)

    def __next__(self) -> Any:
        return next(self._chunks)


@pytest.mark.parametrize(
    ("stream_class", "proxy_class"),
    [(FakeStream, SyncStreamProxy), (FakeAsyncStream, AsyncStreamProxy), (_Iterator, SyncStreamProxy)],
)
def test_streams_have_exactly_the_close_methods_of_the_sdk_stream(
    telemetry: Telemetry, stream_class: Any, proxy_class: Any
) -> None:
    # Callers pick how to close with hasattr/getattr(stream, "aclose", None): the proxy must answer as the SDK's.
    sdk_stream = stream_class(["a"])
    proxied = proxy_class(sdk_stream, start(telemetry))
    for name in ("close", "aclose"):
        assert hasattr(proxied, name) == hasattr(sdk_stream, name), name
