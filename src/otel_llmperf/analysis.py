# SPDX-License-Identifier: Apache-2.0
"""Every signal of ``otel-llmperf report`` as tidy pandas DataFrames, for analysts in notebooks.

::

    from otel_llmperf.analysis import Analysis

    prom = Analysis("http://127.0.0.1:9090", range="7d", step="5m")   # job="my-app", end=..., by_variant=True
    prom.signals()                            # the catalog: key, section, title, unit, PromQL
    accuracy = prom.signal("evaluation_accuracy")
    # time, unix_time, provider, model, variant, evaluation, value: one row per time and series
    prom.totals()                             # figures over the whole range, per provider/model/variant
    prom.compare_variants("a", "b")           # the report's A/B table (tests, intervals, Holm)
    prom.compare_baseline("7d")               # the report's --baseline table, with `min_change` and `shifted`
    prom.model_identity("7d")                 # who answered each requested model, in each period

It queries the same Prometheus HTTP API with the same PromQL as the report (:mod:`otel_llmperf.report`),
and the report's CSVs are written from these very frames. ``variant`` is empty for series without
an ``llmperf.variant`` (calls outside any experiment); ``by_variant=False`` pools the variants as
the report's plots do. Needs the ``report`` extra (pandas, numpy, scipy); importing this module
without pandas raises an ImportError saying what to install.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from otel_llmperf.report import frames
from otel_llmperf.report.periods import duration
from otel_llmperf.report.prom import Prometheus
from otel_llmperf.report.queries import Panel, Scope, panels, totals
from otel_llmperf.report.thresholds import drift_spec, min_changes
from otel_llmperf.slo import SloSpecError, duration_seconds

frames.require_pandas()

if TYPE_CHECKING:
    import pandas as pd

    from otel_llmperf.report.periods import BaselineResult

__all__ = ["Analysis"]


def _seconds(value: str, name: str) -> float:
    try:
        seconds = duration_seconds(value, name)
    except SloSpecError:
        raise ValueError(f"{name}={value!r} is not a Prometheus duration (e.g. 90s, 5m, 7d)") from None
    if seconds <= 0:
        raise ValueError(f"{name} must be longer than 0, got {value!r}")
    return seconds


class Analysis:
    """One Prometheus, scope (job) and period; each method runs its queries and returns a DataFrame."""

    def __init__(
        self,
        prometheus: str,
        *,
        range: str = "7d",  # noqa: A002 - the word the report's --range uses
        step: str = "5m",
        window: str | None = None,
        end: float | None = None,
        job: str | None = None,
        by_variant: bool = True,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        alpha: float = 0.05,
        seed: int = 0,
        drift: str | os.PathLike[str] | None = None,
    ) -> None:
        self.range_seconds = _seconds(range, "range")
        self.step = _seconds(step, "step")
        self.range_ = duration(self.range_seconds)
        window = window or duration(max(self.step, 60.0))
        _seconds(window, "window")
        stop = end if end is not None else time.time()
        # Aligned on the step like the report, so a notebook and a report of the same period agree.
        self.end = math.floor(stop / self.step) * self.step
        self.start = self.end - self.range_seconds
        self.scope = Scope(job, window)
        self.by_variant = by_variant
        self.alpha, self.seed = alpha, seed
        # The thresholds of compare_baseline's `shifted`: the spec's min_change, like the report's --drift.
        self.drift = drift_spec(Path(drift) if drift is not None else None)
        self.prometheus = Prometheus(prometheus, timeout=timeout, headers=headers)

    def _catalog(self) -> dict[str, Panel]:
        return {panel.key: panel for panel in panels(self.scope, self.by_variant)}

    def signals(self) -> pd.DataFrame:
        """The signals :meth:`signal` knows: key, section, title, unit, query."""
        import pandas as pd

        rows = [(p.key, p.section, p.title, p.unit, p.expr) for p in self._catalog().values()]
        return pd.DataFrame(rows, columns=["key", "section", "title", "unit", "query"])

    def signal(self, key: str) -> pd.DataFrame:
        """One signal over the period: time, unix_time, provider, model, variant, its other labels, value."""
        catalog = self._catalog()
        if key not in catalog:
            raise ValueError(f"signal {key!r} is not one of the report's signals; known: {', '.join(catalog)}")
        panel = catalog[key]
        series = self.prometheus.query_range(panel.expr, self.start, self.end, self.step)
        return frames.panel_frame(panel, series)

    def totals(self) -> pd.DataFrame:
        """Figures over the whole range: key, title, unit, provider, model, variant, labels, value."""
        catalog = {panel.key: panel for panel in totals(self.scope, self.range_, self.by_variant)}
        answers = {key: self.prometheus.query(panel.expr, self.end) for key, panel in catalog.items()}
        return frames.totals_frame(catalog, answers)

    def compare_variants(self, a: str, b: str) -> pd.DataFrame:
        """The report's A/B table (``--compare-variants a,b``): one row per metric, Holm-adjusted."""
        from otel_llmperf.report.collect import default_slo_spec
        from otel_llmperf.report.compare import compare_variants

        rows = compare_variants(
            self.prometheus, self.scope, self.end, self.range_, a, b, default_slo_spec(), self.seed, alpha=self.alpha
        )
        return frames.comparison_frame(rows)

    def baseline(self, offset: str = "7d", start: float | None = None, end: float | None = None) -> BaselineResult:
        """The report's ``--baseline`` comparison as it computes it (rows, identities, notes)."""
        from otel_llmperf.report import baseline as base
        from otel_llmperf.report.periods import Period, baseline_period

        explicit = start is not None and end is not None
        shift = None if explicit else _seconds(offset, "offset")
        period = baseline_period(self.end, self.range_seconds, shift, start, end)
        recent = Period(self.start, self.end)
        option = f"start={start}, end={end}" if explicit else f"offset={offset!r}"
        base.check_baseline(self.prometheus, self.scope, period, recent, option)
        result = base.compare_periods(
            self.prometheus, self.scope, period, recent, seed=self.seed, alpha=self.alpha, option=option
        )
        result.min_change = min_changes([row.metric for row in result.rows], self.drift)
        return result

    def compare_baseline(
        self, offset: str = "7d", start: float | None = None, end: float | None = None
    ) -> pd.DataFrame:
        """The report's baseline table: a = baseline, b = recent, and ``shifted`` (True: flagged after Holm)."""
        result = self.baseline(offset, start, end)
        frame = frames.baseline_frame(result)
        frame.attrs.update(
            baseline=(result.baseline.start, result.baseline.end), recent=(result.recent.start, result.recent.end)
        )
        return frame

    def model_identity(self, offset: str = "7d", start: float | None = None, end: float | None = None) -> pd.DataFrame:
        """Requested model → response model and fingerprint, calls in each period, and status (new, gone, …)."""
        import pandas as pd

        from otel_llmperf.report.periods import identity_table

        result = self.baseline(offset, start, end)
        columns = ["provider", "request_model", "response_model", "fingerprint", "baseline", "recent", "status"]
        return pd.DataFrame(identity_table(result.identities or []), columns=columns)
