# SPDX-License-Identifier: Apache-2.0
"""The statistics of the A/B comparison: pure functions of counts, deterministic for a given seed.

Each function compares variant ``a`` with variant ``b`` on one metric and returns a
:class:`Comparison`: both values, the difference ``b - a``, its confidence interval, the raw
p-value of a test suited to the data, the method in words, and a verdict. :func:`holm` then
adjusts the p-values over every test of one report (Holm-Bonferroni) and withdraws the verdicts
that do not survive, so a report with many metrics does not call chance differences.

A verdict is only given when the data supports it: below a function's minimum sample size the
p-value is left out (``None``, so the test is not part of the family either) and the verdict says
``not enough data (needs …, has …)``. The minimum is also stated in every ``method`` text.

Methods:

* proportions (error rate, SLO attainment, thumbs-up ratio, accuracy): two-proportion z-test with
  pooled variance, or Fisher's exact test when an expected cell of the 2x2 table is below 5;
  interval: Newcombe's hybrid score interval (method 10 of Newcombe 1998, from Wilson intervals);
* latency distributions: Pearson's chi-square test of homogeneity on the histogram buckets,
  adjacent buckets merged until every expected count is at least 5;
* quantiles (p50, p95) from histogram buckets: interpolated exactly like PromQL's
  ``histogram_quantile``; interval and p-value from a parametric bootstrap that resamples each
  variant's bucket counts from a multinomial distribution;
* means (ratings): Welch's t-test and Welch-Satterthwaite interval;
* mixes of categories (error types, finish reasons): Pearson's chi-square test of homogeneity,
  rare categories merged until every expected count is at least 5;
* NPS: the variance of the multinomial promoter/passive/detractor counts (exact for a difference
  of means of scores +100/0/-100), z-test and normal interval.

numpy and scipy are imported inside the functions: importing this module (for
:class:`Comparison`) costs nothing without the ``report`` extra.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

ALPHA = 0.05
NO_DIFFERENCE = "no significant difference"
NOT_TESTED = "not tested"
# The verdicts that claim a difference; holm() withdraws them when the adjusted p-value is too high.
SIGNIFICANT = ("b higher", "b lower", "distributions differ")
NPS_GROUPS = ("promoter", "passive", "detractor")
NPS_RANGE = (-100.0, 100.0)
# The values a metric of these units can take; intervals never reach beyond them.
UNIT_RANGE = {"1": (0.0, 1.0), "NPS": NPS_RANGE}


@dataclass(frozen=True)
class Comparison:
    """One metric of an A/B comparison: both values, the difference b - a, its interval, test and verdict."""

    metric: str
    unit: str
    a: float | None
    b: float | None
    n_a: int
    n_b: int
    difference: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    p_adjusted: float | None
    method: str
    verdict: str
    better: str | None


def _level(alpha: float) -> str:
    return f"{(1 - alpha) * 100:g} % CI"


def _not_enough(rule: str, n_a: int, n_b: int) -> str:
    return f"not enough data (needs {rule}, has a: {n_a}, b: {n_b})"


def _verdict(
    p_value: float | None, alpha: float, direction: float, higher_is_better: bool | None
) -> tuple[str, str | None]:
    """The verdict and the better variant for a test result; ``direction`` > 0 means b is higher."""
    if p_value is None or not p_value < alpha:
        return NO_DIFFERENCE, None
    if direction == 0:
        return "distributions differ", None
    b_higher = direction > 0
    better = None if higher_is_better is None else ("b" if b_higher == higher_is_better else "a")
    return ("b higher" if b_higher else "b lower"), better


def _untested(
    metric: str,
    unit: str,
    a: float | None,
    b: float | None,
    n_a: int,
    n_b: int,
    difference: float | None,
    ci: tuple[float, float] | None,
    method: str,
    verdict: str,
) -> Comparison:
    """A comparison without a test (too little data): no p-value, so it is not part of Holm's family either."""
    return Comparison(metric, unit, a, b, n_a, n_b, difference, ci, None, None, method, verdict, None)


def _counts(values: Sequence[float], name: str) -> list[int]:
    out = []
    for value in values:
        if not math.isfinite(value) or value < 0 or value != int(value):
            raise ValueError(f"{name} must hold whole, non-negative counts; got {value!r}")
        out.append(int(value))
    return out


