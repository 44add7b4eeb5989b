# SPDX-License-Identifier: Apache-2.0
"""The bundled stack's rules and dashboards, proven against a real Prometheus and Alertmanager.

Everything runs on 127.0.0.1 and spare ports, in temporary directories, and is killed by PID:
the instrumented demo (scrape path, every series) and a small app whose first chunks turn slow,
scraped through ``otel-llmperf stack prometheus`` (the no-Docker route: Debian's Prometheus and
Alertmanager with the shipped rules) from a ``stack init`` directory whose alertmanager.yml the
test gives a webhook, as a user would. ``otel-llmperf report`` then reads the same Prometheus.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
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

from stack import Process, binary, child_env, console_script, free_port

ROOT = Path(__file__).resolve().parents[1]
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


def _alertmanager_with_webhook(stack_dir: Path, url: str) -> None:
    """What the shipped alertmanager.yml tells a user to do: give the page receiver a webhook."""
    path = stack_dir / "grafana" / "alertmanager" / "alertmanager.yml"
    text = path.read_text()
    assert "  - name: page\n" in text and "group_wait: 10s" in text
    text = text.replace("  - name: page\n", f"  - name: page\n    webhook_configs:\n      - url: {url}\n", 1)
    path.write_text(text.replace("group_wait: 10s", "group_wait: 1s"))  # test-sized


@pytest.fixture(name="stack", scope="module")
def fixture_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``otel-llmperf stack prometheus`` (the no-Docker route) scraping the demo and the SLO app."""
    binary("prometheus"), binary("alertmanager")  # skip, or fail under CI, when missing
    work = tmp_path_factory.mktemp("stack")
    demo_port, app_port, prometheus_port, alertmanager_port = (free_port() for _ in range(4))
    sink = Webhook()
    webhook = _webhook_server(sink)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    command = console_script()
    stack_dir = work / "stack"
    init = subprocess.run([command, "stack", "init", str(stack_dir)], capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    _alertmanager_with_webhook(stack_dir, f"http://127.0.0.1:{webhook.server_port}/alert")
    processes: dict[str, Process] = {}
    try:
        processes["stack"] = Process(
            [
                command, "stack", "prometheus", "--dir", str(work / "local"), "--stack", str(stack_dir),
                "--port", str(prometheus_port), "--alertmanager-port", str(alertmanager_port),
                "--scrape-interval", "1s",
                # The scrape path: job is the service name, as the OTLP path would make it.
                "--target", f"otel-llmperf-demo=127.0.0.1:{demo_port}", "--target", f"slo-app=127.0.0.1:{app_port}",
            ],
            work / "stack.log",
            child_env(),
        )  # fmt: skip
        processes["demo"] = Process(
            [command, "demo", "--rps", "25", "--metrics-port", str(demo_port), "--refresh", "3600"],
            work / "demo.log",
            child_env(),
        )
        processes["slo-app"] = Process(
            [sys.executable, str(Path(__file__).with_name("slo_app.py")), str(app_port), "4", "3"],
            work / "slo-app.log",
            child_env(),
        )
        processes["stack"].wait_ready(f"http://127.0.0.1:{alertmanager_port}/-/ready")
        processes["stack"].wait_ready(f"http://127.0.0.1:{prometheus_port}/-/ready")
        yield Stack(f"http://127.0.0.1:{prometheus_port}", sink, processes)
    finally:
        for process in reversed(list(processes.values())):
            process.stop()
        webhook.shutdown()
        webhook.server_close()
    # SIGTERM stops Prometheus and Alertmanager before the command exits 0.
    assert processes["stack"].process.returncode == 0, processes["stack"].log_path.read_text()[-2000:]
    assert "stopping Prometheus and Alertmanager" in processes["stack"].log_path.read_text()


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


def test_report_reads_the_local_stack(stack: Stack, tmp_path: Path) -> None:
    """Seconds of wall time: the next step ``stack prometheus`` prints (terminal format: no plots to draw;
    test_drift_live covers the html folder)."""
    # 20 of the 30 s reported hold data (scraped each second), also when this test runs alone.
    series = 'gen_ai_client_operation_duration_seconds_count{job="otel-llmperf-demo"}'
    assert stack.wait_for(f"count_over_time({series}[30s]) > 20")
    command = console_script()
    end = str(math.floor(time.time() / 5) * 5)  # on the step, so the range ends where the data is
    argv = [command, "report", "--prometheus", stack.prometheus_url, "--range", "30s", "--step", "5s", "--end", end]
    argv += ["--window", "10s", "--job", "otel-llmperf-demo", "--format", "terminal", "--out", str(tmp_path / "report")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=child_env(), check=False)
    assert result.returncode == 0, result.stderr
    assert "gpt-4o-mini" in result.stdout, result.stdout
    assert "otel-llmperf report --prometheus" in stack.processes["stack"].log_path.read_text()
