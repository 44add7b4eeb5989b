# SPDX-License-Identifier: Apache-2.0
"""SDK providers and exporters for applications that did not configure OpenTelemetry.

If the application set its own tracer or meter provider, that provider is used as it is.
Otherwise this module builds one from :class:`~otel_llmperf.config.Settings`: OTLP (HTTP or
gRPC), a Prometheus scrape endpoint, or the console. A signal with no exporter stays off (the
no-op provider), so nothing is computed for it.

The providers built here are shut down by :mod:`otel_llmperf.shutdown`, never by the SDK's own
exit handlers: at exit (or :meth:`ProviderSetup.shutdown`) they flush concurrently within one
deadline, ``OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT``, and what did not arrive is said in one line.

Building never raises into ``instrument()``. The SDK's own variables are checked first
(:class:`~otel_llmperf.config.SdkVariables`): a bad one warns, naming itself, and its default
reaches the SDK as a constructor argument. Any other failure to build an exporter, reader or
provider warns and leaves the application running without it. The SDK is imported here only
when used: a bad ``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`` makes ``opentelemetry.sdk.trace`` (and the
OTLP exporters) fail at import, which must cost those exporters, not ``import otel_llmperf``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import metrics, trace

from otel_llmperf import _errors
from otel_llmperf.config import (
    BLRP_VARIABLES,
    BSP_VARIABLES,
    DEFAULT_SHUTDOWN_TIMEOUT,
    LOG_LIMIT_VARIABLES,
    SPAN_LIMIT_VARIABLES,
    SdkVariables,
    Settings,
)
from otel_llmperf.shutdown import Owned
from otel_llmperf.tally import Tally

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

T = TypeVar("T")

_logger = _errors.logger("otel_llmperf")
_GRPC_EXTRA = "the grpc extra (opentelemetry-exporter-otlp-proto-grpc)"


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
    _owned: Owned = field(default_factory=lambda: Owned(DEFAULT_SHUTDOWN_TIMEOUT))

    def describe(self) -> str:
        """One human line: which signals are active and where they go."""
        return f"traces → {self.traces}; metrics → {self.metrics}; events → {self.events}"

    def shutdown(self) -> None:
        """Flush and stop what this set-up created, within the shutdown timeout; used by tests and the demo."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        self._owned.shutdown()


def _exporters(
    names: Sequence[str], protocol: str, what: str, otlp: Callable[[], Any], console: Callable[[], Any]
) -> list[tuple[str, Any]]:
    """The exporters of one signal that could be built, each with its label for the start line."""
    built: list[tuple[str, Any]] = []
    for name in names:
        label = f"otlp ({protocol})" if name == "otlp" else name
        exporter = _built(f"the {label} {what} exporter", otlp if name == "otlp" else console)
        if exporter is not None:
            built.append((label, exporter))
    return built


def _provider(what: str, build: Callable[[], T], exporters: Sequence[tuple[str, Any]]) -> tuple[T | None, str]:
    """The provider ``build()`` makes and the labels of its exporters, or ``(None, "off")``."""
    provider = _built(what, build) if exporters else None
    if provider is None:
        return None, "off"
    return provider, ", ".join(label for label, _ in exporters)


def _resource(settings: Settings) -> Resource:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    return Resource.create({SERVICE_NAME: settings.service_name} if settings.service_name else {})


def _built(what: str, build: Callable[[], T]) -> T | None:
    """``build()``, or ``None`` with one warning saying what is off and why: set-up never raises."""
    try:
        return build()
    except Exception as error:
        _logger.warning(
            "otel-llmperf: %s could not be set up (%s: %s); the application runs on without it",
            what,
            type(error).__name__,
            error,
        )
        return None


def _otlp_options(variables: SdkVariables, signal: str, protocol: str) -> dict[str, Any] | None:
    # Checked timeout and compression as constructor arguments; None when no exporter can be built.
    if not variables.sdk_trace_importable():  # every OTLP exporter imports the tracing SDK
        return None
    checked = variables.otlp(signal, protocol)
    if checked.unusable is not None:
        return None
    options: dict[str, Any] = {}
    if checked.timeout is not None:
        options["timeout"] = checked.timeout
    if checked.compression is not None:
        if protocol == "grpc":
            try:
                import grpc  # type: ignore[import-untyped]
            except ImportError:  # without the [grpc] extra; the exporter's import says so
                return options
            # The gRPC exporters know only "gzip" by name and fail on "none" and "deflate".
            options["compression"] = {
                "gzip": grpc.Compression.Gzip,
                "deflate": grpc.Compression.Deflate,
            }.get(checked.compression, grpc.Compression.NoCompression)
        else:
            from opentelemetry.exporter.otlp.proto.http import Compression

            options["compression"] = Compression(checked.compression)
    return options


