# SPDX-License-Identifier: Apache-2.0
"""The Prometheus scrape endpoint: a pull metric reader served by ``prometheus_client``'s HTTP server.

A scrape collects the SDK's cumulative state and renders it (:mod:`otel_llmperf.prometheus_families`),
as OpenMetrics with exemplars when the scraper asks for it (Prometheus does), as the classic
text format otherwise. Nothing runs per call: all work happens at scrape time.

With a multi-process directory (:mod:`otel_llmperf.prometheus_multiproc`) every process writes
its series to a file there, and whichever process holds the port serves the sum of all files;
the others keep trying the port so that one of them takes over when its holder exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader

from otel_llmperf import _errors
from otel_llmperf.prometheus_families import ExemplarCache, Snapshot, render, snapshot
from otel_llmperf.prometheus_multiproc import Directory

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData
    from prometheus_client.metrics_core import Metric

_logger = _errors.logger("otel_llmperf")
_endpoints: weakref.WeakSet[Endpoint] = weakref.WeakSet()


def write_all() -> None:
    """Write the file of every multi-process endpoint of this process now (a worker about to exit)."""
    for endpoint in list(_endpoints):
        endpoint.write()


def _cumulative() -> dict[type, AggregationTemporality]:
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )

    kinds = (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
    return dict.fromkeys(kinds, AggregationTemporality.CUMULATIVE)


class PrometheusReader(MetricReader):
    """A pull reader: :meth:`families` collects the SDK state as Prometheus families with exemplars."""

    def __init__(self) -> None:
        super().__init__(preferred_temporality=_cumulative())
        self._lock = threading.Lock()
        self._received: MetricsData | None = None
        self._exemplars: ExemplarCache = {}
        self.on_shutdown: list[Any] = []

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._received = metrics_data

    def snapshot(self) -> Snapshot | None:
        """This process's series now, or ``None`` when the reader is not (or no longer) collecting."""
        with self._lock:
            self._received = None
            self.collect()
            received, self._received = self._received, None
            return None if received is None else snapshot(received, self._exemplars)

    def after_fork(self) -> None:
        """New locks in a forked child: another thread may have held the old one at fork time."""
        self._lock = threading.Lock()

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Run the shutdown hooks (the multi-process endpoint writes its file a last time)."""
        hooks, self.on_shutdown = self.on_shutdown, []
        for hook in hooks:
            hook()


class SnapshotCollector:
    """A ``prometheus_client`` collector rendering ``source()`` (a snapshot, or ``None``) at each scrape."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        """Nothing: without describe() a registry with auto_describe would collect at registration."""
        return []

    def collect(self) -> list[Metric]:
        """The families of one scrape; an error is reported and yields none."""
        try:
            taken = self._source()
            return [] if taken is None else render(taken)
        except Exception as error:  # a scrape must never take the server thread down
            _errors.report("prometheus scrape", error)
            return []


class Endpoint:
    """The reader, the registry collector and (when this process holds the port) the HTTP server."""

    def __init__(self, host: str, port: int, registry: Any, directory: Directory | None, interval: float) -> None:
        self.reader = PrometheusReader()
        self.host, self.port = host, port
        self.directory = directory
        self._interval = interval
        self._registry = registry
        self._collector = SnapshotCollector(self.snapshot)
        registry.register(self._collector)
        self._server: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if directory is not None:
            _endpoints.add(self)
            self.reader.on_shutdown.append(self.write)
            atexit.register(self.write)
            weak = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (method := weak()) and method())
            self._start_thread()

    @property
    def serving(self) -> bool:
        """Whether this process holds the port and answers scrapes."""
        return self._server is not None

    def snapshot(self) -> Snapshot | None:
        """What a scrape of this endpoint shows: this process, plus every file in multi-process mode."""
        own = self.reader.snapshot()
        if self.directory is None:
            return own
        return self.directory.merged(own)

    def write(self) -> None:
        """Write this process's file now (multi-process mode); never raises."""
        if self.directory is None:
            return
        try:
            self.directory.write(self.reader.snapshot())
        except Exception as error:
            _errors.report("prometheus multi-process write", error)

    def bind(self) -> None:
        """Take the port; raises ``OSError`` when another process holds it."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(self.port, addr=self.host, registry=self._registry)
        self._server = server
        self.port = server.server_port

    def _start_thread(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otel-llmperf-prometheus", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # One tick per interval: write this process's file, and try the port if nobody here serves.
        while not self._stop.wait(self._interval):
            self.write()
            if self._server is None:
                try:
                    self.bind()
                except OSError:
                    pass  # the usual case: another worker holds it
                except Exception as error:
                    _errors.report("prometheus bind", error)

    def _after_fork_in_child(self) -> None:
        self.reader.after_fork()
        if self.directory is not None:
            self.directory.after_fork()
        if self._server is not None:
            # The parent serves on this socket; the child has no server thread and must let go.
            self._server.socket.close()
            self._server = None
        if self._thread is not None and not self._stop.is_set():
            self._start_thread()

    def shutdown(self) -> None:
        """Stop the server and the writer thread, and unregister from the registry."""
        self._stop.set()
        atexit.unregister(self.write)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with contextlib.suppress(KeyError):
            self._registry.unregister(self._collector)

    def server_close(self) -> None:
        """Nothing left to close: :meth:`shutdown` closed the socket (ProviderSetup calls both)."""


def start_endpoint(
    host: str, port: int, registry: Any = None, directory: str | None = None, interval: float = 1.0
) -> Endpoint | None:
    """The endpoint on ``host:port``; ``None`` (with a warning) if a single process cannot bind it.

    In multi-process mode (``directory`` set) a busy port is normal: this process writes its file
    and keeps trying the port in the background.
    """
    from prometheus_client import REGISTRY

    store = Directory(directory) if directory else None
    endpoint = Endpoint(host, port, REGISTRY if registry is None else registry, store, interval)
    try:
        endpoint.bind()
    except OSError as error:
        if store is not None:
            return endpoint
        endpoint.shutdown()
        _logger.warning(
            "Prometheus endpoint %s:%s unavailable (%s); this process runs on without it. Note: several "
            "processes cannot share one scrape port unless OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR is set "
            "(see docs/scaling-out.md); or export with OTLP (OTEL_METRICS_EXPORTER=otlp)",
            host,
            port,
            error.strerror or error,
        )
        return None
    return endpoint
