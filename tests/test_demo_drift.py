# SPDX-License-Identifier: Apache-2.0
"""The demo's drift switch: the models change on schedule, and only when asked."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from helpers import metrics
from otel_llmperf.demo import users
from otel_llmperf.demo.clients import connect
from otel_llmperf.demo.drift import DRIFTED_FINGERPRINT, SNAPSHOT_SUFFIX, DriftSchedule, drifted_config
from otel_llmperf.demo.server import FakeLLMServer, ServerConfig
from otel_llmperf.demo.traffic import CHAT_MODELS, demo_server_config, generate
from otel_llmperf.demo.wire import SYSTEM_FINGERPRINT

FINGERPRINT = "openai.response.system_fingerprint"


def test_drifted_models_are_a_new_snapshot_slower_and_wordier() -> None:
    config = demo_server_config(7)
    drifted = drifted_config(config)
    assert drifted.seed == config.seed and set(drifted.per_model) == set(config.per_model)
    for model in CHAT_MODELS:
        before, after = config.behaviour_for(model), drifted.behaviour_for(model)
        assert after.response_model == f"{before.response_model}{SNAPSHOT_SUFFIX}"
        assert (before.system_fingerprint, after.system_fingerprint) == (SYSTEM_FINGERPRINT, DRIFTED_FINGERPRINT)
        assert after.ttft >= 3 * before.ttft and after.output_tokens >= 1.5 * before.output_tokens


def test_judges_are_less_accurate_after_the_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[tuple[bool, bool]] = []
    monkeypatch.setattr(
        users, "record_evaluation", lambda *a, predicted, expected, **k: judged.append((predicted, expected))
    )
    monkeypatch.setattr(users, "EVALUATION_RATE", 1.0)
    monkeypatch.setattr(users, "FEEDBACK_RATE", 0.0)

    def accuracy(drop: float) -> float:
        judged.clear()
        rng = random.Random(3)
        for _ in range(2000):
            users.react(object(), "gpt-4.1", rng, accuracy_drop=drop)
        return sum(predicted == expected for predicted, expected in judged) / len(judged)

    assert accuracy(0.0) > 0.88 and accuracy(0.4) < 0.55


def _fingerprints(reader: InMemoryMetricReader) -> set[Any]:
    metric = metrics(reader).get("llmperf.model.identity")
    assert metric is not None
    return {point.attributes.get(FINGERPRINT) for point in metric.data.data_points} - {None}


def _quick(config: ServerConfig) -> ServerConfig:
    """The demo's models at a tenth of their latency, so the test is not waiting on slow answers."""
    faster = {
        model: dataclasses.replace(b, ttft=b.ttft / 10, token_delay=b.token_delay / 10)
        for model, b in config.per_model.items()
    }
    return dataclasses.replace(config, per_model=faster)


async def _run(drift_after: float | None, seconds: float) -> None:
    config = _quick(demo_server_config(5))
    server = FakeLLMServer(config).start()
    clients = connect(server.url)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    schedule = None if drift_after is None else DriftSchedule(drift_after, server.reconfigure)
    try:
        await generate(clients, 40, stop, 5, config, drift=schedule)
    finally:
        await clients.close()
        server.stop()


# 2 s of the old models first: time for calls to complete before the switch also on a busy machine.
@pytest.mark.parametrize("drift_after", [2.0, None])
async def test_the_switch_changes_what_the_server_reports_and_nothing_changes_without_it(
    instrumented: None, metric_reader: InMemoryMetricReader, drift_after: float | None
) -> None:
    await _run(drift_after, 4.0)
    if drift_after is None:
        assert _fingerprints(metric_reader) == {SYSTEM_FINGERPRINT}
    else:
        assert _fingerprints(metric_reader) == {SYSTEM_FINGERPRINT, DRIFTED_FINGERPRINT}
