# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf demo``: fake LLM server + realistic traffic through the instrumented provider SDKs.

Metrics go where the standard variables say (a Prometheus endpoint on 127.0.0.1:9464 by
default; OTLP too when an endpoint is configured) and a live per-model summary is printed
every few seconds. Ctrl-C (or SIGTERM, or ``--duration``) stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import NoOpTracerProvider

import otel_llmperf
from otel_llmperf.config import Settings, load_settings
from otel_llmperf.demo.clients import connect
from otel_llmperf.demo.drift import DriftSchedule
from otel_llmperf.demo.server import FakeLLMServer, ServerConfig
from otel_llmperf.demo.summary import ModelRow, render, summarise
from otel_llmperf.demo.traffic import Experiment, demo_server_config, generate
from otel_llmperf.setup import ProviderSetup, build_providers

_CLEAR = "\x1b[2J\x1b[H"


@dataclass(frozen=True)
class DemoOptions:
    """What the command line asked for."""

    duration: float | None = None  # None: until interrupted
    rps: float = 8.0
    metrics_port: int | None = None  # None: OTEL_EXPORTER_PROMETHEUS_PORT or 9464
    seed: int = 7
    refresh: float = 3.0
    experiment: Experiment = field(default_factory=Experiment)
    drift_after: float | None = None  # None: the models never change
    feedback_rate: float | None = None  # the share of chat calls users give feedback on; None: the default


class _Display:
    def __init__(self, out: TextIO, reader: InMemoryMetricReader, interval: float) -> None:
        self.out = out
        self.reader = reader
        self.interval = interval
        self.started = self.shown = time.monotonic()
        self.previous: dict[tuple[str, str], ModelRow] = {}
        self.tty = out.isatty()

    def show(self, final: bool = False) -> None:
        rows = summarise(self.reader.get_metrics_data())
        now = time.monotonic()
        # Asked each time, so a resized terminal gets a table that fits; COLUMNS wins, 80 off a terminal.
        width = shutil.get_terminal_size().columns
        # Tokens since the last table over the time since then, which the final table cuts short.
        table = render(rows, self.previous, now - self.shown, now - self.started, width)
        self.previous, self.shown = rows, now
        prefix = _CLEAR if self.tty and not final else ""
        self.out.write(f"{prefix}{table}\n\n")
        self.out.flush()


async def _refresh(display: _Display, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=display.interval)
        if not stop.is_set():
            display.show()


async def _drive(
    options: DemoOptions, root: str, display: _Display, config: ServerConfig, drift: DriftSchedule | None = None
) -> tuple[int, int]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    clients = connect(root)
    # Counted from here: importing and building six SDK clients can take longer than a short --duration.
    if options.duration is not None:
        loop.call_later(options.duration, stop.set)
    refresher = asyncio.create_task(_refresh(display, stop))
    try:
        tally = await generate(
            clients,
            options.rps,
            stop,
            options.seed,
            config,
            experiment=options.experiment,
            drift=drift,
            feedback_rate=options.feedback_rate,
        )
    finally:
        stop.set()
        await refresher
        await clients.close()
    return tally.sent, tally.failed


def _banner(server: FakeLLMServer, setup: ProviderSetup, options: DemoOptions) -> str:
    until = f"for {options.duration:g} s" if options.duration is not None else "until Ctrl-C"
    drift = "" if options.drift_after is None else f"the models drift after {options.drift_after:g} s\n"
    return (
        f"fake LLM server: {server.base_url}\n"
        f"metrics → {setup.metrics}\ntraces → {setup.traces}\n"
        f"sending ~{options.rps:g} requests/s {until}\n{drift}"
    )


def _serves_prometheus(settings: Settings) -> bool:
    # In multi-process mode a busy port is expected: another process of the set serves it.
    return "prometheus" in settings.metrics_exporter and not settings.prometheus_multiproc_dir


def _busy_hint(settings: Settings, problem: str = "is in use (another demo or app?)") -> str:
    return (
        f"otel-llmperf demo: the metrics port {settings.prometheus_host}:{settings.prometheus_port} {problem}; "
        "choose another with --metrics-port PORT (0 picks a free one)"
    )


def _busy_metrics_port(settings: Settings) -> str | None:
    """The hint naming ``--metrics-port`` when the demo's Prometheus port is taken, else ``None``."""
    if not _serves_prometheus(settings) or settings.prometheus_port == 0:
        return None
    with socket.socket() as probe:
        # As the endpoint's HTTP server binds: a port in TIME_WAIT is free, a listening one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.prometheus_host, settings.prometheus_port))
        except OSError as error:
            # Anything else (an IPv6 host, say) is left to the endpoint, whose failure is checked after.
            return _busy_hint(settings) if error.errno == errno.EADDRINUSE else None
    return None


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the demo; returns the process exit code."""
    try:
        import openai  # noqa: F401 - checked before anything starts
    except ImportError:
        print("the demo drives the real openai SDK: pip install '.[demo]' in a checkout", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("otel_llmperf").setLevel(logging.INFO)

    # Signed feedback tokens, as a deployment would use (the secret is demo-only, of course).
    overrides: dict[str, Any] = {"stream_usage": True, "feedback_secret": "otel-llmperf-demo-secret"}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        overrides["service_name"] = "otel-llmperf-demo"
    if options.metrics_port is not None:
        overrides["prometheus_port"] = options.metrics_port
    settings = load_settings(**overrides)
    # Checked first, so the demo stops with the fix instead of running on without its endpoint.
    busy = _busy_metrics_port(settings)
    if busy:
        print(busy, file=sys.stderr)
        return 2
    summary_reader = InMemoryMetricReader()
    setup = build_providers(settings, extra_metric_readers=[summary_reader])
    if _serves_prometheus(settings) and setup.prometheus_port is None:  # taken between the check and the bind
        setup.shutdown()
        print(_busy_hint(settings, "could not be served (see the warning above)"), file=sys.stderr)
        return 2
    server_config = demo_server_config(options.seed)
    server = FakeLLMServer(server_config).start()
    # The settings parsed above, not parsed again: each bad variable warns once.
    otel_llmperf._instrument(
        settings, tracer_provider=setup.tracer_provider or NoOpTracerProvider(), meter_provider=setup.meter_provider
    )
    out.write(_banner(server, setup, options))
    out.flush()
    display = _Display(out, summary_reader, options.refresh)
    try:
        drift = None if options.drift_after is None else DriftSchedule(options.drift_after, server.reconfigure)
        sent, failed = asyncio.run(_drive(options, server.url, display, server_config, drift))
    except KeyboardInterrupt:  # a second Ctrl-C while draining
        sent, failed = -1, -1
    finally:
        display.show(final=True)
        otel_llmperf.uninstrument()
        setup.shutdown()
        server.stop()
    if sent >= 0:
        out.write(f"sent {sent} requests, {failed} ended in an (injected) error; stopped cleanly\n")
    return 0
