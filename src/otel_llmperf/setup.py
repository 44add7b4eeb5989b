# SPDX-License-Identifier: Apache-2.0
"""SDK providers and exporters for applications that did not configure OpenTelemetry.

If the application set its own tracer or meter provider, that provider is used as it is.
Otherwise this module builds one from :class:`~otel_llmperf.config.Settings`: OTLP (HTTP or
gRPC), a Prometheus scrape endpoint, or the console. A signal with no exporter stays off (the
no-op provider), so nothing is computed for it. Failures to start an exporter warn and leave
the application running without that exporter.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from otel_llmperf import _errors
from otel_llmperf.config import Settings

_logger = _errors.logger("otel_llmperf")

_MULTIPROCESS_HINT = (
    "several processes cannot share one scrape port: export with OTLP instead "
    "(OTEL_METRICS_EXPORTER=otlp), or give each process its own OTEL_EXPORTER_PROMETHEUS_PORT"
)


@dataclass
class ProviderSetup:
    """The providers in use and a description of where their data goes."""

    tracer_provider: trace.TracerProvider | None = None
    meter_provider: metrics.MeterProvider | None = None
    logger_provider: Any = None
    traces: str = "off"
    metrics: str = "off"
    events: str = "off"
    prometheus_port: int | None = None
    _servers: list[Any] = field(default_factory=list)
    _owned: list[Any] = field(default_factory=list)

    def describe(self) -> str:
        """One human line: which signals are active and where they go."""
        return f"traces → {self.traces}; metrics → {self.metrics}; events → {self.events}"

    def shutdown(self) -> None:
        """Flush and stop what this set-up created (servers and providers); used by tests and the demo."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for provider in self._owned:
            provider.shutdown()
        self._servers.clear()
        self._owned.clear()


def _resource(settings: Settings) -> Resource:
    return Resource.create({SERVICE_NAME: settings.service_name} if settings.service_name else {})


def _signal_endpoint(settings: Settings, protocol: str, path: str) -> dict[str, Any]:
    # The kwarg names a base URL like OTEL_EXPORTER_OTLP_ENDPOINT; HTTP exporters want the
    # per-signal URL when given one explicitly, gRPC exporters the bare address.
    if settings.otlp_endpoint is None:
        return {}
    base = settings.otlp_endpoint.rstrip("/")
    return {"endpoint": base if protocol == "grpc" else f"{base}/{path}"}


def _otlp_span_exporter(settings: Settings) -> SpanExporter | None:
    protocol = settings.traces_otlp_protocol
    kwargs = _signal_endpoint(settings, protocol, "v1/traces")
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpan

            return GrpcSpan(**kwargs)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpan

        return HttpSpan(**kwargs)
    except ImportError:
        _logger.warning("OTLP/gRPC trace export needs `pip install 'otel-llmperf[grpc]'`; traces are not exported")
        return None


def _otlp_metric_reader(settings: Settings) -> MetricReader | None:
    protocol = settings.metrics_otlp_protocol
    kwargs = _signal_endpoint(settings, protocol, "v1/metrics")
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetric

            return PeriodicExportingMetricReader(GrpcMetric(**kwargs))
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetric

        return PeriodicExportingMetricReader(HttpMetric(**kwargs))
    except ImportError:
        _logger.warning("OTLP/gRPC metric export needs `pip install 'otel-llmperf[grpc]'`; metrics go elsewhere")
        return None


def _prometheus_reader(settings: Settings, setup: ProviderSetup, registry: Any) -> MetricReader | None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import REGISTRY, start_http_server

    registry = REGISTRY if registry is None else registry
    try:
        server, _thread = start_http_server(settings.prometheus_port, addr=settings.prometheus_host, registry=registry)
    except OSError as error:
        _logger.warning(
            "Prometheus endpoint %s:%s unavailable (%s); this process runs on without it. Note: %s",
            settings.prometheus_host,
            settings.prometheus_port,
            error.strerror or error,
            _MULTIPROCESS_HINT,
        )
        return None
    setup._servers.append(server)
    setup.prometheus_port = server.server_port
    return PrometheusMetricReader(registry=registry)


def _otlp_log_exporter(settings: Settings) -> Any:
    protocol = settings.logs_otlp_protocol
    kwargs = _signal_endpoint(settings, protocol, "v1/logs")
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLog

            return GrpcLog(**kwargs)
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLog

        return HttpLog(**kwargs)
    except ImportError:
        _logger.warning("OTLP/gRPC log export needs `pip install 'otel-llmperf[grpc]'`; events are not exported")
        return None


