# SPDX-License-Identifier: Apache-2.0
"""Settings, parsed once from ``OTEL_*`` variables and keyword arguments (keywords win).

Parsing follows the OpenTelemetry configuration specification: an empty value means unset,
a boolean is true only for ``true`` (any case), enums are case-insensitive, and a bad value
logs a warning and falls back to the default; nothing here raises on bad input.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from opentelemetry.environment_variables import OTEL_LOGS_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.environment_variables import OTEL_PYTHON_DISABLED_INSTRUMENTATIONS
from opentelemetry.sdk.environment_variables import (
    OTEL_ATTRIBUTE_COUNT_LIMIT,
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_BLRP_EXPORT_TIMEOUT,
    OTEL_BLRP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BLRP_MAX_QUEUE_SIZE,
    OTEL_BLRP_SCHEDULE_DELAY,
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
    OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_EXPORTER_PROMETHEUS_HOST,
    OTEL_EXPORTER_PROMETHEUS_PORT,
    OTEL_LINK_ATTRIBUTE_COUNT_LIMIT,
    OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT,
    OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_METRIC_EXPORT_INTERVAL,
    OTEL_METRIC_EXPORT_TIMEOUT,
    OTEL_METRICS_EXEMPLAR_FILTER,
    OTEL_SDK_DISABLED,
    OTEL_SERVICE_NAME,
    OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT,
    OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT,
    OTEL_SPAN_EVENT_COUNT_LIMIT,
    OTEL_SPAN_LINK_COUNT_LIMIT,
)

from otel_llmperf import _errors
from otel_llmperf.environment_variables import (
    OTEL_PYTHON_LLMPERF_CHUNK_METRICS,
    OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT,
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
    OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR,
    OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL,
    OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS,
    OTEL_PYTHON_LLMPERF_REDACTOR,
    OTEL_PYTHON_LLMPERF_SDK_SPANS,
    OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT,
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
DEFAULT_SHUTDOWN_TIMEOUT = 2.0  # seconds telemetry may add to the application's exit
MAX_SHUTDOWN_TIMEOUT = 600.0

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
    prometheus_multiproc_dir: str | None = None
    prometheus_multiproc_interval: float = 1.0  # seconds
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
    # Per-call consent (see otel_llmperf.consent_policy): the application's callable, and the decision without one.
    consent: Callable[[], Any] | None = field(default=None, repr=False)
    consent_default: bool = True
    log_calls: bool = False
    # Seconds the providers otel-llmperf built may take to flush at exit (or setup.shutdown()).
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
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


def _whole(raw: str) -> int | None:
    """``raw`` as an integer, or ``None`` (not a number, or too many digits to parse)."""
    try:
        return int(raw)
    except ValueError:
        return None


def parse_int(name: str, raw: str | None, default: int, minimum: int, maximum: int) -> int:
    """Parse an integer within bounds, warning and falling back on anything else."""
    if raw is None:
        return default
    value = _whole(raw)
    if value is None or not minimum <= value <= maximum:
        _logger.warning("%s=%r is not an integer in [%d, %d]; using %d", name, raw, minimum, maximum, default)
        return default
    return value


def parse_directory(name: str, raw: str | None) -> str | None:
    """A directory this process can write to (created if missing), or ``None`` with a warning."""
    if raw is None:
        return None
    try:
        os.makedirs(raw, exist_ok=True)
        writable = os.access(raw, os.W_OK | os.X_OK)
        problem = None if writable else "is not writable"
    except OSError as error:
        problem = f"cannot be created ({error.strerror or error})"
    if problem is None:
        return raw
    _logger.warning("%s=%r %s; using none (single-process mode)", name, raw, problem)
    return None


def parse_seconds(name: str, raw: str | None, default: float, maximum: float) -> float:
    """Parse a number of seconds in ``[0, maximum]``, warning and falling back on anything else."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= maximum:  # NaN fails too
        _logger.warning("%s=%r is not a number of seconds in [0, %g]; using %g", name, raw, maximum, default)
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


