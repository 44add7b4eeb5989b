# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf doctor`` as a user runs it: a subprocess with an explicit environment.

Endpoints are real sockets on 127.0.0.1: the in-test OTLP receivers, a port nobody listens
on, a server answering 503, a socket that accepts nothing, and a fake metrics endpoint.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from otel_llmperf.doctor import ERROR, INFO, OK, WARNING, diagnose
from otel_llmperf.doctor.findings import SECTIONS
from otlp_receiver import grpc_receiver, http_receiver
from stack import console_script

SEVERITIES = {ERROR, WARNING, INFO, OK}


def _env(**variables: str) -> dict[str, str]:
    # No OTEL_* of the test run leaks in; the scrape port is "any" unless a test names one,
    # so a busy 9464 on this machine changes nothing.
    base = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "ANTHROPIC_"))}
    return {**base, "OTEL_EXPORTER_PROMETHEUS_PORT": "0", **variables}


def doctor(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``otel-llmperf doctor`` with these arguments and variables."""
    return subprocess.run(
        [console_script(), "doctor", *args],
        env=_env(**variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def doctor_json(**variables: str) -> tuple[int, dict[str, Any]]:
    """The exit code and parsed ``--json`` output of the doctor."""
    result = doctor("--json", **variables)
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def finding(report: dict[str, Any], section: str, subject: str) -> dict[str, Any]:
    """The one finding of ``section`` about ``subject``."""
    found = [item for item in report["findings"] if item["section"] == section and item["subject"] == subject]
    assert len(found) == 1, (section, subject, report["findings"])
    return found[0]


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_listener() -> Iterator[int]:
    """A socket that listens and never accepts: connections open, nothing ever answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@contextmanager
def http_server(status: int, body: bytes = b"") -> Iterator[int]:
    """An HTTP server answering every GET and POST with ``status`` and ``body``."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_an_otlp_http_receiver_that_answers_is_ok_with_the_url_of_each_signal() -> None:
    with http_receiver() as (url, received):
        code, report = doctor_json(OTEL_EXPORTER_OTLP_ENDPOINT=url)
        assert code == 0, report
        for signal in ("traces", "metrics", "logs"):
            line = finding(report, "export", signal)
            assert line["severity"] == OK
            assert line["data"]["url"] == f"{url}/v1/{signal}"
            assert line["data"]["status"] == 200
        # Each probe was a real (empty) OTLP export the receiver decoded.
        assert (len(received.traces), len(received.metrics), len(received.logs)) == (1, 1, 1)


def test_a_closed_otlp_port_is_an_error_naming_the_url_and_the_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = doctor(OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_METRICS_EXPORTER="otlp", OTEL_LOGS_EXPORTER="none")
    assert result.returncode == 1
    words = " ".join(result.stdout.split())
    assert f"ERROR traces otlp http/protobuf {url}/v1/traces: connection refused" in words
    assert "fix: start the Collector's OTLP/HTTP receiver (4318)" in words
    code, report = doctor_json(OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_LOGS_EXPORTER="none")
    assert code == 1
    assert finding(report, "export", "metrics")["data"]["state"] == "refused"
    assert finding(report, "export", "logs")["severity"] == INFO  # off, as asked


def test_a_receiver_answering_503_is_an_error_with_its_status() -> None:
    with http_server(503) as port:
        code, report = doctor_json(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{port}/v1/traces")
    assert code == 1
    line = finding(report, "export", "traces")
    assert (line["severity"], line["data"]["status"]) == (ERROR, 503)
    assert "HTTP 503" in line["message"]
    # Only traces were sent there; metrics stay on the scrape endpoint, logs off.
    assert finding(report, "export", "logs")["data"]["exporter"] == "none"


def test_a_404_says_the_base_url_takes_no_signal_path() -> None:
    with http_server(404) as port:
        code, report = doctor_json(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}/v1/traces")
    assert code == 1
    line = finding(report, "export", "traces")
    assert line["data"]["url"].endswith("/v1/traces/v1/traces")
    assert "OTEL_EXPORTER_OTLP_ENDPOINT is the base URL" in line["fix"]


def test_grpc_endpoints_are_probed_by_connecting() -> None:
    with grpc_receiver() as (url, _received):
        code, report = doctor_json(OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    assert code == 0, report
    assert finding(report, "export", "traces")["data"]["protocol"] == "grpc"
    assert finding(report, "export", "traces")["severity"] == OK
    code, report = doctor_json(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{free_port()}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc"
    )
    assert code == 1
    assert finding(report, "export", "metrics")["data"]["state"] == "refused"


def test_an_endpoint_that_never_answers_costs_the_doctor_about_its_timeout() -> None:
    with silent_listener() as port:
        result = doctor("--json", "--timeout", "1", OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert finding(report, "export", "traces")["data"]["state"] == "timeout"
    # Probes run in parallel, against one deadline (2 x timeout + 0.5 s): three silent signals
    # cost about one timeout, where one after the other they would cost three.
    assert report["seconds"] < 2.5


def test_a_scrape_port_held_by_another_socket_is_an_error_and_a_free_one_is_ok() -> None:
    with silent_listener() as port:
        code, report = doctor_json(OTEL_EXPORTER_PROMETHEUS_PORT=str(port))
    assert code == 1
    line = finding(report, "prometheus", "prometheus")
    assert (line["severity"], line["data"]["state"]) == (ERROR, "busy")
    assert "OTEL_EXPORTER_PROMETHEUS_PORT" in line["fix"]
    port = free_port()
    code, report = doctor_json(OTEL_EXPORTER_PROMETHEUS_PORT=str(port))
    assert code == 0
    line = finding(report, "prometheus", "prometheus")
    assert (line["severity"], line["data"]["url"]) == (OK, f"http://127.0.0.1:{port}/metrics")


def test_a_scrape_port_serving_our_metrics_means_the_app_runs_and_is_no_error() -> None:
    ours = b"# TYPE gen_ai_client_operation_duration_seconds histogram\n"
    with http_server(200, ours) as port:
        code, report = doctor_json(OTEL_EXPORTER_PROMETHEUS_PORT=str(port))
    assert code == 0
    assert finding(report, "prometheus", "prometheus")["data"]["state"] == "ours"
    other = b"# TYPE python_info gauge\npython_info 1.0\n"
    with http_server(200, other) as port:
        code, report = doctor_json(OTEL_EXPORTER_PROMETHEUS_PORT=str(port))
    assert code == 0
    assert finding(report, "prometheus", "prometheus")["severity"] == WARNING


def test_a_disabled_instrumentation_is_skipped_and_disabling_all_is_an_error() -> None:
    code, report = doctor_json(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="llmperf_openai")
    assert code == 0
    line = finding(report, "sdk", "openai")
    assert (line["severity"], line["data"]["status"]) == (INFO, "disabled")
    assert finding(report, "sdk", "anthropic")["data"]["status"] == "patched"
    code, report = doctor_json(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="*")
    assert code == 1
    assert finding(report, "sdk", "all")["severity"] == ERROR
    code, report = doctor_json(OTEL_SDK_DISABLED="true")
    assert code == 1
    assert "OTEL_SDK_DISABLED" in finding(report, "sdk", "all")["message"]


def test_each_bad_value_is_one_warning_naming_variable_value_and_fallback() -> None:
    code, report = doctor_json(OTEL_EXPORTER_PROMETHEUS_PORT="abc", OTEL_BSP_MAX_QUEUE_SIZE="-3")
    assert code == 0  # both fall back to working defaults
    warnings = [item["message"] for item in report["findings"] if item["section"] == "config"]
    assert warnings == [
        "OTEL_EXPORTER_PROMETHEUS_PORT='abc' is not an integer in [0, 65535]; using 9464",
        "OTEL_BSP_MAX_QUEUE_SIZE='-3' is not an integer of at least 1; using the default 2048",
    ]
    assert {item["severity"] for item in report["findings"] if item["section"] == "config"} == {WARNING}


def test_a_redactor_that_cannot_load_is_an_error() -> None:
    code, report = doctor_json(
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true", OTEL_PYTHON_LLMPERF_REDACTOR="nope"
    )
    assert code == 1
    assert finding(report, "privacy", "capture")["severity"] == ERROR
    code, report = doctor_json(
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true", OTEL_PYTHON_LLMPERF_REDACTOR="basic"
    )
    assert code == 0
    line = finding(report, "privacy", "capture")
    assert line["data"] == {"capture_content": True, "max_length": 16384, "redactor": "basic"}


def test_peer_instrumentations_are_named_with_how_they_layer() -> None:
    code, report = doctor_json()
    assert code == 0
    peers = {item["data"].get("package"): item for item in report["findings"] if item["section"] == "peer"}
    openllmetry = peers["opentelemetry-instrumentation-anthropic"]
    assert openllmetry["subject"] == "anthropic"
    assert openllmetry["data"]["layering"] == "beneath"
    assert "(OpenLLMetry)" in openllmetry["message"]
    assert "cost" in openllmetry["message"]
    # The installed contrib google-genai instrumentation does not support this google-genai.
    assert peers["opentelemetry-instrumentation-google-genai"]["data"]["layering"] == "inactive"
    assert any(item["data"].get("self_tracing") for item in report["findings"])  # anthropic >= 1.14
    code, report = doctor_json(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="anthropic")
    peers = {item["data"].get("package"): item for item in report["findings"] if item["section"] == "peer"}
    assert peers["opentelemetry-instrumentation-anthropic"]["data"]["layering"] == "off"


def test_an_sdk_outside_the_supported_range_is_a_warning_saying_what_is_supported(tmp_path: Path) -> None:
    # An older openai found first on the path: metadata and module, as pip would leave them.
    (tmp_path / "openai").mkdir()
    (tmp_path / "openai" / "__init__.py").write_text("raise ImportError('the doctor must not import SDKs')\n")
    (tmp_path / "openai-1.2.0.dist-info").mkdir()
    (tmp_path / "openai-1.2.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: openai\nVersion: 1.2.0\n"
    )
    code, report = doctor_json(PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    assert code == 0
    line = finding(report, "sdk", "openai")
    assert line["severity"] == WARNING
    assert "openai >= 1.40" in line["message"]
    assert line["data"]["version"] == "1.2.0"


def test_json_schema() -> None:
    with http_receiver() as (url, _received):
        code, report = doctor_json(OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_BSP_SCHEDULE_DELAY="soon")
    assert set(report) == {"schema", "version", "seconds", "exit_code", "counts", "findings"}
    assert report["schema"] == 1
    assert report["exit_code"] == code == 0
    assert isinstance(report["seconds"], float)
    assert set(report["counts"]) == SEVERITIES
    assert sum(report["counts"].values()) == len(report["findings"])
    for item in report["findings"]:
        assert set(item) == {"section", "severity", "subject", "message", "fix", "data"}
        assert item["section"] in SECTIONS
        assert item["severity"] in SEVERITIES
        assert isinstance(item["message"], str) and item["message"]
        assert item["fix"] is None or isinstance(item["fix"], str)
        assert isinstance(item["data"], dict)
    sections = [item["section"] for item in report["findings"]]
    assert sections == sorted(sections, key=SECTIONS.index)


def test_text_fits_one_screen() -> None:
    result = doctor()
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= 30
    assert lines[-1].startswith("0 errors, 0 warnings") and "exit 0" in lines[-1]


def test_the_package_import_stays_light_and_the_doctor_imports_no_sdk() -> None:
    code = (
        "import sys, otel_llmperf\n"
        "assert 'otel_llmperf.doctor' not in sys.modules\n"
        "from otel_llmperf.doctor import diagnose\n"
        "diagnose({'OTEL_EXPORTER_PROMETHEUS_PORT': '0'})\n"
        "sdks = ('openai', 'anthropic', 'google.genai', 'botocore', 'mistralai', 'cohere')\n"
        "print(sorted(name for name in sdks if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_diagnose_from_python_reads_the_given_mapping_every_time() -> None:
    environ = {"OTEL_EXPORTER_PROMETHEUS_PORT": "0", "OTEL_METRIC_EXPORT_INTERVAL": "often"}
    for _ in range(2):  # the application logs a bad SDK variable once; the doctor reports it each time
        diagnosis = diagnose(environ)
        assert diagnosis.exit_code == 0
        assert [item.message for item in diagnosis.warnings] == [
            "OTEL_METRIC_EXPORT_INTERVAL='often' is not a positive number; using the default 60000"
        ]


def test_multi_process_directory_is_reported_with_its_worker_files(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    for pid in (101, 102):  # two workers' series files, as the endpoint writes them
        (directory / f"llmperf_{pid}_abc.json").write_text("{}")
    code, report = doctor_json(
        OTEL_PYTHON_LLMPERF_PROMETHEUS_MULTIPROC_DIR=str(directory), OTEL_EXPORTER_PROMETHEUS_PORT=str(free_port())
    )
    workers = finding(report, "prometheus", "workers")
    assert workers["severity"] == "info"
    assert workers["data"]["files"] == 2
    assert workers["data"]["directory"] == str(directory)
    assert code == 0
