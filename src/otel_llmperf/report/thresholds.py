# SPDX-License-Identifier: Apache-2.0
"""How large a significant change must be before ``report --baseline`` calls a signal shifted.

A week of traffic makes every difference significant, also the few per cent that a busier host or
another traffic mix moves client-side latency by. So a signal is **shifted** only when its change
survives Holm's adjustment *and* its relative size, ``|recent - baseline| / |baseline|``, reaches the
``min_change`` of the matching signal of the drift spec (``grafana/drift.yaml``, ``--drift``): the
report and the drift alerts judge with the same thresholds. A report row takes the smallest
``min_change`` among the spec's signals on its metric (``Duration p95`` prefers the spec's p95
signal; error rate and error-type mix, the mix rows and the plain ratios are told apart by
``split_by``); a row no signal covers, and every row without a spec, takes 25 %, the drift
spec's built-in default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import (
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    GEN_AI_CLIENT_TOKEN_USAGE,
)

from otel_llmperf.drift import BUILTIN_DEFAULTS, DriftSpec, Signal, load_spec
from otel_llmperf.instruments import (
    LLMPERF_CLIENT_FINISH_REASONS,
    LLMPERF_EVALUATION_OUTCOME,
    LLMPERF_EVALUATION_SCORE,
    LLMPERF_FEEDBACK,
    LLMPERF_FEEDBACK_SCORE,
)
from otel_llmperf.report.stats import SIGNIFICANT, Comparison
from otel_llmperf.stack_files import DRIFT_SPEC, spec_or_packaged

DEFAULT_MIN_CHANGE = float(BUILTIN_DEFAULTS["min_change"])
DEFAULT_DRIFT_FILE = Path("grafana/drift.yaml")

# Report row (by the start of its name) → the metric of the drift signals that judge it, and
# whether those signals split a mix (True), must not (False), or either (None).
_ROWS: tuple[tuple[str, str, bool | None], ...] = (
    ("Duration", GEN_AI_CLIENT_OPERATION_DURATION, None),
    ("Time to first chunk", GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, None),
    ("Output tokens per call", GEN_AI_CLIENT_TOKEN_USAGE, None),
    ("Error rate", GEN_AI_CLIENT_OPERATION_DURATION, False),
    ("Error type mix", GEN_AI_CLIENT_OPERATION_DURATION, True),
    ("Finish-reason mix", LLMPERF_CLIENT_FINISH_REASONS, True),
    ("Thumbs-up ratio", LLMPERF_FEEDBACK, False),
    ("Mean rating", LLMPERF_FEEDBACK_SCORE, None),
    ("Evaluation score", LLMPERF_EVALUATION_SCORE, None),
    ("Evaluation accuracy", LLMPERF_EVALUATION_OUTCOME, None),
)
_QUANTILE = re.compile(r" p(\d+(?:\.\d+)?)$")


def _candidates(metric: str, spec: DriftSpec) -> list[Signal]:
    for prefix, name, split in _ROWS:
        if metric.startswith(prefix):
            found = [s for s in spec.signals if s.metric.name == name]
            if split is not None:  # a ratio row: only ratio signals, told apart by split_by
                found = [s for s in found if s.kind == "ratio" and (s.split_by is not None) == split]
            if name == GEN_AI_CLIENT_OPERATION_DURATION and split is None:
                found = [s for s in found if s.kind != "ratio"]  # latency rows, not the error ratio
            quantile = _QUANTILE.search(metric)
            if quantile is not None:
                wanted = float(quantile[1]) / 100
                found = [s for s in found if s.quantile is not None and math.isclose(s.quantile, wanted)] or found
            return found
    return []


def drift_spec(path: str | Path | None) -> DriftSpec | None:
    """The drift spec at ``path``; without one, ``grafana/drift.yaml`` if present, else the installed stack's."""
    if path is None:
        # A pip user has no checkout: the spec shipped in the package holds the same thresholds.
        path = spec_or_packaged(DEFAULT_DRIFT_FILE, DRIFT_SPEC)
    return load_spec(path)  # a DriftSpecError (a ValueError) names the file, line and field


def min_changes(
    metrics: Iterable[str], spec: DriftSpec | None, default: float = DEFAULT_MIN_CHANGE
) -> dict[str, float]:
    """The relative change each report row must reach to be called shifted, from ``spec`` (None: ``default``)."""
    if spec is None:
        return {metric: default for metric in metrics}
    return {
        metric: min((s.tuning.min_change for s in _candidates(metric, spec)), default=default) for metric in metrics
    }


def relative_change(row: Comparison) -> float | None:
    """``|b - a| / |a|``: infinite when a is 0 and b is not; None when either value is unknown."""
    if row.a is None or row.b is None or not (math.isfinite(row.a) and math.isfinite(row.b)):
        return None
    if row.a == 0:
        return 0.0 if row.b == 0 else math.inf
    return abs(row.b - row.a) / abs(row.a)


def is_shifted(row: Comparison, min_change: float = 0.0) -> bool:
    """Significant after Holm, and (when both values are known) at least ``min_change`` in relative size."""
    if row.verdict not in SIGNIFICANT:
        return False
    change = relative_change(row)
    return change is None or change >= min_change
