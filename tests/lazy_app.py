# SPDX-License-Identifier: Apache-2.0
"""A fresh process for the lazy-patching tests: ``python lazy_app.py SCENARIO [BASE_URL]``.

Each scenario prints one JSON line with what it observed. A fresh interpreter is the only
honest way to see which modules ``instrument()`` loads: the test process has imported them all.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from typing import Any

SDKS = ("openai", "anthropic", "google.genai", "botocore", "mistralai", "cohere")

# How an application reaches each SDK, and one method instrument() must have wrapped by then.
USE = {
    "openai": ("openai", "openai.resources.chat.completions", "Completions", "create"),
    "anthropic": ("anthropic", "anthropic.resources.messages", "Messages", "create"),
    "google.genai": ("google.genai", "google.genai.models", "Models", "generate_content"),
    "botocore": ("boto3", "botocore.client", "BaseClient", "_make_api_call"),
    "mistralai": ("mistralai.client", "mistralai.client.chat", "Chat", "complete"),
    "cohere": ("cohere", "cohere.v2.client", "V2Client", "chat"),
}


def loaded() -> list[str]:
    """Which of the six SDKs this process has imported."""
    return sorted(name for name in SDKS if name in sys.modules)


def layers(sdk: str) -> int:
    """How many wrapt layers sit on the SDK's method (0: not patched)."""
    import wrapt

    _, module, cls, method = USE[sdk]
    function = vars(getattr(importlib.import_module(module), cls))[method]
    depth = 0
    while isinstance(function, wrapt.BaseObjectProxy):
        function, depth = function.__wrapped__, depth + 1
    return depth


def use(sdk: str) -> int:
    """Import the SDK as an application does; the layers on its method afterwards."""
    importlib.import_module(USE[sdk][0])
    return layers(sdk)


def providers() -> tuple[Any, Any, Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    return tracer_provider, MeterProvider(metric_readers=[reader]), spans, reader


def chat(base_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
    client.chat.completions.create(model="lazy-model", messages=[{"role": "user", "content": "hi"}])


def durations(reader: Any) -> int:
    data = reader.get_metrics_data()
    return sum(
        point.count
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "gen_ai.client.operation.duration"
        for point in metric.data.data_points
    )


def main() -> None:
    scenario = sys.argv[1]
    import otel_llmperf

    tracer_provider, meter_provider, spans, reader = providers()
    result: dict[str, Any] = {}
    if scenario == "each-sdk-on-import":
        otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        result["after_instrument"] = loaded()
        result["pools_after_instrument"] = "multiprocessing.pool" in sys.modules
        result["prices_after_instrument"] = "genai_prices" in sys.modules
        # wrapt (and the asyncio it imports) loads with the first SDK, not with instrument().
        result["wrapt_after_instrument"] = sorted(m for m in ("wrapt", "asyncio") if m in sys.modules)
        result["layers"] = {sdk: use(sdk) for sdk in SDKS}
        result["prices_after_imports"] = "genai_prices" in sys.modules
    elif scenario in ("openai-before", "openai-after"):
        if scenario == "openai-before":
            import openai
        otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        chat(sys.argv[2])
        result["spans"] = [span.name for span in spans.get_finished_spans()]
        result["durations"] = durations(reader)
        result["loaded"] = loaded()
    elif scenario == "uninstrument-takes-back-hooks":
        import wrapt.importer

        otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        pending = lambda: sorted(n for n, hooks in wrapt.importer._post_import_hooks.items() if hooks)  # noqa: E731
        result["pending_while_instrumented"] = pending()
        otel_llmperf.uninstrument()
        result["pending_after_uninstrument"] = pending()
        result["layers_after_uninstrument"] = use("anthropic")
        otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        result["layers_instrumented_again"] = layers("anthropic")
        result["layers_openai_imported_later"] = use("openai")
        otel_llmperf.uninstrument()
        result["layers_after_second_uninstrument"] = {sdk: layers(sdk) for sdk in ("anthropic", "openai")}
    elif scenario == "held-hooks-taken-back":
        from otel_llmperf import import_hooks

        otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        result["held_while_instrumented"] = sorted(import_hooks._waiting)
        result["finder_while_instrumented"] = any(isinstance(f, import_hooks._HandOver) for f in sys.meta_path)
        otel_llmperf.uninstrument()
        result["held_after_uninstrument"] = sorted(import_hooks._waiting)
        result["finder_after_uninstrument"] = any(isinstance(f, import_hooks._HandOver) for f in sys.meta_path)
        result["wrapt_loaded"] = "wrapt" in sys.modules
        result["layers_after_uninstrument"] = use("anthropic")
    elif scenario == "concurrent-imports":
        otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        barrier = threading.Barrier(8)
        errors: list[str] = []

        def importer(sdk: str) -> None:
            try:
                barrier.wait(timeout=30)
                importlib.import_module(USE[sdk][0])
            except Exception as error:
                errors.append(repr(error))

        # Two threads race on openai and on anthropic; the others import one SDK each.
        threads = [threading.Thread(target=importer, args=(sdk,)) for sdk in (*SDKS, "openai", "anthropic")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        result["errors"] = errors
        result["alive"] = sum(thread.is_alive() for thread in threads)
        result["layers"] = {sdk: layers(sdk) for sdk in SDKS}
    elif scenario == "broken-tracer-provider":

        class Broken:
            def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("this tracer provider is broken")

        otel_llmperf.instrument(tracer_provider=Broken(), meter_provider=meter_provider)
        import openai  # must import whatever our hook meets

        result["imported"] = hasattr(openai, "OpenAI")
        result["layers"] = layers("openai")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