# --- proportions ---------------------------------------------------------------------------------


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for x successes in n trials (no continuity correction)."""
    if n <= 0:
        raise ValueError("wilson needs n > 0")
    z2 = z * z
    centre = (x + z2 / 2) / (n + z2)
    half = z * math.sqrt(x * (n - x) / n + z2 / 4) / (n + z2)
    # At x = 0 or x = n the bound is exactly 0 or 1; rounding must not push it outside [0, 1].
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x_a: int, n_a: int, x_b: int, n_b: int, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for the difference x_b/n_b - x_a/n_a."""
    p_a, p_b = x_a / n_a, x_b / n_b
    l_a, u_a = wilson(x_a, n_a, z)
    l_b, u_b = wilson(x_b, n_b, z)
    d = p_b - p_a
    return d - math.hypot(p_b - l_b, u_a - p_a), d + math.hypot(u_b - p_b, p_a - l_a)


def two_proportions(
    x_a: int,
    n_a: int,
    x_b: int,
    n_b: int,
    *,
    metric: str,
    unit: str = "1",
    higher_is_better: bool | None = True,
    alpha: float = ALPHA,
    min_n: int = 30,
    min_events: int = 5,
    noun: str = "calls",
) -> Comparison:
    """Compare x_a/n_a with x_b/n_b: pooled z-test (Fisher's exact test for small expected cells), Newcombe CI."""
    from scipy import stats

    x_a, n_a, x_b, n_b = _counts((x_a, n_a, x_b, n_b), "two_proportions counts")
    if x_a > n_a or x_b > n_b:
        raise ValueError(f"events exceed trials: {x_a}/{n_a}, {x_b}/{n_b}")
    rule = f"≥ {min_n} {noun} per variant and ≥ {min_events} events and non-events over both"
    a = x_a / n_a if n_a else None
    b = x_b / n_b if n_b else None
    z = float(stats.norm.ppf(1 - alpha / 2))
    ci = newcombe(x_a, n_a, x_b, n_b, z) if n_a and n_b else None
    difference = b - a if a is not None and b is not None else None
    interval = f"{_level(alpha)}: Newcombe hybrid score (Wilson)"
    events, non_events = x_a + x_b, (n_a - x_a) + (n_b - x_b)
    if min(n_a, n_b) < min_n or min(events, non_events) < min_events:
        verdict = _not_enough(rule, n_a, n_b)
        if min(n_a, n_b) >= min_n:
            verdict = f"not enough data (needs {rule}, has {events} events and {non_events} non-events)"
        method = f"two-proportion test not run; {interval}; minimum: {rule}"
        return _untested(metric, unit, a, b, n_a, n_b, difference, ci, method, verdict)
    assert a is not None and b is not None and difference is not None
    total = n_a + n_b
    # Expected cells of the 2x2 table under "same proportion": the normal approximation needs ≥ 5.
    smallest_expected = min(n_a, n_b) * min(events, non_events) / total
    if smallest_expected < 5:
        p_value = float(stats.fisher_exact([[x_a, n_a - x_a], [x_b, n_b - x_b]]).pvalue)
        test = "Fisher's exact test (an expected cell < 5)"
    else:
        pooled = events / total
        se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        p_value = float(2 * stats.norm.sf(abs(difference) / se))
        test = "two-proportion z-test (pooled variance)"
    p_value = min(1.0, p_value)
    verdict, better = _verdict(p_value, alpha, difference, higher_is_better)
    method = f"{test}; {interval}; minimum: {rule}"
    return Comparison(metric, unit, a, b, n_a, n_b, difference, ci, p_value, p_value, method, verdict, better)


# --- histograms ----------------------------------------------------------------------------------


def _check_histogram(bounds: Sequence[float], counts: Sequence[float], name: str) -> list[int]:
    if len(bounds) < 1:
        raise ValueError("a histogram needs at least one finite bucket bound")
    if any(not math.isfinite(bound) for bound in bounds) or any(
        lower >= upper for lower, upper in itertools.pairwise(bounds)
    ):
        raise ValueError(f"bucket bounds must be finite and strictly increasing; got {list(bounds)!r}")
    if len(counts) != len(bounds) + 1:
        raise ValueError(f"{name} needs {len(bounds) + 1} per-bucket counts (the last for +Inf); got {len(counts)}")
    return _counts(counts, name)


