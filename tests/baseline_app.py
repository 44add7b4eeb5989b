# SPDX-License-Identifier: Apache-2.0
"""An instrumented app for the baseline and analysis tests: a steady period, then a shifted one.

Run as ``python baseline_app.py METRICS_PORT PHASE_SECONDS``. It serves /metrics on
127.0.0.1:METRICS_PORT, starts its own fake LLM server on loopback and streams chat completions
through the real openai SDK to two models from three concurrent users, recording user feedback and an
evaluation for each. It prints ``READY`` once serving, ``SHIFT <unix time>`` when the second period
starts, ``DONE <unix time>`` when it ends, then serves /metrics until killed.

Both periods: every 20th call fails (HTTP 500), ratings cycle 3, 4, 5, 4 (every other call).
Shifted in the second period: time to first token 20 → 80 ms, output 8 → 40 tokens, evaluation
accuracy 90 % → 50 %, thumbs up 80 % → 40 %.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time

import openai

import otel_llmperf
from otel_llmperf.demo.server import Behaviour, FakeLLMServer, ServerConfig

MODELS = ("gpt-4o-mini", "gpt-4o")
RATINGS = (3, 4, 5, 4)
USERS = 3


def _call(client: openai.OpenAI, index: int, model: str, shifted: bool) -> None:
    headers = {"x-fake-ttft": "0.08" if shifted else "0.02", "x-fake-output-tokens": "40" if shifted else "8"}
    if index % 20 == 0:
        headers["x-fake-error"] = "500"
    try:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        )
        response_id = ""
        for chunk in stream:
            response_id = response_id or chunk.id
    except openai.APIError:
        return
    correct = index % 10 < (5 if shifted else 9)
    otel_llmperf.record_evaluation("qa", predicted=correct, expected=True, response_id=response_id)
    otel_llmperf.record_feedback("thumbs", index % 10 < (4 if shifted else 8), response_id=response_id)
    if index % 2 == 0:
        otel_llmperf.record_feedback("rating", RATINGS[index // 2 % 4], response_id=response_id)


def main() -> None:
    port, phase = int(sys.argv[1]), float(sys.argv[2])
    otel_llmperf.instrument(service_name="baseline-app", metrics_exporter="prometheus", prometheus_port=port)
    server = FakeLLMServer(ServerConfig(default=Behaviour(ttft=0.02, token_delay=0.0, output_tokens=8))).start()
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    print("READY", flush=True)
    counter = itertools.count()
    for shifted in (False, True):
        started = time.time()
        if shifted:
            print(f"SHIFT {started}", flush=True)

        def user(shifted: bool = shifted, started: float = started) -> None:
            while time.time() - started < phase:
                index = next(counter)
                _call(client, index, MODELS[index % 2], shifted)

        # A few users at once: enough calls per period for every test, on a loaded machine too.
        users = [threading.Thread(target=user, daemon=True) for _ in range(USERS)]
        for one in users:
            one.start()
        for one in users:
            one.join()
    print(f"DONE {time.time()}", flush=True)
    for _ in range(600):  # bounded: the test kills the process long before
        time.sleep(0.1)


if __name__ == "__main__":
    main()
