# SPDX-License-Identifier: Apache-2.0
"""SRM end to end: two applications fill a real Prometheus, ``otel-llmperf report`` states the mismatch.

``broken`` loses 40 % of its treatment exposures; ``fair`` counts every one. The report on
``broken`` must say SAMPLE RATIO MISMATCH above the A/B comparison (terminal and HTML); the
report on ``fair`` must not. The users, the salt and so the split are fixed: the outcome is the
same on every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fakeserver import FakeServerProcess
from stack import Process, binary, console_script, free_port

APPS = ("broken", "fair")
STEP = 5


@dataclass
class Filled:
    """A Prometheus that scraped both applications, and the end of the period to report."""

    url: str
    end: float
    work: Path


def _env(port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    return env | {
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }


def _exposures(url: str, job: str, metric: str = "llmperf_experiment_exposures_total") -> list[float]:
    query = urllib.parse.urlencode({"query": f'{metric}{{job="{job}"}}'})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=10) as response:
        result = json.loads(response.read())["data"]["result"]
    return [float(series["value"][1]) for series in result]


@pytest.fixture(name="filled", scope="module")
def fixture_filled(tmp_path_factory: pytest.TempPathFactory, fake_server: FakeServerProcess) -> Iterator[Filled]:
    prometheus = binary("prometheus")
    work = tmp_path_factory.mktemp("srm")
    ports = {app: free_port() for app in APPS}
    prometheus_port = free_port()
    (work / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": app, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                    for app, port in ports.items()
                ],
            }
        )
    )
    processes: list[Process] = []
    url = f"http://127.0.0.1:{prometheus_port}"
    try:
        server = Process(
            [
                prometheus,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            work / "prometheus.log",
        )
        processes.append(server)
        server.wait_ready(f"{url}/-/ready")
        app = str(Path(__file__).with_name("srm_app.py"))
        for name, port in ports.items():
            argv = [sys.executable, app, fake_server.base_url, str(work / f"{name}.done"), name]
            processes.append(Process(argv, work / f"{name}.log", _env(port)))
        deadline = time.monotonic() + 60
        # Both variants' series are in Prometheus (exposures declared at 0, one warm-up call each)
        # before the experiment runs: increase() counts everything after.
        calls = "gen_ai_client_operation_duration_seconds_count"
        while not all(len(_exposures(url, name)) == 2 == len(_exposures(url, name, calls)) for name in APPS):
            assert time.monotonic() < deadline, [(work / f"{name}.log").read_text()[-2000:] for name in APPS]
            time.sleep(0.2)
        for name in APPS:
            (work / f"{name}.go").write_text("go")
        while not all((work / f"{name}.done").exists() for name in APPS):
            assert time.monotonic() < deadline, [(work / f"{name}.log").read_text()[-2000:] for name in APPS]
            time.sleep(0.2)
        counted = {name: float((work / f"{name}.done").read_text()) for name in APPS}
        while any(sum(_exposures(url, name)) < counted[name] for name in APPS):
            assert time.monotonic() < deadline, {name: _exposures(url, name) for name in APPS}
            time.sleep(0.2)
        for process in processes[1:]:
            process.stop()
        # The report aligns its end down to the 5 s step: pass the next boundary, so the range holds every sample.
        time.sleep(STEP - time.time() % STEP + 0.5)
        yield Filled(url, float(int(time.time())), work)
    finally:
        for process in reversed(processes):
            process.stop()


def _report(filled: Filled, job: str, output: str) -> tuple[str, Path]:
    out = filled.work / f"{job}-report"
    argv = [console_script(), "report", "--prometheus", filled.url, "--range", "60s", "--step", f"{STEP}s"]
    argv += ["--window", "15s"]
    argv += ["--end", str(filled.end), "--job", job, "--out", str(out), "--format", output]
    argv += ["--compare-variants", "control,treatment"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=filled.work)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, out / "index.html"


@pytest.mark.prometheus
def test_a_broken_split_is_stated_above_the_comparison(filled: Filled) -> None:
    text, index = _report(filled, "broken", "both")
    assert "SAMPLE RATIO MISMATCH in checkout-prompt" in text, text
    assert text.index("SAMPLE RATIO MISMATCH") < text.index("A/B comparison"), text
    page = index.read_text(encoding="utf-8")
    ab = page[page.index('<section id="ab">') :]
    assert 'class="warn">SAMPLE RATIO MISMATCH in checkout-prompt' in ab
    assert ab.index("SAMPLE RATIO MISMATCH") < ab.index("Difference b - a")


@pytest.mark.prometheus
def test_a_fair_split_is_not_flagged(filled: Filled) -> None:
    text, _ = _report(filled, "fair", "terminal")
    assert "MISMATCH" not in text
    assert "checkout-prompt: exposures match the declared weights" in text, text
