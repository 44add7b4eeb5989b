# SPDX-License-Identifier: Apache-2.0
"""The report's catalog: every panel (a PromQL range query) and every total over the range (an instant query).

Metric names come from the metric contract (:data:`otel_llmperf.instruments.CONTRACT`), never typed
here. The formulas are docs/trust-signals.md's ("PromQL"), with the conventions of the Grafana dashboards:

* panels use ``rate(…[window])`` and totals ``increase(…[range])`` (rate for throughputs);
* a ratio whose numerator may have no series yet (no error, no "up" thumbs) is written
  ``(num or den * 0) / den``, so "none happened" reads 0 instead of no data; a window without any
  event gives NaN (0/0), which the report shows as a gap;
* quantiles are ``histogram_quantile(q, sum by (<labels>, le) (rate(X_bucket[window])))``;
* precision, recall and F1 of an evaluation are computed per class and averaged over the classes
  (macro average, as :class:`otel_llmperf.evaluation.DatasetEvaluation` does); a binary evaluation
  has no class label, so its "average" is its own value. A zero denominator counts as 0 where the
  evaluation judged something (scikit-learn's ``zero_division=0``, as in ``evaluation.Scores``);
* accuracy is (tp + tn) / all for binary evaluations and Σ tp / Σ (tp + fn) for evaluations with
  classes (every sample has exactly one expected class).

Standard library and otel_llmperf only: usable without the ``report`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import (
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    GEN_AI_CLIENT_TOKEN_USAGE,
)

from otel_llmperf.instruments import (
    CONTRACT,
    LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN,
    LLMPERF_EVALUATION_OUTCOME,
    LLMPERF_EVALUATION_SCORE,
    LLMPERF_FEEDBACK,
    LLMPERF_FEEDBACK_SCORE,
    LLMPERF_USAGE_COST,
)
from otel_llmperf.slo_rules import quote

PROVIDER, MODEL, VARIANT = "gen_ai_provider_name", "gen_ai_request_model", "llmperf_variant"
JOB = "job"
ERROR_TYPE = "error_type"
TOKEN_TYPE = "gen_ai_token_type"
EVALUATION = "gen_ai_evaluation_name"
EVALUATION_CLASS = "llmperf_evaluation_class"
OUTCOME = "llmperf_evaluation_outcome"
FEEDBACK_KIND = "llmperf_feedback_kind"
FEEDBACK_LABEL = "llmperf_feedback_label"

_PROMETHEUS = {spec.name: spec.prometheus for spec in CONTRACT}
DURATION = _PROMETHEUS[GEN_AI_CLIENT_OPERATION_DURATION]
TTFC = _PROMETHEUS[GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK]
TOKENS = _PROMETHEUS[GEN_AI_CLIENT_TOKEN_USAGE]
TIME_PER_TOKEN = _PROMETHEUS[LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN]
FEEDBACK = _PROMETHEUS[LLMPERF_FEEDBACK]  # counters already end in _total
FEEDBACK_SCORE = _PROMETHEUS[LLMPERF_FEEDBACK_SCORE]
EVALUATION_SCORE = _PROMETHEUS[LLMPERF_EVALUATION_SCORE]
OUTCOMES = _PROMETHEUS[LLMPERF_EVALUATION_OUTCOME]
COST = _PROMETHEUS[LLMPERF_USAGE_COST]

FAILED = f'{ERROR_TYPE}!=""'
BINARY = f'{EVALUATION_CLASS}=""'  # outcomes of binary evaluations carry no class
PER_CLASS = f'{EVALUATION_CLASS}!=""'

PER_MODEL: tuple[str, ...] = (PROVIDER, MODEL)
PER_EVALUATION: tuple[str, ...] = (PROVIDER, MODEL, EVALUATION)
SECTIONS = ("traffic", "latency", "tokens", "cost", "satisfaction", "accuracy")


@dataclass(frozen=True)
class Panel:
    """One query of the report: a plot and its CSV (range query), or one column of the totals (instant query)."""

    key: str  # file stem: "duration_p95", "error_rate", ... ([a-z0-9_]+, unique)
    section: str  # "traffic" | "latency" | "tokens" | "cost" | "satisfaction" | "accuracy"
    title: str  # "Duration p95"
    unit: str  # "s", "req/s", "1" (ratio), "tokens/s", "USD/h", "score", "NPS", "calls", "tokens", "USD"
    expr: str  # the PromQL, with the job matcher and window already substituted
    by: tuple[str, ...]  # the labels each series is identified by


@dataclass(frozen=True)
class Scope:
    """Which series a report reads, and over which rate window."""

    job: str | None  # None: every job; else a regex on the job label (`job=~"…"`)
    window: str  # rate window, a Prometheus duration, e.g. "5m"
    extra: tuple[tuple[str, str], ...] = ()  # further exact matchers (e.g. (VARIANT, "a"))


def selector(metric: str, scope: Scope, *matchers: str) -> str:
    """``metric{job=~"…", k="v", matchers…}``: the series of ``metric`` in ``scope``."""
    parts = [f"{JOB}=~{quote(scope.job)}"] if scope.job is not None else []
    parts += [f"{label}={quote(value)}" for label, value in scope.extra]
    parts += matchers
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def _sum(by: Sequence[str], expr: str) -> str:
    return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"


def _outcome(which: str) -> str:
    return f'{OUTCOME}="{which}"' if "|" not in which else f'{OUTCOME}=~"{which}"'


@dataclass(frozen=True)
class _Queries:
    """PromQL builders over one scope, turning counters into numbers with ``function(…[range])``."""

    scope: Scope
    function: str  # "rate" (per second, panels) or "increase" (totals over the range)
    range: str
    pm: tuple[str, ...] = PER_MODEL  # the labels of one model's series (with the variant when split by it)

    @property
    def pe(self) -> tuple[str, ...]:
        """The labels of one evaluation's series of one model."""
        return (*self.pm, EVALUATION)

    def total(self, by: Sequence[str], metric: str, *matchers: str) -> str:
        """``sum by (by) (function(metric{…}[range]))``."""
        return _sum(by, f"{self.function}({selector(metric, self.scope, *matchers)}[{self.range}])")

    def quantile(self, q: float, histogram: str, by: Sequence[str], *matchers: str) -> str:
        """The q-quantile of a classic histogram, per ``by``."""
        return f"histogram_quantile({q!r}, {self.total((*by, 'le'), f'{histogram}_bucket', *matchers)})"

    def mean(self, histogram: str, by: Sequence[str], *matchers: str) -> str:
        """The mean recorded value of a histogram: sum / count."""
        return f"{self.total(by, f'{histogram}_sum', *matchers)} / {self.total(by, f'{histogram}_count', *matchers)}"

    @staticmethod
    def ratio(numerator: str, denominator: str) -> str:
        """``numerator / denominator``, where a numerator without series counts as 0."""
        return f"({numerator} or {denominator} * 0) / {denominator}"

    def calls(self) -> str:
        """Calls (all, failed or not)."""
        return self.total(self.pm, f"{DURATION}_count")

    def errors(self) -> str:
        """Failed calls, 0 for a model without failures."""
        return f"{self.total(self.pm, f'{DURATION}_count', FAILED)} or {self.calls()} * 0"

    def error_ratio(self) -> str:
        """Share of calls that ended with an ``error.type``."""
        return self.ratio(self.total(self.pm, f"{DURATION}_count", FAILED), self.calls())

    def error_ratio_by_type(self) -> str:
        """Share of calls that failed with each ``error.type`` (no series for a model without failures)."""
        failed = self.total((*self.pm, ERROR_TYPE), f"{DURATION}_count", FAILED)
        return f"{failed} / on ({', '.join(self.pm)}) group_left {self.calls()}"

    def feedback(self, by: Sequence[str], kind: str, label: str | None = None) -> str:
        """Feedback of one kind (and label)."""
        matchers = [f"{FEEDBACK_KIND}={quote(kind)}"] + ([f"{FEEDBACK_LABEL}={quote(label)}"] if label else [])
        return self.total(by, FEEDBACK, *matchers)

    def tokens(self, token_type: str) -> str:
        """Tokens of one ``gen_ai.token.type`` (input, output)."""
        return self.total(self.pm, f"{TOKENS}_sum", f"{TOKEN_TYPE}={quote(token_type)}")

    def ratings(self) -> str:
        """Number of ``rating`` feedbacks."""
        return self.total(self.pm, f"{FEEDBACK_SCORE}_count", f'{FEEDBACK_KIND}="rating"')

    def thumbs_up_ratio(self) -> str:
        """Share of thumbs feedback that was "up"."""
        return self.ratio(self.feedback(self.pm, "thumbs", "up"), self.feedback(self.pm, "thumbs"))

    def mean_rating(self) -> str:
        """Mean ``rating`` feedback, on the scale the application declared."""
        return self.mean(FEEDBACK_SCORE, self.pm, f'{FEEDBACK_KIND}="rating"')

    def nps(self) -> str:
        """Net promoter score, -100 … 100: (promoters - detractors) / answers."""
        answers = self.feedback(self.pm, "nps")
        promoters = self.feedback(self.pm, "nps", "promoter")
        detractors = self.feedback(self.pm, "nps", "detractor")
        return f"100 * (({promoters} or {answers} * 0) - ({detractors} or {answers} * 0)) / {answers}"

    def outcomes(self, by: Sequence[str], which: str, *matchers: str) -> str:
        """Evaluation outcomes matching ``which`` (``tp``, ``tp|fp``, …)."""
        return self.total(by, OUTCOMES, *matchers, _outcome(which))

    def _macro(self, numerator: str, denominator: str, factor: str = "") -> str:
        # Per class (binary evaluations: the one class ""), then averaged over the classes. Where the class
        # was judged but the denominator is 0, the ratio is 0 (zero_division=0); unjudged classes drop out.
        by = (*self.pe, EVALUATION_CLASS)
        judged = self.outcomes(by, "tp|fp|fn|tn")
        top = f"({self.outcomes(by, numerator)} or {judged} * 0)"
        bottom = self.outcomes(by, denominator)
        if factor:  # F1: 2 tp / (2 tp + fp + fn) = 2 tp / (tp + (tp + fp + fn))
            top, bottom = f"2 * {top}", f"{top} + {bottom}"
        per_class = f"{top} / (({bottom}) > 0) or ({judged} > 0) * 0"
        return f"avg by ({', '.join(self.pe)}) ({per_class})"

    def precision(self) -> str:
        """tp / (tp + fp), macro-averaged over classes."""
        return self._macro("tp", "tp|fp")

    def recall(self) -> str:
        """tp / (tp + fn), macro-averaged over classes."""
        return self._macro("tp", "tp|fn")

    def f1(self) -> str:
        """2 tp / (2 tp + fp + fn), macro-averaged over classes."""
        return self._macro("tp", "tp|fp|fn", factor="2")

    def accuracy(self) -> str:
        """Binary: (tp + tn) / all; with classes: Σ tp / Σ (tp + fn)."""
        binary = self.ratio(self.outcomes(self.pe, "tp|tn", BINARY), self.outcomes(self.pe, "tp|fp|fn|tn", BINARY))
        per_class = self.ratio(self.outcomes(self.pe, "tp", PER_CLASS), self.outcomes(self.pe, "tp|fn", PER_CLASS))
        # An evaluation is either binary or per class, so `or` unions two disjoint sets of evaluations.
        return f"({binary}) or ({per_class})"

    def evaluation_samples(self) -> str:
        """Judged samples: every binary outcome, or the tp/fn of the expected class."""
        binary = self.outcomes(self.pe, "tp|fp|fn|tn", BINARY)
        return f"{binary} or {self.outcomes(self.pe, 'tp|fn', PER_CLASS)}"


