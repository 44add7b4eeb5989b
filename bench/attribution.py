# SPDX-License-Identifier: Apache-2.0
"""Where our added time goes, stage by stage, next to the floor, timed without a profiler.

cProfile charges a fixed cost to every Python call it sees, so it inflates code made of many
small calls (ours, the SDK's attribute handling) more than straight-line code (the floor).
Here each stage of an instrumented call is timed on its own in a loop over prepared inputs,
with the thread CPU clock, the median of several repeats:

* the whole instrumentation around a method that does nothing (the SDK call costs zero here,
  so this is the added time with the HTTP/SDK noise removed), ours through wrapt exactly as
  installed on the SDK, the floor as in ``floor.py``;
* ours split into its stages (wrapt dispatch, ``Telemetry.begin``, context attach/detach,
  ``route_result``) and the SDK work inside them (``start_span``, histogram records,
  ``span.end``), so what is left is our own Python;
* per stream chunk: the slope between iterating 50 and 10 chunks, ours (the stream proxy and
  ``observe``) against the floor's inline loop and a bare ``Histogram.record``.

It reaches into otel-llmperf internals (``Telemetry``, ``Invocation``, ``route_result``); a
stage whose internals moved reports its error instead of a number.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import openai
import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace

import otel_llmperf
from common import REQUEST, STREAM_REQUEST, Clients, Sinks
from floor import Floor
from otel_llmperf.providers.openai import ADAPTER, CHAT_API, PATCH_TARGETS
from otel_llmperf.streams import SyncStreamProxy, route_result
from otel_llmperf.wrappers import make_wrapper

CLOCK = time.thread_time_ns
LONG, SHORT = 50, 10  # output chunks in the two stream lengths whose difference gives the slope


def _stage(prepare: Callable[[int], Any], run: Callable[[Any], None], n: int, repeats: int) -> float:
    """Median over ``repeats`` of the per-item µs of ``run(prepare(n))``; only ``run`` is timed."""
    samples = []
    for _ in range(repeats):
        state = prepare(n)
        gc.collect()
        start = CLOCK()
        run(state)
        samples.append((CLOCK() - start) / n / 1e3)
    return statistics.median(samples)


class _Completions:
    """Stands in for ``client.chat.completions``: same ``_client``, a ``create`` that does no work."""

    def __init__(self, client: Any, result: Any) -> None:
        self._client = client
        self._result = result

    def create(self, **kwargs: Any) -> Any:
        return self._result


class _Wrapped(_Completions):
    """The same, with ``create`` wrapped below exactly as ``instrument()`` wraps the SDK's."""


class _Passthrough(_Completions):
    """The same, with ``create`` wrapped by a wrapt wrapper that only calls through."""


class _Client:
    """Stands in for ``OpenAI`` where the floor needs it: ``base_url`` and ``chat.completions``."""

    def __init__(self, client: Any, completions: Any) -> None:
        self.base_url = client.base_url
        self.chat = self
        self.completions = completions


def run(sinks: Sinks, clients: Clients, quick: bool) -> dict[str, Any]:
    """Every stage's µs per call (or per chunk), ours and the floor."""
    n, repeats = (200, 3) if quick else (3000, 7)
    response = clients.sync.chat.completions.create(**REQUEST)
    chunks = list(clients.stream.chat.completions.create(**STREAM_REQUEST))  # 50 with choices + usage
    short_chunks = chunks[: SHORT - 2] + chunks[-3:]
    otel_llmperf.instrument(tracer_provider=sinks.tracer_provider, meter_provider=sinks.meter_provider)
    try:
        return _measure(sinks, clients, response, chunks, short_chunks, n, repeats)
    finally:
        otel_llmperf.uninstrument()


