# SPDX-License-Identifier: Apache-2.0
"""The report's PromQL, proven on a real Prometheus holding data whose answers are worked out by hand.

The data is written as OpenMetrics with explicit timestamps (one sample a minute for an hour,
every counter rising by a fixed amount per minute), backfilled with ``promtool tsdb
create-blocks-from openmetrics`` and served by Debian's Prometheus under a path prefix. Linear
counters make ``rate()`` and ``increase()`` exact, so every panel and total has one right answer,
computed below from the per-minute amounts — never from the code under test.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from otel_llmperf.evaluation import Scores
from otel_llmperf.instruments import (
    DURATION_BUCKETS,
    EVALUATION_SCORE_BUCKETS,
    FEEDBACK_SCORE_BUCKETS,
    TIME_PER_TOKEN_BUCKETS,
    TOKEN_BUCKETS,
)
from otel_llmperf.report.collect import (
    NoSeriesError,
    PanelData,
    collect,
    default_slo_spec,
    query_count,
    slo_results,
)
from otel_llmperf.report.prom import Prometheus, PrometheusError
from otel_llmperf.report.queries import (
    MODEL,
    PROVIDER,
    SECTIONS,
    VARIANT,
    Scope,
    panels,
    selector,
    series_names,
    totals,
)
from otel_llmperf.slo import load_spec, parse_spec
from stack import Process, binary, free_port

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_699_999_200  # 2023-11-14T22:00:00Z, on a 2 h block boundary: the hour fits one block
MINUTES = 60  # samples at T0, T0 + 60 s, …, T0 + 3600 s
END = T0 + 50 * 60  # every 5m and 30m window ending here lies inside the data
START = T0 + 10 * 60
STEP = 600.0
RANGE = "30m"
RANGE_MINUTES = 30

A = {PROVIDER: "openai", MODEL: "gpt-a", VARIANT: "a"}
B = {PROVIDER: "anthropic", MODEL: "claude-b", VARIANT: "b"}
KEY_A, KEY_B = ("openai", "gpt-a"), ("anthropic", "claude-b")
CHAT = {"gen_ai_operation_name": "chat"}
INF = math.inf

pytestmark = pytest.mark.prometheus


# --------------------------------------------------------------------------- the data, per minute


class OpenMetrics:
    """Families of linear series: every sample rises by a fixed amount per minute from 0 at T0."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]] = {}

    def counter(self, family: str, labels: Mapping[str, str], per_minute: float) -> None:
        self.families.setdefault(family, ("counter", []))[1].append((f"{family}_total", dict(labels), per_minute))

    def histogram(
        self,
        family: str,
        bounds: tuple[float, ...],
        labels: Mapping[str, str],
        counts: Mapping[float, float],
        total: float,
    ) -> None:
        """``counts``: calls per minute by the upper bound of their bucket (not cumulative); ``total``: sum."""
        samples = self.families.setdefault(family, ("histogram", []))[1]
        cumulative = 0.0
        for bound in (*bounds, INF):
            cumulative += counts.get(bound, 0.0)
            le = "+Inf" if bound == INF else repr(float(bound))  # as the OTel Prometheus exporter writes it
            samples.append((f"{family}_bucket", {**labels, "le": le}, cumulative))
        assert cumulative == sum(counts.values()), "a count above the last bound belongs in INF"
        samples.append((f"{family}_count", dict(labels), cumulative))
        samples.append((f"{family}_sum", dict(labels), total))

    def text(self) -> str:
        lines = []
        for family, (kind, samples) in self.families.items():
            lines.append(f"# TYPE {family} {kind}")
            for name, labels, per_minute in samples:
                label_text = ",".join(f'{key}="{value}"' for key, value in labels.items())
                lines += [f"{name}{{{label_text}}} {per_minute * i!r} {T0 + 60 * i}" for i in range(MINUTES + 1)]
        return "\n".join([*lines, "# EOF", ""])


DURATION = "gen_ai_client_operation_duration_seconds"


