# SPDX-License-Identifier: Apache-2.0
"""A tiny application for the exit tests: one instrumented call and one feedback, then exit.

``python exit_app.py BASE_URL [app-providers]``. Exporters come from the ``OTEL_*`` environment
the test gives it. Once its work is done it prints ``ready`` and waits for a line on stdin, so
the test can let every child end at once, after all the start-ups; then it prints
``time.monotonic()`` (a clock shared by every process on Linux), and prints it again from an
exit handler that runs after every handler registered later (those of telemetry), so the test
can tell the time telemetry took at exit from the interpreter's own finalization. With
``app-providers`` the application installs its own tracer and meter providers first, which
announce on stdout if anything shuts them down.
"""

from __future__ import annotations

import atexit
import sys
import time
from typing import Any

import openai

import otel_llmperf


def install_app_providers() -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    class AppTracerProvider(TracerProvider):
        def shutdown(self) -> None:
            print("app tracer provider shut down", flush=True)

    class AppMeterProvider(MeterProvider):
        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            print("app meter provider shut down", flush=True)

    trace.set_tracer_provider(AppTracerProvider(shutdown_on_exit=False))
    metrics.set_meter_provider(AppMeterProvider(shutdown_on_exit=False))


def main() -> None:
    # atexit runs handlers last in, first out: this one runs once telemetry's are done.
    atexit.register(lambda: print(time.monotonic(), flush=True))
    if sys.argv[2:] == ["app-providers"]:
        install_app_providers()
    otel_llmperf.instrument()
    client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
    response = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    otel_llmperf.record_feedback("thumbs", True, response=response)
    print("ready", flush=True)
    sys.stdin.readline()
    print(time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
