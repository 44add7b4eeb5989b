# SPDX-License-Identifier: Apache-2.0
"""The A/B comparison on a real Prometheus holding per-variant data whose counts are worked out by hand.

The data is OpenMetrics with one sample a minute for an hour, every series rising linearly from 0
(so ``increase()`` over any window inside the hour is exact), backfilled with ``promtool tsdb
create-blocks-from openmetrics`` and served by Debian's Prometheus. Each variant's counts over the
compared 30 minutes are written down below from the per-minute amounts, and the expected
comparisons are the statistics of those hand-built counts; compare.py must get the same from
PromQL. A job and a variant that are not compared add traffic that must not leak in.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace

import pytest

from otel_llmperf.instruments import DURATION_BUCKETS, FEEDBACK_SCORE_BUCKETS, TIME_PER_TOKEN_BUCKETS
from otel_llmperf.report import stats
from otel_llmperf.report.collect import default_slo_spec
from otel_llmperf.report.compare import COST_METHOD, compare_variants, per_bucket, query_count, whole
from otel_llmperf.report.prom import Prometheus, Series
from otel_llmperf.report.queries import Scope
from stack import Process, binary, free_port

T0 = 1_699_999_200  # on a 2 h block boundary: the hour fits one block
MINUTES = 60
AT = T0 + 50 * 60
RANGE, RANGE_MINUTES = "30m", 30
SEED = 3
INF = math.inf
CHAT = {"job": "app", "gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai"}


class OpenMetrics:
    """Linear series: each sample rises by a fixed amount per minute from 0 at T0."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]] = {}

    def counter(self, family: str, labels: Mapping[str, str], per_minute: float) -> None:
        self.families.setdefault(family, ("counter", []))[1].append((f"{family}_total", dict(labels), per_minute))

    def histogram(
        self,
        family: str,
        bounds: tuple[float, ...],
        labels: Mapping[str, str],
        per_minute: Mapping[float, float],
        integer_le: bool = False,
    ) -> None:
        """``per_minute``: observations a minute by their bucket's upper bound (not cumulative)."""
        samples = self.families.setdefault(family, ("histogram", []))[1]
        cumulative = 0.0
        for bound in (*bounds, INF):
            cumulative += per_minute.get(bound, 0.0)
            # The OTel exporter writes le="4.0"; Prometheus's OTLP receiver writes le="4".
            le = "+Inf" if bound == INF else (f"{bound:g}" if integer_le else repr(float(bound)))
            samples.append((f"{family}_bucket", {**labels, "le": le}, cumulative))
        samples.append((f"{family}_count", dict(labels), cumulative))
        samples.append((f"{family}_sum", dict(labels), cumulative))

    def text(self) -> str:
        lines = []
        for family, (kind, samples) in self.families.items():
            lines.append(f"# TYPE {family} {kind}")
            for name, labels, per_minute in samples:
                label_text = ",".join(f'{key}="{value}"' for key, value in labels.items())
                lines += [f"{name}{{{label_text}}} {per_minute * i!r} {T0 + 60 * i}" for i in range(MINUTES + 1)]
        return "\n".join([*lines, "# EOF", ""])


DURATION = "gen_ai_client_operation_duration_seconds"
TTFC = "gen_ai_client_operation_time_to_first_chunk_seconds"
TPOT = "llmperf_client_time_per_output_token_seconds"
FEEDBACK = "llmperf_feedback"
SCORE = "llmperf_feedback_score"
OUTCOME = "llmperf_evaluation_outcome"
COST = "llmperf_usage_cost_USD"


def _labels(variant: str, model: str = "m1", **more: str) -> dict[str, str]:
    return {**CHAT, "gen_ai_request_model": model, "llmperf_variant": variant, **more}


