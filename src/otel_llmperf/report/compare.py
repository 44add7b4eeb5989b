# SPDX-License-Identifier: Apache-2.0
"""A/B comparison of two variants (``llmperf.variant``): counts from Prometheus, statistics from :mod:`.stats`.

Every figure is an instant query at the end of the report's range over the whole range,
``sum by (llmperf_variant, …) (increase(…[range]))``, in the report's scope (job), pooled over
every provider and model in it. ``increase()`` extrapolates to the range's edges and returns
fractional counts; the tests need whole numbers, so each count is rounded to the nearest
integer (stated in every method text). Cumulative histogram buckets are sorted by their bound
(``le="1"`` and ``le="1.0"``, as OTLP and the exporter spell it, are one bucket), made monotonic
as PromQL does, and differenced into per-bucket counts; when the variants' bucket bounds differ,
only the bounds both have are kept.

Metrics compared, each only when at least one variant has data (a variant without data gets
``not enough data``): error rate; duration distribution, p50 and p95; time to first chunk
distribution and p95; time per output token p50; attainment of each SLO (good / total calls, as
the SLO rules count them); thumbs-up ratio; mean rating; NPS; accuracy of each evaluation;
cost per call (not tested: Prometheus keeps only the sum of costs, not their spread). The whole
list is adjusted with Holm-Bonferroni (:func:`.stats.holm`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

from otel_llmperf.instruments import (
    CONTRACT,
    LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN,
    LLMPERF_EVALUATION_OUTCOME,
    LLMPERF_FEEDBACK,
    LLMPERF_FEEDBACK_SCORE,
    LLMPERF_USAGE_COST,
)
from otel_llmperf.report import stats
from otel_llmperf.report.collect import slo_queries
from otel_llmperf.report.prom import Prometheus, Series
from otel_llmperf.report.queries import VARIANT, Scope, selector
from otel_llmperf.report.stats import Comparison
from otel_llmperf.slo import SloSpec

_PROMETHEUS = {spec.name: spec.prometheus for spec in CONTRACT}
DURATION = _PROMETHEUS["gen_ai.client.operation.duration"]
TTFC = _PROMETHEUS["gen_ai.client.operation.time_to_first_chunk"]
TIME_PER_TOKEN = _PROMETHEUS[LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN]
FEEDBACK = _PROMETHEUS[LLMPERF_FEEDBACK]
FEEDBACK_SCORE = _PROMETHEUS[LLMPERF_FEEDBACK_SCORE]
OUTCOMES = _PROMETHEUS[LLMPERF_EVALUATION_OUTCOME]
COST = _PROMETHEUS[LLMPERF_USAGE_COST]

ERROR_TYPE = "error_type"
FEEDBACK_KIND = "llmperf_feedback_kind"
FEEDBACK_LABEL = "llmperf_feedback_label"
EVALUATION = "gen_ai_evaluation_name"
EVALUATION_CLASS = "llmperf_evaluation_class"
OUTCOME = "llmperf_evaluation_outcome"

COST_METHOD = "no test: Prometheus keeps only the sum"

Histogram = tuple[list[float], list[int], list[int]]  # finite bounds, per-bucket counts of a and of b (+Inf last)
Pair = tuple[int | None, int | None]  # a count per variant; None: the variant has no series


def _expr(scope: Scope, range_: str, metric: str, by: Sequence[str], *matchers: str) -> str:
    """The PromQL of ``metric`` in scope over the range, summed by variant and ``by``."""
    return f"sum by ({', '.join((VARIANT, *by))}) (increase({selector(metric, scope, *matchers)}[{range_}]))"


def variant_queries(scope: Scope, range_: str, slo_spec: SloSpec | None) -> dict[str, str]:
    """Every instant query :func:`compare_variants` runs, title → PromQL, in the order it runs them."""
    queries = {
        "calls": _expr(scope, range_, f"{DURATION}_count", ()),
        "errors": _expr(scope, range_, f"{DURATION}_count", (), f'{ERROR_TYPE}!=""'),
        "duration": _expr(scope, range_, f"{DURATION}_bucket", ("le",)),
        "time to first chunk": _expr(scope, range_, f"{TTFC}_bucket", ("le",)),
        "time per output token": _expr(scope, range_, f"{TIME_PER_TOKEN}_bucket", ("le",)),
    }
    for slo in slo_spec.slos if slo_spec is not None else ():
        # The SLO rules' own matchers, summed per variant instead of per group_by (the groups are pooled).
        good, total = slo_queries(dataclasses.replace(slo, group_by=(VARIANT,)), scope, range_)
        queries[f"SLO {slo.name}: all calls"] = total
        queries[f"SLO {slo.name}: good calls"] = good
    queries["thumbs"] = _expr(scope, range_, FEEDBACK, (FEEDBACK_LABEL,), f'{FEEDBACK_KIND}="thumbs"')
    queries["ratings"] = _expr(scope, range_, f"{FEEDBACK_SCORE}_bucket", ("le",), f'{FEEDBACK_KIND}="rating"')
    queries["NPS"] = _expr(scope, range_, FEEDBACK, (FEEDBACK_LABEL,), f'{FEEDBACK_KIND}="nps"')
    queries["evaluations"] = _expr(scope, range_, OUTCOMES, (EVALUATION, EVALUATION_CLASS, OUTCOME))
    queries["cost"] = _expr(scope, range_, COST, ())
    return queries


def query_count(slo_spec: SloSpec | None) -> int:
    """How many times :func:`compare_variants` calls ``progress``."""
    return len(variant_queries(Scope(job=None, window="1m"), "1h", slo_spec))


def whole(value: float) -> int:
    """An ``increase()`` result as a count: rounded to the nearest integer; NaN or negative is 0."""
    return round(value) if math.isfinite(value) and value > 0 else 0


def per_bucket(cumulative: Mapping[float, float]) -> tuple[list[float], list[int]]:
    """Cumulative bucket counts (``le`` → count, with +Inf) as finite bounds and rounded per-bucket counts."""
    if math.inf not in cumulative:
        raise ValueError('a histogram needs its le="+Inf" bucket')
    bounds = sorted(bound for bound in cumulative if math.isfinite(bound))
    counts = []
    highest = 0
    for bound in [*bounds, math.inf]:
        # Rounded, then made monotonic like PromQL's ensureMonotonic: a bucket never holds fewer calls than one below.
        highest = max(highest, whole(cumulative[bound]))
        counts.append(highest)
    return bounds, [counts[0]] + [upper - lower for lower, upper in itertools.pairwise(counts)]


class _Counts:
    """Instant queries ``sum by (variant, …) (increase(…[range]))`` at ``at``, sorted into the two variants."""

    def __init__(
        self,
        prom: Prometheus,
        queries: Mapping[str, str],
        at: float,
        variants: tuple[str, str],
        progress: Callable[[str], None],
    ) -> None:
        self.prom, self.queries, self.at = prom, queries, at
        self.variants = variants
        self.progress = progress

    def run(self, title: str) -> list[Series]:
        """Run the query of ``title`` (a key of :func:`variant_queries`) and report progress."""
        result = self.prom.query(self.queries[title], self.at)
        self.progress(f"A/B: {title}")
        return result

    def split(self, series: Iterable[Series]) -> tuple[list[Series], list[Series]]:
        """The series of variant a and of variant b (others dropped)."""
        out: tuple[list[Series], list[Series]] = ([], [])
        for one in series:
            variant = one.labels.get(VARIANT)
            if variant in self.variants:
                out[self.variants.index(variant)].append(one)
        return out

    def totals(self, series: Iterable[Series]) -> Pair:
        """The rounded sum of each variant's values (None: the variant has no series)."""
        a, b = self.split(series)
        return _pair(whole(sum(_value(s) for s in part)) if part else None for part in (a, b))

    def by_label(self, series: Iterable[Series], label: str) -> tuple[dict[str, float], dict[str, float]]:
        """Each variant's values summed by ``label`` (not rounded yet)."""
        out: tuple[dict[str, float], dict[str, float]] = (defaultdict(float), defaultdict(float))
        for part, target in zip(self.split(series), out, strict=True):
            for one in part:
                target[one.labels.get(label, "")] += _value(one)
        return dict(out[0]), dict(out[1])

    def histogram(self, title: str) -> Histogram | None:
        """Per-bucket counts of a histogram for both variants on their common bounds; None without any data in range."""
        return self.histogram_of(self.run(title))

    def histogram_of(self, raw: Iterable[Series]) -> Histogram | None:
        """Per-bucket counts of ``le`` series (summed over their other labels) for both variants on common bounds."""
        cumulative: tuple[dict[float, float], dict[float, float]] = (defaultdict(float), defaultdict(float))
        for part, target in zip(self.split(raw), cumulative, strict=True):
            for one in part:
                try:
                    bound = float(one.labels.get("le", ""))
                except ValueError:
                    continue
                target[bound] += _value(one)  # le="1" and le="1.0" are the same bucket
        present = [c for c in cumulative if math.inf in c]
        if not present:
            return None
        common = set.intersection(*(set(c) for c in present))
        converted = [
            per_bucket({k: v for k, v in c.items() if k in common}) if math.inf in c else None for c in cumulative
        ]
        bounds = next(c[0] for c in converted if c is not None)
        empty = [0] * (len(bounds) + 1)
        counts_a, counts_b = (c[1] if c is not None else empty for c in converted)
        # No finite bound, or no observation in the range (series from before it): nothing to compare.
        return (bounds, counts_a, counts_b) if bounds and sum(counts_a) + sum(counts_b) else None


