# SPDX-License-Identifier: Apache-2.0
"""Every way a stream can end ends its call exactly once, with a documented outcome.

Real openai SDK (sync and async) against the fake server. The outcomes:
exhausted → no ``error.type``; closed early → ``cancelled``; the ``with`` block left by an
exception → that exception's class; an SDK error mid-stream → the SDK exception's class;
garbage-collected unfinished → ``abandoned``.
"""

from __future__ import annotations

import gc
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from helpers import drain, enter, leave, only_span, resolve, take, total_count

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "count to five"}]
DURATION = "gen_ai.client.operation.duration"
TTFC = "gen_ai.client.operation.time_to_first_chunk"

pytestmark = pytest.mark.usefixtures("instrumented")


async def open_stream(client: Any, **headers: str) -> Any:
    extra = {f"x-fake-{key.replace('_', '-')}": value for key, value in headers.items()}
    return await resolve(
        client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, extra_headers=extra)
    )


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


async def test_stream_full_consumption(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    assert len(await drain(stream)) > 1
    await resolve(stream.close())  # closing a finished stream must not end it twice
    assert_ended_once(span_exporter, metric_reader, None)


async def test_stream_break_then_close_is_cancelled(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    await take(stream)
    assert span_exporter.get_finished_spans() == ()  # still open until closed
    await resolve(stream.close())
    attrs = assert_ended_once(span_exporter, metric_reader, "cancelled")
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert total_count(metric_reader, TTFC) == 1  # a real first chunk arrived before the close


async def test_stream_with_block_exit_before_end_is_cancelled(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    entered = await enter(stream)
    assert entered is stream
    await take(stream)
    await leave(stream)
    assert_ended_once(span_exporter, metric_reader, "cancelled")


async def test_stream_with_block_after_full_consumption_is_ok(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    await enter(stream)
    await drain(stream)
    await leave(stream)
    assert_ended_once(span_exporter, metric_reader, None)


async def test_stream_user_exception_in_with_block_wins_and_is_recorded(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    class CallerBug(Exception):
        pass

    stream = await open_stream(client)
    await enter(stream)
    await take(stream)
    bug = CallerBug("raised by the caller's loop body")
    suppressed = await leave(stream, bug)
    assert not suppressed  # the caller's exception propagates from the with block
    assert_ended_once(span_exporter, metric_reader, "CallerBug")
    (event,) = only_span(span_exporter).events
    assert event.attributes["exception.type"].endswith("CallerBug")


def _transport_error() -> type[Exception]:
    # openai < 3 lets the HTTP library's protocol error through a disconnect; 3.x wraps it.
    import importlib

    module = importlib.import_module(openai._base_client.URL.__module__.split(".")[0])
    return module.RemoteProtocolError  # type: ignore[no-any-return]


@pytest.mark.parametrize("fault", ["disconnect", "stream-error"], ids=["disconnect", "error-event"])
async def test_stream_server_error_mid_stream(
    client: Any, fault: str, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    expected = (openai.APIConnectionError, _transport_error()) if fault == "disconnect" else (openai.APIError,)
    stream = await open_stream(client, error=fault, error_after="3")
    received = []
    with pytest.raises(expected) as raised:
        async_iter = hasattr(stream, "__anext__")
        for _ in range(100):
            received.append(await stream.__anext__() if async_iter else next(stream))
    assert len(received) >= 1
    # The SDK's own exception reaches the caller, and its class is the error type.
    assert type(raised.value).__module__.split(".")[0] in ("openai", "httpx", "httpx2")
    assert_ended_once(span_exporter, metric_reader, type(raised.value).__name__)
    assert total_count(metric_reader, TTFC) == 1


async def test_stream_abandoned_is_finished_by_garbage_collection(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    stream = await open_stream(client)
    await take(stream)
    del stream
    gc.collect()
    assert_ended_once(span_exporter, metric_reader, "abandoned")


async def test_stream_never_iterated_and_dropped_is_abandoned(
    client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    await open_stream(client)  # result dropped on the floor
    gc.collect()
    assert_ended_once(span_exporter, metric_reader, "abandoned")
    assert total_count(metric_reader, TTFC) == 0
