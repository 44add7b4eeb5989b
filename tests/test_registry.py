# SPDX-License-Identifier: Apache-2.0
"""The map of recent calls stays bounded in count, age and memory under a flood of responses."""

from __future__ import annotations

import sys
import threading
import tracemalloc

from opentelemetry.trace import SpanContext, TraceFlags

from otel_llmperf.registry import MAX_STRING, CallRecord, CallRegistry, parent_key


def record(index: int, model: str = "gpt-4o-mini") -> CallRecord:
    context = SpanContext(index + 1, index + 1, is_remote=False, trace_flags=TraceFlags(1))
    return CallRecord(model, "openai", "chat", None, context, f"chatcmpl-{index}")


def test_a_flood_keeps_only_the_newest_calls() -> None:
    registry = CallRegistry(max_calls=1000, retention=3600)
    for index in range(100_000):
        registry.remember(record(index), parent_span_id=10**9 + index)
    assert len(registry) == 1000  # calls, whatever number of keys each has
    assert registry.find("chatcmpl-0") is None
    newest = registry.find("chatcmpl-99999")
    assert newest is not None and newest.response_id == "chatcmpl-99999"
    assert registry.find(100_000) is not None  # by span id
    assert registry.find(parent_key(10**9 + 99_999)) == newest  # by the span it was made in


def test_memory_is_bounded_even_with_huge_strings() -> None:
    registry = CallRegistry(max_calls=2000, retention=3600)
    tracemalloc.start()
    try:
        for index in range(20_000):
            registry.remember(record(index, model="m" * 100_000))
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    kept = registry.find("chatcmpl-19999")
    assert kept is not None and kept.model is not None and len(kept.model) == MAX_STRING
    assert current < 8 * 1024 * 1024  # 2000 calls: a few MB at most, not 2000 x 100 kB


def test_calls_expire_after_the_retention() -> None:
    now = [0.0]
    registry = CallRegistry(max_calls=100, retention=60, clock=lambda: now[0])
    registry.remember(record(1))
    now[0] = 30.0
    assert registry.find("chatcmpl-1") is not None
    now[0] = 61.0
    assert registry.find("chatcmpl-1") is None
    registry.remember(record(2))
    assert registry.find(3) is not None  # record(2): span id 3, fresh
    for index in range(3, 300):  # the ring overwrites the oldest calls: memory stays bounded
        registry.remember(record(index))
    assert len(registry) == 100


def test_zero_size_remembers_nothing() -> None:
    registry = CallRegistry(max_calls=0)
    registry.remember(record(1))
    assert len(registry) == 0 and registry.find("chatcmpl-1") is None


def test_concurrent_writers_are_all_found() -> None:
    """Calls remembered from many threads at once are all found."""
    registry = CallRegistry(max_calls=10_000, retention=3600)

    def write(start: int) -> None:
        for index in range(start, start + 1000):
            registry.remember(record(index))

    threads = [threading.Thread(target=write, args=(offset * 1000,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(registry) == 8000
    assert all(registry.find(f"chatcmpl-{index}") is not None for index in range(8000))


def test_heavy_churn_loses_no_call() -> None:
    """Many threads remember and look up at once: every call is found as soon as it is remembered.

    A tiny switch interval makes threads switch between any two bytecodes, so a writer is often
    paused between taking its place in the registry and filling it while others index and look up.
    """
    registry = CallRegistry(max_calls=100_000, retention=3600)
    writers, per_writer = 8, 1500
    missed: list[int] = []
    stop = threading.Event()

    def write(offset: int) -> None:
        for index in range(offset * per_writer, (offset + 1) * per_writer):
            registry.remember(record(index), parent_span_id=10**9 + index)
            if registry.find(f"chatcmpl-{index}") is None:
                missed.append(index)

    def look_up() -> None:  # extra readers: lookups catch the index up while writers are mid-write
        probe = 0
        while not stop.is_set():
            registry.find(f"chatcmpl-{probe % (writers * per_writer)}")
            probe += 7

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        readers = [threading.Thread(target=look_up) for _ in range(2)]
        threads = [threading.Thread(target=write, args=(offset,)) for offset in range(writers)]
        for thread in readers + threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        stop.set()
        for thread in readers:
            thread.join(60)
    finally:
        sys.setswitchinterval(previous)
    assert not any(thread.is_alive() for thread in readers + threads)
    assert missed == []
    lost = [index for index in range(writers * per_writer) if registry.find(f"chatcmpl-{index}") is None]
    assert lost == []
    assert all(registry.find(parent_key(10**9 + index)) is not None for index in range(writers * per_writer))
    assert len(registry) == writers * per_writer
