# SPDX-License-Identifier: Apache-2.0
"""Consent per call and per user: through the real openai SDK on loopback, content capture on."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import make_client
from fakeserver import FakeServerProcess
from helpers import counter_value, drain, events, resolve, spans, total_count
from otel_llmperf import FeedbackError, consent, feedback_token, record_evaluation, record_feedback
from otel_llmperf.registry import REGISTRY

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You help alice@example.com"},
    {"role": "user", "content": "my private question"},
]
PERSONAL = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "user.hash")
DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"
CAPTURING = {"capture_content": True, "user_id_key": "pepper", "log_calls": True}


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(name="call_log")
def fixture_call_log() -> Iterator[Collect]:
    handler = Collect()
    logger = logging.getLogger("otel_llmperf.calls")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


async def chat(client: Any, stream: bool = False) -> Any:
    response = await resolve(client.chat.completions.create(model=MODEL, messages=MESSAGES, user="u-42", stream=stream))
    if stream:
        await drain(response)
    return response


def personal(span: Any) -> set[str]:
    return {key for key in PERSONAL if key in (span.attributes or {})}


def logged_content(call_log: Collect) -> list[bool]:
    return [
        "input_messages" in record.llmperf or "output_messages" in record.llmperf  # type: ignore[attr-defined]
        for record in call_log.records
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["response", "stream"])
async def test_without_consent_nothing_personal_is_exported_and_metrics_still_count(
    instrument: Any,
    client: Any,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    log_exporter: Any,
    call_log: Collect,
    stream: bool,
) -> None:
    instrument(**CAPTURING)
    with consent(False):
        refused = await chat(client, stream)
    granted = await chat(client, stream)  # the default: consent, as before consent existed
    first, second = spans(span_exporter)
    assert personal(first) == set()
    assert personal(second) == {"gen_ai.input.messages", "gen_ai.output.messages", "user.hash"}
    assert logged_content(call_log) == [False, True]
    # Streams report no usage unless asked (stream_usage): token counts come with full responses.
    assert total_count(metric_reader, DURATION) == 2 and total_count(metric_reader, TOKENS) == (0 if stream else 4)
    # Feedback arriving later, outside the block, still honours the call's refusal.
    token = feedback_token(refused)
    for reference in ({"response": refused}, {"token": token}):
        record_feedback("thumbs", False, comment="call me at 555", user_id="alice", **reference)
    record_evaluation("groundedness", score=0.5, explanation="quotes alice", response=refused)
    record_feedback("thumbs", True, comment="great", user_id="alice", response=granted)
    *withheld, allowed = events(log_exporter)
    for event in withheld:
        attributes = dict(event.attributes)
        assert "gen_ai.evaluation.explanation" not in attributes and "user.hash" not in attributes, attributes
    assert allowed.attributes["gen_ai.evaluation.explanation"] == "great" and len(allowed.attributes["user.hash"]) == 64
    assert counter_value(metric_reader, "llmperf.feedback") == 3


async def test_no_consent_travels_in_the_feedback_token_to_another_process(
    instrument: Any, client: Any, log_exporter: Any
) -> None:
    instrument(**CAPTURING)
    with consent(False):
        token = feedback_token(await chat(client))
    REGISTRY.clear()  # as in a process that never saw the call
    record_feedback("rating", 2, token=token, comment="slow", user_id="bob")
    (event,) = events(log_exporter)
    assert "gen_ai.evaluation.explanation" not in event.attributes and "user.hash" not in event.attributes


async def test_feedback_made_inside_a_refusal_drops_comment_and_hash(
    instrument: Any, client: Any, log_exporter: Any
) -> None:
    instrument(**CAPTURING)
    response = await chat(client)  # consented call
    with consent(False):
        record_feedback("thumbs", False, response=response, comment="private", user_id="alice")
    (event,) = events(log_exporter)
    assert "gen_ai.evaluation.explanation" not in event.attributes and "user.hash" not in event.attributes


async def test_opt_in_default_captures_only_inside_consent_true(
    monkeypatch: pytest.MonkeyPatch, instrument: Any, client: Any, span_exporter: InMemorySpanExporter
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT", "false")
    instrument(**CAPTURING)
    await chat(client)
    async with consent(True):
        await chat(client)
    assert [personal(span) for span in spans(span_exporter)] == [
        set(),
        {"gen_ai.input.messages", "gen_ai.output.messages", "user.hash"},
    ]


async def test_the_responses_api_exports_no_instructions_without_consent(
    instrument: Any, client: Any, span_exporter: InMemorySpanExporter
) -> None:
    instrument(**CAPTURING)
    for granted in (False, True):
        with consent(granted):
            await resolve(client.responses.create(model="gpt-4.1", input="Tell me", instructions="Be nice to alice"))
    refused, granted_span = spans(span_exporter)
    assert personal(refused) == set() and "alice" not in str(dict(refused.attributes or {}))
    assert "gen_ai.input.messages" in personal(granted_span) and "alice" in str(dict(granted_span.attributes or {}))


def test_the_consent_callable_is_asked_once_per_call_in_the_callers_thread(
    instrument: Any, fake_server: FakeServerProcess, span_exporter: InMemorySpanExporter
) -> None:
    opted_in = threading.local()
    asked: list[str] = []

    def user_opted_in() -> bool:
        asked.append(threading.current_thread().name)
        return bool(getattr(opted_in, "value", False))

    instrument(consent=user_opted_in, **CAPTURING)
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)

    def request(name: str, value: bool) -> None:
        opted_in.value = value
        client.chat.completions.create(model=MODEL, messages=MESSAGES, user=name)

    threads = [threading.Thread(target=request, args=(f"user-{i}", i % 2 == 0), name=f"t{i}") for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(asked) == ["t0", "t1", "t2", "t3"]
    captured = {
        str(span.attributes.get("user.hash") is not None): "gen_ai.input.messages" in span.attributes
        for span in spans(span_exporter)
    }
    assert captured == {"True": True, "False": False}
    with consent(True):  # an explicit decision wins, and the callable is not asked
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(asked) == 4 and "gen_ai.input.messages" in (spans(span_exporter)[-1].attributes or {})


@pytest.mark.parametrize(
    ("answer", "message"),
    [(RuntimeError("no request context"), "no request context"), ("yes", "it returned str, not a bool")],
    ids=["raises", "not-a-bool"],
)
async def test_a_broken_consent_callable_means_no_consent_and_warns_once(
    instrument: Any,
    client: Any,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
    answer: Any,
    message: str,
) -> None:
    def broken() -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    instrument(consent=broken, **CAPTURING)
    for _ in range(3):
        assert (await chat(client)).choices  # the call goes on
    assert [personal(span) for span in spans(span_exporter)] == [set()] * 3
    assert total_count(metric_reader, DURATION) == 3
    warnings = [record for record in caplog.records if "consent callable" in record.getMessage()]
    assert len(warnings) == 1 and message in caplog.text


def test_consent_follows_threads_and_executors_started_inside(
    instrument: Any, fake_server: FakeServerProcess, span_exporter: InMemorySpanExporter
) -> None:
    instrument(**CAPTURING)
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)

    def call() -> None:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

    with ThreadPoolExecutor(max_workers=2) as pool:  # workers started outside: take no decision of their own
        with consent(False):
            thread = threading.Thread(target=call)
            thread.start()
            thread.join(10)
            pool.submit(call).result(10)
        pool.submit(call).result(10)  # the same worker, outside the block: captured again
    captured = ["gen_ai.input.messages" in (span.attributes or {}) for span in spans(span_exporter)]
    assert captured == [False, False, True]


async def test_consent_follows_await_tasks_and_decorated_coroutines(
    instrument: Any, fake_server: FakeServerProcess, span_exporter: InMemorySpanExporter
) -> None:
    instrument(**CAPTURING)
    client = make_client("async", fake_server.base_url)

    async def call(tag: str) -> None:
        await asyncio.sleep(0)
        await client.chat.completions.create(model=MODEL, messages=MESSAGES, user=tag)

    @consent(False)
    async def refused(tag: str) -> None:
        await call(tag)

    async def granted(tag: str) -> None:
        async with consent(True):
            await call(tag)

    await asyncio.gather(refused("a"), granted("b"), refused("c"), granted("d"))
    assert sum("gen_ai.input.messages" in (span.attributes or {}) for span in spans(span_exporter)) == 2
    assert sum("user.hash" in (span.attributes or {}) for span in spans(span_exporter)) == 2


def test_consent_blocks_nest_and_restore() -> None:
    from otel_llmperf.consent_policy import explicit

    assert explicit() is None
    with consent(True):
        with consent(False):
            assert explicit() is False
        assert explicit() is True
    assert explicit() is None


@pytest.mark.parametrize("bad", ["no", 0, None])
def test_consent_takes_only_a_bool(bad: Any) -> None:
    with pytest.raises(FeedbackError, match="granted must be True or False"):
        consent(bad)


def test_bad_consent_settings_warn_naming_the_value(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_llmperf.config import load_settings

    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    assert load_settings({}, consent="always").consent is None
    assert load_settings({"OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT": "maybe"}).consent_default is True
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "consent=always is not a callable returning True/False; using none (the default decision applies)",
        "OTEL_PYTHON_LLMPERF_CONSENT_DEFAULT='maybe' is not a boolean (true/false); using true",
    ]
