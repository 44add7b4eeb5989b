#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generate the otel-llmperf Grafana dashboards (``src/otel_llmperf/stack/grafana/dashboards/*.json``).

A development tool, not part of the shipped stack. Run ``python tools/build_dashboards.py`` (with
the development venv's python: metric names come from ``otel_llmperf.instruments.CONTRACT``, never
typed here) after changing a panel, and commit the JSON. ``--check`` exits 1 when a committed file
differs from what would be written; ``--out DIR`` writes elsewhere. The JSON files are never edited by hand.

Conventions every panel follows, checked by ``tests/test_dashboards.py``:

* datasources are ``${datasource}``, a datasource variable (provisioning does not fill
  ``__inputs``, so a ``${DS_…}`` placeholder without a variable breaks: grafana/grafana#10786);
* variables are matched with ``=~`` (multi-value and "All" = ``.*``, which also matches series
  without the label, such as calls made outside an A/B variant);
* timeseries use ``rate(…[$__rate_interval])``, stats and tables ``increase(…[$__range])``;
* ratios whose numerator may not exist yet (no errors, no "up" thumbs) are written
  ``(num or den * 0) / den``, so "none happened" reads 0 instead of "no data".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import (
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
    GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    GEN_AI_CLIENT_TOKEN_USAGE,
)

from otel_llmperf import drift_rules, slo_rules
from otel_llmperf.instruments import (
    CONTRACT,
    LLMPERF_CLIENT_FINISH_REASONS,
    LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN,
    LLMPERF_EVALUATION_OUTCOME,
    LLMPERF_EVALUATION_SCORE,
    LLMPERF_EXPERIMENT_EXPOSURES,
    LLMPERF_EXPERIMENT_WEIGHT,
    LLMPERF_FEEDBACK,
    LLMPERF_FEEDBACK_SCORE,
    LLMPERF_MODEL_IDENTITY,
    LLMPERF_USAGE_COST,
)

JSON = dict[str, Any]

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "otel_llmperf" / "stack" / "grafana" / "dashboards"
TAG = "otel-llmperf"
DATASOURCE: JSON = {"type": "prometheus", "uid": "${datasource}"}
RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"

# --------------------------------------------------------------------------- metric names

_PROMETHEUS = {spec.name: spec.prometheus for spec in CONTRACT}


@dataclass(frozen=True)
class Histogram:
    """The three series of a classic Prometheus histogram."""

    name: str

    @property
    def bucket(self) -> str:
        """The ``_bucket`` series."""
        return f"{self.name}_bucket"

    @property
    def sum(self) -> str:
        """The ``_sum`` series."""
        return f"{self.name}_sum"

    @property
    def count(self) -> str:
        """The ``_count`` series."""
        return f"{self.name}_count"


DURATION = Histogram(_PROMETHEUS[GEN_AI_CLIENT_OPERATION_DURATION])
TOKENS = Histogram(_PROMETHEUS[GEN_AI_CLIENT_TOKEN_USAGE])
TTFC = Histogram(_PROMETHEUS[GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK])
TPOC = Histogram(_PROMETHEUS[GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK])
TPOT = Histogram(_PROMETHEUS[LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN])
FEEDBACK_SCORE = Histogram(_PROMETHEUS[LLMPERF_FEEDBACK_SCORE])
EVALUATION_SCORE = Histogram(_PROMETHEUS[LLMPERF_EVALUATION_SCORE])
FEEDBACK = _PROMETHEUS[LLMPERF_FEEDBACK]  # counters already end in _total
OUTCOMES = _PROMETHEUS[LLMPERF_EVALUATION_OUTCOME]
COST = _PROMETHEUS[LLMPERF_USAGE_COST]
EXPOSURES = _PROMETHEUS[LLMPERF_EXPERIMENT_EXPOSURES]
WEIGHT = _PROMETHEUS[LLMPERF_EXPERIMENT_WEIGHT]
SRM_ALERT = "LLMPerfExperimentSampleRatioMismatch"  # grafana/prometheus/rules/llmperf-experiments.rules.yml
IDENTITY = _PROMETHEUS[LLMPERF_MODEL_IDENTITY]
FINISH_REASONS = _PROMETHEUS[LLMPERF_CLIENT_FINISH_REASONS]

# Recording rules and alerts of the SLO rule files, named by the renderer that writes them.
SLO_WINDOWS = slo_rules.WINDOWS
SLO_ERROR_RATIO = slo_rules.ERROR_RATIO.replace("{}", "{window}")
SLO_BURN_RATE = slo_rules.BURN_RATE.replace("{}", "{window}")
SLO_ERROR_RATIO_PERIOD = slo_rules.ERROR_RATIO_PERIOD
SLO_BUDGET_REMAINING = slo_rules.BUDGET_REMAINING
SLO_OBJECTIVE = slo_rules.OBJECTIVE
SLO_THRESHOLD = slo_rules.THRESHOLD
SLO_ALERT_FILTERS = ('alertname=~"LLMPerfSLO.*"', 'alertstate="firing"')  # LLMPerfSLOFastBurn, LLMPerfSLOSlowBurn

# --------------------------------------------------------------------------- PromQL helpers

# Every call, feedback and evaluation series carries these; =~ because the variables are multi-value.
CALL_FILTERS = (
    'job=~"$job"',
    'gen_ai_provider_name=~"$provider"',
    'gen_ai_request_model=~"$model"',
    'llmperf_variant=~"$variant"',
)
AB_FILTERS = (
    'job=~"$job"',
    'gen_ai_provider_name=~"$provider"',
    'gen_ai_request_model=~"$model"',
    'llmperf_variant=~"$variant_a|$variant_b"',
)
SLO_FILTERS = ('slo=~"$slo"', 'job=~"$job"')
FAILED = 'error_type!=""'
BINARY = 'llmperf_evaluation_class=""'  # outcomes of binary evaluations carry no class
PER_CLASS = 'llmperf_evaluation_class!=""'


def series(metric: str, filters: Sequence[str], *extra: str) -> str:
    """``metric{filters, extra}``."""
    return f"{metric}{{{', '.join((*filters, *extra))}}}"


@dataclass(frozen=True)
class Window:
    """How a query turns a counter into a number: a rate over time, or a total over the range."""

    function: str
    range: str

    def __call__(self, selector: str) -> str:
        return f"{self.function}({selector}[{self.range}])"


OVER_TIME = Window("rate", RATE_INTERVAL)  # timeseries: per second, smoothed by Grafana's interval
WHOLE_RANGE = Window("increase", RANGE)  # stats and tables: totals over the dashboard's range
RANGE_RATE = Window("rate", RANGE)  # stats of per-second throughput over the range


def total(by: Sequence[str], expr: str) -> str:
    """``sum by (by) (expr)``, or ``sum(expr)`` without grouping."""
    return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"


def ratio(numerator: str, denominator: str) -> str:
    """``numerator / denominator``, where a numerator with no series yet counts as 0, not as no data."""
    return f"({numerator} or {denominator} * 0) / {denominator}"


def quantile(q: float, histogram: Histogram, filters: Sequence[str], by: Sequence[str], window: Window) -> str:
    """The q-quantile of a classic histogram, per ``by``."""
    return f"histogram_quantile({q}, {total(('le', *by), window(series(histogram.bucket, filters)))})"


def mean(histogram: Histogram, filters: Sequence[str], by: Sequence[str], window: Window) -> str:
    """Mean recorded value of a histogram, per ``by``."""
    return (
        f"{total(by, window(series(histogram.sum, filters)))} / {total(by, window(series(histogram.count, filters)))}"
    )


def error_ratio(filters: Sequence[str], by: Sequence[str], window: Window) -> str:
    """Share of calls that ended with an ``error.type``."""
    return ratio(
        total(by, window(series(DURATION.count, filters, FAILED))),
        total(by, window(series(DURATION.count, filters))),
    )


def thumbs_up_ratio(filters: Sequence[str], by: Sequence[str], window: Window) -> str:
    """Share of thumbs feedback that was "up"."""
    thumbs = ('llmperf_feedback_kind="thumbs"',)
    return ratio(
        total(by, window(series(FEEDBACK, filters, *thumbs, 'llmperf_feedback_label="up"'))),
        total(by, window(series(FEEDBACK, filters, *thumbs))),
    )


def mean_rating(filters: Sequence[str], by: Sequence[str], window: Window) -> str:
    """Mean of ``rating`` feedback, on the scale the application declared."""
    return mean(FEEDBACK_SCORE, (*filters, 'llmperf_feedback_kind="rating"'), by, window)


def nps(filters: Sequence[str], by: Sequence[str], window: Window) -> str:
    """Net promoter score, -100 … 100: promoters minus detractors, over all NPS answers."""
    answers = total(by, window(series(FEEDBACK, filters, 'llmperf_feedback_kind="nps"')))
    promoters = total(
        by, window(series(FEEDBACK, filters, 'llmperf_feedback_kind="nps"', 'llmperf_feedback_label="promoter"'))
    )
    detractors = total(
        by, window(series(FEEDBACK, filters, 'llmperf_feedback_kind="nps"', 'llmperf_feedback_label="detractor"'))
    )
    return f"100 * (({promoters} or {answers} * 0) - ({detractors} or {answers} * 0)) / {answers}"


def outcomes(filters: Sequence[str], by: Sequence[str], window: Window, which: str, *extra: str) -> str:
    """Summed evaluation outcomes matching the regex ``which`` (tp, fp, fn, tn)."""
    return total(by, window(series(OUTCOMES, filters, *extra, f'llmperf_evaluation_outcome=~"{which}"')))


def precision(filters: Sequence[str], by: Sequence[str], window: Window, *extra: str) -> str:
    """tp / (tp + fp)."""
    return ratio(outcomes(filters, by, window, "tp", *extra), outcomes(filters, by, window, "tp|fp", *extra))


def recall(filters: Sequence[str], by: Sequence[str], window: Window, *extra: str) -> str:
    """tp / (tp + fn)."""
    return ratio(outcomes(filters, by, window, "tp", *extra), outcomes(filters, by, window, "tp|fn", *extra))


def f1(filters: Sequence[str], by: Sequence[str], window: Window, *extra: str) -> str:
    """2 tp / (2 tp + fp + fn), written as 2 tp / (tp + (tp + fp + fn)) so fp or fn may be missing."""
    any_ = outcomes(filters, by, window, "tp|fp|fn", *extra)
    tp = f"({outcomes(filters, by, window, 'tp', *extra)} or {any_} * 0)"
    return f"2 * {tp} / ({tp} + {any_})"


def accuracy(filters: Sequence[str], by: Sequence[str], window: Window) -> str:
    """Binary evaluations: (tp + tn) / all; per-class ones: Σ tp / Σ (tp + fn), one expected class per sample."""
    binary = ratio(outcomes(filters, by, window, "tp|tn", BINARY), outcomes(filters, by, window, "tp|fp|fn|tn", BINARY))
    # The two sides hold different evaluations (an evaluation is binary or per class), so `or` unions them.
    return f"({binary}) or ({recall(filters, by, window, PER_CLASS)})"


# --------------------------------------------------------------------------- panels


@dataclass(frozen=True)
class Query:
    """One PromQL target and its legend."""

    expr: str
    legend: str = "__auto"


def _targets(queries: Sequence[Query], *, instant: bool, fmt: str) -> list[JSON]:
    return [
        {
            "refId": chr(ord("A") + index),
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": query.expr,
            "legendFormat": query.legend,
            "instant": instant,
            "range": not instant,
            "format": fmt,
            # Exemplars link a latency to the trace that produced it (Tempo, via the datasource).
            "exemplar": "histogram_quantile(" in query.expr,
        }
        for index, query in enumerate(queries)
    ]


def thresholds(*steps: tuple[float | None, str]) -> JSON:
    """Absolute thresholds; the first step's value is ``None`` (the base colour)."""
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


NEUTRAL = thresholds((None, "green"))
BURN_RATE_STEPS = thresholds((None, "green"), (1, "yellow"), (3, "orange"), (6, "red"), (14.4, "dark-red"))
ERROR_RATIO_STEPS = thresholds((None, "green"), (0.01, "orange"), (0.05, "red"))
SATISFACTION_STEPS = thresholds((None, "red"), (0.6, "orange"), (0.8, "green"))
RATING_STEPS = thresholds((None, "red"), (3, "orange"), (4, "green"))
NPS_STEPS = thresholds((None, "red"), (0, "orange"), (30, "green"))
ACCURACY_STEPS = thresholds((None, "red"), (0.8, "orange"), (0.9, "green"))
BUDGET_STEPS = thresholds((None, "red"), (0, "orange"), (0.25, "green"))
SRM_STEPS = thresholds((None, "green"), (1, "red"))


def _panel(
    kind: str,
    title: str,
    description: str,
    targets: list[JSON],
    *,
    unit: str,
    steps: JSON,
    options: JSON,
    custom: JSON | None = None,
    limits: tuple[float | None, float | None] = (None, None),
    decimals: int | None = None,
    overrides: list[JSON] | None = None,
    transformations: list[JSON] | None = None,
) -> JSON:
    defaults: JSON = {"unit": unit, "thresholds": steps, "color": {"mode": "palette-classic"}}
    if kind in ("stat", "bargauge"):
        defaults["color"] = {"mode": "thresholds"}
    if custom is not None:
        defaults["custom"] = custom
    if limits[0] is not None:
        defaults["min"] = limits[0]
    if limits[1] is not None:
        defaults["max"] = limits[1]
    if decimals is not None:
        defaults["decimals"] = decimals
    panel: JSON = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options,
        "targets": targets,
    }
    if transformations:
        panel["transformations"] = transformations
    return panel


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    limits: tuple[float | None, float | None] = (0, None),
    steps: JSON = NEUTRAL,
    show_thresholds: bool = False,
    legend_calcs: Sequence[str] = ("mean", "lastNotNull"),
    overrides: list[JSON] | None = None,
) -> JSON:
    """A line chart of range queries."""
    custom: JSON = {
        "drawStyle": "line",
        "lineInterpolation": "linear",
        "lineWidth": 1,
        "fillOpacity": 8,
        "showPoints": "never",
        "spanNulls": False,
        "axisPlacement": "auto",
        "thresholdsStyle": {"mode": "dashed" if show_thresholds else "off"},
    }
    options: JSON = {
        "legend": {"showLegend": True, "displayMode": "table", "placement": "bottom", "calcs": list(legend_calcs)},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return _panel(
        "timeseries",
        title,
        description,
        _targets(queries, instant=False, fmt="time_series"),
        unit=unit,
        steps=steps,
        options=options,
        custom=custom,
        limits=limits,
        overrides=overrides,
    )


def stat(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    steps: JSON = NEUTRAL,
    decimals: int | None = None,
    color_mode: str = "value",
) -> JSON:
    """Big numbers from instant queries (one per series)."""
    options: JSON = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": color_mode,
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",  # names only when there are several series
        "wideLayout": True,
        "showPercentChange": False,
    }
    return _panel(
        "stat",
        title,
        description,
        _targets(queries, instant=True, fmt="time_series"),
        unit=unit,
        steps=steps,
        options=options,
        decimals=decimals,
    )