def parse_consent(given: Any) -> Callable[[], Any] | None:
    """The ``consent=`` keyword: a callable taking no argument; anything else warns and is ignored."""
    if given is None:
        return None
    if callable(given):
        return cast(Callable[[], Any], given)
    _logger.warning(
        "consent=%s is not a callable returning True/False; using none (the default decision applies)",
        _as_text(given)[:100],
    )
    return None


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
        "prometheus_multiproc_dir",
        "prometheus_multiproc_interval",
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
        "consent",
        "consent_default",
        "log_calls",
        "shutdown_timeout",
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
    consent_given = parse_consent(overrides.pop("consent", None))
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
        prometheus_multiproc_dir=parse_directory(
            *source("prometheus_multiproc_dir", OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR)
        ),
        prometheus_multiproc_interval=parse_int(
            *source("prometheus_multiproc_interval", OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL),
            1000,
            10,
            600_000,
        )
        / 1000,
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
        consent=consent_given,
        consent_default=parse_bool(*source("consent_default", OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT), True),
        log_calls=parse_bool(*source("log_calls", OTEL_PYTHON_LLMPERF_LOG_CALLS), False),
        shutdown_timeout=parse_seconds(
            *source("shutdown_timeout", OTEL_PYTHON_LLMPERF_SHUTDOWN_TIMEOUT),
            DEFAULT_SHUTDOWN_TIMEOUT,
            MAX_SHUTDOWN_TIMEOUT,
        ),
        prices=load_prices(prices_given, _env(env, OTEL_PYTHON_LLMPERF_PRICES)),
    )


# --- the SDK's own variables ------------------------------------------------------------------

# Read by the SDK and its exporters while otel-llmperf builds providers. The SDK raises on
# several bad values (a negative queue size, an unknown exemplar filter, a non-numeric gRPC
# timeout, a non-integer attribute limit), which would make instrument() raise. Each is checked
# here first; a bad one warns once, names itself and what is used instead, and reaches the SDK
# as a constructor argument holding the default, so the SDK never parses it.
_BATCH_DEFAULTS = {"max_queue_size": 2048, "schedule_delay_millis": 5000, "max_export_batch_size": 512}
BSP_VARIABLES = {
    "max_queue_size": OTEL_BSP_MAX_QUEUE_SIZE,
    "schedule_delay_millis": OTEL_BSP_SCHEDULE_DELAY,
    "max_export_batch_size": OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    "export_timeout_millis": OTEL_BSP_EXPORT_TIMEOUT,
}
BLRP_VARIABLES = {
    "max_queue_size": OTEL_BLRP_MAX_QUEUE_SIZE,
    "schedule_delay_millis": OTEL_BLRP_SCHEDULE_DELAY,
    "max_export_batch_size": OTEL_BLRP_MAX_EXPORT_BATCH_SIZE,
    "export_timeout_millis": OTEL_BLRP_EXPORT_TIMEOUT,
}
# Per signal: (timeout, compression) variables, read before the general ones.
OTLP_SIGNAL_VARIABLES = {
    "traces": (OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TRACES_COMPRESSION),
    "metrics": (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, OTEL_EXPORTER_OTLP_METRICS_COMPRESSION),
    "logs": (OTEL_EXPORTER_OTLP_LOGS_TIMEOUT, OTEL_EXPORTER_OTLP_LOGS_COMPRESSION),
}
OTLP_COMPRESSIONS = ("none", "gzip", "deflate")
EXEMPLAR_FILTERS = ("trace_based", "always_on", "always_off")
# Limit variables (non-negative integers or "unset") and the global one each falls back to.
SPAN_LIMIT_VARIABLES = {
    "max_attributes": (OTEL_ATTRIBUTE_COUNT_LIMIT, None),
    "max_attribute_length": (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, None),
    "max_span_attributes": (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, OTEL_ATTRIBUTE_COUNT_LIMIT),
    "max_span_attribute_length": (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT),
    "max_events": (OTEL_SPAN_EVENT_COUNT_LIMIT, None),
    "max_links": (OTEL_SPAN_LINK_COUNT_LIMIT, None),
    "max_event_attributes": (OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT, OTEL_ATTRIBUTE_COUNT_LIMIT),
    "max_link_attributes": (OTEL_LINK_ATTRIBUTE_COUNT_LIMIT, OTEL_ATTRIBUTE_COUNT_LIMIT),
}
LOG_LIMIT_VARIABLES = {
    "max_attributes": (OTEL_ATTRIBUTE_COUNT_LIMIT, None),
    "max_attribute_length": (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, None),
    "max_log_record_attributes": (OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, OTEL_ATTRIBUTE_COUNT_LIMIT),
    "max_log_record_attribute_length": (OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT),
}
_COUNT_LIMIT_DEFAULT = 128  # the SDK's default for every count limit
_OTLP_TIMEOUT = 10.0  # seconds, the OTLP exporters' default
_LIMIT = "a non-negative integer or 'unset'"
UNLIMITED = -1  # SpanLimits.UNSET / LogRecordLimits.UNSET: no limit

