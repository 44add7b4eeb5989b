# SPDX-License-Identifier: Apache-2.0
"""OpenTelemetry metric data as plain, JSON-ready Prometheus families: built, merged, rendered.

The names, units, labels, HELP/TYPE and ``target_info`` follow opentelemetry-exporter-prometheus
exactly (its ``_mapping`` rules are copied here), so dashboards and rules see the same series.
What it lacks, and this adds, are exemplars: the trace and span of the last sampled measurement
of each histogram bucket and counter. A snapshot is plain data so that worker processes can
write it to a file and one endpoint can sum them (:func:`merge`).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData
    from prometheus_client.metrics_core import Metric

Snapshot = dict[str, Any]
"""``{"target": {label: value} | None, "families": [{"name", "help", "unit", "type", "points"}]}``."""

# An exemplar as stored: [trace_id hex, span_id hex, value, unix seconds].
_Exemplar = list[Any]
ExemplarCache = dict[tuple[Any, ...], _Exemplar]
"""The last exemplar of each (family, labels, bucket): the SDK hands each one out for one collection only."""

_SANITIZE_NAME = re.compile(r"[^a-zA-Z0-9:]+")
_SANITIZE_LABEL = re.compile(r"[^a-zA-Z0-9]+")
_UNIT_ANNOTATION = re.compile(r"{.*}")
_UNITS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}
_TARGET_INFO = ("target", "Target metadata")


def _leading_digit(text: str) -> str:
    return "_" + text[1:] if text and text[0].isdigit() else text


def metric_name(name: str) -> str:
    """A metric name as Prometheus accepts it (the OTel exporter's rule)."""
    return _SANITIZE_NAME.sub("_", _leading_digit(name))


def label_name(key: str) -> str:
    """An attribute key as a Prometheus label name (the OTel exporter's rule)."""
    return _SANITIZE_LABEL.sub("_", _leading_digit(key))


def unit_suffix(unit: str) -> str:
    """A UCUM unit as the Prometheus name suffix (``s`` → ``seconds``, ``{token}`` → none)."""
    unit = _UNIT_ANNOTATION.sub("", unit)
    if unit in _UNITS:
        return _UNITS[unit]
    top, _, bottom = unit.partition("/")
    bottom = _SANITIZE_NAME.sub("_", bottom)
    if bottom:
        top = _SANITIZE_NAME.sub("_", top)
        top = _UNITS.get(top, top)
        bottom = _PER_UNITS.get(bottom, bottom)
        return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _SANITIZE_NAME.sub("_", unit).strip("_")


def label_value(value: Any) -> str:
    """An attribute value as a label value: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _kind(data: Any) -> str | None:
    from opentelemetry.sdk.metrics.export import AggregationTemporality, Gauge, Histogram, Sum

    if isinstance(data, Sum):
        # Cumulative non-monotonic sums are gauges in Prometheus (the compatibility spec).
        cumulative = data.aggregation_temporality == AggregationTemporality.CUMULATIVE
        return "gauge" if not data.is_monotonic and cumulative else "counter"
    if isinstance(data, Gauge):
        return "gauge"
    if isinstance(data, Histogram):
        return "histogram"
    return None


def _scope_labels(scope: Any) -> dict[str, Any]:
    labels: dict[str, Any] = {f"otel_scope_{key}": value for key, value in (scope.attributes or {}).items()}
    labels.update(
        otel_scope_name=scope.name or "",
        otel_scope_version=scope.version or "",
        otel_scope_schema_url=scope.schema_url or "",
    )
    return labels


def _exemplar(exemplar: Any) -> _Exemplar | None:
    if not exemplar.trace_id or not exemplar.span_id:
        return None  # without a trace an exemplar links nowhere
    # 8 + 32 + 7 + 16 characters: well inside OpenMetrics' 128 for an exemplar's labels.
    return [f"{exemplar.trace_id:032x}", f"{exemplar.span_id:016x}", exemplar.value, exemplar.time_unix_nano / 1e9]


def _point(point: Any, kind: str, key: tuple[Any, ...], cache: ExemplarCache) -> dict[str, Any]:
    exemplars = [found for found in map(_exemplar, getattr(point, "exemplars", None) or ()) if found]
    if kind != "histogram":
        for found in exemplars:
            if kind == "counter" and found[3] >= cache.get(key, [0, 0, 0, 0.0])[3]:
                cache[key] = found
        return {"value": point.value, "exemplar": cache.get(key) if kind == "counter" else None}
    bounds = list(point.explicit_bounds)
    for found in exemplars:
        slot = (*key, bisect_left(bounds, found[2]))
        cache[slot] = found
    slots = [(index, (*key, index)) for index in range(len(bounds) + 1)]
    kept = [[index, *cache[slot]] for index, slot in slots if slot in cache]
    return {"bounds": bounds, "counts": list(point.bucket_counts), "sum": point.sum, "exemplars": kept}


def snapshot(data: MetricsData, cache: ExemplarCache) -> Snapshot:
    """The families of one collection, with the last exemplar of each bucket and counter."""
    target: dict[str, str] = {}
    families: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for resource_metrics in data.resource_metrics:
        target.update({label_name(k): label_value(v) for k, v in resource_metrics.resource.attributes.items()})
        for scope_metrics in resource_metrics.scope_metrics:
            scope = _scope_labels(scope_metrics.scope)
            for metric in scope_metrics.metrics:
                kind = _kind(metric.data)
                if kind is None:
                    continue
                family_id = (metric_name(metric.name), metric.description or "", unit_suffix(metric.unit or ""), kind)
                family = families.setdefault(
                    family_id,
                    {"name": family_id[0], "help": family_id[1], "unit": family_id[2], "type": kind, "points": []},
                )
                for point in metric.data.data_points:
                    attributes = chain(scope.items(), (point.attributes or {}).items())
                    labels = {label_name(k): label_value(v) for k, v in attributes}
                    key = (family_id, tuple(sorted(labels.items())))
                    family["points"].append({"labels": labels, **_point(point, kind, key, cache)})
    return {"target": target, "families": list(families.values())}


def _newer(old: _Exemplar | None, new: _Exemplar | None) -> _Exemplar | None:
    return new if old is None or (new is not None and new[3] > old[3]) else old


def _add(into: dict[str, Any], point: Mapping[str, Any], kind: str) -> bool:
    if kind != "histogram":
        into["value"] += point["value"]
        into["exemplar"] = _newer(into.get("exemplar"), point.get("exemplar"))
        return True
    if into["bounds"] != point["bounds"]:
        return False  # bounds changed between runs: such counts cannot be added
    into["counts"] = [a + b for a, b in zip(into["counts"], point["counts"], strict=False)]
    into["sum"] += point["sum"]
    by_bucket = {found[0]: found for found in into["exemplars"]}
    for found in point["exemplars"]:
        kept = by_bucket.get(found[0])
        by_bucket[found[0]] = found if kept is None or found[4] > kept[4] else kept
    into["exemplars"] = [by_bucket[index] for index in sorted(by_bucket)]
    return True


def merge(snapshots: Iterable[tuple[Snapshot, bool]]) -> Snapshot:
    """Sum counters and histograms of every snapshot, gauges of the live ones (``(snapshot, live)`` pairs).

    The first snapshot's ``target_info`` is kept. A histogram point whose bucket bounds differ
    from the first one seen for its series is left out.
    """
    target: dict[str, str] | None = None
    families: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    points: dict[tuple[Any, ...], dict[str, Any]] = {}
    for taken, live in snapshots:
        if target is None:
            target = taken.get("target")
        for family in taken["families"]:
            family_id = (family["name"], family["help"], family["unit"], family["type"])
            merged = families.setdefault(family_id, {**family, "points": []})
            gauge = family["type"] == "gauge"
            for point in family["points"]:
                if gauge and not live:
                    continue  # a gauge of an exited process (its in-flight count, say) means nothing now
                key = (family_id, tuple(sorted(point["labels"].items())))
                kept = points.get(key)
                if kept is None:
                    points[key] = copied = json.loads(json.dumps(point))
                    merged["points"].append(copied)
                elif gauge:
                    kept["value"] += point["value"]
                else:
                    _add(kept, point, family["type"])
    return {"target": target, "families": list(families.values())}


def _om_exemplar(found: Sequence[Any] | None) -> Any:
    if not found:
        return None
    from prometheus_client.samples import Exemplar

    trace_id, span_id, value, timestamp = found[-4:]
    return Exemplar({"trace_id": trace_id, "span_id": span_id}, value, timestamp)


def _buckets(point: Mapping[str, Any]) -> list[tuple[str, int, Any]]:
    exemplars = {found[0]: found for found in point["exemplars"]}
    buckets, total = [], 0
    for index, (bound, count) in enumerate(zip(chain(point["bounds"], ["+Inf"]), point["counts"], strict=False)):
        total += count
        buckets.append((f"{bound}", total, _om_exemplar(exemplars.get(index))))
    return buckets


def render(taken: Snapshot) -> list[Metric]:
    """``prometheus_client`` metric families for a snapshot (exemplars show in OpenMetrics only)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily

    rendered: list[Metric] = []
    target = taken.get("target")
    if target is not None:
        info = InfoMetricFamily(*_TARGET_INFO, labels=target)
        info.add_metric(labels=list(target), value=target)
        rendered.append(info)
    classes = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily, "histogram": HistogramMetricFamily}
    for family in taken["families"]:
        keys = sorted({key for point in family["points"] for key in point["labels"]})
        built = classes[family["type"]](
            name=family["name"], documentation=family["help"], labels=keys, unit=family["unit"]
        )
        for point in family["points"]:
            values = [point["labels"].get(key, "") for key in keys]
            if family["type"] == "histogram":
                built.add_metric(values, buckets=_buckets(point), sum_value=point["sum"])
            elif family["type"] == "counter":
                built.add_metric(values, point["value"], exemplar=_om_exemplar(point.get("exemplar")))
            else:
                built.add_metric(values, point["value"])
        rendered.append(built)
    return rendered
