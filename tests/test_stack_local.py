# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf stack prometheus`` without the binaries, its targets and config; the packaged specs as defaults.

The route itself (both binaries serving, dashboards answering, a page, a report) runs in test_stack_live.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from otel_llmperf.cli import main
from otel_llmperf.drift import load_spec
from otel_llmperf.report.thresholds import drift_spec
from otel_llmperf.stack_files import packaged_path
from otel_llmperf.stack_local import Target, prometheus_config


def test_missing_binaries_are_named_with_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["stack", "prometheus", "--dir", str(tmp_path / "local")]) == 1
    err = capsys.readouterr().err
    assert "prometheus and alertmanager not found on PATH" in err
    assert "apt install prometheus prometheus-alertmanager" in err
    assert not (tmp_path / "local").exists()


@pytest.mark.parametrize("bad", ["9464", "host:", "host:99999", "job=:1"])
def test_a_bad_target_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["stack", "prometheus", "--target", bad])
    assert exit_.value.code == 2
    assert "[JOB=]HOST:PORT" in capsys.readouterr().err


def test_config_scrapes_the_targets_loads_the_shipped_rules_and_alerts_locally(tmp_path: Path) -> None:
    rules = packaged_path("grafana/prometheus/rules")
    targets = [Target("checkout", "127.0.0.1:9464"), Target("checkout", "127.0.0.1:9465"), Target("b", "h:1")]
    config = prometheus_config(targets, rules, 9090, 9093, "5s")
    shipped = yaml.safe_load(packaged_path("grafana/prometheus/prometheus.yml").read_text())
    assert "otlp" not in config  # Prometheus 3 only; Debian's 2.x refuses it
    assert config["storage"] == shipped["storage"]
    assert config["global"] == {"scrape_interval": "5s", "evaluation_interval": "5s"}
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    (pattern,) = config["rule_files"]
    loaded = sorted(path.name for path in Path(pattern).parent.glob(Path(pattern).name))
    assert loaded == ["llmperf-drift.rules.yml", "llmperf-experiments.rules.yml", "llmperf-slo.rules.yml"]
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {"prometheus": ["127.0.0.1:9090"], "checkout": ["127.0.0.1:9464", "127.0.0.1:9465"], "b": ["h:1"]}


def test_report_thresholds_default_to_the_installed_drift_spec_outside_a_stack_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pip user has no grafana/drift.yaml in the working directory: the packaged one applies."""
    monkeypatch.chdir(tmp_path)
    assert drift_spec(None) == load_spec(packaged_path("grafana/drift.yaml"))
