# SPDX-License-Identifier: Apache-2.0
"""The fake LLM server, exercised through the real openai SDK (sync and async) and raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import datetime
import enum
import http.client
import json
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import openai
import pydantic
import pytest

from fakeserver import FakeServerProcess, server_command, server_env, start_fake_server
from otel_llmperf.demo.server import Behaviour, FakeLLMServer, ServerConfig

DATED_MODEL = "gpt-4o-mini-2024-07-18"
MESSAGES: list[Any] = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "one two three four five"},
]
# 2 messages * 3 framing tokens + 2 + 5 words.
MESSAGES_TOKENS = 13


def fake(**settings: Any) -> dict[str, str]:
    """Per-request x-fake-* headers: fake(output_tokens=3) -> {"x-fake-output-tokens": "3"}."""
    return {"x-fake-" + name.replace("_", "-"): str(value) for name, value in settings.items()}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServerProcess]:
    config = {"models": {"gpt-4o-mini": {"response_model": DATED_MODEL}}}
    with start_fake_server(seed=1, config=config) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: FakeServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=10) as sdk:
        yield sdk


@pytest.fixture
async def aclient(server: FakeServerProcess) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=10)
    yield sdk
    await sdk.close()


def raw_request(
    server: FakeServerProcess, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    """One request over http.client, for what the SDK hides (framing, headers, malformed bodies)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(pydantic.BaseModel):
    city: str
    zip_code: int


class Person(pydantic.BaseModel):
    name: str
    age: int
    height: float
    active: bool
    tags: list[str]
    address: Address
    nickname: str | None
    colour: Colour
    kind: Literal["person"]
    born: datetime.datetime


# --------------------------------------------------------------------------------------------------------------
# Chat completions


def test_chat_non_stream_usage_choices_and_details(client: openai.OpenAI) -> None:
    headers = fake(output_tokens=5, cached_tokens=4, reasoning_tokens=2)
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=3, extra_headers=headers)

    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o"
    assert completion.system_fingerprint and completion.service_tier == "default"
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    for choice in completion.choices:
        assert choice.message.role == "assistant"
        assert choice.message.content == "tok1 tok2 tok3 tok4 tok5 "
        assert choice.finish_reason == "stop"
        assert choice.logprobs is None
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == MESSAGES_TOKENS
    assert usage.completion_tokens == 3 * (5 + 2)
    assert usage.total_tokens == MESSAGES_TOKENS + 21
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 4
    assert usage.completion_tokens_details is not None and usage.completion_tokens_details.reasoning_tokens == 6


def test_chat_response_model_profile_and_header(client: openai.OpenAI) -> None:
    dated = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert dated.model == DATED_MODEL
    renamed = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, extra_headers=fake(response_model="gpt-4o-2024-08-06")
    )
    assert renamed.model == "gpt-4o-2024-08-06"


def test_cached_tokens_are_capped_at_prompt_tokens(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], extra_headers=fake(cached_tokens=1000)
    )
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == completion.usage.prompt_tokens == 4


def test_chat_max_tokens_truncates_with_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, max_completion_tokens=3, extra_headers=fake(output_tokens=10)
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "tok1 tok2 tok3 "
    assert completion.usage is not None and completion.usage.completion_tokens == 3