def _quantiles(q: float, bounds: npt.NDArray[np.float64], counts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """PromQL's histogram_quantile for each row of per-bucket ``counts`` (rows x (len(bounds) + 1))."""
    import numpy as np

    cumulative = np.cumsum(counts, axis=1, dtype=np.float64)
    rows = np.arange(cumulative.shape[0])
    last = cumulative.shape[1] - 1  # the +Inf bucket
    observations = cumulative[:, last]
    rank = q * observations
    # sort.Search over the finite buckets: the first whose cumulative count reaches the rank, else +Inf.
    reached = cumulative[:, :last] >= rank[:, None]
    bucket = np.where(reached.any(axis=1), reached.argmax(axis=1), last)
    upper = np.append(bounds, np.inf)
    lower = np.concatenate(([0.0], bounds))  # below the first bucket PromQL assumes a natural lower bound of 0
    below = np.where(bucket > 0, cumulative[rows, np.maximum(bucket - 1, 0)], 0.0)
    in_bucket = cumulative[rows, bucket] - below
    with np.errstate(divide="ignore", invalid="ignore"):
        value = lower[bucket] + (upper[bucket] - lower[bucket]) * ((rank - below) / in_bucket)
    value = np.where(bucket == last, bounds[-1], value)  # in +Inf: the highest finite bound
    value = np.where((bucket == 0) & (bounds[0] <= 0), bounds[0], value)
    return np.where(observations > 0, value, np.nan)


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """PromQL's ``histogram_quantile(q, …)`` of per-bucket counts (len(bounds) + 1, +Inf last); NaN when empty."""
    import numpy as np

    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1]; got {q!r}")
    checked = _check_histogram(bounds, counts, "counts")
    result = _quantiles(q, np.asarray(bounds, dtype=np.float64), np.asarray([checked], dtype=np.int64))
    return float(result[0])


def _bootstrap(
    q: float,
    bounds: npt.NDArray[np.float64],
    counts_a: npt.NDArray[np.int64],
    counts_b: npt.NDArray[np.int64],
    seed: int,
    resamples: int,
) -> npt.NDArray[np.float64]:
    """Bootstrap replicates of quantile_b - quantile_a, bucket counts resampled multinomially per variant."""
    import numpy as np

    rng = np.random.default_rng(seed)
    replicates = []
    for counts in (counts_a, counts_b):
        total = int(counts.sum())
        sample = rng.multinomial(total, counts / total, size=resamples)
        replicates.append(_quantiles(q, bounds, sample))
    difference: npt.NDArray[np.float64] = replicates[1] - replicates[0]
    return difference


def _bootstrap_p(observed: float, replicates: npt.NDArray[np.float64]) -> float:
    """Two-sided bootstrap p-value: twice the share of replicates on the other side of 0 (ties count against)."""
    if observed == 0:
        return 1.0
    other_side = replicates <= 0 if observed > 0 else replicates >= 0
    return float(min(1.0, max(2 * float(other_side.mean()), 1 / len(replicates))))


def _interval(replicates: npt.NDArray[np.float64], alpha: float) -> tuple[float, float]:
    import numpy as np

    low, high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _needed(q: float, min_n: int, min_tail: int) -> int:
    """Calls per variant for a q-quantile: n·min(q, 1 - q) ≥ min_tail (p95: 100), and at least min_n."""
    share = min(q, 1 - q)
    # round() first: 5 / (1 - 0.95) is 99.99999999999991 in floating point, and the rule means 100.
    return max(min_n, math.ceil(round(min_tail / share, 9))) if share > 0 else min_n


def _percentile_name(q: float) -> str:
    return f"p{q * 100:g}"


