# SPDX-License-Identifier: Apache-2.0
"""The report's data layer: what Prometheus answered, as tidy pandas DataFrames.

Every table of the report (the CSV behind each plot, the totals, the A/B and baseline
comparisons) is made from these frames, and :mod:`otel_llmperf.analysis` hands the same frames to
analysts, so a notebook and the report never disagree.

Tidy means one row per observation: a panel's frame has one row per time and series, with the
columns ``time`` (UTC, pandas datetime), ``unix_time``, ``provider``, ``model``, ``variant`` (empty
when the series has none: calls outside any experiment, or variants pooled), then the panel's
other labels (``evaluation``, ``error_type``, ``token_type``, …) and ``value``.

pandas is imported when a frame is made; :func:`require_pandas` says which extra to install.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from otel_llmperf.report.prom import Series
from otel_llmperf.report.queries import (
    ERROR_TYPE,
    EVALUATION,
    EVALUATION_CLASS,
    MODEL,
    PROVIDER,
    TOKEN_TYPE,
    VARIANT,
    Panel,
)

if TYPE_CHECKING:
    import pandas as pd

    from otel_llmperf.report.periods import BaselineResult
    from otel_llmperf.report.stats import Comparison

PANDAS_HINT = "the report extra: pip install pandas (or pip install '.[report]' in a checkout)"

# Prometheus label → column name; labels not listed keep their Prometheus name.
COLUMNS: dict[str, str] = {
    PROVIDER: "provider",
    MODEL: "model",
    VARIANT: "variant",
    EVALUATION: "evaluation",
    EVALUATION_CLASS: "evaluation_class",
    ERROR_TYPE: "error_type",
    TOKEN_TYPE: "token_type",
}
IDENTITY = ("provider", "model", "variant")


class MissingExtraError(ImportError):
    """pandas (the ``report`` extra) is not installed; the message says how to install it."""


def require_pandas() -> Any:
    """The pandas module, or a :class:`MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise MissingExtraError(f"otel_llmperf.analysis needs pandas, {PANDAS_HINT}") from None


def column(label: str) -> str:
    """The frame column of a Prometheus label (``gen_ai_request_model`` → ``model``)."""
    return COLUMNS.get(label, label)


def label_columns(by: Sequence[str]) -> list[str]:
    """provider, model, variant, then the columns of ``by``'s other labels, in ``by``'s order."""
    return [*IDENTITY, *(column(label) for label in by if column(label) not in IDENTITY)]


def _series_key(series: Series, by: Sequence[str]) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    return tuple(series.labels.get(label, "") for label in by), sorted(series.labels.items())


def series_frame(series: Iterable[Series], by: Sequence[str]) -> pd.DataFrame:
    """One row per (time, series): time, unix_time, provider, model, variant, other labels of ``by``, value."""
    require_pandas()
    import pandas as pd

    labels = label_columns(by)
    sources = [_label(name, by) for name in labels]
    rows: list[list[Any]] = []
    for one in sorted(series, key=lambda s: _series_key(s, by)):
        identity = [one.labels.get(source, "") for source in sources]
        rows += [[t, *identity, v] for t, v in sorted(one.points, key=lambda point: point[0])]
    frame = pd.DataFrame(rows, columns=["unix_time", *labels, "value"])
    frame["unix_time"] = frame["unix_time"].astype("float64")
    frame["value"] = frame["value"].astype("float64")
    frame.insert(0, "time", pd.to_datetime(frame["unix_time"], unit="s", utc=True))
    return frame


def _label(name: str, by: Sequence[str]) -> str:
    for label in (*by, *COLUMNS):
        if column(label) == name:
            return label
    return name


def panel_frame(panel: Panel, series: Iterable[Series]) -> pd.DataFrame:
    """The frame of one panel's answer; ``attrs`` hold its key, title, unit and PromQL."""
    frame = series_frame(series, panel.by)
    frame.attrs.update(signal=panel.key, title=panel.title, unit=panel.unit, query=panel.expr)
    return frame


def totals_frame(catalog: Mapping[str, Panel], answers: Mapping[str, Sequence[Series]]) -> pd.DataFrame:
    """One row per (totals key, series): key, title, unit, provider, model, variant, labels, value.

    ``labels`` holds the series' other labels Prometheus-style (``gen_ai_evaluation_name="qa"``).
    """
    require_pandas()
    import pandas as pd

    rows: list[list[Any]] = []
    for key, panel in catalog.items():
        by = panel.by
        for one in sorted(answers.get(key, []), key=lambda s: _series_key(s, by)):
            extra = sorted((k, v) for k, v in one.labels.items() if k not in (PROVIDER, MODEL))
            text = ",".join(f'{k}="{v}"' for k, v in extra)
            for _, value in one.points:
                identity = [one.labels.get(label, "") for label in (PROVIDER, MODEL, VARIANT)]
                rows.append([key, panel.title, panel.unit, *identity, text, value])
    frame = pd.DataFrame(rows, columns=["key", "title", "unit", *IDENTITY, "labels", "value"])
    frame["value"] = frame["value"].astype("float64")
    return frame


COMPARISON_COLUMNS = ("metric", "unit", "a", "b", "n_a", "n_b", "difference", "ci_low", "ci_high",
                      "p_value", "p_adjusted", "method", "verdict", "better")  # fmt: skip


def comparison_frame(rows: Sequence[Comparison]) -> pd.DataFrame:
    """One row per compared metric: both values, b - a, interval bounds, raw and Holm p, method, verdict."""
    require_pandas()
    import pandas as pd

    records = []
    for row in rows:
        record = dataclasses.asdict(row)
        ci = record.pop("ci")
        record["ci_low"], record["ci_high"] = ci if ci is not None else (None, None)
        records.append({name: record[name] for name in COMPARISON_COLUMNS})
    frame = pd.DataFrame(records, columns=list(COMPARISON_COLUMNS))
    for name in ("a", "b", "difference", "ci_low", "ci_high", "p_value", "p_adjusted"):
        frame[name] = frame[name].astype("float64")
    return frame


def baseline_frame(result: BaselineResult) -> pd.DataFrame:
    """The baseline table: :func:`comparison_frame` of its rows, plus each row's ``min_change`` and ``shifted``."""
    frame = comparison_frame(result.rows)
    frame["min_change"] = [result.min_change.get(row.metric) for row in result.rows]
    frame["min_change"] = frame["min_change"].astype("float64")
    frame["shifted"] = [result.flags(row) for row in result.rows]
    return frame