@pytest.mark.parametrize("choices", [1, 2])
def test_chat_stream_without_usage(client: openai.OpenAI, choices: int) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, n=choices, extra_headers=fake(output_tokens=6)
    )
    chunks = list(stream)

    assert len(chunks) == choices * (6 + 1)
    assert all(chunk.object == "chat.completion.chunk" and chunk.model == DATED_MODEL for chunk in chunks)
    assert all(chunk.usage is None and len(chunk.choices) == 1 for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    for index in range(choices):
        mine = [chunk.choices[0] for chunk in chunks if chunk.choices[0].index == index]
        assert mine[0].delta.role == "assistant" and mine[0].delta.content == ""
        assert "".join(c.delta.content or "" for c in mine) == "tok1 tok2 tok3 tok4 tok5 tok6 "
        assert [c.finish_reason for c in mine] == [None] * 6 + ["stop"]


def test_chat_stream_with_usage_matches_streamed_tokens(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=fake(output_tokens=7, cached_tokens=2),
    )
    chunks = list(stream)

    assert len(chunks) == 1 + 7 + 1
    *content_chunks, usage_chunk = chunks
    assert all(chunk.usage is None for chunk in content_chunks)
    streamed_tokens = sum(1 for chunk in content_chunks if chunk.choices[0].delta.content)
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == streamed_tokens == 7
    assert usage_chunk.usage.prompt_tokens == MESSAGES_TOKENS
    assert usage_chunk.usage.total_tokens == MESSAGES_TOKENS + 7
    assert usage_chunk.usage.prompt_tokens_details is not None
    assert usage_chunk.usage.prompt_tokens_details.cached_tokens == 2


def test_chat_stream_raw_sse_framing(server: FakeServerProcess) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    request = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(request)}\r\nx-fake-output-tokens: 3\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + request)
        raw = b""
        for _ in range(1000):
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    header_block, _, rest = raw.partition(b"\r\n\r\n")
    header_lines = header_block.decode().lower().split("\r\n")
    assert header_lines[0].startswith("http/1.1 200")
    assert "content-type: text/event-stream" in header_lines
    assert "transfer-encoding: chunked" in header_lines
    assert any(line.startswith("x-request-id: req_") for line in header_lines)

    # Every HTTP chunk holds exactly one SSE event; the body ends with the zero-length chunk.
    events: list[bytes] = []
    for _ in range(100):
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n"
            break
        events.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]
    assert events[-1] == b"data: [DONE]\n\n"
    payloads = []
    for event in events[:-1]:
        assert event.startswith(b"data: {") and event.endswith(b"}\n\n") and event.count(b"\n") == 2
        payloads.append(json.loads(event[len(b"data: ") :]))
    assert len(payloads) == 1 + 3 + 1
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("usage" in p and p["usage"] is None for p in payloads[:-1])
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["completion_tokens"] == 3


def test_streams_keep_the_connection_alive(server: FakeServerProcess) -> None:
    before = server.stats()["connections_total"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for stream in (True, False, True):
            body = json.dumps({"model": "gpt-4o", "messages": MESSAGES, "stream": stream})
            conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            assert response.status == 200
            assert data.endswith(b"data: [DONE]\n\n") if stream else json.loads(data)["object"] == "chat.completion"
    finally:
        conn.close()
    # One connection for the three requests, plus the one that fetched these stats.
    assert server.stats()["connections_total"] - before == 2


def test_chat_parse_with_pydantic_model(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=Person)
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person)
    assert person.kind == "person" and isinstance(person.address, Address)
    assert completion.usage is not None and completion.usage.completion_tokens == 8


def test_chat_stream_helper_with_response_format(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=MESSAGES,
        response_format=Person,
        stream_options={"include_usage": True},
        extra_headers=fake(output_tokens=12),
    ) as stream:
        # The role chunk's empty content counts as a delta event too, as with the real API.
        deltas = [event for event in stream if event.type == "content.delta" and event.delta]
        final = stream.get_final_completion()
    assert len(deltas) == 12
    assert isinstance(final.choices[0].message.parsed, Person)
    assert final.usage is not None and final.usage.completion_tokens == 12


def test_chat_json_object_mode_streams_valid_json(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        response_format={"type": "json_object"},
        stream=True,
        extra_headers=fake(output_tokens=4),
    )
    chunks = list(stream)
    assert len(chunks) == 1 + 4
    assert isinstance(json.loads("".join(c.choices[0].delta.content or "" for c in chunks)), dict)


# --------------------------------------------------------------------------------------------------------------
# Responses API


def test_responses_non_stream(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gpt-4o-mini", input="say something nice", instructions="be kind", extra_headers=fake(output_tokens=3)
    )
    assert response.id.startswith("resp_")
    assert response.object == "response" and response.status == "completed"
    assert response.model == DATED_MODEL
    assert response.instructions == "be kind"
    assert response.output_text == "tok1 tok2 tok3 "
    assert response.usage is not None
    assert response.usage.input_tokens == 3 + 2
    assert response.usage.output_tokens == 3
    assert response.usage.total_tokens == 8
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0


def test_responses_stream_event_order_and_usage(client: openai.OpenAI) -> None:
    events = list(
        client.responses.create(
            model="gpt-4o",
            input=[{"role": "user", "content": "hello there"}],
            stream=True,
            extra_headers=fake(output_tokens=4, reasoning_tokens=3, cached_tokens=1),
        )
    )
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == deltas == "tok1 tok2 tok3 tok4 "
    usage = completed.response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (5, 4 + 3, 12)
    assert usage.output_tokens_details.reasoning_tokens == 3
    assert usage.input_tokens_details.cached_tokens == 1
    assert events[0].type == "response.created" and events[0].response.usage is None


