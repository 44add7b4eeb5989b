# SPDX-License-Identifier: Apache-2.0
"""Settings, parsed once from ``OTEL_*`` variables and keyword arguments (keywords win).

Parsing follows the OpenTelemetry configuration specification: an empty value means unset,
a boolean is true only for ``true`` (any case), enums are case-insensitive, and a bad value
logs a warning and falls back to the default; nothing here raises on bad input.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.environment_variables import OTEL_LOGS_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.environment_variables import OTEL_PYTHON_DISABLED_INSTRUMENTATIONS
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_PROMETHEUS_HOST,
    OTEL_EXPORTER_PROMETHEUS_PORT,
    OTEL_SDK_DISABLED,
    OTEL_SERVICE_NAME,
)

from otel_llmperf import _errors
from otel_llmperf.environment_variables import (
    OTEL_PYTHON_LLMPERF_CHUNK_METRICS,
    OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH,
    OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS,
    OTEL_PYTHON_LLMPERF_FEEDBACK_RETENTION,
    OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET,
    OTEL_PYTHON_LLMPERF_FEEDBACK_TOKEN_TTL,
    OTEL_PYTHON_LLMPERF_LOG_CALLS,
    OTEL_PYTHON_LLMPERF_MAX_LABEL_VALUES,
    OTEL_PYTHON_LLMPERF_MAX_MODELS,
    OTEL_PYTHON_LLMPERF_MAX_VARIANTS,
    OTEL_PYTHON_LLMPERF_PRICES,
    OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS,
    OTEL_PYTHON_LLMPERF_REDACTOR,
    OTEL_PYTHON_LLMPERF_SDK_SPANS,
    OTEL_PYTHON_LLMPERF_STREAM_USAGE,
    OTEL_PYTHON_LLMPERF_USER_ID_KEY,
    OTEL_PYTHON_LLMPERF_VARIANT,
)
from otel_llmperf.pricing import PriceTable, load_prices

_logger = _errors.logger("otel_llmperf")

# Shared with other GenAI instrumentations, so deliberately not registered as ours.
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

TRACES_EXPORTERS = ("otlp", "console", "none")
LOGS_EXPORTERS = ("otlp", "console", "none")
METRICS_EXPORTERS = ("otlp", "prometheus", "console", "none")
OTLP_PROTOCOLS = ("grpc", "http/protobuf")
DEFAULT_PROMETHEUS_HOST = "127.0.0.1"
DEFAULT_PROMETHEUS_PORT = 9464
DEFAULT_CONTENT_MAX_LENGTH = 16384

# The semconv capture modes; the span-only library has no events, so only span modes capture.
_CAPTURE_MODES = {"true": True, "false": False, "no_content": False, "span_only": True, "span_and_event": True}


@dataclass(frozen=True)
class Settings:
    """Everything the instrumentation and the SDK set-up need, resolved once."""

    capture_content: bool = False
    content_max_length: int = DEFAULT_CONTENT_MAX_LENGTH
    stream_usage: bool = False
    # Whether an SDK that traces itself (anthropic) keeps its own span beside the one that records the call.
    sdk_spans: bool = False
    chunk_metrics: bool = True
    provider_hosts: Mapping[str, str] = field(default_factory=dict)
    service_name: str | None = None
    traces_exporter: tuple[str, ...] = ()
    metrics_exporter: tuple[str, ...] = ("prometheus",)
    traces_otlp_protocol: str = "http/protobuf"
    metrics_otlp_protocol: str = "http/protobuf"
    otlp_endpoint: str | None = None
    prometheus_host: str = DEFAULT_PROMETHEUS_HOST
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT
    disabled_instrumentations: frozenset[str] = frozenset()
    sdk_disabled: bool = False
    logs_exporter: tuple[str, ...] = ()
    logs_otlp_protocol: str = "http/protobuf"
    variant: str | None = None
    max_variants: int = 16
    max_models: int = 100
    max_label_values: int = 100
    feedback_secret: bytes | None = field(default=None, repr=False)
    feedback_token_ttl: float = 7 * 86400.0
    feedback_max_calls: int = 10_000
    feedback_retention: float = 3600.0
    user_id_key: bytes | None = field(default=None, repr=False)
    redact: Callable[[str], str] | None = None
    redactor_failed: bool = False  # a redactor was asked for but could not be loaded: capture nothing
    log_calls: bool = False
    prices: PriceTable = field(default_factory=lambda: load_prices(None, None), repr=False)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    """Parse a spec boolean: only ``true``/``false`` (any case); anything else warns."""
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered == "true":
        return True
    if lowered != "false":
        _logger.warning("%s=%r is not a boolean (true/false); using %s", name, raw, str(default).lower())
        return default
    return False


def parse_int(name: str, raw: str | None, default: int, minimum: int, maximum: int) -> int:
    """Parse an integer within bounds, warning and falling back on anything else."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        _logger.warning("%s=%r is not an integer in [%d, %d]; using %d", name, raw, minimum, maximum, default)
        return default
    return value