def dataset() -> OpenMetrics:
    """The calls, feedback and evaluations of two models in job "app", and a busy third series in job "other"."""
    data = OpenMetrics()
    app_a, app_b = {"job": "app", **CHAT, **A}, {"job": "app", **CHAT, **B}
    # Model A: 54 good calls a minute (27 ≤ 1.28 s, 18 ≤ 2.56 s, 9 ≤ 5.12 s) and 6 rate-limited ones ≤ 0.32 s.
    data.histogram(DURATION, DURATION_BUCKETS, app_a, {1.28: 27, 2.56: 18, 5.12: 9}, 81.0)
    data.histogram(DURATION, DURATION_BUCKETS, {**app_a, "error_type": "rate_limit"}, {0.32: 6}, 1.2)
    # Model B: 30 calls a minute, none failed, 15 ≤ 0.32 s and 15 ≤ 0.64 s.
    data.histogram(DURATION, DURATION_BUCKETS, app_b, {0.32: 15, 0.64: 15}, 11.25)
    # Another job, same model labels, ten times A's traffic: it must not leak into job "app".
    data.histogram(DURATION, DURATION_BUCKETS, {"job": "other", **CHAT, **A}, {0.01: 600}, 3.0)
    data.histogram(
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        DURATION_BUCKETS,
        app_a,
        {0.32: 12, 0.64: 12, 1.28: 6},
        15.0,
    )
    data.histogram(
        "llmperf_client_time_per_output_token_seconds",
        TIME_PER_TOKEN_BUCKETS,
        app_a,
        {0.025: 6, 0.05: 18, 0.075: 6},
        1.2,
    )
    tokens = "gen_ai_client_token_usage"
    data.histogram(tokens, TOKEN_BUCKETS, {**app_a, "gen_ai_token_type": "input"}, {INF: 60}, 6000.0)
    data.histogram(tokens, TOKEN_BUCKETS, {**app_a, "gen_ai_token_type": "output"}, {INF: 60}, 1800.0)
    data.histogram(tokens, TOKEN_BUCKETS, {**app_b, "gen_ai_token_type": "output"}, {INF: 30}, 300.0)
    data.counter("llmperf_usage_cost_USD", app_a, 0.6)
    data.counter("llmperf_usage_cost_USD", app_b, 0.06)
    feedback = "llmperf_feedback"
    kind, label = "llmperf_feedback_kind", "llmperf_feedback_label"
    for labels, per_minute in [
        ({**app_a, kind: "thumbs", label: "up"}, 3),
        ({**app_a, kind: "thumbs", label: "down"}, 1),
        ({**app_a, kind: "nps", label: "promoter"}, 5),
        ({**app_a, kind: "nps", label: "passive"}, 3),
        ({**app_a, kind: "nps", label: "detractor"}, 2),
        ({**app_a, kind: "rating", label: "3"}, 2),
        ({**app_a, kind: "rating", label: "4"}, 2),
        ({**app_b, kind: "thumbs", label: "down"}, 2),  # no "up" series at all
        ({**app_b, kind: "nps", label: "promoter"}, 2),  # no "detractor" series at all
        ({**app_b, kind: "nps", label: "passive"}, 2),
    ]:
        data.counter(feedback, labels, per_minute)
    score = "llmperf_feedback_score"
    data.histogram(score, FEEDBACK_SCORE_BUCKETS, {**app_a, kind: "rating"}, {3: 2, 4: 2}, 14.0)
    data.histogram(score, FEEDBACK_SCORE_BUCKETS, {**app_a, kind: "nps"}, {10: 5, 8: 3, 2: 2}, 78.0)  # not a rating
    name = "gen_ai_evaluation_name"
    data.histogram(
        "llmperf_evaluation_score", EVALUATION_SCORE_BUCKETS, {**app_a, name: "groundedness"}, {0.6: 20}, 12.0
    )
    outcome, klass = "llmperf_evaluation_outcome", "llmperf_evaluation_class"
    for labels, counts in [
        ({**app_a, name: "groundedness"}, {"tp": 6, "fp": 2, "fn": 3, "tn": 9}),  # binary: no class label
        ({**app_a, name: "intent", klass: "billing"}, {"tp": 5, "fp": 1, "fn": 2, "tn": 3}),
        ({**app_a, name: "intent", klass: "support"}, {"tp": 3, "fp": 2, "fn": 1, "tn": 5}),
        ({**app_b, name: "groundedness"}, {"tn": 4}),  # nothing predicted positive, nothing expected positive
    ]:
        for which, per_minute in counts.items():
            data.counter("llmperf_evaluation_outcome", {**labels, outcome: which}, per_minute)
    return data


