# SPDX-License-Identifier: Apache-2.0
"""Latency SLOs as code: the spec's validation, the rendered rules (with promtool), and ``otel-llmperf slo``."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from otel_llmperf import cli
from otel_llmperf.instruments import CONTRACT, histogram
from otel_llmperf.prometheus import PrometheusReader, SnapshotCollector
from otel_llmperf.slo import LATENCY_METRICS, SloSpecError, load_spec, parse_spec
from otel_llmperf.slo_rules import WINDOWS, le_matcher, render_rules
from stack import binary, console_script

ROOT = Path(__file__).resolve().parent.parent
SPEC = "grafana/slo.yaml"
RULES = "grafana/prometheus/rules/llmperf-slo.rules.yml"
RULE_TESTS = "grafana/prometheus/rules/llmperf-slo.rules.test.yml"
RERENDER = f"otel-llmperf slo render {SPEC} -o {RULES}"
RECORDS = [
    *(f"llmperf:slo_error_ratio:rate{window}" for window in WINDOWS),
    *(f"llmperf:slo_burn_rate:rate{window}" for window in WINDOWS),
    "llmperf:slo_error_ratio:period",
    "llmperf:slo_error_budget_remaining:ratio",
    "llmperf:slo_objective:ratio",
    "llmperf:slo_threshold:seconds",
]
BASE_SLO: dict[str, Any] = {
    "name": "chat-duration",
    "metric": "gen_ai.client.operation.duration",
    "threshold": 10.24,
    "objective": 0.99,
}


def _spec(*slos: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "slos": list(slos or [dict(BASE_SLO)])}


def _render(**fields: Any) -> dict[str, Any]:
    """The rendered rule group of BASE_SLO with ``fields`` changed, parsed back."""
    text = render_rules(parse_spec(_spec({**BASE_SLO, **fields})))
    return dict(yaml.safe_load(text)["groups"][0])


def _rules(group: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {rule[key]: rule for rule in group["rules"] if key in rule}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(), "slo", "render", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


# The shipped files


def test_shipped_rules_are_rendered_from_the_shipped_spec() -> None:
    expected = render_rules(load_spec(ROOT / SPEC), source=SPEC, output=RULES)
    assert (ROOT / RULES).read_text(encoding="utf-8") == expected, f"{RULES} is stale; re-render: {RERENDER}"
    first_line = expected.splitlines()[0]
    assert first_line.startswith("# GENERATED") and RERENDER in first_line


def test_shipped_spec_has_the_two_chat_slos() -> None:
    slos = {slo.name: slo for slo in load_spec(ROOT / SPEC).slos}
    assert set(slos) == {"chat-duration", "chat-time-to-first-chunk"}
    duration, ttfc = slos["chat-duration"], slos["chat-time-to-first-chunk"]
    assert (duration.metric.prometheus, duration.threshold) == ("gen_ai_client_operation_duration_seconds", 10.24)
    assert (ttfc.metric.prometheus, ttfc.threshold) == ("gen_ai_client_operation_time_to_first_chunk_seconds", 2.56)
    for slo in slos.values():
        assert (slo.objective, slo.period, slo.group_by) == (0.99, "30d", ("job",))
        assert slo.filters == (("gen_ai_operation_name", "chat"),) and slo.errors_are_bad


def test_shipped_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        [binary("promtool"), "check", "rules", RULES], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 40 rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [binary("promtool"), "test", "rules", RULE_TESTS], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _alerts_at(test: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(case["alertname"], case["eval_time"]): len(case["exp_alerts"]) for case in test["alert_rule_test"]}


def test_promtool_unit_tests_cover_fast_slow_and_healthy() -> None:
    tests = {test["name"]: test for test in yaml.safe_load((ROOT / RULE_TESTS).read_text())["tests"]}
    fast = _alerts_at(tests["fast burn pages"])
    assert fast[("LLMPerfSLOFastBurn", "10m")] == 1 and fast[("LLMPerfSLOSlowBurn", "10m")] == 1
    slow = _alerts_at(tests["slow burn tickets without paging"])
    assert slow[("LLMPerfSLOSlowBurn", "3h")] == 1 and slow[("LLMPerfSLOFastBurn", "3h")] == 0
    healthy = _alerts_at(tests["healthy traffic stays silent"])
    assert set(healthy.values()) == {0}
    assert {name for name, _ in healthy} == {"LLMPerfSLOFastBurn", "LLMPerfSLOSlowBurn"}


# The rendered rules


def test_every_group_has_the_contract_rules_labelled_by_slo() -> None:
    group = _render()
    assert group["name"] == "llmperf-slo-chat-duration" and "interval" not in group
    assert [rule["record"] for rule in group["rules"] if "record" in rule] == RECORDS
    assert [rule["alert"] for rule in group["rules"] if "alert" in rule] == ["LLMPerfSLOFastBurn", "LLMPerfSLOSlowBurn"]
    assert all(rule["labels"]["slo"] == "chat-duration" for rule in group["rules"])
    ratio = _rules(group, "record")["llmperf:slo_error_ratio:rate1d"]["expr"]
    assert "sum by (job) (rate(gen_ai_client_operation_duration_seconds_count[1d]))" in ratio
    assert 'gen_ai_client_operation_duration_seconds_bucket{error_type="",le="10.24"}[1d]' in ratio


def test_burn_rates_budget_and_constants() -> None:
    records = _rules(_render(objective=0.999, period="28d"), "record")
    burn = records["llmperf:slo_burn_rate:rate6h"]["expr"]
    assert burn == 'llmperf:slo_error_ratio:rate6h{slo="chat-duration"} / 0.001'
    period = records["llmperf:slo_error_ratio:period"]["expr"]
    assert 'sum_over_time(llmperf:slo_error_ratio:rate5m{slo="chat-duration"}[28d])' in period
    assert 'count_over_time(llmperf:slo_error_ratio:rate5m{slo="chat-duration"}[28d])' in period
    remaining = records["llmperf:slo_error_budget_remaining:ratio"]["expr"]
    assert remaining == '1 - llmperf:slo_error_ratio:period{slo="chat-duration"} / 0.001'
    assert records["llmperf:slo_objective:ratio"]["expr"] == "vector(0.999)"
    assert records["llmperf:slo_threshold:seconds"]["expr"] == "vector(10.24)"


def test_alerts_are_multi_window_multi_burn_rate() -> None:
    alerts = _rules(_render(), "alert")
    fast, slow = alerts["LLMPerfSLOFastBurn"], alerts["LLMPerfSLOSlowBurn"]
    assert (fast["labels"], slow["labels"]) == (
        {"slo": "chat-duration", "severity": "page"},
        {"slo": "chat-duration", "severity": "ticket"},
    )
    burns = re.compile(r"llmperf:slo_burn_rate:rate(\w+)\{[^}]*\} > ([\d.]+)")
    assert burns.findall(fast["expr"]) == [("5m", "14.4"), ("1h", "14.4"), ("30m", "6"), ("6h", "6")]
    assert burns.findall(slow["expr"]) == [("2h", "3"), ("1d", "3"), ("6h", "1"), ("3d", "1")]
    assert "for" not in fast and "for" not in slow
    annotations = fast["annotations"]
    assert annotations["summary"] == (
        'chat-duration is burning its error budget {{ $value | printf "%.1f" }}x too fast ({{ $labels.job }})'
    )
    assert '{{ $value | printf "%.1f" }}x the sustainable rate' in annotations["description"]
    assert "99% of gen_ai.client.operation.duration within 10.24 s over 30d" in annotations["description"]
    assert annotations["dashboard"] == "/d/llmperf-slo/llmperf-latency-slos?var-slo=chat-duration"


def test_options_change_the_rules() -> None:
    group = _render(
        group_by=[],
        errors_are_bad=False,
        filters={"gen_ai_request_model": 'gpt-"4o"', "server_port": 443},
        alert_for={"page": "2m", "ticket": "1h"},
    )
    ratio = _rules(group, "record")["llmperf:slo_error_ratio:rate5m"]["expr"]
    assert "error_type" not in ratio and "sum(rate(" in ratio and "by (" not in ratio
    assert 'gen_ai_request_model="gpt-\\"4o\\"",server_port="443",le="10.24"' in ratio
    alerts = _rules(group, "alert")
    assert (alerts["LLMPerfSLOFastBurn"]["for"], alerts["LLMPerfSLOSlowBurn"]["for"]) == ("2m", "1h")
    assert alerts["LLMPerfSLOFastBurn"]["annotations"]["summary"].endswith("x too fast")
    assert "failed calls count by their duration" in alerts["LLMPerfSLOFastBurn"]["annotations"]["description"]


def test_rendering_is_deterministic() -> None:
    spec = load_spec(ROOT / SPEC)
    assert render_rules(spec, SPEC, RULES) == render_rules(load_spec(ROOT / SPEC), SPEC, RULES)


def _bucket_les(exposition: str, series: str) -> list[str]:
    return re.findall(rf'^{series}_bucket\{{[^}}]*le="([^"]+)"', exposition, re.MULTILINE)


def _matches(matcher: str, le: str) -> bool:
    parsed = re.fullmatch(r'le(=~?)"(.*)"', matcher)
    assert parsed, matcher
    operator, quoted = parsed.groups()
    value = quoted.replace("\\\\", "\\")
    return re.fullmatch(value, le) is not None if operator == "=~" else value == le


def test_thresholds_match_the_le_the_prometheus_endpoint_writes() -> None:
    registry = CollectorRegistry()
    reader = PrometheusReader()
    registry.register(SnapshotCollector(reader.snapshot))
    provider = MeterProvider(metric_readers=[reader])
    try:
        meter = provider.get_meter("test")
        for spec in LATENCY_METRICS.values():
            histogram(meter, spec.name).record(5.0, {"gen_ai.operation.name": "chat"})
        exposition = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    line = r'^{}_bucket\{{.*le="{}"[^}}]*\}} {}$'
    assert re.search(line.format("gen_ai_client_operation_duration_seconds", r"10\.24", r"1\.0"), exposition, re.M)
    assert re.search(line.format("llmperf_client_time_per_output_token_seconds", r"1\.0", r"0\.0"), exposition, re.M)
    for spec in LATENCY_METRICS.values():
        les = _bucket_les(exposition, spec.prometheus)
        assert les == [*(repr(bound) for bound in spec.buckets), "+Inf"], spec.name
        for bound, le in zip(spec.buckets, les[:-1], strict=True):
            assert _matches(le_matcher(bound), le), (bound, le)
    # Prometheus's OTLP receiver writes integral bounds Go's way, without ".0".
    assert _matches(le_matcher(1.0), "1") and not _matches(le_matcher(1.0), "100")


INTEGRAL_TESTS = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'llmperf_client_time_per_output_token_seconds_bucket{job="scraped",le="1.0"}'
        values: '0+90x30'
      - series: 'llmperf_client_time_per_output_token_seconds_count{job="scraped"}'
        values: '0+100x30'
      - series: 'llmperf_client_time_per_output_token_seconds_bucket{job="otlp",le="1"}'
        values: '0+99x30'
      - series: 'llmperf_client_time_per_output_token_seconds_count{job="otlp"}'
        values: '0+100x30'
    promql_expr_test:
      - expr: round(llmperf:slo_error_ratio:rate5m * 100)
        eval_time: 20m
        exp_samples:
          - labels: '{job="scraped",slo="tpot"}'
            value: 10
          - labels: '{job="otlp",slo="tpot"}'
            value: 1
"""


