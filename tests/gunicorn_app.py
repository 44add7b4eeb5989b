# SPDX-License-Identifier: Apache-2.0
"""A WSGI app for the gunicorn tests: every worker instruments itself and calls the fake LLM server.

``/call`` makes one chat completion through the openai SDK and answers its token usage;
``/whoami`` answers the worker's pid and whether it serves the Prometheus port.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import openai

import otel_llmperf
from otel_llmperf import setup

MODEL = "gunicorn-model"
PRICES = {MODEL: {"input": 1.0, "output": 2.0}}

otel_llmperf.instrument(prices=PRICES)
client = openai.OpenAI(base_url=os.environ["LLMPERF_TEST_FAKE_URL"], api_key="k", max_retries=0)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The test app."""
    answer: dict[str, Any] = {"pid": os.getpid()}
    if environ.get("PATH_INFO") == "/call":
        response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert response.usage is not None
        answer.update(input=response.usage.prompt_tokens, output=response.usage.completion_tokens)
    endpoints = setup._global_setup._servers if setup._global_setup else []
    answer["serving"] = any(endpoint.serving for endpoint in endpoints)
    body = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