def quantile_difference(
    bounds: Sequence[float],
    counts_a: Sequence[float],
    counts_b: Sequence[float],
    q: float,
    *,
    metric: str,
    unit: str = "s",
    seed: int = 0,
    resamples: int = 2000,
    min_tail: int = 5,
    min_n: int = 30,
    alpha: float = ALPHA,
    higher_is_better: bool | None = False,
    noun: str = "calls",
) -> Comparison:
    """Compare the q-quantiles of two histograms (PromQL interpolation) with a parametric bootstrap CI and test."""
    import numpy as np

    if not 0 < q < 1:
        raise ValueError(f"q must be strictly between 0 and 1; got {q!r}")
    checked_a = _check_histogram(bounds, counts_a, "counts_a")
    checked_b = _check_histogram(bounds, counts_b, "counts_b")
    n_a, n_b = sum(checked_a), sum(checked_b)
    edges = np.asarray(bounds, dtype=np.float64)
    array_a, array_b = np.asarray(checked_a, dtype=np.int64), np.asarray(checked_b, dtype=np.int64)
    a = float(_quantiles(q, edges, array_a[None, :])[0]) if n_a else None
    b = float(_quantiles(q, edges, array_b[None, :])[0]) if n_b else None
    difference = b - a if a is not None and b is not None else None
    needed = _needed(q, min_n, min_tail)
    rule = f"≥ {needed} {noun} per variant"
    if needed > min_n:
        # Say why a high quantile needs more: enough observations beyond it to place it at all.
        rule += f" (n·{min(q, 1 - q):.2g} ≥ {min_tail} for {_percentile_name(q)})"
    bootstrap = (
        f"{_level(alpha)} and p-value: parametric bootstrap, {resamples} multinomial resamples of the bucket counts"
    )
    estimator = "quantiles interpolated in the bucket like PromQL histogram_quantile"
    notes = []
    if (n_a and checked_a[-1] > n_a * (1 - q)) or (n_b and checked_b[-1] > n_b * (1 - q)):
        notes.append("a quantile lies in the +Inf bucket: its value is the highest finite bound, a lower bound")
    if not n_a or not n_b:
        verdict = _not_enough(rule, n_a, n_b)
        method = "; ".join([estimator, "no test", *notes, f"minimum: {rule}"])
        return _untested(metric, unit, a, b, n_a, n_b, difference, None, method, verdict)
    assert a is not None and b is not None and difference is not None
    replicates = _bootstrap(q, edges, array_a, array_b, seed, resamples)
    ci = _interval(replicates, alpha)
    if min(n_a, n_b) < needed:
        method = "; ".join([estimator, f"{_level(alpha)}: parametric bootstrap; no test", *notes, f"minimum: {rule}"])
        return _untested(metric, unit, a, b, n_a, n_b, difference, ci, method, _not_enough(rule, n_a, n_b))
    p_value = _bootstrap_p(difference, replicates)
    verdict, better = _verdict(p_value, alpha, difference, higher_is_better)
    method = "; ".join([estimator, bootstrap, *notes, f"minimum: {rule}"])
    return Comparison(metric, unit, a, b, n_a, n_b, difference, ci, p_value, p_value, method, verdict, better)


def merge_buckets(counts_a: Sequence[int], counts_b: Sequence[int], min_expected: float = 5.0) -> list[tuple[int, int]]:
    """Adjacent buckets merged, lowest first, until every expected count under homogeneity is ≥ ``min_expected``."""
    n_a, n_b = sum(counts_a), sum(counts_b)
    total = n_a + n_b
    groups: list[tuple[int, int]] = []
    pending = (0, 0)
    for count_a, count_b in zip(counts_a, counts_b, strict=True):
        pending = (pending[0] + count_a, pending[1] + count_b)
        # The expected count of the smaller row is the binding one: column total x smaller row / total.
        if total and sum(pending) * min(n_a, n_b) / total >= min_expected:
            groups.append(pending)
            pending = (0, 0)
    if sum(pending):
        # A short tail joins the group before it (or is the only group).
        if groups:
            last = groups.pop()
            pending = (last[0] + pending[0], last[1] + pending[1])
        groups.append(pending)
    return groups


def _superiority(counts_a: Sequence[int], counts_b: Sequence[int]) -> float:
    """P(b > a) + P(same bucket)/2 from bucket counts: the direction of a difference between two distributions."""
    n_a, n_b = sum(counts_a), sum(counts_b)
    below = 0
    total = 0.0
    for count_a, count_b in zip(counts_a, counts_b, strict=True):
        total += count_b * (below + count_a / 2)
        below += count_a
    return total / (n_a * n_b)


