# SPDX-License-Identifier: Apache-2.0
"""Settings: standard variables, keyword overrides, and bad values that warn and fall back."""

from __future__ import annotations

import logging

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
