# SPDX-License-Identifier: Apache-2.0
"""record_feedback and feedback_token, through the public API and the real SDK on loopback."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llmperf
from helpers import counter_value, drain, events, only_span, points, resolve
from otel_llmperf import FeedbackError, feedback_token, record_feedback

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
FEEDBACK = "llmperf.feedback"
SCORE = "llmperf.feedback.score"


async def call(client: Any, **kwargs: Any) -> Any:
    return await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES, **kwargs))


def feedback_points(reader: InMemoryMetricReader) -> list[dict[str, Any]]:
    from helpers import metrics

    metric = metrics(reader).get(FEEDBACK)
    return [dict(point.attributes) | {"value": point.value} for point in metric.data.data_points] if metric else []


@pytest.mark.parametrize(
    ("kind", "value", "label", "score"),
    [
        ("thumbs", True, "up", 1.0),
        ("thumbs", "down", "down", 0.0),
        ("thumbs", 0, "down", 0.0),
        ("rating", 4, "4", 4.0),
        ("rating", 5.0, "5", 5.0),
        ("nps", 10, "promoter", 10.0),
        ("nps", 7, "passive", 7.0),
        ("nps", 3, "detractor", 3.0),
    ],
)
async def test_feedback_kinds_are_counted_with_the_calls_attributes(
    instrument: Any,
    client: Any,
    metric_reader: InMemoryMetricReader,
    span_exporter: InMemorySpanExporter,
    log_exporter: Any,
    kind: str,
    value: Any,
    label: str,
    score: float,
) -> None:
    instrument()
    response = await call(client)
    recorded = record_feedback(kind, value, response_id=response.id)
    assert (recorded.kind, recorded.label, recorded.score, recorded.matched) == (kind, label, score, True)
    assert (recorded.model, recorded.provider, recorded.operation) == (MODEL, "openai", "chat")
    (point,) = feedback_points(metric_reader)
    assert point == {
        "gen_ai.request.model": MODEL,
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "llmperf.feedback.kind": kind,
        "llmperf.feedback.label": label,
        "value": 1,
    }
    numeric = kind in ("rating", "nps")
    assert sum(p.count for p in points(metric_reader, SCORE)) == (1 if numeric else 0)
    if numeric:
        assert points(metric_reader, SCORE)[0].sum == score
    # The semconv event, linked to the judged call's span.
    span = only_span(span_exporter)
    (event,) = events(log_exporter)
    assert event.trace_id == span.context.trace_id and event.span_id == span.context.span_id
    assert event.attributes["gen_ai.evaluation.name"] == f"user_feedback.{kind}"
    assert event.attributes["gen_ai.evaluation.score.label"] == label
    assert event.attributes["gen_ai.evaluation.score.value"] == score
    assert event.attributes["gen_ai.response.id"] == response.id


async def test_feedback_label_kind_from_a_declared_set(
    instrument: Any, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument()
    response = await call(client)
    record_feedback("label", "too_long", labels=["helpful", "too_long", "wrong"], response=response)
    assert feedback_points(metric_reader)[0]["llmperf.feedback.label"] == "too_long"


async def test_feedback_arriving_later_in_another_thread_is_attributed(
    instrument: Any, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument()
    response = await call(client, extra_headers={"x-fake-response-model": "gpt-4o-mini-2024-07-18"})
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.append(record_feedback("thumbs", False, response_id=response.id)))
    worker.start()
    worker.join(10)
    assert done and done[0].matched and done[0].model == MODEL


async def test_feedback_for_a_stream_by_token(
    instrument: Any, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument()
    stream = await call(client, stream=True)
    chunks = await drain(stream)
    token = feedback_token(stream)
    recorded = record_feedback("rating", 2, token=token)
    assert recorded.matched and recorded.model == MODEL
    assert feedback_points(metric_reader)[0]["llmperf.feedback.label"] == "2"
    assert chunks[0].id  # the stream's response id is what the token carries
    assert record_feedback("thumbs", True, response_id=chunks[0].id).matched


async def test_feedback_with_no_reference_judges_the_current_span(
    instrument: Any, client: Any, tracer_provider: TracerProvider, log_exporter: Any
) -> None:
    """Inside the request span that made the call, the call is found through its parent."""
    instrument()
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("POST /chat") as request_span:
        await call(client)
        recorded = record_feedback("thumbs", True)
    assert recorded.matched and recorded.model == MODEL
    assert recorded.span_id != f"{request_span.get_span_context().span_id:016x}"  # the LLM span, not the request


async def test_feedback_for_an_unknown_call_is_counted_under_the_fallback(
    instrument: Any, metric_reader: InMemoryMetricReader, log_exporter: Any
) -> None:
    instrument()
    recorded = record_feedback("thumbs", True, response_id="chatcmpl-from-another-process")
    assert not recorded.matched
    assert (recorded.model, recorded.provider, recorded.operation) == ("_unknown", "_unknown", "_unknown")
    assert counter_value(metric_reader, FEEDBACK, {"gen_ai.request.model": "_unknown"}) == 1
    assert events(log_exporter)[0].attributes["gen_ai.response.id"] == "chatcmpl-from-another-process"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("stars", 5), {}, "kind must be one of thumbs, rating, nps, label"),
        (("thumbs", "maybe"), {}, "True/False, 'up'/'down' or 1/0"),
        (("thumbs", 0.5), {}, "True/False"),
        (("rating", 6), {}, "whole number from 1 to 5"),
        (("rating", 3.5), {}, "whole number from 1 to 5"),
        (("rating", 11), {"scale": (0, 10)}, "whole number from 0 to 10"),
        (("rating", 3), {"scale": (5, 1)}, "scale must be two integers"),
        (("rating", True), {}, "whole number"),
        (("nps", 11), {}, "nps answer must be a whole number from 0 to 10"),
        (("nps", "9"), {}, "from 0 to 10"),
        (("label", "spam"), {"labels": ["helpful", "wrong"]}, "allowed: helpful, wrong"),
        (("label", "helpful"), {}, "labels must declare"),
        (("thumbs", True), {"response_id": 42}, "response_id must be a non-empty string"),
        (("thumbs", True), {"name": "bad name!"}, "name must be a string"),
    ],
)
async def test_bad_feedback_raises_naming_the_field_and_records_nothing(
    instrument: Any, metric_reader: InMemoryMetricReader, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    instrument()
    record_feedback("thumbs", True, response_id="before")  # already recorded data must survive
    with pytest.raises(FeedbackError, match=message.replace("(", r"\(").replace(")", r"\)")):
        record_feedback(*args, **kwargs)
    assert counter_value(metric_reader, FEEDBACK) == 1


async def test_comment_only_with_content_capture_and_redacted(instrument: Any, client: Any, log_exporter: Any) -> None:
    instrument(capture_content=True, redact="basic")
    response = await call(client)
    record_feedback("thumbs", False, response=response, comment="wrong; mail me at jo@example.com")
    assert events(log_exporter)[0].attributes["gen_ai.evaluation.explanation"] == "wrong; mail me at <email>"


async def test_comment_dropped_without_content_capture(instrument: Any, client: Any, log_exporter: Any) -> None:
    instrument()
    record_feedback("thumbs", False, response=await call(client), comment="my secret complaint")
    assert "gen_ai.evaluation.explanation" not in events(log_exporter)[0].attributes


async def test_user_ids_are_hashed_with_a_key_and_dropped_without(
    instrument: Any, client: Any, log_exporter: Any
) -> None:
    instrument(user_id_key="pepper")
    response = await call(client)
    record_feedback("thumbs", True, response=response, user_id="alice@example.com")
    otel_llmperf.uninstrument()
    instrument()  # the same call, now without a key
    record_feedback("thumbs", True, response_id=response.id, user_id="alice@example.com")
    first, second = events(log_exporter)
    assert len(first.attributes["user.hash"]) == 64 and "alice" not in str(dict(first.attributes))
    assert "user.hash" not in second.attributes and "alice" not in str(dict(second.attributes))


async def test_feedback_counter_exemplars_point_at_the_judged_call(
    instrument: Any, client: Any, metric_reader: InMemoryMetricReader, span_exporter: InMemorySpanExporter
) -> None:
    instrument()
    response = await call(client)
    record_feedback("thumbs", True, response_id=response.id)
    from helpers import metrics

    (point,) = metrics(metric_reader)[FEEDBACK].data.data_points
    span = only_span(span_exporter)
    assert {(e.trace_id, e.span_id) for e in point.exemplars} == {(span.context.trace_id, span.context.span_id)}


async def test_feedback_from_an_async_task_keeps_the_variant(
    instrument: Any, client: Any, mode: str, metric_reader: InMemoryMetricReader
) -> None:
    instrument()
    with otel_llmperf.variant("concise"):
        response = await call(client)

    async def later() -> None:
        await asyncio.sleep(0)
        record_feedback("nps", 10, response_id=response.id)

    await asyncio.gather(later())
    assert feedback_points(metric_reader)[0]["llmperf.variant"] == "concise"


def test_the_call_map_stays_bounded_under_a_flood(instrument: Any, fake_server: Any) -> None:
    """A flood of responses never grows the map past its size; old calls fall back to _unknown."""
    import openai

    from otel_llmperf.registry import REGISTRY

    instrument(feedback_max_calls=50)
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
    fast = {"x-fake-ttft": "0", "x-fake-token-delay": "0"}
    responses = [
        client.chat.completions.create(model=f"m{index % 3}", messages=MESSAGES, extra_headers=fast)
        for index in range(200)
    ]
    assert len(REGISTRY) <= 3 * 50  # up to three keys per remembered call
    assert not record_feedback("thumbs", True, response=responses[0]).matched
    latest = record_feedback("thumbs", True, response=responses[-1])
    assert latest.matched and latest.model == "m1"


async def test_feedback_by_span_context(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    instrument()
    await call(client)
    llm_span = only_span(span_exporter)
    recorded = record_feedback("thumbs", False, span_context=llm_span.context)
    assert recorded.matched and recorded.model == MODEL
    assert recorded.span_id == f"{llm_span.context.span_id:016x}"


async def test_feedback_token_of_a_raw_response(instrument: Any, client: Any) -> None:
    instrument()
    raw = await resolve(client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES))
    assert raw.headers["x-request-id"]  # still the SDK's raw response for the caller
    recorded = record_feedback("thumbs", True, token=feedback_token(raw))
    assert recorded.matched and recorded.model == MODEL