def _grouping(by_variant: bool) -> tuple[str, ...]:
    return (*PER_MODEL, VARIANT) if by_variant else PER_MODEL


def panels(scope: Scope, by_variant: bool = False) -> list[Panel]:
    """The whole catalog of plotted panels (range queries), in report order; per variant too when asked."""
    q = _Queries(scope, "rate", scope.window, _grouping(by_variant))
    pm, pe = q.pm, q.pe
    return [
        Panel("request_rate", "traffic", "Request rate", "req/s", q.calls(), pm),
        Panel("error_rate", "traffic", "Error rate", "1", q.error_ratio(), pm),
        Panel("error_rate_by_type", "traffic", "Error rate by type", "1", q.error_ratio_by_type(), (*pm, ERROR_TYPE)),
        Panel("duration_p50", "latency", "Duration p50", "s", q.quantile(0.5, DURATION, pm), pm),
        Panel("duration_p95", "latency", "Duration p95", "s", q.quantile(0.95, DURATION, pm), pm),
        Panel("duration_p99", "latency", "Duration p99", "s", q.quantile(0.99, DURATION, pm), pm),
        Panel("ttfc_p95", "latency", "Time to first chunk p95", "s", q.quantile(0.95, TTFC, pm), pm),
        Panel(
            "time_per_output_token_p50",
            "latency",
            "Time per output token p50",
            "s",
            q.quantile(0.5, TIME_PER_TOKEN, pm),
            pm,
        ),
        Panel(
            "token_throughput",
            "tokens",
            "Token throughput",
            "tokens/s",
            q.total((*pm, TOKEN_TYPE), f"{TOKENS}_sum"),
            (*pm, TOKEN_TYPE),
        ),
        Panel("cost_rate", "cost", "Cost", "USD/h", f"3600 * {q.total(pm, COST)}", pm),
        Panel("thumbs_up_ratio", "satisfaction", "Thumbs-up ratio", "1", q.thumbs_up_ratio(), pm),
        Panel("mean_rating", "satisfaction", "Mean rating", "score", q.mean_rating(), pm),
        Panel("nps", "satisfaction", "NPS", "NPS", q.nps(), pm),
        Panel("evaluation_score", "accuracy", "Mean evaluation score", "score", q.mean(EVALUATION_SCORE, pe), pe),
        Panel("evaluation_accuracy", "accuracy", "Evaluation accuracy", "1", q.accuracy(), pe),
        Panel("evaluation_precision", "accuracy", "Evaluation precision", "1", q.precision(), pe),
        Panel("evaluation_recall", "accuracy", "Evaluation recall", "1", q.recall(), pe),
        Panel("evaluation_f1", "accuracy", "Evaluation F1", "1", q.f1(), pe),
    ]


