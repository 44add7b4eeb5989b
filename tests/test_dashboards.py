# SPDX-License-Identifier: Apache-2.0
"""Static checks of the Grafana dashboards: generated, well-formed, and tied to the metric contract.

No Grafana and no Prometheus needed (promtool, when installed, checks the PromQL syntax). Grafana
has no offline dashboard validator, so the structure is checked here: ids, grid, targets,
datasource references (grafana/grafana#10786), variables, and every metric name against
``otel_llmperf.instruments.CONTRACT``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards_lib import (
    ALERTS,
    DASHBOARD_DIR,
    DATASOURCES_FILE,
    GENERATOR,
    PROVIDER_FILE,
    ROOT,
    SLO_RULES,
    bucket_boundaries,
    contract_series,
    dashboard_queries,
    le_matchers,
    load_dashboards,
    metric_names,
    panels,
    series_names,
    substitute,
    variable_selectors,
    variables_used,
)
from otel_llmperf.instruments import CONTRACT

EXPECTED = {
    "llmperf-overview": "LLM overview",
    "llmperf-slo": "LLM latency SLOs",
    "llmperf-quality": "LLM satisfaction and quality",
    "llmperf-ab": "LLM A/B comparison",
    "llmperf-drift": "LLM model drift",
}
TAG = "otel-llmperf"
DASHBOARDS = load_dashboards()
GRID_WIDTH = 24
# Variables Grafana itself defines.
BUILTIN_VARIABLES = {"__rate_interval", "__range", "__interval", "__range_s", "__interval_ms"}
DASHBOARD_MOUNT = "/var/lib/grafana/dashboards/llmperf"
REGENERATE = "regenerate them with: python tools/build_dashboards.py (the venv's python), then commit"


def _run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, timeout=60, check=False
    )


def _contents(dashboard: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in the JSON."""
    if isinstance(dashboard, dict):
        for key, value in dashboard.items():
            yield key, value
            yield from _contents(value)
    elif isinstance(dashboard, list):
        for item in dashboard:
            yield from _contents(item)


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in dashboard["templating"]["list"]}


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


# --------------------------------------------------------------------------- generated, complete