def _signal_endpoint(settings: Settings, protocol: str, path: str) -> dict[str, Any]:
    # The kwarg names a base URL like OTEL_EXPORTER_OTLP_ENDPOINT; HTTP exporters want the
    # per-signal URL when given one explicitly, gRPC exporters the bare address.
    if settings.otlp_endpoint is None:
        return {}
    base = settings.otlp_endpoint.rstrip("/")
    return {"endpoint": base if protocol == "grpc" else f"{base}/{path}"}


def _otlp_span_exporter(settings: Settings, variables: SdkVariables) -> SpanExporter | None:
    protocol = settings.traces_otlp_protocol
    options = _otlp_options(variables, "traces", protocol)
    if options is None:
        return None
    kwargs = {**_signal_endpoint(settings, protocol, "v1/traces"), **options}
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpan

            return GrpcSpan(**kwargs)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpan

        return HttpSpan(**kwargs)
    except ImportError:
        _logger.warning("OTLP/gRPC trace export needs %s; traces are not exported", _GRPC_EXTRA)
        return None


def _otlp_metric_reader(settings: Settings, variables: SdkVariables, tallies: list[Tally]) -> MetricReader | None:
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    protocol = settings.metrics_otlp_protocol
    options = _otlp_options(variables, "metrics", protocol)
    if options is None:
        return None
    from otel_llmperf import counted  # imports the tracing SDK: only once it is known to import

    kwargs = {**_signal_endpoint(settings, protocol, "v1/metrics"), **options}
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetric

            exporter: Any = GrpcMetric(**kwargs)
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetric

            exporter = HttpMetric(**kwargs)
        return PeriodicExportingMetricReader(counted.metric_exporter(exporter, tallies), **variables.metric_reader())
    except ImportError:
        _logger.warning("OTLP/gRPC metric export needs %s; metrics go elsewhere", _GRPC_EXTRA)
        return None


def _prometheus_reader(settings: Settings, setup: ProviderSetup, registry: Any) -> MetricReader | None:
    from otel_llmperf.prometheus import start_endpoint

    endpoint = start_endpoint(
        settings.prometheus_host,
        settings.prometheus_port,
        registry,
        settings.prometheus_multiproc_dir,
        settings.prometheus_multiproc_interval,
    )
    if endpoint is None:
        return None
    setup._servers.append(endpoint)
    setup.prometheus_port = endpoint.port
    return endpoint.reader


def _otlp_log_exporter(settings: Settings, variables: SdkVariables) -> Any:
    protocol = settings.logs_otlp_protocol
    options = _otlp_options(variables, "logs", protocol)
    if options is None:
        return None
    kwargs = {**_signal_endpoint(settings, protocol, "v1/logs"), **options}
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLog

            return GrpcLog(**kwargs)
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLog

        return HttpLog(**kwargs)
    except ImportError:
        _logger.warning("OTLP/gRPC log export needs %s; events are not exported", _GRPC_EXTRA)
        return None


def _console_log_exporter() -> Any:
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

    return ConsoleLogRecordExporter()


def _otlp(label: str) -> bool:
    return label.startswith("otlp")


def build_logger_provider(settings: Settings, owned: Owned) -> tuple[Any, str]:
    """A logger provider (owned by ``owned``) for feedback/evaluation events, or ``None`` with no exporter."""
    variables = SdkVariables()
    exporters = _exporters(
        settings.logs_exporter,
        settings.logs_otlp_protocol,
        "event",
        lambda: _otlp_log_exporter(settings, variables),
        _console_log_exporter,
    )

    def build() -> Any:
        from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        limits = variables.limits(LOG_LIMIT_VARIABLES)
        provider = LoggerProvider(
            resource=_resource(settings),
            log_record_limits=LogRecordLimits(**limits) if limits else None,
            shutdown_on_exit=False,
        )
        tallies: list[Tally] = []
        for label, exporter in exporters:
            options = variables.batch(BLRP_VARIABLES)
            if _otlp(label):  # an OTLP exporter was built: the tracing SDK imports
                from otel_llmperf import counted

                provider.add_log_record_processor(counted.log_processor(exporter, tallies, **options))
            else:
                provider.add_log_record_processor(BatchLogRecordProcessor(exporter, **options))
        owned.add(provider, tallies)
        return provider

    return _provider("the event (log record) provider", build, exporters)


def _console_span_exporter() -> SpanExporter:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter()