def histogram_test(
    bounds: Sequence[float],
    counts_a: Sequence[float],
    counts_b: Sequence[float],
    *,
    metric: str,
    unit: str = "s",
    min_n: int = 30,
    alpha: float = ALPHA,
    seed: int = 0,
    resamples: int = 2000,
    higher_is_better: bool | None = False,
    noun: str = "calls",
) -> Comparison:
    """Compare two histograms: chi-square test of homogeneity on merged buckets; medians with a bootstrap CI."""
    import numpy as np
    from scipy import stats

    checked_a = _check_histogram(bounds, counts_a, "counts_a")
    checked_b = _check_histogram(bounds, counts_b, "counts_b")
    n_a, n_b = sum(checked_a), sum(checked_b)
    edges = np.asarray(bounds, dtype=np.float64)
    array_a, array_b = np.asarray(checked_a, dtype=np.int64), np.asarray(checked_b, dtype=np.int64)
    a = float(_quantiles(0.5, edges, array_a[None, :])[0]) if n_a else None
    b = float(_quantiles(0.5, edges, array_b[None, :])[0]) if n_b else None
    difference = b - a if a is not None and b is not None else None
    rule = f"≥ {min_n} {noun} per variant"
    medians = f"values: medians (PromQL interpolation), {_level(alpha)} of their difference by parametric bootstrap"
    if not n_a or not n_b:
        method = f"chi-square test not run; {medians}; minimum: {rule}"
        return _untested(metric, unit, a, b, n_a, n_b, difference, None, method, _not_enough(rule, n_a, n_b))
    assert a is not None and b is not None and difference is not None
    ci = _interval(_bootstrap(0.5, edges, array_a, array_b, seed, resamples), alpha)
    if min(n_a, n_b) < min_n:
        method = f"chi-square test not run; {medians}; minimum: {rule}"
        return _untested(metric, unit, a, b, n_a, n_b, difference, ci, method, _not_enough(rule, n_a, n_b))
    groups = merge_buckets(checked_a, checked_b)
    if len(groups) < 2:
        # One merged bucket: both rows are proportional by construction, the statistic is 0.
        p_value = 1.0
    else:
        observed = np.asarray(groups, dtype=np.float64).T  # 2 x groups
        expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
        statistic = float(((observed - expected) ** 2 / expected).sum())
        p_value = float(stats.chi2.sf(statistic, len(groups) - 1))
    superiority = _superiority(checked_a, checked_b)
    verdict, better = _verdict(p_value, alpha, superiority - 0.5, higher_is_better)
    method = (
        f"Pearson chi-square test of homogeneity on {len(groups)} buckets (adjacent buckets merged until every "
        f"expected count ≥ 5); direction: P(b > a) = {superiority:.2f} from the buckets; {medians}; minimum: {rule}"
    )
    return Comparison(metric, unit, a, b, n_a, n_b, difference, ci, p_value, p_value, method, verdict, better)


def category_test(
    counts_a: Mapping[str, float],
    counts_b: Mapping[str, float],
    *,
    metric: str,
    alpha: float = ALPHA,
    min_n: int = 30,
    noun: str = "calls",
) -> Comparison:
    """Compare two mixes of categories (error types, finish reasons): chi-square test of homogeneity.

    Categories are ordered from the most to the least common overall, and the rare ones merged with
    their neighbours until every expected count is ≥ 5 (as :func:`merge_buckets` does for buckets).
    The values shown are the shares, in a and in b, of the category whose share moved most.
    """
    from scipy import stats

    names = sorted(set(counts_a) | set(counts_b), key=lambda k: (-(counts_a.get(k, 0) + counts_b.get(k, 0)), k))
    checked_a = _counts([counts_a.get(k, 0) for k in names], "counts_a")
    checked_b = _counts([counts_b.get(k, 0) for k in names], "counts_b")
    n_a, n_b = sum(checked_a), sum(checked_b)
    rule = f"≥ {min_n} {noun} per variant"
    unit = "1"
    moved, a, b = "", None, None
    if n_a and n_b:
        shifts = [(abs(x_b / n_b - x_a / n_a), name, x_a / n_a, x_b / n_b)
                  for name, x_a, x_b in zip(names, checked_a, checked_b, strict=True)]  # fmt: skip
        _, moved, a, b = max(shifts, key=lambda item: (item[0], item[1]))
    difference = b - a if a is not None and b is not None else None
    shares = f"values: share of {moved!r}, the category whose share moved most" if moved else "values: shares"
    if min(n_a, n_b) < min_n or difference is None:
        method = f"chi-square test not run; {shares}; minimum: {rule}"
        return _untested(metric, unit, a, b, n_a, n_b, difference, None, method, _not_enough(rule, n_a, n_b))
    groups = merge_buckets(checked_a, checked_b)
    if len(groups) < 2:
        p_value = 1.0
    else:
        table = [[group[0] for group in groups], [group[1] for group in groups]]
        p_value = float(stats.chi2_contingency(table, correction=False).pvalue)
    verdict, better = _verdict(p_value, alpha, 0.0, None)
    method = (
        f"Pearson chi-square test of homogeneity on {len(groups)} categories of {len(names)} (rarest merged until "
        f"every expected count ≥ 5); {shares}; minimum: {rule}"
    )
    return Comparison(metric, unit, a, b, n_a, n_b, difference, None, p_value, p_value, method, verdict, better)


