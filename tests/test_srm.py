# SPDX-License-Identifier: Apache-2.0
"""Sample-ratio mismatch: the statistic against scipy, its verdicts, the alert rule under promtool, the report text."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from scipy.stats import chisquare

from otel_llmperf.report.srm import MISMATCH, NOT_ENOUGH, OK, chi_square, srm_test
from otel_llmperf.report.srm_section import print_srm, srm_html
from stack import binary

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "grafana" / "prometheus" / "rules"


@pytest.mark.parametrize(
    ("observed", "shares"),
    [
        ({"a": 5100, "b": 4900}, {"a": 0.5, "b": 0.5}),
        ({"a": 620, "b": 300, "c": 80}, {"a": 60, "b": 30, "c": 10}),  # weights, not shares: normalised
        ({"a": 10, "b": 30}, {"a": 0.25, "b": 0.75}),
        ({"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 1, "b": 1, "c": 1, "d": 1}),
    ],
)
def test_statistic_and_p_value_match_scipy(observed: dict[str, int], shares: dict[str, float]) -> None:
    names = sorted(shares)
    total = sum(observed.values())
    expected = [total * shares[name] / sum(shares.values()) for name in names]
    reference = chisquare([observed[name] for name in names], expected)
    statistic, dof = chi_square(observed, shares)
    assert statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert dof == len(names) - 1
    result = srm_test("e", observed, shares)
    if result.status != NOT_ENOUGH:
        assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)


def test_verdicts() -> None:
    fair = srm_test("e", {"a": 5050, "b": 4950}, {"a": 0.5, "b": 0.5})
    assert fair.status == OK and fair.p_value is not None and fair.p_value > 0.3
    skewed = srm_test("e", {"a": 5300, "b": 4700}, {"a": 0.5, "b": 0.5})
    assert skewed.status == MISMATCH and skewed.p_value is not None and skewed.p_value < 0.001
    # p = 0.002: suspicious, but not below the customary 0.001.
    borderline = srm_test("e", {"a": 5155, "b": 4845}, {"a": 0.5, "b": 0.5})
    assert borderline.status == OK and 0.001 < (borderline.p_value or 0) < 0.01
    tiny = srm_test("e", {"a": 9, "b": 0}, {"a": 0.5, "b": 0.5})
    assert tiny.status == NOT_ENOUGH and tiny.p_value is None and "not enough data" in tiny.message()
    rare_arm = srm_test("e", {"a": 300, "b": 10}, {"a": 0.99, "b": 0.01})  # b expects 3.1
    assert rare_arm.status == NOT_ENOUGH
    empty_arm = srm_test("e", {"a": 400}, {"a": 0.5, "b": 0.5})  # b never entered: counts 0
    assert empty_arm.status == MISMATCH and empty_arm.observed == {"a": 400, "b": 0}
    zero_weight = srm_test("e", {"a": 10, "b": 10, "off": 1}, {"a": 1, "b": 1, "off": 0})
    assert zero_weight.status == MISMATCH and zero_weight.p_value == 0.0
    nothing = srm_test("e", {}, {"a": 1, "b": 1})
    assert nothing.status == NOT_ENOUGH and nothing.total == 0
    single = srm_test("e", {"all": 50}, {"all": 1, "off": 0})
    assert single.status == OK


def test_terminal_and_html_put_the_mismatch_first() -> None:
    results = [
        srm_test("fine", {"a": 500, "b": 500}, {"a": 1, "b": 1}),
        srm_test("broken", {"a": 700, "b": 300}, {"a": 1, "b": 1}),
    ]
    results.sort(key=lambda r: r.status != MISMATCH)
    console = Console(record=True, width=300)
    print_srm(results, console)
    text = console.export_text()
    assert text.index("SAMPLE RATIO MISMATCH in broken") < text.index("fine: exposures match")
    assert "a 70.0% (expected 50.0%)" in text
    page = srm_html(results)
    assert re.search(r'<p class="warn">SAMPLE RATIO MISMATCH in broken', page)
    assert srm_html([]) == "" and srm_html(None) == ""


# --------------------------------------------------------------------------- the alert rule


def test_alert_rules_pass_promtool_check_and_tests() -> None:
    promtool = binary("promtool")
    checked = subprocess.run(
        [promtool, "check", "rules", "llmperf-experiments.rules.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0 and "SUCCESS: 7 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "llmperf-experiments.rules.test.yml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_rule_tests_cover_skewed_fair_tiny_and_empty_arm() -> None:
    tests = yaml.safe_load((RULES / "llmperf-experiments.rules.test.yml").read_text())["tests"]
    firing = {t["name"]: any(a["exp_alerts"] for a in t["alert_rule_test"]) for t in tests}
    assert firing == {
        "a skewed split fires": True,
        "a fair split stays silent": False,
        "a tiny sample stays silent": False,
        "an empty arm fires": True,
    }


def test_prometheus_loads_the_rules_file() -> None:
    config = yaml.safe_load((ROOT / "grafana" / "prometheus" / "prometheus.yml").read_text())
    loaded = {path.name for pattern in config["rule_files"] for path in (ROOT / "grafana" / "prometheus").glob(pattern)}
    assert "llmperf-experiments.rules.yml" in loaded
    assert not any(name.endswith(".test.yml") for name in loaded)


def test_critical_values_are_exact_for_every_possible_variant_count() -> None:
    from scipy.stats import chi2

    rule = yaml.safe_load((RULES / "llmperf-experiments.rules.yml").read_text())["groups"][0]["rules"]
    critical = next(r["expr"] for r in rule if r.get("record") == "llmperf:experiment_srm_critical:p001")
    found = {int(dof): float(value) for dof, value in re.findall(r"== (\d+)\) \* 0 \+ ([\d.]+)", critical)}
    assert sorted(found) == list(range(1, 16))  # 16 variants at most: 15 degrees of freedom
    for dof, value in found.items():
        assert value == pytest.approx(chi2.isf(0.001, dof), abs=5e-4)


def test_the_ab_dashboard_shows_the_alert_the_rules_define() -> None:
    rules = yaml.safe_load((RULES / "llmperf-experiments.rules.yml").read_text())["groups"][0]["rules"]
    alert = next(rule["alert"] for rule in rules if "alert" in rule)
    dashboard = json.loads((ROOT / "grafana" / "dashboards" / "llmperf-ab.json").read_text())
    panels = {panel["title"]: panel for panel in dashboard["panels"]}
    status = panels["Sample-ratio mismatch"]["targets"][0]["expr"]
    assert f'alertname="{alert}"' in status and status.endswith(" or vector(0)")
    for title in ("Exposures per variant", "Observed share of exposures", "Expected share (declared weight)"):
        assert "llmperf_experiment" in panels[title]["targets"][0]["expr"], title