# Hand-made answers. PromQL's histogram_quantile: rank = q * count; in the first bucket whose
# cumulative count reaches the rank, interpolate linearly from its lower to its upper bound.
# Model A's calls per minute, cumulative: ≤0.32: 6, ≤0.64: 6, ≤1.28: 33, ≤2.56: 51, ≤5.12: 60.
A_P50 = 0.64 + (1.28 - 0.64) * (0.5 * 60 - 6) / (33 - 6)
A_P95 = 2.56 + (5.12 - 2.56) * (0.95 * 60 - 51) / (60 - 51)
A_P99 = 2.56 + (5.12 - 2.56) * (0.99 * 60 - 51) / (60 - 51)
# Model B: ≤0.16: 0, ≤0.32: 15, ≤0.64: 30.
B_P50 = 0.16 + (0.32 - 0.16) * (0.5 * 30 - 0) / (15 - 0)
B_P95 = 0.32 + (0.64 - 0.32) * (0.95 * 30 - 15) / (30 - 15)
B_P99 = 0.32 + (0.64 - 0.32) * (0.99 * 30 - 15) / (30 - 15)
A_TTFC_P95 = 0.64 + (1.28 - 0.64) * (0.95 * 30 - 24) / (30 - 24)  # ≤0.32: 12, ≤0.64: 24, ≤1.28: 30
A_TPOT_P50 = 0.025 + (0.05 - 0.025) * (0.5 * 30 - 6) / (24 - 6)  # ≤0.025: 6, ≤0.05: 24, ≤0.075: 30

# Evaluation ratios from otel_llmperf.evaluation.Scores (the definitions), macro-averaged over classes.
GROUNDED_A = Scores(tp=6, fp=2, fn=3, tn=9)
BILLING, SUPPORT = Scores(tp=5, fp=1, fn=2, tn=3), Scores(tp=3, fp=2, fn=1, tn=5)
GROUNDED_B = Scores(tn=4)


def _macro(metric: str) -> float:
    return float((getattr(BILLING, metric) + getattr(SUPPORT, metric)) / 2)


G_A, I_A, G_B = (*KEY_A, "groundedness"), (*KEY_A, "intent"), (*KEY_B, "groundedness")