def bargauge(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    steps: JSON = NEUTRAL,
    limits: tuple[float | None, float | None] = (0, None),
) -> JSON:
    """Horizontal bars from instant queries, one per series."""
    options: JSON = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "orientation": "horizontal",
        "valueMode": "color",
        "namePlacement": "auto",
        "showUnfilled": True,
        "sizing": "auto",
        "minVizHeight": 16,
        "minVizWidth": 8,
        "maxVizHeight": 300,
    }
    return _panel(
        "bargauge",
        title,
        description,
        _targets(queries, instant=True, fmt="time_series"),
        unit=unit,
        steps=steps,
        options=options,
        limits=limits,
    )


def heatmap(title: str, description: str, query: Query, *, unit: str) -> JSON:
    """A heatmap of pre-bucketed histogram counts (Prometheus ``le`` buckets, not calculated by Grafana)."""
    options: JSON = {
        "calculate": False,
        "cellGap": 1,
        # Square-root colour scale: the few slow calls stay visible next to the many fast ones.
        "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark", "scale": "exponential", "exponent": 0.5},
        "yAxis": {"axisPlacement": "left", "unit": unit, "reverse": False},
        "rowsFrame": {"layout": "auto"},
        "filterValues": {"le": 1e-9},
        "cellValues": {"unit": "short"},
        "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
        "legend": {"show": True},
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
    }
    custom: JSON = {
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "scaleDistribution": {"type": "linear"},
    }
    return _panel(
        "heatmap",
        title,
        description,
        _targets([query], instant=False, fmt="heatmap"),
        unit="short",
        steps=NEUTRAL,
        options=options,
        custom=custom,
    )


