# SPDX-License-Identifier: Apache-2.0
"""The demo's drift switch: from a set time on, the fake models change under their names.

``otel-llmperf demo --drift-after S`` swaps, S seconds after traffic starts, every chat model's
behaviour for a "new snapshot": another response model and system fingerprint, longer answers,
a slower first chunk; the simulated judges then find the answers less accurate. Without the
switch nothing changes. The drift rules (``grafana/drift.yaml``) are built to notice each of these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from otel_llmperf.demo.server import LIMITS, ServerConfig

DRIFTED_FINGERPRINT = "fp_fakellm_drifted"
SNAPSHOT_SUFFIX = "-2026-12-01"
# Big enough to clear the drift rules' guards within seconds of demo traffic, small enough to be plausible.
TTFT_FACTOR = 3.0
OUTPUT_TOKENS_FACTOR = 1.75
ACCURACY_DROP = 0.4


def drifted_config(config: ServerConfig) -> ServerConfig:
    """``config`` after the provider swapped every model: new snapshot and fingerprint, slower, wordier."""
    per_model = {}
    for model, behaviour in config.per_model.items():
        per_model[model] = dataclasses.replace(
            behaviour,
            ttft=min(behaviour.ttft * TTFT_FACTOR, LIMITS["ttft"][1]),
            output_tokens=min(round(behaviour.output_tokens * OUTPUT_TOKENS_FACTOR), int(LIMITS["output_tokens"][1])),
            response_model=(behaviour.response_model or model) + SNAPSHOT_SUFFIX,
            system_fingerprint=DRIFTED_FINGERPRINT,
        )
    return dataclasses.replace(config, per_model=per_model)


@dataclass(frozen=True)
class DriftSchedule:
    """When the drift starts (seconds after traffic starts) and how the running server learns of it."""

    after: float
    apply: Callable[[ServerConfig], None]
