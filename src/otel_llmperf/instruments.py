# SPDX-License-Identifier: Apache-2.0
"""Every metric otel-llmperf emits: name, unit, buckets and description, in one place.

Dashboards, alert rules and users' queries depend on these names (the metric reference,
docs/metrics.md, which a test checks against this list); the Prometheus series names follow from
them by the OpenTelemetry rules (dots to underscores, ``s`` → ``_seconds``, ``{token}`` dropped,
counters get ``_total``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation
from opentelemetry.semconv._incubating.metrics.gen_ai_metrics import (
    GEN_AI_CLIENT_OPERATION_DURATION,
    GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
    GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    GEN_AI_CLIENT_TOKEN_USAGE,
)
from opentelemetry.util.types import AttributeValue

# Semconv advisory boundaries for GenAI client durations: 0.01 s doubling up to 81.92 s.
DURATION_BUCKETS: tuple[float, ...] = tuple(round(0.01 * 2**k, 2) for k in range(14))
# Semconv advisory boundaries for token counts: powers of 4 up to 4^13.
TOKEN_BUCKETS: tuple[float, ...] = tuple(float(4**k) for k in range(14))
# Per-token latency lives between ~5 ms and ~200 ms, where the doubling duration buckets are
# too coarse; these are the semconv advisory boundaries of gen_ai.server.time_per_output_token.
TIME_PER_TOKEN_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip

# Feedback ratings run 1-5, NPS 0-10; scales up to 100 land in the tens.
FEEDBACK_SCORE_BUCKETS: tuple[float, ...] = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100,
)  # fmt: skip
# Evaluation scores live in [0, 1]; 0.95 separates "good" from "perfect".
EVALUATION_SCORE_BUCKETS: tuple[float, ...] = (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1)

LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN = "llmperf.client.time_per_output_token"
LLMPERF_FEEDBACK = "llmperf.feedback"
LLMPERF_FEEDBACK_SCORE = "llmperf.feedback.score"
LLMPERF_EVALUATION_SCORE = "llmperf.evaluation.score"
LLMPERF_EVALUATION_OUTCOME = "llmperf.evaluation.outcome"
LLMPERF_USAGE_COST = "llmperf.usage.cost"
LLMPERF_EXPERIMENT_EXPOSURES = "llmperf.experiment.exposures"
LLMPERF_EXPERIMENT_WEIGHT = "llmperf.experiment.weight"
LLMPERF_MODEL_IDENTITY = "llmperf.model.identity"
LLMPERF_CLIENT_FINISH_REASONS = "llmperf.client.finish_reasons"


@dataclass(frozen=True)
class MetricSpec:
    """One row of the metric contract."""

    name: str
    kind: str
    unit: str
    prometheus: str
    buckets: tuple[float, ...]
    description: str


CONTRACT: tuple[MetricSpec, ...] = (
    MetricSpec(
        GEN_AI_CLIENT_OPERATION_DURATION,
        "histogram",
        "s",
        "gen_ai_client_operation_duration_seconds",
        DURATION_BUCKETS,
        "Duration of GenAI client operations, from the call until the response or the end of the stream.",
    ),
    MetricSpec(
        GEN_AI_CLIENT_TOKEN_USAGE,
        "histogram",
        "{token}",
        "gen_ai_client_token_usage",
        TOKEN_BUCKETS,
        "Number of input and output tokens used, as reported by the provider.",
    ),
    MetricSpec(
        GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
        "histogram",
        "s",
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        DURATION_BUCKETS,
        "Time from the call until the first output chunk of a streaming response arrived.",
    ),
    MetricSpec(
        GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
        "histogram",
        "s",
        "gen_ai_client_operation_time_per_output_chunk_seconds",
        DURATION_BUCKETS,
        "Time between consecutive output chunks of a streaming response, one value per chunk after the first.",
    ),
    MetricSpec(
        LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN,
        "histogram",
        "s",
        "llmperf_client_time_per_output_token_seconds",
        TIME_PER_TOKEN_BUCKETS,
        "Mean time per output token after the first, in a stream whose output token count is known.",
    ),
    MetricSpec(
        LLMPERF_USAGE_COST,
        "counter",
        "USD",
        "llmperf_usage_cost_USD_total",
        (),
        "Cost of LLM calls in US dollars, from reported token usage and the price table (list prices).",
    ),
    MetricSpec(
        LLMPERF_FEEDBACK,
        "counter",
        "{feedback}",
        "llmperf_feedback_total",
        (),
        "User feedback about LLM calls, by kind (thumbs, rating, nps, label) and label.",
    ),
    MetricSpec(
        LLMPERF_FEEDBACK_SCORE,
        "histogram",
        "1",
        "llmperf_feedback_score",
        FEEDBACK_SCORE_BUCKETS,
        "Numeric user feedback: ratings on their declared scale and NPS answers (0-10).",
    ),
    MetricSpec(
        LLMPERF_EVALUATION_SCORE,
        "histogram",
        "1",
        "llmperf_evaluation_score",
        EVALUATION_SCORE_BUCKETS,
        "Evaluation scores in [0, 1], by gen_ai.evaluation.name.",
    ),
    MetricSpec(
        LLMPERF_EVALUATION_OUTCOME,
        "counter",
        "{outcome}",
        "llmperf_evaluation_outcome_total",
        (),
        "Classification outcomes (tp, fp, fn, tn) of evaluations: precision, recall, F1 and accuracy in PromQL.",
    ),
    MetricSpec(
        LLMPERF_EXPERIMENT_EXPOSURES,
        "counter",
        "{exposure}",
        "llmperf_experiment_exposures_total",
        (),
        "Assignments entered, by llmperf.experiment and llmperf.variant (every entry counts; no dedupe per unit).",
    ),
    # "{share}", not "1": Prometheus' OTLP translation would append _ratio to a gauge of unit 1,
    # and the scrape and OTLP paths must give the same name.
    MetricSpec(
        LLMPERF_EXPERIMENT_WEIGHT,
        "gauge",
        "{share}",
        "llmperf_experiment_weight",
        (),
        "Declared share of each variant of an experiment (its weight over the sum), for sample-ratio checks.",
    ),
    MetricSpec(
        LLMPERF_MODEL_IDENTITY,
        "counter",
        "{call}",
        "llmperf_model_identity_total",
        (),
        "Calls by the model identity the provider reported: response model and, where returned, system fingerprint.",
    ),
    MetricSpec(
        LLMPERF_CLIENT_FINISH_REASONS,
        "counter",
        "{choice}",
        "llmperf_client_finish_reasons_total",
        (),
        "Finish reasons the provider reported, one count per choice of a completed call.",
    ),
)

_BY_NAME = {spec.name: spec for spec in CONTRACT}


def spec(name: str) -> MetricSpec:
    """The row of the contract named ``name``."""
    return _BY_NAME[name]


def counter(meter: Meter, name: str) -> Counter:
    """The counter of the contract named ``name``."""
    spec = _BY_NAME[name]
    return meter.create_counter(name=spec.name, unit=spec.unit, description=spec.description)


def histogram(meter: Meter, name: str) -> Histogram:
    """The histogram of the contract named ``name``, with its advisory buckets."""
    spec = _BY_NAME[name]
    return meter.create_histogram(
        name=spec.name,
        unit=spec.unit,
        description=spec.description,
        explicit_bucket_boundaries_advisory=list(spec.buckets),
    )


# The SDK's default cardinality limit per metric, and its overflow series.
MAX_COST_SERIES = 2000
_COST_OVERFLOW: frozenset[tuple[str, AttributeValue]] = frozenset({("otel.metric.overflow", True)})


class CostTotals:
    """Running USD totals per attribute set, reported by an observable counter when metrics are collected.

    The SDK's ``Counter.add`` costs 8-10 µs a call (attribute cleaning and hashing, aggregation,
    exemplar sampling); a dict update under a lock costs well under 1 µs, and the exported series
    is the same cumulative sum. Exemplars are lost, which a dollar counter does not need.
    """

    __slots__ = ("_limit", "_lock", "_totals")

    def __init__(self, limit: int = MAX_COST_SERIES) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._totals: dict[frozenset[tuple[str, AttributeValue]], float] = {}

    def add(self, amount: float, attributes: Mapping[str, AttributeValue]) -> None:
        """Add ``amount`` USD to the total of ``attributes``."""
        # A set: the same attributes in another order are the same series (the SDK would keep only
        # the last of two observations with equal attributes).
        key = frozenset(attributes.items())
        with self._lock:
            totals = self._totals
            if key not in totals and len(totals) >= self._limit - 1:
                # Like the SDK's own cardinality limit: later new series add to one overflow total,
                # so the dict never outgrows the series the SDK would export anyway.
                key = _COST_OVERFLOW
            totals[key] = totals.get(key, 0.0) + amount

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        """The current totals, for the SDK's collection."""
        with self._lock:
            totals = list(self._totals.items())
        return [Observation(total, dict(key)) for key, total in totals]