def test_responses_raw_sse_has_typed_events_and_no_done(server: FakeServerProcess) -> None:
    response, body = raw_request(
        server, "POST", "/v1/responses", {"model": "gpt-4o", "input": "hi", "stream": True}, fake(output_tokens=2)
    )
    assert response.status == 200 and response.getheader("content-type") == "text/event-stream"
    frames = body.decode().split("\n\n")
    assert frames[-1] == ""
    for frame in frames[:-1]:
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        assert json.loads(data_line[len("data: ") :])["type"] == event_line[len("event: ") :]
    assert "[DONE]" not in body.decode()


def test_responses_stream_helper_and_parse(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o", input="hi", extra_headers=fake(output_tokens=2)) as stream:
        for _event in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == "tok1 tok2 "
    parsed = client.responses.parse(model="gpt-4o", input="hi", text_format=Person)
    assert isinstance(parsed.output_parsed, Person)


# --------------------------------------------------------------------------------------------------------------
# Embeddings, legacy completions, models


def test_embeddings_sdk_default_requests_base64(client: openai.OpenAI, server: FakeServerProcess) -> None:
    default = client.embeddings.create(model="text-embedding-3-small", input=["alpha beta", "gamma"])
    assert server.stats()["last_body"]["/v1/embeddings"]["encoding_format"] == "base64"
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=["alpha beta", "gamma"], encoding_format="float"
    )

    assert [item.index for item in default.data] == [0, 1]
    assert all(len(item.embedding) == 8 for item in default.data)
    # Both encodings carry the same float32 numbers; distinct inputs give distinct unit vectors.
    assert [item.embedding for item in default.data] == [item.embedding for item in floats.data]
    assert default.data[0].embedding != default.data[1].embedding
    assert abs(sum(value * value for value in default.data[0].embedding) - 1.0) < 1e-5
    assert default.usage.prompt_tokens == default.usage.total_tokens == 3
    assert default.model == "text-embedding-3-small"


def test_embeddings_dimensions_token_arrays_and_raw_base64(client: openai.OpenAI, server: FakeServerProcess) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], dimensions=16, encoding_format="float"
    )
    assert [len(item.embedding) for item in result.data] == [16, 16]
    assert result.usage.prompt_tokens == 5

    response, body = raw_request(
        server,
        "POST",
        "/v1/embeddings",
        {"model": "e", "input": "x", "dimensions": 4, "encoding_format": "base64"},
    )
    encoded = json.loads(body)["data"][0]["embedding"]
    assert response.status == 200 and isinstance(encoded, str)
    assert len(struct.unpack("<4f", base64.b64decode(encoded))) == 4


def test_legacy_completions_non_stream(client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="say hi please", extra_headers=fake(output_tokens=3)
    )
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    assert completion.choices[0].text == "tok1 tok2 tok3 "
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (3, 3)


@pytest.mark.parametrize("include_usage", [False, True])
def test_legacy_completions_stream(client: openai.OpenAI, include_usage: bool) -> None:
    stream = client.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt=["a b", "c"],
        stream=True,
        stream_options={"include_usage": include_usage},
        extra_headers=fake(output_tokens=4),
    )
    chunks = list(stream)
    text_chunks = [chunk for chunk in chunks if chunk.choices]
    assert "".join(chunk.choices[0].text for chunk in text_chunks) == "tok1 tok2 tok3 tok4 "
    assert text_chunks[-1].choices[0].finish_reason == "stop"
    if include_usage:
        assert len(chunks) == 5 and chunks[-1].usage is not None
        assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 4)
    else:
        assert len(chunks) == 4 and all(chunk.usage is None for chunk in chunks)


def test_models_list(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert "gpt-4o-mini" in ids and "text-embedding-3-small" in ids


# --------------------------------------------------------------------------------------------------------------
# Errors and faults


def test_injected_429_and_500_raise_status_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as rate_limited:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=fake(error=429))
    assert rate_limited.value.status_code == 429
    assert rate_limited.value.code == "rate_limit_exceeded"
    assert rate_limited.value.response.headers["retry-after"] == "0"
    assert rate_limited.value.response.headers["x-request-id"].startswith("req_")

    with pytest.raises(openai.InternalServerError) as failed:
        client.embeddings.create(model="e", input="x", extra_headers=fake(error=500))
    assert failed.value.status_code == 500 and failed.value.type == "server_error"


