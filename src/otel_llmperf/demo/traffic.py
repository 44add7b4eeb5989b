# SPDX-License-Identifier: Apache-2.0
"""A realistic request mix for the demo, driven through the real (instrumented) openai SDK.

Arrivals are Poisson at the requested rate; each request picks an operation from a weighted
mix (streaming chat most of all), through the async client, with a share through the sync
client on worker threads, so both code paths are exercised. Every request runs in A/B
variant "a" or "b" (b asks for concise answers); simulated users then give feedback and
judges evaluate (:mod:`otel_llmperf.demo.users`). Errors come from the fake server's
configured fault rates, and are counted, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from otel_llmperf import variant
from otel_llmperf.demo import users
from otel_llmperf.demo.server import Behaviour, ServerConfig

CHAT_MODELS = ("gpt-4o-mini", "gpt-4.1", "o4-mini")
EMBEDDING_MODEL = "text-embedding-3-small"
INSTRUCT_MODEL = "gpt-3.5-turbo-instruct"
PROMPTS = (
    "Summarise the attached incident report in three bullet points.",
    "Write a polite reply declining the meeting.",
    "Translate 'where is the train station' into German.",
    "Explain the difference between p95 and average latency.",
    "Suggest a name for a latency dashboard.",
)


def demo_server_config(seed: int) -> ServerConfig:
    """Three chat models with distinct latency profiles and a few faults, plus embeddings."""
    return ServerConfig(
        seed=seed,
        default=Behaviour(ttft=0.05, token_delay=0.005, jitter=0.3, output_tokens=16),
        per_model={
            "gpt-4o-mini": Behaviour(
                ttft=0.18, token_delay=0.012, jitter=0.35, output_tokens=40, cached_tokens=8,
                error_rate_429=0.02, disconnect_rate=0.01, response_model="gpt-4o-mini-2024-07-18",
            ),
            "gpt-4.1": Behaviour(
                ttft=0.55, token_delay=0.03, jitter=0.4, output_tokens=60,
                error_rate_500=0.02, response_model="gpt-4.1-2025-04-14",
            ),
            "o4-mini": Behaviour(
                ttft=1.1, token_delay=0.01, jitter=0.3, output_tokens=30, reasoning_tokens=120,
                stream_error_rate=0.01, response_model="o4-mini-2025-04-16",
            ),
            EMBEDDING_MODEL: Behaviour(ttft=0.04, jitter=0.5, output_tokens=1),
            INSTRUCT_MODEL: Behaviour(ttft=0.1, token_delay=0.008, jitter=0.3, output_tokens=24),
        },
    )  # fmt: skip


@dataclass
class Tally:
    """What the generator sent and how it ended, for the final line."""

    sent: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Request:
    """One simulated request: model, prompt and per-variant server behaviour."""

    model: str
    prompt: str
    headers: dict[str, str]


VARIANTS = ("a", "b")
# Variant "b" is a "concise answers" prompt: fewer output tokens, so shorter calls.
_CONCISE = 0.6


def _request(rng: random.Random, model: str, variant: str, config: ServerConfig) -> Request:
    headers: dict[str, str] = {}
    if variant == "b":
        tokens = config.behaviour_for(model).output_tokens
        headers["x-fake-output-tokens"] = str(max(1, int(tokens * _CONCISE)))
    return Request(model, rng.choice(PROMPTS), headers)


def _messages(request: Request) -> list[dict[str, str]]:
    return [{"role": "user", "content": request.prompt}]


async def _chat_stream(client: Any, sync_client: Any, request: Request) -> Any:
    stream = await client.chat.completions.create(
        model=request.model, messages=_messages(request), stream=True, extra_headers=request.headers
    )
    async for _chunk in stream:
        pass
    return stream


async def _chat(client: Any, sync_client: Any, request: Request) -> Any:
    return await client.chat.completions.create(
        model=request.model, messages=_messages(request), temperature=0.2, extra_headers=request.headers
    )


async def _responses_stream(client: Any, sync_client: Any, request: Request) -> Any:
    stream = await client.responses.create(
        model=request.model, input=request.prompt, stream=True, extra_headers=request.headers
    )
    async for _event in stream:
        pass
    return stream


async def _sync_chat_stream(client: Any, sync_client: Any, request: Request) -> Any:
    def run() -> Any:
        stream = sync_client.chat.completions.create(
            model=request.model, messages=_messages(request), stream=True, extra_headers=request.headers
        )
        for _chunk in stream:
            pass
        return stream

    return await asyncio.to_thread(run)  # to_thread copies the context: the variant goes along


async def _embeddings(client: Any, sync_client: Any, request: Request) -> Any:
    return await client.embeddings.create(model=EMBEDDING_MODEL, input=[request.prompt, PROMPTS[0]])


async def _sync_completion(client: Any, sync_client: Any, request: Request) -> Any:
    return await asyncio.to_thread(
        lambda: sync_client.completions.create(model=INSTRUCT_MODEL, prompt=request.prompt, max_tokens=24)
    )


Operation = Callable[[Any, Any, Request], Awaitable[Any]]
# (weight, operation, whether it is a chat call users give feedback on)
MIX: tuple[tuple[float, Operation, bool], ...] = (
    (0.40, _chat_stream, True),
    (0.15, _chat, True),
    (0.15, _sync_chat_stream, True),
    (0.10, _responses_stream, True),
    (0.12, _embeddings, False),
    (0.08, _sync_completion, False),
)


@dataclass
class Traffic:
    """The clients and configuration every simulated request uses."""

    async_client: Any
    sync_client: Any
    config: ServerConfig
    tally: Tally


async def _one(traffic: Traffic, operation: Operation, chat: bool, rng: random.Random) -> None:
    name = rng.choice(VARIANTS)
    model = rng.choice(CHAT_MODELS)
    with variant(name):
        try:
            response = await operation(
                traffic.async_client, traffic.sync_client, _request(rng, model, name, traffic.config)
            )
        except Exception:
            traffic.tally.failed += 1  # injected faults: already recorded by the instrumentation
            return
        if chat:
            users.react(response, model, name, rng)


async def generate(
    async_client: Any,
    sync_client: Any,
    rps: float,
    stop: asyncio.Event,
    seed: int,
    config: ServerConfig | None = None,
    max_in_flight: int = 64,
    offline_every: float = 15.0,
) -> Tally:
    """Send requests at ``rps`` (Poisson arrivals) until ``stop`` is set; wait for those in flight."""
    rng = random.Random(seed)
    traffic = Traffic(async_client, sync_client, config or demo_server_config(seed), Tally())
    weights = [weight for weight, _, _ in MIX]
    in_flight: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    next_offline = loop.time()
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.expovariate(rps))
        if stop.is_set():
            break
        if loop.time() >= next_offline:
            users.judge_offline(CHAT_MODELS, random.Random(rng.random()))
            next_offline = loop.time() + offline_every
        if len(in_flight) >= max_in_flight:
            continue  # the fake server is slower than the rate asked for; shed rather than pile up
        _, operation, chat = rng.choices(MIX, weights)[0]
        task = asyncio.create_task(_one(traffic, operation, chat, random.Random(rng.random())))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        traffic.tally.sent += 1
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    return traffic.tally