def build_logger_provider(settings: Settings) -> tuple[Any, str]:
    """A logger provider for the feedback/evaluation events, or ``None`` when no exporter is active."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter

    exporters: list[tuple[str, Any]] = []
    for name in settings.logs_exporter:
        exporter = _otlp_log_exporter(settings) if name == "otlp" else ConsoleLogRecordExporter()
        if exporter is not None:
            exporters.append((f"otlp ({settings.logs_otlp_protocol})" if name == "otlp" else name, exporter))
    if not exporters:
        return None, "off"
    provider = LoggerProvider(resource=_resource(settings))
    for _label, exporter in exporters:
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider, ", ".join(label for label, _ in exporters)


def build_tracer_provider(settings: Settings) -> tuple[TracerProvider | None, str]:
    """A tracer provider with the configured exporters, or ``None`` when no exporter is active."""
    exporters: list[tuple[str, SpanExporter]] = []
    for name in settings.traces_exporter:
        exporter = _otlp_span_exporter(settings) if name == "otlp" else ConsoleSpanExporter()
        if exporter is not None:
            label = f"otlp ({settings.traces_otlp_protocol})" if name == "otlp" else name
            exporters.append((label, exporter))
    if not exporters:
        return None, "off"
    provider = TracerProvider(resource=_resource(settings))
    for _label, exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, ", ".join(label for label, _ in exporters)


def build_meter_provider(
    settings: Settings,
    setup: ProviderSetup,
    prometheus_registry: Any = None,
    extra_readers: Sequence[MetricReader] = (),
) -> tuple[MeterProvider | None, str]:
    """A meter provider with the configured readers (plus ``extra_readers``), or ``None`` with none at all."""
    readers: list[tuple[str, MetricReader]] = []
    for name in settings.metrics_exporter:
        if name == "prometheus":
            reader = _prometheus_reader(settings, setup, prometheus_registry)
            label = f"prometheus (http://{settings.prometheus_host}:{setup.prometheus_port}/metrics)"
        elif name == "otlp":
            reader = _otlp_metric_reader(settings)
            label = f"otlp ({settings.metrics_otlp_protocol})"
        else:
            reader = PeriodicExportingMetricReader(ConsoleMetricExporter())
            label = name
        if reader is not None:
            readers.append((label, reader))
    if not readers and not extra_readers:
        return None, "off"
    all_readers = [reader for _, reader in readers] + list(extra_readers)
    provider = MeterProvider(metric_readers=all_readers, resource=_resource(settings))
    return provider, ", ".join(label for label, _ in readers) or "off"


def build_providers(
    settings: Settings, prometheus_registry: Any = None, extra_metric_readers: Sequence[MetricReader] = ()
) -> ProviderSetup:
    """Build (without installing globally) the providers ``settings`` ask for."""
    setup = ProviderSetup()
    setup.tracer_provider, setup.traces = build_tracer_provider(settings)
    setup.meter_provider, setup.metrics = build_meter_provider(
        settings, setup, prometheus_registry, extra_metric_readers
    )
    setup.logger_provider, setup.events = build_logger_provider(settings)
    setup._owned.extend(p for p in (setup.tracer_provider, setup.meter_provider, setup.logger_provider) if p)
    return setup


def _configured(provider: object) -> bool:
    # The API hands out proxies until an application installs a real provider.
    return not isinstance(provider, trace.ProxyTracerProvider) and type(provider).__name__ != "_ProxyMeterProvider"


def _ensure_logger_provider(settings: Settings, setup: ProviderSetup) -> None:
    from opentelemetry import _logs

    logger_provider = _logs.get_logger_provider()
    if type(logger_provider).__name__ != "ProxyLoggerProvider":
        setup.logger_provider, setup.events = logger_provider, "the application's logger provider"
        return
    built, setup.events = build_logger_provider(settings)
    if built is not None:
        _logs.set_logger_provider(built)
        setup.logger_provider = built


_global_lock = threading.Lock()
_global_setup: ProviderSetup | None = None


def ensure_global_providers(settings: Settings, prometheus_registry: Any = None) -> ProviderSetup:
    """Use the application's global providers, or build and install ours (once per process)."""
    global _global_setup
    with _global_lock:
        if _global_setup is not None:
            return _global_setup
        setup = ProviderSetup()
        tracer_provider = trace.get_tracer_provider()
        if _configured(tracer_provider):
            setup.tracer_provider, setup.traces = tracer_provider, "the application's tracer provider"
        else:
            built, setup.traces = build_tracer_provider(settings)
            if built is not None:
                trace.set_tracer_provider(built)
                setup.tracer_provider = built
        meter_provider = metrics.get_meter_provider()
        if _configured(meter_provider):
            setup.meter_provider, setup.metrics = meter_provider, "the application's meter provider"
        else:
            built_meter, setup.metrics = build_meter_provider(settings, setup, prometheus_registry)
            if built_meter is not None:
                metrics.set_meter_provider(built_meter)
                setup.meter_provider = built_meter
        _ensure_logger_provider(settings, setup)
        _global_setup = setup
        return setup