@dataclass(frozen=True)
class Column:
    """One value column of a table: its header, query and unit."""

    header: str
    expr: str
    unit: str = "short"
    decimals: int | None = None


def table(title: str, description: str, columns: Sequence[Column]) -> JSON:
    """A table joining instant queries on their labels, one value column per query."""
    targets = _targets([Query(column.expr, "") for column in columns], instant=True, fmt="table")
    rename = {f"Value #{target['refId']}": column.header for target, column in zip(targets, columns, strict=True)}
    overrides: list[JSON] = []
    for column in columns:
        properties: list[JSON] = [{"id": "unit", "value": column.unit}]
        if column.decimals is not None:
            properties.append({"id": "decimals", "value": column.decimals})
        overrides.append({"matcher": {"id": "byName", "options": column.header}, "properties": properties})
    options: JSON = {
        "showHeader": True,
        "cellHeight": "sm",
        "footer": {"show": False, "reducer": ["sum"], "fields": "", "countRows": False},
        "sortBy": [{"displayName": columns[0].header, "desc": True}],
    }
    return _panel(
        "table",
        title,
        description,
        targets,
        unit="short",
        steps=NEUTRAL,
        options=options,
        custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
        overrides=overrides,
        # One row per label set: the instant queries share their grouping labels.
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": rename}},
        ],
    )


