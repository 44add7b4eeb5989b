# SPDX-License-Identifier: Apache-2.0
"""otel-llmperf beside real GenAI instrumentations from PyPI: one record per call, originals restored.

The peers are OpenLLMetry's ``opentelemetry-instrumentation-anthropic`` (wraps with wrapt, starts
a span that is *not* current, unwraps with ``opentelemetry.instrumentation.utils.unwrap``) and
the OpenTelemetry contrib ``opentelemetry-instrumentation-google-genai`` (wraps with wrapt and
restores a snapshot of the class attributes it took before wrapping). Each is installed before
and after ours and removed in both orders, with the real SDKs talking to the fake server.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import pytest
from google import genai
from google.genai import models as genai_models
from google.genai import types
from opentelemetry.instrumentation import anthropic as anthropic_peer
from opentelemetry.instrumentation import google_genai as google_peer
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_SYSTEM,
)
from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import GEN_AI_CLIENT_OPERATION_DURATION
from opentelemetry.trace import SpanKind

import otel_llmperf
from fakeserver import FakeServerProcess
from helpers import counter_value, drain, resolve, take
from otel_llmperf.instruments import LLMPERF_USAGE_COST
from otel_llmperf.registry import REGISTRY

ANTHROPIC_MODEL = "claude-haiku-4-5"
GEMINI_MODEL = "gemini-2.5-flash"
CALLS = 2


@dataclass(frozen=True)
class Peer:
    """A real GenAI instrumentation of one SDK, the SDK methods both of us wrap, and one call."""

    name: str
    methods: tuple[tuple[Any, str], ...]
    make: Callable[[], Any]
    instrument_options: dict[str, Any]
    client: Callable[[str, str], Any]
    call: Callable[..., Any]


async def end_stream(result: Any, how: str) -> None:
    """End a sync or async stream as the caller chose: read to the end, closed early, or abandoned."""
    if how == "end":
        await drain(result)
        return
    await take(result)
    if how == "close":
        close = getattr(result, "aclose", None) or result.close  # a generator's, or the SDK stream's
        await resolve(close())
    else:  # abandoned: the last reference goes, the collector finds the stream unfinished
        del result
        gc.collect()


async def anthropic_call(client: Any, stream: bool, how: str = "end") -> None:
    request = {"model": ANTHROPIC_MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "Say hello"}]}
    result = await resolve(client.messages.create(**request, stream=stream))
    if stream:
        await end_stream(result, how)


def anthropic_client(mode: str, url: str) -> Any:
    cls = anthropic.AsyncAnthropic if mode == "async" else anthropic.Anthropic
    return cls(base_url=f"{url}/anthropic", api_key="test-key", max_retries=0, timeout=10.0)


@dataclass
class Gemini:
    """A google-genai client (closing it when collected) and the sync or async models of it."""

    client: genai.Client
    models: Any

    async def close(self) -> None:
        await self.client.aio.aclose()
        self.client.close()


async def gemini_call(gemini: Gemini, stream: bool, how: str = "end") -> None:
    models = gemini.models
    if stream:
        await end_stream(await resolve(models.generate_content_stream(model=GEMINI_MODEL, contents="Say hello")), how)
    else:
        await resolve(models.generate_content(model=GEMINI_MODEL, contents="Say hello"))


def gemini_client(mode: str, url: str) -> Gemini:
    options = types.HttpOptions(
        base_url=f"{url}/gemini/", retry_options=types.HttpRetryOptions(attempts=1), timeout=10_000
    )
    client = genai.Client(api_key="test-key", http_options=options)
    return Gemini(client, client.aio.models if mode == "async" else client.models)


PEERS = {
    "openllmetry-anthropic": Peer(
        "openllmetry-anthropic",
        tuple(
            (owner, name)
            for owner in (anthropic.resources.messages.Messages, anthropic.resources.messages.AsyncMessages)
            for name in ("create", "stream")
        ),
        anthropic_peer.AnthropicInstrumentor,
        {},
        anthropic_client,
        anthropic_call,
    ),
    "contrib-google-genai": Peer(
        "contrib-google-genai",
        tuple(
            (owner, name)
            for owner in (genai_models.Models, genai_models.AsyncModels)
            for name in ("generate_content", "generate_content_stream", "embed_content")
        ),
        google_peer.GoogleGenAiSdkInstrumentor,
        # It asks for google-genai < 3; 3.6 works with it, so the check is skipped.
        {"skip_dep_check": True},
        gemini_client,
        gemini_call,
    ),
}


# The SDK functions as imported, before anything wrapped them: put back after each removal test.
PRISTINE = {(owner, name): vars(owner)[name] for peer in PEERS.values() for owner, name in peer.methods}


@pytest.fixture(name="peer", params=sorted(PEERS))
def fixture_peer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Peer:
    # The contrib instrumentation writes this variable when it instruments; monkeypatch puts it back.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "false")
    return PEERS[str(request.param)]


@dataclass
class Telemetry:
    """Explicit providers both instrumentations record into."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider

    def genai_client_spans(self) -> list[Any]:
        return [
            span
            for span in self.spans.get_finished_spans()
            if span.kind is SpanKind.CLIENT
            and any(
                key in (span.attributes or {}) for key in (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_SYSTEM)
            )
        ]

    def duration_records(self) -> int:
        # Every scope: the peer records the duration under the same name as we do.
        data = self.reader.get_metrics_data()
        return sum(
            point.count
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == GEN_AI_CLIENT_OPERATION_DURATION
            for point in metric.data.data_points  # type: ignore[union-attr]
        )

    def cost(self) -> float:
        return counter_value(self.reader, LLMPERF_USAGE_COST)


