# SPDX-License-Identifier: Apache-2.0
"""The OpenAI adapter's pure extractors, on real SDK model objects (no network, no telemetry)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai._base_client import URL  # httpx.URL or httpx2.URL, whichever this SDK uses
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from otel_llmperf.providers import hosts
from otel_llmperf.providers.base import ChunkKind
from otel_llmperf.providers.openai import (
    ADAPTER,
    CHAT_API,
    ChoicesFolder,
    ResponsesFolder,
    chat_input_messages,
    chat_request_attributes,
    chat_response_info,
    responses_response_info,
)

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_1",
    "service_tier": "default",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "length"},
    ],
    "usage": {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 2},
    },
}


def chunk(**fields: Any) -> ChatCompletionChunk:
    base = {"id": "c-1", "object": "chat.completion.chunk", "created": 1, "model": "m-1", "choices": []}
    return ChatCompletionChunk.model_validate({**base, **fields})


def test_openai_request_attributes_ignore_sdk_sentinels() -> None:
    attrs = chat_request_attributes(
        {"model": "m", "temperature": openai.omit, "top_p": openai.NOT_GIVEN, "max_tokens": None, "n": 1}
    )
    assert attrs == {"openai.api.type": "chat_completions"}


def test_openai_request_attributes_types() -> None:
    attrs = chat_request_attributes(
        {
            "temperature": 0,
            "max_completion_tokens": 100,
            "max_tokens": 5,
            "stop": "END",
            "n": 3,
            "seed": 0,
            "response_format": {"type": "json_object"},
            "service_tier": "flex",
            "frequency_penalty": True,  # a bool is not a number
        }
    )
    assert attrs["gen_ai.request.temperature"] == 0
    assert attrs["gen_ai.request.max_tokens"] == 100  # max_completion_tokens wins
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.request.choice.count"] == 3
    assert attrs["gen_ai.request.seed"] == 0
    assert attrs["gen_ai.output.type"] == "json"
    assert attrs["openai.request.service_tier"] == "flex"
    assert "gen_ai.request.frequency_penalty" not in attrs


def test_openai_chat_response_info() -> None:
    info = chat_response_info(ChatCompletion.model_validate(COMPLETION), capture=False)
    assert info.response_id == "chatcmpl-1" and info.response_model == "gpt-4o-2024-08-06"
    assert info.finish_reasons == ("stop", "length")
    assert info.usage is not None
    assert (info.usage.input_tokens, info.usage.output_tokens) == (11, 7)
    assert (info.usage.cache_read_input_tokens, info.usage.reasoning_output_tokens) == (3, 2)
    assert info.attributes == {"openai.response.system_fingerprint": "fp_1", "openai.response.service_tier": "default"}
    assert info.output_messages is None  # nothing kept without capture


def test_openai_chat_input_messages_shapes() -> None:
    messages = chat_input_messages(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "42"},
            ]
        }
    )
    assert messages == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "look"},
                {"type": "uri", "modality": "image", "uri": "data:(inline content elided)"},
            ],
        },
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "t1", "name": "f", "arguments": "{}"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "t1", "response": "42"}]},
    ]


def test_openai_chat_folder_kinds_and_result() -> None:
    folder = ChoicesFolder(capture=True)
    assert folder.fold(chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}])) is ChunkKind.OUTPUT
    assert folder.fold(chunk(choices=[{"index": 0, "delta": {"content": "Hel"}}])) is ChunkKind.OUTPUT
    assert (
        folder.fold(chunk(choices=[{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]))
        is ChunkKind.OUTPUT
    )
    usage = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
    assert folder.fold(chunk(usage=usage)) is ChunkKind.USAGE_ONLY
    # Azure sends a first chunk with no choices and no usage (content-filter results).
    assert folder.fold(chunk()) is ChunkKind.OTHER
    info = folder.result()
    assert info.response_id == "c-1" and info.finish_reasons == ("stop",)
    assert info.usage is not None and info.usage.output_tokens == 2
    assert info.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}
    ]


def test_openai_responses_folder_waits_for_deltas() -> None:
    folder = ResponsesFolder(capture=False)
    created = {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-4.1"}}
    assert folder.fold(created) is ChunkKind.OTHER
    assert folder.fold({"type": "response.output_text.delta", "delta": "x"}) is ChunkKind.OUTPUT
    assert folder.result().response_id == "resp_1"
    assert folder.fold({"type": "error", "code": "server_error"}) is ChunkKind.OTHER
    assert folder.result().error_type == "server_error"


def test_openai_responses_failed_status_is_an_error() -> None:
    response = Response.model_construct(
        id="resp_2", model="gpt-4.1", status="failed", error={"code": "rate_limit_exceeded", "message": "x"}, output=[]
    )
    info = responses_response_info(response, capture=False)
    assert info.error_type == "rate_limit_exceeded" and info.finish_reasons == ("error",)


def test_openai_stream_usage_only_when_the_caller_did_not_choose() -> None:
    assert ADAPTER.with_stream_usage({"stream": True}) == {"stream": True, "stream_options": {"include_usage": True}}
    assert ADAPTER.with_stream_usage({"stream": True, "stream_options": openai.omit}) is not None
    assert ADAPTER.with_stream_usage({"stream": True, "stream_options": None}) is None
    assert ADAPTER.with_stream_usage({"stream": True, "stream_options": {"include_obfuscation": False}}) is None


@pytest.mark.parametrize(
    ("url", "client_class", "expected"),
    [
        ("https://api.openai.com/v1", "OpenAI", ("api.openai.com", 443, "openai")),
        ("https://myres.openai.azure.com/openai", "AzureOpenAI", ("myres.openai.azure.com", 443, "azure.ai.openai")),
        ("https://gateway.corp.example/v1", "AzureOpenAI", ("gateway.corp.example", 443, "azure.ai.openai")),
        ("https://x.services.ai.azure.com/models", "OpenAI", ("x.services.ai.azure.com", 443, "azure.ai.inference")),
        ("https://api.groq.com/openai/v1", "OpenAI", ("api.groq.com", 443, "groq")),
        ("https://api.deepseek.com", "OpenAI", ("api.deepseek.com", 443, "deepseek")),
        ("https://api.mistral.ai/v1", "OpenAI", ("api.mistral.ai", 443, "mistral_ai")),
        ("https://api.x.ai/v1", "OpenAI", ("api.x.ai", 443, "x_ai")),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "OpenAI",
            ("generativelanguage.googleapis.com", 443, "gcp.gemini"),
        ),
        ("https://openrouter.ai/api/v1", "OpenAI", ("openrouter.ai", 443, "openrouter")),
        ("http://localhost:11434/v1", "OpenAI", ("localhost", 11434, "openai")),
        ("http://vllm.internal/v1", "OpenAI", ("vllm.internal", 80, "openai")),
    ],
)
def test_openai_server_and_provider_from_base_url(url: str, client_class: str, expected: tuple[Any, ...]) -> None:
    assert hosts.describe(URL(url), client_class) == expected


def test_openai_user_hosts_come_first() -> None:
    hosts.set_extra_hosts({"internal": "vllm", "api.openai.com": "proxy"})
    try:
        assert hosts.describe(URL("http://llm.internal:8000/v1"))[2] == "vllm"
        assert hosts.describe(URL("https://api.openai.com/v1"))[2] == "proxy"
    finally:
        hosts.set_extra_hosts({})
    assert hosts.describe(URL("https://api.openai.com/v1"))[2] == "openai"


def test_openai_result_kinds() -> None:
    from otel_llmperf.providers.base import ResultKind

    assert ADAPTER.result_kind(ChatCompletion.model_validate(COMPLETION)) is ResultKind.PARSED
    assert CHAT_API.stream_usage_option is True
