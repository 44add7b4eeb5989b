# SPDX-License-Identifier: Apache-2.0
"""Run the report's catalog against Prometheus: panels over time, totals over the range, SLO attainment.

:func:`collect` first asks Prometheus (from its index, cheaply) whether any otel-llmperf series exist
for the scope in the range, and stops with a :class:`NoSeriesError` that says what is there when
none does. Then it runs one range query per panel, one instant query per total and two per SLO
(good and total calls), calling ``progress`` after each query (:func:`query_count` says how many).

SLO attainment over the range is good / total calls counted with ``increase(…[range])`` and the
same matchers as the SLO's recording rules (:func:`otel_llmperf.slo_rules.error_ratio_expr`): the
bucket ``le=threshold``, the SLO's filters, and ``error_type=""`` when failed calls count as bad.
The error budget consumed is (1 - attainment) / (1 - objective): 1.0 means the range used exactly
the budget it was allowed, above 1 it overspent.

Standard library and otel_llmperf only (the ``report`` extra is not needed to collect).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otel_llmperf.report.prom import Prometheus, PrometheusError, Series
from otel_llmperf.report.queries import JOB, Panel, Scope, panels, selector, series_names, totals
from otel_llmperf.slo import Slo, SloSpec, parse_spec
from otel_llmperf.slo_rules import le_matcher, quote

if TYPE_CHECKING:
    from otel_llmperf.report.periods import BaselineResult
    from otel_llmperf.report.srm import SrmResult
    from otel_llmperf.report.stats import Comparison

# The SLOs of grafana/slo.yaml, for a report run where that file is not at hand (a test keeps them equal).
DEFAULT_SLOS = {
    "version": 1,
    "slos": [
        {
            "name": "chat-duration",
            "description": "Chat calls complete within 10.24 s",
            "metric": "gen_ai.client.operation.duration",
            "threshold": 10.24,
            "objective": 0.99,
            "period": "30d",
            "filters": {"gen_ai_operation_name": "chat"},
            "errors_are_bad": True,
            "group_by": ["job"],
        },
        {
            "name": "chat-time-to-first-chunk",
            "description": "Streaming chat calls show their first chunk within 2.56 s",
            "metric": "gen_ai.client.operation.time_to_first_chunk",
            "threshold": 2.56,
            "objective": 0.99,
            "period": "30d",
            "filters": {"gen_ai_operation_name": "chat"},
            "errors_are_bad": True,
            "group_by": ["job"],
        },
    ],
}


class NoSeriesError(PrometheusError):
    """Prometheus answers but holds none of otel-llmperf's series for the scope and range."""


@dataclass
class PanelData:
    """One panel and what its range query returned."""

    panel: Panel
    series: list[Series]  # as Prometheus returned them (query_range)


@dataclass(frozen=True)
class SloResult:
    """One SLO (and group) over the report's range."""

    name: str
    description: str
    threshold: float
    objective: float
    group: dict[str, str]  # the group_by labels of this row (e.g. {"job": "x"})
    good: float  # calls over the range (increase(): extrapolated, so not always whole numbers)
    total: float
    attainment: float | None  # good/total, None when total == 0
    budget_consumed: float | None  # (1 - attainment) / (1 - objective); 1.0 = the whole budget of the range


@dataclass
class ReportData:
    """Everything a report shows, as queried."""

    prometheus: str
    job: str | None
    start: float
    end: float
    step: float
    window: str
    range_: str
    panels: list[PanelData]
    totals: dict[str, list[Series]]  # Panel.key of totals() → instant result at `end`
    slos: list[SloResult]
    comparison: list[Comparison] | None = None  # filled by the command from compare.py when --compare-variants
    extra: tuple[tuple[str, str], ...] = ()  # Scope.extra: rebuild the scope as Scope(job, window, extra)
    alpha: float = 0.05  # the significance level of the comparison's verdicts (after Holm)
    slo_spec: SloSpec | None = None  # the SLOs of `slos` (and of the comparison), to rebuild their queries
    srm: list[SrmResult] | None = None  # sample-ratio checks of declared experiments (report.srm_section)
    baseline: BaselineResult | None = None  # filled by the command from baseline.py when --baseline

    @property
    def scope(self) -> Scope:
        """The scope the data was collected for (to rebuild its queries)."""
        return Scope(job=self.job, window=self.window, extra=self.extra)


def default_slo_spec() -> SloSpec:
    """The SLOs of the bundled stack (``grafana/slo.yaml``): chat duration ≤ 10.24 s and TTFC ≤ 2.56 s, 99 %."""
    return parse_spec(DEFAULT_SLOS)


def query_count(scope: Scope, range_: str, slo_spec: SloSpec | None) -> int:
    """How many times :func:`collect` calls ``progress``: the series check, each panel, total and SLO query."""
    slos = len(slo_spec.slos) if slo_spec is not None else 0
    return 1 + len(panels(scope)) + len(totals(scope, range_)) + 2 * slos