# Per-second rates of the panels: per-minute amounts / 60.
PANELS: dict[str, dict[tuple[str, ...], float]] = {
    "request_rate": {KEY_A: 60 / 60, KEY_B: 30 / 60},
    "error_rate": {KEY_A: 6 / 60, KEY_B: 0.0},
    "error_rate_by_type": {(*KEY_A, "rate_limit"): 6 / 60},
    "duration_p50": {KEY_A: A_P50, KEY_B: B_P50},
    "duration_p95": {KEY_A: A_P95, KEY_B: B_P95},
    "duration_p99": {KEY_A: A_P99, KEY_B: B_P99},
    "ttfc_p95": {KEY_A: A_TTFC_P95},
    "time_per_output_token_p50": {KEY_A: A_TPOT_P50},
    "token_throughput": {(*KEY_A, "input"): 6000 / 60, (*KEY_A, "output"): 1800 / 60, (*KEY_B, "output"): 300 / 60},
    "cost_rate": {KEY_A: 3600 * 0.6 / 60, KEY_B: 3600 * 0.06 / 60},
    "thumbs_up_ratio": {KEY_A: 3 / 4, KEY_B: 0 / 2},
    "mean_rating": {KEY_A: 14 / 4},
    "nps": {KEY_A: 100 * (5 - 2) / 10, KEY_B: 100 * (2 - 0) / 4},
    "evaluation_score": {G_A: 12 / 20},
    "evaluation_accuracy": {G_A: (6 + 9) / 20, I_A: (5 + 3) / (5 + 2 + 3 + 1), G_B: 4 / 4},
    "evaluation_precision": {G_A: GROUNDED_A.precision, I_A: _macro("precision"), G_B: GROUNDED_B.precision},
    "evaluation_recall": {G_A: GROUNDED_A.recall, I_A: _macro("recall"), G_B: GROUNDED_B.recall},
    "evaluation_f1": {G_A: GROUNDED_A.f1, I_A: _macro("f1"), G_B: GROUNDED_B.f1},
}
N = RANGE_MINUTES  # increase over the range = 30 * the per-minute amount
TOTALS: dict[str, dict[tuple[str, ...], float]] = {
    "calls": {KEY_A: 60 * N, KEY_B: 30 * N},
    "errors": {KEY_A: 6 * N, KEY_B: 0.0},
    "error_rate": {KEY_A: 6 / 60, KEY_B: 0.0},
    "duration_p50": PANELS["duration_p50"],  # a quantile does not depend on the window's length
    "duration_p95": PANELS["duration_p95"],
    "duration_p99": PANELS["duration_p99"],
    "ttfc_p95": {KEY_A: A_TTFC_P95},
    "time_per_output_token_mean": {KEY_A: 1.2 / 30},
    "tokens_input": {KEY_A: 6000 * N},
    "tokens_output": {KEY_A: 1800 * N, KEY_B: 300 * N},
    "cost": {KEY_A: 0.6 * N, KEY_B: 0.06 * N},
    "thumbs_votes": {KEY_A: 4 * N, KEY_B: 2 * N},
    "thumbs_up_ratio": PANELS["thumbs_up_ratio"],
    "ratings": {KEY_A: 4 * N},
    "mean_rating": PANELS["mean_rating"],
    "nps_answers": {KEY_A: 10 * N, KEY_B: 4 * N},
    "nps": PANELS["nps"],
    "evaluation_samples": {G_A: 20 * N, I_A: (5 + 2 + 3 + 1) * N, G_B: 4 * N},
    "evaluation_score": PANELS["evaluation_score"],
    "evaluation_accuracy": PANELS["evaluation_accuracy"],
    "evaluation_precision": PANELS["evaluation_precision"],
    "evaluation_recall": PANELS["evaluation_recall"],
    "evaluation_f1": PANELS["evaluation_f1"],
}


# --------------------------------------------------------------------------- the server


