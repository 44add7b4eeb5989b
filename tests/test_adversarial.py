# SPDX-License-Identifier: Apache-2.0
"""Hostile and absurd input on every public entry point: the documented error, a short message, nothing recorded."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from helpers import events, metrics
from otel_llmperf import (
    FeedbackError,
    InvalidFeedbackToken,
    evaluate_dataset,
    feedback_token,
    record_evaluation,
    record_feedback,
    variant,
)
from otel_llmperf.registry import CallRecord
from otel_llmperf.tokens import issue

# A rejected input's message names the field; it must not repeat a huge value verbatim.
MAX_MESSAGE = 1000
SIGNALS = ("llmperf.feedback", "llmperf.feedback.score", "llmperf.evaluation.score", "llmperf.evaluation.outcome")
HUGE = "x" * 200_000


def recorded(reader: InMemoryMetricReader, log_exporter: Any) -> int:
    """How many feedback/evaluation points and events exist."""
    found = metrics(reader)
    return sum(len(found[name].data.data_points) for name in SIGNALS if name in found) + len(events(log_exporter))


def rejected(error: type[Exception], function: Any, *args: Any, **kwargs: Any) -> str:
    """Call ``function``, expecting exactly ``error``; return its message, checked to be short."""
    with pytest.raises(Exception) as caught:  # the exact type is asserted below
        function(*args, **kwargs)
    assert isinstance(caught.value, error), f"{type(caught.value).__name__}: {caught.value}"
    message = str(caught.value)
    assert len(message) <= MAX_MESSAGE, message[:200]
    return message


def forged(**body: Any) -> str:
    """An unsigned token with any payload a client cares to send."""
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"lpf1.{payload}."


def raw_token(payload: bytes) -> str:
    return "lpf1." + base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "."


class Weird:
    """An object whose repr is huge and whose str raises."""

    def __repr__(self) -> str:
        return HUGE

    def __str__(self) -> str:
        raise RuntimeError("no str")


BAD_FEEDBACK: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("rating", 10**400), {}),
    (("rating", -(10**400)), {}),
    (("rating", 3), {"scale": (10**400, 10**400 + 5)}),
    (("rating", 3), {"scale": (-(10**6), -(10**6) + 5)}),
    (("nps", 10**400), {}),
    (("thumbs", [1]), {}),
    (("thumbs", {"up": 1}), {}),
    (("thumbs", {1}), {}),
    (("thumbs", Weird()), {}),
    (("thumbs", HUGE), {}),
    ((HUGE, True), {}),
    (([1], True), {}),
    (("label", HUGE), {"labels": ["a", "b"]}),
    (("label", "a"), {"labels": 5}),
    (("label", "a"), {"labels": (label for label in ["a"])}),
    (("label", "a"), {"labels": ["a", HUGE]}),
    (("label", "a"), {"labels": ["a", 7]}),
    (("thumbs", True), {"span_context": "00f067aa0ba902b7"}),
    (("thumbs", True), {"span_context": 42}),
    (("thumbs", True), {"response_id": HUGE}),
    (("thumbs", True), {"response_id": 7}),
    (("thumbs", True), {"response": HUGE}),
    (("thumbs", True), {"token": HUGE}),
    (("thumbs", True), {"token": 7}),
    (("thumbs", True), {"name": HUGE}),
    (("thumbs", True), {"name": 7}),
    (("thumbs", True), {"comment": 7}),
    (("thumbs", True), {"comment": Weird()}),
    (("thumbs", True), {"user_id": 10**400}),
    (("thumbs", True), {"user_id": Weird()}),
    (("thumbs", True), {"user_id": HUGE}),
]


@pytest.mark.parametrize(("args", "kwargs"), BAD_FEEDBACK, ids=[f"feedback-{i}" for i in range(len(BAD_FEEDBACK))])
def test_bad_feedback_raises_feedback_error_with_a_short_message_and_records_nothing(
    instrument: Any, metric_reader: InMemoryMetricReader, log_exporter: Any, args: Any, kwargs: Any
) -> None:
    instrument()
    rejected(FeedbackError, record_feedback, *args, **kwargs)
    assert recorded(metric_reader, log_exporter) == 0


BAD_EVALUATIONS: list[dict[str, Any]] = [
    {"score": 10**400},
    {"score": -(10**400)},
    {"score": HUGE},
    {"score": Weird()},
    {"score": 0.5, "model": HUGE},
    {"score": 0.5, "model": 7},
    {"score": 0.5, "model": "line\nbreak"},
    {"score": 0.5, "provider": HUGE},
    {"score": 0.5, "provider": "bad provider!"},
    {"score": 0.5, "operation": HUGE},
    {"score": 0.5, "explanation": 7},
    {"score": 0.5, "span_context": "nope"},
    {"score": 0.5, "response_id": HUGE},
    {"score": 0.5, "token": HUGE},
    {"predicted": "a", "expected": "b", "classes": ["a", HUGE]},
    {"predicted": "a", "expected": "b", "classes": 5},
    {"predicted": [1], "expected": [2], "positive": "x"},
    {"predicted": HUGE, "expected": True},
]


@pytest.mark.parametrize("kwargs", BAD_EVALUATIONS, ids=[f"evaluation-{i}" for i in range(len(BAD_EVALUATIONS))])
def test_bad_evaluations_raise_feedback_error_and_record_nothing(
    instrument: Any, metric_reader: InMemoryMetricReader, log_exporter: Any, kwargs: Any
) -> None:
    instrument()
    rejected(FeedbackError, record_evaluation, "accuracy", **kwargs)
    assert recorded(metric_reader, log_exporter) == 0


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((HUGE, [(True, True)]), {}),
        (("acc", [(True, True)]), {"model": "m" * 20_000}),
        (("acc", [(True, True)]), {"model": 7}),
        (("acc", [(True, True)]), {"provider": "p" * 20_000}),
        (("acc", [(True, True)]), {"operation": "bad op!"}),
        (("acc", 5), {}),
        (("acc", [(True, True), (HUGE, True)]), {}),
        (("acc", [(True, True), Weird()]), {}),
        (("acc", [("a", "b")]), {"classes": ["a", "b", HUGE]}),
    ],
)
def test_bad_datasets_raise_feedback_error_and_record_nothing(
    instrument: Any, metric_reader: InMemoryMetricReader, log_exporter: Any, args: Any, kwargs: Any
) -> None:
    instrument()
    rejected(FeedbackError, evaluate_dataset, *args, **kwargs)
    assert recorded(metric_reader, log_exporter) == 0


@pytest.mark.parametrize("name", [HUGE, 7, None, "", "new\nline", Weird(), 10**400])
def test_bad_variant_names_raise_feedback_error_with_a_short_message(instrument: Any, name: Any) -> None:
    instrument()
    rejected(FeedbackError, variant, name)


def test_feedback_token_of_a_huge_response_id_is_rejected(instrument: Any) -> None:
    instrument()
    rejected(FeedbackError, feedback_token, HUGE)
    rejected(FeedbackError, feedback_token, 10**400)


FORGED_TOKENS: list[str] = [
    forged(p="openai", o="chat", i=10**300),
    forged(p="openai", o="chat", i=-(10**300)),
    forged(p="openai", o="chat", i=True),
    forged(p="openai", o="chat", i=1.5e308),
    forged(p="openai", o="chat", i="now"),
    forged(p={"nested": [1, 2]}, o="chat", i=1),
    forged(p="openai", o=["chat"], i=1),
    forged(p="openai", o="chat", i=1, m={"a": 1}),
    forged(p="openai", o="chat", i=1, m="m" * 300),
    forged(p="openai", o="chat", i=1, m="bell\x07"),
    forged(p="open\u200bai\n", o="chat", i=1),
    forged(p="openai", o="chat", i=1, v="<script>"),
    forged(p="openai", o="chat", i=1, v=7),
    forged(p="openai", o="chat", i=1, r=["id"]),
    forged(p="openai", o="chat", i=1, t="-" + "0" * 49),
    forged(p="openai", o="chat", i=1, t="z" * 50),
    forged(p="openai", o="chat", i=1, t=7),
    raw_token(b"[" * 1500),
    raw_token(b'{"p":' * 300),
    raw_token(b"\xff\xfe"),
    raw_token(b"null"),
    raw_token(b"[]"),
    "lpf1.!!!!.",
    "lpf1." + "A" * 3000 + ".",
]


@pytest.mark.parametrize("token", FORGED_TOKENS, ids=[f"token-{i}" for i in range(len(FORGED_TOKENS))])
def test_forged_unsigned_tokens_raise_invalid_feedback_token_and_record_nothing(
    instrument: Any, metric_reader: InMemoryMetricReader, log_exporter: Any, token: str
) -> None:
    instrument(feedback_token_ttl=0)
    rejected(InvalidFeedbackToken, record_feedback, "thumbs", True, token=token)
    rejected(InvalidFeedbackToken, record_evaluation, "acc", score=1.0, token=token)
    assert recorded(metric_reader, log_exporter) == 0


def test_a_huge_issue_time_is_rejected_even_with_a_ttl(instrument: Any) -> None:
    instrument()  # default ttl: the age computation met the huge int
    rejected(InvalidFeedbackToken, record_feedback, "thumbs", True, token=forged(p="openai", o="chat", i=10**300))


ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**310)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=400),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["thumbs", "rating", "nps", "label"]) | ANYTHING,
    value=ANYTHING,
    scale=ANYTHING,
    labels=ANYTHING,
    name=ANYTHING,
)
def test_record_feedback_only_ever_raises_feedback_error(
    instrument: Any, kind: Any, value: Any, scale: Any, labels: Any, name: Any
) -> None:
    instrument()
    kwargs: dict[str, Any] = {"response_id": "r"}
    if scale is not None:
        kwargs["scale"] = scale
    if labels is not None:
        kwargs["labels"] = labels
    if name is not None:
        kwargs["name"] = name
    try:
        record_feedback(kind, value, **kwargs)
    except FeedbackError as error:
        assert len(str(error)) <= MAX_MESSAGE
    finally:
        from otel_llmperf import uninstrument

        uninstrument()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["p", "o", "i", "m", "v", "r", "t", "x"]), ANYTHING, max_size=8))
def test_any_unsigned_payload_verifies_or_raises_invalid_feedback_token(instrument: Any, body: Any) -> None:
    instrument()
    try:
        recorded_feedback = record_feedback("thumbs", True, token=forged(**body))
    except InvalidFeedbackToken as error:
        assert len(str(error)) <= MAX_MESSAGE
    else:
        for text in (recorded_feedback.model, recorded_feedback.provider, recorded_feedback.operation):
            assert len(text) <= 256
    finally:
        from otel_llmperf import uninstrument

        uninstrument()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(score=ANYTHING, model=ANYTHING, name=ANYTHING)
def test_record_evaluation_only_ever_raises_feedback_error(instrument: Any, score: Any, model: Any, name: Any) -> None:
    instrument()
    try:
        record_evaluation(name, score=score, model=model, provider="openai")
    except FeedbackError as error:
        assert len(str(error)) <= MAX_MESSAGE
    finally:
        from otel_llmperf import uninstrument

        uninstrument()


@pytest.mark.parametrize(
    ("field", "value"),
    [("model", "m" * 300), ("provider", "p" * 300), ("operation", "o" * 300), ("variant", "v" * 65)],
)
def test_overlong_token_fields_are_rejected(instrument: Any, field: str, value: str) -> None:
    instrument()
    body = {"p": "openai", "o": "chat", "i": 1, field[0]: value}
    rejected(InvalidFeedbackToken, record_feedback, "thumbs", True, token=forged(**body))


def test_a_megabyte_unknown_response_id_never_reaches_the_event_or_the_log(
    instrument: Any, log_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    instrument()
    caplog.set_level(logging.DEBUG, logger="otel_llmperf")
    rejected(FeedbackError, record_feedback, "thumbs", True, response_id="r" * 1_000_000)
    # A long but plausible id is recorded with its gen_ai.response.id capped.
    record_feedback("thumbs", True, response_id="r" * 900)
    (event,) = events(log_exporter)
    assert len(str(event.attributes["gen_ai.response.id"])) <= 256
    assert len(caplog.text) < 10_000


def test_an_issued_token_for_an_unknown_long_id_stays_short(instrument: Any) -> None:
    instrument()
    token = feedback_token("r" * 900)
    assert len(token) < 2048
    assert record_feedback("thumbs", True, token=token).matched


def test_tokens_issued_here_for_any_record_verify_here(instrument: Any) -> None:
    instrument()
    token = issue(CallRecord("m" * 256, "openai", "chat", "b", None, "r" * 256), None)
    assert record_feedback("thumbs", True, token=token).model == "m" * 256


LIMIT_VALUES: list[Any] = ["lots", -1, 0, 10**400, 10**5000, 1.5, [1, 2], {"a": 1}, "1" * 5000, HUGE]


@pytest.mark.parametrize("value", LIMIT_VALUES, ids=[f"limit-{i}" for i in range(len(LIMIT_VALUES))])
def test_bad_limit_keywords_warn_and_fall_back_never_raise(instrument: Any, value: Any) -> None:
    from otel_llmperf import labels

    instrument(max_models=value, max_label_values=value, max_variants=value)
    assert (labels.REQUEST_MODELS.limit, labels.SERVER_ADDRESSES.limit, labels.VARIANTS.limit) == (100, 100, 16)
