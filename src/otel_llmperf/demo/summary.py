# SPDX-License-Identifier: Apache-2.0
"""The demo's live terminal summary, computed from the same histograms Prometheus scrapes.

Quantiles are estimated from bucket counts the way PromQL's ``histogram_quantile`` does
(linear interpolation inside the bucket), so the numbers match a Grafana panel.
"""

from __future__ import annotations

import math
import textwrap
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
    if math.isnan(seconds):
        return "-"
    # Seconds past 10 s keep the column 9 wide whatever the latency.
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


@dataclass(frozen=True)
class _Column:
    title: str
    width: int
    left: bool = False


PROVIDER = _Column("provider", 11, left=True)
MODEL = _Column("model", 24, left=True)
MODEL_MIN = 20  # the model column gives up width before any column is dropped, down to this
COLUMNS = (
    PROVIDER,
    MODEL,
    _Column("calls", 6),
    _Column("errors", 6),
    _Column("p50 dur", 9),
    _Column("p95 dur", 9),
    _Column("p95 TTFC", 9),
    _Column("out tok/s", 9),
    _Column("thumbs up", 9),
    _Column("accuracy", 8),
)
# Dropped first to last when the terminal is too narrow; provider, model and p95 duration always stay.
# At 80 columns the table keeps calls, errors, p95 duration, p95 TTFC and out tok/s.
DROP_ORDER = ("accuracy", "thumbs up", "p50 dur", "errors", "out tok/s", "p95 TTFC", "calls")


def _layout(width: int) -> tuple[list[_Column], list[str]]:
    """The columns that fit ``width`` (model column widened into what is left), and the titles dropped."""
    columns = list(COLUMNS)
    dropped: list[str] = []

    def needed(model: int) -> int:
        return sum(model if column is MODEL else column.width for column in columns) + len(columns) - 1

    for title in DROP_ORDER:
        if needed(MODEL_MIN) <= width:
            break
        columns = [column for column in columns if column.title != title]
        dropped.append(title)
    model = max(MODEL_MIN, min(MODEL.width, MODEL_MIN + width - needed(MODEL_MIN)))
    return [_Column("model", model, left=True) if c is MODEL else c for c in columns], dropped


def _cells(row: ModelRow, key: tuple[str, str], rate: float) -> dict[str, str]:
    return {
        "provider": key[0],
        "model": key[1],
        "calls": f"{row.calls}",
        "errors": f"{row.errors}",
        "p50 dur": _ms(row.duration.quantile(0.5)),
        "p95 dur": _ms(row.duration.quantile(0.95)),
        "p95 TTFC": _ms(row.ttfc.quantile(0.95)),
        "out tok/s": f"{rate:,.0f}",
        "thumbs up": _share(row.thumbs_up, row.thumbs),
        "accuracy": _share(row.correct, row.judged),
    }


def _line(columns: Sequence[_Column], cells: dict[str, str]) -> str:
    return " ".join(
        f"{cells[c.title][: c.width]:<{c.width}}" if c.left else f"{cells[c.title]:>{c.width}}" for c in columns
    ).rstrip()


def render(
    rows: dict[tuple[str, str], ModelRow],
    previous: dict[tuple[str, str], ModelRow],
    interval: float,
    elapsed: float,
    width: int = 80,
) -> str:
    """A table that fits ``width`` columns, with a legend; token throughput is over the last ``interval`` s."""
    columns, dropped = _layout(width)
    lines = [f"otel-llmperf demo — {elapsed:,.0f} s elapsed", _line(columns, {c.title: c.title for c in columns})]
    lines.append("-" * len(lines[-1]))
    for key in sorted(rows):
        row = rows[key]
        before = previous.get(key)
        rate = (row.output_tokens - (before.output_tokens if before else 0.0)) / interval if interval > 0 else 0.0
        lines.append(_line(columns, _cells(row, key, rate)))
    if not rows:
        lines.append("(no calls recorded yet)")
    legend = "quantiles since start, as histogram_quantile"
    if "out tok/s" not in dropped:
        legend = (
            f"out tok/s: output tokens per second over the last {interval:.0f} s, summed over the model's calls; "
            + legend
        )
    if dropped:
        legend += f"; hidden at {width} columns: {', '.join(dropped)}"
    lines += textwrap.wrap(legend, max(width, 20))
    # Last resort for a terminal narrower than the essential columns: cut, never wrap.
    return "\n".join(line[:width] for line in lines)
