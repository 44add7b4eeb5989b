# SPDX-License-Identifier: Apache-2.0
"""Prometheus rules for a drift spec: recent against baseline per signal, new model identities, and alerts.

Per signal, one rule group ``llmperf-drift-<name>`` whose series carry ``drift="<name>"`` plus the
signal's ``group_by`` labels (and its ``split_by`` label; the drift dashboard depends on these names):

* ``llmperf:drift_count:recent`` / ``…:baseline``: calls (the ratio's denominator events) in each window;
* ``llmperf:drift_events:recent`` / ``…:baseline`` (ratio only): numerator events in each window;
* ``llmperf:drift_value:recent`` / ``…:baseline``: the quantile, mean or ratio in each window;
* ``llmperf:drift_change:ratio``: recent ÷ baseline (1 = no change);
* ``llmperf:drift_pooled:ratio`` and ``llmperf:drift_z:score`` (ratio): the two-proportion z test;
* ``llmperf:drift_variance:recent`` / ``…:baseline`` and ``llmperf:drift_z:score`` (mean): Welch's z
  test of the two means, each window's variance read from its histogram buckets (each value at its
  bucket's midpoint, the +Inf bucket at the last bound: heavy tails are underestimated, never invented);
* alert ``LLMPerfDrift`` (labels ``drift``, ``severity``), whose value is the change ratio.

The identity group ``llmperf-drift-model-identity`` records ``llmperf:model_identity_new:calls``:
identities (provider, request model, response model, system fingerprint, plus ``group_by``) seen in
the recent window but not in the baseline window just before it, for request models already in
use when the baseline began, valued by the calls they served; and alerts ``LLMPerfModelIdentityChanged``.
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Any

from otel_llmperf.drift import DriftSpec, Identity, Signal, load_spec
from otel_llmperf.instruments import CONTRACT, LLMPERF_MODEL_IDENTITY
from otel_llmperf.slo import display_path, duration_seconds
from otel_llmperf.slo_rules import dump, le_matcher, number, quote

DASHBOARD = "/d/llmperf-drift/llmperf-drift?var-drift={name}"
IDENTITY_DASHBOARD = "/d/llmperf-drift/llmperf-drift"

COUNT = "llmperf:drift_count:{}"
EVENTS = "llmperf:drift_events:{}"
VALUE = "llmperf:drift_value:{}"
VARIANCE = "llmperf:drift_variance:{}"
CHANGE = "llmperf:drift_change:ratio"
POOLED = "llmperf:drift_pooled:ratio"
Z_SCORE = "llmperf:drift_z:score"
IDENTITY_NEW = "llmperf:model_identity_new:calls"
WINDOWS = ("recent", "baseline")
RECORDED = frozenset(
    [COUNT.format(w) for w in WINDOWS]
    + [EVENTS.format(w) for w in WINDOWS]
    + [VALUE.format(w) for w in WINDOWS]
    + [VARIANCE.format(w) for w in WINDOWS]
    + [CHANGE, POOLED, Z_SCORE, IDENTITY_NEW]
)
DRIFT_ALERT = "LLMPerfDrift"
IDENTITY_ALERT = "LLMPerfModelIdentityChanged"
IDENTITY_SERIES = next(spec.prometheus for spec in CONTRACT if spec.name == LLMPERF_MODEL_IDENTITY)
IDENTITY_LABELS = (
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "openai_response_system_fingerprint",
)


def _by(labels: tuple[str, ...] | list[str]) -> str:
    return f"by ({', '.join(labels)}) " if labels else ""


def _on(labels: tuple[str, ...] | list[str]) -> str:
    return f"on ({', '.join(labels)})"


def _selector(series: str, matchers: tuple[str, ...]) -> str:
    return f"{series}{{{','.join(matchers)}}}" if matchers else series


def _window(signal: Signal, window: str) -> str:
    tuning = signal.tuning
    return f"[{tuning.window}]" + (f" offset {tuning.baseline_offset}" if window == "baseline" else "")


def _of(record: str, signal: Signal) -> str:
    return f"{record}{{drift={quote(signal.name)}}}"


def _record(record: str, expr: str, signal: Signal) -> dict[str, Any]:
    return {"record": record, "expr": expr, "labels": {"drift": signal.name}}


def _count_series(signal: Signal) -> str:
    metric = signal.metric
    return f"{metric.prometheus}_count" if metric.kind == "histogram" else metric.prometheus


def count_expr(signal: Signal, window: str) -> str:
    """Calls (or denominator events) of ``signal`` in the recent or the baseline window."""
    series = _selector(_count_series(signal), signal.filters)
    return f"sum {_by(signal.tuning.group_by)}(increase({series}{_window(signal, window)}))\n"


def value_expr(signal: Signal, window: str) -> str:
    """The quantile or mean of ``signal`` in a window (the ratio's value reads the recorded counts)."""
    group = signal.tuning.group_by
    span = _window(signal, window)
    metric = signal.metric.prometheus
    if signal.kind == "quantile":
        bucket = _selector(f"{metric}_bucket", signal.filters)
        return f"histogram_quantile({number(signal.quantile or 0)}, sum {_by([*group, 'le'])}(rate({bucket}{span})))\n"
    if signal.kind == "mean":
        total = f"sum {_by(group)}(increase({_selector(f'{metric}_sum', signal.filters)}{span}))"
        return f"{total}\n/\n({count_expr(signal, window).strip()} > 0)\n"
    on = _on([*group, "drift"])
    return f"{_of(EVENTS.format(window), signal)}\n/ {on} group_left ()\n({_of(COUNT.format(window), signal)} > 0)\n"


def variance_expr(signal: Signal, window: str) -> str:
    """The variance of a mean signal's values in a window: E[X²] - E[X]², X spread evenly over its bucket."""
    group, span, metric = signal.tuning.group_by, _window(signal, window), signal.metric.prometheus
    bounds = signal.metric.buckets
    # Bucket i holds (bounds[i-1], bounds[i]]; the first starts at 0, the +Inf bucket is taken at the last bound.
    mids = [bounds[0] / 2, *((low + high) / 2 for low, high in itertools.pairwise(bounds)), bounds[-1]]
    count = count_expr(signal, window).strip()
    cumulative = [
        f"sum {_by(group)}(increase({_selector(f'{metric}_bucket', (*signal.filters, le_matcher(bound)))}{span}))"
        for bound in bounds
    ]
    cumulative.append(count)
    # Each bucket's own count (a difference of cumulative counts) times E[X²] of a value spread evenly
    # over the bucket, midpoint² + width²/12: every term is >= 0 (no cancellation between the huge
    # terms of the top buckets), and values that all share one bucket still have its width's variance
    # (else two windows of near-equal means in one bucket would give z = ±Inf).
    widths = [bounds[0], *(high - low for low, high in itertools.pairwise(bounds)), 0.0]
    second_moments = [mid**2 + width**2 / 12 for mid, width in zip(mids, widths, strict=True)]
    terms = [f"{cumulative[0]} * {number(second_moments[0])}"]
    terms += [
        f"({cumulative[index]} - {cumulative[index - 1]}) * {number(second_moments[index])}"
        for index in range(1, len(cumulative))
    ]
    # The mean of the same bucketed values, not the exact _sum/_count: values on a bucket's upper
    # bound (integer ratings) would otherwise sit half a bucket above their midpoints and the
    # difference could go negative; a shift of every value leaves this variance unchanged.
    firsts = [f"{cumulative[0]} * {number(mids[0])}"]
    firsts += [
        f"({cumulative[index]} - {cumulative[index - 1]}) * {number(mids[index])}"
        for index in range(1, len(cumulative))
    ]
    second, first = "\n+ ".join(terms), "\n+ ".join(firsts)
    return f"clamp_min(\n(\n{second}\n)\n/ ({count} > 0)\n- (\n(\n{first}\n)\n/ ({count} > 0)\n) ^ 2\n, 0)\n"


def events_expr(signal: Signal, window: str) -> str:
    """Numerator events of a ratio in a window; a category seen only in the other window counts 0 here."""
    labels = [*signal.tuning.group_by, *([signal.split_by] if signal.split_by else [])]
    series = _selector(_count_series(signal), tuple(dict.fromkeys((*signal.filters, *signal.numerator))))
    other = "recent" if window == "baseline" else "baseline"
    here = f"sum {_by(labels)}(increase({series}{_window(signal, window)}))"
    there = f"sum {_by(labels)}(increase({series}{_window(signal, other)}))"
    # A new error type has no baseline series: 0 there, so the test still compares it.
    return f"{here}\nor\n0 * {there}\n"


def recording_rules(signal: Signal) -> list[dict[str, Any]]:
    """The recording rules of one signal, each after the rules it reads (a group evaluates in order)."""
    rules = [_record(COUNT.format(w), count_expr(signal, w), signal) for w in WINDOWS]
    if signal.kind == "ratio":
        rules += [_record(EVENTS.format(w), events_expr(signal, w), signal) for w in WINDOWS]
    rules += [_record(VALUE.format(w), value_expr(signal, w), signal) for w in WINDOWS]
    recent, baseline = _of(VALUE.format("recent"), signal), _of(VALUE.format("baseline"), signal)
    # From 0 to anything is +Inf (a new error type, the first truncations), which passes "up";
    # 0/0 is NaN, which passes nothing.
    rules.append(_record(CHANGE, f"{recent}\n/\n{baseline}\n", signal))
    if signal.kind == "mean":
        rules += [_record(VARIANCE.format(w), variance_expr(signal, w), signal) for w in WINDOWS]
        variances = [_of(VARIANCE.format(w), signal) for w in WINDOWS]
        counts = [_of(COUNT.format(w), signal) for w in WINDOWS]
        z = f"({recent} - {baseline})\n/\nsqrt({variances[0]} / {counts[0]} + {variances[1]} / {counts[1]})\n"
        rules.append(_record(Z_SCORE, z, signal))
    if signal.kind == "ratio":
        on = _on([*signal.tuning.group_by, "drift"])
        counts = [_of(COUNT.format(w), signal) for w in WINDOWS]
        events = [_of(EVENTS.format(w), signal) for w in WINDOWS]
        pooled = f"({events[0]} + {events[1]})\n/ {on} group_left ()\n({counts[0]} + {counts[1]})\n"
        rules.append(_record(POOLED, pooled, signal))
        p = _of(POOLED, signal)
        z = (
            f"({recent} - {baseline})\n/\nsqrt(\n  {p} * (1 - {p})\n  * {on} group_left ()\n"
            f"  (1 / {counts[0]} + 1 / {counts[1]})\n)\n"
        )
        rules.append(_record(Z_SCORE, z, signal))
    return rules


def _conditions(signal: Signal) -> list[str]:
    tuning = signal.tuning
    change, z = _of(CHANGE, signal), _of(Z_SCORE, signal)
    up, down = number(1 + tuning.min_change), number(1 - tuning.min_change)
    tested = signal.kind in ("ratio", "mean")
    conditions = []
    if signal.direction in ("up", "both"):
        conditions.append(f"({change} >= {up} and {z} >= {number(tuning.z)})" if tested else f"{change} >= {up}")
    if signal.direction in ("down", "both"):
        conditions.append(f"({change} <= {down} and {z} <= -{number(tuning.z)})" if tested else f"{change} <= {down}")
    return conditions


# Events a ratio must expect in each window (pooled share x calls) before its z test is believed.
EXPECTED_EVENTS = 5
# A quantile is read from the calls beyond it: the p95 of 100 calls rests on 5 of them, and one
# bucket's worth of jitter in those doubles it. At least this many calls past the quantile.
TAIL_CALLS = 20


def minimum_count(signal: Signal) -> int:
    """Calls needed in each window: ``min_count``, and for a quantile at least TAIL_CALLS beyond it."""
    if signal.kind == "quantile" and signal.quantile is not None:
        return max(signal.tuning.min_count, math.ceil(TAIL_CALLS / min(signal.quantile, 1 - signal.quantile) - 1e-9))
    return signal.tuning.min_count


def alert_expr(signal: Signal) -> str:
    """Drift: a change beyond ``min_change`` (ratios and means: also |z| ≥ ``z``), ``min_count`` in both windows."""
    on = _on([*signal.tuning.group_by, "drift"])
    minimum = number(minimum_count(signal))
    change = "\nor\n".join(_conditions(signal))
    guards = "".join(f"\nand {on}\n{_of(COUNT.format(w), signal)} >= {minimum}" for w in WINDOWS)
    if signal.kind == "ratio":
        # The z test's normal approximation needs about EXPECTED_EVENTS events expected in each window
        # at the pooled share: 0 errors against 8 gives |z| = 3 on 500 calls a window, by chance.
        split = _on([*signal.tuning.group_by, *([signal.split_by] if signal.split_by else []), "drift"])
        guards += "".join(
            f"\nand {split}\n({_of(POOLED, signal)} * {on} group_left ()\n{_of(COUNT.format(w), signal)})"
            f" >= {EXPECTED_EVENTS}"
            for w in WINDOWS
        )
    return f"(\n{change}\n){guards}\n"


def _where(labels: tuple[str, ...]) -> str:
    return ", ".join(f"{{{{ $labels.{label} }}}}" for label in labels)


def _how(signal: Signal) -> str:
    tuning = signal.tuning
    if signal.direction == "both":
        way = f"moved by {number(tuning.min_change * 100)} % or more"
    else:
        way = f"{'rose' if signal.direction == 'up' else 'fell'} by {number(tuning.min_change * 100)} % or more"
    test = f", |z| >= {number(tuning.z)}" if signal.kind in ("ratio", "mean") else ""
    return (
        f"{way} from the {tuning.window} window {tuning.baseline_offset} earlier to the last {tuning.window} "
        f"(at least {minimum_count(signal)} in each window{test})"
    )


def drift_alert(signal: Signal) -> dict[str, Any]:
    """The ``LLMPerfDrift`` alert of one signal."""
    tuning = signal.tuning
    rule: dict[str, Any] = {"alert": DRIFT_ALERT, "expr": alert_expr(signal)}
    if tuning.wait is not None:
        rule["for"] = tuning.wait
    rule["labels"] = {"drift": signal.name, "severity": tuning.severity}
    labels = (*tuning.group_by, *([signal.split_by] if signal.split_by else ()))
    where = _where(labels)
    value = '{{ $value | printf "%.2f" }}'
    rule["annotations"] = {
        "summary": f"{signal.name} drifted: {value}x its baseline" + (f" ({where})" if where else ""),
        "description": f"{signal.description.rstrip('.')}: {value}x the baseline; the value {_how(signal)}.",
        "dashboard": DASHBOARD.format(name=signal.name),
        "runbook": "Compare the drift dashboard's recent and baseline series; check the model identity panel for "
        "a new snapshot or fingerprint, and deploys or prompt changes in the window.",
    }
    return rule


def signal_group(signal: Signal) -> dict[str, Any]:
    """The rule group of one signal."""
    return {"name": f"llmperf-drift-{signal.name}", "rules": [*recording_rules(signal), drift_alert(signal)]}


def prometheus_duration(seconds: float) -> str:
    """``seconds`` as a Prometheus duration: 608400 → ``1w1h``."""
    millis = round(seconds * 1000)
    parts = []
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def identity_expr(identity: Identity) -> str:
    """Identities seen recently and not in the baseline before, for request models older than the baseline."""
    labels = [*identity.group_by, *IDENTITY_LABELS]
    model = [*identity.group_by, "gen_ai_provider_name", "gen_ai_request_model"]
    recent = f"last_over_time({IDENTITY_SERIES}[{identity.window}])"
    # The baseline ends where the recent window starts: an identity alerts while it is new.
    before = f"last_over_time({IDENTITY_SERIES}[{identity.baseline}] offset {identity.window})"
    # The request model was in use when the baseline began: else every identity of a model (or an
    # application) that just started would look new next to the ones its first seconds happened to see.
    start = duration_seconds(identity.window, "identity.window") + duration_seconds(
        identity.baseline, "identity.baseline"
    )
    known = f"{IDENTITY_SERIES} offset {prometheus_duration(start)}"
    # Presence, not increase(): a series born with its first call has no earlier sample to increase from.
    return (
        f"(\n  sum {_by(labels)}({recent})\n  unless {_on(labels)}\n  sum {_by(labels)}({before})\n)\n"
        f"and {_on(model)}\nsum {_by(model)}({known})\n"
    )


def identity_group(identity: Identity) -> dict[str, Any]:
    """The model-identity rule group."""
    labels = (*identity.group_by, *IDENTITY_LABELS)
    where = ", ".join(f"{{{{ $labels.{label} }}}}" for label in identity.group_by)
    alert: dict[str, Any] = {"alert": IDENTITY_ALERT, "expr": f"{IDENTITY_NEW} >= {number(identity.min_calls)}\n"}
    if identity.wait is not None:
        alert["for"] = identity.wait
    alert["labels"] = {"severity": identity.severity}
    alert["annotations"] = {
        "summary": "{{ $labels.gen_ai_request_model }} is now served by {{ $labels.gen_ai_response_model }}"
        " (fingerprint {{ $labels.openai_response_system_fingerprint }})" + (f" ({where})" if where else ""),
        "description": f"{{{{ $labels.gen_ai_provider_name }}}} answered {{{{ $value }}}} calls for "
        f"{{{{ $labels.gen_ai_request_model }}}} in the last {identity.window} with a response model or system "
        f"fingerprint not seen in the {identity.baseline} before; labels: {', '.join(labels)}.",
        "dashboard": IDENTITY_DASHBOARD,
        "runbook": "A provider swapped the snapshot behind a model name: check the drift dashboard's behaviour "
        "signals from the annotation on; pin a dated snapshot if the change hurts.",
    }
    return {
        "name": "llmperf-drift-model-identity",
        "rules": [{"record": IDENTITY_NEW, "expr": identity_expr(identity)}, alert],
    }


def header(source: str, output: str | None) -> str:
    """The comment on top of a rendered file: generated, from what, and how to re-render it."""
    return (
        f"# GENERATED from {source} by otel-llmperf; do not edit. "
        f"Re-render: otel-llmperf drift render {source} -o {output or 'RULES_FILE'}\n"
        "# CI: the same command with --check exits 1 when this file is stale.\n"
        "# Rule names are documented in otel_llmperf/drift_rules.py; the drift dashboard depends on them.\n"
    )


def render_rules(spec: DriftSpec, source: str = "drift.yaml", output: str | None = None) -> str:
    """The Prometheus rule file of ``spec``, deterministic to the byte for the same input."""
    groups = [identity_group(spec.identity)] if spec.identity is not None else []
    groups += [signal_group(signal) for signal in spec.signals]
    return header(source, output) + dump({"groups": groups})


def render_file(spec_path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> str:
    """The rule file for the spec at ``spec_path``, whose header names it and ``output`` for re-rendering."""
    spec = load_spec(spec_path)
    return render_rules(spec, source=display_path(spec_path), output=None if output is None else display_path(output))
