# SPDX-License-Identifier: Apache-2.0
"""Drift as code: the spec's validation, the rendered rules (with promtool), and ``otel-llmperf drift``."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_llmperf import cli
from otel_llmperf.drift import DriftSpecError, load_spec, parse_spec
from otel_llmperf.drift_rules import RECORDED, render_rules
from stack import binary

ROOT = Path(__file__).resolve().parent.parent
SPEC = "grafana/drift.yaml"
RULES = "grafana/prometheus/rules/llmperf-drift.rules.yml"
# The week-long behaviour tests evaluated once at 1w1h, and the few that check hour after hour (cheap
# evaluations; see each file's header).
RULE_TESTS = (
    "grafana/prometheus/rules/llmperf-drift.rules.test.yml",
    "grafana/prometheus/rules/llmperf-drift-hourly.rules.test.yml",
)
RATIO: dict[str, Any] = {
    "name": "accuracy",
    "kind": "ratio",
    "metric": "llmperf.evaluation.outcome",
    "numerator": ['llmperf_evaluation_outcome=~"tp|tn"'],
    "direction": "down",
}
QUANTILE: dict[str, Any] = {
    "name": "ttfc",
    "kind": "quantile",
    "metric": "gen_ai.client.operation.time_to_first_chunk",
    "quantile": 0.95,
    "direction": "up",
}


def _spec(*signals: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"version": 1, "signals": [copy.deepcopy(s) for s in (signals or (RATIO,))], **top}


def _group(spec: dict[str, Any], name: str) -> dict[str, Any]:
    groups = yaml.safe_load(render_rules(parse_spec(spec)))["groups"]
    return next(group for group in groups if group["name"] == name)


def _by_kind(group: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {rule[key]: rule for rule in group["rules"] if key in rule}


# The shipped files


def test_shipped_rules_are_rendered_from_the_shipped_spec() -> None:
    expected = render_rules(load_spec(ROOT / SPEC), source=SPEC, output=RULES)
    assert (ROOT / RULES).read_text() == expected, f"stale: otel-llmperf drift render {SPEC} -o {RULES}"


def test_shipped_spec_covers_every_signal_of_both_kinds_of_drift() -> None:
    spec = load_spec(ROOT / SPEC)
    assert spec.identity is not None and spec.identity.window == "1h" and spec.identity.baseline == "1w"
    names = {signal.name for signal in spec.signals}
    assert {
        "duration-p95", "ttfc-p95", "output-tokens", "error-ratio", "error-type-mix", "length-truncations",
        "content-filtered", "finish-reason-mix", "thumbs-up", "mean-rating", "evaluation-score",
        "evaluation-accuracy", "classification-accuracy",
    } <= names  # fmt: skip
    assert all(s.tuning.baseline_offset == "1w" and s.tuning.window == "1h" for s in spec.signals)


def test_shipped_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        [binary("promtool"), "check", "rules", RULES], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    """Fires on drift; silent on small samples, on noise the z test explains, and without change."""
    result = subprocess.run(
        [binary("promtool"), "test", "rules", *RULE_TESTS], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout
    tests = [test for path in RULE_TESTS for test in yaml.safe_load((ROOT / path).read_text())["tests"]]
    assert len(tests) == 6
    rules = " ".join(series["series"] for test in tests for series in test["input_series"])
    for metric in ("time_to_first_chunk", "evaluation_outcome", "finish_reasons", "model_identity"):
        assert metric in rules


# The rendered rules


def test_ratio_rules_count_both_windows_and_test_the_difference() -> None:
    group = _group(_spec(RATIO), "llmperf-drift-accuracy")
    records = _by_kind(group, "record")
    assert set(records) <= RECORDED
    assert list(records) == [
        "llmperf:drift_count:recent", "llmperf:drift_count:baseline",
        "llmperf:drift_events:recent", "llmperf:drift_events:baseline",
        "llmperf:drift_value:recent", "llmperf:drift_value:baseline",
        "llmperf:drift_change:ratio", "llmperf:drift_pooled:ratio", "llmperf:drift_z:score",
    ]  # fmt: skip
    assert all(rule["labels"] == {"drift": "accuracy"} for rule in records.values())
    baseline = records["llmperf:drift_count:baseline"]["expr"]
    assert "llmperf_evaluation_outcome_total[1h] offset 1w" in baseline
    assert "sum by (job, gen_ai_request_model)" in baseline
    assert "sqrt(" in records["llmperf:drift_z:score"]["expr"]
    alert = _by_kind(group, "alert")["LLMPerfDrift"]
    assert "<= 0.75" in alert["expr"] and "<= -4" in alert["expr"] and alert["expr"].count(">= 100") == 2
    assert alert["labels"] == {"drift": "accuracy", "severity": "ticket"}
    assert alert["annotations"]["dashboard"] == "/d/llmperf-drift/llmperf-drift?var-drift=accuracy"
    assert "for" not in alert


def test_quantile_rules_have_no_z_test_and_mean_rules_have_welchs() -> None:
    mean = {**QUANTILE, "name": "tokens", "kind": "mean", "metric": "gen_ai.client.token.usage", "direction": "both"}
    del mean["quantile"]
    spec = _spec(QUANTILE, mean)
    quantile = _by_kind(_group(spec, "llmperf-drift-ttfc"), "record")
    assert "llmperf:drift_z:score" not in quantile
    assert (
        "histogram_quantile(0.95, sum by (job, gen_ai_request_model, le)"
        in quantile["llmperf:drift_value:recent"]["expr"]
    )
    mean_rules = _by_kind(_group(spec, "llmperf-drift-tokens"), "record")
    # Welch's z from each window's bucket variance (the promtool tests check its values).
    assert {"llmperf:drift_variance:recent", "llmperf:drift_variance:baseline", "llmperf:drift_z:score"} <= set(
        mean_rules
    )
    assert "gen_ai_client_token_usage_bucket" in mean_rules["llmperf:drift_variance:recent"]["expr"]
    alert = _by_kind(_group(spec, "llmperf-drift-tokens"), "alert")["LLMPerfDrift"]["expr"]
    assert ">= 1.25" in alert and "<= 0.75" in alert and "z:score" in alert and "<= -4" in alert
    quantile_alert = _by_kind(_group(spec, "llmperf-drift-ttfc"), "alert")["LLMPerfDrift"]["expr"]
    assert "z:score" not in quantile_alert


def test_options_change_the_rules() -> None:
    signal = {
        **RATIO, "window": "20s", "baseline_offset": "1m", "group_by": [], "min_count": 7, "min_change": 0.3,
        "z": 2.5, "severity": "page", "for": "2m", "filters": ['gen_ai_evaluation_name="g"'], "split_by": "x",
    }  # fmt: skip
    group = _group(_spec(signal), "llmperf-drift-accuracy")
    records = _by_kind(group, "record")
    assert "[20s] offset 1m" in records["llmperf:drift_count:baseline"]["expr"]
    assert records["llmperf:drift_count:recent"]["expr"].startswith("sum (increase(")
    assert "sum by (x) (" in records["llmperf:drift_events:recent"]["expr"]
    assert (
        'gen_ai_evaluation_name="g",llmperf_evaluation_outcome=~"tp|tn"'
        in records["llmperf:drift_events:recent"]["expr"]
    )
    alert = _by_kind(group, "alert")["LLMPerfDrift"]
    assert alert["for"] == "2m" and alert["labels"]["severity"] == "page"
    assert "<= 0.7" in alert["expr"] and "<= -2.5" in alert["expr"] and alert["expr"].count(">= 7") == 2


def test_defaults_apply_unless_a_signal_overrides_them() -> None:
    spec = parse_spec(_spec(RATIO, {**QUANTILE, "min_count": 5}, defaults={"window": "30m", "min_count": 40}))
    assert [s.tuning.min_count for s in spec.signals] == [40, 5]
    assert {s.tuning.window for s in spec.signals} == {"30m"}


def test_identity_rules_compare_with_the_window_before() -> None:
    group = _group(_spec(identity={"window": "20s", "baseline": "1m", "min_calls": 3}), "llmperf-drift-model-identity")
    record = _by_kind(group, "record")["llmperf:model_identity_new:calls"]["expr"]
    assert "last_over_time(llmperf_model_identity_total[20s])" in record
    assert "last_over_time(llmperf_model_identity_total[1m] offset 20s)" in record
    assert "openai_response_system_fingerprint" in record and "unless on" in record
    alert = _by_kind(group, "alert")["LLMPerfModelIdentityChanged"]
    assert alert["expr"].strip() == "llmperf:model_identity_new:calls >= 3"
    assert alert["annotations"]["dashboard"].startswith("/d/llmperf-drift/")


def test_rendering_is_deterministic() -> None:
    spec = load_spec(ROOT / SPEC)
    assert render_rules(spec, SPEC, RULES) == render_rules(load_spec(ROOT / SPEC), SPEC, RULES)


# Validation: every field, typos and bad values


def _without(signal: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in signal.items() if name != key}


def _set(path: str, value: Any, signal: dict[str, Any] | None = None) -> Any:
    """A change to a spec: ``path`` set to ``value`` (or deleted), after the first signal became ``signal``."""

    def change(spec: dict[str, Any]) -> None:
        if signal is not None:
            spec["signals"][0] = copy.deepcopy(signal)
        target: Any = spec
        parts = path.replace("]", "").replace("[", ".").split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
        last = parts[-1]
        if value is _DELETE:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return change


_DELETE = object()
INVALID: dict[str, tuple[Any, str, str]] = {
    "version": (_set("version", 2), "version", "must be 1"),
    "typo at the top": (_set("signal", []), "signal", "unknown key; allowed: version, defaults, identity, signals"),
    "signals not a list": (_set("signals", {}), "signals", "must be a list"),
    "nothing to render": (_set("signals", []), "signals", "renders nothing"),
    "typo in a signal": (_set("signals[0].quantle", 0.9), "signals[0].quantle", "unknown key"),
    "missing name": (_set("signals[0].name", _DELETE), "signals[0].name", "is required"),
    "bad name": (_set("signals[0].name", "Accuracy!"), "signals[0].name", "[a-z0-9]"),
    "duplicate name": (lambda s: s["signals"].append(dict(s["signals"][0])), "signals[1].name", "already the name"),
    "bad kind": (_set("signals[0].kind", "median"), "signals[0].kind", "quantile, mean, ratio"),
    "unknown metric": (_set("signals[0].metric", "llmperf.accuracy"), "signals[0].metric", "not a metric"),
    "counter for a quantile": (_set("signals[0]", {**RATIO, "kind": "quantile"}), "signals[0].metric", "histogram"),
    "missing quantile": (_set("signals[0]", _without(QUANTILE, "quantile")), "signals[0].quantile", "is required"),
    "quantile out of range": (_set("signals[0].quantile", 95, QUANTILE), "signals[0].quantile", "between 0 and 1"),
    "quantile on a ratio": (_set("signals[0].quantile", 0.5), "signals[0].quantile", "only applies to kind quantile"),
    "numerator on a quantile": (_set("signals[0].numerator", ['a="b"'], QUANTILE), "signals[0].numerator", "ratio"),
    "missing numerator": (_set("signals[0].numerator", _DELETE), "signals[0].numerator", "is required"),
    "empty numerator": (_set("signals[0].numerator", []), "signals[0].numerator", "at least one matcher"),
    "bad matcher": (_set("signals[0].filters", ["gen_ai.request.model=gpt"]), "signals[0].filters[0]", "one label"),
    "reserved label in a matcher": (_set("signals[0].filters", ['le="1"']), "signals[0].filters[0]", "reserved"),
    "split_by in group_by": (_set("signals[0].split_by", "job"), "signals[0].split_by", "already in group_by"),
    "dotted split_by": (_set("signals[0].split_by", "error.type"), "signals[0].split_by", "use _ where OTel uses ."),
    "bad direction": (_set("signals[0].direction", "down-ish"), "signals[0].direction", "up, down, both"),
    "bad window": (_set("signals[0].window", "an hour"), "signals[0].window", "Prometheus duration"),
    "bad offset": (_set("signals[0].baseline_offset", 7), "signals[0].baseline_offset", "Prometheus duration"),
    "bad group_by": (_set("signals[0].group_by", "job"), "signals[0].group_by", "list of label names"),
    "repeated group_by": (_set("signals[0].group_by", ["job", "job"]), "signals[0].group_by", "twice"),
    "bad min_count": (_set("signals[0].min_count", 0), "signals[0].min_count", "at least 1"),
    "bool min_count": (_set("signals[0].min_count", True), "signals[0].min_count", "at least 1"),
    "bad min_change": (_set("signals[0].min_change", -0.1), "signals[0].min_change", "positive"),
    "min_change a fall cannot reach": (_set("signals[0].min_change", 1.5), "signals[0].min_change", "below 1"),
    "bad z": (_set("signals[0].z", "high"), "signals[0].z", "must be a number"),
    "bad severity": (_set("signals[0].severity", "critical"), "signals[0].severity", "page, ticket"),
    "bad for": (_set("signals[0].for", "soon"), "signals[0].for", "Prometheus duration"),
    "bad description": (_set("signals[0].description", "{{ $value }}"), "signals[0].description", "without {{"),
    "typo in defaults": (_set("defaults.windows", "1h"), "defaults.windows", "unknown key"),
    "bad default": (_set("defaults.z", 0), "defaults.z", "positive"),
    "typo in identity": (_set("identity.min_call", 3), "identity.min_call", "unknown key"),
    "bad identity window": (_set("identity.window", "1 hour"), "identity.window", "Prometheus duration"),
    "bad identity min_calls": (_set("identity.min_calls", 0.5), "identity.min_calls", "at least 1"),
    "bad identity severity": (_set("identity.severity", "info"), "identity.severity", "page, ticket"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_specs_name_the_field(case: str) -> None:
    change, field, allowed = INVALID[case]
    spec = _spec()
    change(spec)
    with pytest.raises(DriftSpecError) as raised:
        parse_spec(spec)
    assert raised.value.field == field, str(raised.value)
    assert allowed in str(raised.value)


def test_errors_from_a_file_name_the_file_and_line_and_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    text = (ROOT / SPEC).read_text().replace("    quantile: 0.95\n", "    quantle: 0.95\n", 1)
    line = text.splitlines().index("    quantle: 0.95") + 1
    (tmp_path / "drift.yaml").write_text(text)
    with pytest.raises(DriftSpecError) as raised:
        load_spec("drift.yaml")
    assert str(raised.value).startswith(f"drift.yaml:{line}: signals[0].quantle: unknown key")
    (tmp_path / "old.yml").write_text("previous rules\n")
    assert cli.main(["drift", "render", "drift.yaml", "-o", "old.yml"]) == 2
    assert (tmp_path / "old.yml").read_text() == "previous rules\n"
    assert f"otel-llmperf drift render: error: drift.yaml:{line}: signals[0].quantle" in capsys.readouterr().err
    # A missing key is placed at its signal.
    missing = (ROOT / SPEC).read_text().replace("    direction: up\n", "", 1)
    (tmp_path / "drift.yaml").write_text(missing)
    with pytest.raises(DriftSpecError, match=r"drift\.yaml:\d+: signals\[0\]\.direction: is required"):
        load_spec("drift.yaml")
    (tmp_path / "drift.yaml").write_text("version: 1\nversion: 1\n")
    with pytest.raises(DriftSpecError, match="duplicate key 'version'"):
        load_spec("drift.yaml")
    with pytest.raises(DriftSpecError, match=r"absent\.yaml: no such file"):
        load_spec("absent.yaml")


# The command


def test_cli_writes_and_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "drift.yaml").write_text((ROOT / SPEC).read_text())
    assert cli.main(["drift", "render", "drift.yaml", "-o", "rules.yml"]) == 0
    assert (tmp_path / "rules.yml").read_text() == render_rules(load_spec("drift.yaml"), "drift.yaml", "rules.yml")
    assert cli.main(["drift", "render", "drift.yaml", "-o", "rules.yml", "--check"]) == 0
    assert "rules.yml is up to date" in capsys.readouterr().out
    (tmp_path / "rules.yml").write_text((tmp_path / "rules.yml").read_text().replace(">= 100", ">= 10", 1))
    assert cli.main(["drift", "render", "drift.yaml", "-o", "rules.yml", "--check"]) == 1
    assert "rules.yml is stale" in capsys.readouterr().err
    assert cli.main(["drift", "render", "drift.yaml", "--check"]) == 2
    assert cli.main(["drift", "render", "drift.yaml"]) == 0
    assert capsys.readouterr().out.startswith("# GENERATED from drift.yaml")


def test_cli_check_passes_on_the_shipped_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.main(["drift", "render", SPEC, "-o", RULES, "--check"]) == 0


def test_an_slo_page_never_silences_a_drift_ticket() -> None:
    """Drift alerts carry no slo label; an inhibition keyed on slo must not treat "none" as equal."""
    config = yaml.safe_load((ROOT / "grafana" / "alertmanager" / "alertmanager.yml").read_text())
    for rule in config["inhibit_rules"]:
        if "slo" in rule["equal"]:
            assert 'slo!=""' in rule["source_matchers"] and 'slo!=""' in rule["target_matchers"]


def test_prometheus_keeps_the_baselines_the_shipped_spec_reads() -> None:
    from otel_llmperf.slo import duration_seconds

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    flag = next(f for f in compose["services"]["prometheus"]["command"] if "retention.time" in f)
    retention = duration_seconds(flag.split("=", 1)[1].split()[0], "retention")
    spec = load_spec(ROOT / SPEC)
    assert spec.identity is not None
    oldest = [duration_seconds(spec.identity.window, "w") + duration_seconds(spec.identity.baseline, "b")]
    oldest += [
        duration_seconds(s.tuning.window, "w") + duration_seconds(s.tuning.baseline_offset, "o") for s in spec.signals
    ]
    assert max(oldest) < retention


def test_a_quantile_needs_enough_calls_beyond_it() -> None:
    from otel_llmperf.drift_rules import TAIL_CALLS, minimum_count

    spec = load_spec(ROOT / SPEC)
    by_name = {signal.name: signal for signal in spec.signals}
    # 20 calls past the p95 take 400 calls; the median's 40 are below min_count (100) already.
    assert minimum_count(by_name["ttfc-p95"]) == TAIL_CALLS * 20 == 400
    assert minimum_count(by_name["ttfc-p50"]) == by_name["ttfc-p50"].tuning.min_count == 100
    assert minimum_count(by_name["output-tokens"]) == by_name["output-tokens"].tuning.min_count
    alert = _by_kind(_group(_spec(QUANTILE), "llmperf-drift-ttfc"), "alert")["LLMPerfDrift"]
    assert alert["expr"].count(">= 400") == 2 and "at least 400 in each window" in alert["annotations"]["description"]


def test_a_ratio_alert_needs_events_expected_in_both_windows() -> None:
    from otel_llmperf.drift_rules import EXPECTED_EVENTS

    alert = _by_kind(_group(_spec(RATIO), "llmperf-drift-accuracy"), "alert")["LLMPerfDrift"]["expr"]
    # pooled share x calls of each window, at least 5: a z test of 0 against 8 events is chance.
    for window in ("recent", "baseline"):
        guard = (
            'llmperf:drift_pooled:ratio{drift="accuracy"} * on (job, gen_ai_request_model, drift) group_left ()\n'
            f'llmperf:drift_count:{window}{{drift="accuracy"}}) >= {EXPECTED_EVENTS}'
        )
        assert guard in alert
    quantile = _by_kind(_group(_spec(QUANTILE), "llmperf-drift-ttfc"), "alert")["LLMPerfDrift"]["expr"]
    assert "pooled" not in quantile
