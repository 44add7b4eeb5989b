# SPDX-License-Identifier: Apache-2.0
"""``report --baseline``: the report's range (recent) against an earlier period (baseline), signal by signal.

The periods: recent is the report's range, ``[end - range, end]``. The baseline is the same range
shifted back by an offset (``--baseline 7d``, the default offset when ``--baseline`` has no value;
``--baseline 60s`` works too), or an explicit ``--baseline-start``/``--baseline-end``.

The machinery is the A/B comparison's (:mod:`.compare`, :mod:`.stats`): every figure is an instant
query ``increase(…[period])`` at the end of each period, the baseline plays variant a and the
recent period variant b, over every model and variant in scope (pooled). Signals: error rate and
error-type mix; duration (distribution, p50, p95) and time to first chunk (distribution, p95);
output tokens per call (distribution, p50); finish-reason mix (``llmperf_client_finish_reasons_total``,
when that metric exists); thumbs-up ratio and mean rating; evaluation score distribution and
accuracy of each evaluation. Holm's adjustment runs over all of them; a signal is **shifted**
when its adjusted p-value is below alpha. Model identity (``llmperf_model_identity_total``) is a
table, not a test: which response model and system fingerprint answered each requested model in
each period, and which of them are new or gone.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import defaultdict
from collections.abc import Callable

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_MODEL,
)
from opentelemetry.semconv._incubating.attributes.openai_attributes import OPENAI_RESPONSE_SYSTEM_FINGERPRINT

from otel_llmperf.instruments import LLMPERF_CLIENT_FINISH_REASONS, LLMPERF_MODEL_IDENTITY, spec
from otel_llmperf.report import stats
from otel_llmperf.report.compare import (
    _accuracy,
    _Counts,
    _expr,
    _proportion,
    latency_rows,
    satisfaction_rows,
    variant_queries,
    whole,
)
from otel_llmperf.report.periods import DEFAULT_OFFSET, BaselineResult, IdentityRow, Period
from otel_llmperf.report.prom import Prometheus, PrometheusError, Series
from otel_llmperf.report.queries import (
    DURATION,
    ERROR_TYPE,
    EVALUATION,
    EVALUATION_SCORE,
    JOB,
    MODEL,
    PROVIDER,
    TOKEN_TYPE,
    TOKENS,
    VARIANT,
    Panel,
    Scope,
    panels,
    selector,
    series_names,
)
from otel_llmperf.report.stats import Comparison
from otel_llmperf.slo_rules import quote

FINISH_REASONS = spec(LLMPERF_CLIENT_FINISH_REASONS).prometheus
MODEL_IDENTITY = spec(LLMPERF_MODEL_IDENTITY).prometheus
# Prometheus label names: the attribute names with dots as underscores.
RESPONSE_MODEL = GEN_AI_RESPONSE_MODEL.replace(".", "_")
FINGERPRINT = OPENAI_RESPONSE_SYSTEM_FINGERPRINT.replace(".", "_")
FINISH_REASON = GEN_AI_RESPONSE_FINISH_REASONS.replace(".", "_")
IDENTITY_LABELS = (PROVIDER, MODEL, RESPONSE_MODEL, FINGERPRINT)
PERIODS: tuple[str, str] = ("baseline", "recent")
# The queries a comparison of periods runs, in order (titles of variant_queries and baseline_queries).
TITLES = ("calls", "errors", "error types", "duration", "time to first chunk", "output tokens", "finish reasons",
          "thumbs", "ratings", "evaluation scores", "evaluations", "model identity")  # fmt: skip
# The quality signals drawn over both periods, with the baseline shaded.
QUALITY_SECTIONS = ("satisfaction", "accuracy")
# Room for the plots: Prometheus' point limit, less a margin.
MAX_PLOT_POINTS = 10_000


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class BaselineRangeError(PrometheusError):
    """The baseline period holds none of otel-llmperf's series; the message names the option and where data is."""


