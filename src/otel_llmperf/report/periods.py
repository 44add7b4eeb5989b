# SPDX-License-Identifier: Apache-2.0
"""What ``report --baseline`` found: the two periods, the compared signals, the model identities.

Plain data (no queries), so :class:`~otel_llmperf.report.collect.ReportData` can hold it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from otel_llmperf.report import stats
from otel_llmperf.report.prom import Series
from otel_llmperf.report.queries import Panel
from otel_llmperf.report.stats import Comparison
from otel_llmperf.report.thresholds import is_shifted

DEFAULT_OFFSET = "7d"


@dataclass(frozen=True)
class Period:
    """A closed time range, unix seconds."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        """Its length."""
        return self.end - self.start

    @property
    def range_(self) -> str:
        """Its length as a Prometheus duration."""
        return duration(self.seconds)


def duration(seconds: float) -> str:
    """``seconds`` as a Prometheus duration (``90s``, ``5m``, ``2h``)."""
    whole_seconds = max(round(seconds), 1)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole_seconds % size == 0:
            return f"{whole_seconds // size}{unit}"
    return f"{whole_seconds}s"


@dataclass(frozen=True)
class IdentityRow:
    """One model identity (requested model → response model and fingerprint) and its calls in each period."""

    provider: str
    request_model: str
    response_model: str
    fingerprint: str
    baseline: int
    recent: int

    @property
    def status(self) -> str:
        """``new`` (only recent), ``gone`` (only baseline) or ``unchanged``."""
        if not self.baseline:
            return "new"
        return "gone" if not self.recent else "unchanged"


@dataclass
class BaselineResult:
    """The baseline comparison of one report."""

    baseline: Period
    recent: Period
    option: str  # how the baseline was asked for, e.g. "--baseline 7d"
    rows: list[Comparison]
    identities: list[IdentityRow] | None  # None: no model-identity series in either period
    notes: list[str] = field(default_factory=list)  # signals left out, and why
    plots: list[tuple[Panel, list[Series]]] = field(default_factory=list)  # quality signals over both periods
    alpha: float = stats.ALPHA
    # Per row (metric): the relative change that counts as a shift (report.thresholds); absent: any.
    min_change: dict[str, float] = field(default_factory=dict)

    def flags(self, row: Comparison) -> bool:
        """Whether ``row`` is shifted: significant after Holm and at least its ``min_change`` in size."""
        return is_shifted(row, self.min_change.get(row.metric, 0.0))

    @property
    def shifted(self) -> list[Comparison]:
        """The rows flagged as shifted (see :meth:`flags`)."""
        return [row for row in self.rows if self.flags(row)]

    @property
    def identity_changed(self) -> bool:
        """Whether some model identity is new or gone."""
        return any(row.status != "unchanged" for row in self.identities or ())


def baseline_period(
    end: float, range_seconds: float, offset: float | None, start: float | None, stop: float | None
) -> Period:
    """The baseline period: ``offset`` earlier than the recent range, or ``start``..``stop`` when given."""
    if start is not None and stop is not None:
        return Period(start, stop)
    shift = offset if offset is not None else 7 * 86400.0
    return Period(end - range_seconds - shift, end - shift)


def identity_table(rows: Sequence[IdentityRow]) -> list[Mapping[str, object]]:
    """The identity rows as plain records (for CSV and DataFrames)."""
    return [{**dataclasses.asdict(row), "status": row.status} for row in rows]