def test_an_integral_threshold_matches_both_exposition_spellings(tmp_path: Path) -> None:
    slo = {"name": "tpot", "metric": "llmperf.client.time_per_output_token", "threshold": 1, "objective": 0.9}
    (tmp_path / "rules.yml").write_text(render_rules(parse_spec(_spec(slo))))
    (tmp_path / "rules.test.yml").write_text(INTEGRAL_TESTS)
    command = [binary("promtool"), "test", "rules", "rules.test.yml"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# Validation: every error names its field, and nothing is written


def _change(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def edit(spec: dict[str, Any]) -> None:
        spec["slos"][0].update(fields)

    return edit


def _drop(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec["slos"][0].pop(field)


def _top(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda spec: spec.update(fields)


def _duplicate(spec: dict[str, Any]) -> None:
    spec["slos"].append({**BASE_SLO, "objective": 0.95})


DURATION_BOUNDS = "allowed: 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92"
ALLOWED_METRICS = "allowed: " + ", ".join(m.name for m in CONTRACT if m.kind == "histogram" and m.unit == "s")
INVALID = {
    "threshold not a bucket": (_change(threshold=10), "slos[0].threshold", DURATION_BOUNDS),
    "threshold of another metric": (_change(threshold=0.075), "slos[0].threshold", DURATION_BOUNDS),
    "threshold per token": (
        _change(metric="llmperf.client.time_per_output_token", threshold=0.33),
        "slos[0].threshold",
        "allowed: 0.01, 0.025, 0.05, 0.075",
    ),
    "threshold not a number": (_change(threshold="10.24s"), "slos[0].threshold", "must be a number"),
    "objective 1": (_change(objective=1), "slos[0].objective", "strictly between 0 and 1"),
    "objective 0": (_change(objective=0), "slos[0].objective", "strictly between 0 and 1"),
    "objective percent": (_change(objective=99), "slos[0].objective", "strictly between 0 and 1"),
    "unknown metric": (_change(metric="gen_ai.client.operation.durations"), "slos[0].metric", ALLOWED_METRICS),
    "counter metric": (_change(metric="llmperf.feedback"), "slos[0].metric", ALLOWED_METRICS),
    "token histogram": (_change(metric="gen_ai.client.token.usage"), "slos[0].metric", ALLOWED_METRICS),
    "bad name": (_change(name="Chat_Duration"), "slos[0].name", "[a-z0-9][a-z0-9-]{0,62}"),
    "long name": (_change(name="a" * 64), "slos[0].name", "[a-z0-9][a-z0-9-]{0,62}"),
    "duplicate names": (_duplicate, "slos[1].name", "already the name of slos[0]"),
    "bad period": (_change(period="30 days"), "slos[0].period", "Prometheus duration"),
    "short period": (_change(period="1d"), "slos[0].period", "at least 3d"),
    "typo key": (_change(objectve=0.99), "slos[0]", "unknown key(s) objectve"),
    "unknown top key": (_top(slo=[]), "spec", "unknown key(s) slo"),
    "missing threshold": (_drop("threshold"), "slos[0].threshold", "is required"),
    "wrong version": (_top(version=2), "version", "must be 1"),
    "no slos": (_top(slos=[]), "slos", "non-empty list"),
    "otel label name": (
        _change(filters={"gen_ai.operation.name": "chat"}),
        "slos[0].filters.gen_ai.operation.name",
        "Prometheus names use _",
    ),
    "filter on error_type": (_change(filters={"error_type": "timeout"}), "slos[0].filters.error_type", "reserved"),
    "filter value": (_change(filters={"server_port": [443]}), "slos[0].filters.server_port", "must be a string"),
    "template in filter": (_change(filters={"job": "{{ x }}"}), "slos[0].filters.job", "without {{"),
    "group by le": (_change(group_by=["job", "le"]), "slos[0].group_by[1]", "reserved"),
    "group by string": (_change(group_by="job"), "slos[0].group_by", "must be a list"),
    "errors_are_bad": (_change(errors_are_bad="sometimes"), "slos[0].errors_are_bad", "true or false"),
    "alert_for severity": (_change(alert_for={"critical": "5m"}), "slos[0].alert_for", "allowed: page, ticket"),
    "alert_for duration": (_change(alert_for={"page": "soon"}), "slos[0].alert_for.page", "Prometheus duration"),
    "template in description": (_change(description="{{ $value }}"), "slos[0].description", "{{"),
}


def _write_invalid(tmp_path: Path, case: str) -> Path:
    path = tmp_path / "slo.yaml"
    if case == "malformed yaml":
        path.write_text("version: 1\nslos:\n  - name: [chat\n")
    elif case == "duplicate yaml key":
        path.write_text(yaml.safe_dump(_spec()) + "version: 1\n")
    elif case != "missing file":
        spec = _spec()
        INVALID[case][0](spec)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


EXPECTED = {
    **{case: (field, allowed) for case, (_, field, allowed) in INVALID.items()},
    "malformed yaml": ("slo.yaml: not valid YAML", "line 3"),
    "duplicate yaml key": ("slo.yaml: not valid YAML", "duplicate key 'version' in \"<unicode string>\", line 7"),
    "missing file": ("slo.yaml: no such file", ""),
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_invalid_specs_name_the_field_and_write_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _write_invalid(tmp_path, case)
    field, allowed = EXPECTED[case]
    with pytest.raises(SloSpecError) as raised:
        load_spec("slo.yaml")  # messages name the spec as given
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert message.startswith("slo.yaml: ") and f"{field}: " in message + ": " and allowed in message, message

    assert cli.main(["slo", "render", "slo.yaml", "-o", "new.yml"]) == 2
    assert not (tmp_path / "new.yml").exists()
    (tmp_path / "old.yml").write_text("previous rules\n")
    assert cli.main(["slo", "render", "slo.yaml", "-o", "old.yml"]) == 2
    assert (tmp_path / "old.yml").read_text() == "previous rules\n"
    assert sorted(path.name for path in tmp_path.iterdir() if path.name != "slo.yaml") == ["old.yml"]
    error = capsys.readouterr().err
    assert error.count(f"otel-llmperf slo render: error: {message}\n") == 2


# The command


def test_cli_renders_to_stdout() -> None:
    result = _run(SPEC, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_rules(load_spec(ROOT / SPEC), source=SPEC)
    assert result.stdout.startswith(f"# GENERATED from {SPEC}")


def test_cli_writes_the_output_atomically_and_check_agrees(tmp_path: Path) -> None:
    shutil.copy(ROOT / SPEC, tmp_path / "slo.yaml")
    (tmp_path / "rules").mkdir()
    result = _run("slo.yaml", "-o", "rules/slo.rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "rules" / "slo.rules.yml").read_text()
    assert written == render_rules(load_spec(ROOT / SPEC), source="slo.yaml", output="rules/slo.rules.yml")
    assert (tmp_path / "rules" / "slo.rules.yml").stat().st_mode & 0o777 == 0o644  # readable by Prometheus
    assert [path.name for path in (tmp_path / "rules").iterdir()] == ["slo.rules.yml"]  # no temporary left
    check = _run("slo.yaml", "-o", "rules/slo.rules.yml", "--check", cwd=tmp_path)
    assert (check.returncode, check.stdout) == (0, "rules/slo.rules.yml is up to date\n")


def test_cli_check_passes_on_the_shipped_files() -> None:
    result = _run(SPEC, "-o", RULES, "--check", cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_cli_check_fails_on_drift_without_writing(tmp_path: Path) -> None:
    shutil.copy(ROOT / SPEC, tmp_path / "slo.yaml")
    stale = (ROOT / RULES).read_text().replace("vector(0.99)", "vector(0.999)", 1)
    (tmp_path / "rules.yml").write_text(stale)
    result = _run("slo.yaml", "-o", "rules.yml", "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert "rules.yml is stale" in result.stderr and "-        expr: vector(0.999)" in result.stderr
    assert (tmp_path / "rules.yml").read_text() == stale
    missing = _run("slo.yaml", "-o", "absent.yml", "--check", cwd=tmp_path)
    assert missing.returncode == 1 and "absent.yml does not exist" in missing.stderr
    assert not (tmp_path / "absent.yml").exists()


def test_cli_rejects_a_bad_spec_with_exit_2(tmp_path: Path) -> None:
    spec = _spec()
    spec["slos"][0]["threshold"] = 10
    (tmp_path / "slo.yaml").write_text(yaml.safe_dump(spec))
    result = _run("slo.yaml", "-o", "rules.yml", cwd=tmp_path)
    assert result.returncode == 2
    assert "otel-llmperf slo render: error: slo.yaml: slos[0].threshold: 10 is not a bucket boundary" in result.stderr
    assert DURATION_BOUNDS in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "rules.yml").exists()
    no_output = _run("slo.yaml", "--check", cwd=tmp_path)
    assert no_output.returncode == 2 and "--check needs -o" in no_output.stderr


@pytest.mark.parametrize("command", ["slo", "drift"])
def test_render_errors_name_the_paths_as_given(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An absolute path stays absolute, and a relative one stays as typed: the user finds the file they named."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    absent = str(tmp_path / "absent.yaml")  # outside the working directory
    assert cli.main([command, "render", absent]) == 2
    assert f"otel-llmperf {command} render: error: {absent}: no such file" in capsys.readouterr().err
    roundabout = "../here/absent.yaml"  # inside it, reached from outside
    assert cli.main([command, "render", roundabout]) == 2
    assert f"error: {roundabout}: no such file" in capsys.readouterr().err

    spec = ROOT / (SPEC if command == "slo" else "grafana/drift.yaml")
    output = str(tmp_path / "rules.yml")
    assert cli.main([command, "render", str(spec), "-o", output, "--check"]) == 1
    assert f"{output} does not exist" in capsys.readouterr().err
    assert cli.main([command, "render", str(spec), "-o", output]) == 0
    assert cli.main([command, "render", str(spec), "-o", output, "--check"]) == 0
    assert capsys.readouterr().out == f"{output} is up to date\n"