def test_generated_files_are_up_to_date(tmp_path: Path) -> None:
    result = _run_generator("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    generated = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.glob("*.json")}
    assert set(generated) == {f"{uid}.json" for uid in EXPECTED}
    stale = [
        name
        for name, text in generated.items()
        if not (DASHBOARD_DIR / name).is_file() or (DASHBOARD_DIR / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"grafana/dashboards/{{{', '.join(stale)}}} differ from the generator's output; {REGENERATE}"


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    assert _run_generator("--out", str(tmp_path)).returncode == 0
    assert _run_generator("--check", "--out", str(tmp_path)).returncode == 0
    edited = tmp_path / "llmperf-ab.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace("LLM A/B comparison", "edited"), encoding="utf-8")
    result = _run_generator("--check", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "llmperf-ab.json" in result.stderr
    assert "build_dashboards.py" in result.stderr


def test_the_four_dashboards_have_unique_fixed_uids_and_titles() -> None:
    uids = [path.stem for path in sorted(DASHBOARD_DIR.glob("*.json"))]
    assert sorted(uids) == sorted(EXPECTED), "one file per dashboard, named after its uid"
    assert {uid: dashboard["title"] for uid, dashboard in DASHBOARDS.items()} == EXPECTED
    assert len(set(DASHBOARDS)) == len(uids)


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("uid", sorted(EXPECTED))
def test_dashboard_envelope_and_links(uid: str) -> None:
    dashboard = DASHBOARDS[uid]
    assert dashboard["schemaVersion"] == 39
    assert dashboard["tags"] == [TAG]
    assert dashboard["refresh"] == "30s"
    assert dashboard["time"] == {"from": "now-6h", "to": "now"}
    assert "__inputs" not in dashboard, "provisioning does not fill __inputs (grafana/grafana#10786)"
    # A tag link reaches the other three (all carry the tag), keeping time range and variables.
    links = [link for link in dashboard["links"] if link["type"] == "dashboards" and TAG in link["tags"]]
    assert links, "no link to the other otel-llmperf dashboards"
    assert links[0]["keepTime"] and links[0]["includeVars"]


@pytest.mark.parametrize("uid", sorted(EXPECTED))
def test_panel_ids_are_unique(uid: str) -> None:
    ids = [panel["id"] for panel in panels(DASHBOARDS[uid])]
    assert all(isinstance(panel_id, int) for panel_id in ids)
    assert len(ids) == len(set(ids)), sorted(ids)


@pytest.mark.parametrize("uid", sorted(EXPECTED))
def test_grid_positions_fit_and_do_not_overlap(uid: str) -> None:
    placed: list[tuple[str, int, int, int, int]] = []
    for panel in DASHBOARDS[uid]["panels"]:
        grid = panel["gridPos"]
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        assert 0 < w <= GRID_WIDTH and h > 0 and x >= 0 and y >= 0, (panel["title"], grid)
        assert x + w <= GRID_WIDTH, (panel["title"], grid)
        for title, ox, oy, ow, oh in placed:
            overlap = x < ox + ow and ox < x + w and y < oy + oh and oy < y + h
            assert not overlap, f"{panel['title']!r} {grid} overlaps {title!r}"
        placed.append((panel["title"], x, y, w, h))


@pytest.mark.parametrize("uid", sorted(EXPECTED))
def test_every_panel_has_a_question_and_well_formed_targets(uid: str) -> None:
    for panel in panels(DASHBOARDS[uid]):
        if panel["type"] == "row":
            continue
        title = panel["title"]
        description = panel.get("description", "")
        assert title and description.endswith("?"), f"{title!r}: the description should be the question it answers"
        targets = panel.get("targets", [])
        assert targets, f"{title!r} has no query"
        ref_ids = [target.get("refId") for target in targets]
        assert all(ref_ids) and len(ref_ids) == len(set(ref_ids)), (title, ref_ids)
        for target in targets:
            assert isinstance(target.get("expr"), str) and target["expr"].strip(), (title, target)


@pytest.mark.parametrize("uid", sorted(EXPECTED))
def test_datasource_references_resolve_when_provisioned(uid: str) -> None:
    """grafana/grafana#10786: only a provisioned uid or a datasource variable resolves after provisioning."""
    dashboard = DASHBOARDS[uid]
    provisioned = {source["uid"] for source in yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]}
    datasource_variables = {name for name, var in _variables(dashboard).items() if var["type"] == "datasource"}
    allowed = provisioned | {f"${{{name}}}" for name in datasource_variables}
    references = [value for key, value in _contents(dashboard) if key == "datasource"]
    assert references
    for reference in references:
        assert isinstance(reference, dict), f"datasource by name ({reference!r}) breaks on renames; use a uid"
        assert reference.get("uid") in allowed, f"{reference} is neither a provisioned uid nor one of {allowed}"
    # Every panel and every target names its datasource: none falls back to the default silently.
    for panel, target in _targets(dashboard):
        assert panel.get("datasource") == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert target.get("datasource") == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


@pytest.mark.parametrize("uid", sorted(EXPECTED))
def test_variables(uid: str) -> None:
    dashboard = DASHBOARDS[uid]
    variables = _variables(dashboard)
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    assert datasource["current"]["value"] == "prometheus"
    expected = {
        "llmperf-overview": {"job", "provider", "model", "variant"},
        "llmperf-quality": {"job", "provider", "model", "variant"},
        "llmperf-slo": {"job", "slo"},
        "llmperf-ab": {"job", "provider", "model", "variant_a", "variant_b", "experiment"},
        "llmperf-drift": {"job", "model", "drift"},
    }[uid]
    assert set(variables) == {"datasource", *expected}
    for name in expected:
        variable = variables[name]
        assert variable["type"] == "query" and variable["datasource"]["uid"] == "${datasource}", name
        if name in ("variant_a", "variant_b"):
            assert not variable["multi"] and not variable["includeAll"]
            assert variable["current"]["value"] == name[-1]
        else:
            # Multi-value with All: the queries must use =~, and All must be a regex that matches anything.
            assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*", name
    assert {name for name, _ in variable_selectors(dashboard)} == expected
    # Every variable a query uses is defined, and multi-value ones are only matched with =~.
    defined = set(variables) | BUILTIN_VARIABLES
    multi = {name for name, var in variables.items() if var.get("multi")}
    texts = [target["expr"] for _, target in _targets(dashboard)] + [sel for _, sel in variable_selectors(dashboard)]
    texts += [panel.get("title", "") for panel in panels(dashboard)]
    for text in texts:
        assert variables_used(text) <= defined, (text, variables_used(text) - defined)
        for name in multi:
            for match in re.finditer(rf'(\w+)\s*(=~|!~|=|!=)\s*"[^"]*\${name}\b', text):
                assert match.group(2) == "=~", f"multi-value ${name} needs =~: {match.group(0)}"


@pytest.mark.parametrize("uid", sorted(EXPECTED))
def test_windows_are_grafana_intervals_and_latency_targets_carry_exemplars(uid: str) -> None:
    for panel, target in _targets(DASHBOARDS[uid]):
        windows = set(re.findall(r"\[([^\]]*)\]", target["expr"]))
        assert windows <= {"$__rate_interval", "$__range"}, (panel["title"], windows)
        if "histogram_quantile(" in target["expr"]:
            assert target.get("exemplar") is True, panel["title"]


def test_slo_dashboard_repeats_per_slo_and_alert_queries_never_go_empty() -> None:
    dashboard = DASHBOARDS["llmperf-slo"]
    assert [panel.get("repeat") for panel in dashboard["panels"] if panel["type"] == "row"] == [None, "slo"]
    alert_queries = [expr for uid, _, expr in dashboard_queries() if uid == "llmperf-slo" and ALERTS in expr]
    assert alert_queries
    for expr in alert_queries:
        assert expr.endswith(" or vector(0)"), "ALERTS is empty while nothing fires: " + expr
    burn = next(panel for panel in panels(dashboard) if panel["title"] == "Burn rate per window")
    steps = [step["value"] for step in burn["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert {1, 3, 6, 14.4} <= set(steps)


# --------------------------------------------------------------------------- the metric contract


def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, gen_ai_request_model) (rate(gen_ai_client_operation_duration_seconds_"
        'bucket{job=~"$job", le="1.28"}[$__rate_interval]))) / on() group_left sum(llmperf_feedback_total offset 5m)'
        ' or 1 - llmperf:slo_error_ratio:rate5m{slo=~"$slo"} or count(ALERTS{alertstate="firing"}) or vector(0)'
    )
    assert series_names(expr) == {
        "gen_ai_client_operation_duration_seconds_bucket",
        "llmperf_feedback_total",
        "llmperf:slo_error_ratio:rate5m",
        "ALERTS",
    }
    assert metric_names(expr) == {"gen_ai_client_operation_duration_seconds", "llmperf_feedback_total"}
    assert le_matchers(expr) == [("gen_ai_client_operation_duration_seconds_bucket", "=", "1.28")]
    assert substitute('rate(x{a=~"$model", v=~"$variant_a|${variant_b}"}[$__rate_interval])') == (
        'rate(x{a=~".*", v=~"a|b"}[1m])'
    )


def test_queries_use_only_contract_metrics_and_slo_rules() -> None:
    allowed = contract_series()
    queries = list(dashboard_queries())
    selectors = [
        (uid, f"variable ${name}", sel) for uid, d in DASHBOARDS.items() for name, sel in variable_selectors(d)
    ]
    for uid, title, expr in queries + selectors:
        names = series_names(expr)
        assert names, f"{uid} / {title}: no series in {expr}"
        for name in names:
            # Histograms are read through _bucket/_sum/_count only; a bare histogram name selects nothing.
            assert name in allowed or name in SLO_RULES or name == ALERTS, f"{uid} / {title}: unknown series {name}"
        assert metric_names(expr) <= {spec.prometheus for spec in CONTRACT}


def test_every_contract_metric_is_on_a_panel() -> None:
    shown = set().union(*(metric_names(expr) for _, _, expr in dashboard_queries()))
    missing = {spec.prometheus for spec in CONTRACT} - shown
    assert not missing, f"contract metrics on no panel: {sorted(missing)}"


def test_le_matchers_are_bucket_boundaries() -> None:
    boundaries = bucket_boundaries()
    for uid, title, expr in dashboard_queries():
        for name, operator, value in le_matchers(expr):
            assert operator == "=", f"{uid} / {title}: le{operator} cannot select one bucket"
            assert name in boundaries, f"{uid} / {title}: le on {name}, which is not a histogram bucket"
            # Prometheus 3 normalises le to float form ("1" -> "1.0"), so compare numbers, not text.
            assert float(value) in boundaries[name], f"{uid} / {title}: le={value!r} is no bucket of {name}"


def test_the_bucket_check_catches_a_missing_boundary() -> None:
    boundaries = bucket_boundaries()
    [(name, _, value)] = le_matchers('rate(gen_ai_client_operation_duration_seconds_bucket{le="1"}[5m])')
    assert float(value) not in boundaries[name]  # 1 s is no boundary: 0.64 and 1.28 are
    assert 1.28 in boundaries[name]


@pytest.mark.prometheus
def test_queries_parse_with_promtool(tmp_path: Path) -> None:
    from stack import binary

    queries = [expr for _, _, expr in dashboard_queries()]
    rules = [
        {"record": f"dashboard_check:query_{index}", "expr": substitute(expr)} for index, expr in enumerate(queries)
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(
        [binary("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


# --------------------------------------------------------------------------- provisioning


def test_provider_points_at_the_mounted_folder() -> None:
    config = yaml.safe_load(PROVIDER_FILE.read_text())
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == TAG
    assert provider["allowUiUpdates"] is False  # generated JSON: UI edits would be lost on the next build
    assert provider["options"] == {"path": DASHBOARD_MOUNT, "foldersFromFilesStructure": False}


def _volumes(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume.get("target", "")
        yield source, target


def test_compose_mounts_the_dashboards_where_the_provider_reads_them() -> None:
    composes = [ROOT / name for name in ("docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml")]
    compose = next((path for path in composes if path.is_file()), None)
    assert compose is not None, "the stack's compose file is missing"
    services = yaml.safe_load(compose.read_text())["services"]
    mounts = [(source, target) for service in services.values() for source, target in _volumes(service)]
    sources = [source for source, target in mounts if target.rstrip("/") == DASHBOARD_MOUNT]
    assert sources, f"{compose.name} mounts nothing at {DASHBOARD_MOUNT}"
    assert all(Path(source).as_posix().removeprefix("./").rstrip("/") == "grafana/dashboards" for source in sources)


def test_the_slo_dashboard_reads_exactly_what_the_rules_record() -> None:
    """Renaming a recording rule without the dashboard (or the reverse) fails here."""
    from otel_llmperf.slo_rules import RECORDED

    rules_file = ROOT / "grafana" / "prometheus" / "rules" / "llmperf-slo.rules.yml"
    recorded = {
        rule["record"]
        for group in yaml.safe_load(rules_file.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    assert recorded == set(RECORDED)
    used = {name for _uid, _title, expr in dashboard_queries() for name in series_names(expr) if ":" in name}
    used = {name for name in used if name.startswith("llmperf:slo_")}
    assert used <= recorded, f"dashboards read series no rule records: {sorted(used - recorded)}"


def test_the_drift_dashboard_reads_what_the_drift_rules_record_and_marks_identity_changes() -> None:
    from otel_llmperf.drift_rules import IDENTITY_NEW, RECORDED

    rules_file = ROOT / "grafana" / "prometheus" / "rules" / "llmperf-drift.rules.yml"
    recorded = {
        rule["record"]
        for group in yaml.safe_load(rules_file.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    assert recorded <= set(RECORDED) and IDENTITY_NEW in recorded
    dashboard = DASHBOARDS["llmperf-drift"]
    used = {name for _, target in _targets(dashboard) for name in series_names(target["expr"]) if ":" in name}
    used |= {name for _, selector in variable_selectors(dashboard) for name in series_names(selector) if ":" in name}
    assert used and used <= recorded, sorted(used - recorded)
    # Every week-over-week panel draws the signal and its baseline a week earlier.
    overlays = [panel for panel in panels(dashboard) if len(panel.get("targets", [])) == 2]
    assert len(overlays) >= 9
    for panel in overlays:
        now, baseline = (target["expr"] for target in panel["targets"])
        assert "offset" not in now and baseline == now.replace("[$__rate_interval]", "[$__rate_interval] offset 1w")
    # Identity changes are annotated here and on the overview and quality dashboards.
    for uid in ("llmperf-drift", "llmperf-overview", "llmperf-quality"):
        annotations = DASHBOARDS[uid]["annotations"]["list"]
        identity = next(a for a in annotations if a["name"] == "Model identity changed")
        assert IDENTITY_NEW in identity["expr"] and identity["datasource"]["uid"] == "${datasource}"


def test_overview_shows_spend_over_the_range_and_its_rate_by_model() -> None:
    cost = next(spec.prometheus for spec in CONTRACT if spec.name == "llmperf.usage.cost")
    spend = {
        panel["title"]: panel
        for panel in panels(DASHBOARDS["llmperf-overview"])
        if any(cost in target.get("expr", "") for target in panel.get("targets", []))
    }
    total = spend["Spend"]
    assert total["type"] == "stat"
    assert total["fieldConfig"]["defaults"]["unit"] == "currencyUSD"
    assert total["targets"][0]["expr"].startswith(f"sum(increase({cost}{{")
    assert total["targets"][0]["expr"].endswith("[$__range]))")
    rate = spend["Spend rate by model (USD per hour)"]
    assert rate["type"] == "timeseries"
    assert rate["targets"][0]["expr"].startswith(f"sum by (gen_ai_request_model) (rate({cost}{{")
    assert rate["targets"][0]["expr"].endswith("[$__rate_interval])) * 3600")
    assert "Spend by provider and model (time range)" in spend
    table = spend["Calls by provider and model"]
    headers = set(table["transformations"][-1]["options"]["renameByName"].values())
    assert {"Spend", "Cost per call"} <= headers
