# SPDX-License-Identifier: Apache-2.0
"""Exporter set-up: OTLP over HTTP and gRPC to in-test receivers, Prometheus port conflicts."""

from __future__ import annotations

import logging
import socket
from typing import Any

import openai
import pytest
from prometheus_client import CollectorRegistry

import otel_llmperf
from fakeserver import FakeServerProcess
from otel_llmperf.config import load_settings
from otel_llmperf.setup import build_providers
from otlp_receiver import grpc_receiver, http_receiver


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_otlp_export_reaches_a_receiver(protocol: str, fake_server: FakeServerProcess) -> None:
    receiver = http_receiver() if protocol == "http/protobuf" else grpc_receiver()
    with receiver as (endpoint, received):
        settings = load_settings({}, otlp_endpoint=endpoint, otlp_protocol=protocol, metrics_exporter="otlp")
        setup = build_providers(settings)
        assert setup.traces == setup.metrics == setup.events == f"otlp ({protocol})"
        otel_llmperf.instrument(
            tracer_provider=setup.tracer_provider,
            meter_provider=setup.meter_provider,
            logger_provider=setup.logger_provider,
        )
        try:
            client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
            response = client.chat.completions.create(model="otlp-model", messages=[{"role": "user", "content": "hi"}])
            otel_llmperf.record_feedback("thumbs", True, response=response)
        finally:
            otel_llmperf.uninstrument()
            setup.shutdown()  # flushes both providers
        assert "chat otlp-model" in received.span_names()
        assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "llmperf.feedback"} <= (
            received.metric_names()
        )
        assert received.event_names() == ["gen_ai.evaluation.result"]
        (span,) = received.spans()
        attributes = {item.key: item.value for item in span.attributes}
        assert attributes["gen_ai.request.model"].string_value == "otlp-model"
        assert attributes["server.port"].int_value == fake_server.port


def test_prometheus_port_in_use_warns_and_runs_on(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        caplog.set_level(logging.WARNING, logger="otel_llmperf")
        settings = load_settings({}, metrics_exporter="prometheus", prometheus_port=port)
        setup = build_providers(settings, prometheus_registry=CollectorRegistry())
    assert setup.metrics == "off" and setup.meter_provider is None
    assert f"127.0.0.1:{port} unavailable" in caplog.text
    assert "OTLP" in caplog.text  # the warning says what multi-process servers should use


def test_grpc_without_the_extra_warns(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import builtins

    real_import = builtins.__import__

    def no_grpc(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry.exporter.otlp.proto.grpc"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_grpc)
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    settings = load_settings({}, otlp_endpoint="http://127.0.0.1:1", otlp_protocol="grpc", metrics_exporter="none")
    setup = build_providers(settings)
    assert setup.traces == "off"
    assert "grpc extra (opentelemetry-exporter-otlp-proto-grpc)" in caplog.text


def test_signals_without_exporters_stay_off() -> None:
    setup = build_providers(load_settings({}, traces_exporter="none", metrics_exporter="none"))
    assert setup.tracer_provider is None and setup.meter_provider is None
    assert setup.describe() == "traces → off; metrics → off; events → off"


OTLP_APP = """
import sys, openai, otel_llmperf
otel_llmperf.instrument(otlp_endpoint=sys.argv[2], otlp_protocol=sys.argv[3], metrics_exporter="otlp")
client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
response = client.chat.completions.create(model="global-otlp", messages=[{"role": "user", "content": "hi"}])
otel_llmperf.record_feedback("thumbs", True, response=response)
"""


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_instrument_alone_exports_over_otlp(protocol: str, fake_server: FakeServerProcess, tmp_path: Any) -> None:
    """The application's one call sets up global providers that export over OTLP (in a child process)."""
    import os
    import subprocess
    import sys

    receiver = http_receiver() if protocol == "http/protobuf" else grpc_receiver()
    script = tmp_path / "app.py"
    script.write_text(OTLP_APP)
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    with receiver as (endpoint, received):
        result = subprocess.run(
            [sys.executable, str(script), fake_server.base_url, endpoint, protocol],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "did not take telemetry" not in result.stderr  # nothing dropped
        # Providers flush at interpreter exit: everything has arrived once the child is gone.
        assert "chat global-otlp" in received.span_names()
        assert {"gen_ai.client.operation.duration", "llmperf.feedback"} <= received.metric_names()
        assert received.event_names() == ["gen_ai.evaluation.result"]
