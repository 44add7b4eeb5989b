# SPDX-License-Identifier: Apache-2.0
"""``report --baseline`` flags a signal only when its change is significant and as large as the drift spec asks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from otel_llmperf.drift import DriftSpecError, load_spec, parse_spec
from otel_llmperf.report.periods import BaselineResult, Period
from otel_llmperf.report.stats import Comparison
from otel_llmperf.report.thresholds import DEFAULT_MIN_CHANGE, drift_spec, min_changes, relative_change

SHIPPED = Path(__file__).resolve().parents[1] / "grafana" / "drift.yaml"
ROWS = (
    "Error rate", "Error type mix", "Duration distribution", "Duration p50", "Duration p95",
    "Time to first chunk distribution", "Time to first chunk p95", "Output tokens per call distribution",
    "Output tokens per call p50", "Finish-reason mix", "Thumbs-up ratio", "Mean rating",
    "Evaluation score: groundedness", "Evaluation accuracy: intent_classifier",
)  # fmt: skip


def _row(metric: str, a: float | None, b: float | None, verdict: str = "b higher") -> Comparison:
    difference = None if a is None or b is None else b - a
    return Comparison(metric, "s", a, b, 500, 500, difference, None, 0.001, 0.004, "test", verdict, None)


def test_each_report_row_takes_the_min_change_of_its_drift_signal() -> None:
    spec = load_spec(SHIPPED)
    by_name = {signal.name: signal.tuning.min_change for signal in spec.signals}
    changes = min_changes(ROWS, spec)
    assert changes["Duration p95"] == by_name["duration-p95"]
    assert changes["Duration p50"] == by_name["duration-p50"]
    assert changes["Time to first chunk p95"] == by_name["ttfc-p95"]
    assert changes["Output tokens per call p50"] == by_name["output-tokens"]
    assert changes["Error rate"] == by_name["error-ratio"]  # not the error-type mix, which splits
    assert changes["Error type mix"] == by_name["error-type-mix"]
    assert changes["Finish-reason mix"] == by_name["finish-reason-mix"]
    assert changes["Thumbs-up ratio"] == by_name["thumbs-up"]
    assert changes["Mean rating"] == by_name["mean-rating"]
    # The error rate is judged by the error-ratio signal only, not by the latency quantiles on the same metric.
    error_only = parse_spec(
        {
            "version": 1,
            "signals": [
                {"name": "p95", "kind": "quantile", "quantile": 0.95, "direction": "up", "min_change": 0.5,
                 "metric": "gen_ai.client.operation.duration"},
                {"name": "errors", "kind": "ratio", "numerator": ['error_type!=""'], "direction": "up",
                 "min_change": 2.0, "metric": "gen_ai.client.operation.duration"},
            ],
        }
    )  # fmt: skip
    assert min_changes(["Error rate", "Duration p95"], error_only) == {"Error rate": 2.0, "Duration p95": 0.5}
    # Rows without a signal of their own, and every row without a spec, take the built-in default.
    assert set(min_changes(ROWS, None).values()) == {DEFAULT_MIN_CHANGE}
    empty = parse_spec({"version": 1, "identity": {}, "signals": []})
    assert set(min_changes(ROWS, empty).values()) == {DEFAULT_MIN_CHANGE}


def test_a_significant_but_small_change_is_not_flagged() -> None:
    rows = [
        _row("Duration p95", 2.54, 3.80),  # +50 %: what a busier host does to client-side latency
        _row("Time to first chunk p95", 0.5, 1.5),  # x3
        _row("Thumbs-up ratio", 0.80, 0.70, "b lower"),  # -12.5 %
        _row("Mean rating", 4.0, 4.1, "no significant difference"),
    ]
    result = BaselineResult(Period(0, 10), Period(20, 30), "--baseline 20s", rows, None)
    assert [row.metric for row in result.shifted] == ["Duration p95", "Time to first chunk p95", "Thumbs-up ratio"]
    result.min_change = min_changes([row.metric for row in rows], load_spec(SHIPPED))
    # duration-p95 asks for +50 % or more (1.496 is not), thumbs-up for 10 %.
    assert [row.metric for row in result.shifted] == ["Time to first chunk p95", "Thumbs-up ratio"]
    assert relative_change(_row("x", 0.0, 0.1)) == math.inf and relative_change(_row("x", None, 1.0)) is None
    # A significant row whose values are unknown keeps its verdict.
    assert result.flags(_row("Duration p95", None, None))


def test_a_drift_spec_with_a_typo_is_an_error_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "drift.yaml"
    bad.write_text(SHIPPED.read_text(encoding="utf-8").replace("min_change: 0.25", "min_chnage: 0.25", 1))
    with pytest.raises(DriftSpecError, match=r"drift.yaml:\d+: defaults.min_chnage"):
        drift_spec(bad)