# --- means and NPS -------------------------------------------------------------------------------


def _moments(values: Mapping[float, int], name: str) -> tuple[int, float, float]:
    """Count, mean and sample variance (n - 1) of value → count."""
    counts = dict(zip(values, _counts(list(values.values()), name), strict=True))
    n = sum(counts.values())
    if not n:
        return 0, math.nan, math.nan
    mean = sum(value * count for value, count in counts.items()) / n
    variance = sum(count * (value - mean) ** 2 for value, count in counts.items()) / (n - 1) if n > 1 else math.nan
    return n, mean, variance


def mean_difference(
    values_a: Mapping[float, int],
    values_b: Mapping[float, int],
    *,
    metric: str,
    unit: str,
    higher_is_better: bool | None,
    alpha: float = ALPHA,
    min_n: int = 30,
    noun: str = "ratings",
) -> Comparison:
    """Compare the means of two samples given as value → count: Welch's t-test and Welch-Satterthwaite CI."""
    from scipy import stats

    n_a, mean_a, var_a = _moments(values_a, "values_a")
    n_b, mean_b, var_b = _moments(values_b, "values_b")
    a = mean_a if n_a else None
    b = mean_b if n_b else None
    difference = b - a if a is not None and b is not None else None
    rule = f"≥ {min_n} {noun} per variant"
    test = f"Welch's t-test; {_level(alpha)}: Welch-Satterthwaite"
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    degenerate = False
    if n_a > 1 and n_b > 1 and difference is not None:
        variance = var_a / n_a + var_b / n_b
        if variance == 0:
            # Every answer the same within each variant: the difference is known exactly.
            degenerate = True
            ci = (difference, difference)
            p_value = 1.0 if difference == 0 else 0.0
        else:
            se = math.sqrt(variance)
            df = variance**2 / ((var_a / n_a) ** 2 / (n_a - 1) + (var_b / n_b) ** 2 / (n_b - 1))
            half = float(stats.t.ppf(1 - alpha / 2, df)) * se
            ci = (difference - half, difference + half)
            p_value = float(2 * stats.t.sf(abs(difference) / se, df))
    if min(n_a, n_b) < min_n or p_value is None or difference is None:
        method = f"{test} (not run); minimum: {rule}"
        return _untested(metric, unit, a, b, n_a, n_b, difference, ci, method, _not_enough(rule, n_a, n_b))
    if degenerate:
        test += " (no variance in either variant: the difference is exact)"
    verdict, better = _verdict(p_value, alpha, difference, higher_is_better)
    return Comparison(
        metric, unit, a, b, n_a, n_b, difference, ci, p_value, p_value, f"{test}; minimum: {rule}", verdict, better
    )


def _nps(counts: Mapping[str, int], name: str) -> tuple[int, float, float]:
    """Answers, NPS and the variance of one answer's score (+100 / 0 / -100) of promoter/passive/detractor counts."""
    unknown = sorted(set(counts) - set(NPS_GROUPS))
    if unknown:
        raise ValueError(f"{name}: unknown NPS group(s) {', '.join(unknown)}; allowed: {', '.join(NPS_GROUPS)}")
    promoters, passives, detractors = _counts([counts.get(group, 0) for group in NPS_GROUPS], name)
    n = promoters + passives + detractors
    if not n:
        return 0, math.nan, math.nan
    share_p, share_d = promoters / n, detractors / n
    return n, 100 * (share_p - share_d), 100**2 * (share_p + share_d - (share_p - share_d) ** 2)


