# SPDX-License-Identifier: Apache-2.0
"""Where each signal goes with these settings, resolved as the SDK's exporters resolve it, and checked.

The URLs follow the OTLP exporters of the OpenTelemetry SDK: over HTTP a per-signal endpoint
variable is used as it is, the general one gets ``/v1/<signal>`` appended, and the default is
``http://localhost:4318``; over gRPC either variable names the address (default ``localhost:4317``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib.metadata import PackageNotFoundError, distribution

from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_HEADERS,
    OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS,
)
from opentelemetry.util.re import parse_env_headers

from otel_llmperf.config import SdkVariables, Settings
from otel_llmperf.doctor.findings import ERROR, INFO, OK, WARNING, Finding
from otel_llmperf.doctor.probes import Probe, grpc_address, probe_otlp_http, probe_prometheus, probe_tcp

_SIGNAL_VARIABLES = {
    "traces": (
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
        OTEL_EXPORTER_OTLP_TRACES_HEADERS,
        OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    ),
    "metrics": (
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
        OTEL_EXPORTER_OTLP_METRICS_HEADERS,
        OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    ),
    "logs": (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, OTEL_EXPORTER_OTLP_LOGS_HEADERS, OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE),
}
_PACKAGES = {
    "http/protobuf": "opentelemetry-exporter-otlp-proto-http",
    "grpc": "opentelemetry-exporter-otlp-proto-grpc",
    "prometheus": "opentelemetry-exporter-prometheus",
}
# What each signal carries, for the line that says it is off.
_CARRIES = {"traces": "spans", "metrics": "metrics", "logs": "feedback/evaluation events"}


@dataclass(frozen=True)
class Export:
    """One exporter of one signal, and the probe that checks its destination (if any)."""

    signal: str
    exporter: str
    protocol: str | None = None
    url: str | None = None
    probe: Callable[[], Probe] | None = None
    problem: str | None = None  # why the exporter cannot be built at all, or why the signal is off


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def otlp_url(environ: Mapping[str, str], signal: str, protocol: str) -> str:
    """The URL (HTTP) or address (gRPC) the SDK's OTLP exporter of ``signal`` sends to."""
    specific = _env(environ, _SIGNAL_VARIABLES[signal][0])
    general = _env(environ, OTEL_EXPORTER_OTLP_ENDPOINT)
    if protocol == "grpc":
        return specific or general or "http://localhost:4317"
    if specific:
        return specific
    return f"{(general or 'http://localhost:4318').removesuffix('/')}/v1/{signal}"


def _installed(package: str) -> bool:
    try:
        distribution(package)
    except PackageNotFoundError:
        return False
    return True


def _otlp(signal: str, protocol: str, environ: Mapping[str, str], variables: SdkVariables, timeout: float) -> Export:
    url = otlp_url(environ, signal, protocol)
    package = _PACKAGES[protocol]
    if not _installed(package):
        return Export(signal, "otlp", protocol, url, problem=f"{package} is not installed")
    if not variables.sdk_trace_importable():
        return Export(signal, "otlp", protocol, url, problem="OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT is invalid")
    unusable = variables.otlp(signal, protocol).unusable
    if unusable is not None:
        return Export(signal, "otlp", protocol, url, problem=f"{unusable} is invalid")
    if protocol == "grpc":
        address = grpc_address(url)
        if address is None:
            return Export(signal, "otlp", protocol, url, problem=f"{url!r} names no host")
        return Export(signal, "otlp", protocol, url, partial(probe_tcp, *address, timeout))
    _, headers_variable, certificate_variable = _SIGNAL_VARIABLES[signal]
    raw_headers = _env(environ, headers_variable) or _env(environ, OTEL_EXPORTER_OTLP_HEADERS) or ""
    headers = parse_env_headers(raw_headers, liberal=True)
    cafile = _env(environ, certificate_variable) or _env(environ, OTEL_EXPORTER_OTLP_CERTIFICATE)
    return Export(signal, "otlp", protocol, url, partial(probe_otlp_http, url, headers, timeout, cafile))


def plan(settings: Settings, environ: Mapping[str, str], variables: SdkVariables, timeout: float) -> list[Export]:
    """Every exporter these settings build, signal by signal, with its probe."""
    chosen = {"traces": settings.traces_exporter, "metrics": settings.metrics_exporter, "logs": settings.logs_exporter}
    protocols = {
        "traces": settings.traces_otlp_protocol,
        "metrics": settings.metrics_otlp_protocol,
        "logs": settings.logs_otlp_protocol,
    }
    exports: list[Export] = []
    for signal, names in chosen.items():
        if not names:
            variable = f"OTEL_{signal.upper()}_EXPORTER"
            raw = _env(environ, variable)
            exports.append(Export(signal, "none", problem=f"{variable}={raw}" if raw else "no OTLP endpoint set"))
        for name in names:
            if name == "otlp":
                exports.append(_otlp(signal, protocols[signal], environ, variables, timeout))
            elif name == "prometheus":
                host, port = settings.prometheus_host, settings.prometheus_port
                url = f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"
                if not _installed(_PACKAGES["prometheus"]):
                    exports.append(Export(signal, name, url=url, problem=f"{_PACKAGES['prometheus']} is not installed"))
                elif port == 0:
                    exports.append(Export(signal, name, url=url))
                else:
                    exports.append(Export(signal, name, url=url, probe=partial(probe_prometheus, host, port, timeout)))
            else:
                exports.append(Export(signal, name))
    return exports