@pytest.fixture(name="telemetry")
def fixture_telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(spans, reader, tracer_provider, meter_provider, LoggerProvider())
    meter_provider.shutdown()


class Layers:
    """Installs and removes ours and the peer in a chosen order; removes what is left at the end."""

    def __init__(self, peer: Peer, telemetry: Telemetry) -> None:
        self.peer = peer
        self.telemetry = telemetry
        self.installed: list[str] = []

    def install(self, which: str) -> None:
        providers = {
            "tracer_provider": self.telemetry.tracer_provider,
            "meter_provider": self.telemetry.meter_provider,
            "logger_provider": self.telemetry.logger_provider,
        }
        if which == "ours":
            otel_llmperf.instrument(**providers)
        else:
            self.peer.make().instrument(**providers, **self.peer.instrument_options)
        self.installed.append(which)

    def remove(self, which: str) -> None:
        if which == "ours":
            otel_llmperf.uninstrument()
            REGISTRY.clear()
        else:
            self.peer.make().uninstrument()
        self.installed.remove(which)

    def close(self) -> None:
        for which in reversed(list(self.installed)):
            self.remove(which)


@pytest.fixture(name="layers")
def fixture_layers(peer: Peer, telemetry: Telemetry) -> Iterator[Layers]:
    layers = Layers(peer, telemetry)
    yield layers
    layers.close()


@pytest.fixture(name="sdk_client")
async def fixture_sdk_client(peer: Peer, mode: str, fake_server: FakeServerProcess) -> AsyncIterator[Any]:
    client = peer.client(mode, fake_server.url)
    yield client
    await resolve(client.close())


async def cost_of_our_own(peer: Peer, client: Any, stream: bool) -> float:
    """What otel-llmperf alone records as the cost of one such call."""
    alone = Telemetry(
        InMemorySpanExporter(), InMemoryMetricReader(), TracerProvider(), MeterProvider(), LoggerProvider()
    )
    alone.meter_provider = MeterProvider(metric_readers=[alone.reader])
    layers = Layers(peer, alone)
    layers.install("ours")
    try:
        await peer.call(client, stream)
    finally:
        layers.close()
        alone.meter_provider.shutdown()
    return alone.cost()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("first", ["ours", "peer"], ids=["ours-first", "peer-first"])
async def test_each_call_has_one_span_one_duration_and_its_cost_once(
    peer: Peer, layers: Layers, telemetry: Telemetry, sdk_client: Any, first: str, stream: bool
) -> None:
    one_call_cost = await cost_of_our_own(peer, sdk_client, stream)
    assert one_call_cost > 0  # the shipped price table knows the model
    layers.install(first)
    layers.install("peer" if first == "ours" else "ours")
    for _ in range(CALLS):
        await peer.call(sdk_client, stream)
    spans = telemetry.genai_client_spans()
    assert len(spans) == CALLS, [(span.name, span.instrumentation_scope.name) for span in spans]
    # The other instrumentation keeps the span; ours adds what it does not record.
    assert {span.instrumentation_scope.name for span in spans} != {"otel_llmperf"}
    assert telemetry.duration_records() == CALLS
    assert telemetry.cost() == pytest.approx(CALLS * one_call_cost)


