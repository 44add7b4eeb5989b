# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: explicit in-memory providers, the fake LLM server, real SDK clients.

Nothing here touches global OpenTelemetry providers or ``os.environ``: providers are passed
to ``instrument()`` explicitly and environment changes go through ``monkeypatch``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llmperf
from fakeserver import FakeServerProcess, start_fake_server
from otel_llmperf import assignment
from otel_llmperf.registry import REGISTRY

# Small, fixed latencies keep the suite fast while every timing metric stays non-zero.
SERVER_OPTIONS = {"ttft": 0.02, "token_delay": 0.002, "output_tokens": 5, "seed": 1}


@pytest.fixture(name="span_exporter")
def fixture_span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(name="metric_reader")
def fixture_metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture(name="tracer_provider")
def fixture_tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture(name="meter_provider")
def fixture_meter_provider(metric_reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[metric_reader])
    yield provider
    provider.shutdown()


@pytest.fixture(name="log_exporter")
def fixture_log_exporter() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()


@pytest.fixture(name="logger_provider")
def fixture_logger_provider(log_exporter: InMemoryLogRecordExporter) -> LoggerProvider:
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    return provider


@pytest.fixture(name="instrument")
def fixture_instrument(
    tracer_provider: TracerProvider, meter_provider: MeterProvider, logger_provider: LoggerProvider
) -> Iterator[Callable[..., None]]:
    """Call with options (``capture_content=True``, ...) to instrument; undone after the test."""

    def do(**options: Any) -> None:
        otel_llmperf.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, logger_provider=logger_provider, **options
        )

    yield do
    otel_llmperf.uninstrument()
    REGISTRY.clear()  # calls remembered for feedback belong to this test


@pytest.fixture(autouse=True)
def _forget_experiments() -> Iterator[None]:
    """Experiments a test declared (or an in-process demo did) are that test's: they would take variant slots."""
    yield
    assignment.forget()


@pytest.fixture(name="instrumented")
def fixture_instrumented(instrument: Callable[..., None]) -> None:
    """Instrumented with default settings."""
    instrument()


@pytest.fixture(name="fake_server", scope="session")
def fixture_fake_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(**SERVER_OPTIONS)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="fresh_server")
def fixture_fresh_server() -> Iterator[FakeServerProcess]:
    """A server of the test's own, for tests that read its request log."""
    server = start_fake_server(**SERVER_OPTIONS)
    try:
        yield server
    finally:
        server.stop()


_open_clients: list[Any] = []


def make_client(mode: str, base_url: str, **kwargs: Any) -> Any:
    """A real SDK client, sync or async, that never retries (so faults are seen once); closed after the test."""
    cls = openai.AsyncOpenAI if mode == "async" else openai.OpenAI
    client = cls(base_url=base_url, api_key="test-key", max_retries=0, timeout=10.0, **kwargs)
    _open_clients.append(client)
    return client


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    """Close every client a test made, in the test's own event loop (async clients need it)."""
    yield
    while _open_clients:
        client = _open_clients.pop()
        result = client.close()
        if hasattr(result, "__await__"):
            await result


@pytest.fixture(name="mode", params=["sync", "async"])
def fixture_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="client")
def fixture_client(mode: str, fake_server: FakeServerProcess) -> Any:
    """The real openai client, once sync and once async (tests are written once, for both)."""
    return make_client(mode, fake_server.base_url)
