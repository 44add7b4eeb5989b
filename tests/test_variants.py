# SPDX-License-Identifier: Apache-2.0
"""A/B variants on spans and metrics, across threads, executors and tasks, with a cardinality cap."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

import otel_llmperf
from conftest import make_client
from fakeserver import FakeServerProcess
from helpers import points, resolve
from otel_llmperf import FeedbackError, current_variant, variant

DURATION = "gen_ai.client.operation.duration"


def variants_seen(span_exporter: Any) -> list[Any]:
    return sorted(str(span.attributes.get("llmperf.variant")) for span in span_exporter.get_finished_spans())


def test_variant_context_and_decorator() -> None:
    assert current_variant() is None
    with variant("a"):
        assert current_variant() == "a"
        with variant("b"):
            assert current_variant() == "b"
        assert current_variant() == "a"
    assert current_variant() is None

    @variant("c")
    def sync_work() -> str | None:
        return current_variant()

    @variant("d")
    async def async_work() -> str | None:
        await asyncio.sleep(0)
        return current_variant()

    assert sync_work() == "c" and asyncio.run(async_work()) == "d" and current_variant() is None


def test_one_variant_object_entered_by_many_threads() -> None:
    shared = variant("shared")
    seen: list[str | None] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        with shared:
            barrier.wait(5)
            seen.append(current_variant())
        seen.append(current_variant())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(seen, key=str) == [None] * 4 + ["shared"] * 4


async def test_calls_carry_the_variant_on_spans_and_metrics(
    instrument: Any, client: Any, span_exporter: Any, metric_reader: Any
) -> None:
    instrument()
    with variant("b"):
        await resolve(client.embeddings.create(model="e", input="x"))
    await resolve(client.embeddings.create(model="e", input="x"))
    assert variants_seen(span_exporter) == ["None", "b"]
    by_variant = {point.attributes.get("llmperf.variant"): point.count for point in points(metric_reader, DURATION)}
    assert by_variant == {"b": 1, None: 1}


def test_variant_follows_threads_and_executors_started_inside(
    instrument: Any, fake_server: FakeServerProcess, span_exporter: Any
) -> None:
    instrument()
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)

    def embed() -> None:
        client.embeddings.create(model="e", input="x")

    class Worker(threading.Thread):  # a subclass overriding run() is covered too
        def run(self) -> None:
            embed()

    with variant("threaded"):
        plain = threading.Thread(target=embed)
        subclassed = Worker()
        plain.start()
        subclassed.start()
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda _: embed(), range(2)))
        plain.join(10)
        subclassed.join(10)
    outside = threading.Thread(target=embed)
    outside.start()
    outside.join(10)
    assert variants_seen(span_exporter) == ["None"] + ["threaded"] * 4


async def test_variant_follows_await_and_tasks(
    instrument: Any, fake_server: FakeServerProcess, span_exporter: Any
) -> None:
    instrument()
    client = make_client("async", fake_server.base_url)

    async def embed(name: str) -> None:
        with variant(name):
            await asyncio.sleep(0)
            await client.embeddings.create(model="e", input="x")

    await asyncio.gather(embed("x"), embed("y"), embed("x"))
    assert variants_seen(span_exporter) == ["x", "x", "y"]


async def test_process_default_variant(instrument: Any, client: Any, span_exporter: Any) -> None:
    instrument(variant="control")
    await resolve(client.embeddings.create(model="e", input="x"))
    with variant("treatment"):
        await resolve(client.embeddings.create(model="e", input="x"))
    assert variants_seen(span_exporter) == ["control", "treatment"]


def test_variant_names_past_the_cap_fold_into_other(instrument: Any, caplog: pytest.LogCaptureFixture) -> None:
    instrument(max_variants=3)
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    names = [variant(f"v{index}").name for index in range(6)]
    assert names == ["v0", "v1", "v2", "_other", "_other", "_other"]
    assert variant("v1").name == "v1"  # known names keep working
    assert caplog.text.count("more than 3 distinct llmperf.variant values") == 1


@pytest.mark.parametrize("bad", ["", "x" * 65, "has\nnewline", "-leading", 7, None])
def test_bad_variant_names_raise_naming_the_field(bad: Any) -> None:
    with pytest.raises(FeedbackError, match="variant must be a string"):
        variant(bad)


def test_bad_default_variant_warns_and_is_ignored(
    monkeypatch: pytest.MonkeyPatch, instrument: Any, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_LLMPERF_VARIANT", "bad variant!")
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    instrument()
    assert current_variant() is None and "OTEL_PYTHON_LLMPERF_VARIANT" in caplog.text


def test_uninstrument_restores_thread_methods(instrument: Any) -> None:
    original_start = vars(threading.Thread)["start"]
    original_submit = vars(ThreadPoolExecutor)["submit"]
    instrument()
    assert vars(threading.Thread)["start"] is not original_start
    otel_llmperf.uninstrument()
    assert vars(threading.Thread)["start"] is original_start
    assert vars(ThreadPoolExecutor)["submit"] is original_submit
