# SPDX-License-Identifier: Apache-2.0
"""Captured content is size-capped and always valid JSON."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_llmperf.privacy import TRUNCATION_MARK, bounded_json

messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system"]),
            "parts": st.lists(st.fixed_dictionaries({"type": st.just("text"), "content": st.text()}), max_size=4),
        }
    ),
    max_size=6,
)


def test_short_values_are_unchanged() -> None:
    value = [{"role": "user", "parts": [{"type": "text", "content": 'héllo "quoted"\n'}]}]
    assert json.loads(bounded_json(value, 1000)) == value


def test_long_text_is_cut_and_marked() -> None:
    value = [{"role": "user", "parts": [{"type": "text", "content": "x" * 5000}]}]
    text = bounded_json(value, 400)
    assert len(text) <= 400
    content = json.loads(text)[0]["parts"][0]["content"]
    assert content.endswith(TRUNCATION_MARK) and content.startswith("xxx")


def test_the_longest_strings_are_cut_first() -> None:
    value = [
        {"role": "system", "parts": [{"type": "text", "content": "keep me"}]},
        {"role": "user", "parts": [{"type": "text", "content": "y" * 3000}]},
    ]
    parsed = json.loads(bounded_json(value, 500))
    assert parsed[0]["parts"][0]["content"] == "keep me"


@settings(max_examples=200, deadline=None)
@given(value=messages, limit=st.integers(min_value=256, max_value=4096))
def test_always_valid_json_within_the_limit(value: list[dict[str, object]], limit: int) -> None:
    text = bounded_json(value, limit)
    assert len(text) <= limit
    json.loads(text)


# --- redaction hooks and user identifiers (through the real SDK) ------------------------------

import logging  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from helpers import only_span, resolve  # noqa: E402
from otel_llmperf import basic_redactor  # noqa: E402

PROMPT = "I am jo@example.com, card 4111 1111 1111 1111, call +44 20 7946 0958 from 10.1.2.3"


def test_basic_redactor_masks_identifiers() -> None:
    assert basic_redactor(PROMPT) == "I am <email>, card <card>, call <phone> from <ip>"
    # A number that fails the Luhn check is not called a card (long digit runs are still masked).
    assert "<card>" not in basic_redactor("order 1234 5678 9012 3456")
    assert basic_redactor("no identifiers here, version 1.2") == "no identifiers here, version 1.2"


async def test_redaction_hook_by_keyword(instrument: Any, client: Any, span_exporter: Any) -> None:
    instrument(capture_content=True, redact=lambda text: text.replace("secret", "[x]"))
    await resolve(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "my secret"}]))
    inputs = json.loads(str(only_span(span_exporter).attributes["gen_ai.input.messages"]))
    assert inputs == [{"role": "user", "parts": [{"type": "text", "content": "my [x]"}]}]


async def test_redaction_hook_by_entry_point_name(
    monkeypatch: pytest.MonkeyPatch, instrument: Any, client: Any, span_exporter: Any
) -> None:
    monkeypatch.setenv("OTEL_PYTHON_LLMPERF_REDACTOR", "basic")
    instrument(capture_content=True)
    await resolve(client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT}]))
    exported = str(only_span(span_exporter).attributes["gen_ai.input.messages"])
    assert "jo@example.com" not in exported and "<email>" in exported and "<card>" in exported


async def test_a_failing_hook_drops_content_and_the_call_goes_on(
    instrument: Any, client: Any, span_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("redactor bug")

    caplog.set_level(logging.DEBUG, logger="otel_llmperf")  # repeats of a known error log at DEBUG
    instrument(capture_content=True, redact=broken)
    response = await resolve(client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT}]))
    assert response.choices
    attributes = only_span(span_exporter).attributes or {}
    assert "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes
    assert "redactor bug" in caplog.text


async def test_an_unknown_redactor_turns_capture_off(
    instrument: Any, client: Any, span_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    instrument(capture_content=True, redact="no-such-redactor")
    await resolve(client.chat.completions.create(model="m", messages=[{"role": "user", "content": PROMPT}]))
    assert "gen_ai.input.messages" not in (only_span(span_exporter).attributes or {})
    assert "not registered" in caplog.text and "basic" in caplog.text


async def test_sdk_user_identifiers_are_hashed_or_dropped(instrument: Any, client: Any, span_exporter: Any) -> None:
    instrument(user_id_key="pepper")
    await resolve(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], user="u-42"))
    hashed = only_span(span_exporter).attributes["user.hash"]
    assert isinstance(hashed, str) and len(hashed) == 64
    import otel_llmperf

    otel_llmperf.uninstrument()
    span_exporter.clear()
    instrument()
    await resolve(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], user="u-42"))
    attributes = dict(only_span(span_exporter).attributes or {})
    assert "user.hash" not in attributes and "u-42" not in json.dumps({k: str(v) for k, v in attributes.items()})
