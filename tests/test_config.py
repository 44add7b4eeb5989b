# SPDX-License-Identifier: Apache-2.0
"""Settings: standard variables, keyword overrides, and bad values that warn and fall back."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from typing import Any

import pytest

from otel_llmperf.config import Settings, load_settings


def test_defaults_export_nothing_over_the_network() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.traces_exporter == ()
    assert settings.metrics_exporter == ("prometheus",)
    assert (settings.prometheus_host, settings.prometheus_port) == ("127.0.0.1", 9464)
    assert settings.capture_content is False and settings.stream_usage is False


def test_an_otlp_endpoint_turns_otlp_on_for_both_signals() -> None:
    settings = load_settings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert settings.traces_exporter == ("otlp",)
    assert settings.metrics_exporter == ("prometheus", "otlp")


def test_standard_variables_are_read() -> None:
    settings = load_settings(
        {
            "OTEL_SERVICE_NAME": "checkout",
            "OTEL_TRACES_EXPORTER": "otlp,console",
            "OTEL_METRICS_EXPORTER": "OTLP",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0",
            "OTEL_EXPORTER_PROMETHEUS_PORT": "9500",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "True",
            "OTEL_PYTHON_LLMPERF_STREAM_USAGE": "TRUE",
            "OTEL_PYTHON_LLMPERF_CHUNK_METRICS": "false",
            "OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH": "1000",
            "OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS": "llm.internal=vllm, gw.example.com = litellm",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "llmperf_openai,requests",
        }
    )
    assert settings.service_name == "checkout"
    assert settings.traces_exporter == ("otlp", "console")
    assert settings.metrics_exporter == ("otlp",)
    assert settings.traces_otlp_protocol == "grpc" and settings.metrics_otlp_protocol == "http/protobuf"
    assert (settings.prometheus_host, settings.prometheus_port) == ("0.0.0.0", 9500)
    assert settings.capture_content is True and settings.stream_usage is True
    assert settings.chunk_metrics is False
    assert settings.content_max_length == 1000
    assert dict(settings.provider_hosts) == {"llm.internal": "vllm", "gw.example.com": "litellm"}
    assert settings.disabled_instrumentations == frozenset({"llmperf_openai", "requests"})


def test_keywords_win_over_variables() -> None:
    env = {"OTEL_PYTHON_LLMPERF_STREAM_USAGE": "true", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "env"}
    settings = load_settings(
        env,
        stream_usage=False,
        metrics_exporter=["console", "prometheus"],
        service_name="kw",
        prometheus_port=0,
        otlp_protocol="grpc",
        provider_hosts={"Internal.Host": "vllm"},
    )
    assert settings.stream_usage is False
    assert settings.metrics_exporter == ("console", "prometheus")
    assert settings.service_name == "kw"
    assert settings.prometheus_port == 0
    assert settings.traces_otlp_protocol == settings.metrics_otlp_protocol == "grpc"
    assert dict(settings.provider_hosts) == {"internal.host": "vllm"}


def test_none_keyword_means_not_given() -> None:
    assert load_settings({"OTEL_PYTHON_LLMPERF_STREAM_USAGE": "true"}, stream_usage=None).stream_usage is True


def test_none_exporter_turns_a_signal_off() -> None:
    assert load_settings({"OTEL_METRICS_EXPORTER": "prometheus,none"}).metrics_exporter == ()


def test_capture_enum_values() -> None:
    variable = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    assert load_settings({variable: "span_and_event"}).capture_content is True
    assert load_settings({variable: "NO_CONTENT"}).capture_content is False


@pytest.mark.parametrize(
    ("env", "field", "expected", "message"),
    [
        ({"OTEL_PYTHON_LLMPERF_STREAM_USAGE": "yes"}, "stream_usage", False, "is not a boolean"),
        ({"OTEL_EXPORTER_PROMETHEUS_PORT": "http"}, "prometheus_port", 9464, "is not an integer in [0, 65535]"),
        ({"OTEL_EXPORTER_PROMETHEUS_PORT": "70000"}, "prometheus_port", 9464, "is not an integer"),
        ({"OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH": "10"}, "content_max_length", 16384, "is not an integer"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "traces_otlp_protocol", "http/protobuf", "not supported"),
        ({"OTEL_METRICS_EXPORTER": "zipkin,prometheus"}, "metrics_exporter", ("prometheus",), "unknown exporter"),
        ({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"}, "capture_content", False, "stays off"),
        ({"OTEL_PYTHON_LLMPERF_PROVIDER_HOSTS": "novalue"}, "provider_hosts", {}, "is not host=provider"),
    ],
)
def test_bad_values_warn_and_fall_back(
    caplog: pytest.LogCaptureFixture, env: dict[str, str], field: str, expected: object, message: str
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    settings = load_settings(env)
    value = getattr(settings, field)
    assert (dict(value) if field == "provider_hosts" else value) == expected
    assert message in caplog.text
    assert next(iter(env)) in caplog.text  # the warning names the variable


def test_empty_values_mean_unset() -> None:
    assert load_settings({"OTEL_EXPORTER_PROMETHEUS_PORT": "", "OTEL_METRICS_EXPORTER": " "}) == Settings()


def test_unknown_keyword_raises_type_error() -> None:
    with pytest.raises(TypeError, match="streamusage"):
        load_settings({}, streamusage=True)


# --- the SDK's own variables, when otel-llmperf builds the providers (child interpreters) ------

CHILD_APP = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
import otel_llmperf
otel_llmperf.instrument()
"""


