# SPDX-License-Identifier: Apache-2.0
"""The A/B statistics against published examples, hand computations, a second method, and simulations."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from otel_llmperf.instruments import DURATION_BUCKETS
from otel_llmperf.report.stats import (
    Comparison,
    histogram_quantile,
    histogram_test,
    holm,
    level_interval,
    mean_difference,
    merge_buckets,
    newcombe,
    nps_difference,
    quantile_difference,
    two_proportions,
    wilson,
)

Z95 = 1.959963984540054
NO = "no significant difference"
BOUNDS = list(DURATION_BUCKETS)


def significant(comparison: Comparison) -> bool:
    return comparison.verdict in ("b higher", "b lower", "distributions differ")


def latency_histogram(rng: np.random.Generator, n: int, median: float, sigma: float = 0.6) -> list[int]:
    """Per-bucket counts of n log-normal latencies, bucketed like Prometheus (le is inclusive)."""
    values = rng.lognormal(math.log(median), sigma, n)
    index = np.searchsorted(BOUNDS, values, side="left")
    return [int(c) for c in np.bincount(index, minlength=len(BOUNDS) + 1)]


# --- proportions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", method 3 (Wilson).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_matches_newcombe_1998(x: int, n: int, low: float, high: float) -> None:
    assert wilson(x, n, Z95) == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    # Newcombe (1998), "Interval estimation for the difference between independent proportions",
    # Table II, method 10 (hybrid score, no continuity correction), for theta1 - theta2.
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0),
    ],
)
def test_newcombe_interval_matches_the_paper(x1: int, n1: int, x2: int, n2: int, low: float, high: float) -> None:
    # Our difference is b - a, so theta1 is variant b.
    assert newcombe(x2, n2, x1, n1, Z95) == pytest.approx((low, high), abs=5e-5)


def test_two_proportions_newcombe_worked_example() -> None:
    # 56/70 vs 48/80: difference 0.2, Newcombe 0.0524-0.3339; here a is the 48/80 arm.
    result = two_proportions(48, 80, 56, 70, metric="Thumbs-up ratio")
    assert result.a == pytest.approx(0.6) and result.b == pytest.approx(0.8)
    assert result.difference == pytest.approx(0.2)
    assert result.ci == pytest.approx((0.0524, 0.3339), abs=5e-5)


def test_z_test_agrees_with_pearson_chi_square() -> None:
    # Pooled two-proportion z-test: z² is Pearson's chi-square of the 2x2 table (a second method).
    x_a, n_a, x_b, n_b = 120, 1000, 150, 1000
    result = two_proportions(x_a, n_a, x_b, n_b, metric="Error rate", higher_is_better=False)
    chi2, p, _, _ = stats.chi2_contingency([[x_a, n_a - x_a], [x_b, n_b - x_b]], correction=False)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    # By hand: pooled 0.135, se = sqrt(0.135·0.865·0.002) = 0.015283, z = 0.03 / se = 1.9630.
    assert math.sqrt(chi2) == pytest.approx(1.9630, abs=1e-4)
    assert result.p_value == pytest.approx(0.0496, abs=1e-4)
    assert result.verdict == "b higher" and result.better == "a"  # more errors in b: a is better
    assert "z-test (pooled variance)" in result.method


def test_fisher_exact_for_small_expected_cells_lady_tasting_tea() -> None:
    # Fisher's tea-tasting table [[3, 1], [1, 3]]: two-sided p = 17/35.
    result = two_proportions(1, 4, 3, 4, metric="t", min_n=4, min_events=1)
    assert "Fisher's exact test" in result.method
    assert result.p_value == pytest.approx(17 / 35)
    assert result.verdict == NO


def test_fisher_exact_for_rare_events_by_hand() -> None:
    # 0/200 vs 6/200 errors: expected cells of 3 → Fisher. The hypergeometric is symmetric here,
    # so the two-sided p is P(0 in a) + P(6 in a) = 2·C(200, 6)/C(400, 6).
    result = two_proportions(0, 200, 6, 200, metric="Error rate", higher_is_better=False)
    assert "Fisher" in result.method
    assert result.p_value == pytest.approx(2 * math.comb(200, 6) / math.comb(400, 6), rel=1e-9)
    assert result.verdict == "b higher" and result.better == "a"


def test_two_proportions_minimum_sizes() -> None:
    few = two_proportions(3, 12, 20, 40, metric="Thumbs-up ratio", noun="thumbs")
    assert few.verdict == (
        "not enough data (needs ≥ 30 thumbs per variant and ≥ 5 events and non-events over both, has a: 12, b: 40)"
    )
    assert few.p_value is None and few.p_adjusted is None and few.better is None
    # The values and the interval are still reported.
    assert few.a == 0.25 and few.b == 0.5 and few.ci is not None
    rare = two_proportions(0, 100, 2, 100, metric="Error rate", higher_is_better=False)
    assert rare.verdict.startswith("not enough data") and "has 2 events" in rare.verdict
    none = two_proportions(0, 0, 5, 50, metric="Error rate")
    assert none.a is None and none.difference is None and none.ci is None
    assert none.verdict.startswith("not enough data") and "a: 0" in none.verdict


def test_two_proportions_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="exceed"):
        two_proportions(5, 4, 1, 10, metric="x")
    with pytest.raises(ValueError, match="whole"):
        two_proportions(1.5, 4, 1, 10, metric="x")  # type: ignore[arg-type]


# --- histogram quantiles -------------------------------------------------------------------------


def test_histogram_quantile_by_hand() -> None:
    # Buckets (0,1] 10, (1,2] 20, (2,4] 10: rank 20 is 10 into the 20 of (1,2] → 1.5.
    assert histogram_quantile(0.5, [1, 2, 4], [10, 20, 10, 0]) == 1.5
    # p95 rank 38: 8 into the 10 of (2,4] → 2 + 2·0.8.
    assert histogram_quantile(0.95, [1, 2, 4], [10, 20, 10, 0]) == pytest.approx(3.6)
    # Lowest bucket interpolates from 0: rank 5 of 10 → 0.5.
    assert histogram_quantile(0.125, [1, 2, 4], [10, 20, 10, 0]) == pytest.approx(0.5)
    # In +Inf: PromQL answers the highest finite bound.
    assert histogram_quantile(0.5, [1, 2, 4], [1, 0, 0, 5]) == 4.0
    # A lowest bound ≤ 0 is returned as is (feedback scores: le="0").
    assert histogram_quantile(0.5, [0, 1, 2], [6, 2, 2, 0]) == 0.0
    assert math.isnan(histogram_quantile(0.5, [1, 2], [0, 0, 0]))


def test_histogram_quantile_is_the_inverse_of_the_interpolated_cdf() -> None:
    # Second method: PromQL's quantile inverts the piecewise-linear CDF through (bound, cumulative share).
    rng = np.random.default_rng(3)
    bounds = [0.5, 1.0, 2.0, 3.0, 5.0, 8.0]
    for _ in range(50):
        counts = [*rng.integers(1, 50, size=len(bounds)).tolist(), 0]
        cdf = np.concatenate(([0.0], np.cumsum(counts[:-1]) / sum(counts)))
        for q in (0.1, 0.5, 0.9, 0.95, 0.99):
            expected = float(np.interp(q, cdf, [0.0, *bounds]))
            assert histogram_quantile(q, bounds, counts) == pytest.approx(expected, rel=1e-12)


def test_histogram_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="per-bucket counts"):
        histogram_quantile(0.5, [1, 2], [1, 2])
    with pytest.raises(ValueError, match="increasing"):
        histogram_quantile(0.5, [2, 1], [1, 2, 0])


# --- quantile difference (bootstrap) -------------------------------------------------------------


def test_quantile_difference_is_reproducible_with_a_seed() -> None:
    rng = np.random.default_rng(11)
    counts_a, counts_b = latency_histogram(rng, 400, 0.8), latency_histogram(rng, 400, 1.0)
    one = quantile_difference(BOUNDS, counts_a, counts_b, 0.95, metric="Duration p95", seed=5)
    two = quantile_difference(BOUNDS, counts_a, counts_b, 0.95, metric="Duration p95", seed=5)
    other = quantile_difference(BOUNDS, counts_a, counts_b, 0.95, metric="Duration p95", seed=6)
    assert one == two
    assert one.ci != other.ci
    assert one.a == histogram_quantile(0.95, BOUNDS, counts_a)
    assert one.b == histogram_quantile(0.95, BOUNDS, counts_b)


def test_quantile_bootstrap_interval_covers_the_true_difference() -> None:
    # Populations given by bucket probabilities with values uniform inside each bucket: their true
    # quantile is exactly the interpolated one, computed here by inverting the CDF (a second method).
    bounds = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2]
    p_a = np.array([0.05, 0.15, 0.30, 0.30, 0.12, 0.06, 0.02])
    p_b = np.array([0.03, 0.10, 0.27, 0.33, 0.17, 0.08, 0.02])

    def true_quantile(p: np.ndarray, q: float) -> float:
        cdf = np.concatenate(([0.0], np.cumsum(p[:-1])))
        return float(np.interp(q, cdf, [0.0, *bounds]))

    truth = true_quantile(p_b, 0.9) - true_quantile(p_a, 0.9)
    rng = np.random.default_rng(2024)
    covered = 0
    runs = 100
    for seed in range(runs):
        counts_a, counts_b = rng.multinomial(500, p_a).tolist(), rng.multinomial(500, p_b).tolist()
        result = quantile_difference(bounds, counts_a, counts_b, 0.9, metric="p90", seed=seed, resamples=1000)
        assert result.ci is not None
        covered += result.ci[0] <= truth <= result.ci[1]
    # Nominal 95 %: 88 of 100 is three binomial standard deviations below.
    assert covered >= 88


def test_quantile_difference_detects_a_clear_difference() -> None:
    rng = np.random.default_rng(8)
    result = quantile_difference(
        BOUNDS, latency_histogram(rng, 500, 1.0), latency_histogram(rng, 500, 0.5), 0.95, metric="Duration p95"
    )
    assert result.verdict == "b lower" and result.better == "b"
    assert result.p_value is not None and result.p_value < 0.01
    assert result.ci is not None and result.ci[1] < 0


def test_quantile_minimum_sizes() -> None:
    rng = np.random.default_rng(9)
    small = quantile_difference(
        BOUNDS, latency_histogram(rng, 99, 1.0), latency_histogram(rng, 400, 0.5), 0.95, metric="Duration p95"
    )
    assert small.verdict.startswith("not enough data (needs ≥ 100 calls per variant") and "a: 99" in small.verdict
    assert small.p_value is None and small.ci is not None
    enough = quantile_difference(
        BOUNDS, latency_histogram(rng, 100, 1.0), latency_histogram(rng, 100, 1.0), 0.95, metric="Duration p95"
    )
    assert enough.p_value is not None
    p99 = quantile_difference(
        BOUNDS, latency_histogram(rng, 499, 1.0), latency_histogram(rng, 600, 1.0), 0.99, metric="Duration p99"
    )
    assert "≥ 500 calls" in p99.verdict
    median = quantile_difference(BOUNDS, [0] * 15, [1] * 15, 0.5, metric="p50")
    assert median.a is None and "≥ 30 calls" in median.verdict


def test_quantile_in_the_inf_bucket_is_flagged() -> None:
    counts = [0] * len(BOUNDS) + [200]
    result = quantile_difference(BOUNDS, counts, counts, 0.95, metric="p95")
    assert result.a == BOUNDS[-1] and result.difference == 0
    assert "+Inf bucket" in result.method and result.verdict == NO


# --- histogram test ------------------------------------------------------------------------------


def test_merge_buckets_by_hand() -> None:
    # n_a = n_b = 20: a column's expected count is half its total, so columns merge until the total is ≥ 10.
    counts_a = [1, 2, 6, 5, 3, 2, 1]
    counts_b = [0, 3, 4, 6, 4, 2, 1]
    # 1+0, +2+3 = 6 (< 10), +6+4 = 16 → group (9, 7); 5+6 = 11 → (5, 6); 3+4 = 7, +2+2 = 11 → (5, 6);
    # the tail 1+1 = 2 joins the group before it.
    assert merge_buckets(counts_a, counts_b) == [(9, 7), (5, 6), (6, 7)]


def test_histogram_test_agrees_with_scipy_on_the_merged_table() -> None:
    bounds = [1, 2, 3, 4, 5, 6]
    counts_a = [1, 2, 6, 5, 3, 2, 1]
    counts_b = [0, 3, 4, 6, 4, 2, 1]
    result = histogram_test(bounds, counts_a, counts_b, metric="d", min_n=20)
    _, p, dof, _ = stats.chi2_contingency([[9, 5, 6], [7, 6, 7]], correction=False)
    assert dof == 2
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert "3 buckets" in result.method
    assert result.a == histogram_quantile(0.5, bounds, counts_a)


def test_histogram_test_detects_a_shift_and_its_direction() -> None:
    rng = np.random.default_rng(4)
    result = histogram_test(BOUNDS, latency_histogram(rng, 300, 0.5), latency_histogram(rng, 300, 0.7), metric="d")
    assert result.verdict == "b higher" and result.better == "a"
    assert result.difference is not None and result.difference > 0
    assert result.ci is not None and result.ci[0] > 0


def test_histogram_test_minimum_and_single_bucket() -> None:
    few = histogram_test(BOUNDS, [0] * len(BOUNDS) + [29], [0] * len(BOUNDS) + [40], metric="d")
    assert few.verdict == "not enough data (needs ≥ 30 calls per variant, has a: 29, b: 40)"
    one_bucket = [0, 0, 50, *[0] * (len(BOUNDS) - 2)]
    same = histogram_test(BOUNDS, one_bucket, one_bucket, metric="d")
    assert same.p_value == 1.0 and same.verdict == NO


# --- means and NPS -------------------------------------------------------------------------------


def test_mean_difference_agrees_with_scipy_welch() -> None:
    ratings_a = {1: 4, 2: 6, 3: 10, 4: 12, 5: 8}
    ratings_b = {1: 1, 2: 3, 3: 8, 4: 15, 5: 13}
    result = mean_difference(ratings_a, ratings_b, metric="Mean rating", unit="score", higher_is_better=True)
    raw_a = np.repeat(list(ratings_a), list(ratings_a.values()))
    raw_b = np.repeat(list(ratings_b), list(ratings_b.values()))
    reference = stats.ttest_ind(raw_b, raw_a, equal_var=False)
    interval = reference.confidence_interval(0.95)
    assert result.a == pytest.approx(raw_a.mean()) and result.b == pytest.approx(raw_b.mean())
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.ci == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert result.verdict == "b higher" and result.better == "b"


def test_mean_difference_edge_cases() -> None:
    few = mean_difference({4: 10}, {5: 40}, metric="Mean rating", unit="score", higher_is_better=True)
    assert few.verdict == "not enough data (needs ≥ 30 ratings per variant, has a: 10, b: 40)"
    constant = mean_difference({4: 40}, {5: 40}, metric="Mean rating", unit="score", higher_is_better=True)
    assert constant.ci == (1.0, 1.0) and constant.p_value == 0.0 and constant.better == "b"
    missing = mean_difference({}, {5: 40}, metric="Mean rating", unit="score", higher_is_better=True)
    assert missing.a is None and missing.verdict.startswith("not enough data")


def test_nps_difference_by_hand() -> None:
    # a: 50 promoters, 30 passives, 20 detractors → NPS 30, score variance 10⁴·(0.7 - 0.3²) = 6100 → 61 per mean.
    # b: 60/25/15 → NPS 45, 10⁴·(0.75 - 0.45²) = 5475 → 54.75. se = √115.75 = 10.7587, z = 1.3942.
    result = nps_difference(
        {"promoter": 50, "passive": 30, "detractor": 20}, {"promoter": 60, "passive": 25, "detractor": 15}
    )
    assert (result.a, result.b, result.difference) == pytest.approx((30, 45, 15))
    assert result.ci == pytest.approx((15 - Z95 * 10.75872, 15 + Z95 * 10.75872), abs=1e-4)
    assert result.p_value == pytest.approx(0.16326, abs=1e-4)
    assert result.verdict == NO and result.n_a == 100


def test_nps_difference_checks_groups_and_sizes() -> None:
    with pytest.raises(ValueError, match="allowed: promoter, passive, detractor"):
        nps_difference({"promoters": 3}, {})
    few = nps_difference({"promoter": 10}, {"detractor": 50})
    assert few.verdict.startswith("not enough data (needs ≥ 30 NPS answers") and few.p_value is None
    clear = nps_difference({"promoter": 20, "detractor": 80}, {"promoter": 80, "detractor": 20})
    assert clear.verdict == "b higher" and clear.better == "b"


# --- Holm and the family ---------------------------------------------------------------------------


def _with_p(p: float | None, verdict: str = "b higher") -> Comparison:
    return Comparison("m", "1", 0.1, 0.2, 100, 100, 0.1, (0.0, 0.2), p, p, "test", verdict, "b" if p else None)


def test_holm_by_hand() -> None:
    # Sorted 0.005, 0.01, 0.03, 0.04 → times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06.
    family = [_with_p(0.01), _with_p(0.04), _with_p(None, "not enough data (x)"), _with_p(0.03), _with_p(0.005)]
    adjusted = holm(family)
    assert [c.p_adjusted for c in adjusted] == pytest.approx([0.03, 0.06, None, 0.06, 0.02])
    assert [c.verdict for c in adjusted] == ["b higher", NO, "not enough data (x)", NO, "b higher"]
    assert adjusted[1].better is None and adjusted[0].better == "b"
    assert [c.p_value for c in adjusted] == [c.p_value for c in family]
    assert holm(adjusted) == adjusted  # uses the raw p-values: idempotent


def test_identical_variants_are_not_called_different() -> None:
    # Identical populations, 100 seeded runs: each test should reject about 5 % of the time and the
    # Holm-adjusted family (what the report shows) at most 5 %. ≤ 10 of 100 is the bound a
    # calibrated test passes with ≈ 99 % probability whatever the seed, and a broken one fails.
    rng = np.random.default_rng(20261128)
    rejections = {"proportion": 0, "histogram": 0, "p50": 0, "p95": 0, "mean": 0, "nps": 0, "family": 0}
    for seed in range(100):
        n = 120
        family = [
            two_proportions(int(rng.binomial(n, 0.3)), n, int(rng.binomial(n, 0.3)), n, metric="ratio"),
            histogram_test(BOUNDS, latency_histogram(rng, n, 0.8), latency_histogram(rng, n, 0.8), metric="d",
                           seed=seed, resamples=200),
            quantile_difference(BOUNDS, latency_histogram(rng, n, 0.8), latency_histogram(rng, n, 0.8), 0.5,
                                metric="p50", seed=seed, resamples=500),
            quantile_difference(BOUNDS, latency_histogram(rng, n, 0.8), latency_histogram(rng, n, 0.8), 0.95,
                                metric="p95", seed=seed, resamples=500),
            mean_difference(_ratings(rng, n), _ratings(rng, n), metric="rating", unit="score", higher_is_better=True),
            nps_difference(_nps_answers(rng, n), _nps_answers(rng, n)),
        ]  # fmt: skip
        for name, comparison in zip(rejections, family, strict=False):
            rejections[name] += significant(comparison)
        rejections["family"] += any(significant(c) for c in holm(family))
    assert all(count <= 10 for count in rejections.values()), rejections


def _ratings(rng: np.random.Generator, n: int) -> dict[float, int]:
    drawn = rng.multinomial(n, [0.1, 0.15, 0.25, 0.3, 0.2])
    return {float(value): int(count) for value, count in zip(range(1, 6), drawn, strict=True)}


def _nps_answers(rng: np.random.Generator, n: int) -> dict[str, int]:
    drawn = rng.multinomial(n, [0.4, 0.35, 0.25])
    return {group: int(count) for group, count in zip(("promoter", "passive", "detractor"), drawn, strict=True)}


def test_clear_differences_are_detected_in_the_family() -> None:
    rng = np.random.default_rng(77)
    family = holm(
        [
            two_proportions(60, 1000, 30, 1000, metric="Error rate", higher_is_better=False),
            histogram_test(BOUNDS, latency_histogram(rng, 800, 1.0), latency_histogram(rng, 800, 0.6), metric="d"),
            mean_difference(_ratings(rng, 400), {5.0: 200, 4.0: 200}, metric="r", unit="score", higher_is_better=True),
            two_proportions(300, 1000, 310, 1000, metric="Thumbs-up ratio"),
        ]
    )
    assert [c.verdict for c in family] == ["b lower", "b lower", "b higher", NO]
    assert [c.better for c in family] == ["b", "b", "b", None]


def test_nps_difference_interval_stays_within_what_a_difference_can_be() -> None:
    # a: 1 promoter, 2 detractors → NPS -33.3; b: 5 promoters → 100. The normal interval reaches 240.
    result = nps_difference({"promoter": 1, "detractor": 2}, {"promoter": 5})
    assert result.difference == pytest.approx(400 / 3)
    assert result.ci is not None and result.ci[1] == 200.0 and 0 < result.ci[0] < result.difference


def test_the_level_interval_of_b_stays_within_the_unit() -> None:
    # a: all 5 answers promoters (NPS 100, no variance); b: 9 promoters, 1 passive (NPS 90).
    # a + the normal interval of b - a would reach 100 + 8.6: no NPS can be above 100.
    nps = nps_difference({"promoter": 5}, {"promoter": 9, "passive": 1})
    assert nps.ci is not None and nps.a is not None and nps.a + nps.ci[1] > 100
    low, high = level_interval(nps) or (math.nan, math.nan)
    assert high == 100.0 and low == pytest.approx(nps.a + nps.ci[0]) and -100 <= low < 90
    ratio = two_proportions(29, 30, 30, 30, metric="Thumbs-up ratio")
    assert ratio.ci is not None and ratio.a is not None and ratio.a + ratio.ci[1] > 1
    low, high = level_interval(ratio) or (math.nan, math.nan)
    assert 0 <= low <= high <= 1.0
    seconds = Comparison("d", "s", 1.0, 1.5, 100, 100, 0.5, (-2.0, 3.0), 0.1, 0.1, "m", NO, None)
    assert level_interval(seconds) == (-1.0, 4.0)  # unbounded units are left as they are
    assert level_interval(dataclasses.replace(seconds, ci=None)) is None
