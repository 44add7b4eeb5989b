# SPDX-License-Identifier: Apache-2.0
"""The public transparency summary: ``summary.json`` and the schema.org ``Dataset`` JSON-LD built from it.

The published figures (:data:`PUBLISHED`: calls, error rate, p50/p95 duration, p95 time to first
chunk, thumbs-up ratio, mean rating, NPS, evaluation accuracy) are the totals queries' results (over
the whole range, per provider and model, and per evaluation) exactly as Prometheus returned them,
rounded to 4 significant digits; ratios are given in percent. ``summary.json`` also keeps the
unrounded value (``prometheus_value``). Non-finite values (no data, 0/0) are left out rather than written as a number.
Units follow UN/CEFACT common codes, as schema.org's ``unitCode`` asks: ``SEC`` (second),
``P1`` (percent), ``C62`` (one, a count). Standard library only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from otel_llmperf.report.collect import ReportData
from otel_llmperf.report.csvfiles import (
    COMPARISON_CSV,
    QUERIES_JSON,
    SLOS_CSV,
    SUMMARY_JSON,
    TOTALS_CSV,
    rfc3339,
    totals_table,
)
from otel_llmperf.version import __version__

SIGNIFICANT_DIGITS = 4
ROUNDING = (
    f"Values are rounded to {SIGNIFICANT_DIGITS} significant digits; ratios are given in percent; durations in seconds."
)
# unit of a catalog panel → (unit of the published value, UN/CEFACT code or None, factor from the panel's unit)
UNITS: dict[str, tuple[str, str | None, float]] = {
    "s": ("s", "SEC", 1.0),
    "1": ("%", "P1", 100.0),
    # Counts over the range: "one" (C62) with the thing counted in unitText.
    **{count: (count, "C62", 1.0) for count in ("calls", "tokens", "votes", "ratings", "answers", "samples")},
    # Money has no UN/CEFACT unit code (currencies are ISO 4217): unitText only.
    "USD": ("USD", None, 1.0),
}
TECHNIQUE = (
    "OpenTelemetry instrumentation of LLM client SDKs (otel-llmperf): a histogram or counter record per call, "
    "per user feedback and per evaluation, scraped by Prometheus; figures over the range from increase() of "
    "the counters, quantiles from histogram buckets by linear interpolation (PromQL histogram_quantile)."
)
# The figures published per model (summary.json "variables" and the JSON-LD variableMeasured): the ones a
# reader of a transparency page asks for. Every other total is in totals.csv, which the Dataset distributes.
PUBLISHED = (
    "calls", "error_rate", "duration_p50", "duration_p95", "ttfc_p95",
    "thumbs_up_ratio", "mean_rating", "nps", "evaluation_accuracy",
)  # fmt: skip
PROVIDER_PROPERTY = "gen_ai.provider.name"
MODEL_PROPERTY = "gen_ai.request.model"


def significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (0.0123456 → 0.01235)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits - 1}e}")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _rounded(value: float | None) -> float | None:
    finite = _finite(value)
    return significant(finite) if finite is not None else None


def publish_unit(unit: str) -> tuple[str, str | None, float]:
    """How a value of ``unit`` is published: (unit text, UN/CEFACT code or None, factor)."""
    return UNITS.get(unit, (unit, None, 1.0))


def summary(
    data: ReportData,
    name: str,
    description: str,
    creator: str,
    url: str | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The content of ``summary.json``: scope, period, the published figures per model, SLOs and A/B rows."""
    columns, rows = totals_table(data)
    published = sorted((c for c in columns if c.key in PUBLISHED), key=lambda c: PUBLISHED.index(c.key))
    variables = []
    for (provider, model), values in rows:
        for column in published:
            raw = _finite(values.get(column))
            if raw is None:
                continue
            unit_text, unit_code, factor = publish_unit(column.unit)
            variables.append({
                "key": column.key,
                "name": column.heading,
                "provider": provider,
                "model": model,
                "labels": dict(column.extra),
                "value": significant(raw * factor),
                "unit": unit_text,
                "unit_code": unit_code,
                "prometheus_value": raw,
            })  # fmt: skip
    created = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "name": name,
        "description": description,
        "creator": creator,
        "url": url,
        "generator": {"name": "otel-llmperf", "version": __version__},
        "date_created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period": {
            "start": rfc3339(data.start),
            "end": rfc3339(data.end),
            "range": data.range_,
            "step_seconds": data.step,
            "rate_window": data.window,
        },
        "job": data.job,
        "rounding": ROUNDING,
        "variables": variables,
        "slos": [
            {
                "name": slo.name,
                "description": slo.description,
                "threshold_seconds": slo.threshold,
                "objective": slo.objective,
                "group": dict(slo.group),
                "good": _finite(slo.good),
                "total": _finite(slo.total),
                "attainment": _rounded(slo.attainment),
                "budget_consumed": _rounded(slo.budget_consumed),
            }
            for slo in data.slos
        ],
        "comparison": None
        if data.comparison is None
        else [
            {
                "metric": c.metric,
                "unit": c.unit,
                "a": _rounded(c.a),
                "b": _rounded(c.b),
                "n_a": c.n_a,
                "n_b": c.n_b,
                "difference": _rounded(c.difference),
                "ci": None if c.ci is None else [_rounded(c.ci[0]), _rounded(c.ci[1])],
                "p_value": _rounded(c.p_value),
                "p_adjusted": _rounded(c.p_adjusted),
                "method": c.method,
                "verdict": c.verdict,
                "better": c.better,
            }
            for c in data.comparison
        ],
        "files": {
            "totals": TOTALS_CSV,
            "slos": SLOS_CSV,
            "comparison": COMPARISON_CSV if data.comparison is not None else None,
            "queries": QUERIES_JSON,
        },
    }


