# SPDX-License-Identifier: Apache-2.0
"""Drift rules proven on a real Prometheus and Alertmanager, filled by the seeded demo.

The shipped spec (``grafana/drift.yaml``) with test-sized windows (20 s recent, baseline 30 s
earlier, 30 samples; identity 10 s against the 20 s before) is rendered with the CLI and loaded into
Debian's Prometheus, which scrapes the demo every second and alerts to Alertmanager. With
``--drift-after`` the identity, time-to-first-chunk and accuracy alerts reach Alertmanager and
``otel-llmperf report`` against the first 25 s flags the shifted signals; without it nothing
fires in the same time and the report flags nothing. One test per outcome, so xdist can
run them on both workers. :class:`DriftStack` keeps the Prometheus URL and the time range for
checks that read the same data later (a report against the baseline, say).
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import Process, binary, child_env, console_script, free_port

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "grafana" / "drift.yaml"
JOB = "otel-llmperf-demo"
DRIFT_AFTER = 30.0  # seconds of traffic before the models change
# When the drift run's alerts have fired (identity at ~31-43 s, behaviour at ~50-63 s after traffic
# starts); the run without drift watches as long, and every wait ends by then.
WATCH = 68.0
# Accuracy: the offline judges' classification runs (hundreds of samples a window); the per-call
# groundedness judgements are too few at test scale for the z test to be sure every run.
# Time to first chunk at the median: a p95 needs 400 calls a window (20 beyond it), more than a
# loaded test machine's demo makes in 20 s.
# Output tokens are not required here: their alert is Welch's z with each window's variance from the
# token buckets, which grow 4x each; a few hundred calls whose longer answers reach the (1024, 4096]
# bucket do not always make z reach 3 in 20 s. The promtool tests prove that alert, and the report
# below must flag the longer answers on this very data.
EXPECTED = {"LLMPerfModelIdentityChanged", "ttfc-p50", "classification-accuracy"}

# About 100 s each on a quiet machine (the suite's default timeout is 120 s).
pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(300)]


@dataclass
class DriftStack:
    """The running stack: where Prometheus and Alertmanager answer, and since when the demo sends."""

    prometheus_url: str
    alertmanager_url: str
    started: float  # Unix time the demo's traffic was first scraped
    processes: dict[str, Process] = field(default_factory=dict)

    def time_range(self) -> tuple[float, float]:
        """(start, now) in Unix seconds: the span the demo has filled."""
        return self.started, time.time()

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

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        """What Alertmanager holds (``/api/v2/alerts``)."""
        with urllib.request.urlopen(f"{self.alertmanager_url}/api/v2/alerts", timeout=10) as response:
            return list(json.loads(response.read()))


# The report's periods: the first PERIOD seconds of traffic (before any drift) against the last
# PERIOD seconds (all after it), at least REPORT_AT seconds after traffic started.
PERIOD = 25
REPORT_AT = DRIFT_AFTER + PERIOD + 5


@dataclass
class BaselineReport:
    """``otel-llmperf report --baseline-start/--baseline-end`` on the stack: its table, identities and text."""

    rows: dict[str, dict[str, str]]
    identities: list[dict[str, str]]
    text: str

    @property
    def shifted(self) -> set[str]:
        """The signals the report flags: significant and at least the drift spec's min_change."""
        return {metric for metric, row in self.rows.items() if row["shifted"] == "1"}


