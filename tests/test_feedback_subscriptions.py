# SPDX-License-Identifier: Apache-2.0
"""on_feedback subscriptions: what subscribers hear, and that they can never break recording."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from helpers import counter_value, resolve
from otel_llmperf import (
    FeedbackError,
    FeedbackEvent,
    consent,
    feedback_events,
    on_feedback,
    record_evaluation,
    record_feedback,
)

MODEL = "gpt-4o-mini"


@pytest.fixture(autouse=True)
def _no_subscriber_left() -> Iterator[None]:
    yield
    for subscription in feedback_events._subscribers:
        subscription.unsubscribe()


async def call(client: Any) -> Any:
    return await resolve(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}]))


async def test_subscribers_hear_feedback_and_evaluations_with_the_judged_call(instrument: Any, client: Any) -> None:
    instrument(user_id_key="pepper", variant="b")
    heard: list[FeedbackEvent] = []
    subscription = on_feedback(heard.append)
    response = await call(client)
    returned = record_feedback("rating", 4, response=response, comment="nice", user_id="alice@example.com")
    record_evaluation("groundedness", score=0.75, predicted=True, expected=True, explanation="cited", response=response)
    feedback, evaluation = heard
    assert (feedback.kind, feedback.name, feedback.label, feedback.score) == (
        "rating",
        "user_feedback.rating",
        "4",
        4.0,
    )
    assert (feedback.model, feedback.provider, feedback.operation, feedback.variant) == (MODEL, "openai", "chat", "b")
    assert feedback.response_id == response.id and feedback.matched and feedback.consented
    assert feedback.comment == "nice" and feedback.evaluation is None
    assert feedback.user_hash is not None and len(feedback.user_hash) == 64
    assert "alice" not in repr(feedback)  # never the user id in clear
    assert (feedback.trace_id, feedback.span_id) == (returned.trace_id, returned.span_id)
    assert (evaluation.kind, evaluation.evaluation, evaluation.score, evaluation.label) == (
        "evaluation",
        "groundedness",
        0.75,
        "correct",
    )
    assert evaluation.comment == "cited" and evaluation.user_hash is None and evaluation.response_id == response.id
    with pytest.raises(dataclasses.FrozenInstanceError):
        feedback.comment = "changed"  # type: ignore[misc]
    subscription.unsubscribe()
    record_feedback("thumbs", True, response=response)
    assert len(heard) == 2


async def test_no_comment_or_hash_reaches_subscribers_without_consent(instrument: Any, client: Any) -> None:
    instrument(user_id_key="pepper")
    heard: list[FeedbackEvent] = []
    on_feedback(heard.append)
    with consent(False):
        refused = await call(client)
    record_feedback("thumbs", False, response=refused, comment="call me", user_id="alice")
    record_evaluation("tone", score=0.1, explanation="rude to alice", response=refused)
    for event in heard:
        assert not event.consented and event.comment is None and event.user_hash is None
        assert event.response_id == refused.id  # still enough to look the example up in the app's own store


def test_a_raising_subscriber_never_breaks_recording_and_is_reported_once(
    instrument: Any, metric_reader: InMemoryMetricReader, caplog: pytest.LogCaptureFixture
) -> None:
    instrument()
    heard: list[FeedbackEvent] = []

    def broken(event: FeedbackEvent) -> None:
        raise RuntimeError("subscriber bug")

    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    on_feedback(broken)
    on_feedback(heard.append)  # later subscribers still hear every event
    for _ in range(3):
        record_feedback("thumbs", True, response_id="r-1")
    assert len(heard) == 3 and counter_value(metric_reader, "llmperf.feedback") == 3
    reports = [record for record in caplog.records if "subscriber bug" in str(record.exc_info)]
    assert len(reports) == 1 and "broken" in reports[0].getMessage()


def test_a_slow_subscriber_is_named_once(
    monkeypatch: pytest.MonkeyPatch, instrument: Any, caplog: pytest.LogCaptureFixture
) -> None:
    instrument()
    monkeypatch.setattr(feedback_events, "SLOW_SECONDS", 0.0)  # every subscriber is "slow": no sleeping
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    on_feedback(lambda event: None)
    record_feedback("thumbs", True, response_id="r-1")
    record_feedback("thumbs", True, response_id="r-1")
    assert sum("took" in record.getMessage() for record in caplog.records) == 1


def test_unsubscribing_during_delivery(instrument: Any) -> None:
    instrument()
    heard: list[str] = []
    later: list[Any] = []

    def first(event: FeedbackEvent) -> None:
        heard.append("first")
        later[0].unsubscribe()  # a subscriber after this one, during this very delivery
        own.unsubscribe()  # and itself

    own = on_feedback(first)
    later.append(on_feedback(lambda event: heard.append("second")))
    record_feedback("thumbs", True, response_id="r-1")
    record_feedback("thumbs", True, response_id="r-1")
    assert heard == ["first"] and not own.active and not later[0].active


def test_decorator_and_context_manager_forms(instrument: Any) -> None:
    instrument()
    heard: list[str] = []

    @on_feedback
    def remember(event: FeedbackEvent) -> None:
        heard.append(event.label or "")

    with on_feedback(lambda event: heard.append("scoped")):
        record_feedback("thumbs", False, response_id="r-1")
    remember.unsubscribe()
    record_feedback("thumbs", True, response_id="r-1")
    assert heard == ["down", "scoped"]


def test_subscribers_are_capped_and_checked(instrument: Any) -> None:
    instrument()
    with pytest.raises(FeedbackError, match="callback must be callable"):
        on_feedback("not a function")  # type: ignore[arg-type]
    handles = [on_feedback(lambda event: None) for _ in range(feedback_events.MAX_SUBSCRIBERS)]
    with pytest.raises(FeedbackError, match=f"at most {feedback_events.MAX_SUBSCRIBERS} feedback subscribers"):
        on_feedback(lambda event: None)
    handles[0].unsubscribe()
    on_feedback(lambda event: None)  # room again


def test_many_threads_record_while_others_subscribe_and_unsubscribe(
    instrument: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument()
    counted: list[int] = []
    lock = threading.Lock()

    def count(event: FeedbackEvent) -> None:
        with lock:
            counted.append(1)

    on_feedback(count)
    errors: list[BaseException] = []

    def record() -> None:
        try:
            for _ in range(50):
                record_feedback("thumbs", True, response_id="r-1")
        except BaseException as error:
            errors.append(error)

    def churn() -> None:
        try:
            for _ in range(50):
                on_feedback(lambda event: None).unsubscribe()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=record) for _ in range(6)] + [threading.Thread(target=churn) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(counted) == 300
    assert counter_value(metric_reader, "llmperf.feedback") == 300
    assert len(feedback_events._subscribers) == 1


def documented_example(marker: str) -> str:
    """The python block that follows ``<!-- example: marker -->`` in docs/trust-signals.md."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "trust-signals.md").read_text(encoding="utf-8")
    after = page.split(f"<!-- example: {marker} -->", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_documented_example_collects_only_consented_judged_examples(instrument: Any, fake_server: Any) -> None:
    instrument(capture_content=True)
    namespace: dict[str, Any] = {"client": openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)}
    exec(compile(documented_example("judged-examples"), "docs/trust-signals.md", "exec"), namespace)
    agreed = namespace["answer"]("How do I reset my password?", True)
    refused = namespace["answer"]("What is my balance?", False)
    record_feedback("thumbs", True, response_id=agreed)
    record_feedback("thumbs", False, response_id=refused)
    (example,) = namespace["dataset"]
    assert example["prompt"] == "How do I reset my password?" and example["label"] == "up" and example["completion"]
    namespace["collect"].unsubscribe()
