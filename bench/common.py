# SPDX-License-Identifier: Apache-2.0
"""What every benchmark process shares: canned API bodies, mock clients, telemetry sinks, statistics.

This module runs in every venv under ``bench/.venvs`` as well as the development venv, so it may
import only what all of them have: the ``openai`` SDK, its HTTP library and the OpenTelemetry SDK.
"""

from __future__ import annotations

import importlib
import json
import resource
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

# openai 3 speaks httpx2; a venv that had to fall back to openai 2 has httpx (same API).
http: Any = importlib.import_module("httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx")

# --- the canned API ----------------------------------------------------------------------

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
STREAM_CHUNKS = 50  # chunks that carry a choice; one more usage-only chunk follows them
PROMPT_TOKENS = 24
COMPLETION_TOKENS = 49

# A typical small chat request: two messages and two sampling parameters, so every subject
# has request attributes to read. The same dict is passed to every call (the SDK copies it).
REQUEST: dict[str, Any] = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Name three prime numbers."},
    ],
    "temperature": 0.2,
    "max_tokens": 256,
}
# Usage is requested explicitly so every subject, whatever its defaults, can see token counts.
STREAM_REQUEST: dict[str, Any] = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}

_USAGE = {
    "prompt_tokens": PROMPT_TOKENS,
    "completion_tokens": COMPLETION_TOKENS,
    "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
_COMMON = {
    "id": "chatcmpl-bench0001",
    "created": 1767225600,
    "model": RESPONSE_MODEL,
    "system_fingerprint": "fp_bench",
    "service_tier": "default",
}


def completion_body() -> bytes:
    """A ``chat.completion`` JSON body, as api.openai.com returns it."""
    return json.dumps(
        {
            **_COMMON,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "2, 3 and 5.", "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _USAGE,
        }
    ).encode()


def stream_body(chunks: int = STREAM_CHUNKS) -> bytes:
    """An SSE body: a role chunk, content chunks, a finish chunk, then the usage-only chunk and [DONE]."""
    events: list[dict[str, Any]] = []
    for index in range(chunks):
        if index == 0:
            delta: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        elif index == chunks - 1:
            delta = {}
        else:
            delta = {"content": f" tok{index}"}
        choice = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": "stop" if index == chunks - 1 else None,
        }
        events.append({**_COMMON, "object": "chat.completion.chunk", "choices": [choice], "usage": None})
    events.append({**_COMMON, "object": "chat.completion.chunk", "choices": [], "usage": _USAGE})
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def _transport(body: bytes, content_type: str) -> Any:
    # Bodies and headers are built once, here, outside every timed region; a call only wraps
    # the same bytes in a new Response, which the uninstrumented baseline pays too.
    headers = {"content-type": content_type, "x-request-id": "req_bench"}

    def handler(request: Any) -> Any:
        return http.Response(200, headers=headers, content=body)

    return http.MockTransport(handler)


@dataclass
class Clients:
    """One SDK client per scenario, each with its own in-process transport."""

    sync: openai.OpenAI
    stream: openai.OpenAI
    aio: openai.AsyncOpenAI


def make_clients() -> Clients:
    """Real SDK clients whose HTTP layer is an in-process mock; no socket is ever opened."""
    common: dict[str, Any] = {"api_key": "sk-bench", "base_url": "https://api.openai.com/v1", "max_retries": 0}
    completion = _transport(completion_body(), "application/json")
    stream = _transport(stream_body(), "text/event-stream")
    return Clients(
        sync=openai.OpenAI(http_client=http.Client(transport=completion), **common),
        stream=openai.OpenAI(http_client=http.Client(transport=stream), **common),
        aio=openai.AsyncOpenAI(http_client=http.AsyncClient(transport=completion), **common),
    )


# --- telemetry sinks shared by every subject -------------------------------------------------


class DropSpanExporter(SpanExporter):
    """Counts finished spans and keeps the last one (for the sanity report); exports nothing."""

    def __init__(self) -> None:
        self.count = 0
        self.last: ReadableSpan | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        self.last = spans[-1]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@dataclass
class Sinks:
    """The SDK providers every subject is given, configured identically."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: DropSpanExporter
    reader: InMemoryMetricReader


def make_sinks() -> Sinks:
    """A SimpleSpanProcessor over a dropping exporter and an InMemoryMetricReader.

    Both are synchronous and cheap, so no background thread competes for the two cores and
    what remains is the cost of the instrumentation plus the SDK work it asks for (span
    creation and end, histogram records with exemplars). The reader is never collected while
    timing, so its cost is the aggregation in ``record()`` only.
    """
    exporter = DropSpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return Sinks(tracer_provider, meter_provider, exporter, reader)


def metric_totals(reader: InMemoryMetricReader) -> dict[str, tuple[str, float]]:
    """Per metric name: ("histogram", records so far) or ("sum", value so far), all attribute sets."""
    totals: dict[str, tuple[str, float]] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    if isinstance(point, HistogramDataPoint):
                        kind, value = "histogram", float(point.count)
                    elif isinstance(point, NumberDataPoint):
                        kind, value = "sum", float(point.value)
                    else:
                        continue
                    previous = totals.get(metric.name, (kind, 0.0))[1]
                    totals[metric.name] = (kind, previous + value)
    return totals


# --- statistics ----------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median and quartiles; the median is the figure, the quartiles show how noisy it was."""
    if len(values) == 1:
        return {"median": values[0], "p25": values[0], "p75": values[0]}
    p25, _median, p75 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": statistics.median(values), "p25": p25, "p75": p75}


def read_rss_kib() -> int:
    """Current resident set size in KiB (VmRSS), or the peak from getrusage where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