def nps_difference(
    counts_a: Mapping[str, int],
    counts_b: Mapping[str, int],
    *,
    metric: str = "NPS",
    unit: str = "NPS",
    alpha: float = ALPHA,
    min_n: int = 30,
    noun: str = "NPS answers",
) -> Comparison:
    """Compare two NPS (100 * (promoters - detractors) / answers): multinomial variance, z-test and normal CI."""
    from scipy import stats

    n_a, nps_a, var_a = _nps(counts_a, "counts_a")
    n_b, nps_b, var_b = _nps(counts_b, "counts_b")
    a = nps_a if n_a else None
    b = nps_b if n_b else None
    difference = b - a if a is not None and b is not None else None
    rule = f"≥ {min_n} {noun} per variant"
    test = f"z-test on the NPS difference, variance of the multinomial counts; {_level(alpha)}: normal"
    if difference is None:
        method = f"{test} (not run); minimum: {rule}"
        return _untested(metric, unit, a, b, n_a, n_b, None, None, method, _not_enough(rule, n_a, n_b))
    variance = var_a / n_a + var_b / n_b
    if variance == 0:
        ci = (difference, difference)
        p_value = 1.0 if difference == 0 else 0.0
    else:
        se = math.sqrt(variance)
        half = float(stats.norm.ppf(1 - alpha / 2)) * se
        # The normal interval ignores that each NPS lies in [-100, 100]; their difference lies in [-200, 200].
        low, high = NPS_RANGE
        ci = _within((difference - half, difference + half), low - high, high - low)
        p_value = float(2 * stats.norm.sf(abs(difference) / se))
    if min(n_a, n_b) < min_n:
        method = f"{test} (not run); minimum: {rule}"
        return _untested(metric, unit, a, b, n_a, n_b, difference, ci, method, _not_enough(rule, n_a, n_b))
    verdict, better = _verdict(p_value, alpha, difference, True)
    method = f"{test}; minimum: {rule}"
    return Comparison(metric, unit, a, b, n_a, n_b, difference, ci, p_value, p_value, method, verdict, better)


def _within(interval: tuple[float, float], low: float, high: float) -> tuple[float, float]:
    return min(max(interval[0], low), high), min(max(interval[1], low), high)


def level_interval(comparison: Comparison) -> tuple[float, float] | None:
    """The range of b's level the interval of b - a implies (a + CI), within the values the unit can take."""
    if comparison.a is None or comparison.ci is None:
        return None
    interval = (comparison.a + comparison.ci[0], comparison.a + comparison.ci[1])
    # A normal interval near a bound (all promoters, a ratio near 100 %) reaches past it: the level cannot.
    bounds = UNIT_RANGE.get(comparison.unit)
    return _within(interval, *bounds) if bounds else interval


# --- the family ----------------------------------------------------------------------------------


def holm(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm-Bonferroni over every comparison with a p-value: fills p_adjusted, withdraws verdicts that fail it.

    Holm only raises p-values, so a verdict computed at the same ``alpha`` can only be withdrawn,
    never created; comparisons without a test (``p_value is None``) keep their verdict.
    """
    tested = sorted((c.p_value, index) for index, c in enumerate(comparisons) if c.p_value is not None)
    m = len(tested)
    adjusted: dict[int, float] = {}
    running = 0.0
    for rank, (p_value, index) in enumerate(tested):
        # Step-down: the k-th smallest p is multiplied by (m - k), and adjusted p-values never decrease.
        running = max(running, min(1.0, (m - rank) * p_value))
        adjusted[index] = running
    out = []
    for index, comparison in enumerate(comparisons):
        if index not in adjusted:
            out.append(replace(comparison, p_adjusted=None))
            continue
        p_adjusted = adjusted[index]
        if comparison.verdict in SIGNIFICANT and not p_adjusted < alpha:
            out.append(replace(comparison, p_adjusted=p_adjusted, verdict=NO_DIFFERENCE, better=None))
        else:
            out.append(replace(comparison, p_adjusted=p_adjusted))
    return out
