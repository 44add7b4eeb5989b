# SPDX-License-Identifier: Apache-2.0
"""The data behind the report as files: one CSV per panel, totals/SLO/A-B tables, and ``queries.json``.

Layout of a report folder (paths relative to it, the same names the HTML links to)::

    data/<panel key>.csv   one per panel: time, unix_time, <one column per label of Panel.by>, value
    totals.csv             the figures over the whole range, one row per (totals key, series)
    slos.csv               one row per SLO and group
    comparison.csv         one row per A/B comparison (only with --compare-variants)
    baseline.csv           one row per signal, a = baseline, b = recent (only with --baseline)
    queries.json           {file: {"expr", "start", "end", "step"}} or {"expr", "at"}: every query behind every CSV

Values are written as ``repr(float)`` so they parse back to the very float Prometheus sent;
NaN is written ``NaN`` and infinities ``+Inf``/``-Inf``, as Prometheus spells them.
The rows come from the DataFrames of :mod:`.frames` (the same ones :mod:`otel_llmperf.analysis`
returns), so pandas (the ``report`` extra) is needed to write them.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otel_llmperf.report import frames
from otel_llmperf.report.baseline import baseline_queries
from otel_llmperf.report.collect import PanelData, ReportData, SloResult, slo_queries
from otel_llmperf.report.compare import variant_queries
from otel_llmperf.report.periods import BaselineResult
from otel_llmperf.report.prom import Series
from otel_llmperf.report.queries import MODEL, PROVIDER, Panel, totals
from otel_llmperf.report.stats import Comparison

DATA_DIR = "data"
PLOTS_DIR = "plots"
TOTALS_CSV = "totals.csv"
SLOS_CSV = "slos.csv"
COMPARISON_CSV = "comparison.csv"
BASELINE_CSV = "baseline.csv"
QUERIES_JSON = "queries.json"
SUMMARY_JSON = "summary.json"


def csv_path(panel: Panel) -> str:
    """The CSV of a panel, relative to the report folder."""
    return f"{DATA_DIR}/{panel.key}.csv"


def png_path(panel: Panel) -> str:
    """The PNG of a panel, relative to the report folder."""
    return f"{PLOTS_DIR}/{panel.key}.png"


@functools.lru_cache(maxsize=65536)
def rfc3339(unix: float) -> str:
    """``unix`` seconds as RFC 3339 UTC: ``2026-11-28T03:40:05Z`` (milliseconds only when there are any)."""
    # Cached: every series of a panel shares the same steps, and a 7-day report writes ~10^5 rows.
    moment = datetime.fromtimestamp(unix, tz=UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value: float | None) -> str:
    """A float exactly as written to CSV: ``repr`` (round-trips), ``NaN``, ``+Inf``, ``-Inf``; None → empty."""
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _time(unix: float) -> str:
    # Prometheus steps are whole seconds almost always: "1764301205" reads better than "1764301205.0".
    return str(int(unix)) if float(unix).is_integer() else repr(float(unix))


def series_key(series: Series, by: Sequence[str]) -> tuple[str, ...]:
    """The values of ``by`` in ``series`` (missing labels as empty strings), for sorting and grouping."""
    return tuple(series.labels.get(label, "") for label in by)


def series_label(series: Series, by: Sequence[str]) -> str:
    """A legend text: ``provider / model [/ other labels]``; ``all`` for a series without any of ``by``."""
    parts = [series.labels[label] for label in (PROVIDER, MODEL) if series.labels.get(label)]
    parts += [series.labels[label] for label in by if label not in (PROVIDER, MODEL) and series.labels.get(label)]
    # Labels outside `by` would only be there if a query kept them; show them rather than merge two lines.
    parts += [f"{k}={v}" for k, v in sorted(series.labels.items()) if k not in by and k not in (PROVIDER, MODEL)]
    return " / ".join(parts) if parts else "all"


def sorted_series(series: Iterable[Series], by: Sequence[str]) -> list[Series]:
    """Series sorted by their ``by`` labels, then by all their labels (a stable, documented order)."""
    return sorted(series, key=lambda s: (series_key(s, by), sorted(s.labels.items())))


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # newline="" lets csv write its own \r\n line ends, the RFC 4180 ones every reader accepts.
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_csv(panel_data: PanelData, path: Path) -> Path:
    """The long-format CSV of one panel: time, unix_time, one column per ``Panel.by`` label, value."""
    by = panel_data.panel.by
    frame = frames.series_frame(panel_data.series, by)
    columns = [frame["unix_time"], *(frame[frames.column(label)] for label in by), frame["value"]]
    rows = [[rfc3339(t), _time(t), *labels, number(v)] for t, *labels, v in zip(*columns, strict=True)]
    return _write(path, ["time", "unix_time", *by, "value"], rows)


@dataclass(frozen=True)
class TotalsColumn:
    """One column of the totals table: a totals query, narrowed to the labels beyond provider and model."""

    key: str
    title: str
    unit: str
    extra: tuple[tuple[str, str], ...]  # labels other than provider/model, e.g. (("gen_ai_evaluation_name", "qa"),)

    @property
    def heading(self) -> str:
        """Title, with the extra label values in brackets."""
        return f"{self.title} ({', '.join(v for _, v in self.extra)})" if self.extra else self.title


def totals_panels(data: ReportData) -> dict[str, Panel]:
    """The catalog entries of ``data.totals`` (title, unit, PromQL), rebuilt from the report's scope."""
    catalog = {panel.key: panel for panel in totals(data.scope, data.range_)}
    known: dict[str, Panel] = {}
    for key in data.totals:
        # A key the catalog no longer has still gets a column, named by its key.
        known[key] = catalog.get(key) or Panel(key=key, section="totals", title=key, unit="", expr="", by=())
    return known