def parse_exporters(name: str, raw: str | None, allowed: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    """Parse a comma list of exporter names; unknown names warn and are ignored."""
    if raw is None:
        return default
    chosen: list[str] = []
    for item in (part.strip().lower() for part in raw.split(",")):
        if not item:
            continue
        if item not in allowed:
            _logger.warning("%s: unknown exporter %r ignored (allowed: %s)", name, item, ", ".join(allowed))
        elif item not in chosen:
            chosen.append(item)
    if "none" in chosen:
        return ()
    return tuple(chosen)


def parse_protocol(name: str, raw: str | None, default: str) -> str:
    """Parse an OTLP protocol; ``http/json`` and unknown values warn and fall back."""
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in OTLP_PROTOCOLS:
        return lowered
    _logger.warning("%s=%r is not supported (allowed: %s); using %s", name, raw, ", ".join(OTLP_PROTOCOLS), default)
    return default


def parse_capture(raw: str | None, default: bool) -> bool:
    """Parse the GenAI content-capture switch, accepting the boolean and the semconv enum forms."""
    if raw is None:
        return default
    mode = _CAPTURE_MODES.get(raw.strip().lower())
    if mode is None:
        _logger.warning(
            "%s=%r is not one of true, false, NO_CONTENT, SPAN_ONLY, SPAN_AND_EVENT; content capture stays off",
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
            raw,
        )
        return False
    return mode


def parse_provider_hosts(raw: str | None) -> dict[str, str]:
    """Parse ``host=provider`` pairs; malformed pairs warn and are skipped."""
    hosts: dict[str, str] = {}
    for pair in (raw or "").split(","):
        if not pair.strip():
            continue
        host, sep, provider = pair.partition("=")
        if not sep or not host.strip() or not provider.strip():
            _logger.warning("%s: %r is not host=provider; skipped", OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS, pair)
            continue
        hosts[host.strip().lower()] = provider.strip()
    return hosts


def _default_traces_exporter(environ: Mapping[str, str]) -> tuple[str, ...]:
    # Unlike the SDK's own default (otlp), traces are exported only to an endpoint the user
    # named: an instrumentation library must not dial localhost:4318 on its own.
    configured = _env(environ, OTEL_EXPORTER_OTLP_ENDPOINT) or _env(environ, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    return ("otlp",) if configured else ()


def _default_logs_exporter(environ: Mapping[str, str]) -> tuple[str, ...]:
    configured = _env(environ, OTEL_EXPORTER_OTLP_ENDPOINT) or _env(environ, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT)
    return ("otlp",) if configured else ()


def parse_variant(name: str, raw: str | None) -> str | None:
    """A process-default variant name; an invalid one warns and is ignored."""
    if raw is None:
        return None
    from otel_llmperf.labels import check_label

    try:
        return check_label("variant", raw)
    except ValueError as error:
        _logger.warning("%s: %s; no default variant", name, error)
        return None


def _secret(raw: str | None) -> bytes | None:
    return raw.encode() if raw else None


REDACTOR_GROUP = "otel_llmperf_redactors"


def resolve_redactor(given: Any, name: str | None) -> tuple[Callable[[str], str] | None, bool]:
    """The redaction hook: a callable keyword, else an entry point named by keyword or variable.

    Returns ``(hook, failed)``; ``failed`` means one was asked for and could not be loaded, and
    then nothing may be captured (privacy fails closed).
    """
    if callable(given):
        return given, False
    wanted = given if isinstance(given, str) and given else name
    if not wanted:
        return None, False
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=REDACTOR_GROUP) if ep.name == wanted]
    try:
        hook = found[0].load() if found else None
    except Exception as error:  # a broken plugin must not break the application
        _logger.warning("redactor %r failed to load (%s); content capture is disabled", wanted, error)
        return None, True
    if not callable(hook):
        available = ", ".join(sorted(ep.name for ep in entry_points(group=REDACTOR_GROUP))) or "none"
        _logger.warning(
            "redactor %r is not registered in %s (available: %s); content capture is disabled",
            wanted,
            REDACTOR_GROUP,
            available,
        )
        return None, True
    return hook, False