def _baseline_report(stack: DriftStack, work: Path) -> BaselineReport:
    """The report of the stack's last PERIOD seconds against its first PERIOD seconds of traffic."""
    time.sleep(max(0.0, stack.started + REPORT_AT - time.time()))
    end = math.floor(time.time() / 5) * 5  # on the report's 5 s step, so the range ends where asked
    start = math.ceil(stack.started)
    command = console_script()
    out = work / "baseline-report"
    argv = [command, "report", "--prometheus", stack.prometheus_url, "--job", JOB, "--step", "5s", "--window", "10s"]
    argv += ["--range", f"{PERIOD}s", "--end", str(end), "--baseline-start", str(start)]
    # The alerts' spec: the report flags a change only as large as the alert rules need.
    argv += ["--baseline-end", str(start + PERIOD), "--drift", "drift.yaml", "--format", "both", "--out", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=child_env(), cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    with (out / "baseline.csv").open(newline="", encoding="utf-8") as file:
        rows = {row["metric"]: row for row in csv.DictReader(file)}
    identities = []
    if (out / "model_identity.csv").exists():
        with (out / "model_identity.csv").open(newline="", encoding="utf-8") as file:
            identities = list(csv.DictReader(file))
    return BaselineReport(rows, identities, result.stdout)


def _name(alert: dict[str, Any]) -> str:
    labels = alert["labels"]
    return str(labels.get("drift") or labels["alertname"])


def _test_spec(work: Path) -> Path:
    """The shipped spec with windows a test can wait for, pooled per job, rendered by the CLI."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    # z 3, not 4: the shipped 4 keeps a quiet service from a false ticket over months of overlapping
    # hourly looks; this test looks at a few 20 s windows, with a few hundred calls each.
    spec["defaults"].update(window="20s", baseline_offset="30s", group_by=["job"], min_count=30, z=3)
    spec["identity"].update(window="10s", baseline="20s", min_calls=5, group_by=["job"])
    for signal in spec["signals"]:
        for key in ("window", "baseline_offset", "group_by", "min_count"):
            signal.pop(key, None)
        if signal["name"].startswith(("duration-", "ttfc-")):
            # Latency measured in the client includes this machine's load, which other tests vary
            # within seconds; at test scale only a doubling is the model's doing (the switch: 3x).
            # A p95 of a few hundred calls moves a whole doubling bucket by chance: only a tripling.
            signal["min_change"] = 2.0 if signal["name"].endswith("-p95") else 1.0
        if signal["name"].startswith("error-"):
            # Client timeouts on an overloaded test machine are real errors, not drift: a tripling only.
            signal["min_change"] = 2.0
    (work / "drift.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    command = console_script()
    result = subprocess.run(
        [command, "drift", "render", "drift.yaml", "-o", "drift.rules.yml"],
        cwd=work, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return work / "drift.rules.yml"


def _start(work: Path, drift_after: float | None) -> DriftStack:
    prometheus, alertmanager = binary("prometheus"), binary("alertmanager")
    rules = _test_spec(work)
    demo_port, prometheus_port, alertmanager_port = (free_port() for _ in range(3))
    (work / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {"receiver": "null", "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
                "receivers": [{"name": "null"}],
            }
        )
    )
    (work / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
                "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{demo_port}"]}]}],
            }
        )
    )
    stack = DriftStack(f"http://127.0.0.1:{prometheus_port}", f"http://127.0.0.1:{alertmanager_port}", 0.0)
    processes = stack.processes
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
    processes["alertmanager"].wait_ready(f"{stack.alertmanager_url}/-/ready")
    processes["prometheus"].wait_ready(f"{stack.prometheus_url}/-/ready")
    command = console_script()
    argv = [command, "demo", "--rps", "40", "--seed", "11", "--metrics-port", str(demo_port), "--refresh", "3600"]
    argv += ["--duration", "150"]  # a bound, should the test die without stopping it
    if drift_after is not None:
        argv += ["--drift-after", f"{drift_after:g}"]
    processes["demo"] = Process(argv, work / "demo.log", child_env())
    deadline = time.monotonic() + 30
    while not stack.query(f'sum(gen_ai_client_operation_duration_seconds_count{{job="{JOB}"}}) > 0'):
        assert time.monotonic() < deadline, (work / "demo.log").read_text()[-3000:]
        time.sleep(0.5)
    stack.started = time.time()
    return stack


@pytest.fixture(name="drift_stack")
def fixture_drift_stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[DriftStack]:
    stack = _start(tmp_path, request.param)
    try:
        yield stack
    finally:
        for process in reversed(list(stack.processes.values())):
            process.stop()


def _watch(stack: DriftStack, until: float, enough: set[str] | None) -> dict[str, list[dict[str, Any]]]:
    """Alertmanager's alerts by drift name (or alertname), polled until ``until`` or until ``enough`` arrived."""
    seen: dict[str, list[dict[str, Any]]] = {}
    while time.time() < until:
        for alert in stack.alertmanager_alerts():
            alerts = seen.setdefault(_name(alert), [])
            if alert["labels"] not in [known["labels"] for known in alerts]:
                alerts.append(alert)
        if enough is not None and enough <= set(seen):
            break
        time.sleep(1)
    return seen


@pytest.mark.parametrize("drift_stack", [DRIFT_AFTER], indirect=True, ids=["drift-after-30s"])
def test_drift_alerts_reach_alertmanager(drift_stack: DriftStack, tmp_path: Path) -> None:
    seen = _watch(drift_stack, drift_stack.started + WATCH + 10, EXPECTED)
    if not set(seen) >= EXPECTED:
        values = {
            record: [(r["metric"].get("drift"), r["value"][1]) for r in drift_stack.query(f"llmperf:drift_{record}")]
            for record in ("count:recent", "count:baseline", "change:ratio", "z:score")
        }
        raise AssertionError(f"missing {EXPECTED - set(seen)}; Alertmanager got {sorted(seen)}; now: {values}")
    identities = [alert["labels"] for alert in seen["LLMPerfModelIdentityChanged"]]
    # Chat models report the new fingerprint; every model reports its new snapshot.
    assert any(labels.get("openai_response_system_fingerprint") == "fp_fakellm_drifted" for labels in identities)
    assert all(labels["gen_ai_response_model"].endswith("-2026-12-01") for labels in identities), identities
    assert seen["LLMPerfModelIdentityChanged"][0]["annotations"]["dashboard"].startswith("/d/llmperf-drift/")
    for name in EXPECTED - {"LLMPerfModelIdentityChanged"}:
        (alert,) = seen[name]
        assert alert["labels"]["alertname"] == "LLMPerfDrift" and alert["labels"]["job"] == JOB
        assert alert["annotations"]["dashboard"] == f"/d/llmperf-drift/llmperf-drift?var-drift={name}"

    # The same data through `otel-llmperf report --baseline-…`: the shifted signals are flagged.
    report = _baseline_report(drift_stack, tmp_path)
    flagged = {"Time to first chunk distribution", "Output tokens per call distribution"}
    assert flagged <= report.shifted, (report.shifted, report.text)
    assert any(metric.startswith("Evaluation accuracy") for metric in report.shifted), report.text
    assert float(report.rows["Output tokens per call p50"]["b"]) > float(report.rows["Output tokens per call p50"]["a"])
    assert "SHIFTED" in report.text
    assert any(row["status"] == "new" for row in report.identities), report.identities


@pytest.mark.parametrize("drift_stack", [None], indirect=True, ids=["no-drift"])
def test_without_the_switch_nothing_fires(drift_stack: DriftStack, tmp_path: Path) -> None:
    seen = _watch(drift_stack, drift_stack.started + WATCH, None)
    if seen:
        values = {
            name: [(r["metric"].get("drift"), r["value"][1]) for r in drift_stack.query(f"llmperf:drift_{name}")]
            for name in ("change:ratio", "z:score", "count:recent", "count:baseline")
        }
        raise AssertionError(
            f"fired without drift: {[a['labels'] for alerts in seen.values() for a in alerts]}; now: {values}"
        )
    assert not drift_stack.query('ALERTS{alertstate="firing"}')
    # Not silent for lack of data: both windows were full and compared.
    compared = drift_stack.query('llmperf:drift_count:baseline{drift="ttfc-p50"} >= 40')
    assert compared and drift_stack.query('llmperf:drift_change:ratio{drift="evaluation-accuracy"}')
    _every_drift_dashboard_query_returns_data(drift_stack)

    # The report on the same data flags nothing, and compared real samples to say so.
    report = _baseline_report(drift_stack, tmp_path)
    assert not report.shifted, ({m: report.rows[m] for m in report.shifted}, report.text)
    assert int(report.rows["Error rate"]["n_a"]) > 300 and int(report.rows["Error rate"]["n_b"]) > 300
    assert report.identities and all(row["status"] == "unchanged" for row in report.identities), report.identities


def _every_drift_dashboard_query_returns_data(stack: DriftStack) -> None:
    """The drift dashboard on this stack, its week-ago baselines moved to 30 s ago (test_stack_live does the rest)."""
    from dashboards_lib import SUBSTITUTIONS, dashboard_queries, load_dashboards, substitute, variable_selectors

    dashboard = load_dashboards()["llmperf-drift"]
    exprs = [expr for uid, _, expr in dashboard_queries() if uid == "llmperf-drift"]
    exprs += [selector for _, selector in variable_selectors(dashboard)]
    exprs += [annotation["expr"] for annotation in dashboard["annotations"]["list"]]
    # The identity annotation has data only after a change, which the steady run never makes.
    exprs = [expr for expr in exprs if "model_identity_new" not in expr and 'alertname="LLMPerfDrift"' not in expr]
    assert len(exprs) > 15
    values = {**SUBSTITUTIONS, "__rate_interval": "60s", "__range": "60s"}
    failing = [e for e in exprs if not stack.query(substitute(e, values).replace("offset 1w", "offset 30s"))]
    assert not failing, "drift dashboard queries without data:\n" + "\n".join(failing)
