# SPDX-License-Identifier: Apache-2.0
"""The pieces the provider adapters share: the Adapter base and the chat-shape extractors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from otel_llmperf.providers import anthropic, bedrock, cohere, google_genai, hosts, mistral, openai
from otel_llmperf.providers._chat import input_messages, request_attributes, tool_call_parts
from otel_llmperf.providers.base import Adapter, ResultKind

ADAPTERS = [module.ADAPTER for module in (openai, anthropic, google_genai, bedrock, mistral, cohere)]


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda adapter: adapter.name)
def test_every_adapter_is_the_shared_shape(adapter: Adapter) -> None:
    assert isinstance(adapter, Adapter)
    assert adapter.patch_targets() and adapter.patch_targets() is type(adapter).targets
    assert adapter.nested_stream({}) is None or adapter is bedrock.ADAPTER


def test_the_stream_flag_comes_from_the_api_or_the_request() -> None:
    chat = mistral.ADAPTER.request_info(mistral.CHAT_API, object(), {"model": "m", "stream": True})
    stream = mistral.ADAPTER.request_info(mistral.CHAT_STREAM_API, object(), {"model": "m"})
    assert (chat.stream, stream.stream, chat.request_model) == (False, True, "m")
    asked = bedrock.ADAPTER.request_info(bedrock.CONVERSE_API, object(), {"modelId": "nova", "stream": True})
    assert (asked.stream, asked.request_model, asked.provider) == (True, "nova", "aws.bedrock")
    assert bedrock.ADAPTER.request_info(bedrock.CONVERSE_API, object(), {"modelId": 3}).request_model is None


def test_iterators_are_streams_by_default() -> None:
    async def agen() -> Any:
        yield 1

    gen = agen()
    assert google_genai.ADAPTER.result_kind(iter([1])) is ResultKind.STREAM
    assert google_genai.ADAPTER.result_kind(gen) is ResultKind.ASYNC_STREAM
    assert google_genai.ADAPTER.result_kind({"a": 1}) is ResultKind.PARSED


def test_request_attributes_read_each_sdks_names() -> None:
    kwargs = {"temperature": 0.5, "p": 0.9, "k": 40, "random_seed": 0, "n": 2, "stop_sequences": ["x"]}
    cohere_like = request_attributes(kwargs, {}, top_p="p", top_k="k", choices=None, stop="stop_sequences")
    assert cohere_like == {
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.stop_sequences": ("x",),
    }
    mistral_like = request_attributes(kwargs, {}, seed="random_seed", top_k="k")
    assert mistral_like["gen_ai.request.seed"] == 0 and mistral_like["gen_ai.request.choice.count"] == 2
    assert "gen_ai.request.top_p" not in mistral_like


def test_tool_calls_read_with_the_adapters_reader() -> None:
    message = {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}]}
    assert tool_call_parts(message) == [{"type": "tool_call", "id": "c1", "name": "f", "arguments": "{}"}]
    assert tool_call_parts(message, lambda obj, name: None) == []


def test_a_generator_of_messages_is_not_consumed() -> None:
    def messages() -> Iterator[dict[str, str]]:
        yield {"role": "user", "content": "hi"}

    given = messages()
    # The SDK reads the caller's iterator after us: capturing content must leave it whole.
    assert openai.chat_input_messages({"messages": given}) is None
    assert list(given) == [{"role": "user", "content": "hi"}]
    assert input_messages((m for m in ()), lambda role, message: []) is None


def test_cohere_hosts_added_later_name_the_provider() -> None:
    url = "https://llm.example.net/cohere"
    assert cohere.server_of(url) == ("llm.example.net", 443, "cohere")
    hosts.set_extra_hosts({"example.net": "acme"})
    try:
        assert cohere.server_of(url) == ("llm.example.net", 443, "acme")
    finally:
        hosts.set_extra_hosts({})


def test_server_of_is_one_function() -> None:
    assert hosts.server_of("HTTPS://API.Example.COM") == ("api.example.com", 443)
    assert hosts.server_of("http://[::1]:8080/x") == ("::1", 8080)
    assert hosts.server_of("not a url") == (None, None)
    assert mistral.server_of is hosts.server_of