def test_error_body_shape(server: FakeServerProcess) -> None:
    response, body = raw_request(
        server, "POST", "/v1/chat/completions", {"model": "m", "messages": MESSAGES}, fake(error=429)
    )
    assert response.status == 429 and response.getheader("retry-after") == "0"
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] is None


@pytest.mark.parametrize("after", [0, 3])
def test_mid_stream_disconnect_raises_connection_error(client: openai.OpenAI, after: int) -> None:
    received = []
    with pytest.raises(openai.APIConnectionError):
        stream = client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=fake(error="disconnect", error_after=after)
        )
        for chunk in stream:
            received.append(chunk)
    assert len(received) == after


def test_non_stream_disconnect_raises_connection_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=fake(error="disconnect"))


def test_stream_error_raises_api_error(client: openai.OpenAI) -> None:
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=fake(error="stream-error", error_after=2)
        ):
            received.append(chunk)
    assert type(raised.value) is openai.APIError
    assert len(received) == 2
    assert "injected" in raised.value.message

    with pytest.raises(openai.APIError) as raised_responses:
        for _event in client.responses.create(
            model="gpt-4o", input="hi", stream=True, extra_headers=fake(error="stream-error", error_after=4)
        ):
            pass
    assert type(raised_responses.value) is openai.APIError


def test_stream_error_on_non_stream_request_is_500(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=fake(error="stream-error"))


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-fake-ttft", "abc"),
        ("x-fake-ttft", "-1"),
        ("x-fake-ttft", "nan"),
        ("x-fake-token-delay", "99"),
        ("x-fake-jitter", "1.5"),
        ("x-fake-output-tokens", "0"),
        ("x-fake-output-tokens", "2.5"),
        ("x-fake-cached-tokens", "-3"),
        ("x-fake-reasoning-tokens", "many"),
        ("x-fake-error", "teapot"),
        ("x-fake-error-after", "-1"),
    ],
)
def test_bad_fake_header_is_400_naming_the_header(client: openai.OpenAI, header: str, value: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers={header: value})
    assert header in raised.value.message
    assert raised.value.param == header


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v1/nope", {"model": "m"}, 404, "unknown_url"),
        ("GET", "/v1/chat/completions", None, 404, "unknown_url"),
        ("POST", "/v1/chat/completions", b"{not json", 400, "invalid_json"),
        ("POST", "/v1/chat/completions", b"[1, 2]", 400, "invalid_json"),
        ("POST", "/v1/chat/completions", {"messages": MESSAGES}, 400, "missing_required_parameter"),
        ("POST", "/v1/chat/completions", {"model": "m"}, 400, "invalid_value"),
        ("POST", "/v1/chat/completions", {"model": "m", "messages": MESSAGES, "n": 0}, 400, "invalid_value"),
        ("POST", "/v1/embeddings", {"model": "m", "input": "x", "dimensions": 0}, 400, "invalid_value"),
    ],
)
def test_bad_requests_get_openai_style_errors(
    server: FakeServerProcess, method: str, path: str, body: Any, status: int, code: str
) -> None:
    response, raw = raw_request(server, method, path, body)
    assert response.status == status
    assert json.loads(raw)["error"]["code"] == code
    assert response.getheader("x-request-id", "").startswith("req_")


def test_raw_response_headers(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.headers["x-request-id"].startswith("req_")
    assert int(raw.headers["openai-processing-ms"]) >= 0
    assert raw.parse().object == "chat.completion"


def test_healthz(server: FakeServerProcess) -> None:
    response, body = raw_request(server, "GET", "/healthz")
    assert (response.status, body) == (200, b"ok")


# --------------------------------------------------------------------------------------------------------------
# Timing


def test_ttft_and_token_delay_are_applied(client: openai.OpenAI) -> None:
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=fake(ttft=0.3, token_delay=0.02, output_tokens=5)
    )
    iterator = iter(stream)
    next(iterator)
    first_chunk = time.monotonic() - started
    rest = list(iterator)
    total = time.monotonic() - started
    assert len(rest) == 5
    assert 0.29 <= first_chunk < 5.0
    assert total >= 0.29 + 4 * 0.02

    started = time.monotonic()
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=fake(ttft=0.2))
    assert 0.19 <= time.monotonic() - started < 5.0