def run_child(tmp_path: Any, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``instrument()`` alone, in a child interpreter with exactly these OTEL_* variables."""
    script = tmp_path / "app.py"
    script.write_text(CHILD_APP)
    clean = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    # Port 0: children never compete for the scrape port. No SDK is patched: the providers are
    # built all the same, and the child skips importing six SDKs (seconds each on a busy machine).
    child_env = {**clean, "OTEL_EXPORTER_PROMETHEUS_PORT": "0", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*", **env}
    return subprocess.run(
        [sys.executable, str(script)], env=child_env, capture_output=True, text=True, timeout=60, check=False
    )


UNREACHABLE = "http://127.0.0.1:1"  # never dialled: no signal here exports anything

BAD_SDK_VARIABLES = [
    pytest.param(
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_BSP_MAX_QUEUE_SIZE": "-1",
            "OTEL_BSP_SCHEDULE_DELAY": "0",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "abc",
            "OTEL_SPAN_EVENT_COUNT_LIMIT": "-2",
        },
        ["traces → console"],
        id="batch-span-processor-and-span-limits",
    ),
    pytest.param(
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "5000"},
        ["traces → console"],
        id="batch-larger-than-queue",
    ),
    pytest.param(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": UNREACHABLE,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "soon",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "zip",
            "OTEL_BLRP_SCHEDULE_DELAY": "0",
            "OTEL_BLRP_MAX_QUEUE_SIZE": "many",
            "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT": "x",
        },
        ["traces → otlp (grpc)", "events → otlp (grpc)"],
        id="grpc-timeout-compression-and-log-batching",
    ),
    pytest.param(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": UNREACHABLE,
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "-3",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "brotli",
        },
        ["traces → otlp (http/protobuf)", "events → otlp (http/protobuf)"],
        id="http-signal-timeout-and-compression",
    ),
    pytest.param(
        {
            "OTEL_METRICS_EXPORTER": "console,prometheus",
            "OTEL_METRICS_EXEMPLAR_FILTER": "bogus",
            "OTEL_METRIC_EXPORT_INTERVAL": "-5",
            "OTEL_METRIC_EXPORT_TIMEOUT": "abc",
        },
        ["metrics → console, prometheus"],
        id="metric-reader-and-exemplar-filter",
    ),
]


@pytest.mark.parametrize(("env", "active"), BAD_SDK_VARIABLES)
def test_bad_sdk_variables_warn_once_each_and_fall_back(tmp_path: Any, env: dict[str, str], active: list[str]) -> None:
    result = run_child(tmp_path, env)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING otel_llmperf ")]
    for name, value in env.items():
        if name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            continue
        if name == "OTEL_EXPORTER_OTLP_PROTOCOL":
            continue
        named = [line for line in warnings if f"{name}={value!r}" in line]
        assert len(named) == 1, (name, warnings)
        assert "using" in named[0]  # says what it does instead
    # The fallback is the default, not a signal switched off.
    for described in active:
        assert described in result.stderr, result.stderr


def test_a_signal_timeout_the_grpc_exporter_cannot_start_with_turns_that_exporter_off(tmp_path: Any) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": UNREACHABLE,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "soon",
    }
    result = run_child(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT='soon'" in result.stderr
    assert "traces → off" in result.stderr and "events → otlp (grpc)" in result.stderr


def test_a_limit_the_tracing_sdk_cannot_import_with_leaves_metrics_on(tmp_path: Any) -> None:
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "abc"}
    result = run_child(tmp_path, env)
    assert result.returncode == 0, result.stderr
    named = [line for line in result.stderr.splitlines() if "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT='abc'" in line]
    assert len(named) == 1 and "traces" in named[0]
    assert "traces → off" in result.stderr and "metrics → prometheus" in result.stderr


def test_an_exporter_that_fails_to_build_is_off_and_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_llmperf import setup

    def broken() -> Any:
        raise RuntimeError("no console today")

    monkeypatch.setattr(setup, "_console_span_exporter", broken)
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    built = setup.build_providers(load_settings({}, traces_exporter="console", metrics_exporter="none"))
    assert built.tracer_provider is None and built.traces == "off"
    assert "console trace exporter could not be set up (RuntimeError: no console today)" in caplog.text


def test_valid_sdk_variables_reach_the_sdk_unchanged() -> None:
    from otel_llmperf.config import BSP_VARIABLES, SPAN_LIMIT_VARIABLES, SdkVariables

    variables = SdkVariables(
        {
            "OTEL_BSP_MAX_QUEUE_SIZE": "100",
            "OTEL_BSP_EXPORT_TIMEOUT": "0",
            "OTEL_ATTRIBUTE_COUNT_LIMIT": "5",
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "unset",
            "OTEL_METRICS_EXEMPLAR_FILTER": "ALWAYS_OFF",
        }
    )
    # A queue of 100 fits the default batch of 512 down: the SDK would refuse the pair.
    assert variables.batch(BSP_VARIABLES) == {
        "max_queue_size": 100,
        "schedule_delay_millis": 5000,
        "max_export_batch_size": 100,
        "export_timeout_millis": 0,
    }
    assert variables.limits(SPAN_LIMIT_VARIABLES) == {}  # all good: the SDK reads them itself
    assert variables.exemplar_filter() == "always_off"
    assert variables.otlp("traces", "grpc").timeout is None
    # inf is how the reader is told to export only on flush: accepted as the SDK accepts it.
    assert SdkVariables({"OTEL_METRIC_EXPORT_INTERVAL": "inf"}).metric_reader()["export_interval_millis"] == math.inf


def test_values_the_sdk_tolerates_or_the_spec_allows_keep_every_exporter(tmp_path: Any) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": UNREACHABLE,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_METRICS_EXPORTER": "none",
        # Spec values the gRPC exporters fail on by themselves ("gzip" is the only name they know).
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "deflate",
        # Values the SDK warns about itself, or meets only when exporting.
        "OTEL_EXPORTER_OTLP_HEADERS": "=,,%zz=x",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(tmp_path / "missing.pem"),
        "OTEL_RESOURCE_ATTRIBUTES": "a=%zz,,=b,c",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "x",
    }
    result = run_child(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "traces → otlp (grpc)" in result.stderr and "events → otlp (grpc)" in result.stderr
    assert not [line for line in result.stderr.splitlines() if line.startswith("WARNING otel_llmperf")]
