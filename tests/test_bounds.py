# SPDX-License-Identifier: Apache-2.0
"""Everything bounded, whichever path a value takes: SDK requests and responses, feedback, evaluations, tokens.

Label values are capped in length and in distinct count per label key (``_other`` beyond), and
memory stays bounded however many distinct values arrive (measured with tracemalloc).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import tracemalloc
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from conftest import make_client
from helpers import drain, metrics, resolve, spans, take
from otel_llmperf import FeedbackError, evaluate_dataset, record_evaluation, record_feedback, variant
from otel_llmperf.instruments import CostTotals
from otel_llmperf.labels import OVERFLOW, BoundedLabels
from otel_llmperf.pricing import load_prices
from otel_llmperf.providers.base import Usage
from otel_llmperf.registry import CallRecord
from otel_llmperf.tokens import issue

MESSAGES = [{"role": "user", "content": "hi"}]
FAST = {"x-fake-ttft": "0", "x-fake-token-delay": "0"}
DURATION = "gen_ai.client.operation.duration"
# The documented limits (docs/metrics.md, Limits).
MAX_VALUE_LENGTH = 256
MAX_COST_SERIES = 2000


def label_values(reader: InMemoryMetricReader, key: str) -> dict[str, set[Any]]:
    """Per metric, the distinct values of label ``key``."""
    found: dict[str, set[Any]] = {}
    for name, metric in metrics(reader).items():
        for point in metric.data.data_points:
            if key in point.attributes:
                found.setdefault(name, set()).add(point.attributes[key])
    return found


def longest_label(reader: InMemoryMetricReader) -> int:
    return max(
        (len(str(value)) for metric in metrics(reader).values() for point in metric.data.data_points
         for value in point.attributes.values()),
        default=0,
    )  # fmt: skip


async def chat(client: Any, model: str, stream: bool) -> None:
    if stream:
        await drain(
            await resolve(
                client.chat.completions.create(model=model, messages=MESSAGES, stream=True, extra_headers=FAST)
            )
        )
    else:
        await resolve(client.chat.completions.create(model=model, messages=MESSAGES, extra_headers=FAST))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_huge_and_many_model_names_stay_within_the_caps(
    instrument: Callable[..., None],
    client: Any,
    metric_reader: InMemoryMetricReader,
    span_exporter: Any,
    stream: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instrument(max_models=4)
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    huge = "m" * 100_000
    await chat(client, huge, stream)  # the SDK gets the real name; the server echoes it back
    for index in range(8):
        await chat(client, f"arn:aws:bedrock:us-east-1:123456789012:model/x@{index}", stream)
    await chat(client, "arn:aws:bedrock:us-east-1:123456789012:model/x@0", stream)  # admitted ones stay

    requested = label_values(metric_reader, "gen_ai.request.model")[DURATION]
    responded = label_values(metric_reader, "gen_ai.response.model")[DURATION]
    assert requested == {"m" * MAX_VALUE_LENGTH} | {
        f"arn:aws:bedrock:us-east-1:123456789012:model/x@{i}" for i in range(3)
    } | {OVERFLOW}
    assert len(responded) <= 5 and OVERFLOW in responded
    assert longest_label(metric_reader) <= MAX_VALUE_LENGTH
    names = {span.name for span in spans(span_exporter)}
    assert len(names) == 5 and max(len(name) for name in names) <= MAX_VALUE_LENGTH + 20
    # The span of a folded call keeps its own (cut) model name; only the series fold.
    last = spans(span_exporter)[-2]
    assert last.name == f"chat {OVERFLOW}"
    assert last.attributes["gen_ai.request.model"] == "arn:aws:bedrock:us-east-1:123456789012:model/x@7"
    assert all(
        len(str(value)) <= MAX_VALUE_LENGTH for span in spans(span_exporter) for value in span.attributes.values()
    )
    assert caplog.text.count("distinct gen_ai.request.model values") == 1
    assert len(caplog.text) < 5000


async def test_server_addresses_are_capped(
    instrument: Callable[..., None], fake_server: Any, mode: str, metric_reader: InMemoryMetricReader
) -> None:
    instrument(max_label_values=2)
    port = fake_server.base_url.split(":")[2].split("/")[0]
    for host in ("127.0.0.1", "localhost", "127.0.0.1.nip.invalid"):
        client = make_client(mode, f"http://{host}:{port}/v1")
        with contextlib.suppress(Exception):  # an unresolvable host still records its call
            await resolve(client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=FAST))
    addresses = label_values(metric_reader, "server.address")[DURATION]
    assert addresses == {"127.0.0.1", "localhost", OVERFLOW}


async def test_feedback_on_a_folded_call_carries_the_label_of_its_metrics(
    instrument: Callable[..., None], client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument(max_models=1)
    await resolve(client.chat.completions.create(model="first", messages=MESSAGES, extra_headers=FAST))
    response = await resolve(client.chat.completions.create(model="second", messages=MESSAGES, extra_headers=FAST))
    assert record_feedback("thumbs", True, response_id=response.id).model == OVERFLOW
    assert label_values(metric_reader, "gen_ai.request.model")["llmperf.feedback"] == {OVERFLOW}


def test_evaluation_models_are_capped_in_length_and_count(
    instrument: Callable[..., None], metric_reader: InMemoryMetricReader
) -> None:
    instrument(max_models=3, max_label_values=3)
    for index in range(6):
        evaluate_dataset("acc", [(True, True)], model=f"model@{index}", provider=f"provider{index}")
        record_evaluation("acc", score=1.0, model=f"model@{index}", operation=f"op{index}")
    models = label_values(metric_reader, "gen_ai.request.model")
    assert models["llmperf.evaluation.outcome"] == {"model@0", "model@1", "model@2", OVERFLOW}
    assert label_values(metric_reader, "gen_ai.provider.name")["llmperf.evaluation.outcome"] == {
        "provider0", "provider1", "provider2", OVERFLOW,
    }  # fmt: skip
    assert len(label_values(metric_reader, "gen_ai.operation.name")["llmperf.evaluation.score"]) == 4


def test_classes_and_declared_labels_are_capped_across_calls(
    instrument: Callable[..., None], metric_reader: InMemoryMetricReader
) -> None:
    instrument(max_label_values=5)
    for index in range(10):
        classes = [f"c{index}a", f"c{index}b"]
        evaluate_dataset("cls", [(classes[0], classes[1])], classes=classes)
        record_feedback("label", f"l{index}", labels=[f"l{index}"], response_id="r")
    assert len(label_values(metric_reader, "llmperf.evaluation.class")["llmperf.evaluation.outcome"]) == 6
    assert len(label_values(metric_reader, "llmperf.feedback.label")["llmperf.feedback"]) == 6


def test_rejected_evaluations_use_no_cap_slot(instrument: Callable[..., None]) -> None:
    instrument()
    for index in range(150):
        with pytest.raises(FeedbackError):
            record_evaluation(f"bad{index}", score=2.0)
        with pytest.raises(FeedbackError):
            record_evaluation(f"worse{index}", score=0.5, model="m" * 300)
        with pytest.raises(FeedbackError):
            evaluate_dataset(f"ds{index}", [(True, "x")])
    assert record_evaluation("fresh", score=1.0) is not None
    from otel_llmperf import labels

    assert len(labels.EVALUATION_NAMES) == 1 and len(labels.REQUEST_MODELS) == 0


@pytest.mark.parametrize("field", ["m", "p", "o", "v"])
def test_forged_unsigned_tokens_are_capped_per_field_and_never_take_the_applications_slots(
    instrument: Callable[..., None], metric_reader: InMemoryMetricReader, field: str
) -> None:
    instrument(max_models=5, max_label_values=5, max_variants=5)
    variant("app-variant")  # the application's own value, admitted first
    base = {"m": "model", "p": "openai", "o": "chat", "v": "v"}
    for index in range(300):
        values = {**base, field: f"forged{index}"}
        record = CallRecord(values["m"], values["p"], values["o"], values["v"], None, f"r{index}")
        record_feedback("thumbs", True, token=issue(record, None))
    key = {
        "m": "gen_ai.request.model",
        "p": "gen_ai.provider.name",
        "o": "gen_ai.operation.name",
        "v": "llmperf.variant",
    }
    seen = label_values(metric_reader, key[field])["llmperf.feedback"]
    assert len(seen) == 6 and OVERFLOW in seen
    assert variant("app-variant-2").name == "app-variant-2"  # forged tokens took none of the application's slots


def test_a_signed_token_from_another_process_admits_like_the_application(instrument: Callable[..., None]) -> None:
    instrument(feedback_secret="s", max_models=2)
    for index in range(4):
        token = issue(CallRecord(f"model{index}", "openai", "chat", None, None, f"r{index}"), b"s")
        model = record_feedback("thumbs", True, token=token).model
        assert model == (f"model{index}" if index < 2 else OVERFLOW)


def retained(action: Callable[[], None]) -> int:
    """Bytes still allocated after ``action`` (and a collection), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_label_cap_keeps_no_memory_per_value_beyond_the_cap() -> None:
    bounded = BoundedLabels("test", 100)

    def flood() -> None:
        for index in range(20_000):
            bounded.admit(f"{index:06d}" + "x" * 10_000)  # 10 KB names, 200 MB in all

    used = retained(flood)
    assert len(bounded) == 100
    # 100 admitted names of 256 characters (~0.3 KB each) plus the set: docs/metrics.md says < 64 KB.
    assert used < 64 * 1024, used


