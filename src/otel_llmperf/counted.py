# SPDX-License-Identifier: Apache-2.0
"""OTLP pipelines that count their items into a :class:`~otel_llmperf.tally.Tally`.

A batch processor counts what enters it (the SDK's own processor, one counter more); the
exporter it feeds is wrapped to count what it delivered and what failed. The difference is
what is still queued or in flight: what a shutdown cut short drops. The wrappers change nothing
else: results, exceptions and arguments pass through. Imported only when otel-llmperf builds
an OTLP exporter (it imports the SDK; see :mod:`otel_llmperf.setup`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_llmperf.tally import Tally


def _delivered(result: Any) -> bool:
    # SpanExportResult, LogRecordExportResult and MetricExportResult all name success SUCCESS.
    return getattr(result, "name", None) == "SUCCESS"


def _export(tally: Tally, count: int, export: Any, *args: Any, **kwargs: Any) -> Any:
    tally.exporting(count)
    delivered = False
    try:
        result = export(*args, **kwargs)
        delivered = _delivered(result)
        return result
    finally:
        tally.settled(count, delivered)


class _CountingBatches:
    """Spans and events alike: export a batch through the wrapped exporter, counting the outcome."""

    def __init__(self, exporter: Any, tally: Tally) -> None:
        self._exporter = exporter
        self._tally = tally

    def export(self, batch: Sequence[Any]) -> Any:
        """Export through the wrapped exporter, counting the outcome."""
        return _export(self._tally, len(batch), self._exporter.export, batch)

    def shutdown(self) -> None:
        """Shut the wrapped exporter down (once)."""
        self._tally.stop()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """The wrapped exporter's force_flush."""
        result: bool = self._exporter.force_flush(timeout_millis)
        return result


class CountingSpanExporter(_CountingBatches, SpanExporter):
    """A span exporter that counts what it delivered into ``tally``."""


class CountingLogExporter(_CountingBatches, LogRecordExporter):
    """A log record (event) exporter that counts what it delivered into ``tally``."""


class CountingMetricExporter(MetricExporter):
    """A metric exporter that counts its exports (each one collection of every metric) into ``tally``."""

    def __init__(self, exporter: MetricExporter, tally: Tally) -> None:
        super().__init__(exporter._preferred_temporality, exporter._preferred_aggregation)
        self._exporter = exporter
        self._tally = tally

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Export through the wrapped exporter, counting the outcome."""
        result: MetricExportResult = _export(
            self._tally, 1, self._exporter.export, metrics_data, timeout_millis=timeout_millis, **kwargs
        )
        return result

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut the wrapped exporter down (once)."""
        self._tally.stop(timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """The wrapped exporter's force_flush."""
        return self._exporter.force_flush(timeout_millis=timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch span processor, counting the spans it is given."""

    def __init__(self, exporter: SpanExporter, tally: Tally, **options: Any) -> None:
        super().__init__(exporter, **options)
        self._tally = tally

    def on_end(self, span: ReadableSpan) -> None:
        """Count a sampled span (the only kind the processor queues), then queue it."""
        if span.context is not None and span.context.trace_flags.sampled:
            self._tally.receive()
        super().on_end(span)


class CountingBatchLogRecordProcessor(BatchLogRecordProcessor):
    """The SDK's batch log record processor, counting the records it is given."""

    def __init__(self, exporter: LogRecordExporter, tally: Tally, **options: Any) -> None:
        super().__init__(exporter, **options)
        self._tally = tally

    def on_emit(self, log_record: Any) -> None:
        """Count the record, then queue it."""
        self._tally.receive()
        super().on_emit(log_record)


def span_processor(exporter: SpanExporter, tallies: list[Tally], **options: Any) -> BatchSpanProcessor:
    """A batch span processor for an OTLP exporter, counted in a new tally appended to ``tallies``."""
    tally = Tally("span", exporter)
    tallies.append(tally)
    return CountingBatchSpanProcessor(CountingSpanExporter(exporter, tally), tally, **options)


def log_processor(exporter: LogRecordExporter, tallies: list[Tally], **options: Any) -> BatchLogRecordProcessor:
    """A batch log record processor for an OTLP exporter, counted in a new tally appended to ``tallies``."""
    tally = Tally("event", exporter)
    tallies.append(tally)
    return CountingBatchLogRecordProcessor(CountingLogExporter(exporter, tally), tally, **options)


def metric_exporter(exporter: MetricExporter, tallies: list[Tally]) -> MetricExporter:
    """An OTLP metric exporter counted in a new tally appended to ``tallies``."""
    tally = Tally("metric export", exporter, final_export=True)
    tallies.append(tally)
    return CountingMetricExporter(exporter, tally)
