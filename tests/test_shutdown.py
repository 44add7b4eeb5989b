# SPDX-License-Identifier: Apache-2.0
"""Telemetry never holds the application's exit hostage; host calls never wait on a dead Collector.

The exit cases run ``tests/exit_app.py`` in child processes side by side, each against its own
endpoint: a closed port, one that accepts and never answers, one that never completes a
connection, one that answers 503 (gRPC: UNAVAILABLE), and one that works. The child prints the
shared monotonic clock when its work is done and again once telemetry's exit handlers are: the
first difference is what telemetry added (within the bound, tightly), the time to the process's
end is the whole exit (within the bound plus the interpreter's own finalization, as long as it
takes on this machine at that moment, plus a slack). Timing assertions are the point here;
before this bound the same exits took 10 to 30 s.
"""

from __future__ import annotations

import logging
import math
import os
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

import otel_llmperf
from dead_endpoints import closed_port, silent_endpoint, unaccepting_endpoint, unavailable_endpoint
from fakeserver import FakeServerProcess
from otel_llmperf.config import load_settings
from otel_llmperf.setup import build_providers
from otlp_receiver import Received, http_receiver

EXIT_APP = str(Path(__file__).with_name("exit_app.py"))
DEFAULT_BOUND = 2.0
# Thread scheduling around the deadline, on a loaded machine.
HANDLER_MARGIN = 0.75
# The interpreter's own finalization comes on top of the bound: 0.3-0.8 s here on a quiet
# machine, several seconds when other test runs load it. It is measured in each batch by the
# child whose Collector is up (its telemetry takes ~0.05 s at exit), and a case may take this
# much longer than that child to finalize: enough to catch a hang after our handler returns
# (a non-daemon thread or a channel that waits for its exporter), not the machine's load.
FINALIZATION_SLACK = 2.5
MARGIN = 4.0  # in-process shutdown: thread scheduling on a loaded machine
STAGGER = 0.3  # seconds between the children's ends
ALL_DROPPED = "dropped 1 span, 1 metric export, 1 event"
OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT = "OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT"
OTHER_SDKS = "llmperf_anthropic,llmperf_google_genai,llmperf_bedrock,llmperf_mistral,llmperf_cohere"


@dataclass
class ExitCase:
    name: str
    endpoint: Callable[[], AbstractContextManager[Any]]
    protocol: str = "http/protobuf"
    bound: float = DEFAULT_BOUND
    dropped: str | None = ALL_DROPPED
    args: tuple[str, ...] = ()


CASES = [
    ExitCase("closed port", closed_port),
    ExitCase("accepts, never answers", silent_endpoint),
    ExitCase("never accepts, 0.5 s bound", unaccepting_endpoint, bound=0.5),
    ExitCase("answers 503", unavailable_endpoint),
    ExitCase("grpc closed port", closed_port, protocol="grpc"),
    ExitCase("grpc accepts, never answers", silent_endpoint, protocol="grpc"),
    ExitCase("grpc UNAVAILABLE", lambda: unavailable_endpoint("grpc"), protocol="grpc"),
    # The application's own tracer and meter providers are never shut down by us; only the
    # event (logger) provider is ours here.
    ExitCase("app providers", silent_endpoint, dropped="dropped 1 event", args=("app-providers",)),
]


def _env(endpoint: str, case: ExitCase) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LLMPERF_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=case.protocol,
        OTEL_METRICS_EXPORTER="otlp",  # no scrape port: the children run side by side
        # Nothing leaves before exit, however slow the machine: everything is there to drop.
        OTEL_BSP_SCHEDULE_DELAY="600000",
        OTEL_BLRP_SCHEDULE_DELAY="600000",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=OTHER_SDKS,  # faster start-up
    )
    if case.bound != DEFAULT_BOUND:
        env[OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT] = str(case.bound)
    return env