def export_findings(exports: list[Export], probed: Mapping[int, Probe]) -> list[Finding]:
    """One finding per exporter, from what its probe saw (``probed`` is keyed by position in ``exports``)."""
    findings: list[Finding] = []
    for index, export in enumerate(exports):
        if export.exporter == "none":
            findings.append(_off(export))
        elif export.exporter == "prometheus":
            findings.append(_prometheus(export, probed.get(index)))
        else:
            findings.append(_export(export, probed.get(index)))
    if all(export.exporter == "none" for export in exports if export.signal in ("traces", "metrics")):
        findings.append(
            Finding(
                "export",
                ERROR,
                "all",
                "no exporter for traces or metrics: nothing leaves the process",
                "set OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_METRICS_EXPORTER=prometheus",
            )
        )
    return findings


def _off(export: Export) -> Finding:
    signal = export.signal
    if signal == "metrics":
        return Finding(
            "export",
            WARNING,
            "metrics",
            f"off ({export.problem}): no dashboards, alerts or cost",
            "OTEL_METRICS_EXPORTER=prometheus or otlp",
            {"signal": signal, "exporter": "none"},
        )
    message = f"off, no {_CARRIES[signal]} exported ({export.problem})"
    return Finding("export", INFO, signal, message, data={"signal": signal, "exporter": "none"})


def _export(export: Export, probe: Probe | None) -> Finding:
    signal = export.signal
    data: dict[str, object] = {
        "signal": signal,
        "exporter": export.exporter,
        "protocol": export.protocol,
        "url": export.url,
    }
    if export.exporter == "console":
        return Finding("export", INFO, signal, "console: printed on the application's stdout", data=data)
    what = f"otlp {export.protocol} {export.url}"
    if export.problem is not None:
        fix = "pip install 'otel-llmperf[grpc]'" if "grpc" in export.problem else "see the configuration lines"
        return Finding("export", ERROR, signal, f"{what}: not exported, {export.problem}", fix, data)
    assert probe is not None  # every buildable OTLP exporter has a probe
    data.update(state=probe.state, status=probe.status, detail=probe.detail)
    if probe.state == "ok":
        return Finding("export", OK, signal, f"{what}: {probe.detail}", data=data)
    return Finding("export", ERROR, signal, f"{what}: {probe.detail}", _otlp_fix(export, probe), data)


def _otlp_fix(export: Export, probe: Probe) -> str:
    if probe.status == 404:
        return (
            "wrong path: OTEL_EXPORTER_OTLP_ENDPOINT is the base URL (no /v1/...); "
            f"OTEL_EXPORTER_OTLP_{export.signal.upper()}_ENDPOINT is the full URL"
        )
    if probe.status in (401, 403):
        return "the receiver wants credentials: set OTEL_EXPORTER_OTLP_HEADERS (e.g. authorization=...)"
    if probe.status is not None:
        return "the receiver is up but refuses exports: see its logs"
    if export.protocol == "grpc":
        return "start the Collector's OTLP/gRPC receiver (4317), or fix OTEL_EXPORTER_OTLP_ENDPOINT"
    return "start the Collector's OTLP/HTTP receiver (4318), or fix OTEL_EXPORTER_OTLP_ENDPOINT"


def _prometheus(export: Export, probe: Probe | None) -> Finding:
    data: dict[str, object] = {"signal": "metrics", "exporter": "prometheus", "url": export.url}
    scrape = f"scrape {export.url}"
    if export.problem is not None:
        return Finding(
            "prometheus", ERROR, "prometheus", f"{export.url}: {export.problem}", "pip install otel-llmperf", data
        )
    if probe is None:
        message = "OTEL_EXPORTER_PROMETHEUS_PORT=0: any free port; the application logs the one it got"
        return Finding("prometheus", INFO, "prometheus", message, data={**data, "state": "any"})
    data.update(state=probe.state, detail=probe.detail)
    fix = "stop what holds the port, or set OTEL_EXPORTER_PROMETHEUS_PORT to a free one"
    if probe.state == "free":
        return Finding("prometheus", OK, "prometheus", f"{scrape} (port free)", data=data)
    if probe.state == "ours":
        return Finding("prometheus", INFO, "prometheus", f"{scrape}: {probe.detail}", data=data)
    if probe.state == "metrics":
        message = f"{scrape}: {probe.detail} (the application before its first LLM call, or another exporter)"
        return Finding("prometheus", WARNING, "prometheus", message, f"if it is not the application: {fix}", data)
    return Finding("prometheus", ERROR, "prometheus", f"{export.url}: {probe.detail}", fix, data)


def multiprocess_findings(settings: Settings) -> list[Finding]:
    """The multi-process directory, when set: whether workers can write their series there."""
    directory = settings.prometheus_multiproc_dir
    if directory is None or "prometheus" not in settings.metrics_exporter:
        return []
    import os
    from pathlib import Path

    from otel_llmperf.prometheus_multiproc import PREFIX, SUFFIX

    path = Path(directory)
    interval = round(settings.prometheus_multiproc_interval * 1000)
    data: dict[str, object] = {"directory": directory, "interval_ms": interval}
    if path.exists() and not (path.is_dir() and os.access(path, os.W_OK | os.X_OK)):
        message = f"multi-process directory {directory} is not a writable directory: each worker serves only itself"
        fix = "point OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR at a directory every worker can write"
        return [Finding("prometheus", ERROR, "workers", message, fix, data)]
    files = len(list(path.glob(f"{PREFIX}*{SUFFIX}"))) if path.is_dir() else 0
    data["files"] = files
    message = (
        f"workers write their series to {directory} every {interval} ms ({files} files so far); "
        "the one holding the port serves the sum"
    )
    return [Finding("prometheus", INFO, "workers", message, data=data)]
