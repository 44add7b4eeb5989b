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
