# SPDX-License-Identifier: Apache-2.0
"""Read the Grafana dashboards of ``grafana/dashboards`` and take their PromQL apart.

Shared by the static dashboard checks (``test_dashboards.py``) and any test that runs the panel
queries against a real Prometheus: ``dashboard_queries()`` yields every panel query,
``substitute()`` fills in Grafana's variables, ``metric_names()`` says which contract metrics a
query reads. The PromQL handling is a tokenizer, not a parser: enough for the queries these
dashboards contain (``promtool`` checks their syntax).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from otel_llmperf import drift_rules, slo_rules
from otel_llmperf.instruments import CONTRACT

JSON = dict[str, Any]

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
GENERATOR = ROOT / "tools" / "build_dashboards.py"
DATASOURCES_FILE = GRAFANA / "provisioning" / "datasources" / "datasources.yaml"
PROVIDER_FILE = GRAFANA / "provisioning" / "dashboards" / "llmperf.yaml"

# Recording rules of the SLO and drift rule files: not contract metrics, but series dashboards read.
SLO_RULES = slo_rules.RECORDED | drift_rules.RECORDED
ALERTS = "ALERTS"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# What a live test puts in place of Grafana's variables; any other variable becomes DEFAULT_VALUE.
SUBSTITUTIONS: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__range": "5m",
    "__interval": "15s",
    "variant_a": "a",
    "variant_b": "b",
    "datasource": "prometheus",
}
DEFAULT_VALUE = ".*"

_VARIABLE = re.compile(r"\$\{(\w+)(?::[\w-]+)?\}|\$(\w+)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# Numbers and durations (0.95, 1e-9, 5m); the look-behind keeps the 5m of rate5m inside its name.
_NUMBER = re.compile(r"(?<![\w:.])(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[a-z]*")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][\w:]*")
_SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)\s*\{([^{}]*)\}")
_LE = re.compile(r'\ble\s*(=~|!=|!~|=)\s*"([^"]*)"')
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", re.DOTALL)
# Words that are not series names: operators, modifiers, aggregations (functions are followed by "(").
_OPERATORS = ("by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless")
_AGGREGATIONS = ("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk")
_KEYWORDS = frozenset((*_OPERATORS, *_AGGREGATIONS, "quantile", "limitk", "limit_ratio", "atan2", "inf", "nan"))


def load_dashboards(directory: Path = DASHBOARD_DIR) -> dict[str, JSON]:
    """Every dashboard of ``directory`` by uid, in file-name order."""
    dashboards: dict[str, JSON] = {}
    for path in sorted(directory.glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        dashboards[dashboard["uid"]] = dashboard
    return dashboards


def panels(dashboard: JSON) -> Iterator[JSON]:
    """Every panel, rows included, and the panels nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(directory: Path = DASHBOARD_DIR) -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) of every panel target."""
    for uid, dashboard in load_dashboards(directory).items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                yield uid, panel.get("title", ""), target.get("expr", "")


def variable_selectors(dashboard: JSON) -> Iterator[tuple[str, str]]:
    """(variable name, series selector) of every ``label_values(selector, label)`` query variable."""
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query)
        match = _LABEL_VALUES.match(text)
        if match:
            yield variable["name"], match.group(1)


def variables_used(expr: str) -> set[str]:
    """Names of the Grafana variables ``expr`` refers to (``$x``, ``${x}``, ``${x:regex}``)."""
    return {match.group(1) or match.group(2) for match in _VARIABLE.finditer(expr)}


def substitute(expr: str, values: Mapping[str, str] = SUBSTITUTIONS, default: str = DEFAULT_VALUE) -> str:
    """``expr`` with Grafana's variables replaced as a test against a real Prometheus needs them."""
    return _VARIABLE.sub(lambda match: values.get(match.group(1) or match.group(2), default), expr)


def series_names(expr: str) -> set[str]:
    """Every series name ``expr`` selects, as written (``_bucket`` suffixes, rules and ``ALERTS`` included)."""
    text = _STRING.sub('""', expr)
    text = _VARIABLE.sub("", text)
    text = _BRACES.sub("{}", text)
    text = _BRACKETS.sub("[]", text)
    text = _GROUPING.sub(r"\1", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        if word.lower() in _KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue  # an operator, aggregation or function
        names.add(word)
    return names


def metric_names(expr: str) -> set[str]:
    """Contract-level metric names ``expr`` reads: histogram suffixes stripped, SLO rules and ALERTS left out."""
    names = set()
    for name in series_names(expr):
        if name in SLO_RULES or name == ALERTS or name.startswith(("llmperf:slo_", "llmperf:drift_")):
            continue
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        names.add(name)
    return names


def le_matchers(expr: str) -> list[tuple[str, str, str]]:
    """(series name, operator, value) of every ``le`` matcher in ``expr``."""
    return [
        (name, match.group(1), match.group(2))
        for name, matchers in _SELECTOR.findall(expr)
        for match in _LE.finditer(matchers)
    ]


def contract_series() -> dict[str, str]:
    """Every series name the contract allows in a query → the contract metric it belongs to."""
    allowed = {}
    for spec in CONTRACT:
        if spec.kind == "histogram":
            allowed |= {spec.prometheus + suffix: spec.prometheus for suffix in HISTOGRAM_SUFFIXES}
        else:
            allowed[spec.prometheus] = spec.prometheus
    return allowed


def bucket_boundaries() -> dict[str, tuple[float, ...]]:
    """``_bucket`` series name → its bucket boundaries (``+Inf`` included)."""
    return {
        f"{spec.prometheus}_bucket": (*map(float, spec.buckets), float("inf"))
        for spec in CONTRACT
        if spec.kind == "histogram"
    }