def build_tracer_provider(settings: Settings, owned: Owned) -> tuple[TracerProvider | None, str]:
    """A tracer provider (owned by ``owned``) with the configured exporters, or ``None`` with no exporter."""
    variables = SdkVariables()
    if settings.traces_exporter and not variables.sdk_trace_importable():
        return None, "off"
    exporters = _exporters(
        settings.traces_exporter,
        settings.traces_otlp_protocol,
        "trace",
        lambda: _otlp_span_exporter(settings, variables),
        _console_span_exporter,
    )

    def build() -> TracerProvider:
        from opentelemetry.sdk.trace import SpanLimits, TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from otel_llmperf import counted

        limits = variables.limits(SPAN_LIMIT_VARIABLES)
        provider = TracerProvider(
            resource=_resource(settings), span_limits=SpanLimits(**limits) if limits else None, shutdown_on_exit=False
        )
        tallies: list[Tally] = []
        for label, exporter in exporters:
            options = variables.batch(BSP_VARIABLES)
            provider.add_span_processor(
                counted.span_processor(exporter, tallies, **options)
                if _otlp(label)
                else BatchSpanProcessor(exporter, **options)
            )
        owned.add(provider, tallies)
        return provider

    return _provider("the tracer provider", build, exporters)


def _console_metric_reader(variables: SdkVariables) -> MetricReader:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    return PeriodicExportingMetricReader(ConsoleMetricExporter(), **variables.metric_reader())


def build_meter_provider(
    settings: Settings,
    setup: ProviderSetup,
    prometheus_registry: Any = None,
    extra_readers: Sequence[MetricReader] = (),
) -> tuple[MeterProvider | None, str]:
    """A meter provider with the configured readers (plus ``extra_readers``), or ``None`` with none at all.

    The provider is owned by ``setup``: it is shut down with the set-up or, bounded, at exit.
    """
    variables = SdkVariables()
    readers: list[tuple[str, MetricReader]] = []
    tallies: list[Tally] = []
    for name in settings.metrics_exporter:
        reader: MetricReader | None
        if name == "prometheus":
            reader = _built("the Prometheus endpoint", lambda: _prometheus_reader(settings, setup, prometheus_registry))
            label = f"prometheus (http://{settings.prometheus_host}:{setup.prometheus_port}/metrics)"
        elif name == "otlp":
            label = f"otlp ({settings.metrics_otlp_protocol})"
            reader = _built(f"the {label} metric exporter", lambda: _otlp_metric_reader(settings, variables, tallies))
        else:
            label = name
            reader = _built(f"the {name} metric exporter", lambda: _console_metric_reader(variables))
        if reader is not None:
            readers.append((label, reader))
    if not readers and not extra_readers:
        return None, "off"

    def build() -> MeterProvider:
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, AlwaysOnExemplarFilter, MeterProvider
        from opentelemetry.sdk.metrics import TraceBasedExemplarFilter as TraceBased

        exemplar_filter = {"always_on": AlwaysOnExemplarFilter, "always_off": AlwaysOffExemplarFilter}.get(
            variables.exemplar_filter(), TraceBased
        )()
        all_readers = [reader for _, reader in readers] + list(extra_readers)
        return MeterProvider(
            metric_readers=all_readers,
            resource=_resource(settings),
            exemplar_filter=exemplar_filter,
            shutdown_on_exit=False,
        )

    provider = _built("the meter provider", build)
    if provider is None:
        return None, "off"
    setup._owned.add(provider, tallies)
    return provider, ", ".join(label for label, _ in readers) or "off"


def build_providers(
    settings: Settings, prometheus_registry: Any = None, extra_metric_readers: Sequence[MetricReader] = ()
) -> ProviderSetup:
    """Build (without installing globally) the providers ``settings`` ask for."""
    setup = ProviderSetup(_owned=Owned(settings.shutdown_timeout))
    setup.tracer_provider, setup.traces = build_tracer_provider(settings, setup._owned)
    setup.meter_provider, setup.metrics = build_meter_provider(
        settings, setup, prometheus_registry, extra_metric_readers
    )
    setup.logger_provider, setup.events = build_logger_provider(settings, setup._owned)
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
    built, setup.events = build_logger_provider(settings, setup._owned)
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
        setup = ProviderSetup(_owned=Owned(settings.shutdown_timeout))
        tracer_provider = trace.get_tracer_provider()
        if _configured(tracer_provider):
            setup.tracer_provider, setup.traces = tracer_provider, "the application's tracer provider"
        else:
            built, setup.traces = build_tracer_provider(settings, setup._owned)
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
