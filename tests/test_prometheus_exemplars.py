# SPDX-License-Identifier: Apache-2.0
"""Our Prometheus endpoint: the OTel exporter's series exactly, plus exemplars linking to the calls' traces."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

import otel_llmperf
from fakeserver import FakeServerProcess
from otel_llmperf.config import load_settings
from otel_llmperf.prometheus import Endpoint, PrometheusReader, SnapshotCollector, start_endpoint
from otel_llmperf.prometheus_families import Snapshot
from otel_llmperf.prometheus_multiproc import Directory

OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
CLASSIC = "text/plain;version=0.0.4"


def _calls(base_url: str, tracer_provider: TracerProvider) -> None:
    client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
    client.chat.completions.create(model="ex", messages=[{"role": "user", "content": "hi"}])
    stream = client.chat.completions.create(model="ex", messages=[{"role": "user", "content": "hi"}], stream=True)
    for _chunk in stream:
        pass
    client.embeddings.create(model="ex-embed", input="hi")
    with tracer_provider.get_tracer("app").start_as_current_span("feedback"):
        otel_llmperf.record_feedback("nps", 9, response=stream)
        otel_llmperf.record_evaluation("judge", score=0.9, predicted=True, expected=True, response=stream)


def _odd_instruments(provider: MeterProvider) -> None:
    # What the contract does not exercise: scope attributes, integral bounds, gauges, odd names and units.
    meter = provider.get_meter("extra.scope", "1.2", schema_url="https://example.com/s", attributes={"tier": "gold"})
    histogram = meter.create_histogram("odd-name/sizes", unit="By", explicit_bucket_boundaries_advisory=[1, 5, 10])
    histogram.record(3, {"flag": True, "n": 7, "tags": ["a", "b"]})
    histogram.record(50, {"flag": False})
    meter.create_counter("rate.things", unit="{req}/s", description="multi\nline \\ help").add(2.5, {"x.y": "z"})
    meter.create_up_down_counter("in.flight", unit="{call}").add(-3)
    meter.create_observable_gauge(
        "temp", unit="Cel", callbacks=[lambda _o: [Observation(21.5, {"room": "a"})]], description="t"
    )
    other = provider.get_meter("other.scope")

    def observe(_options: CallbackOptions) -> list[Observation]:
        return [Observation(4, {"pid": 1})]

    other.create_observable_up_down_counter("queue", callbacks=[observe])


@pytest.fixture(name="both_registries")
def fixture_both_registries(fake_server: FakeServerProcess) -> Iterator[tuple[CollectorRegistry, CollectorRegistry]]:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    reader = PrometheusReader()
    ours.register(SnapshotCollector(reader.snapshot))
    resource = Resource.create({"service.name": "svc", "deployment.count": 3, "host.tags": ("x", "y")})
    meter_provider = MeterProvider(metric_readers=[reader, PrometheusMetricReader(registry=theirs)], resource=resource)
    tracer_provider = TracerProvider()
    otel_llmperf.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        stream_usage=True,
        prices={"ex": {"input": 1.0, "output": 2.0}, "ex-embed": {"input": 0.5, "output": 0.0}},
    )
    try:
        _calls(fake_server.base_url, tracer_provider)
        _odd_instruments(meter_provider)
        yield ours, theirs
    finally:
        otel_llmperf.uninstrument()
        meter_provider.shutdown()


def test_classic_text_is_line_for_line_the_otel_exporters(
    both_registries: tuple[CollectorRegistry, CollectorRegistry],
) -> None:
    ours, theirs = both_registries
    for _scrape in range(2):  # the second scrape too: cumulative state, cached target_info
        our_lines = sorted(generate_latest(ours).decode().splitlines())
        their_lines = sorted(generate_latest(theirs).decode().splitlines())
        assert our_lines == their_lines
    text = "\n".join(our_lines)
    for series in (
        "gen_ai_client_operation_duration_seconds_bucket",
        "llmperf_usage_cost_USD_total",
        "target_info",
        'otel_scope_tier="gold"',
        'odd_name_sizes_bytes_bucket{flag="true"',
        "} -3.0",
    ):
        assert series in text


def test_one_name_in_two_scopes_keeps_each_scopes_labels() -> None:
    # The OTel exporter zips the second scope's label values with the first scope's label names
    # (otel_scope_tier="" holding the version); each series here keeps its own labels.
    registry = CollectorRegistry()
    reader = PrometheusReader()
    registry.register(SnapshotCollector(reader.snapshot))
    provider = MeterProvider(metric_readers=[reader])
    try:
        provider.get_meter("a", "1", attributes={"tier": "gold"}).create_counter("things").add(1, {"x": "y"})
        provider.get_meter("b", "2").create_counter("things").add(2)
        lines = generate_latest(registry).decode().splitlines()
    finally:
        provider.shutdown()
    assert (
        'things_total{otel_scope_name="b",otel_scope_schema_url="",otel_scope_tier="",otel_scope_version="2",x=""} 2.0'
        in lines
    )


def _exemplars(text: str) -> list[tuple[str, dict[str, str], Any]]:
    return [
        (sample.name, sample.labels, sample.exemplar)
        for family in parse_openmetrics(text)
        for sample in family.samples
        if sample.exemplar is not None
    ]


def _get(port: int, accept: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode())


@pytest.fixture(name="served")
def fixture_served() -> Iterator[tuple[Endpoint, MeterProvider, TracerProvider, InMemorySpanExporter]]:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    endpoint = start_endpoint("127.0.0.1", 0, CollectorRegistry())
    assert endpoint is not None
    meter_provider = MeterProvider(metric_readers=[endpoint.reader])
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, stream_usage=True)
    yield endpoint, meter_provider, tracer_provider, spans
    otel_llmperf.uninstrument()
    endpoint.shutdown()
    meter_provider.shutdown()


def test_openmetrics_scrape_carries_exemplars_of_the_calls_spans(
    served: tuple[Endpoint, MeterProvider, TracerProvider, InMemorySpanExporter], fake_server: FakeServerProcess
) -> None:
    endpoint, _meter_provider, tracer_provider, spans = served
    _calls(fake_server.base_url, tracer_provider)
    finished = [(s.name, f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in spans.get_finished_spans()]
    ids = {(trace, span) for _name, trace, span in finished}
    calls = {(trace, span) for name, trace, span in finished if name != "feedback"}

    first = _exemplars(_get(endpoint.port, OPENMETRICS))
    again = _exemplars(_get(endpoint.port, OPENMETRICS))
    assert first == again, "the SDK hands an exemplar out once; the endpoint keeps the last per bucket"
    by_series: dict[str, set[tuple[str, str]]] = {}
    for name, labels, exemplar in first:
        assert set(exemplar.labels) == {"trace_id", "span_id"}
        assert sum(len(k) + len(v) for k, v in exemplar.labels.items()) <= 128
        pair = (exemplar.labels["trace_id"], exemplar.labels["span_id"])
        assert pair in ids, (name, labels, exemplar)
        if name.endswith("_bucket"):
            low_ok = labels["le"] == "+Inf" or exemplar.value <= float(labels["le"])
            assert low_ok, (name, labels, exemplar)
        by_series.setdefault(name, set()).add(pair)
    # Call durations link to call spans (the last call of each series and bucket: chat and
    # embeddings at least); feedback to the span of the call it is about.
    assert len(by_series["gen_ai_client_operation_duration_seconds_bucket"] & calls) >= 2
    assert by_series["gen_ai_client_operation_duration_seconds_bucket"] <= calls
    assert by_series["llmperf_feedback_total"] <= calls
    assert "gen_ai_client_token_usage_bucket" in by_series

    classic = _get(endpoint.port, CLASSIC)
    assert "# {" not in classic and "gen_ai_client_operation_duration_seconds_bucket" in classic


def _snapshot(counter: float, gauge: float, counts: list[int], exemplar_at: float = 1.0) -> Snapshot:
    point = {"labels": {"k": "v"}}
    return {
        "target": {"service_name": "svc"},
        "families": [
            {"name": "c", "help": "", "unit": "", "type": "counter", "points": [{**point, "value": counter}]},
            {"name": "g", "help": "", "unit": "", "type": "gauge", "points": [{**point, "value": gauge}]},
            {
                "name": "h",
                "help": "",
                "unit": "",
                "type": "histogram",
                "points": [
                    {
                        **point,
                        "bounds": [1.0],
                        "counts": counts,
                        "sum": float(sum(counts)),
                        "exemplars": [[0, f"{int(exemplar_at):032x}", "b" * 16, 0.5, exemplar_at]],
                    }
                ],
            },
        ],
    }


def test_directory_sums_exited_processes_but_drops_their_gauges(tmp_path: Path) -> None:
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    dead_pid = int(exited.stdout)
    (tmp_path / f"llmperf_{dead_pid}_dead.json").write_text(
        json.dumps({"pid": dead_pid, "snapshot": _snapshot(5, 7, [1, 2], exemplar_at=9.0)})
    )
    (tmp_path / f"llmperf_{os.getppid()}_live.json").write_text(
        json.dumps({"pid": os.getppid(), "snapshot": _snapshot(1, 10, [0, 1])})
    )
    (tmp_path / "llmperf_1_broken.json").write_text("{")
    directory = Directory(str(tmp_path))
    directory.write(_snapshot(100, 1000, [3, 0]))
    merged = directory.merged(_snapshot(2, 20, [1, 1]))  # own, fresh: its file is not read twice
    values = {family["name"]: family["points"][0] for family in merged["families"]}
    assert values["c"]["value"] == 2 + 5 + 1
    assert values["g"]["value"] == 20 + 10
    assert values["h"]["counts"] == [2, 4]
    assert values["h"]["sum"] == 6.0
    assert values["h"]["exemplars"] == [[0, f"{9:032x}", "b" * 16, 0.5, 9.0]], "the newest exemplar of a bucket"
    assert (tmp_path / directory.own_name).exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_multiprocess_settings_warn_once_and_fall_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING):
        settings = load_settings(
            {
                "OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR": str(blocker / "sub"),
                "OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL": "soon",
            }
        )
    assert settings.prometheus_multiproc_dir is None
    assert settings.prometheus_multiproc_interval == 1.0
    lines = [r.getMessage() for r in caplog.records]
    assert any("OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR" in m and "single-process" in m for m in lines)
    assert any("OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_INTERVAL='soon'" in m and "1000" in m for m in lines)
    made = load_settings({"OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "new")})
    assert made.prometheus_multiproc_dir == str(tmp_path / "new") and (tmp_path / "new").is_dir()


@pytest.mark.prometheus
def test_real_prometheus_stores_exemplars_whose_traces_were_exported(
    served: tuple[Endpoint, MeterProvider, TracerProvider, InMemorySpanExporter],
    fake_server: FakeServerProcess,
    tmp_path: Path,
) -> None:
    import urllib.parse

    import yaml

    from stack import Process, binary, free_port

    prometheus = binary("prometheus")
    endpoint, _meter_provider, tracer_provider, spans = served
    _calls(fake_server.base_url, tracer_provider)
    exported = {f"{s.context.trace_id:032x}" for s in spans.get_finished_spans()}
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "app", "static_configs": [{"targets": [f"127.0.0.1:{endpoint.port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    server = Process(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/-/ready")
        query = urllib.parse.urlencode(
            {
                "query": "gen_ai_client_operation_duration_seconds_bucket",
                "start": time.time() - 600,
                "end": time.time() + 600,
            }
        )
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not found and time.monotonic() < deadline:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v1/query_exemplars?{query}", timeout=10
            ) as response:
                found = json.loads(response.read())["data"]
            time.sleep(0.5)
    finally:
        server.stop()
    traces = {exemplar["labels"]["trace_id"] for series in found for exemplar in series["exemplars"]}
    assert traces, f"no exemplars stored; log:\n{server.log_path.read_text()[-2000:]}"
    assert traces <= exported


@pytest.mark.prometheus
def test_real_prometheus_scraping_the_demo_keeps_exemplars_of_the_traces_it_exported(tmp_path: Path) -> None:
    """As a user runs it: the demo exports traces over OTLP and serves metrics; Prometheus links the two."""
    import urllib.parse

    import yaml

    from otlp_receiver import http_receiver
    from stack import Process, binary, free_port

    prometheus = binary("prometheus")
    metrics_port, port = free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "demo", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    with http_receiver() as (url, received):
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=url,
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="prometheus",
            OTEL_LOGS_EXPORTER="none",
            OTEL_BSP_SCHEDULE_DELAY="200",  # spans reach the receiver within a fraction of a second
        )
        argv = [sys.executable, "-m", "otel_llmperf.cli", "demo", "--rps", "20", "--duration", "120"]
        demo = Process([*argv, "--metrics-port", str(metrics_port)], tmp_path / "demo.log", env=env)
        server = Process(
            [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
            ],
            tmp_path / "prometheus.log",
        )
        found: list[dict[str, Any]] = []
        try:
            demo.wait_ready(f"http://127.0.0.1:{metrics_port}/metrics", timeout=60)
            server.wait_ready(f"http://127.0.0.1:{port}/-/ready")
            query = urllib.parse.urlencode(
                {
                    "query": "gen_ai_client_operation_duration_seconds_bucket",
                    "start": time.time() - 600,
                    "end": time.time() + 600,
                }
            )
            deadline = time.monotonic() + 60
            while len({e["labels"]["trace_id"] for s in found for e in s["exemplars"]}) < 3:
                if time.monotonic() > deadline:
                    break
                time.sleep(1)
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/query_exemplars?{query}", timeout=10
                ) as response:
                    found = json.loads(response.read())["data"]
            time.sleep(2)  # the spans behind those exemplars ended before them: let their export land
        finally:
            server.stop()
            demo.stop()
        exported = {span.trace_id.hex() for span in received.spans()}
    traces = {exemplar["labels"]["trace_id"] for series in found for exemplar in series["exemplars"]}
    assert len(traces) >= 3, f"exemplars: {found}; demo log:\n{(tmp_path / 'demo.log').read_text()[-2000:]}"
    assert traces <= exported
    models = {series["seriesLabels"].get("gen_ai_request_model") for series in found}
    assert len(models) >= 2  # the demo's traffic spans several models, each linked to its traces
