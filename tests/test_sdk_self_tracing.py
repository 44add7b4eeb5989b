# SPDX-License-Identifier: Apache-2.0
"""An SDK that traces itself: anthropic (>= 1.14) starts a CLIENT span of its own per call.

It does so through the GLOBAL tracer provider, so each case runs in a child interpreter that
sets one (the test process never touches global providers). By default the call has one
GenAI CLIENT span, ours, and the SDK's request still carries its trace context;
``sdk_spans=True`` keeps the SDK's span as a child of ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# The test extra pins an anthropic that traces itself: an older one fails here instead of skipping.
import anthropic._tracing  # noqa: F401

from fakeserver import FakeServerProcess

CHILD = """
import asyncio, json, sys
import anthropic
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import otel_llmperf

url, options, peer = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # where anthropic's own spans go
meter_provider = MeterProvider()
otel_llmperf.instrument(tracer_provider=provider, meter_provider=meter_provider, **options)
if peer == "openllmetry":
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=provider, meter_provider=meter_provider)
request = {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": [{"role": "user", "content": "Say hi"}]}
sync = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
sync.messages.create(**request)
for _ in sync.messages.create(**request, stream=True):
    pass
with sync.messages.stream(**request) as stream:
    stream.until_done()

async def main():
    client = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0)
    await client.messages.create(**request)
    async for _ in await client.messages.create(**request, stream=True):
        pass
    await client.close()

asyncio.run(main())
otel_llmperf.uninstrument()
spans = [
    {
        "name": span.name,
        "scope": span.instrumentation_scope.name,
        "kind": span.kind.name,
        "genai": any(key.startswith("gen_ai.") for key in span.attributes or {}),
        "span_id": format(span.context.span_id, "016x"),
        "parent": format(span.parent.span_id, "016x") if span.parent else None,
    }
    for span in exporter.get_finished_spans()
]
print(json.dumps(spans))
"""
CALLS = 5  # sync create, sync stream, sync stream helper, async create, async stream


def run_child(tmp_path: Path, server: FakeServerProcess, peer: str = "", **options: Any) -> list[dict[str, Any]]:
    script = tmp_path / "app.py"
    script.write_text(CHILD)
    # The child decides from its own arguments, not from whatever the developer's shell exports.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "ANTHROPIC_", "TRACELOOP_"))}
    result = subprocess.run(
        [sys.executable, str(script), f"{server.url}/anthropic", json.dumps(options), peer],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    spans: list[dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return spans


def genai_client_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [span for span in spans if span["kind"] == "CLIENT" and span["genai"]]


def test_the_sdk_span_stands_aside_while_we_record(tmp_path: Path, fresh_server: FakeServerProcess) -> None:
    spans = genai_client_spans(run_child(tmp_path, fresh_server))
    assert [span["scope"] for span in spans] == ["otel_llmperf"] * CALLS
    # The request still carries the trace context: that of our span, the call's only one.
    headers = fresh_server.stats()["last_headers"]["/anthropic/v1/messages"]
    traceparent = {key.lower(): value for key, value in headers.items()}["traceparent"]
    assert traceparent.split("-")[2] == spans[-1]["span_id"]


def test_sdk_spans_true_keeps_the_sdk_span_under_ours(tmp_path: Path, fresh_server: FakeServerProcess) -> None:
    spans = genai_client_spans(run_child(tmp_path, fresh_server, sdk_spans=True))
    ours = {span["span_id"] for span in spans if span["scope"] == "otel_llmperf"}
    theirs = [span for span in spans if span["scope"] == "com.anthropic.sdk.python"]
    assert len(ours) == CALLS and len(theirs) == CALLS
    assert {span["parent"] for span in theirs} == ours


def test_with_another_instrumentation_the_call_still_has_one_span(
    tmp_path: Path, fresh_server: FakeServerProcess
) -> None:
    spans = genai_client_spans(run_child(tmp_path, fresh_server, peer="openllmetry"))
    # OpenLLMetry's span is the call's one; neither ours nor the SDK's is started beside it.
    assert [span["scope"] for span in spans] == ["opentelemetry.instrumentation.anthropic"] * CALLS