def totals(scope: Scope, range_: str, by_variant: bool = False) -> list[Panel]:
    """Figures over the whole range (instant queries at its end) per provider and model, in table order."""
    q = _Queries(scope, "increase", range_, _grouping(by_variant))
    pm, pe = q.pm, q.pe
    return [
        Panel("calls", "traffic", "Calls", "calls", q.calls(), pm),
        Panel("errors", "traffic", "Errors", "calls", q.errors(), pm),
        Panel("error_rate", "traffic", "Error rate", "1", q.error_ratio(), pm),
        Panel("duration_p50", "latency", "Duration p50", "s", q.quantile(0.5, DURATION, pm), pm),
        Panel("duration_p95", "latency", "Duration p95", "s", q.quantile(0.95, DURATION, pm), pm),
        Panel("duration_p99", "latency", "Duration p99", "s", q.quantile(0.99, DURATION, pm), pm),
        Panel("ttfc_p95", "latency", "Time to first chunk p95", "s", q.quantile(0.95, TTFC, pm), pm),
        Panel(
            "time_per_output_token_mean", "latency", "Mean time per output token", "s", q.mean(TIME_PER_TOKEN, pm), pm
        ),
        Panel("tokens_input", "tokens", "Input tokens", "tokens", q.tokens("input"), pm),
        Panel("tokens_output", "tokens", "Output tokens", "tokens", q.tokens("output"), pm),
        Panel("cost", "cost", "Cost", "USD", q.total(pm, COST), pm),
        Panel("thumbs_votes", "satisfaction", "Thumbs votes", "votes", q.feedback(pm, "thumbs"), pm),
        Panel("thumbs_up_ratio", "satisfaction", "Thumbs-up ratio", "1", q.thumbs_up_ratio(), pm),
        Panel("ratings", "satisfaction", "Ratings", "ratings", q.ratings(), pm),
        Panel("mean_rating", "satisfaction", "Mean rating", "score", q.mean_rating(), pm),
        Panel("nps_answers", "satisfaction", "NPS answers", "answers", q.feedback(pm, "nps"), pm),
        Panel("nps", "satisfaction", "NPS", "NPS", q.nps(), pm),
        Panel("evaluation_samples", "accuracy", "Evaluated samples", "samples", q.evaluation_samples(), pe),
        Panel("evaluation_score", "accuracy", "Mean evaluation score", "score", q.mean(EVALUATION_SCORE, pe), pe),
        Panel("evaluation_accuracy", "accuracy", "Evaluation accuracy", "1", q.accuracy(), pe),
        Panel("evaluation_precision", "accuracy", "Evaluation precision", "1", q.precision(), pe),
        Panel("evaluation_recall", "accuracy", "Evaluation recall", "1", q.recall(), pe),
        Panel("evaluation_f1", "accuracy", "Evaluation F1", "1", q.f1(), pe),
    ]


def series_names() -> tuple[str, ...]:
    """One series name per metric of the contract that shows whether it has data (``_count`` or ``_total``)."""
    return tuple(spec.prometheus if spec.kind != "histogram" else f"{spec.prometheus}_count" for spec in CONTRACT)