@dataclass
class Exited:
    case: ExitCase
    telemetry_delay: float  # from the end of the script to the end of telemetry's exit handlers
    exit_delay: float  # from the end of the script to the end of the process
    stdout: str
    stderr: str
    returncode: int

    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def _wait_for_line(child: subprocess.Popen[bytes], deadline: float) -> bytes:
    """The child's first stdout line, read without buffering past it (bounded by ``deadline``)."""
    assert child.stdout is not None
    fd = child.stdout.fileno()
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if selector.select(max(0.0, deadline - time.monotonic())):
                byte = os.read(fd, 1)
                if not byte:
                    break
                line += byte
    return line


def _run_all(cases: list[tuple[ExitCase, str]], fake_server: FakeServerProcess) -> list[Exited]:
    children = [
        (
            case,
            subprocess.Popen(
                [sys.executable, EXIT_APP, fake_server.base_url, *case.args],
                env=_env(endpoint, case),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
        )
        for case, endpoint in cases
    ]
    results: list[Exited] = []
    try:
        deadline = time.monotonic() + 120
        # Every child starts up and makes its call; then all end together, timed from there.
        for _case, child in children:
            _wait_for_line(child, deadline)
        # Released a little apart: an interpreter's own finalization takes ~0.5 s of CPU here,
        # and ten at once on two cores would time the machine, not the exit.
        start = time.monotonic()
        released = 0
        ended: dict[int, float] = {}
        while len(ended) < len(children) and time.monotonic() < deadline:
            if released < len(children) and time.monotonic() >= start + released * STAGGER:
                stdin = children[released][1].stdin
                assert stdin is not None
                stdin.write(b"go\n")
                stdin.flush()
                released += 1
            # Reap in order of exit, noting the clock as each ends (poll every 10 ms, bounded).
            for index, (_case, child) in enumerate(children[:released]):
                if index not in ended and child.poll() is not None:
                    ended[index] = time.monotonic()
            time.sleep(0.01)
        for index, (case, child) in enumerate(children):
            stdout, stderr = (stream.decode() for stream in child.communicate(timeout=10))
            clocks = [float(line) for line in stdout.splitlines() if line[:1].isdigit()]
            script_end, handlers_end = clocks if len(clocks) == 2 else (math.nan, math.nan)
            results.append(
                Exited(case, handlers_end - script_end, ended[index] - script_end, stdout, stderr, child.returncode)
            )
    finally:
        for _case, child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
    return results


def test_exit_is_bounded_whatever_the_collector_does(fake_server: FakeServerProcess) -> None:
    with ExitStack() as stack:
        cases = [(case, stack.enter_context(case.endpoint())) for case in CASES]
        named = {case.name: endpoint for case, endpoint in cases}
        up_endpoint, received = stack.enter_context(http_receiver())
        up = ExitCase("collector up", http_receiver, dropped=None)
        results = _run_all([*cases, (up, up_endpoint)], fake_server)
    own_finalization = results[-1].exit_delay - results[-1].telemetry_delay
    failures = []
    for result in results:
        case = result.case
        lines = result.stderr_lines()
        problems = []
        if result.returncode != 0:
            problems.append(f"exit code {result.returncode}")
        if not result.telemetry_delay < case.bound + HANDLER_MARGIN:
            problems.append(f"telemetry took {result.telemetry_delay:.2f} s at exit")
        if not result.exit_delay < case.bound + own_finalization + FINALIZATION_SLACK:
            problems.append(f"exit took {result.exit_delay:.2f} s (the interpreter's own: {own_finalization:.2f} s)")
        if "Traceback" in result.stderr:
            problems.append("a traceback")
        if case.dropped is None:
            if lines:
                problems.append("stderr is not empty")
        elif len(lines) != 1 or case.dropped not in lines[0] or f"within {case.bound:g} s" not in lines[0]:
            problems.append(f"not one line saying {case.dropped!r} within {case.bound:g} s")
        if "shut down" in result.stdout:
            problems.append("the application's own provider was shut down")
        if problems:
            failures.append(f"{case.name}: {', '.join(problems)}\n{result.stderr}")
    assert not failures, "\n".join(failures)
    _assert_everything_arrived(received)
    (exact,) = [result for result in results if result.case.bound == 0.5]
    assert exact.stderr_lines() == [
        f"otel-llmperf: at exit the OTLP endpoint {named[exact.case.name]} did not take telemetry within 0.5 s; "
        f"{ALL_DROPPED}"
    ]
    delays = {result.case.name: (round(result.telemetry_delay, 2), round(result.exit_delay, 2)) for result in results}
    print(f"exit delays (s, telemetry's handlers and whole exit): {delays}")


def _assert_everything_arrived(received: Received) -> None:
    assert "chat gpt-4o-mini" in received.span_names()
    assert {"gen_ai.client.operation.duration", "llmperf.feedback"} <= received.metric_names()
    assert received.event_names() == ["gen_ai.evaluation.result"]


def _timed_calls(client: openai.OpenAI, count: int) -> list[float]:
    durations = []
    for _ in range(count):
        start = time.perf_counter()
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        durations.append(time.perf_counter() - start)
    return durations


def _calls_against(endpoint: str, fake_server: FakeServerProcess, count: int) -> tuple[list[float], Any]:
    settings = load_settings({}, otlp_endpoint=endpoint, metrics_exporter="otlp", shutdown_timeout=1.0)
    setup = build_providers(settings)
    otel_llmperf.instrument(
        tracer_provider=setup.tracer_provider,
        meter_provider=setup.meter_provider,
        logger_provider=setup.logger_provider,
        disabled_instrumentations=OTHER_SDKS,
    )
    try:
        client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
        _timed_calls(client, 3)  # warm up: connections, first-call imports
        return _timed_calls(client, count), setup
    finally:
        otel_llmperf.uninstrument()


def test_host_calls_do_not_wait_on_a_dead_collector(
    fake_server: FakeServerProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With every exporter stuck on a black hole and the span queue full, calls take no longer."""
    # Export at once and often, and overflow a tiny span queue: every path a call could block on.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "20")
    with http_receiver() as (endpoint, _received):
        healthy, setup = _calls_against(endpoint, fake_server, 20)
        setup.shutdown()
    with silent_endpoint() as endpoint:
        stuck, setup = _calls_against(endpoint, fake_server, 20)
        # The exporters are inside an export that will not return: calls above ran beside it.
        tallies = [tally for _provider, found in setup._owned.parts for tally in found]
        assert {tally.noun for tally in tallies if tally.received > tally.delivered + tally.failed} >= {
            "span",
            "metric export",
        }
        caplog.set_level(logging.WARNING, logger="otel_llmperf")
        start = time.monotonic()
        setup.shutdown()
        took = time.monotonic() - start
    up, down = statistics.median(healthy), statistics.median(stuck)
    print(f"call latency, median (s): collector up {up:.4f}, black hole {down:.4f}")
    assert statistics.median(stuck) < 3 * statistics.median(healthy) + 0.05, (stuck, healthy)
    assert max(stuck) < 2.0, stuck  # a call that waited on an exporter would wait seconds
    assert took < 1.0 + MARGIN
    (line,) = [record.getMessage() for record in caplog.records if "did not take telemetry" in record.getMessage()]
    assert "at shutdown" in line and "within 1 s" in line
    assert "dropped 23 spans" in line  # 3 warm-up calls and 20 timed, none delivered


def test_shutdown_timeout_setting(caplog: pytest.LogCaptureFixture) -> None:
    assert load_settings({}).shutdown_timeout == DEFAULT_BOUND
    assert load_settings({OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT: "0.25"}).shutdown_timeout == 0.25
    assert load_settings({OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT: "9"}, shutdown_timeout=0).shutdown_timeout == 0
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    for bad in ("soon", "-1", "nan", "601"):
        caplog.clear()
        assert load_settings({OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT: bad}).shutdown_timeout == DEFAULT_BOUND
        (record,) = caplog.records
        assert record.getMessage() == (
            f"{OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT}={bad!r} is not a number of seconds in [0, 600]; using 2"
        )
