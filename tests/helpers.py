# SPDX-License-Identifier: Apache-2.0
"""Helpers that let one test body drive a sync or an async SDK client, and read telemetry."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


async def resolve(value: Any) -> Any:
    """Await ``value`` if the async client returned an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


async def drain(stream: Any) -> list[Any]:
    """All items of a sync or async stream."""
    if hasattr(stream, "__aiter__"):
        return [item async for item in stream]
    return list(stream)


async def take(stream: Any) -> Any:
    """The next item of a sync or async stream."""
    if hasattr(stream, "__anext__"):
        return await stream.__anext__()
    return next(stream)


def _is_async_manager(manager: Any) -> bool:
    # wrapt proxies forward __aenter__ even for sync objects; ask the object behind them.
    return hasattr(getattr(manager, "__wrapped__", manager), "__aenter__")


async def enter(manager: Any) -> Any:
    """Enter a sync or async context manager (the caller must ``leave`` it)."""
    if _is_async_manager(manager):
        return await manager.__aenter__()
    return manager.__enter__()


async def leave(manager: Any, error: BaseException | None = None) -> Any:
    """Exit a context manager entered with :func:`enter`, as a ``with`` block would."""
    args = (type(error), error, error.__traceback__) if error is not None else (None, None, None)
    if _is_async_manager(manager):
        return await manager.__aexit__(*args)
    return manager.__exit__(*args)


def spans(exporter: InMemorySpanExporter) -> Sequence[ReadableSpan]:
    """The finished spans so far."""
    return exporter.get_finished_spans()


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one finished span; fails if there are more or none."""
    finished = exporter.get_finished_spans()
    assert len(finished) == 1, [span.name for span in finished]
    return finished[0]


def metrics(reader: InMemoryMetricReader) -> dict[str, Metric]:
    """Every metric collected so far, by name."""
    data = reader.get_metrics_data()
    found: dict[str, Metric] = {}
    if data is None:
        return found
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found[metric.name] = metric
    return found


def points(reader: InMemoryMetricReader, name: str) -> list[HistogramDataPoint]:
    """The histogram data points of one metric (empty when it was never recorded)."""
    metric = metrics(reader).get(name)
    if metric is None:
        return []
    return list(metric.data.data_points)  # type: ignore[arg-type]


def total_count(reader: InMemoryMetricReader, name: str, where: Mapping[str, Any] | None = None) -> int:
    """How many values were recorded for a metric, over points whose attributes match ``where``."""
    return sum(
        point.count
        for point in points(reader, name)
        if all(point.attributes.get(key) == value for key, value in (where or {}).items())
    )


def events(exporter: Any, name: str = "gen_ai.evaluation.result") -> list[Any]:
    """The log records (events) of that name exported so far."""
    return [data.log_record for data in exporter.get_finished_logs() if data.log_record.event_name == name]


def counter_value(reader: InMemoryMetricReader, name: str, where: Mapping[str, Any] | None = None) -> float:
    """The summed value of a counter over points whose attributes match ``where``."""
    metric = metrics(reader).get(name)
    if metric is None:
        return 0
    return sum(
        point.value  # type: ignore[attr-defined]
        for point in metric.data.data_points
        if all(point.attributes.get(key) == value for key, value in (where or {}).items())
    )