def _default_metrics_exporter(environ: Mapping[str, str]) -> tuple[str, ...]:
    configured = _env(environ, OTEL_EXPORTER_OTLP_ENDPOINT) or _env(environ, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT)
    return ("prometheus", "otlp") if configured else ("prometheus",)


_KWARGS = frozenset(
    {
        "capture_content",
        "content_max_length",
        "stream_usage",
        "sdk_spans",
        "chunk_metrics",
        "provider_hosts",
        "service_name",
        "traces_exporter",
        "metrics_exporter",
        "otlp_protocol",
        "otlp_endpoint",
        "prometheus_host",
        "prometheus_port",
        "disabled_instrumentations",
        "variant",
        "max_variants",
        "max_models",
        "max_label_values",
        "feedback_secret",
        "feedback_token_ttl",
        "feedback_max_calls",
        "feedback_retention",
        "user_id_key",
        "redact",
        "log_calls",
        "prices",
        "logs_exporter",
    }
)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping):
        return ",".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(item) for item in value)
    if isinstance(value, int) and value.bit_length() > 64:
        # str() of an int over 4300 digits raises; no setting takes such a number anyway.
        return f"<integer of {value.bit_length()} bits>"
    return str(value)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Resolve settings from ``environ`` (default ``os.environ``) and keyword overrides."""
    env = os.environ if environ is None else environ
    unknown = set(overrides) - _KWARGS
    if unknown:
        raise TypeError(
            f"unknown keyword argument(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KWARGS))}"
        )
    redact_given = overrides.pop("redact", None)
    prices_given = overrides.pop("prices", None)
    kw = {key: _as_text(value) for key, value in overrides.items() if value is not None}

    def source(key: str, var: str) -> tuple[str, str | None]:
        # Keyword arguments win; the name in a warning says which one was wrong.
        return (key, kw[key]) if key in kw else (var, _env(env, var))

    redact, redactor_failed = resolve_redactor(redact_given, _env(env, OTEL_PYTHON_LLMPERF_REDACTOR))
    protocol = parse_protocol(*source("otlp_protocol", OTEL_EXPORTER_OTLP_PROTOCOL), "http/protobuf")
    per_signal = "otlp_protocol" not in kw
    endpoint_given = "otlp_endpoint" in kw
    return Settings(
        capture_content=parse_capture(
            source("capture_content", OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)[1], False
        ),
        content_max_length=parse_int(
            *source("content_max_length", OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH),
            DEFAULT_CONTENT_MAX_LENGTH,
            256,
            10**7,
        ),
        stream_usage=parse_bool(*source("stream_usage", OTEL_PYTHON_LLMPERF_STREAM_USAGE), False),
        sdk_spans=parse_bool(*source("sdk_spans", OTEL_PYTHON_LLMPERF_SDK_SPANS), False),
        chunk_metrics=parse_bool(*source("chunk_metrics", OTEL_PYTHON_LLMPERF_CHUNK_METRICS), True),
        provider_hosts=parse_provider_hosts(source("provider_hosts", OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS)[1]),
        service_name=source("service_name", OTEL_SERVICE_NAME)[1],
        traces_exporter=parse_exporters(
            *source("traces_exporter", OTEL_TRACES_EXPORTER),
            TRACES_EXPORTERS,
            ("otlp",) if endpoint_given else _default_traces_exporter(env),
        ),
        metrics_exporter=parse_exporters(
            *source("metrics_exporter", OTEL_METRICS_EXPORTER),
            METRICS_EXPORTERS,
            ("prometheus", "otlp") if endpoint_given else _default_metrics_exporter(env),
        ),
        traces_otlp_protocol=parse_protocol(*source("", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL), protocol)
        if per_signal
        else protocol,
        metrics_otlp_protocol=parse_protocol(*source("", OTEL_EXPORTER_OTLP_METRICS_PROTOCOL), protocol)
        if per_signal
        else protocol,
        otlp_endpoint=kw.get("otlp_endpoint"),
        prometheus_host=source("prometheus_host", OTEL_EXPORTER_PROMETHEUS_HOST)[1] or DEFAULT_PROMETHEUS_HOST,
        prometheus_port=parse_int(
            *source("prometheus_port", OTEL_EXPORTER_PROMETHEUS_PORT), DEFAULT_PROMETHEUS_PORT, 0, 65535
        ),
        disabled_instrumentations=frozenset(
            item.strip()
            for item in (source("disabled_instrumentations", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS)[1] or "").split(",")
            if item.strip()
        ),
        sdk_disabled=parse_bool(OTEL_SDK_DISABLED, _env(env, OTEL_SDK_DISABLED), False),
        logs_exporter=parse_exporters(
            *source("logs_exporter", OTEL_LOGS_EXPORTER),
            LOGS_EXPORTERS,
            ("otlp",) if endpoint_given else _default_logs_exporter(env),
        ),
        logs_otlp_protocol=parse_protocol(*source("", OTEL_EXPORTER_OTLP_LOGS_PROTOCOL), protocol)
        if per_signal
        else protocol,
        variant=parse_variant(*source("variant", OTEL_PYTHON_LLMPERF_VARIANT)),
        max_variants=parse_int(*source("max_variants", OTEL_PYTHON_LLMPERF_MAX_VARIANTS), 16, 1, 1000),
        max_models=parse_int(*source("max_models", OTEL_PYTHON_LLMPERF_MAX_MODELS), 100, 1, 10_000),
        max_label_values=parse_int(*source("max_label_values", OTEL_PYTHON_LLMPERF_MAX_LABEL_VALUES), 100, 1, 10_000),
        feedback_secret=_secret(source("feedback_secret", OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET)[1]),
        feedback_token_ttl=float(
            parse_int(*source("feedback_token_ttl", OTEL_PYTHON_LLMPERF_FEEDBACK_TOKEN_TTL), 604800, 0, 10**9)
        ),
        feedback_max_calls=parse_int(
            *source("feedback_max_calls", OTEL_PYTHON_LLMPERF_FEEDBACK_MAX_CALLS), 10_000, 0, 1_000_000
        ),
        feedback_retention=float(
            parse_int(*source("feedback_retention", OTEL_PYTHON_LLMPERF_FEEDBACK_RETENTION), 3600, 1, 10**8)
        ),
        user_id_key=_secret(source("user_id_key", OTEL_PYTHON_LLMPERF_USER_ID_KEY)[1]),
        redact=redact,
        redactor_failed=redactor_failed,
        log_calls=parse_bool(*source("log_calls", OTEL_PYTHON_LLMPERF_LOG_CALLS), False),
        prices=load_prices(prices_given, _env(env, OTEL_PYTHON_LLMPERF_PRICES)),
    )