def test_untrusted_values_keep_no_memory_beyond_their_budget() -> None:
    bounded = BoundedLabels("test", 100)
    used = retained(lambda: [bounded.admit_untrusted(f"{index}" + "y" * 1000) for index in range(20_000)])
    assert len(bounded) == 100 and used < 64 * 1024, used


def test_cost_totals_are_bounded_with_an_overflow_series() -> None:
    totals = CostTotals()
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "server.address": "api.openai.com"}

    def flood() -> None:
        for index in range(10_000):
            totals.add(0.5, {**attrs, "gen_ai.request.model": f"model-{index:05d}-" + "z" * 200})

    used = retained(flood)
    observed = list(totals.observe(None))  # type: ignore[arg-type]
    assert len(observed) == MAX_COST_SERIES
    assert sum(observation.value for observation in observed) == pytest.approx(5000.0)
    (overflow,) = [o for o in observed if o.attributes == {"otel.metric.overflow": True}]
    assert overflow.value == pytest.approx(0.5 * (10_000 - MAX_COST_SERIES + 1))
    # ~1.5 KB per series kept, none past the limit: docs/metrics.md says < 4 MB at the default 2000.
    assert used < 4 * 1024 * 1024, used


def test_the_price_lookup_cache_keeps_no_huge_names(caplog: pytest.LogCaptureFixture) -> None:
    table = load_prices(None, None)
    usage = Usage(input_tokens=10, output_tokens=10)
    caplog.set_level(logging.CRITICAL, logger="otel_llmperf")
    used = retained(lambda: [table.cost("openai", (f"{i}" + "q" * 100_000,), usage) for i in range(2000)])
    # 1024 remembered lookups of names cut to 256 characters: well under 1 MB, not 100 MB.
    assert used < 1024 * 1024, used


