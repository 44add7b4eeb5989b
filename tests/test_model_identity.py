# SPDX-License-Identifier: Apache-2.0
"""What model answered, and how its choices ended: ``llmperf.model.identity`` and ``llmperf.client.finish_reasons``.

Through the real openai SDK against the fake server, whose ``x-fake-system-fingerprint`` and
``x-fake-response-model`` headers play a provider swapping the snapshot behind a name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import openai
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from helpers import drain, metrics, resolve
from otel_llmperf.labels import OVERFLOW

IDENTITY = "llmperf.model.identity"
FINISH_REASONS = "llmperf.client.finish_reasons"
MESSAGES = [{"role": "user", "content": "hi"}]
FAST = {"x-fake-ttft": "0", "x-fake-token-delay": "0"}


def counts(reader: InMemoryMetricReader, name: str) -> dict[tuple[tuple[str, Any], ...], float]:
    """The counter's points: sorted attributes → value."""
    metric = metrics(reader).get(name)
    if metric is None:
        return {}
    return {tuple(sorted(point.attributes.items())): point.value for point in metric.data.data_points}  # type: ignore[attr-defined]


def identity(model: str, response_model: str, fingerprint: str | None = None) -> tuple[tuple[str, Any], ...]:
    attrs = {"gen_ai.provider.name": "openai", "gen_ai.request.model": model, "gen_ai.response.model": response_model}
    if fingerprint is not None:
        attrs["openai.response.system_fingerprint"] = fingerprint
    return tuple(sorted(attrs.items()))


async def chat(
    client: Any, stream: bool, fingerprint: str, response_model: str = "gpt-4o-2024-08-06", **kwargs: Any
) -> None:
    headers = {**FAST, "x-fake-system-fingerprint": fingerprint, "x-fake-response-model": response_model}
    call = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=stream, extra_headers=headers, **kwargs
    )
    result = await resolve(call)
    if stream:
        await drain(result)


async def test_a_fingerprint_change_behind_the_same_name_is_counted(
    instrumented: None, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    for stream in (False, True, False):
        await chat(client, stream, "fp_old")
    await chat(client, True, "fp_new")
    await chat(client, False, "fp_new", response_model="gpt-4o-2026-12-01")
    assert counts(metric_reader, IDENTITY) == {
        identity("gpt-4o", "gpt-4o-2024-08-06", "fp_old"): 3,
        identity("gpt-4o", "gpt-4o-2024-08-06", "fp_new"): 1,
        identity("gpt-4o", "gpt-4o-2026-12-01", "fp_new"): 1,
    }


async def test_fingerprints_are_capped_in_count_and_length(
    instrument: Callable[..., None], client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument(max_label_values=2)
    long = "fp_" + "x" * 400
    for fingerprint in (long, "fp_b", "fp_c", "fp_d", long):
        await chat(client, False, fingerprint)
    by_fingerprint = {
        dict(key)["openai.response.system_fingerprint"]: value for key, value in counts(metric_reader, IDENTITY).items()
    }
    assert by_fingerprint == {long[:256]: 2, "fp_b": 1, OVERFLOW: 2}


async def test_response_models_beyond_the_cap_become_other(
    instrument: Callable[..., None], client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument(max_models=2)
    for snapshot in ("snap-1", "snap-2", "snap-3"):
        await chat(client, False, "fp", response_model=snapshot)
    # gpt-4o takes one slot of the request models; snap-1 and snap-2 the two of the response models.
    models = {dict(key)["gen_ai.response.model"] for key in counts(metric_reader, IDENTITY)}
    assert models == {"snap-1", "snap-2", OVERFLOW}


async def test_calls_without_a_fingerprint_or_without_a_response(
    instrumented: None, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    # The Responses API returns no system_fingerprint: the identity is the response model alone.
    await resolve(
        client.responses.create(model="gpt-4o", input="hi", extra_headers={**FAST, "x-fake-response-model": "snap"})
    )
    with contextlib.suppress(openai.APIError):
        await resolve(
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={"x-fake-error": "500"})
        )
    assert counts(metric_reader, IDENTITY) == {identity("gpt-4o", "snap"): 1}


async def test_finish_reasons_are_counted_per_choice(
    instrumented: None, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    await chat(client, False, "fp")
    await chat(client, True, "fp", max_tokens=2)
    await chat(client, False, "fp", max_tokens=2, n=2)
    base = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
    assert counts(metric_reader, FINISH_REASONS) == {
        tuple(sorted({**base, "gen_ai.response.finish_reasons": "stop"}.items())): 1,
        tuple(sorted({**base, "gen_ai.response.finish_reasons": "length"}.items())): 3,
    }
