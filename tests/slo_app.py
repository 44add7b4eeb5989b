# SPDX-License-Identifier: Apache-2.0
"""An instrumented app for the live SLO test: healthy first, then its first chunks turn slow.

Run as ``python slo_app.py METRICS_PORT HEALTHY_SECONDS SLOW_TTFT``. It serves /metrics on
127.0.0.1:METRICS_PORT (the scrape path), starts its own fake LLM server on loopback, streams
chat completions through the real openai SDK, and after HEALTHY_SECONDS asks the server for a
SLOW_TTFT-second time to first token, which burns the time-to-first-chunk SLO. It prints
``READY`` once serving and runs until killed.
"""

from __future__ import annotations

import sys
import threading
import time

import openai

import otel_llmperf
from otel_llmperf.demo.server import Behaviour, FakeLLMServer, ServerConfig


def _stream(client: openai.OpenAI, headers: dict[str, str]) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers=headers
    )
    for _chunk in stream:
        pass


def main() -> None:
    port, healthy_for, slow_ttft = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    otel_llmperf.instrument(service_name="slo-app", metrics_exporter="prometheus", prometheus_port=port)
    server = FakeLLMServer(ServerConfig(default=Behaviour(ttft=0.05, token_delay=0.001, output_tokens=4))).start()
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    print("READY", flush=True)
    started = time.monotonic()
    while time.monotonic() - started < healthy_for:
        _stream(client, {})

    def slow() -> None:
        for _ in range(1000):  # bounded: the test kills the process long before
            _stream(client, {"x-fake-ttft": slow_ttft})

    # Several slow users at once, so bad events soon outnumber the healthy ones in every window.
    workers = [threading.Thread(target=slow, daemon=True) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
