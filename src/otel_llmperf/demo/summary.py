# SPDX-License-Identifier: Apache-2.0
"""The demo's live terminal summary, computed from the same histograms Prometheus scrapes.

Quantiles are estimated from bucket counts the way PromQL's ``histogram_quantile`` does
(linear interpolation inside the bucket), so the numbers match a Grafana panel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics.export import HistogramDataPoint, MetricsData

DURATION = "gen_ai.client.operation.duration"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
TOKENS = "gen_ai.client.token.usage"
FEEDBACK = "llmperf.feedback"
OUTCOME = "llmperf.evaluation.outcome"


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float:
    """The q-quantile of a histogram (``counts`` has one more entry than ``bounds``), NaN when empty."""
    total = sum(counts)
    if total == 0 or not 0 <= q <= 1:
        return math.nan
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if seen + count >= rank and count > 0:
            if index == len(bounds):  # the +Inf bucket: report its lower edge, as Prometheus does
                return bounds[-1] if bounds else math.nan
            lower = bounds[index - 1] if index > 0 else 0.0
            return lower + (bounds[index] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1] if bounds else math.nan


@dataclass
class Histogram:
    """Bucket counts merged over data points."""

    bounds: tuple[float, ...] = ()
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def add(self, point: HistogramDataPoint) -> None:
        """Merge one data point with the same bucket boundaries."""
        if not self.counts:
            self.bounds = tuple(point.explicit_bounds)
            self.counts = [0] * len(point.bucket_counts)
        self.counts = [a + b for a, b in zip(self.counts, point.bucket_counts, strict=True)]
        self.total += point.sum

    @property
    def count(self) -> int:
        """Number of recorded values."""
        return sum(self.counts)

    def quantile(self, q: float) -> float:
        """Estimated q-quantile."""
        return histogram_quantile(q, self.bounds, self.counts)


@dataclass
class ModelRow:
    """What the summary shows for one (provider, model)."""

    calls: int = 0
    errors: int = 0
    duration: Histogram = field(default_factory=Histogram)
    ttfc: Histogram = field(default_factory=Histogram)
    output_tokens: float = 0.0
    thumbs_up: float = 0.0
    thumbs: float = 0.0
    correct: float = 0.0  # evaluation outcomes tp + tn
    judged: float = 0.0


def _points(data: MetricsData | None, name: str) -> Iterable[Any]:
    if data is None:
        return
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    yield from metric.data.data_points


def _key(attributes: Any) -> tuple[str, str]:
    attributes = attributes or {}
    return str(attributes.get("gen_ai.provider.name", "?")), str(attributes.get("gen_ai.request.model", "?"))


def summarise(data: MetricsData | None) -> dict[tuple[str, str], ModelRow]:
    """Rows per (provider, request model) from cumulative metrics data."""
    rows: dict[tuple[str, str], ModelRow] = {}
    for point in _points(data, DURATION):
        row = rows.setdefault(_key(point.attributes), ModelRow())
        row.calls += point.count
        if (point.attributes or {}).get("error.type"):
            row.errors += point.count
        row.duration.add(point)
    for point in _points(data, TTFC):
        rows.setdefault(_key(point.attributes), ModelRow()).ttfc.add(point)
    for point in _points(data, TOKENS):
        if (point.attributes or {}).get("gen_ai.token.type") == "output":
            rows.setdefault(_key(point.attributes), ModelRow()).output_tokens += point.sum
    _add_trust(data, rows)
    return rows


def _add_trust(data: MetricsData | None, rows: dict[tuple[str, str], ModelRow]) -> None:
    # Only rows that have calls: offline evaluations of other models are not shown.
    for point in _points(data, FEEDBACK):
        attributes = point.attributes or {}
        row = rows.get(_key(attributes))
        if row is not None and attributes.get("llmperf.feedback.kind") == "thumbs":
            row.thumbs += point.value
            row.thumbs_up += point.value if attributes.get("llmperf.feedback.label") == "up" else 0
    for point in _points(data, OUTCOME):
        attributes = point.attributes or {}
        row = rows.get(_key(attributes))
        if row is not None and not attributes.get("llmperf.evaluation.class"):
            row.judged += point.value
            row.correct += point.value if attributes.get("llmperf.evaluation.outcome") in ("tp", "tn") else 0


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:,.0f} ms"


def render(
    rows: dict[tuple[str, str], ModelRow], previous: dict[tuple[str, str], ModelRow], interval: float, elapsed: float
) -> str:
    """A fixed-width table; token throughput is over the last interval."""
    header = (
        f"{'provider':<11} {'model':<24} {'calls':>6} {'errors':>6} {'p50 dur':>10} {'p95 dur':>10} "
        f"{'p95 TTFC':>10} {'out tok/s':>10} {'thumbs up':>10} {'accuracy':>9}"
    )
    lines = [f"otel-llmperf demo — {elapsed:,.0f} s elapsed (quantiles since start, as histogram_quantile)", header]
    lines.append("-" * len(header))
    for key in sorted(rows):
        row = rows[key]
        before = previous.get(key)
        rate = (row.output_tokens - (before.output_tokens if before else 0.0)) / interval if interval > 0 else 0.0
        lines.append(
            f"{key[0][:11]:<11} {key[1][:24]:<24} {row.calls:>6} {row.errors:>6} {_ms(row.duration.quantile(0.5)):>10} "
            f"{_ms(row.duration.quantile(0.95)):>10} {_ms(row.ttfc.quantile(0.95)):>10} {rate:>10,.0f} "
            f"{_share(row.thumbs_up, row.thumbs):>10} {_share(row.correct, row.judged):>9}"
        )
    if not rows:
        lines.append("(no calls recorded yet)")
    return "\n".join(lines)