def dataset() -> OpenMetrics:
    """Per-minute traffic of variants a and b (two models each), and noise that must be ignored."""
    data = OpenMetrics()
    d = DURATION_BUCKETS
    # a: m1 10 ok calls and 0.5 timeouts a minute, m2 5 ok calls; b: m1 10 ok, m2 5 ok and 0.1 rate-limited.
    data.histogram(DURATION, d, _labels("a"), {0.64: 2, 1.28: 4, 2.56: 3, 5.12: 1})
    data.histogram(DURATION, d, _labels("a", error_type="timeout"), {20.48: 0.5})
    data.histogram(DURATION, d, _labels("a", "m2"), {0.32: 1, 0.64: 2, 1.28: 2})
    data.histogram(DURATION, d, _labels("b"), {0.32: 3, 0.64: 5, 1.28: 2})
    data.histogram(DURATION, d, _labels("b", "m2"), {0.16: 1, 0.32: 3, 0.64: 1})
    data.histogram(DURATION, d, _labels("b", "m2", error_type="rate_limit"), {0.08: 0.1})
    # Noise: another job in variant a, and a third variant, both fast and busy.
    data.histogram(DURATION, d, {**_labels("a"), "job": "other"}, {0.01: 100})
    data.histogram(DURATION, d, _labels("c"), {0.01: 50})
    data.histogram(TTFC, d, _labels("a"), {0.32: 4, 0.64: 4})
    data.histogram(TTFC, d, _labels("b"), {0.16: 5, 0.32: 3})
    data.histogram(TPOT, TIME_PER_TOKEN_BUCKETS, _labels("a"), {0.05: 4})
    data.histogram(TPOT, TIME_PER_TOKEN_BUCKETS, _labels("b"), {0.025: 2, 0.05: 2})
    for variant, up, down in (("a", 2, 2), ("b", 3, 1), ("c", 9, 0)):
        thumbs = _labels(variant, llmperf_feedback_kind="thumbs")
        data.counter(FEEDBACK, {**thumbs, "llmperf_feedback_label": "up"}, up)
        data.counter(FEEDBACK, {**thumbs, "llmperf_feedback_label": "down"}, down)
    for variant, groups in (("a", (1, 1, 1)), ("b", (2, 0.5, 0.5))):
        for label, per_minute in zip(("promoter", "passive", "detractor"), groups, strict=True):
            nps = _labels(variant, llmperf_feedback_kind="nps", llmperf_feedback_label=label)
            data.counter(FEEDBACK, nps, per_minute)
    rating = {"llmperf_feedback_kind": "rating"}
    data.histogram(SCORE, FEEDBACK_SCORE_BUCKETS, _labels("a", **rating), {3: 1, 4: 0.5})
    data.histogram(SCORE, FEEDBACK_SCORE_BUCKETS, _labels("a", "m2", **rating), {4: 0.5}, integer_le=True)
    data.histogram(SCORE, FEEDBACK_SCORE_BUCKETS, _labels("b", **rating), {4: 1, 5: 1})
    binary = {"gen_ai_evaluation_name": "groundedness"}
    for variant, outcomes in (("a", (2, 1, 0.5, 0.5)), ("b", (3, 0.5, 0.25, 0.25))):
        for outcome, per_minute in zip(("tp", "tn", "fp", "fn"), outcomes, strict=True):
            data.counter(OUTCOME, _labels(variant, **binary, llmperf_evaluation_outcome=outcome), per_minute)
    intent = {"gen_ai_evaluation_name": "intent"}
    for variant, cls, outcomes in (
        ("a", "x", (1, 2, 0.2, 0.5)),
        ("a", "y", (1.5, 1, 0.5, 0.5)),
        ("b", "x", (1, 2.5, 0.1, 0.1)),
        ("b", "y", (2, 1, 0, 0.4)),
    ):
        for outcome, per_minute in zip(("tp", "tn", "fp", "fn"), outcomes, strict=True):
            labels = _labels(variant, **intent, llmperf_evaluation_class=cls, llmperf_evaluation_outcome=outcome)
            data.counter(OUTCOME, labels, per_minute)
    data.counter(COST, _labels("a"), 0.0465)
    data.counter(COST, _labels("b"), 0.0906)
    return data