def baseline_queries(scope: Scope, range_: str) -> dict[str, str]:
    """Every instant query of a baseline comparison over one period, title → PromQL."""
    queries = variant_queries(scope, range_, None)  # grouped by variant too: the periods pool it again
    queries["error types"] = _expr(scope, range_, f"{DURATION}_count", (ERROR_TYPE,), f'{ERROR_TYPE}!=""')
    queries["output tokens"] = _expr(scope, range_, f"{TOKENS}_bucket", ("le",), f'{TOKEN_TYPE}="output"')
    queries["evaluation scores"] = _expr(scope, range_, f"{EVALUATION_SCORE}_bucket", (EVALUATION, "le"))
    # Its labels are the model-drift work's choice: summed over what identifies a target, split in Python.
    queries["finish reasons"] = f"sum without ({JOB}, instance) (increase({selector(FINISH_REASONS, scope)}[{range_}]))"
    by = ", ".join(IDENTITY_LABELS)
    queries["model identity"] = f"sum by ({by}) (increase({selector(MODEL_IDENTITY, scope)}[{range_}]))"
    return {title: queries[title] for title in TITLES}


class _Periods(_Counts):
    """The comparison's counts, with the baseline period as variant a and the recent one as b."""

    def __init__(
        self, prom: Prometheus, scope: Scope, baseline: Period, recent: Period, progress: Callable[[str], None]
    ) -> None:
        super().__init__(prom, {}, recent.end, PERIODS, progress)
        self.periods = {"baseline": baseline, "recent": recent}
        self.by_period = {name: baseline_queries(scope, p.range_) for name, p in self.periods.items()}

    def run(self, title: str) -> list[Series]:
        """Both periods' answers, each series tagged with its period in place of the variant label."""
        out = []
        for name, period in self.periods.items():
            for one in self.prom.query(self.by_period[name][title], period.end):
                out.append(Series({**one.labels, VARIANT: name}, one.points))
        self.progress(f"Baseline: {title}")
        return out


def query_count() -> int:
    """How many times :func:`compare_periods` calls ``progress``: each query title (both periods at once)."""
    return len(TITLES)


def _mix(
    q: _Periods, title: str, label_of: Callable[[Series], str | None], metric: str, noun: str
) -> Comparison | None:
    counts: tuple[dict[str, float], dict[str, float]] = (defaultdict(float), defaultdict(float))
    for part, target in zip(q.split(q.run(title)), counts, strict=True):
        for one in part:
            label = label_of(one)
            if label is not None:
                target[label] += one.points[-1][1] if one.points else 0.0
    rounded = [{k: whole(v) for k, v in c.items() if whole(v)} for c in counts]
    if not any(rounded):
        return None
    return stats.category_test(rounded[0], rounded[1], metric=metric, noun=noun)


def _finish_label(series: Series) -> str | None:
    return series.labels.get(FINISH_REASON)


def _identities(q: _Periods) -> list[IdentityRow] | None:
    table: dict[tuple[str, str, str, str], list[int]] = {}
    for index, part in enumerate(q.split(q.run("model identity"))):
        for one in part:
            provider, model, response, fingerprint = (one.labels.get(label, "") for label in IDENTITY_LABELS)
            key = (provider, model, response, fingerprint)
            table.setdefault(key, [0, 0])[index] += whole(one.points[-1][1] if one.points else 0.0)
    rows = [
        IdentityRow(provider, model, response, fingerprint, counts[0], counts[1])
        for (provider, model, response, fingerprint), counts in sorted(table.items())
        if any(counts)
    ]
    return rows or None