@pytest.mark.parametrize("how", ["close", "abandon"])
@pytest.mark.parametrize("first", ["ours", "peer"], ids=["ours-first", "peer-first"])
async def test_streams_ended_early_are_never_recorded_twice(
    peer: Peer, layers: Layers, telemetry: Telemetry, sdk_client: Any, first: str, how: str
) -> None:
    # How a peer records a stream the caller left early is its own business; two records are ours to prevent.
    layers.install(first)
    layers.install("peer" if first == "ours" else "ours")
    for _ in range(CALLS):
        await peer.call(sdk_client, True, how)
    gc.collect()
    spans = telemetry.genai_client_spans()
    assert len(spans) <= CALLS, [(span.name, span.instrumentation_scope.name) for span in spans]
    assert "otel_llmperf" not in {span.instrumentation_scope.name for span in spans}
    assert telemetry.duration_records() <= CALLS


@pytest.mark.parametrize("removed_first", ["ours", "peer"], ids=["ours-removed-first", "peer-removed-first"])
@pytest.mark.parametrize("first", ["ours", "peer"], ids=["ours-first", "peer-first"])
def test_removing_both_in_any_order_restores_the_sdk_functions(
    request: pytest.FixtureRequest,
    peer: Peer,
    layers: Layers,
    first: str,
    removed_first: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if peer.name == "contrib-google-genai" and first == "ours" and removed_first == "ours":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="the contrib instrumentation puts back the attribute it saved before wrapping, which was "
                "our wrapper (it then passes calls straight through)",
            )
        )
    originals = {(owner, name): PRISTINE[owner, name] for owner, name in peer.methods}
    request.addfinalizer(lambda: [setattr(owner, name, original) for (owner, name), original in originals.items()])
    with caplog.at_level(logging.WARNING, logger="otel_llmperf"):
        layers.install(first)
        layers.install("peer" if first == "ours" else "ours")
        layers.remove(removed_first)
        layers.remove("peer" if removed_first == "ours" else "ours")
    assert [record.getMessage() for record in caplog.records if record.name == "otel_llmperf"] == []
    for (owner, name), original in originals.items():
        assert vars(owner)[name] is original, f"{owner.__qualname__}.{name}"


async def test_a_peer_removed_from_above_ours_leaves_ours_recording(
    peer: Peer, layers: Layers, telemetry: Telemetry, sdk_client: Any
) -> None:
    layers.install("ours")
    ours = {(owner, name): vars(owner)[name] for owner, name in peer.methods}
    layers.install("peer")
    layers.remove("peer")
    for (owner, name), wrapper in ours.items():
        attribute = vars(owner)[name]
        # Our wrapper, or the binding of it the peer's unwrap() put back: either way still ours.
        assert attribute is wrapper or attribute._self_parent is wrapper, f"{owner.__qualname__}.{name}"
    await peer.call(sdk_client, False)
    assert [span.instrumentation_scope.name for span in telemetry.genai_client_spans()] == ["otel_llmperf"]
    assert telemetry.duration_records() == 1


@pytest.mark.parametrize("peer", ["contrib-google-genai"], indirect=True)
def test_our_wrapper_put_back_by_a_snapshot_restores_the_original_on_its_first_call(
    fake_server: FakeServerProcess, layers: Layers, telemetry: Telemetry
) -> None:
    # The one order where identity cannot hold right after removal: ours first, the contrib
    # instrumentation (which saved our wrapper) second, ours removed first. Only that peer
    # puts back a snapshot it took before wrapping.
    original = vars(genai_models.Models)["generate_content"]
    layers.install("ours")
    layers.install("peer")
    layers.remove("ours")
    layers.remove("peer")
    assert vars(genai_models.Models)["generate_content"] is not original
    gemini = gemini_client("sync", fake_server.url)
    try:
        gemini.models.generate_content(model=GEMINI_MODEL, contents="Say hello")
    finally:
        gemini.client.close()
    assert vars(genai_models.Models)["generate_content"] is original
    assert telemetry.genai_client_spans() == []
    assert telemetry.duration_records() == 0