def counts(bounds: tuple[float, ...], per_minute: Mapping[float, float]) -> list[int]:
    """Per-bucket counts over the compared range (+Inf last), from per-minute amounts."""
    return [round(per_minute.get(bound, 0.0) * RANGE_MINUTES) for bound in (*bounds, INF)]


def expected() -> list[stats.Comparison]:
    """The comparisons of the hand-summed counts over 30 minutes, in compare_variants' order, Holm-adjusted."""
    d = list(DURATION_BUCKETS)
    # Duration, per minute: a = m1 ok + m1 timeouts + m2; b = m1 + m2 + m2 rate-limited.
    duration_a = counts(DURATION_BUCKETS, {0.32: 1, 0.64: 4, 1.28: 6, 2.56: 3, 5.12: 1, 20.48: 0.5})
    duration_b = counts(DURATION_BUCKETS, {0.08: 0.1, 0.16: 1, 0.32: 6, 0.64: 6, 1.28: 2})
    assert (sum(duration_a), sum(duration_b)) == (465, 453)
    ttfc_a, ttfc_b = counts(DURATION_BUCKETS, {0.32: 4, 0.64: 4}), counts(DURATION_BUCKETS, {0.16: 5, 0.32: 3})
    tpot_a = counts(TIME_PER_TOKEN_BUCKETS, {0.05: 4})
    tpot_b = counts(TIME_PER_TOKEN_BUCKETS, {0.025: 2, 0.05: 2})
    rows = [
        stats.two_proportions(15, 465, 3, 453, metric="Error rate", higher_is_better=False),
        stats.histogram_test(d, duration_a, duration_b, metric="Duration distribution", seed=SEED),
        stats.quantile_difference(d, duration_a, duration_b, 0.5, metric="Duration p50", seed=SEED),
        stats.quantile_difference(d, duration_a, duration_b, 0.95, metric="Duration p95", seed=SEED),
        stats.histogram_test(d, ttfc_a, ttfc_b, metric="Time to first chunk distribution", seed=SEED),
        stats.quantile_difference(d, ttfc_a, ttfc_b, 0.95, metric="Time to first chunk p95", seed=SEED),
        stats.quantile_difference(
            list(TIME_PER_TOKEN_BUCKETS), tpot_a, tpot_b, 0.5, metric="Time per output token p50", seed=SEED,
            noun="streams",
        ),
        # chat-duration: good = calls ≤ 10.24 s without error_type (all but the failed ones).
        stats.two_proportions(450, 465, 450, 453, metric="SLO attainment: chat-duration"),
        # chat-time-to-first-chunk: every first chunk within 2.56 s.
        stats.two_proportions(240, 240, 240, 240, metric="SLO attainment: chat-time-to-first-chunk"),
        stats.two_proportions(60, 120, 90, 120, metric="Thumbs-up ratio", noun="thumbs votes"),
        stats.mean_difference(
            {3.0: 30, 4.0: 30}, {4.0: 30, 5.0: 30}, metric="Mean rating", unit="score", higher_is_better=True
        ),
        stats.nps_difference({"promoter": 30, "passive": 30, "detractor": 30}, {"promoter": 60, "passive": 15,
                                                                                 "detractor": 15}),
        # Binary: (tp + tn) / all = 90/120 and 105/120.
        stats.two_proportions(90, 120, 105, 120, metric="Evaluation accuracy: groundedness", noun="samples"),
        # Classes: Σ tp / Σ (tp + fn) = 75/105 and 90/105.
        stats.two_proportions(75, 105, 90, 105, metric="Evaluation accuracy: intent", noun="samples"),
    ]  # fmt: skip
    return stats.holm(rows)