def _absolute(base: str | None, relative: str) -> str:
    if not base:
        return relative
    return base.rstrip("/") + "/" + relative


def _property(variable: Mapping[str, Any]) -> dict[str, Any]:
    who = f"{variable['provider']} / {variable['model']}".strip(" /") or "all models"
    qualifiers = [
        {"@type": "PropertyValue", "name": PROVIDER_PROPERTY, "value": variable["provider"]},
        {"@type": "PropertyValue", "name": MODEL_PROPERTY, "value": variable["model"]},
    ] + [{"@type": "PropertyValue", "name": k, "value": v} for k, v in variable["labels"].items()]
    entry: dict[str, Any] = {
        "@type": "PropertyValue",
        "propertyID": variable["key"],
        "name": f"{variable['name']} — {who}",
        "value": variable["value"],
        "unitText": variable["unit"],
    }
    if variable["unit_code"]:
        entry["unitCode"] = variable["unit_code"]
    entry["description"] = (
        f"{variable['name']} of {who} over the whole period, in {variable['unit']}, "
        f"rounded to {SIGNIFICANT_DIGITS} significant digits."
    )
    entry["valueReference"] = qualifiers
    return entry


def dataset_jsonld(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The schema.org ``Dataset`` describing the report, with every figure of ``summary`` as a PropertyValue."""
    description = summary["description"].rstrip()
    if description and not description.endswith("."):
        description += "."
    description = f"{description} {ROUNDING}".strip()
    period = summary["period"]
    dataset: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "name": summary["name"],
        "description": description,
        "temporalCoverage": f"{period['start']}/{period['end']}",
        "dateCreated": summary["date_created"],
        "creator": {"@type": "Organization", "name": summary["creator"]},
        "measurementTechnique": TECHNIQUE,
        "variableMeasured": [_property(variable) for variable in summary["variables"]],
        "isAccessibleForFree": True,
        "distribution": [
            {"@type": "DataDownload", "encodingFormat": fmt, "contentUrl": _absolute(summary.get("url"), file)}
            for file, fmt in (
                (SUMMARY_JSON, "application/json"),
                (summary["files"]["totals"], "text/csv"),
                (summary["files"]["slos"], "text/csv"),
                (summary["files"]["comparison"], "text/csv"),
                (summary["files"]["queries"], "application/json"),
            )
            if file
        ],
    }
    if summary.get("url"):
        dataset["url"] = summary["url"]
    dataset["keywords"] = ["LLM", "latency", "OpenTelemetry", "time to first token", "user satisfaction", "accuracy"]
    return dataset


def dumps(document: Mapping[str, Any]) -> str:
    """JSON text of ``document`` (strict JSON: NaN would not parse anywhere, so none is ever in it)."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