def test_jitter_stays_within_bounds(client: openai.OpenAI) -> None:
    for _ in range(3):
        started = time.monotonic()
        client.embeddings.create(model="e", input="x", extra_headers=fake(ttft=0.1, jitter=0.5))
        assert 0.049 <= time.monotonic() - started < 5.0


# --------------------------------------------------------------------------------------------------------------
# Stats


def test_stats_count_requests_and_keep_last_bodies(client: openai.OpenAI, server: FakeServerProcess) -> None:
    server.reset()
    client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ).close()
    client.embeddings.create(model="e", input="x")
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="e", input="x", extra_headers=fake(error=500))
    server.request("GET", "/healthz")

    stats = server.stats()
    assert stats["requests"] == {"/v1/chat/completions": 1, "/v1/embeddings": 2}
    assert stats["total_requests"] == 3
    assert stats["statuses"] == {"200": 2, "500": 1}
    assert stats["faults"] == {"500": 1}
    assert stats["last_body"]["/v1/chat/completions"]["stream_options"] == {"include_usage": True}
    assert stats["last_headers"]["/v1/chat/completions"]["authorization"] == "<redacted>"
    assert stats["last_headers"]["/v1/embeddings"]["x-fake-error"] == "500"

    server.reset()
    assert server.stats()["total_requests"] == 0


# --------------------------------------------------------------------------------------------------------------
# Async SDK


@pytest.mark.asyncio
async def test_async_chat_stream_and_usage(aclient: openai.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=2)
    assert completion.model == DATED_MODEL and len(completion.choices) == 2
    stream = await aclient.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=fake(output_tokens=3),
    )
    chunks = [chunk async for chunk in stream]
    assert len(chunks) == 1 + 3 + 1
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


@pytest.mark.asyncio
async def test_async_responses_embeddings_and_completions(aclient: openai.AsyncOpenAI) -> None:
    response = await aclient.responses.create(model="gpt-4o", input="hi", extra_headers=fake(output_tokens=2))
    assert response.output_text == "tok1 tok2 "
    stream = await aclient.responses.create(
        model="gpt-4o", input="hi", stream=True, extra_headers=fake(output_tokens=2)
    )
    types = [event.type async for event in stream]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    embeddings = await aclient.embeddings.create(model="e", input=["a", "b"])
    assert [len(item.embedding) for item in embeddings.data] == [8, 8]
    completion = await aclient.completions.create(model="i", prompt="x", extra_headers=fake(output_tokens=1))
    assert completion.choices[0].text == "tok1 "


@pytest.mark.asyncio
async def test_async_faults(aclient: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=fake(error=429))
    received = 0
    with pytest.raises(openai.APIConnectionError):
        stream = await aclient.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=fake(error="disconnect", error_after=2)
        )
        async for _chunk in stream:
            received += 1
    assert received == 2
    with pytest.raises(openai.APIError) as raised:
        stream = await aclient.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_headers=fake(error="stream-error")
        )
        async for _chunk in stream:
            pass
    assert type(raised.value) is openai.APIError


@pytest.mark.asyncio
async def test_many_concurrent_streams_all_complete() -> None:
    # A burst of new connections overflowed socketserver's default listen backlog of 5 (connection resets).
    config = ServerConfig(default=Behaviour(ttft=0.05, token_delay=0.005, output_tokens=10))
    with FakeLLMServer(config) as srv:
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k", max_retries=0, timeout=20) as sdk:

            async def one() -> int:
                stream = await sdk.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
                )
                return len([chunk async for chunk in stream])

            counts = await asyncio.gather(*(one() for _ in range(100)))
        assert counts == [1 + 10 + 1] * 100
        assert srv.stats.snapshot()["requests"] == {"/v1/chat/completions": 100}


# --------------------------------------------------------------------------------------------------------------
# In-process Python API


