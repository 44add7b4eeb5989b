# SPDX-License-Identifier: Apache-2.0
"""A realistic request mix for the demo, driven through the real (instrumented) openai SDK.

Arrivals are Poisson at the requested rate; each request picks an operation from a weighted
mix (streaming chat most of all), through the async client, with a share through the sync
client on worker threads, so both code paths are exercised. Errors come from the fake
server's configured fault rates, and are counted, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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


async def _chat_stream(client: Any, rng: random.Random) -> None:
    stream = await client.chat.completions.create(
        model=rng.choice(CHAT_MODELS), messages=[{"role": "user", "content": rng.choice(PROMPTS)}], stream=True
    )
    async for _chunk in stream:
        pass


async def _chat(client: Any, rng: random.Random) -> None:
    await client.chat.completions.create(
        model=rng.choice(CHAT_MODELS), messages=[{"role": "user", "content": rng.choice(PROMPTS)}], temperature=0.2
    )


async def _responses_stream(client: Any, rng: random.Random) -> None:
    stream = await client.responses.create(model=rng.choice(CHAT_MODELS), input=rng.choice(PROMPTS), stream=True)
    async for _event in stream:
        pass


async def _embeddings(client: Any, rng: random.Random) -> None:
    await client.embeddings.create(model=EMBEDDING_MODEL, input=[rng.choice(PROMPTS) for _ in range(rng.randint(1, 4))])


async def _sync_chat_stream(sync_client: Any, rng: random.Random) -> None:
    model = rng.choice(CHAT_MODELS)
    prompt = rng.choice(PROMPTS)

    def run() -> None:
        for _chunk in sync_client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], stream=True
        ):
            pass

    await asyncio.to_thread(run)


async def _sync_completion(sync_client: Any, rng: random.Random) -> None:
    prompt = rng.choice(PROMPTS)
    await asyncio.to_thread(lambda: sync_client.completions.create(model=INSTRUCT_MODEL, prompt=prompt, max_tokens=24))


Operation = Callable[[Any, Any, random.Random], Awaitable[None]]
MIX: tuple[tuple[float, Operation], ...] = (
    (0.40, lambda a, s, r: _chat_stream(a, r)),
    (0.15, lambda a, s, r: _chat(a, r)),
    (0.15, lambda a, s, r: _sync_chat_stream(s, r)),
    (0.10, lambda a, s, r: _responses_stream(a, r)),
    (0.12, lambda a, s, r: _embeddings(a, r)),
    (0.08, lambda a, s, r: _sync_completion(s, r)),
)


async def _one(operation: Operation, async_client: Any, sync_client: Any, rng: random.Random, tally: Tally) -> None:
    try:
        await operation(async_client, sync_client, rng)
    except Exception:
        tally.failed += 1  # injected faults: already recorded by the instrumentation


async def generate(
    async_client: Any, sync_client: Any, rps: float, stop: asyncio.Event, seed: int, max_in_flight: int = 64
) -> Tally:
    """Send requests at ``rps`` (Poisson arrivals) until ``stop`` is set; wait for those in flight."""
    rng = random.Random(seed)
    weights = [weight for weight, _ in MIX]
    operations = [operation for _, operation in MIX]
    tally = Tally()
    in_flight: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.expovariate(rps))
        if stop.is_set():
            break
        if len(in_flight) >= max_in_flight:
            continue  # the fake server is slower than the rate asked for; shed rather than pile up
        operation = rng.choices(operations, weights)[0]
        task = asyncio.create_task(_one(operation, async_client, sync_client, random.Random(rng.random()), tally))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        tally.sent += 1
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    return tally