def slo_queries(slo: Slo, scope: Scope, range_: str) -> tuple[str, str]:
    """(good calls, total calls) of ``slo`` over ``range_`` in ``scope``, summed by the SLO's group_by."""
    filters = [f"{label}={quote(value)}" for label, value in slo.filters]
    bad_errors = ['error_type=""'] if slo.errors_are_bad else []
    bucket = selector(f"{slo.metric.prometheus}_bucket", scope, *filters, *bad_errors, le_matcher(slo.threshold))
    count = selector(f"{slo.metric.prometheus}_count", scope, *filters)

    def summed(expr: str) -> str:
        return f"sum by ({', '.join(slo.group_by)}) ({expr})" if slo.group_by else f"sum({expr})"

    return summed(f"increase({bucket}[{range_}])"), summed(f"increase({count}[{range_}])")


def slo_results(
    prom: Prometheus, slo: Slo, scope: Scope, at: float, range_: str, progress: Callable[[str], None] = lambda _: None
) -> list[SloResult]:
    """Attainment and budget consumed of ``slo`` per group over ``range_`` ending at ``at``."""
    good_expr, total_expr = slo_queries(slo, scope, range_)
    good = {_key(s.labels, slo.group_by): _value(s) for s in prom.query(good_expr, at)}
    progress(f"SLO {slo.name}: good calls")
    totals_ = {_key(s.labels, slo.group_by): _value(s) for s in prom.query(total_expr, at)}
    progress(f"SLO {slo.name}: all calls")
    results = []
    for key in sorted(totals_):
        total = totals_[key]
        # A group whose calls all failed (errors_are_bad) has no error_type="" bucket at all: 0 good calls.
        ok = good.get(key, 0.0)
        attainment: float | None = None
        if total > 0:
            # increase() extrapolates each series on its own, so good can exceed total by a hair.
            attainment = min(1.0, max(0.0, ok / total))
        budget = None if attainment is None else (1.0 - attainment) / slo.error_budget
        results.append(
            SloResult(
                name=slo.name,
                description=slo.description,
                threshold=slo.threshold,
                objective=slo.objective,
                group=dict(key),
                good=ok,
                total=total,
                attainment=attainment,
                budget_consumed=budget,
            )
        )
    return results


def _key(labels: dict[str, str], by: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple((label, labels.get(label, "")) for label in by)


def _value(series: Series) -> float:
    return series.points[-1][1] if series.points else 0.0


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _describe(scope: Scope) -> str:
    parts = [f"{JOB}=~{quote(scope.job)}"] if scope.job is not None else []
    parts += [f"{label}={quote(value)}" for label, value in scope.extra]
    return f"series matching {{{', '.join(parts)}}}" if parts else "series"


def check_series(prom: Prometheus, scope: Scope, start: float, end: float, range_: str) -> set[str]:
    """The otel-llmperf series names with data for ``scope`` in the range; a NoSeriesError when there is none."""
    ours = series_names()
    name_matcher = f"__name__=~{quote('|'.join(ours))}"
    # The label-values API answers from the index, without reading samples: cheap over any range.
    found = prom.metric_names(match=selector("", scope, name_matcher), start=start, end=end)
    if found:
        return found
    when = f"between {_utc(start)} and {_utc(end)} (UTC, --range {range_})"
    anywhere = prom.label_values(JOB, match=f"{{{name_matcher}}}")
    if anywhere:
        jobs = ", ".join(sorted(anywhere)[:20]) + (" …" if len(anywhere) > 20 else "")
        raise NoSeriesError(
            f"Prometheus at {prom.url} holds no otel-llmperf {_describe(scope)} {when}. It does hold otel-llmperf "
            f"series for the jobs: {jobs}. Check --job, --range and --end."
        )
    raise NoSeriesError(
        f"Prometheus at {prom.url} holds none of otel-llmperf's series (for example {ours[0]}) {when} or at any "
        "time. Is the instrumented application scraped by this Prometheus (or sending OTLP to it), and is this "
        "the right Prometheus?"
    )


def collect(
    prom: Prometheus,
    scope: Scope,
    start: float,
    end: float,
    step: float,
    range_: str,
    slo_spec: SloSpec | None,
    progress: Callable[[str], None] = lambda _: None,
) -> ReportData:
    """Query every panel, total and SLO; progress(title) after each query (see :func:`query_count`)."""
    check_series(prom, scope, start, end, range_)
    progress("Series in range")
    data = ReportData(
        prometheus=prom.url,
        job=scope.job,
        start=start,
        end=end,
        step=step,
        window=scope.window,
        range_=range_,
        panels=[],
        totals={},
        slos=[],
        comparison=None,
        extra=scope.extra,
        slo_spec=slo_spec,
    )
    for panel in panels(scope):
        data.panels.append(PanelData(panel, prom.query_range(panel.expr, start, end, step)))
        progress(panel.title)
    for panel in totals(scope, range_):
        data.totals[panel.key] = prom.query(panel.expr, end)
        progress(f"Total: {panel.title}")
    for slo in slo_spec.slos if slo_spec is not None else ():
        data.slos.extend(slo_results(prom, slo, scope, end, range_, progress))
    return data