def test_in_process_server_rates_and_per_model_overrides() -> None:
    config = ServerConfig(
        default=Behaviour(error_rate_429=1.0),
        per_model={
            "ok": Behaviour(output_tokens=2),
            "flaky-stream": Behaviour(disconnect_rate=1.0, disconnect_after=3),
            "broken-stream": Behaviour(stream_error_rate=1.0, disconnect_after=1),
        },
    )
    with (
        FakeLLMServer(config) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0, timeout=10) as sdk,
    ):
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model="anything", messages=MESSAGES)
        ok = sdk.chat.completions.create(model="ok", messages=MESSAGES)
        assert ok.choices[0].message.content == "tok1 tok2 "
        # Disconnect/stream-error rates only affect streams.
        assert sdk.chat.completions.create(model="flaky-stream", messages=MESSAGES).choices
        received = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in sdk.chat.completions.create(model="flaky-stream", messages=MESSAGES, stream=True):
                received.append(chunk)
        assert len(received) == 3
        with pytest.raises(openai.APIError):
            for _chunk in sdk.chat.completions.create(model="broken-stream", messages=MESSAGES, stream=True):
                pass
        assert srv.stats.snapshot()["faults"] == {"429": 1, "disconnect": 1, "stream-error": 1}
        assert {model.id for model in sdk.models.list()} >= {"ok", "flaky-stream", "gpt-4o-mini"}


def test_client_closing_a_stream_early_ends_the_handler() -> None:
    with (
        FakeLLMServer(ServerConfig(default=Behaviour(output_tokens=5000, token_delay=0.005))) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0, timeout=10) as sdk,
    ):
        stream = sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        iterator = iter(stream)
        next(iterator)
        next(iterator)
        stream.close()
        # Without the broken-pipe handling the handler would keep writing for 25 s.
        deadline = time.monotonic() + 3.0
        while srv.stats.snapshot()["connections_open"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.stats.snapshot()["connections_open"] == 0


def test_in_process_server_stop_is_bounded_with_idle_keep_alive_connections() -> None:
    srv = FakeLLMServer().start()
    threads_before = threading.active_count()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"ok"
        started = time.monotonic()
        srv.stop()
        srv.stop()
        assert time.monotonic() - started < 3.0
    finally:
        conn.close()
    deadline = time.monotonic() + 3.0
    while threading.active_count() >= threads_before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() < threads_before
    with pytest.raises(RuntimeError):
        _ = srv.port


def test_server_refuses_non_loopback_hosts_and_bad_ports() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        FakeLLMServer(host="0.0.0.0")
    with pytest.raises(ValueError, match="port"):
        FakeLLMServer(port=70000)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="ttft"):
        Behaviour(ttft=-1)
    with pytest.raises(ValueError, match="output_tokens"):
        Behaviour(output_tokens=True)
    with pytest.raises(ValueError, match="bogus"):
        ServerConfig.from_dict({"default": {"bogus": 1}})
    with pytest.raises(ValueError, match=r"models\.m: error_rate_500"):
        ServerConfig.from_dict({"models": {"m": {"error_rate_500": 2}}})
    config = ServerConfig.from_dict({"seed": 3, "default": {"ttft": 0.5}, "models": {"m": {"output_tokens": 2}}})
    assert config.behaviour_for("m") == Behaviour(ttft=0.5, output_tokens=2)
    assert config.behaviour_for("other") == Behaviour(ttft=0.5)


# --------------------------------------------------------------------------------------------------------------
# Subprocess helper and command line


def test_subprocess_start_stop_leaves_no_process() -> None:
    with start_fake_server(output_tokens=3, seed=5) as proc:
        pid = proc.pid
        with openai.OpenAI(base_url=proc.base_url, api_key="k", max_retries=0, timeout=10) as sdk:
            completion = sdk.chat.completions.create(model="m", messages=MESSAGES)
        assert completion.choices[0].message.content == "tok1 tok2 tok3 "
    assert proc.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    proc.stop()


def test_subprocess_exits_when_its_stdin_closes() -> None:
    proc = start_fake_server()
    try:
        assert proc.process.stdin is not None
        proc.process.stdin.close()
        assert proc.process.wait(5) == 0
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--ttft", "-1"], "--ttft"),
        (["--jitter", "abc"], "--jitter"),
        (["--output-tokens", "1.5"], "--output-tokens"),
        (["--error-rate-429", "2"], "--error-rate-429"),
        (["--port", "99999"], "--port"),
        (["--config", "does-not-exist.json"], "--config"),
    ],
)
def test_cli_rejects_invalid_values_with_exit_2(args: list[str], option: str) -> None:
    result = subprocess.run(
        server_command(*args), env=server_env(), capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 2
    assert option in result.stderr
    assert result.stdout == ""
