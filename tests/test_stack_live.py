# SPDX-License-Identifier: Apache-2.0
"""The bundled stack's rules and dashboards, proven against a real Prometheus and Alertmanager.

Everything runs on 127.0.0.1 and spare ports, in temporary directories, and is killed by PID:
the instrumented demo (scrape path, every series) and a small app whose first chunks turn slow,
scraped by Debian's Prometheus loaded with the shipped SLO rules, alerting to Alertmanager, which
delivers to a webhook in the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import Process, binary, free_port

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "grafana" / "prometheus" / "rules" / "llmperf-slo.rules.yml"
SLO_SPEC = ROOT / "grafana" / "slo.yaml"
DEADLINE = 90.0  # seconds any single wait may take
DRIFT_DASHBOARD = "llmperf-drift"

pytestmark = pytest.mark.prometheus


@dataclass
class Webhook:
    """Alertmanager's notifications, as received."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [alert for payload in self.payloads for alert in payload.get("alerts", [])]


def _webhook_server(sink: Webhook) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with sink.lock:
                sink.payloads.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@dataclass
class Stack:
    prometheus_url: str
    webhook: Webhook
    processes: dict[str, Process]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; a PromQL error fails with Prometheus' message."""
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read())
        if body.get("status") != "success":
            raise AssertionError(f"{body.get('errorType')}: {body.get('error')} in {expr}")
        return list(body["data"]["result"])

    def wait_for(self, expr: str, timeout: float = DEADLINE) -> list[dict[str, Any]]:
        """Poll until the query returns data (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(1)


def _child_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}


@pytest.fixture(name="stack", scope="module")
def fixture_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus, alertmanager = binary("prometheus"), binary("alertmanager")
    work = tmp_path_factory.mktemp("stack")
    demo_port, app_port, prometheus_port, alertmanager_port = (free_port() for _ in range(4))
    sink = Webhook()
    webhook = _webhook_server(sink)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    (work / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "test",
                    "group_by": ["alertname", "slo", "job"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [
                    {"name": "test", "webhook_configs": [{"url": f"http://127.0.0.1:{webhook.server_port}/alert"}]}
                ],
            }
        )
    )
    (work / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
                "scrape_configs": [
                    # The scrape path: job is the service name, as the OTLP path would make it.
                    {"job_name": "otel-llmperf-demo", "static_configs": [{"targets": [f"127.0.0.1:{demo_port}"]}]},
                    {"job_name": "slo-app", "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]},
                ],
            }
        )
    )
    demo_command = shutil.which("otel-llmperf", path=str(Path(sys.executable).parent))
    assert demo_command
    processes: dict[str, Process] = {}
    try:
        processes["alertmanager"] = Process(
            [
                alertmanager,
                f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'am'}",
                f"--web.listen-address=127.0.0.1:{alertmanager_port}",
                "--cluster.listen-address=",
            ],
            work / "alertmanager.log",
        )
        processes["prometheus"] = Process(
            [
                prometheus,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            work / "prometheus.log",
        )
        processes["demo"] = Process(
            [demo_command, "demo", "--rps", "25", "--metrics-port", str(demo_port), "--refresh", "3600"],
            work / "demo.log",
            _child_env(),
        )
        processes["slo-app"] = Process(
            [sys.executable, str(Path(__file__).with_name("slo_app.py")), str(app_port), "4", "3"],
            work / "slo-app.log",
            _child_env(),
        )
        processes["alertmanager"].wait_ready(f"http://127.0.0.1:{alertmanager_port}/-/ready")
        processes["prometheus"].wait_ready(f"http://127.0.0.1:{prometheus_port}/-/ready")
        yield Stack(f"http://127.0.0.1:{prometheus_port}", sink, processes)
    finally:
        for process in reversed(list(processes.values())):
            process.stop()
        webhook.shutdown()
        webhook.server_close()


def test_both_apps_are_scraped_with_their_job(stack: Stack) -> None:
    for job in ("otel-llmperf-demo", "slo-app"):
        result = stack.wait_for(f'sum(gen_ai_client_operation_duration_seconds_count{{job="{job}"}})')
        assert result and float(result[0]["value"][1]) > 0, job


def _variables(expr: str) -> str:
    replacements = {
        "$__rate_interval": "1m",
        "${__rate_interval}": "1m",
        "$__range": "5m",
        "${__range}": "5m",
        "$__interval": "15s",
        "${__interval}": "15s",
        "$variant_a": "a",
        "${variant_a}": "a",
        "$variant_b": "b",
        "${variant_b}": "b",
    }
    for name, value in replacements.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{[A-Za-z_]\w*(?::\w+)?\}|\$[A-Za-z_]\w*", ".*", expr)


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    from dashboards_lib import dashboard_queries, load_dashboards, variable_selectors

    # The drift dashboard compares with a week ago and reads the drift rules: test_drift_live runs it.
    queries = [(uid, title, _variables(expr)) for uid, title, expr in dashboard_queries() if uid != DRIFT_DASHBOARD]
    # The drop-down variables' label_values(selector, label) must find values too.
    queries += [
        (uid, f"variable {name}", _variables(selector))
        for uid, dashboard in load_dashboards().items()
        if uid != DRIFT_DASHBOARD
        for name, selector in variable_selectors(dashboard)
    ]
    assert len(queries) > 60
    # The demo needs a little while to produce every kind of feedback, outcome and variant.
    stack.wait_for('count(llmperf_feedback_total{llmperf_feedback_kind="nps"})')
    deadline = time.monotonic() + DEADLINE
    failing = queries
    while failing and time.monotonic() < deadline:
        failing = [(uid, title, expr) for uid, title, expr in failing if not stack.query(expr)]
        if failing:
            time.sleep(2)
    assert not failing, "queries returning no data:\n" + "\n".join(f"{u} / {t}: {e}" for u, t, e in failing)


def _ttfc_slo() -> str:
    spec = yaml.safe_load(SLO_SPEC.read_text())
    return next(slo["name"] for slo in spec["slos"] if slo["metric"] == "gen_ai.client.operation.time_to_first_chunk")


def test_slow_first_chunks_page_through_alertmanager(stack: Stack) -> None:
    slo = _ttfc_slo()
    deadline = time.monotonic() + DEADLINE
    paged: list[dict[str, Any]] = []
    while not paged and time.monotonic() < deadline:
        paged = [
            alert
            for alert in stack.webhook.alerts()
            if alert["labels"].get("alertname") == "LLMPerfSLOFastBurn" and alert["labels"].get("slo") == slo
        ]
        time.sleep(1)
    assert paged, f"no page for {slo}; Prometheus alerts: {stack.query('ALERTS')}"
    alert = paged[0]
    assert alert["status"] == "firing"
    assert alert["labels"]["severity"] == "page" and alert["labels"]["job"] == "slo-app"
    assert "/d/llmperf-slo/" in alert["annotations"]["dashboard"]
    assert alert["annotations"]["summary"] and alert["annotations"]["description"]