def _value(series: Series) -> float:
    return series.points[-1][1] if series.points else 0.0


def _pair(values: Iterable[int | None]) -> Pair:
    a, b = values
    return a, b


def _proportion(
    metric: str,
    events: Pair,
    trials: Pair,
    *,
    higher_is_better: bool,
    noun: str,
) -> Comparison:
    x_a, x_b = (e or 0 for e in events)
    n_a, n_b = (t or 0 for t in trials)
    # increase() extrapolates each series on its own: a count of events can exceed its total by one.
    return stats.two_proportions(
        min(x_a, n_a), n_a, min(x_b, n_b), n_b, metric=metric, higher_is_better=higher_is_better, noun=noun
    )


def _rating_values(bounds: Sequence[float], counts: Sequence[int]) -> tuple[dict[float, int], bool]:
    """Rating → count from feedback-score buckets; True when some ratings are only known to a bucket."""
    values: dict[float, int] = {}
    approximate = False
    for index, count in enumerate(counts):
        if not count:
            continue
        upper = bounds[index] if index < len(bounds) else math.inf
        lower = bounds[index - 1] if index > 0 else -math.inf
        if index == 0 or (upper - lower == 1 and float(upper).is_integer()):
            # Ratings are whole numbers, so a bucket (k - 1, k] holds exactly the rating k (le="0": 0 or below).
            value = upper
            approximate = approximate or (index == 0 and upper != 0)
        else:
            value = (lower + upper) / 2 if math.isfinite(upper) else lower
            approximate = True
        values[value] = values.get(value, 0) + count
    return values, approximate