def totals_table(
    data: ReportData,
) -> tuple[list[TotalsColumn], list[tuple[tuple[str, str], dict[TotalsColumn, float]]]]:
    """Columns (in catalog order) and rows ((provider, model) → values) of the totals per model."""
    catalog = totals_panels(data)
    columns: dict[TotalsColumn, None] = {}
    rows: dict[tuple[str, str], dict[TotalsColumn, float]] = {}
    for key, panel in catalog.items():
        for series in sorted_series(data.totals.get(key, []), panel.by):
            extra = tuple(sorted((k, v) for k, v in series.labels.items() if k not in (PROVIDER, MODEL)))
            column = TotalsColumn(key, panel.title, panel.unit, extra)
            columns[column] = None
            if series.points:
                model = (series.labels.get(PROVIDER, ""), series.labels.get(MODEL, ""))
                rows.setdefault(model, {})[column] = series.points[-1][1]
    return list(columns), sorted(rows.items())


def _labels_text(labels: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels)


def write_totals(data: ReportData, path: Path) -> Path:
    """``totals.csv``: key, title, unit, provider, model, other labels (Prometheus style), value."""
    frame = frames.totals_frame(totals_panels(data), data.totals)
    names = ("key", "title", "unit", "provider", "model", "labels")
    rows = [[*text, number(value)] for *text, value in zip(*(frame[n] for n in (*names, "value")), strict=True)]
    return _write(path, ["key", "title", "unit", PROVIDER, MODEL, "labels", "value"], rows)


def slo_group_labels(slos: Sequence[SloResult]) -> list[str]:
    """Every group_by label that appears in ``slos``, sorted."""
    return sorted({label for slo in slos for label in slo.group})


def write_slos(slos: Sequence[SloResult], path: Path) -> Path:
    """``slos.csv``: one row per SLO and group, with good/total calls, attainment and budget consumed."""
    groups = slo_group_labels(slos)
    header = ["slo", "description", "threshold_seconds", "objective", *groups,
              "good", "total", "attainment", "budget_consumed"]  # fmt: skip
    rows = [
        [slo.name, slo.description, number(slo.threshold), number(slo.objective),
         *(slo.group.get(label, "") for label in groups),
         number(slo.good), number(slo.total), number(slo.attainment), number(slo.budget_consumed)]
        for slo in slos
    ]  # fmt: skip
    return _write(path, header, rows)