@pytest.fixture(name="prom", scope="module")
def fixture_prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    prometheus, promtool = binary("prometheus"), binary("promtool")
    work = tmp_path_factory.mktemp("report-prometheus")
    (work / "data.om").write_text(dataset().text())
    created = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "data.om"), str(work / "tsdb")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    (work / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    server = Process(
        [
            prometheus,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.route-prefix=/prom",  # a path prefix, as behind a reverse proxy
        ],
        work / "prometheus.log",
    )
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/prom/-/ready")
        yield Prometheus(f"http://127.0.0.1:{port}/prom/", timeout=10)
    finally:
        server.stop()


def _by(labels: Mapping[str, str], by: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(labels.get(label, "") for label in by)


def _check(key: str, got: dict[tuple[str, ...], list[float]], expected: dict[tuple[str, ...], float]) -> None:
    assert set(got) == set(expected), f"{key}: series {sorted(got)} != {sorted(expected)}"
    for labels, values in got.items():
        assert values == pytest.approx([expected[labels]] * len(values), rel=1e-9, abs=1e-12), f"{key} {labels}"


# --------------------------------------------------------------------------- tests


def test_catalog_keys_sections_and_labels() -> None:
    scope = Scope(job="app", window="5m")
    for catalog in (panels(scope), totals(scope, RANGE)):
        keys = [panel.key for panel in catalog]
        assert len(keys) == len(set(keys))
        assert all(re.fullmatch(r"[a-z0-9_]+", key) for key in keys)
        assert {panel.section for panel in catalog} <= set(SECTIONS)
        assert all(panel.by[:2] == (PROVIDER, MODEL) for panel in catalog)
        assert all('job=~"app"' in panel.expr for panel in catalog)
    assert set(PANELS) == {panel.key for panel in panels(scope)}
    assert set(TOTALS) == {panel.key for panel in totals(scope, RANGE)}


def test_selector_quotes_the_job_regex_and_matchers() -> None:
    assert selector("m", Scope(job=None, window="5m")) == "m"
    scope = Scope(job='a"b\\c', window="5m", extra=((VARIANT, "x"),))
    assert selector("m", scope, 'le="1"') == 'm{job=~"a\\"b\\\\c", llmperf_variant="x", le="1"}'


def test_series_names_cover_the_metric_contract() -> None:
    names = series_names()
    assert "gen_ai_client_operation_duration_seconds_count" in names
    assert "llmperf_usage_cost_USD_total" in names
    assert "llmperf_experiment_weight" in names  # a gauge: its own name, no _count
    assert len(names) == len(set(names)) == 14


def test_default_slo_spec_is_the_shipped_grafana_spec() -> None:
    assert default_slo_spec() == load_spec(ROOT / "grafana" / "slo.yaml")


def test_every_panel_returns_the_hand_computed_values(prom: Prometheus) -> None:
    for panel in panels(Scope(job="app", window="5m")):
        result = prom.query_range(panel.expr, START, END, STEP)
        got = {_by(s.labels, panel.by): [v for _, v in s.points] for s in result}
        assert all(len(values) == 5 for values in got.values()), panel.key  # 10, 20, …, 50 min
        _check(panel.key, got, PANELS[panel.key])


def test_every_total_returns_the_hand_computed_values(prom: Prometheus) -> None:
    for panel in totals(Scope(job="app", window="5m"), RANGE):
        result = prom.query(panel.expr, END)
        got = {_by(s.labels, panel.by): [v for _, v in s.points] for s in result}
        _check(panel.key, got, TOTALS[panel.key])


def test_scope_selects_jobs_and_variants(prom: Prometheus) -> None:
    every_job = {panel.key: panel for panel in panels(Scope(job=None, window="5m"))}
    rate = prom.query(every_job["request_rate"].expr, END)
    # Job "other" adds 600 calls a minute to model A's 60.
    assert {_by(s.labels, (PROVIDER, MODEL)): s.points[0][1] for s in rate} == pytest.approx(
        {KEY_A: 660 / 60, KEY_B: 30 / 60}
    )
    only_b = {panel.key: panel for panel in panels(Scope(job="app|nothing", window="5m", extra=((VARIANT, "b"),)))}
    rate = prom.query(only_b["request_rate"].expr, END)
    assert [(s.labels, s.points[0][1]) for s in rate] == [({PROVIDER: "anthropic", MODEL: "claude-b"}, 0.5)]


def test_collect_gathers_panels_totals_and_default_slos(prom: Prometheus) -> None:
    scope = Scope(job="app", window="5m")
    seen: list[str] = []
    data = collect(prom, scope, START, END, STEP, RANGE, default_slo_spec(), seen.append)
    assert len(seen) == query_count(scope, RANGE, default_slo_spec())
    assert [p.panel.key for p in data.panels] == [p.key for p in panels(scope)]
    assert all(isinstance(p, PanelData) and p.series for p in data.panels)
    assert set(data.totals) == set(TOTALS)
    assert data.prometheus == prom.url and (data.start, data.end, data.step, data.range_) == (START, END, STEP, RANGE)
    assert data.scope == scope and data.comparison is None
    calls = {_by(s.labels, (PROVIDER, MODEL)): s.points[0][1] for s in data.totals["calls"]}
    assert calls == pytest.approx({KEY_A: 1800, KEY_B: 900})
    slos = {(r.name, tuple(r.group.items())): r for r in data.slos}
    assert set(slos) == {("chat-duration", (("job", "app"),)), ("chat-time-to-first-chunk", (("job", "app"),))}
    # Chat calls in job app: 60 + 30 a minute, of which all but A's 6 failures finish within 10.24 s.
    duration = slos["chat-duration", (("job", "app"),)]
    assert (duration.good, duration.total) == pytest.approx((84 * N, 90 * N))
    assert duration.attainment == pytest.approx(84 / 90)
    assert duration.budget_consumed == pytest.approx((1 - 84 / 90) / 0.01)
    ttfc = slos["chat-time-to-first-chunk", (("job", "app"),)]
    assert (ttfc.attainment, ttfc.budget_consumed) == pytest.approx((1.0, 0.0))
    assert (ttfc.threshold, ttfc.objective) == (2.56, 0.99)


def test_slo_results_follow_threshold_errors_and_grouping(prom: Prometheus) -> None:
    spec = parse_spec(
        {
            "version": 1,
            "slos": [
                {
                    "name": "fast",
                    "metric": "gen_ai.client.operation.duration",
                    "threshold": 1.28,
                    "objective": 0.9,
                    "errors_are_bad": False,
                    "group_by": ["gen_ai_request_model"],
                },
                {
                    "name": "fast-ok",
                    "metric": "gen_ai.client.operation.duration",
                    "threshold": 1.28,
                    "objective": 0.5,
                    "group_by": [],
                },
            ],
        }
    )
    scope = Scope(job="app", window="5m")
    fast = {r.group["gen_ai_request_model"]: r for r in slo_results(prom, spec.slos[0], scope, END, RANGE)}
    # Failed calls count by their duration: A has 6 + 27 of 60 calls within 1.28 s, B all 30.
    assert fast["gpt-a"].attainment == pytest.approx(33 / 60)
    assert fast["gpt-a"].budget_consumed == pytest.approx((1 - 33 / 60) / 0.1)
    assert fast["claude-b"].attainment == pytest.approx(1.0)
    (ok,) = slo_results(prom, spec.slos[1], scope, END, RANGE)
    # Failed calls are bad: 27 + 30 good of 90, one group for everything.
    assert ok.group == {} and ok.attainment == pytest.approx(57 / 90)
    # Every job: "other" adds 600 good calls a minute.
    (everywhere,) = slo_results(prom, spec.slos[1], Scope(job=None, window="5m"), END, RANGE)
    assert everywhere.attainment == pytest.approx(657 / 690)


def test_no_series_for_the_scope_names_the_jobs_that_have_some(prom: Prometheus) -> None:
    with pytest.raises(NoSeriesError) as raised:
        collect(prom, Scope(job="nope", window="5m"), START, END, STEP, RANGE, None)
    message = str(raised.value)
    assert 'job=~"nope"' in message and "app, other" in message and "--job" in message
    assert prom.url in message
    # Right job, but a range long before the data.
    with pytest.raises(NoSeriesError, match="2022-"):
        collect(prom, Scope(job="app", window="5m"), T0 - 86400 * 400, T0 - 86400 * 399, STEP, "1d", None)


def test_a_bad_query_quotes_prometheus_and_the_expression(prom: Prometheus) -> None:
    with pytest.raises(PrometheusError) as raised:
        prom.query("sum(rate(x[5m])", END)
    message = str(raised.value)
    assert "HTTP 400" in message and "bad_data" in message and "sum(rate(x[5m])" in message
    assert prom.url in message


def test_check_and_metric_names_through_the_path_prefix(prom: Prometheus) -> None:
    prom.check()
    assert prom.version and prom.version.startswith("2.")
    assert prom.url.endswith("/prom")  # the trailing slash is dropped
    names = prom.metric_names()
    # The fixture's data holds no experiments and predates the drift counters.
    unfilled = {
        "gen_ai_client_operation_time_per_output_chunk_seconds_count",
        "llmperf_experiment_exposures_total",
        "llmperf_experiment_weight",
        "llmperf_model_identity_total",
        "llmperf_client_finish_reasons_total",
    }
    assert set(series_names()) - unfilled <= names
    assert prom.label_values("job") == {"app", "other"}