@pytest.fixture(name="prom", scope="module")
def fixture_prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    prometheus, promtool = binary("prometheus"), binary("promtool")
    work = tmp_path_factory.mktemp("compare-prometheus")
    (work / "data.om").write_text(dataset().text())
    created = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "data.om"), str(work / "tsdb")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    (work / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    server = Process(
        [
            prometheus,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        work / "prometheus.log",
    )
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/-/ready")
        yield Prometheus(f"http://127.0.0.1:{port}", timeout=10)
    finally:
        server.stop()


@pytest.mark.prometheus
def test_compare_variants_matches_the_hand_counted_statistics(prom: Prometheus) -> None:
    steps: list[str] = []
    spec = default_slo_spec()
    got = compare_variants(prom, Scope(job="app", window="5m"), AT, RANGE, "a", "b", spec, seed=SEED,
                           progress=steps.append)  # fmt: skip
    assert len(steps) == query_count(spec)
    cost, got = got[-1], got[:-1]
    want = expected()
    assert [row.metric for row in got] == [row.metric for row in want]
    for row, reference in zip(got, want, strict=True):
        assert row.method.startswith(reference.method), row.metric
        assert "rounded to whole numbers" in row.method
        assert replace(row, method="") == replace(reference, method=""), row.metric
    # Cost per call: 0.0465 USD a minute over 15.5 calls a minute, and 0.0906 over 15.1.
    assert cost.metric == "Cost per call" and cost.verdict == stats.NOT_TESTED and cost.p_value is None
    assert (cost.a, cost.b) == pytest.approx((0.003, 0.006))
    assert cost.difference == pytest.approx(0.003) and COST_METHOD in cost.method
    assert (cost.n_a, cost.n_b) == (465, 453)


@pytest.mark.prometheus
def test_compare_variants_finds_the_constructed_differences(prom: Prometheus) -> None:
    rows = {r.metric: r for r in compare_variants(prom, Scope(job="app", window="5m"), AT, RANGE, "a", "b", None)}
    # b is faster by construction: 180 of its 453 calls ≤ 0.32 s against 30 of 465.
    assert rows["Duration distribution"].verdict == "b lower" and rows["Duration distribution"].better == "b"
    assert rows["Time to first chunk distribution"].verdict == "b lower"
    assert rows["Thumbs-up ratio"].verdict == "b higher" and rows["Thumbs-up ratio"].better == "b"
    assert rows["Error rate"].a == pytest.approx(15 / 465) and rows["Error rate"].b == pytest.approx(3 / 453)
    assert not any(name.startswith("SLO") for name in rows)  # no SLO spec, no SLO rows


@pytest.mark.prometheus
def test_unknown_variant_and_job(prom: Prometheus) -> None:
    missing = {r.metric: r for r in compare_variants(prom, Scope(job="app", window="5m"), AT, RANGE, "a", "zz", None)}
    assert missing["Error rate"].b is None and missing["Error rate"].verdict.startswith("not enough data")
    assert "b: 0" in missing["Error rate"].verdict
    assert compare_variants(prom, Scope(job="nope", window="5m"), AT, RANGE, "a", "b", None) == []


# --- without Prometheus ------------------------------------------------------------------------------


def test_whole_rounds_increase_results() -> None:
    assert [whole(v) for v in (0.4, 0.6, 2.5, 3.5, 464.9999, -0.0, math.nan, -2.0)] == [0, 1, 2, 4, 465, 0, 0, 0]


def test_per_bucket_sorts_rounds_and_keeps_counts_monotonic() -> None:
    # Out of order, fractional, with a dip (separately extrapolated series): 3.4 → 3, 9.6 → 10, 9.2 → 9 → 10.
    bounds, per = per_bucket({INF: 12.2, 0.5: 3.4, 1.0: 9.6, 2.0: 9.2})
    assert bounds == [0.5, 1.0, 2.0]
    assert per == [3, 7, 0, 2]
    with pytest.raises(ValueError, match=r"\+Inf"):
        per_bucket({1.0: 3.0})


class CannedPrometheus(Prometheus):
    """Answers instant queries from a table of (substring of the expression → series); records the queries."""

    def __init__(self, answers: Mapping[str, list[Series]]) -> None:
        super().__init__("http://127.0.0.1:1")
        self.answers = answers
        self.asked: list[str] = []

    def query(self, expr: str, at: float) -> list[Series]:
        self.asked.append(expr)
        return next((series for key, series in self.answers.items() if key in expr), [])


def _sample(value: float, **labels: str) -> Series:
    return Series(labels, [(float(AT), value)])


def test_one_variant_without_data_is_not_enough_data_and_le_spellings_merge() -> None:
    prom = CannedPrometheus(
        {
            'error_type!=""': [_sample(2.2, llmperf_variant="a")],
            "duration_seconds_count": [_sample(40.4, llmperf_variant="a")],
            "duration_seconds_bucket": [
                _sample(10.2, llmperf_variant="a", le="0.5"),
                _sample(30.1, llmperf_variant="a", le="1.0"),
                _sample(1.0, llmperf_variant="a", le="1"),  # the same bucket spelled by OTLP
                _sample(40.4, llmperf_variant="a", le="+Inf"),
            ],
        }
    )
    rows = {r.metric: r for r in compare_variants(prom, Scope(job=None, window="5m"), AT, "1h", "a", "b", None)}
    assert set(rows) == {"Error rate", "Duration distribution", "Duration p50", "Duration p95"}
    error_rate = rows["Error rate"]
    assert (error_rate.a, error_rate.n_a, error_rate.b, error_rate.n_b) == (2 / 40, 40, None, 0)
    assert error_rate.verdict.startswith("not enough data")
    duration = rows["Duration distribution"]
    # Buckets 10, 31 - 10 = 21, 40 - 31 = 9: the median (rank 20) is 10 into the 21 of (0.5, 1].
    assert duration.a == pytest.approx(0.5 + 0.5 * 10 / 21) and duration.n_a == 40 and duration.n_b == 0
    assert all(r.verdict.startswith("not enough data") for r in rows.values())
    assert all(r.p_adjusted is None for r in rows.values())
    assert all("[1h]))" in expr and "sum by (llmperf_variant" in expr for expr in prom.asked)
    assert not any("job=~" in expr for expr in prom.asked)  # no --job: every job


def test_no_data_at_all_gives_no_rows() -> None:
    prom = CannedPrometheus({})
    assert compare_variants(prom, Scope(job="x", window="5m"), AT, "1h", "a", "b", default_slo_spec()) == []
    assert len(prom.asked) == query_count(default_slo_spec())
    assert all('job=~"x"' in expr for expr in prom.asked)


def test_ratings_outside_the_unit_buckets_are_flagged_approximate() -> None:
    buckets = [(str(b), c) for b, c in ((0.0, 0), (10.0, 0), (20.0, 40), (float("inf"), 40))]
    series = [_sample(c, llmperf_variant=v, le=le) for v in ("a", "b") for le, c in buckets]
    prom = CannedPrometheus({"llmperf_feedback_score_bucket": series})
    (row,) = compare_variants(prom, Scope(job=None, window="5m"), AT, "1h", "a", "b", None)
    assert row.metric == "Mean rating" and row.a == 15.0 and row.b == 15.0  # midpoint of (10, 20]
    assert "approximate" in row.method and row.verdict == stats.NO_DIFFERENCE


def test_report_module_imports_without_heavy_packages() -> None:
    # The dataclass is importable (collect.py, html.py need it) without importing numpy or scipy.
    code = (
        "import sys, otel_llmperf.report.stats, otel_llmperf.report.compare;"
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_variant_is_not_compared_with_itself() -> None:
    with pytest.raises(ValueError, match="two different variants"):
        compare_variants(CannedPrometheus({}), Scope(job=None, window="5m"), AT, "1h", "a", "a", None)