def compare_periods(
    prom: Prometheus,
    scope: Scope,
    baseline: Period,
    recent: Period,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
    alpha: float = stats.ALPHA,
    option: str = f"--baseline {DEFAULT_OFFSET}",
) -> BaselineResult:
    """Compare the recent period with the baseline signal by signal; Holm-adjusted (see the module doc)."""
    q = _Periods(prom, scope, baseline, recent, progress)
    rows: list[Comparison] = []
    notes: list[str] = []

    calls = q.totals(q.run("calls"))
    errors = q.totals(q.run("errors"))
    if any(calls):
        rows.append(_proportion("Error rate", errors, calls, higher_is_better=False, noun="calls"))
    types = _mix(q, "error types", lambda s: s.labels.get(ERROR_TYPE), "Error type mix", "failed calls")
    if types is not None:
        rows.append(types)

    rows += latency_rows(q, seed)
    histogram = q.histogram("output tokens")
    if histogram is not None:
        metric = "Output tokens per call"
        rows += [
            stats.histogram_test(*histogram, metric=f"{metric} distribution", unit="tokens", seed=seed,
                                 higher_is_better=None),
            stats.quantile_difference(*histogram, 0.5, metric=f"{metric} p50", unit="tokens", seed=seed,
                                      higher_is_better=None),
        ]  # fmt: skip

    finish = _mix(q, "finish reasons", _finish_label, "Finish-reason mix", "calls")
    if finish is None:
        notes.append(f"Finish-reason mix: no {FINISH_REASONS} series in either period (not recorded by this setup).")
    else:
        rows.append(finish)

    rows += satisfaction_rows(q)

    scores: dict[str, list[Series]] = defaultdict(list)
    for one in q.run("evaluation scores"):
        scores[one.labels.get(EVALUATION, "")].append(one)
    for name in sorted(scores):
        histogram = q.histogram_of(scores[name])
        if histogram is not None:
            rows.append(
                stats.histogram_test(
                    *histogram, metric=f"Evaluation score: {name}", unit="score", seed=seed,
                    higher_is_better=True, noun="samples",
                )
            )  # fmt: skip
    rows += _accuracy(q)

    identities = _identities(q)
    if identities is None:
        notes.append(f"Model identity: no {MODEL_IDENTITY} series in either period (not recorded by this setup).")

    counted = (
        "counts: increase(…) over each period rounded to whole numbers; a = baseline, b = recent; "
        "pooled over every model and variant in scope"
    )
    rows = [
        dataclasses.replace(
            row,
            method=f"{row.method.replace('per variant', 'per period')}; {counted}",
            verdict=row.verdict.replace("per variant", "per period"),
        )
        for row in rows
    ]
    return BaselineResult(baseline, recent, option, stats.holm(rows, alpha), identities, notes, alpha=alpha)


def quality_plots(
    prom: Prometheus, scope: Scope, baseline: Period, recent: Period, step: float
) -> tuple[list[tuple[Panel, list[Series]]], float]:
    """The satisfaction and accuracy panels over both periods (and between them); returns them and the step used."""
    start, end = min(baseline.start, recent.start), max(baseline.end, recent.end)
    step = max(step, math.ceil((end - start) / MAX_PLOT_POINTS))
    return [
        (panel, prom.query_range(panel.expr, start, end, step))
        for panel in panels(scope)
        if panel.section in QUALITY_SECTIONS
    ], step


def check_baseline(prom: Prometheus, scope: Scope, baseline: Period, recent: Period, option: str) -> None:
    """A BaselineRangeError naming ``option`` and the range that has data, when the baseline holds no series."""
    name_matcher = f"__name__=~{quote('|'.join(series_names()))}"
    if prom.metric_names(match=selector("", scope, name_matcher), start=baseline.start, end=baseline.end):
        return
    # Where the data is: a coarse range query over as much time again before the baseline as it spans.
    look_from = baseline.start - (recent.end - baseline.start)
    step = max(1.0, math.ceil((recent.end - look_from) / MAX_PLOT_POINTS))
    calls = prom.query_range(f"count({selector(f'{DURATION}_count', scope)})", look_from, recent.end, step)
    stamps = [t for one in calls for t, v in one.points if math.isfinite(v)]
    where = (
        f"it holds them from about {_utc(min(stamps))} to {_utc(max(stamps))}"
        if stamps
        else f"it holds none between {_utc(look_from)} and {_utc(recent.end)} either"
    )
    raise BaselineRangeError(
        f"{option}: the baseline period {_utc(baseline.start)} to {_utc(baseline.end)} (UTC) holds no otel-llmperf "
        f"series in Prometheus at {prom.url}; {where}. Choose a baseline inside that range (a shorter offset, or "
        "--baseline-start/--baseline-end)."
    )