# One observable counter per meter and name: instrument() may run again on the same meter (after
# uninstrument, or for another provider's SDK), and the SDK keeps the first callback.
_observed_totals: WeakKeyDictionary[Meter, dict[str, CostTotals]] = WeakKeyDictionary()
_cost_lock = threading.Lock()


def observed_totals(meter: Meter, name: str) -> CostTotals:
    """The totals behind ``meter``'s observable counter ``name`` of the contract, registering it the first time."""
    with _cost_lock:
        by_name = _observed_totals.setdefault(meter, {})
        totals = by_name.get(name)
        if totals is None:
            totals = CostTotals()
            spec = _BY_NAME[name]
            meter.create_observable_counter(
                spec.name, callbacks=[totals.observe], unit=spec.unit, description=spec.description
            )
            by_name[name] = totals
        return totals


def cost_totals(meter: Meter) -> CostTotals:
    """The totals behind ``meter``'s llmperf.usage.cost counter, registering the counter the first time."""
    return observed_totals(meter, LLMPERF_USAGE_COST)


class Instruments:
    """The instruments of one meter, created once at instrument time."""

    __slots__ = (
        "cost",
        "duration",
        "finish_reasons",
        "identity",
        "time_per_output_chunk",
        "time_per_output_token",
        "time_to_first_chunk",
        "token_usage",
    )

    def __init__(self, meter: Meter) -> None:
        self.duration = histogram(meter, GEN_AI_CLIENT_OPERATION_DURATION)
        self.token_usage = histogram(meter, GEN_AI_CLIENT_TOKEN_USAGE)
        self.time_to_first_chunk = histogram(meter, GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK)
        self.time_per_output_chunk = histogram(meter, GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK)
        self.time_per_output_token = histogram(meter, LLMPERF_CLIENT_TIME_PER_OUTPUT_TOKEN)
        self.cost = cost_totals(meter)
        # Per-call counts, kept as dict totals for the same reason as the cost (see CostTotals).
        self.identity = observed_totals(meter, LLMPERF_MODEL_IDENTITY)
        self.finish_reasons = observed_totals(meter, LLMPERF_CLIENT_FINISH_REASONS)
