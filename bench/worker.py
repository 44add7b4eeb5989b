# SPDX-License-Identifier: Apache-2.0
"""One benchmark process: measures one subject in one venv and prints a JSON report on stdout.

Run by ``bench/run.py`` with the python of the subject's venv; not meant to be run by hand,
though ``python bench/worker.py --subject ours --quick`` works for a look.

Modes:

* ``measure`` — per scenario: a sanity check (what the subject records per call, that it
  leaves the SDK exactly as it found it), a calibration, a warm-up, then interleaved
  batches, instrumented and not, and the medians over pairs of their difference and ratio;
* ``rss`` — resident memory sampled every N calls over many instrumented calls;
* ``profile`` — cProfile over a loop of instrumented calls, summarised by code owner.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib
import json
import logging
import pkgutil
import platform
import pstats
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai.resources
from opentelemetry import metrics, trace

from common import (
    REQUEST,
    STREAM_CHUNKS,
    STREAM_REQUEST,
    Clients,
    Sinks,
    make_clients,
    make_sinks,
    metric_totals,
    read_rss_kib,
    summary,
)
from subjects import SUBJECTS, Subject, make_subject, version_of

SCENARIOS = ("sync", "stream", "async")
VERIFY_CALLS = 3
# The CPU time of this thread only: immune to the other core's load and to being descheduled,
# and nothing in these scenarios runs on another thread (no batch processor, no periodic reader).
CLOCK = time.thread_time_ns
WALL = time.perf_counter_ns

Batch = Callable[[int], None]


@dataclass
class Scenario:
    """The two batch functions of one scenario: the plain SDK call, and the one timed when 'on'."""

    name: str
    off: Batch
    on: Batch
    count_chunks: Callable[[bool], int]  # consume one call, with the subject on or off; chunks seen


def build_scenarios(clients: Clients, subject: Subject, loop: asyncio.AbstractEventLoop) -> dict[str, Scenario]:
    """Batches that make ``n`` calls exactly as an application would, looking the method up each time."""
    sync_client, stream_client, aio_client = clients.sync, clients.stream, clients.aio

    def sync_off(n: int) -> None:
        for _ in range(n):
            sync_client.chat.completions.create(**REQUEST)

    def stream_off(n: int) -> None:
        for _ in range(n):
            for _chunk in stream_client.chat.completions.create(**STREAM_REQUEST):
                pass

    async def many(n: int) -> None:
        for _ in range(n):
            await aio_client.chat.completions.create(**REQUEST)

    def async_off(n: int) -> None:
        loop.run_until_complete(many(n))

    def stream_count(on: bool) -> int:
        if subject.floor and on:
            return int(floor_impl.stream_call(stream_client, STREAM_REQUEST))
        return sum(1 for _ in stream_client.chat.completions.create(**STREAM_REQUEST))

    def one_call(off: Batch, on_batch: Batch) -> Callable[[bool], int]:
        # Non-streaming calls have no chunks to count: one response is one "chunk" seen.
        def run(on: bool) -> int:
            (on_batch if on else off)(1)
            return 1

        return run

    if not subject.floor:
        return {
            "sync": Scenario("sync", sync_off, sync_off, one_call(sync_off, sync_off)),
            "stream": Scenario("stream", stream_off, stream_off, stream_count),
            "async": Scenario("async", async_off, async_off, one_call(async_off, async_off)),
        }

    floor_impl = subject.impl  # type: ignore[attr-defined]
    floor_sync, floor_stream, floor_async = floor_impl.sync_call, floor_impl.stream_call, floor_impl.async_call

    def sync_floor(n: int) -> None:
        for _ in range(n):
            floor_sync(sync_client, REQUEST)

    def stream_floor(n: int) -> None:
        for _ in range(n):
            floor_stream(stream_client, STREAM_REQUEST)

    async def many_floor(n: int) -> None:
        for _ in range(n):
            await floor_async(aio_client, REQUEST)

    def async_floor(n: int) -> None:
        loop.run_until_complete(many_floor(n))

    return {
        "sync": Scenario("sync", sync_off, sync_floor, one_call(sync_off, sync_floor)),
        "stream": Scenario("stream", stream_off, stream_floor, stream_count),
        "async": Scenario("async", async_off, async_floor, one_call(async_off, async_floor)),
    }


# --- keeping the SDK honest ------------------------------------------------------------------


def import_sdk_resources() -> None:
    """Import every ``openai.resources`` module now, so the snapshot below covers whatever a subject patches."""
    for info in pkgutil.walk_packages(openai.resources.__path__, "openai.resources."):
        importlib.import_module(info.name)


def sdk_members() -> dict[tuple[type, str], Any]:
    """Every attribute of every class defined in ``openai.resources``, as stored on the class."""
    members: dict[tuple[type, str], Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("openai.resources"):
            continue
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == name:
                for attribute, member in vars(value).items():
                    members[(value, attribute)] = member
    return members


class Toggle:
    """Switches a subject on for one batch and off again, and makes sure 'off' is the pristine SDK.

    Our own ``uninstrument()`` must restore every method exactly: a leftover is an error. A peer
    whose ``uninstrument()`` leaves wrappers behind gets them removed here (counted and reported),
    since its leftovers would otherwise be timed as the baseline.
    """

    def __init__(self, subject: Subject, strict: bool) -> None:
        self.subject = subject
        self.strict = strict
        import_sdk_resources()
        self.pristine = sdk_members()
        self.restored: dict[str, int] = {}

    def on(self) -> None:
        self.subject.enable()

    def off(self) -> None:
        self.subject.disable()
        leftovers = [(key, member) for key, member in self.pristine.items() if vars(key[0]).get(key[1]) is not member]
        if not leftovers:
            return
        names = [f"{cls.__module__}.{cls.__qualname__}.{attribute}" for (cls, attribute), _ in leftovers]
        if self.strict:
            raise RuntimeError(f"disable() left {', '.join(names)} changed; the baseline would not be clean")
        for (cls, attribute), member in leftovers:
            setattr(cls, attribute, member)
        for name in names:
            self.restored[name] = self.restored.get(name, 0) + 1


def verify(scenario: Scenario, toggle: Toggle, sinks: Sinks) -> dict[str, Any]:
    """What the subject records per call, and that 'off' records nothing."""
    exporter, reader = sinks.exporter, sinks.reader
    spans0, metrics0 = exporter.count, metric_totals(reader)
    chunks_off = scenario.count_chunks(False)
    scenario.off(VERIFY_CALLS)
    spans_off, metrics_off = exporter.count - spans0, metric_totals(reader) != metrics0
    toggle.on()
    try:
        chunks_on = scenario.count_chunks(True)
        spans1, metrics1 = exporter.count, metric_totals(reader)
        scenario.on(VERIFY_CALLS)
        spans_on, metrics2 = exporter.count - spans1, metric_totals(reader)
    finally:
        toggle.off()
    per_call: dict[str, dict[str, Any]] = {}
    for name, (kind, total) in sorted(metrics2.items()):
        delta = total - metrics1.get(name, (kind, 0.0))[1]
        if delta:
            # Three significant digits: a counter of dollars adds fractions of a cent per call.
            per_call[name] = {"kind": kind, "per_call": float(f"{delta / VERIFY_CALLS:.3g}")}
    last = exporter.last if spans_on else None
    return {
        "spans_per_call": spans_on / VERIFY_CALLS,
        "telemetry_when_off": bool(spans_off or metrics_off),
        "metrics_per_call": per_call,
        "span_name": last.name if last is not None else None,
        "span_attributes": sorted(last.attributes or {}) if last is not None else [],
        "chunks_seen_off": chunks_off,
        "chunks_seen_on": chunks_on,
    }


# --- measurement -----------------------------------------------------------------------------


def timed(batch: Batch, n: int) -> tuple[int, int, int]:
    """(CPU ns, wall ns, cyclic garbage found afterwards) of one batch, with the collector paused."""
    gc.collect()
    start_cpu, start_wall = CLOCK(), WALL()
    batch(n)
    cpu, wall = CLOCK() - start_cpu, WALL() - start_wall
    return cpu, wall, gc.collect()


def measure(scenario: Scenario, toggle: Toggle, pairs: int, warmup_pairs: int, target_s: float) -> dict[str, Any]:
    """Interleaved off/on batches; medians over pairs of (on - off) per call and on/off."""
    # Calibrate on the plain call so every subject gets about the same batch size here.
    probe = 4
    scenario.off(probe)
    cpu, _wall, _garbage = timed(scenario.off, probe)
    per_call_s = max(cpu / probe / 1e9, 1e-6)
    batch = max(4, round(target_s / (2 * (pairs + warmup_pairs)) / per_call_s))

    def run_on(n: int) -> None:
        scenario.on(n)

    off_cpu: list[float] = []
    on_cpu: list[float] = []
    added: list[float] = []
    ratios: list[float] = []
    added_wall: list[float] = []
    garbage_off: list[int] = []
    garbage_on: list[int] = []
    started = time.perf_counter()
    for index in range(warmup_pairs + pairs):
        # Alternate AB / BA so neither state always runs right after a toggle or a collection.
        order = (False, True) if index % 2 == 0 else (True, False)
        result: dict[bool, tuple[int, int, int]] = {}
        for on in order:
            if on:
                toggle.on()
                try:
                    result[on] = timed(run_on, batch)
                finally:
                    toggle.off()
            else:
                result[on] = timed(scenario.off, batch)
        if index < warmup_pairs:
            continue
        (a_cpu, a_wall, a_garbage), (b_cpu, b_wall, b_garbage) = result[False], result[True]
        off_cpu.append(a_cpu / batch / 1e3)
        on_cpu.append(b_cpu / batch / 1e3)
        added.append((b_cpu - a_cpu) / batch / 1e3)
        ratios.append(b_cpu / a_cpu)
        added_wall.append((b_wall - a_wall) / batch / 1e3)
        garbage_off.append(a_garbage)
        garbage_on.append(b_garbage)
    report: dict[str, Any] = {
        "batch": batch,
        "pairs": pairs,
        "warmup_pairs": warmup_pairs,
        "seconds": round(time.perf_counter() - started, 2),
        "off_us": summary(off_cpu),
        "on_us": summary(on_cpu),
        "added_us": summary(added),
        "ratio": summary(ratios),
        "added_wall_us": summary(added_wall),
        "cyclic_garbage_per_call": {
            "off": sum(garbage_off) / (batch * pairs),
            "on": sum(garbage_on) / (batch * pairs),
        },
    }
    if scenario.name == "stream":
        report["added_per_chunk_us"] = {key: value / STREAM_CHUNKS for key, value in report["added_us"].items()}
    return report


# --- memory and profile ----------------------------------------------------------------------


def rss_run(scenario: Scenario, toggle: Toggle, calls: int, every: int) -> dict[str, Any]:
    """VmRSS every ``every`` instrumented calls, the collector running as in an application."""
    toggle.on()
    try:
        scenario.on(max(every // 10, 10))  # warm caches and allocator pools before the first sample
        samples = [(0, read_rss_kib())]
        started = time.perf_counter()
        for done in range(every, calls + 1, every):
            scenario.on(every)
            samples.append((done, read_rss_kib()))
    finally:
        toggle.off()
    first, last = samples[0][1], samples[-1][1]
    middle = samples[len(samples) // 2][1]
    growth = last - first
    # Flat: no more than 256 KiB (one pymalloc arena, RSS moves in such steps) over the second
    # half of the run, once caches and pools have settled. A leak of even one small object per
    # call climbs steadily through the second half too: 50k calls x 64 bytes is 3 MiB.
    second_half = last - middle
    return {
        "calls": calls,
        "every": every,
        "samples_kib": samples,
        "first_kib": first,
        "last_kib": last,
        "max_kib": max(value for _, value in samples),
        "growth_kib": growth,
        "bytes_per_call": round(growth * 1024 / calls, 2),
        "second_half_growth_kib": second_half,
        "flat": second_half <= 256,
        "seconds": round(time.perf_counter() - started, 1),
    }


_GROUPS = (
    ("otel_llmperf", "/otel_llmperf/"),
    ("bench floor", "floor.py"),
    ("wrapt", "/wrapt/"),
    ("otel sdk trace", "/opentelemetry/sdk/trace/"),
    ("otel sdk metrics", "/opentelemetry/sdk/metrics/"),
    ("otel sdk other", "/opentelemetry/sdk/"),
    ("otel api + context", "/opentelemetry/"),
)


def _group(filename: str) -> str:
    for group, marker in _GROUPS:
        if marker in filename:
            return group
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    return "SDK + other"


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    for marker in ("site-packages/", "/src/", "/bench/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{name} ({filename}:{line})" if line else name


def profile_run(scenario: Scenario, toggle: Toggle, calls: int, on: bool) -> dict[str, Any]:
    """cProfile over ``calls`` calls; per-call µs by code owner and the top instrumentation functions."""
    batch = scenario.on if on else scenario.off
    if on:
        toggle.on()
    try:
        batch(max(calls // 10, 10))
        profiler = cProfile.Profile()
        gc.collect()
        profiler.enable()
        batch(calls)
        profiler.disable()
    finally:
        if on:
            toggle.off()
    stats = pstats.Stats(profiler)
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {}
    functions = []
    total = 0.0
    for key, (_prim, ncalls, tottime, cumtime, _callers) in entries.items():
        group = _group(key[0])
        groups[group] = groups.get(group, 0.0) + tottime
        total += tottime
        if group not in ("SDK + other", "builtins"):
            functions.append(
                {
                    "function": _where(key),
                    "group": group,
                    "calls_per_call": round(ncalls / calls, 2),
                    "self_us": round(tottime / calls * 1e6, 2),
                    "cumulative_us": round(cumtime / calls * 1e6, 2),
                }
            )
    functions.sort(key=lambda item: item["self_us"], reverse=True)
    return {
        "calls": calls,
        "instrumented": on,
        "total_us": round(total / calls * 1e6, 1),
        "groups_us": {group: round(value / calls * 1e6, 2) for group, value in sorted(groups.items())},
        "functions": functions[:60],
    }


# --- entry point -----------------------------------------------------------------------------


def versions(distribution: str) -> dict[str, str]:
    """Versions that decide what is being compared."""
    names = ("openai", "httpx2", "pydantic", "wrapt", "opentelemetry-api", "opentelemetry-sdk")
    found = {name: version_of(name) for name in names}
    found["subject"] = version_of(distribution)
    found["python"] = platform.python_version()
    return found


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run one mode, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", required=True, choices=sorted(SUBJECTS))
    parser.add_argument("--mode", choices=("measure", "rss", "profile", "attribute"), default="measure")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--warmup-pairs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=12.0, help="target duration of one scenario")
    parser.add_argument("--calls", type=int, default=100_000, help="rss/profile: calls to make")
    parser.add_argument("--every", type=int, default=10_000, help="rss: sample every N calls")
    parser.add_argument("--off", action="store_true", help="profile: the plain calls instead")
    parser.add_argument("--quick", action="store_true", help="a few seconds, for a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.warmup_pairs, args.seconds = 4, 1, 0.6

    # Re-creating instruments on every toggle is expected here; keep the log quiet about it.
    logging.basicConfig(level=logging.ERROR)
    spec = SUBJECTS[args.subject]
    sinks = make_sinks()
    # Global too, so anything a subject looks up globally lands in the same sinks.
    trace.set_tracer_provider(sinks.tracer_provider)
    metrics.set_meter_provider(sinks.meter_provider)
    clients = make_clients()
    subject = make_subject(spec, sinks)
    toggle = Toggle(subject, strict=spec.name == "ours")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    scenarios = build_scenarios(clients, subject, loop)
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    report: dict[str, Any] = {
        "subject": spec.name,
        "mode": args.mode,
        "versions": versions(spec.distribution),
    }
    gc.disable()  # collections happen between batches, never inside a timed one
    # Everything alive now (the SDK's modules, pydantic models, clients, snapshot) stays alive:
    # freezing it keeps the collections between batches from rescanning it each time.
    gc.freeze()
    try:
        if args.mode == "measure":
            report["scenarios"] = {}
            for name in chosen:
                check = verify(scenarios[name], toggle, sinks)
                result = measure(scenarios[name], toggle, args.pairs, args.warmup_pairs, args.seconds)
                result["verification"] = check
                report["scenarios"][name] = result
                print(f"  {spec.name:>22} {name:<6} {summarise(result)}", file=sys.stderr, flush=True)
        elif args.mode == "rss":
            gc.enable()
            report["rss"] = {name: rss_run(scenarios[name], toggle, args.calls, args.every) for name in chosen}
        elif args.mode == "attribute":
            import attribution  # imports otel-llmperf internals: only where ours is installed

            report["attribution"] = attribution.run(sinks, clients, args.quick)
        else:
            report["profile"] = {
                name: profile_run(scenarios[name], toggle, args.calls, not args.off) for name in chosen
            }
    finally:
        gc.enable()
        loop.close()
    if toggle.restored:
        report["restored_after_uninstrument"] = toggle.restored
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


def summarise(result: dict[str, Any]) -> str:
    """One progress line for stderr."""
    added, ratio = result["added_us"], result["ratio"]
    return (
        f"+{added['median']:7.1f} µs/call (IQR {added['p25']:.1f}..{added['p75']:.1f}), "
        f"x{ratio['median']:.3f}, batch {result['batch']}, {result['seconds']} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