_warned_variables: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


class SdkVariables:
    """The SDK variables of one provider set-up, checked; each accessor returns constructor arguments."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        """The variable's value, ``None`` when unset or empty."""
        return _env(self._env, name)

    def bad(self, name: str, raw: str, expected: str, instead: str) -> None:
        """Warn (once per variable and value) that ``name`` is not ``expected``, and what happens instead."""
        with _warned_lock:
            if (name, raw) in _warned_variables:
                return
            _warned_variables.add((name, raw))
        _logger.warning("%s=%r is not %s; %s", name, raw, expected, instead)

    def integer(self, name: str, default: int, minimum: int) -> int:
        """An integer variable of at least ``minimum``; anything else warns and gives ``default``."""
        raw = self.raw(name)
        if raw is None:
            return default
        value = _whole(raw)
        if value is None or value < minimum:
            self.bad(name, raw, f"an integer of at least {minimum}", f"using the default {default}")
            return default
        return value

    def number(self, name: str, default: float, infinite: bool = False) -> float:
        """A positive number (``inf`` too when ``infinite``); anything else warns and gives ``default``."""
        raw = self.raw(name)
        if raw is None:
            return default
        value = _positive(raw, infinite)
        if value is None:
            self.bad(name, raw, "a positive number", f"using the default {default:g}")
            return default
        return value

    def batch(self, variables: Mapping[str, str]) -> dict[str, Any]:
        """Arguments of a batch processor (spans or log records), every one checked."""
        chosen: dict[str, Any] = {
            key: self.integer(name, _BATCH_DEFAULTS.get(key, 30000), 1 if key in _BATCH_DEFAULTS else 0)
            for key, name in variables.items()
        }
        if chosen["max_export_batch_size"] > chosen["max_queue_size"]:
            # The SDK refuses a batch larger than its queue, even when only the queue was set.
            fitted = min(_BATCH_DEFAULTS["max_export_batch_size"], chosen["max_queue_size"])
            name = variables["max_export_batch_size"]
            raw = self.raw(name)
            if raw is not None:
                self.bad(name, raw, f"at most the queue size {chosen['max_queue_size']}", f"using {fitted}")
            chosen["max_export_batch_size"] = fitted
        return chosen

    def metric_reader(self) -> dict[str, Any]:
        """Arguments of a periodic metric reader."""
        return {
            # The reader takes inf for "only on flush": allowed, as the SDK allows it.
            "export_interval_millis": self.number(OTEL_METRIC_EXPORT_INTERVAL, 60000.0, infinite=True),
            "export_timeout_millis": self.number(OTEL_METRIC_EXPORT_TIMEOUT, 30000.0, infinite=True),
        }

    def exemplar_filter(self) -> str:
        """The exemplar filter's name (the SDK accepts only these exact spellings)."""
        raw = self.raw(OTEL_METRICS_EXEMPLAR_FILTER)
        if raw is None:
            return "trace_based"
        chosen = raw.strip().lower()
        if chosen not in EXEMPLAR_FILTERS:
            self.bad(OTEL_METRICS_EXEMPLAR_FILTER, raw, f"one of {', '.join(EXEMPLAR_FILTERS)}", "using trace_based")
            return "trace_based"
        return chosen

    def sdk_trace_importable(self) -> bool:
        """Whether ``opentelemetry.sdk.trace`` can be imported: it reads one limit at import and raises on it."""
        raw = self.raw(OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT)
        if raw is None or self._limit(OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT) is not False:
            return True
        self.bad(
            OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT,
            raw,
            _LIMIT,
            "the OpenTelemetry SDK cannot load its tracing module with it: traces and OTLP export are off",
        )
        return False

    def _limit(self, name: str) -> int | bool | None:
        # A valid limit (None for "unset", i.e. unlimited), or False when absent or bad.
        raw = self.raw(name)
        if raw is None:
            return False
        if raw.strip().lower() == "unset":
            return None
        value = _whole(raw)
        return value if value is not None and value >= 0 else False

    def limits(self, variables: Mapping[str, tuple[str, str | None]]) -> dict[str, int]:
        """Arguments for SpanLimits/LogRecordLimits replacing the bad limit variables (none when all are good)."""
        chosen: dict[str, int] = {}
        for key, (name, fallback) in variables.items():
            raw = self.raw(name)
            if raw is None or self._limit(name) is not False:
                continue  # absent, or good: the SDK reads it as it is
            usable = self._limit(fallback) if fallback is not None else False
            if usable is not False:
                value = UNLIMITED if usable is None else int(usable)
                instead = f"using {fallback} ({'no limit' if usable is None else usable})"
            else:
                value = UNLIMITED if "length" in key else _COUNT_LIMIT_DEFAULT
                instead = "using the default (no limit)" if value == UNLIMITED else f"using the default {value}"
            self.bad(name, raw, _LIMIT, instead)
            chosen[key] = value
        return chosen

    def otlp(self, signal: str, protocol: str) -> OtlpOptions:
        """What to pass to ``signal``'s OTLP exporter in place of bad timeout and compression variables."""
        timeout_name, compression_name = OTLP_SIGNAL_VARIABLES[signal]
        bad: list[tuple[str, str]] = []
        timeout, source = None, ""
        for name in (timeout_name, OTEL_EXPORTER_OTLP_TIMEOUT):  # the exporters' order
            raw = self.raw(name)
            if raw is None:
                continue
            timeout = _positive(raw)
            if timeout is not None:
                source = name
                break
            bad.append((name, raw))
        unusable = None
        for name, raw in bad:
            if protocol == "grpc" and name == timeout_name:
                # The gRPC exporters parse their signal's timeout whatever they are given.
                unusable = name
                instead = f"the gRPC exporter cannot start with it: {signal} are not exported over OTLP"
            elif timeout is not None:
                instead = f"using {source}={timeout:g} s"
            else:
                instead = f"using the default {_OTLP_TIMEOUT:g} s"
            self.bad(name, raw, "a positive number of seconds", instead)
        compression = None
        for name in (compression_name, OTEL_EXPORTER_OTLP_COMPRESSION):
            raw = self.raw(name)
            if raw is None:
                continue
            compression = raw.strip().lower()
            if compression not in OTLP_COMPRESSIONS:
                self.bad(name, raw, f"one of {', '.join(OTLP_COMPRESSIONS)}", "using none")
                compression = "none"
            break
        return OtlpOptions((timeout or _OTLP_TIMEOUT) if bad else None, compression, unusable)


@dataclass(frozen=True)
class OtlpOptions:
    """Checked OTLP exporter options: ``None`` leaves an option to the exporter's own reading."""

    timeout: float | None
    compression: str | None
    unusable: str | None  # a variable the exporter cannot be built with


def _positive(raw: str, infinite: bool = False) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0 < value < math.inf or (infinite and value == math.inf) else None
