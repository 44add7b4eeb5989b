# SPDX-License-Identifier: Apache-2.0
"""An application with a declared 50/50 experiment, serving Prometheus metrics, for the SRM end-to-end test.

``python srm_app.py BASE_URL DONE_FILE fair|broken``: the app declares the experiment and waits
for ``DONE_FILE.go`` (the test writes it once Prometheus has scraped both variants' series at 0,
so ``increase()`` sees every exposure); then 600 users enter ``assign()``; a quarter of
them make a real chat call to the fake server inside it. With ``broken``, 40 % of the treatment
users never reach ``assign()`` (as if the treatment path failed before logging its exposure), so
the exposures split about 62/38 instead of 50/50. Writes the number of exposures to DONE_FILE when finished, then keeps
serving /metrics until it is stopped (at most 120 s).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

import otel_llmperf

EXPERIMENT = "checkout-prompt"
USERS = 600


def main() -> None:
    base_url, done, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    otel_llmperf.instrument()
    otel_llmperf.declare_experiment(EXPERIMENT, {"control": 50, "treatment": 50}, salt="srm-test")
    client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10)

    def visit(index: int) -> int:
        user = f"user-{index}"
        if mode == "broken" and otel_llmperf.variant_for(EXPERIMENT, user) == "treatment" and index % 5 < 2:
            return 0  # the bug: these exposures are never counted
        with otel_llmperf.assign(EXPERIMENT, user):
            if index % 4 == 0:
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        return 1

    # One call per variant (no exposure) before the go: the call series exist when Prometheus first
    # scrapes, so increase() sees the calls made after it even if they all fall between two scrapes.
    for name in ("control", "treatment"):
        with otel_llmperf.variant(name):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    go = done.with_suffix(".go")
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    with ThreadPoolExecutor(8) as pool:
        exposures = sum(pool.map(visit, range(USERS)))
    partial = done.with_suffix(".partial")
    partial.write_text(str(exposures))
    partial.rename(done)  # the test never reads a half-written file
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
