# SPDX-License-Identifier: Apache-2.0
"""Attribution that stays correct: variants follow tasks across pools, feedback ignores sampling.

Every call here is a real openai SDK call to the fake server; what is checked is the
``llmperf.variant`` and ``gen_ai.request.model`` the metrics carry. Each call's model names the
variant it must carry (``expect-b``, ``expect-none``), so one look at the points says which call,
if any, was attributed wrongly.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.pool import ThreadPool
from typing import Any

import openai
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

import otel_llmperf
from conftest import make_client
from fakeserver import FakeServerProcess
from helpers import metrics, points
from otel_llmperf import record_evaluation, record_feedback, variant
from otel_llmperf.registry import REGISTRY

DURATION = "gen_ai.client.operation.duration"


def expected(name: str | None) -> str:
    """The model name of a call that must carry variant ``name``."""
    return f"expect-{name or 'none'}"


def model_and_variant(point: Any) -> tuple[Any, Any]:
    """The request model and the variant of one data point."""
    attributes = point.attributes or {}
    return attributes.get("gen_ai.request.model"), attributes.get("llmperf.variant")


def misattributed(reader: InMemoryMetricReader) -> list[tuple[Any, Any, int]]:
    """Duration points whose variant is not the one their model names."""
    return [
        (*model_and_variant(point), point.count)
        for point in points(reader, DURATION)
        if model_and_variant(point)[0] != expected(model_and_variant(point)[1])
    ]


def calls_by_model(reader: InMemoryMetricReader) -> Counter[Any]:
    """How many calls each model made, from the duration metric."""
    counts: Counter[Any] = Counter()
    for point in points(reader, DURATION):
        counts[model_and_variant(point)[0]] += point.count
    return counts


@pytest.fixture(name="embed")
def fixture_embed(instrument: Callable[..., None], fake_server: FakeServerProcess) -> Callable[[str | None], None]:
    """Instrument, then a function making one real call that must carry the given variant."""
    instrument()
    client = make_client("sync", fake_server.base_url)

    def embed(name: str | None) -> None:
        client.embeddings.create(model=expected(name), input="x")

    return embed


# --- thread pools: the variant follows the submitted task ---------------------------------------


def test_single_worker_pool_started_inside_a_variant_does_not_keep_it(
    embed: Callable[[str | None], None], metric_reader: InMemoryMetricReader
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        with variant("b"):  # this submit starts the pool's only worker thread
            pool.submit(embed, "b").result(10)
        pool.submit(embed, None).result(10)
        with variant("a"):
            pool.submit(embed, "a").result(10)
        list(pool.map(embed, [None, None]))
        with variant("c"):
            list(pool.map(embed, ["c", "c"]))
        pool.submit(embed, None).result(10)
    assert misattributed(metric_reader) == []
    assert calls_by_model(metric_reader) == {"expect-b": 1, "expect-a": 1, "expect-c": 2, "expect-none": 4}


def test_shared_pool_of_many_workers_tags_each_task_by_its_submitter(
    embed: Callable[[str | None], None], metric_reader: InMemoryMetricReader
) -> None:
    names = [None, "a", "b"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for index in range(24):  # workers get started inside each of the variants (and none)
            name = names[index % 3]
            if name is None:
                futures.append(pool.submit(embed, None))
            else:
                with variant(name):
                    futures.append(pool.submit(embed, name))
        for future in futures:
            future.result(10)
    assert misattributed(metric_reader) == []
    assert calls_by_model(metric_reader) == {"expect-none": 8, "expect-a": 8, "expect-b": 8}


def test_multiprocessing_thread_pool_tasks_follow_their_submitter(
    embed: Callable[[str | None], None], metric_reader: InMemoryMetricReader
) -> None:
    with variant("b"):  # the pool's worker threads are all started here
        pool = ThreadPool(2)
    try:
        pool.apply(embed, (None,))
        pool.map(embed, [None, None])
        with variant("a"):
            pool.apply_async(embed, ("a",)).get(10)
            pool.starmap(embed, [("a",), ("a",)])
            list(pool.imap(embed, ["a"]))
            list(pool.imap_unordered(embed, ["a"]))
        with variant("c"):
            pool.map_async(embed, ["c"]).get(10)
        pool.apply(embed, (None,))
    finally:
        pool.terminate()
        pool.join()
    assert misattributed(metric_reader) == []
    assert calls_by_model(metric_reader) == {"expect-none": 4, "expect-a": 5, "expect-c": 1}


def test_multiprocessing_thread_pool_is_restored_by_uninstrument(instrument: Callable[..., None]) -> None:
    before = {name: vars(ThreadPool).get(name) for name in ("__init__", "apply_async", "_map_async", "imap")}
    instrument()
    assert vars(ThreadPool).get("apply_async") is not None
    otel_llmperf.uninstrument()
    assert {name: vars(ThreadPool).get(name) for name in before} == before


def test_concurrent_submitters_in_different_variants_share_a_pool(
    embed: Callable[[str | None], None], metric_reader: InMemoryMetricReader
) -> None:
    """Stress: threads in different variants (and none) submit at once to one shared pool."""
    names = [None, "a", "b", "c"]
    per_submitter = 60
    seen: list[tuple[str | None, str | None]] = []

    def task(name: str | None, index: int) -> None:
        seen.append((name, otel_llmperf.current_variant()))
        if index % 15 == 0:
            embed(name)

    with ThreadPoolExecutor(max_workers=4) as pool:
        started = threading.Barrier(4)
        with variant("x"):  # all four workers start inside a variant none of the tasks below has
            list(pool.map(lambda _: started.wait(10), range(4)))

        def submitter(name: str | None) -> None:
            futures = [pool.submit(task, name, index) for index in range(per_submitter)]
            for future in futures:
                future.result(10)

        def run(name: str | None) -> None:
            if name is None:
                submitter(None)
            else:
                with variant(name):
                    submitter(name)

        threads = [threading.Thread(target=run, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(seen) == len(names) * per_submitter
    assert [pair for pair in seen if pair[0] != pair[1]] == []
    assert misattributed(metric_reader) == []
    assert calls_by_model(metric_reader) == {expected(name): per_submitter // 15 for name in names}


def test_nested_pools(embed: Callable[[str | None], None], metric_reader: InMemoryMetricReader) -> None:
    with ThreadPoolExecutor(max_workers=2) as inner, ThreadPoolExecutor(max_workers=2) as outer:
        with variant("x"):  # the inner pool's workers start inside "x"
            inner.submit(embed, "x").result(10)

        def relay(name: str | None) -> None:
            inner.submit(embed, name).result(10)

        with variant("b"):
            outer.submit(relay, "b").result(10)
        outer.submit(relay, None).result(10)
        with variant("c"):
            list(outer.map(relay, ["c", "c"]))
    assert misattributed(metric_reader) == []
    assert calls_by_model(metric_reader) == {"expect-x": 1, "expect-b": 1, "expect-none": 1, "expect-c": 2}


def test_event_loop_executors_and_to_thread(
    embed: Callable[[str | None], None], metric_reader: InMemoryMetricReader
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=1) as shared:
            with variant("b"):  # starts both the shared worker and the loop's default executor
                await loop.run_in_executor(shared, embed, "b")
                await loop.run_in_executor(None, embed, "b")
                await asyncio.to_thread(embed, "b")
            await loop.run_in_executor(shared, embed, None)
            await loop.run_in_executor(None, embed, None)
            await asyncio.to_thread(embed, None)
            with variant("a"):
                await loop.run_in_executor(shared, embed, "a")
                await asyncio.to_thread(embed, "a")

    asyncio.run(main())
    assert misattributed(metric_reader) == []
    assert calls_by_model(metric_reader) == {"expect-b": 3, "expect-none": 3, "expect-a": 2}


def test_plain_threads_carry_the_variant_of_their_starter(
    embed: Callable[[str | None], None], metric_reader: InMemoryMetricReader
) -> None:
    def run(name: str | None) -> None:
        thread = threading.Thread(target=embed, args=(name,))
        thread.start()
        thread.join(10)

    with variant("b"):
        run("b")
        with ThreadPoolExecutor(max_workers=1) as pool:  # a thread started by a pool task
            pool.submit(run, "b").result(10)
    run(None)
    assert misattributed(metric_reader) == []
    assert calls_by_model(metric_reader) == {"expect-b": 2, "expect-none": 1}


# --- feedback and evaluations do not depend on head sampling -----------------------------------


@pytest.fixture(name="sampled_instrument")
def fixture_sampled_instrument(
    meter_provider: MeterProvider, logger_provider: LoggerProvider
) -> Iterator[Callable[[Sampler], TracerProvider]]:
    """Instrument with a tracer provider of the given sampler; return that provider."""

    def do(sampler: Sampler) -> TracerProvider:
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        otel_llmperf.instrument(
            tracer_provider=provider, meter_provider=meter_provider, logger_provider=logger_provider
        )
        return provider

    yield do
    otel_llmperf.uninstrument()
    REGISTRY.clear()


def feedback_counts(reader: InMemoryMetricReader, name: str) -> Counter[tuple[Any, Any]]:
    """(model, variant) → how many were counted, over the points of a counter."""
    metric = metrics(reader).get(name)
    counts: Counter[tuple[Any, Any]] = Counter()
    for point in metric.data.data_points if metric is not None else []:
        assert isinstance(point, NumberDataPoint)
        counts[model_and_variant(point)] += int(point.value)
    return counts


@pytest.mark.parametrize(
    "sampler",
    [ALWAYS_OFF, ALWAYS_ON, ParentBased(TraceIdRatioBased(0.5)), TraceIdRatioBased(0.5)],
    ids=["always_off", "always_on", "parent_based_ratio_0.5", "ratio_0.5"],
)
def test_feedback_in_the_request_span_finds_the_call_whatever_the_sampling(
    sampler: Sampler,
    sampled_instrument: Callable[[Sampler], TracerProvider],
    fake_server: FakeServerProcess,
    metric_reader: InMemoryMetricReader,
) -> None:
    provider = sampled_instrument(sampler)
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
    app = provider.get_tracer("app")
    calls = 40  # with a ratio of 0.5, both sampled and dropped request spans, for certain
    sampled = 0
    for index in range(calls):
        name = "a" if index % 2 else "b"
        with app.start_as_current_span("handle request") as request_span:
            sampled += request_span.is_recording()
            with variant(name):
                client.embeddings.create(model=expected(name), input="x")
            # No reference: the judged call is the latest one made inside the current span.
            record_feedback("thumbs", True)
            record_evaluation("relevance", score=0.5)
    client.close()
    if sampler not in (ALWAYS_ON, ALWAYS_OFF):  # ratio samplers: some request spans of each kind
        assert 0 < sampled < calls
    assert calls_by_model(metric_reader) == {"expect-a": calls // 2, "expect-b": calls // 2}
    want = {(expected("a"), "a"): calls // 2, (expected("b"), "b"): calls // 2}
    assert feedback_counts(metric_reader, "llmperf.feedback") == want
    scores: Counter[tuple[Any, Any]] = Counter()
    for point in points(metric_reader, "llmperf.evaluation.score"):
        scores[model_and_variant(point)] += point.count
    assert scores == want


def _stream_and_end(client: Any, name: str | None, how: str) -> None:
    """One streamed call whose model names its variant, ended the way ``how`` says."""
    headers = {"x-fake-error": "disconnect", "x-fake-error-after": "2"} if how == "cut" else {}
    stream = client.chat.completions.create(
        model=expected(name), messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers=headers
    )
    if how == "end":
        list(stream)
    elif how == "cut":
        with pytest.raises(openai.APIConnectionError):
            list(stream)
    elif how == "close":
        next(stream)
        stream.close()
    elif how == "break":
        with stream:
            for _chunk in stream:
                break
    else:  # abandoned: the task drops its last reference unfinished
        next(stream)
        del stream
        gc.collect(0)


@pytest.mark.parametrize("how", ["end", "close", "break", "abandon", "cut"])
def test_pool_streams_carry_their_submitters_variant_however_they_end(
    instrument: Callable[..., None], fake_server: FakeServerProcess, metric_reader: InMemoryMetricReader, how: str
) -> None:
    instrument()
    client = make_client("sync", fake_server.base_url)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = []
        with variant("b"):  # both workers start inside "b"
            futures += [pool.submit(_stream_and_end, client, "b", how) for _ in range(2)]
        futures += [pool.submit(_stream_and_end, client, None, how) for _ in range(2)]
        with variant("a"):
            futures += [pool.submit(_stream_and_end, client, "a", how) for _ in range(2)]
        for future in futures:
            future.result(10)
    gc.collect()
    assert misattributed(metric_reader) == []
    assert calls_by_model(metric_reader) == {"expect-b": 2, "expect-none": 2, "expect-a": 2}


@pytest.mark.parametrize("how", ["end", "close", "break", "abandon", "cut"])
@pytest.mark.parametrize("sampler", [ALWAYS_OFF, ParentBased(TraceIdRatioBased(0.5))], ids=["always_off", "ratio"])
def test_feedback_after_a_stream_in_the_request_span_finds_it_whatever_the_sampling(
    sampler: Sampler,
    how: str,
    sampled_instrument: Callable[[Sampler], TracerProvider],
    fake_server: FakeServerProcess,
    metric_reader: InMemoryMetricReader,
) -> None:
    provider = sampled_instrument(sampler)
    client = make_client("sync", fake_server.base_url)
    app = provider.get_tracer("app")
    calls = 12
    for index in range(calls):
        name = "a" if index % 2 else "b"
        with app.start_as_current_span("handle request"):
            with variant(name):
                _stream_and_end(client, name, how)
            gc.collect(0)  # an abandoned stream's call ends when its proxy is collected
            record_feedback("thumbs", True)
    want = {(expected("a"), "a"): calls // 2, (expected("b"), "b"): calls // 2}
    assert feedback_counts(metric_reader, "llmperf.feedback") == want