def test_limits_are_settings_with_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_llmperf.config import load_settings

    assert (load_settings({}).max_models, load_settings({}).max_label_values) == (100, 100)
    environ = {"OTEL_PYTHON_LLMPERF_MAX_MODELS": "7", "OTEL_PYTHON_LLMPERF_MAX_LABEL_VALUES": "9"}
    assert (load_settings(environ).max_models, load_settings(environ).max_label_values) == (7, 9)
    assert load_settings(environ, max_models=3).max_models == 3
    assert load_settings({"OTEL_PYTHON_LLMPERF_MAX_MODELS": "lots"}).max_models == 100


async def test_the_sdk_gets_the_original_model_name_however_long(
    instrument: Callable[..., None], fresh_server: Any, mode: str, metric_reader: InMemoryMetricReader
) -> None:
    instrument(max_models=1)
    client = make_client(mode, fresh_server.base_url)
    await resolve(client.chat.completions.create(model="first", messages=MESSAGES, extra_headers=FAST))
    huge = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude@v2:0" + "/x" * 50_000
    await resolve(client.chat.completions.create(model=huge, messages=MESSAGES, extra_headers=FAST))
    assert fresh_server.stats()["last_body"]["/v1/chat/completions"]["model"] == huge
    assert label_values(metric_reader, "gen_ai.request.model")[DURATION] == {"first", OVERFLOW}


async def _stream_ended(client: Any, model: str, how: str) -> None:
    headers = {**FAST, "x-fake-error": "disconnect", "x-fake-error-after": "2"} if how == "cut" else FAST
    stream = await resolve(
        client.chat.completions.create(model=model, messages=MESSAGES, stream=True, extra_headers=headers)
    )
    if how == "cut":
        with pytest.raises(openai.APIConnectionError):
            await drain(stream)
        return
    await take(stream)
    if how == "close":
        await resolve(stream.close())
    else:  # abandoned
        del stream
        gc.collect(0)


@pytest.mark.parametrize("how", ["close", "abandon", "cut"])
async def test_huge_model_names_are_capped_however_a_stream_ends(
    instrument: Callable[..., None], client: Any, metric_reader: InMemoryMetricReader, span_exporter: Any, how: str
) -> None:
    instrument(max_models=2)
    for index in range(4):
        await _stream_ended(client, f"{index}" + "m" * 100_000, how)
    gc.collect()
    requested = label_values(metric_reader, "gen_ai.request.model")[DURATION]
    assert len(requested) == 3 and OVERFLOW in requested  # two admitted, cut, and the rest folded
    assert longest_label(metric_reader) <= MAX_VALUE_LENGTH
    assert sum(point.count for point in metrics(metric_reader)[DURATION].data.data_points) == 4
    assert all(len(str(v)) <= MAX_VALUE_LENGTH for span in spans(span_exporter) for v in span.attributes.values())