def compare_variants(
    prom: Prometheus,
    scope: Scope,
    at: float,
    range_: str,
    a: str,
    b: str,
    slo_spec: SloSpec | None,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
    alpha: float = stats.ALPHA,
) -> list[Comparison]:
    """Compare variants ``a`` and ``b`` over ``range_`` ending at ``at``; Holm-adjusted (see the module doc)."""
    if a == b:
        raise ValueError(f"compare two different variants, not {a!r} with itself")
    q = _Counts(prom, variant_queries(scope, range_, slo_spec), at, (a, b), progress)
    rows: list[Comparison] = []

    calls = q.totals(q.run("calls"))
    errors = q.totals(q.run("errors"))
    if any(calls):
        rows.append(_proportion("Error rate", errors, calls, higher_is_better=False, noun="calls"))

    rows += latency_rows(q, seed)
    histogram = q.histogram("time per output token")
    if histogram is not None:
        rows.append(
            stats.quantile_difference(*histogram, 0.5, metric="Time per output token p50", seed=seed, noun="streams")
        )

    for slo in slo_spec.slos if slo_spec is not None else ():
        total = q.totals(q.run(f"SLO {slo.name}: all calls"))
        good = q.totals(q.run(f"SLO {slo.name}: good calls"))
        if any(total):
            rows.append(_proportion(f"SLO attainment: {slo.name}", good, total, higher_is_better=True, noun="calls"))

    rows += satisfaction_rows(q)

    nps = q.by_label(q.run("NPS"), FEEDBACK_LABEL)
    groups = [{g: whole(n.get(g, 0.0)) for g in stats.NPS_GROUPS} for n in nps]
    if any(sum(g.values()) for g in groups):
        rows.append(stats.nps_difference(groups[0], groups[1]))

    rows += _accuracy(q)

    cost = q.run("cost")
    cost_a, cost_b = (sum(_value(s) for s in part) if part else None for part in q.split(cost))
    if cost_a or cost_b:
        per_call = [
            total / count if total is not None and count else None
            for total, count in ((cost_a, calls[0]), (cost_b, calls[1]))
        ]
        difference = per_call[1] - per_call[0] if per_call[0] is not None and per_call[1] is not None else None
        rows.append(
            Comparison(
                "Cost per call", "USD", per_call[0], per_call[1], calls[0] or 0, calls[1] or 0, difference,
                None, None, None, COST_METHOD, stats.NOT_TESTED, None,
            )
        )  # fmt: skip

    counted = f"counts: increase(…[{range_}]) rounded to whole numbers; variants pooled over every model in scope"
    rows = [dataclasses.replace(row, method=f"{row.method}; {counted}") for row in rows]
    return stats.holm(rows, alpha)