def _measure(
    sinks: Sinks,
    clients: Clients,
    response: Any,
    chunks: list[Any],
    short_chunks: list[Any],
    n: int,
    repeats: int,
) -> dict[str, Any]:
    telemetry = otel_llmperf._active[0].telemetry  # openai is imported: its hooks have patched it
    assert telemetry is not None
    instruments = telemetry.instruments
    target = next(t for t in PATCH_TARGETS if t.attribute == "Completions.create" and not t.is_async)
    wrapt.wrap_function_wrapper(_Wrapped, "create", make_wrapper(telemetry, target))
    wrapt.wrap_function_wrapper(_Passthrough, "create", lambda wrapped, instance, args, kwargs: wrapped(**kwargs))
    plain = _Completions(clients.sync, response)
    wrapped = _Wrapped(clients.sync, response)
    passthrough = _Passthrough(clients.sync, response)
    floor = Floor(sinks.tracer_provider, sinks.meter_provider)
    floor_client = _Client(clients.sync, plain)
    kwargs = dict(REQUEST)
    stream_kwargs = dict(STREAM_REQUEST)
    tracer = telemetry.tracer
    rows: list[dict[str, Any]] = []

    def add(stage: str, owner: str, measure: Callable[[], float], note: str = "") -> None:
        try:
            value: float | None = round(measure(), 2)
            error = ""
        except Exception as failure:  # internals moved: say so, keep the other stages
            value, error = None, f"{type(failure).__name__}: {failure}"
        rows.append({"stage": stage, "owner": owner, "us": value, "note": error or note})

    def calls(target_call: Callable[[], Any]) -> Callable[[], float]:
        def loop(state: Any) -> None:
            for _ in range(state):
                target_call()

        return lambda: _stage(lambda count: count, loop, n, repeats)

    # --- non-streaming call: the whole thing -------------------------------------------------
    add("no-op create(), uninstrumented", "baseline", calls(lambda: plain.create(**kwargs)))
    add("ours: whole instrumentation around a no-op create()", "ours", calls(lambda: wrapped.create(**kwargs)))
    add(
        "floor: whole instrumentation around a no-op create()",
        "floor",
        calls(lambda: floor.sync_call(floor_client, kwargs)),
    )

    # --- ours, stage by stage -----------------------------------------------------------------
    add("wrapt FunctionWrapper dispatch (pass-through wrapper)", "wrapt", calls(lambda: passthrough.create(**kwargs)))

    def begun(count: int) -> list[Any]:
        return [telemetry.begin(CHAT_API, wrapped, kwargs) for _ in range(count)]

    def end_all(invocations: list[Any]) -> None:
        for invocation in invocations:
            invocation.span.end()

    def time_begin() -> float:
        samples = []
        for _ in range(repeats):
            gc.collect()
            start = CLOCK()
            made = begun(n)
            samples.append((CLOCK() - start) / n / 1e3)
            end_all(made)
        return statistics.median(samples)

    add("Telemetry.begin: checks, request_info, start_span, request attributes", "ours", time_begin)
    add("  of which adapter.request_info", "ours", calls(lambda: ADAPTER.request_info(CHAT_API, wrapped, kwargs)))
    add("  of which api.request_attributes", "ours", calls(lambda: CHAT_API.request_attributes(kwargs)))
    span_attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.request.stream": False,
    }

    def time_start_span() -> float:
        samples = []
        for _ in range(repeats):
            gc.collect()
            start = CLOCK()
            spans = [
                tracer.start_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT, attributes=span_attrs)
                for _ in range(n)
            ]
            samples.append((CLOCK() - start) / n / 1e3)
            for span in spans:
                span.end()
        return statistics.median(samples)

    add("  of which tracer.start_span (SDK, 6 attributes)", "otel sdk", time_start_span)
    context = telemetry.begin(CHAT_API, wrapped, kwargs)
    assert context is not None
    context.span.end()
    add(
        "context attach + detach",
        "otel api",
        calls(lambda: otel_context.detach(otel_context.attach(context.context))),
    )
    add(
        "route_result: result_kind, response_info, 3 records, end attributes, span.end",
        "ours",
        lambda: _stage(begun, lambda invocations: [route_result(i, response) for i in invocations], n, repeats),
    )
    info = CHAT_API.response_info(response, False)

    def on_begun(action: Callable[[Any], Any]) -> Callable[[], float]:
        def run_all(invocations: list[Any]) -> None:
            for invocation in invocations:
                action(invocation)

        def measure() -> float:
            samples = []
            for _ in range(repeats):
                made = begun(n)
                gc.collect()
                start = CLOCK()
                run_all(made)
                samples.append((CLOCK() - start) / n / 1e3)
                end_all(made)
            return statistics.median(samples)

        return measure

    add(
        "  of which Invocation._record (3 histogram records, the cost total, attribute dicts)",
        "ours",
        on_begun(lambda invocation: invocation._record(time.perf_counter(), info, None)),
    )
    add(
        "  of which Invocation._describe_end (response attributes and cost, one set_attributes)",
        "ours",
        on_begun(lambda invocation: invocation._describe_end(info, None, None, "", 0.0001)),
    )
    end_attrs = {
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-bench0001",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 24,
        "gen_ai.usage.output_tokens": 49,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "openai.response.system_fingerprint": "fp_bench",
        "openai.response.service_tier": "default",
    }

    def new_spans(count: int) -> list[Any]:
        return [tracer.start_span("s") for _ in range(count)]

    def one_by_one(spans: list[Any]) -> None:
        for span in spans:
            for key, value in end_attrs.items():
                span.set_attribute(key, value)

    def all_at_once(spans: list[Any]) -> None:
        for span in spans:
            span.set_attributes(end_attrs)

    add(
        "    SDK: 9 end attributes by span.set_attribute", "otel sdk", lambda: _stage(new_spans, one_by_one, n, repeats)
    )
    add(
        "    SDK: 9 end attributes by one span.set_attributes",
        "otel sdk",
        lambda: _stage(new_spans, all_at_once, n, repeats),
    )
    add("  of which adapter.result_kind", "ours", calls(lambda: ADAPTER.result_kind(response)))
    add("  of which api.response_info", "ours", calls(lambda: CHAT_API.response_info(response, False)))
    metric_attrs = {**{k: v for k, v in span_attrs.items() if k != "gen_ai.request.stream"}}
    metric_attrs["gen_ai.response.model"] = "gpt-4o-mini-2024-07-18"
    ctx = context.context

    def three_records() -> None:
        instruments.duration.record(0.5, metric_attrs, ctx)
        instruments.token_usage.record(24, {**metric_attrs, "gen_ai.token.type": "input"}, ctx)
        instruments.token_usage.record(49, {**metric_attrs, "gen_ai.token.type": "output"}, ctx)

    add("  of which 3 Histogram.record with context (SDK)", "otel sdk", calls(three_records))
    add(
        "  of which the cost total (a dict update under a lock; the SDK reads it at collection)",
        "ours",
        calls(lambda: instruments.cost.add(0.0001, metric_attrs)),
    )
    add(
        "  of which span.end (SDK + SimpleSpanProcessor)",
        "otel sdk",
        lambda: _stage(
            lambda count: [tracer.start_span("s", attributes=span_attrs) for _ in range(count)],
            lambda spans: [span.end() for span in spans],
            n,
            repeats,
        ),
    )

    # --- per stream chunk ---------------------------------------------------------------------
    def ours_stream(items: list[Any]) -> Callable[[int], list[Any]]:
        def prepare(count: int) -> list[Any]:
            proxies = []
            for _ in range(count):
                invocation = telemetry.begin(CHAT_API, wrapped, stream_kwargs)
                proxies.append(SyncStreamProxy(iter(items), invocation))
            return proxies

        return prepare

    def consume(streams: list[Any]) -> None:
        for stream in streams:
            for _chunk in stream:
                pass

    def floor_stream(items: list[Any]) -> Callable[[int], list[Any]]:
        def prepare(count: int) -> list[Any]:
            return [(iter(items), *floor._start(floor_client, stream_kwargs, True)) for _ in range(count)]

        return prepare

    def floor_consume(prepared: list[Any]) -> None:
        start = time.perf_counter()
        for stream, span, attrs, span_ctx in prepared:
            floor.consume(stream, span, attrs, span_ctx, start)

    def slope(prepare: Callable[[list[Any]], Callable[[int], Any]], runner: Callable[[Any], None]) -> float:
        streams = max(n // 20, 10)
        long_us = _stage(prepare(chunks), runner, streams, repeats)
        short_us = _stage(prepare(short_chunks), runner, streams, repeats)
        return (long_us - short_us) / (LONG - SHORT)

    def plain_prepare(items: list[Any]) -> Callable[[int], list[Any]]:
        return lambda count: [iter(items) for _ in range(count)]

    add("per chunk: plain iteration", "baseline", lambda: slope(plain_prepare, consume))
    add("per chunk: ours (stream proxy __next__ + observe)", "ours", lambda: slope(ours_stream, consume))
    add("per chunk: floor (inline loop body)", "floor", lambda: slope(floor_stream, floor_consume))
    folder = CHAT_API.new_folder(False) if CHAT_API.new_folder else None
    add("  per chunk: ChoicesFolder.fold", "ours", calls(lambda: folder.fold(chunks[5])) if folder else lambda: 0.0)
    add(
        "  per chunk: 1 Histogram.record with context (SDK)",
        "otel sdk",
        calls(lambda: instruments.time_per_output_chunk.record(0.01, metric_attrs, ctx)),
    )
    add("  per chunk: time.perf_counter()", "stdlib", calls(time.perf_counter))
    return {"calls": n, "repeats": repeats, "openai": openai.__version__, "stages": rows}
