# SPDX-License-Identifier: Apache-2.0
"""Structured call logs on ``otel_llmperf.calls`` and the JSON formatter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from helpers import drain, only_span, resolve
from otel_llmperf import JsonFormatter, variant


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(JsonFormatter())

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


async def test_one_structured_record_per_call(
    instrument: Any, client: Any, call_log: Collect, span_exporter: Any
) -> None:
    instrument(log_calls=True)
    with variant("b"):
        stream = await resolve(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "secret prompt"}], stream=True
            )
        )
        await drain(stream)
    (record,) = call_log.records
    fields = record.llmperf  # type: ignore[attr-defined]
    span = only_span(span_exporter)
    assert record.levelno == logging.INFO
    assert fields["model"] == "gpt-4o-mini" and fields["provider"] == "openai" and fields["operation"] == "chat"
    assert fields["variant"] == "b" and fields["stream"] is True and fields["error_type"] is None
    assert fields["duration_s"] > 0 and 0 < fields["time_to_first_chunk_s"] <= fields["duration_s"]
    assert fields["trace_id"] == f"{span.context.trace_id:032x}" and fields["span_id"] == f"{span.context.span_id:016x}"
    line = json.loads(call_log.format(record))
    assert line["logger"] == "otel_llmperf.calls" and line["model"] == "gpt-4o-mini" and "secret" not in str(line)


async def test_failed_calls_log_a_warning_with_the_error_type(instrument: Any, mode: str, call_log: Collect) -> None:
    from conftest import make_client

    instrument(log_calls=True)
    with pytest.raises(openai.APIConnectionError):
        await resolve(make_client(mode, "http://127.0.0.1:9/v1").embeddings.create(model="e", input="x"))
    (record,) = call_log.records
    assert record.levelno == logging.WARNING
    assert record.llmperf["error_type"] == "APIConnectionError"  # type: ignore[attr-defined]


async def test_content_in_call_logs_only_with_capture(instrument: Any, client: Any, call_log: Collect) -> None:
    instrument(log_calls=True, capture_content=True, redact="basic")
    await resolve(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "me@x.org hi"}]))
    fields = call_log.records[0].llmperf  # type: ignore[attr-defined]
    assert "<email> hi" in fields["input_messages"] and "output_messages" in fields


async def test_call_logs_are_off_by_default(instrument: Any, client: Any, call_log: Collect) -> None:
    instrument()
    await resolve(client.embeddings.create(model="e", input="x"))
    assert call_log.records == []


async def test_a_huge_model_name_is_cut_in_the_call_log(
    instrument: Any, client: Any, call_log: Collect, span_exporter: Any
) -> None:
    instrument(log_calls=True)
    huge = "m" * 100_000
    await resolve(client.chat.completions.create(model=huge, messages=[{"role": "user", "content": "hi"}]))
    (record,) = call_log.records
    fields = record.llmperf  # type: ignore[attr-defined]
    span = only_span(span_exporter)
    assert fields["model"] == huge[:256]
    assert span.attributes["gen_ai.response.model"] == fields["response_model"] == huge[:256]
    assert len(call_log.format(record)) < 2_000