COMPARISON_HEADER = frames.COMPARISON_COLUMNS


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or value != value:  # None, or the NaN pandas stores for a missing float
        return ""
    return str(int(value)) if isinstance(value, numbers.Integral) else number(float(value))


def write_comparison(comparisons: Sequence[Comparison], path: Path) -> Path:
    """``comparison.csv``: one row per compared metric (difference = b - a, 95 % CI, raw and Holm p)."""
    frame = frames.comparison_frame(comparisons)
    rows = [[_cell(value) for value in row] for row in frame.astype(object).itertuples(index=False)]
    return _write(path, COMPARISON_HEADER, rows)


def write_baseline(result: BaselineResult, path: Path) -> Path:
    """``baseline.csv``: the comparison's columns (a = baseline, b = recent), then ``min_change`` and ``shifted``."""
    frame = frames.baseline_frame(result)
    rows = [[_cell(value) for value in row] for row in frame.astype(object).itertuples(index=False)]
    return _write(path, [*COMPARISON_HEADER, "min_change", "shifted"], rows)


def queries(data: ReportData) -> dict[str, dict[str, Any]]:
    """What ``queries.json`` holds: per file, the PromQL and the range (or instant) it was run over.

    Panels: ``data/<key>.csv`` → {"expr", "start", "end", "step"} (``/api/v1/query_range``).
    Totals: ``totals.csv#<key>`` → {"expr", "at"} (``/api/v1/query``); the rows of that key in
    ``totals.csv`` are its result.
    SLOs: ``slos.csv#<slo>/good`` and ``slos.csv#<slo>/total`` → {"expr", "at"}: the good and total
    columns of that SLO's rows, one row per group.
    A/B: ``comparison.csv#<title>`` → {"expr", "at"}: every count the comparison is computed from.
    Baseline: ``baseline.csv#<title>/baseline`` and ``…/recent`` → {"expr", "at"}: the same counts per period.
    """
    result: dict[str, dict[str, Any]] = {}
    for panel_data in data.panels:
        result[csv_path(panel_data.panel)] = {
            "expr": panel_data.panel.expr, "start": data.start, "end": data.end, "step": data.step,
        }  # fmt: skip
    for key, panel in totals_panels(data).items():
        if panel.expr:
            result[f"{TOTALS_CSV}#{key}"] = {"expr": panel.expr, "at": data.end}
    slos = data.slo_spec.slos if data.slo_spec is not None else ()
    for slo in slos:
        good, total = slo_queries(slo, data.scope, data.range_)
        result[f"{SLOS_CSV}#{slo.name}/good"] = {"expr": good, "at": data.end}
        result[f"{SLOS_CSV}#{slo.name}/total"] = {"expr": total, "at": data.end}
    if data.comparison is not None:
        for title, expr in variant_queries(data.scope, data.range_, data.slo_spec).items():
            result[f"{COMPARISON_CSV}#{title}"] = {"expr": expr, "at": data.end}
    if data.baseline is not None:
        for name, period in (("baseline", data.baseline.baseline), ("recent", data.baseline.recent)):
            for title, expr in baseline_queries(data.scope, period.range_).items():
                result[f"{BASELINE_CSV}#{title}/{name}"] = {"expr": expr, "at": period.end}
    return result


def write_queries(data: ReportData, path: Path) -> Path:
    """``queries.json`` (see :func:`queries`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(queries(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_all(data: ReportData, out: Path) -> dict[str, str]:
    """Every CSV and ``queries.json`` of a report into ``out``; returns panel key → CSV path relative to ``out``."""
    written = {}
    for panel_data in data.panels:
        relative = csv_path(panel_data.panel)
        write_csv(panel_data, out / relative)
        written[panel_data.panel.key] = relative
    write_totals(data, out / TOTALS_CSV)
    write_slos(data.slos, out / SLOS_CSV)
    if data.comparison is not None:
        write_comparison(data.comparison, out / COMPARISON_CSV)
    write_queries(data, out / QUERIES_JSON)
    return written