# --------------------------------------------------------------------------- layout


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping lines, and numbers them."""

    WIDTH = 24

    def __init__(self) -> None:
        self.panels: list[JSON] = []
        self._x = 0
        self._y = 0
        self._line_height = 0
        self._next_id = 1
        self._size = (self.WIDTH, 8)

    def _allocate_id(self) -> int:
        panel_id = self._next_id
        self._next_id += 1
        return panel_id

    def _new_line(self) -> None:
        self._y += self._line_height
        self._x = 0
        self._line_height = 0

    def row(self, title: str, repeat: str | None = None) -> None:
        """Start a (not collapsed) row; with ``repeat``, Grafana repeats it for each value of that variable."""
        self._new_line()
        panel: JSON = {
            "type": "row",
            "id": self._allocate_id(),
            "title": title,
            "collapsed": False,
            "gridPos": {"h": 1, "w": self.WIDTH, "x": 0, "y": self._y},
            "panels": [],
        }
        if repeat:
            panel["repeat"] = repeat
        self.panels.append(panel)
        self._y += 1

    def size(self, w: int, h: int) -> None:
        """Size (w columns by h rows) of the panels added from now on."""
        self._size = (w, h)

    def add(self, panel: JSON) -> None:
        """Place ``panel`` after the previous one, on a new line if it does not fit."""
        w, h = self._size
        if self._x + w > self.WIDTH:
            self._new_line()
        self.panels.append(
            {"id": self._allocate_id(), "gridPos": {"h": h, "w": w, "x": self._x, "y": self._y}, **panel}
        )
        self._x += w
        self._line_height = max(self._line_height, h)


# --------------------------------------------------------------------------- variables


def datasource_variable() -> JSON:
    """The Prometheus datasource picker every panel refers to as ``${datasource}``."""
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
    }


def query_variable(name: str, label: str, metric: str, label_name: str, *, default: str | None = None) -> JSON:
    """A ``label_values(metric, label_name)`` variable: multi-value with All (``.*``), or single with a default."""
    query = f"label_values({metric}, {label_name})"
    variable: JSON = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": query,
        "refresh": 2,  # on time range change: new models and variants show up without a reload
        "regex": "",
        "sort": 1,
        "hide": 0,
        "options": [],
        "skipUrlSync": False,
    }
    if default is None:
        variable |= {
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        }
    else:
        variable |= {
            "multi": False,
            "includeAll": False,
            "current": {"selected": True, "text": default, "value": default},
        }
    return variable


def call_variables(*, variant: bool = True) -> list[JSON]:
    """Service, provider, model (and variant), each narrowed by the ones before it."""
    calls = DURATION.count
    variables = [
        query_variable("job", "Service", calls, "job"),
        query_variable("provider", "Provider", series(calls, ('job=~"$job"',)), "gen_ai_provider_name"),
        query_variable(
            "model",
            "Model",
            series(calls, ('job=~"$job"', 'gen_ai_provider_name=~"$provider"')),
            "gen_ai_request_model",
        ),
    ]
    if variant:
        variables.append(query_variable("variant", "Variant", series(calls, ('job=~"$job"',)), "llmperf_variant"))
    return variables


# --------------------------------------------------------------------------- dashboards


def dashboard(
    uid: str,
    title: str,
    description: str,
    variables: list[JSON],
    layout: Layout,
    annotations: Sequence[JSON] = (),
) -> JSON:
    """The dashboard envelope shared by all of them."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "editable": True,
        "graphTooltip": 1,  # shared crosshair: compare latency, errors and tokens at the same instant
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "weekStart": "",
        "version": 1,
        "annotations": {"list": list(annotations)},
        # One button per otel-llmperf dashboard, carrying the time range and the shared variables.
        "links": [
            {
                "title": "otel-llmperf",
                "type": "dashboards",
                "tags": [TAG],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": layout.panels,
    }


MODEL = ("gen_ai_request_model",)
VARIANT = ("llmperf_variant",)
HEATMAP = Window("increase", RATE_INTERVAL)  # counts per time slot, as the heatmap panel expects


def percentiles(histogram: Histogram, filters: Sequence[str], qs: Sequence[float]) -> list[Query]:
    """One query per quantile, per model, over time."""
    return [
        Query(quantile(q, histogram, filters, MODEL, OVER_TIME), f"p{round(q * 100)} {{{{gen_ai_request_model}}}}")
        for q in qs
    ]


def overview() -> JSON:
    """LLM overview: traffic, errors, latency, tokens, spend."""
    f = CALL_FILTERS
    calls = series(DURATION.count, f)
    layout = Layout()

    layout.row("At a glance (whole time range)")
    layout.size(4, 4)
    layout.add(stat("Calls", "How many LLM calls were made in the time range?", [Query(total((), WHOLE_RANGE(calls)))]))
    layout.add(
        stat(
            "Error ratio",
            "What share of LLM calls failed (cancelled and abandoned streams included) in the time range?",
            [Query(error_ratio(f, (), WHOLE_RANGE))],
            unit="percentunit",
            steps=ERROR_RATIO_STEPS,
            decimals=2,
        )
    )
    layout.add(
        stat(
            "p95 duration",
            "How long did the slowest 5% of LLM calls take in the time range?",
            [Query(quantile(0.95, DURATION, f, (), WHOLE_RANGE))],
            unit="s",
        )
    )
    layout.add(
        stat(
            "p95 time to first chunk",
            "How long did stream users wait for the first output, at the 95th percentile?",
            [Query(quantile(0.95, TTFC, f, (), WHOLE_RANGE))],
            unit="s",
        )
    )
    layout.add(
        stat(
            "p95 time per output token",
            "How fast did streams produce tokens after the first one, at the 95th percentile?",
            [Query(quantile(0.95, TPOT, f, (), WHOLE_RANGE))],
            unit="s",
        )
    )
    layout.add(
        stat(
            "Output tokens/s",
            "How many output tokens per second did the providers return over the time range?",
            [Query(total((), RANGE_RATE(series(TOKENS.sum, f, 'gen_ai_token_type="output"'))))],
            decimals=1,
        )
    )

    layout.row("Traffic and errors")
    layout.size(8, 8)
    by_operation = ("gen_ai_request_model", "gen_ai_operation_name")
    layout.add(
        timeseries(
            "Call rate by model and operation",
            "How many LLM calls per second does each model serve, per operation?",
            [Query(total(by_operation, OVER_TIME(calls)), "{{gen_ai_request_model}} {{gen_ai_operation_name}}")],
            unit="reqps",
        )
    )
    # With no failure at all the by-type sum is empty; a labelled 0 says "no errors" instead of "no data".
    failures = total(("error_type",), OVER_TIME(series(DURATION.count, f, FAILED)))
    no_failures = 'label_replace(vector(0), "error_type", "none", "", "")'
    layout.add(
        timeseries(
            "Errors by type",
            "Which errors (rate limits, server errors, cancelled or abandoned streams) are calls failing with?",
            [Query(f"{failures} or on() {no_failures}", "{{error_type}}")],
            unit="reqps",
        )
    )
    layout.add(
        timeseries(
            "Error ratio by model",
            "What share of each model's calls is failing right now?",
            [Query(error_ratio(f, MODEL, OVER_TIME), "{{gen_ai_request_model}}")],
            unit="percentunit",
            limits=(0, 1),
        )
    )

    layout.row("Latency")
    layout.size(12, 9)
    layout.add(
        timeseries(
            "Call duration p50 / p95 / p99 by model",
            "How long do LLM calls of each model take, for typical, slow and slowest calls?",
            percentiles(DURATION, f, (0.5, 0.95, 0.99)),
            unit="s",
        )
    )
    layout.add(
        heatmap(
            "Call duration distribution",
            "How are call durations spread over time, and are there separate populations of fast and slow calls?",
            Query(total(("le",), HEATMAP(series(DURATION.bucket, f))), "{{le}}"),
            unit="s",
        )
    )
    layout.size(8, 8)
    layout.add(
        timeseries(
            "Time to first chunk p50 / p95 by model",
            "How long does a streaming user wait before the first output appears, per model?",
            percentiles(TTFC, f, (0.5, 0.95)),
            unit="s",
        )
    )
    layout.add(
        timeseries(
            "Time per output token p50 / p95 by model",
            "How fast does each model generate tokens once the stream has started?",
            percentiles(TPOT, f, (0.5, 0.95)),
            unit="s",
        )
    )
    layout.add(
        timeseries(
            "Time per output chunk p95 by model",
            "How long are the gaps between consecutive chunks of a stream (the stalls users see), per model?",
            percentiles(TPOC, f, (0.95,)),
            unit="s",
        )
    )

    layout.row("Tokens")
    layout.size(12, 8)
    by_type = ("gen_ai_token_type", "gen_ai_request_model")
    type_legend = "{{gen_ai_token_type}} {{gen_ai_request_model}}"
    layout.add(
        timeseries(
            "Token throughput by type and model",
            "How many input and output tokens per second does each model consume and produce?",
            [Query(total(by_type, OVER_TIME(series(TOKENS.sum, f))), type_legend)],
        )
    )
    layout.add(
        timeseries(
            "Mean tokens per call by type and model",
            "How large are prompts and answers per call, per model?",
            [Query(mean(TOKENS, f, by_type, OVER_TIME), type_legend)],
        )
    )

    layout.row("Spend (list prices of the price table)")
    spend = series(COST, f)
    by_model = ("gen_ai_provider_name", "gen_ai_request_model")
    layout.size(4, 8)
    layout.add(
        stat(
            "Spend",
            "How much did the LLM calls cost in the time range, at the price table's list prices?",
            [Query(total((), WHOLE_RANGE(spend)))],
            unit="currencyUSD",
            decimals=2,
        )
    )
    layout.size(12, 8)
    layout.add(
        timeseries(
            "Spend rate by model (USD per hour)",
            "How fast is each priced model spending money right now (models without a price do not appear)?",
            [Query(f"{total(MODEL, OVER_TIME(spend))} * 3600", "{{gen_ai_request_model}}")],
            unit="currencyUSD",
        )
    )
    layout.size(8, 8)
    layout.add(
        bargauge(
            "Spend by provider and model (time range)",
            "Where did the money go in the time range?",
            [
                Query(
                    total(by_model, WHOLE_RANGE(spend)),
                    "{{gen_ai_provider_name}} {{gen_ai_request_model}}",
                )
            ],
            unit="currencyUSD",
        )
    )

    layout.row("Breakdown (whole time range)")
    layout.size(16, 8)
    layout.add(
        table(
            "Calls by provider and model",
            "Which providers and models carry the traffic, and how do their errors and latency compare?",
            [
                Column("Calls", total(by_model, WHOLE_RANGE(calls)), decimals=0),
                Column("Error ratio", error_ratio(f, by_model, WHOLE_RANGE), "percentunit", 2),
                Column("p50 duration", quantile(0.5, DURATION, f, by_model, WHOLE_RANGE), "s"),
                Column("p95 duration", quantile(0.95, DURATION, f, by_model, WHOLE_RANGE), "s"),
                Column("Spend", total(by_model, WHOLE_RANGE(spend)), "currencyUSD", 2),
                Column(
                    "Cost per call",
                    f"{total(by_model, WHOLE_RANGE(spend))} / {total(by_model, WHOLE_RANGE(calls))}",
                    "currencyUSD",
                    5,
                ),
            ],
        )
    )
    layout.size(8, 8)
    layout.add(
        bargauge(
            "Calls by operation",
            "How is the traffic split between chat, embeddings and text completion?",
            [Query(total(("gen_ai_operation_name",), WHOLE_RANGE(calls)), "{{gen_ai_operation_name}}")],
        )
    )

    return dashboard(
        "llmperf-overview",
        "LLM overview",
        "Traffic, errors, latency, tokens and spend of the LLM calls otel-llmperf instruments.",
        call_variables(),
        layout,
        [identity_annotation()],
    )


def slo_alerts(severity: str) -> Query:
    """Number of firing SLO alerts of one severity (page: fast burn, ticket: slow burn)."""
    # ALERTS has no series while nothing fires; `or vector(0)` turns that into a 0.
    firing = series("ALERTS", (*SLO_ALERT_FILTERS, f'severity="{severity}"', *SLO_FILTERS))
    return Query(f"count({firing}) or vector(0)", severity)


def slo() -> JSON:
    """LLM latency SLOs: SLI, objective, error budget, burn rates and alerts of the recording rules."""
    layout = Layout()
    legend = "{{slo}} {{job}}"
    alert_steps = thresholds((None, "green"), (1, "red"))

    def rule(name: str) -> str:
        # The constants (objective, threshold) carry only slo: a job filter would hide them.
        return series(name, SLO_FILTERS[:1] if name in slo_rules.CONSTANTS else SLO_FILTERS)

    def sli(window: str) -> str:
        return f"1 - {rule(SLO_ERROR_RATIO.format(window=window))}"

    def per_job(name: str) -> str:
        # An SLO may cover several services: the legend tells their series apart.
        return f"{name} {{{{job}}}}"

    burn_rates = [Query(rule(SLO_BURN_RATE.format(window=window)), per_job(window)) for window in SLO_WINDOWS]

    layout.row("All selected SLOs")
    layout.size(12, 6)
    layout.add(
        bargauge(
            "Error budget remaining by SLO",
            "Which SLOs have used up the most of their error budget over the SLO period?",
            [Query(rule(SLO_BUDGET_REMAINING), legend)],
            unit="percentunit",
            steps=BUDGET_STEPS,
            limits=(None, 1),
        )
    )
    layout.size(6, 6)
    layout.add(
        bargauge(
            "Burn rate over 1h by SLO",
            "Which SLOs are burning their error budget faster than sustainable (1 = exactly on budget)?",
            [Query(rule(SLO_BURN_RATE.format(window="1h")), legend)],
            steps=BURN_RATE_STEPS,
        )
    )
    layout.add(
        stat(
            "SLO alerts firing",
            "Is any fast-burn (page) or slow-burn (ticket) SLO alert firing now?",
            [slo_alerts("page"), slo_alerts("ticket")],
            steps=alert_steps,
            decimals=0,
            color_mode="background",
        )
    )

    # Repeated per selected SLO: inside the row, $slo is that one SLO.
    layout.row("SLO $slo", repeat="slo")
    layout.size(8, 5)
    layout.add(
        stat(
            "SLI",
            "What share of events met the latency threshold over the last 5 minutes, hour, day and SLO period?",
            [Query(sli(window), per_job(window)) for window in ("5m", "1h", "1d")]
            + [Query(f"1 - {rule(SLO_ERROR_RATIO_PERIOD)}", per_job("period"))],
            unit="percentunit",
            decimals=3,
            color_mode="none",
        )
    )
    layout.size(4, 5)
    layout.add(
        stat(
            "Objective",
            "What share of events must meet the latency threshold?",
            [Query(rule(SLO_OBJECTIVE), legend)],
            unit="percentunit",
            decimals=3,
            color_mode="none",
        )
    )
    layout.add(
        stat(
            "Latency threshold",
            "How fast must an event be to count as good?",
            [Query(rule(SLO_THRESHOLD), legend)],
            unit="s",
            color_mode="none",
        )
    )
    layout.add(
        stat(
            "Error budget remaining",
            "How much of the error budget of the SLO period is left?",
            [Query(rule(SLO_BUDGET_REMAINING), legend)],
            unit="percentunit",
            steps=BUDGET_STEPS,
            decimals=1,
        )
    )
    layout.add(
        stat(
            "Alerts firing",
            "Is a fast-burn (page) or slow-burn (ticket) alert of this SLO firing now?",
            [slo_alerts("page"), slo_alerts("ticket")],
            steps=alert_steps,
            decimals=0,
            color_mode="background",
        )
    )
    layout.size(12, 8)
    layout.add(
        timeseries(
            "Burn rate per window",
            "How fast is the error budget burning in each alert window (over 14.4 or 6: page; over 3 or 1: ticket)?",
            burn_rates,
            steps=BURN_RATE_STEPS,
            show_thresholds=True,
            legend_calcs=("lastNotNull", "max"),
        )
    )
    layout.add(
        bargauge(
            "Current burn rate per window",
            "Which alert windows are burning the error budget faster than sustainable right now?",
            burn_rates,
            steps=BURN_RATE_STEPS,
        )
    )
    objective_dashed: JSON = {
        "matcher": {"id": "byFrameRefID", "options": "C"},
        "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
    }
    layout.add(
        timeseries(
            "SLI against objective",
            "Has the share of good events stayed above the objective over time?",
            [
                Query(sli("5m"), per_job("SLI 5m")),
                Query(sli("1h"), per_job("SLI 1h")),
                Query(rule(SLO_OBJECTIVE), per_job("objective")),
            ],
            unit="percentunit",
            limits=(None, 1),
            overrides=[objective_dashed],
        )
    )
    layout.add(
        timeseries(
            "Error budget remaining over time",
            "How quickly has the error budget of the SLO period been spent?",
            [Query(rule(SLO_BUDGET_REMAINING), legend)],
            unit="percentunit",
            limits=(None, 1),
            steps=BUDGET_STEPS,
            show_thresholds=True,
        )
    )

    error_ratio_5m = SLO_ERROR_RATIO.format(window="5m")
    variables = [
        query_variable("job", "Service", error_ratio_5m, "job"),
        query_variable("slo", "SLO", series(error_ratio_5m, ('job=~"$job"',)), "slo"),
    ]
    return dashboard(
        "llmperf-slo",
        "LLM latency SLOs",
        "Latency SLOs of LLM calls: SLI, error budget and multi-window burn rates from the otel-llmperf rules.",
        variables,
        layout,
    )


def quality() -> JSON:
    """LLM satisfaction and quality: user feedback and evaluations."""
    f = CALL_FILTERS
    layout = Layout()

    layout.row("User feedback (whole time range)")
    layout.size(6, 4)
    layout.add(
        stat(
            "Feedback received",
            "How much feedback did users leave in the time range?",
            [Query(total((), WHOLE_RANGE(series(FEEDBACK, f))))],
            decimals=0,
        )
    )
    layout.add(
        stat(
            "Thumbs-up ratio",
            "What share of thumbs feedback was positive?",
            [Query(thumbs_up_ratio(f, (), WHOLE_RANGE))],
            unit="percentunit",
            steps=SATISFACTION_STEPS,
            decimals=1,
        )
    )
    layout.add(
        stat(
            "Mean rating",
            "What rating do users give on average (on the scale the application declared, 1 to 5 by default)?",
            [Query(mean_rating(f, (), WHOLE_RANGE))],
            steps=RATING_STEPS,
            decimals=2,
        )
    )
    layout.add(
        stat(
            "NPS",
            "Would users recommend the product (net promoter score, -100 to 100)?",
            [Query(nps(f, (), WHOLE_RANGE))],
            steps=NPS_STEPS,
            decimals=0,
        )
    )

    layout.row("User feedback by model")
    layout.size(12, 8)
    layout.add(
        timeseries(
            "Feedback volume by kind",
            "How much feedback of each kind (thumbs, rating, NPS, label) arrives per second?",
            [Query(total(("llmperf_feedback_kind",), OVER_TIME(series(FEEDBACK, f))), "{{llmperf_feedback_kind}}")],
        )
    )
    layout.add(
        timeseries(
            "Thumbs-up ratio by model",
            "Is each model's share of positive thumbs going up or down?",
            [Query(thumbs_up_ratio(f, MODEL, OVER_TIME), "{{gen_ai_request_model}}")],
            unit="percentunit",
            limits=(0, 1),
        )
    )
    layout.size(8, 8)
    layout.add(
        timeseries(
            "Mean rating by model",
            "How does the average rating of each model evolve?",
            [Query(mean_rating(f, MODEL, OVER_TIME), "{{gen_ai_request_model}}")],
        )
    )
    layout.add(
        bargauge(
            "NPS by model",
            "Which models would users recommend (net promoter score over the time range)?",
            [Query(nps(f, MODEL, WHOLE_RANGE), "{{gen_ai_request_model}}")],
            steps=NPS_STEPS,
            limits=(-100, 100),
        )
    )
    labels = series(FEEDBACK, f, 'llmperf_feedback_kind="label"')
    layout.add(
        bargauge(
            "Feedback labels",
            "Which declared labels (for example too_long or wrong) do users pick, over the time range?",
            [Query(total(("llmperf_feedback_label",), WHOLE_RANGE(labels)), "{{llmperf_feedback_label}}")],
        )
    )

    layout.row("Evaluations")
    by_eval = ("gen_ai_evaluation_name", "gen_ai_request_model")
    eval_legend = "{{gen_ai_evaluation_name}} {{gen_ai_request_model}}"
    judged = (
        f"{outcomes(f, by_eval, WHOLE_RANGE, 'tp|fp|fn|tn', BINARY)}"
        f" or {outcomes(f, by_eval, WHOLE_RANGE, 'tp|fn', PER_CLASS)}"
    )
    layout.size(24, 8)
    layout.add(
        table(
            "Precision, recall, F1 and accuracy by evaluation and model",
            "How often is each model right, per evaluation, over the time range "
            "(accuracy for every evaluation; precision, recall and F1 for binary ones)?",
            [
                Column("Accuracy", accuracy(f, by_eval, WHOLE_RANGE), "percentunit", 1),
                Column("Precision", precision(f, by_eval, WHOLE_RANGE, BINARY), "percentunit", 1),
                Column("Recall", recall(f, by_eval, WHOLE_RANGE, BINARY), "percentunit", 1),
                Column("F1", f1(f, by_eval, WHOLE_RANGE, BINARY), "percentunit", 1),
                Column("Samples", judged, decimals=0),
            ],
        )
    )
    layout.size(12, 8)
    layout.add(
        timeseries(
            "Mean evaluation score by evaluation and model",
            "Are the evaluation scores (0 to 1) of each model improving or degrading?",
            [Query(mean(EVALUATION_SCORE, f, by_eval, OVER_TIME), eval_legend)],
            unit="percentunit",
            limits=(0, 1),
        )
    )
    layout.add(
        timeseries(
            "Accuracy by evaluation and model",
            "Is each model's share of correct judgements going up or down?",
            [Query(accuracy(f, by_eval, OVER_TIME), eval_legend)],
            unit="percentunit",
            limits=(0, 1),
        )
    )
    layout.add(
        timeseries(
            "F1 of binary evaluations by model",
            "How well does each model balance precision and recall on binary evaluations over time?",
            [Query(f1(f, by_eval, OVER_TIME, BINARY), eval_legend)],
            unit="percentunit",
            limits=(0, 1),
        )
    )
    by_class = ("gen_ai_evaluation_name", "llmperf_evaluation_class", "gen_ai_request_model")
    layout.add(
        table(
            "Per-class recall and precision",
            "For evaluations with classes, which classes does each model recognise and which does it miss?",
            [
                Column("Recall", recall(f, by_class, WHOLE_RANGE, PER_CLASS), "percentunit", 1),
                Column("Precision", precision(f, by_class, WHOLE_RANGE, PER_CLASS), "percentunit", 1),
                Column("Samples", outcomes(f, by_class, WHOLE_RANGE, "tp|fn", PER_CLASS), decimals=0),
            ],
        )
    )

    return dashboard(
        "llmperf-quality",
        "LLM satisfaction and quality",
        "User feedback (thumbs, ratings, NPS, labels) and evaluation results per model, provider and variant.",
        call_variables(),
        layout,
        [identity_annotation()],
    )


@dataclass(frozen=True)
class Comparison:
    """One measure of the A/B dashboard: a stat over the range and a timeseries, both per variant."""

    title: str
    question: str
    expr: Callable[[Window], str]
    unit: str = "short"
    steps: JSON | None = None  # None: neutral
    decimals: int | None = None
    legend: str = "{{llmperf_variant}}"


EXPERIMENT_FILTERS = ('job=~"$job"', 'llmperf_experiment=~"$experiment"')
PER_ARM = ("llmperf_experiment", "llmperf_variant")


def experiments(layout: Layout) -> None:
    """The sample-ratio row: exposures per variant, observed against declared share, and the SRM alert."""
    f = EXPERIMENT_FILTERS
    exposures = total(PER_ARM, WHOLE_RANGE(series(EXPOSURES, f)))
    declared = f"max by ({', '.join(PER_ARM)}) ({series(WEIGHT, f)})"
    legend = "{{llmperf_experiment}} {{llmperf_variant}}"
    layout.row("Experiments: sample ratio (whole time range)")
    layout.size(6, 6)
    layout.add(
        stat(
            "Sample-ratio mismatch",
            "Is an experiment's split of exposures off its declared weights (a sample-ratio mismatch: p < 0.001 "
            "over the last hour, alert LLMPerfExperimentSampleRatioMismatch), so its A/B comparison is suspect?",
            [Query(f'count(ALERTS{{alertname="{SRM_ALERT}", alertstate="firing", {", ".join(f)}}}) or vector(0)')],
            steps=SRM_STEPS,
            decimals=0,
            color_mode="background",
        )
    )
    layout.add(
        bargauge(
            "Exposures per variant",
            "How many times was each variant entered (every assign() counts; no dedupe per user)?",
            [Query(exposures, legend)],
        )
    )
    layout.add(
        bargauge(
            "Observed share of exposures",
            "What share of each experiment's exposures did each variant get?",
            [
                Query(
                    f"{exposures} / on (llmperf_experiment) group_left {total(('llmperf_experiment',), exposures)}",
                    legend,
                )
            ],
            unit="percentunit",
            limits=(0, 1),
        )
    )
    layout.add(
        bargauge(
            "Expected share (declared weight)",
            "What share did the experiment declare for each variant (weight over the sum of weights)?",
            [
                Query(
                    f"{declared} / on (llmperf_experiment) group_left {total(('llmperf_experiment',), declared)}",
                    legend,
                )
            ],
            unit="percentunit",
            limits=(0, 1),
        )
    )
    layout.size(24, 7)
    layout.add(
        timeseries(
            "Exposure rate",
            "Is the split steady over time, or did one variant stop being entered at some point?",
            [Query(total(PER_ARM, OVER_TIME(series(EXPOSURES, f))), legend)],
            unit="ops",
        )
    )


def ab() -> JSON:
    """LLM A/B comparison: two variants side by side."""
    f = AB_FILTERS
    by_eval = ("llmperf_variant", "gen_ai_evaluation_name")
    output = (*f, 'gen_ai_token_type="output"')
    comparisons = [
        Comparison(
            "Calls",
            "How much traffic does each variant get?",
            lambda window: total(VARIANT, window(series(DURATION.count, f))),
            decimals=0,
        ),
        Comparison(
            "Error ratio",
            "Does one variant fail more often than the other?",
            lambda window: error_ratio(f, VARIANT, window),
            "percentunit",
            ERROR_RATIO_STEPS,
            2,
        ),
        Comparison(
            "p95 duration",
            "Is one variant slower than the other for the slowest 5% of calls?",
            lambda window: quantile(0.95, DURATION, f, VARIANT, window),
            "s",
        ),
        Comparison(
            "p95 time to first chunk",
            "Does one variant make stream users wait longer for the first output?",
            lambda window: quantile(0.95, TTFC, f, VARIANT, window),
            "s",
        ),
        Comparison(
            "Thumbs-up ratio",
            "Do users give one variant more positive thumbs?",
            lambda window: thumbs_up_ratio(f, VARIANT, window),
            "percentunit",
            SATISFACTION_STEPS,
            1,
        ),
        Comparison(
            "Mean rating",
            "Do users rate one variant higher?",
            lambda window: mean_rating(f, VARIANT, window),
            steps=RATING_STEPS,
            decimals=2,
        ),
        Comparison(
            "Evaluation accuracy",
            "Is one variant judged correct more often, per evaluation?",
            lambda window: accuracy(f, by_eval, window),
            "percentunit",
            ACCURACY_STEPS,
            1,
            "{{llmperf_variant}} {{gen_ai_evaluation_name}}",
        ),
        Comparison(
            "Mean output tokens per call",
            "Does one variant give longer answers?",
            lambda window: mean(TOKENS, output, VARIANT, window),
            decimals=1,
        ),
    ]
    layout = Layout()
    layout.row("$variant_a vs $variant_b (whole time range)")
    layout.size(6, 5)
    for c in comparisons:
        whole = [Query(c.expr(WHOLE_RANGE), c.legend)]
        layout.add(stat(c.title, c.question, whole, unit=c.unit, steps=c.steps or NEUTRAL, decimals=c.decimals))
    layout.row("$variant_a vs $variant_b over time")
    layout.size(12, 8)
    for c in comparisons:
        # Over time, a count of calls becomes a rate.
        title, unit = ("Call rate", "reqps") if c.title == "Calls" else (c.title, c.unit)
        limits = (0, 1) if unit == "percentunit" else (0, None)
        layout.add(timeseries(title, c.question, [Query(c.expr(OVER_TIME), c.legend)], unit=unit, limits=limits))

    experiments(layout)

    variants = series(DURATION.count, ('job=~"$job"',))
    variables = [
        *call_variables(variant=False),
        query_variable("variant_a", "Variant A", variants, "llmperf_variant", default="a"),
        query_variable("variant_b", "Variant B", variants, "llmperf_variant", default="b"),
        query_variable("experiment", "Experiment", series(EXPOSURES, ('job=~"$job"',)), "llmperf_experiment"),
    ]
    return dashboard(
        "llmperf-ab",
        "LLM A/B comparison",
        "Two A/B variants (llmperf.variant) side by side: traffic, errors, latency, satisfaction and accuracy;"
        " experiments' exposures against their declared weights (sample-ratio mismatch).",
        variables,
        layout,
    )


# --------------------------------------------------------------------------- model drift

# The spec's default baseline: the same window a week earlier (grafana/drift.yaml, defaults).
BASELINE = "1w"
IDENTITY_LABELS = ("job", *drift_rules.IDENTITY_LABELS)
DRIFT_FILTERS = ('job=~"$job"', 'gen_ai_request_model=~"$model"')


def identity_annotation() -> JSON:
    """Marks when a request model started being served by a new response model or fingerprint (drift rules)."""
    new = series(drift_rules.IDENTITY_NEW, ('job=~"$job"',))
    return {
        "name": "Model identity changed",
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": "orange",
        "expr": total(IDENTITY_LABELS, new),
        "step": "1m",
        "titleFormat": "{{gen_ai_request_model}} now served by {{gen_ai_response_model}}",
        "textFormat": "fingerprint {{openai_response_system_fingerprint}} ({{gen_ai_provider_name}}, {{job}})",
        "tagKeys": "gen_ai_provider_name,gen_ai_request_model",
        "useValueForTime": False,
    }


def drift_alert_annotation() -> JSON:
    """Marks when a behaviour-drift alert fired."""
    firing = series("ALERTS", ('alertname="LLMPerfDrift"', 'alertstate="firing"', 'job=~"$job"'))
    return {
        "name": "Behaviour drift",
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "expr": f"count by (drift, job) ({firing})",
        "step": "1m",
        "titleFormat": "drift: {{drift}}",
        "textFormat": "LLMPerfDrift fired ({{job}})",
        "tagKeys": "drift",
        "useValueForTime": False,
    }


def with_baseline(title: str, description: str, expr: str, legend: str, *, unit: str = "short") -> JSON:
    """A signal now and the same signal a week earlier (dashed), per model."""
    baseline = expr.replace(f"[{RATE_INTERVAL}]", f"[{RATE_INTERVAL}] offset {BASELINE}")
    dashed = {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}
    overrides = [{"matcher": {"id": "byRegexp", "options": f".*{BASELINE} ago.*"}, "properties": [dashed]}]
    return timeseries(
        title,
        description,
        [Query(expr, legend), Query(baseline, f"{legend} ({BASELINE} ago)")],
        unit=unit,
        overrides=overrides,
    )


def drift_variables() -> list[JSON]:
    """Service, model, and the drift signal (from the drift rules' series)."""
    calls = DURATION.count
    return [
        query_variable("job", "Service", calls, "job"),
        query_variable("model", "Model", series(calls, ('job=~"$job"',)), "gen_ai_request_model"),
        query_variable("drift", "Drift signal", drift_rules.CHANGE, "drift"),
    ]


def model_drift() -> JSON:
    """LLM model drift: model identity, and each behaviour signal against its baseline a week earlier."""
    f = DRIFT_FILTERS
    layout = Layout()
    legend = "{{gen_ai_request_model}}"
    chat = (*f, 'gen_ai_operation_name="chat"')
    rule_filters = ('drift=~"$drift"', 'job=~"$job"')

    layout.row("Model identity: what answers behind each model name")
    layout.size(12, 8)
    identity_series = series(IDENTITY, f)
    layout.add(
        table(
            "Model identities in the time range",
            "Which response models and system fingerprints answered each requested model, and how often?",
            [Column("Calls", total(IDENTITY_LABELS, WHOLE_RANGE(identity_series)), decimals=0)],
        )
    )
    layout.add(
        timeseries(
            "Calls by model identity",
            "When did a requested model start being answered by another snapshot or fingerprint?",
            [
                Query(
                    total(IDENTITY_LABELS[1:], OVER_TIME(identity_series)),
                    "{{gen_ai_request_model}} → {{gen_ai_response_model}} {{openai_response_system_fingerprint}}",
                )
            ],
            unit="reqps",
        )
    )

    layout.row("Drift alerts and changes against the baseline")
    layout.size(6, 6)
    alerts = series(
        "ALERTS", ('alertname=~"LLMPerfDrift|LLMPerfModelIdentityChanged"', 'alertstate="firing"', 'job=~"$job"')
    )
    layout.add(
        stat(
            "Drift alerts firing",
            "Is any model identity or behaviour drift alert firing now?",
            [Query(f"count({alerts}) or vector(0)", "firing")],
            steps=thresholds((None, "green"), (1, "red")),
            decimals=0,
        )
    )
    layout.size(18, 6)
    layout.add(
        timeseries(
            "Change against the baseline (recent ÷ baseline)",
            "How far has each drift signal moved from its baseline window (1 = no change)?",
            [Query(series(drift_rules.CHANGE, rule_filters), "{{drift}} {{job}} {{gen_ai_request_model}}")],
            limits=(None, None),
        )
    )

    layout.row("Latency against a week earlier")
    layout.size(12, 8)
    layout.add(
        with_baseline(
            "p95 duration of chat calls",
            "Are chat calls slower than at the same time a week earlier?",
            quantile(0.95, DURATION, (*chat, 'error_type=""'), MODEL, OVER_TIME),
            legend,
            unit="s",
        )
    )
    layout.add(
        with_baseline(
            "p95 time to first chunk",
            "Does the first chunk of a streamed answer come later than a week earlier?",
            quantile(0.95, TTFC, chat, MODEL, OVER_TIME),
            legend,
            unit="s",
        )
    )

    layout.row("Answers against a week earlier")
    layout.add(
        with_baseline(
            "Output tokens per chat call",
            "Are answers longer or shorter than a week earlier?",
            mean(TOKENS, (*chat, 'gen_ai_token_type="output"'), MODEL, OVER_TIME),
            legend,
        )
    )
    layout.add(
        with_baseline(
            "Error ratio",
            "Do more calls fail than a week earlier?",
            error_ratio(f, MODEL, OVER_TIME),
            legend,
            unit="percentunit",
        )
    )
    finish = series(FINISH_REASONS, f)
    layout.add(
        timeseries(
            "Finish reasons (share of choices)",
            "How do answers end: stop, length (truncated), content filter, tool calls?",
            [
                Query(
                    f"{total(('gen_ai_request_model', 'gen_ai_response_finish_reasons'), OVER_TIME(finish))}"
                    f" / on (gen_ai_request_model) group_left () {total(MODEL, OVER_TIME(finish))}",
                    "{{gen_ai_request_model}} {{gen_ai_response_finish_reasons}}",
                )
            ],
            unit="percentunit",
        )
    )
    layout.add(
        with_baseline(
            "Length truncations",
            "Are more answers cut by the token limit than a week earlier?",
            ratio(
                total(
                    MODEL,
                    OVER_TIME(
                        series(FINISH_REASONS, f, 'gen_ai_response_finish_reasons=~"length|max_tokens|MAX_TOKENS"')
                    ),
                ),
                total(MODEL, OVER_TIME(finish)),
            ),
            legend,
            unit="percentunit",
        )
    )
    layout.add(
        timeseries(
            "Errors by error.type",
            "Which kinds of failure make up the errors?",
            [Query(total(("error_type",), OVER_TIME(series(DURATION.count, f, FAILED))), "{{error_type}}")],
            unit="reqps",
        )
    )

    layout.row("Satisfaction and quality against a week earlier")
    layout.add(
        with_baseline(
            "Thumbs-up ratio",
            "Do users like the answers less than a week earlier?",
            thumbs_up_ratio(f, MODEL, OVER_TIME),
            legend,
            unit="percentunit",
        )
    )
    layout.add(
        with_baseline(
            "Mean rating", "Do users rate answers lower than a week earlier?", mean_rating(f, MODEL, OVER_TIME), legend
        )
    )
    layout.add(
        with_baseline(
            "Mean evaluation score",
            "Do the judges score answers lower than a week earlier?",
            mean(EVALUATION_SCORE, f, MODEL, OVER_TIME),
            legend,
        )
    )
    layout.add(
        with_baseline(
            "Evaluation accuracy",
            "Are the answers less accurate than a week earlier?",
            accuracy(f, MODEL, OVER_TIME),
            legend,
            unit="percentunit",
        )
    )
    return dashboard(
        "llmperf-drift",
        "LLM model drift",
        "Has the model behind a name changed, or slowly got worse? Model identity, and every drift signal "
        "against the same time a week earlier, with the drift rules' changes and alerts.",
        drift_variables(),
        layout,
        [identity_annotation(), drift_alert_annotation()],
    )


DASHBOARDS: dict[str, Callable[[], JSON]] = {
    "llmperf-overview.json": overview,
    "llmperf-slo.json": slo,
    "llmperf-quality.json": quality,
    "llmperf-ab.json": ab,
    "llmperf-drift.json": model_drift,
}


def render_all() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards, or with ``--check`` report the ones that differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory of the JSON files (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs from what would be written")
    args = parser.parse_args(argv)
    rendered = render_all()
    if args.check:
        stale = [name for name, text in rendered.items() if _read(args.out / name) != text]
        if stale:
            print(
                f"out of date in {args.out}: {', '.join(stale)}; run: python tools/build_dashboards.py",
                file=sys.stderr,
            )
            return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (args.out / name).write_text(text, encoding="utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