def latency_rows(q: _Counts, seed: int) -> list[Comparison]:
    """Duration (distribution, p50, p95) and time to first chunk (distribution, p95)."""
    rows: list[Comparison] = []
    for name, quantiles in (("Duration", (0.5, 0.95)), ("Time to first chunk", (0.95,))):
        histogram = q.histogram(name.lower())
        if histogram is not None:
            rows.append(stats.histogram_test(*histogram, metric=f"{name} distribution", seed=seed))
            rows += [
                stats.quantile_difference(*histogram, quantile, metric=f"{name} p{quantile * 100:g}", seed=seed)
                for quantile in quantiles
            ]
    return rows


def satisfaction_rows(q: _Counts) -> list[Comparison]:
    """Thumbs-up ratio and mean rating."""
    rows: list[Comparison] = []
    thumbs = q.by_label(q.run("thumbs"), FEEDBACK_LABEL)
    ups = _pair(whole(t.get("up", 0.0)) if t else None for t in thumbs)
    votes = _pair(whole(sum(t.values())) if t else None for t in thumbs)
    if any(votes):
        rows.append(_proportion("Thumbs-up ratio", ups, votes, higher_is_better=True, noun="thumbs votes"))

    histogram = q.histogram("ratings")
    if histogram is not None:
        bounds, counts_a, counts_b = histogram
        (values_a, rough_a), (values_b, rough_b) = _rating_values(bounds, counts_a), _rating_values(bounds, counts_b)
        row = stats.mean_difference(values_a, values_b, metric="Mean rating", unit="score", higher_is_better=True)
        if rough_a or rough_b:
            note = "ratings outside 0-10 are known only to their bucket and taken at its midpoint (approximate)"
            row = dataclasses.replace(row, method=f"{row.method}; {note}")
        rows.append(row)
    return rows


def _accuracy(q: _Counts) -> list[Comparison]:
    """Accuracy per evaluation: (tp + tn) / all when binary, Σ tp / Σ (tp + fn) over classes otherwise."""
    raw = q.run("evaluations")
    # name → variant index → (correct, judged), as floats until the final rounding.
    tallies: dict[str, list[list[float] | None]] = defaultdict(lambda: [None, None])
    parts = q.split(raw)
    classed = {s.labels.get(EVALUATION, "") for part in parts for s in part if s.labels.get(EVALUATION_CLASS)}
    for index, part in enumerate(parts):
        for one in part:
            name = one.labels.get(EVALUATION, "")
            outcome = one.labels.get(OUTCOME, "")
            has_class = bool(one.labels.get(EVALUATION_CLASS))
            if name in classed:
                # One-vs-rest per class: each sample is exactly one tp or fn of its expected class.
                if not has_class or outcome not in ("tp", "fn"):
                    continue
                correct = outcome == "tp"
            elif outcome in ("tp", "tn", "fp", "fn"):
                correct = outcome in ("tp", "tn")
            else:
                continue
            tally = tallies[name][index] or [0.0, 0.0]
            tally[0] += _value(one) if correct else 0.0
            tally[1] += _value(one)
            tallies[name][index] = tally
    rows = []
    for name in sorted(tallies):
        counts = tallies[name]
        right = _pair(whole(t[0]) if t else None for t in counts)
        judged = _pair(whole(t[1]) if t else None for t in counts)
        if any(judged):
            rows.append(
                _proportion(f"Evaluation accuracy: {name}", right, judged, higher_is_better=True, noun="samples")
            )
    return rows
