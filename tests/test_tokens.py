# SPDX-License-Identifier: Apache-2.0
"""Feedback tokens across processes: signed tokens verify; forged, altered and stale ones do not."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from helpers import counter_value, resolve
from otel_llmperf import InvalidFeedbackToken, feedback_token, record_feedback
from otel_llmperf.registry import REGISTRY
from otel_llmperf.tokens import PREFIX, issue

FEEDBACK = "llmperf.feedback"


async def signed_token(instrument: Any, client: Any, secret: str = "s3cret") -> tuple[str, Any]:
    instrument(feedback_secret=secret)
    response = await resolve(
        client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "x"}])
    )
    return feedback_token(response), response


def repack(token: str, **changes: Any) -> str:
    prefix, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    packed = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{prefix}.{packed}.{signature}"


async def test_a_signed_token_works_in_a_process_that_never_saw_the_call(instrument: Any, client: Any) -> None:
    token, _response = await signed_token(instrument, client)
    assert token.startswith(f"{PREFIX}.") and len(token) < 400
    REGISTRY.clear()  # stands in for another process: nothing remembered here
    recorded = record_feedback("thumbs", True, token=token)
    assert recorded.matched and (recorded.model, recorded.provider, recorded.operation) == ("gpt-4.1", "openai", "chat")
    assert recorded.trace_id is not None


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        (lambda t: repack(t, m="gpt-5-free-upgrade"), "signature does not match"),
        (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), "signature does not match"),
        (lambda t: t.rsplit(".", 1)[0] + ".", "not signed"),
        (lambda t: "lpf2" + t[4:], "not a feedback token"),
        (lambda t: t.replace(".", "", 1), "not a feedback token"),
        (lambda t: "", "must be a string"),
        (lambda t: "x" * 5000, "at most 2048"),
    ],
    ids=["altered-model", "altered-signature", "unsigned", "wrong-version", "malformed", "empty", "huge"],
)
async def test_forged_or_altered_tokens_are_rejected_and_record_nothing(
    instrument: Any, client: Any, metric_reader: Any, forge: Any, message: str
) -> None:
    token, _ = await signed_token(instrument, client)
    with pytest.raises(InvalidFeedbackToken, match=message):
        record_feedback("thumbs", True, token=forge(token))
    assert counter_value(metric_reader, FEEDBACK) == 0


async def test_a_token_signed_with_another_secret_is_rejected(instrument: Any, client: Any) -> None:
    token, _ = await signed_token(instrument, client, secret="their-secret")
    from otel_llmperf import uninstrument

    uninstrument()
    instrument(feedback_secret="our-secret")
    with pytest.raises(InvalidFeedbackToken, match="signed with another secret"):
        record_feedback("thumbs", True, token=token)


async def test_expired_tokens_are_rejected(instrument: Any) -> None:
    instrument(feedback_secret="s", feedback_token_ttl=60)
    from otel_llmperf.registry import CallRecord

    old = issue(CallRecord("m", "openai", "chat", None, None, "r1"), b"s", now=1_000_000)
    with pytest.raises(InvalidFeedbackToken, match="expired"):
        record_feedback("thumbs", True, token=old)


async def test_unsigned_tokens_are_accepted_without_a_secret_but_warned_and_capped(
    instrument: Any, metric_reader: Any, caplog: pytest.LogCaptureFixture
) -> None:
    instrument()
    from otel_llmperf.registry import CallRecord

    caplog.set_level(logging.WARNING, logger="otel_llmperf")
    for index in range(105):  # a client inventing model names
        token = issue(CallRecord(f"model-{index}", "openai", "chat", None, None, f"r{index}"), None)
        record_feedback("thumbs", True, token=token)
    models = {
        point.attributes["gen_ai.request.model"]
        for point in __import__("helpers").metrics(metric_reader)[FEEDBACK].data.data_points
    }
    assert len(models) == 101 and "_other" in models
    assert "unsigned feedback tokens" in caplog.text and "OTEL_PYTHON_LLMPERF_FEEDBACK_SECRET" in caplog.text


async def test_token_with_a_bad_variant_is_rejected(instrument: Any) -> None:
    instrument()
    from otel_llmperf.registry import CallRecord

    token = repack(issue(CallRecord("m", "openai", "chat", None, None, "r"), None), v="<script>")
    with pytest.raises(InvalidFeedbackToken, match="variant"):
        record_feedback("thumbs", True, token=token)


def test_feedback_token_needs_a_response() -> None:
    from otel_llmperf import FeedbackError

    with pytest.raises(FeedbackError, match="response must be"):
        feedback_token(None)
