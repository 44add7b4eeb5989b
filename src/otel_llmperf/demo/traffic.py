# SPDX-License-Identifier: Apache-2.0
"""A realistic request mix for the demo, driven through the real (instrumented) SDKs of six providers.

Arrivals are Poisson at the requested rate; each request picks an operation from a weighted
mix (OpenAI streaming chat most of all; Anthropic, Gemini, Bedrock, Mistral and Cohere when
their SDKs are installed), mostly through async clients, with a share through sync clients on
worker threads, so both code paths are exercised. Every request comes from one of
:data:`USERS` simulated users, assigned to A/B variant "a" or "b" of the experiment
:data:`EXPERIMENT` (50/50, sticky per user; b asks for concise answers) with ``assign()``, so
exposures and declared weights reach the A/B dashboard and the report's sample-ratio check;
simulated users then give feedback and
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

from otel_llmperf import assign, declare_experiment
from otel_llmperf.demo import users
from otel_llmperf.demo.clients import Clients, bedrock_headers
from otel_llmperf.demo.drift import ACCURACY_DROP, DriftSchedule, drifted_config
from otel_llmperf.demo.server import Behaviour, ServerConfig

CHAT_MODELS = ("gpt-4o-mini", "gpt-4.1", "o4-mini")
EMBEDDING_MODEL = "text-embedding-3-small"
INSTRUCT_MODEL = "gpt-3.5-turbo-instruct"
ANTHROPIC_MODEL = "claude-haiku-4-5"
GEMINI_MODEL = "gemini-2.5-flash"
BEDROCK_MODEL = "us.amazon.nova-lite-v1:0"
MISTRAL_MODEL = "mistral-small-latest"
COHERE_MODEL = "command-r-plus-08-2024"
# gen_ai.provider.name of each chat model, for offline evaluations that name the model themselves.
MODEL_PROVIDERS = {
    **dict.fromkeys(CHAT_MODELS, "openai"),
    ANTHROPIC_MODEL: "anthropic",
    GEMINI_MODEL: "gcp.gemini",
    BEDROCK_MODEL: "aws.bedrock",
    MISTRAL_MODEL: "mistral_ai",
    COHERE_MODEL: "cohere",
}
PROMPTS = (
    "Summarise the attached incident report in three bullet points.",
    "Write a polite reply declining the meeting.",
    "Translate 'where is the train station' into German.",
    "Explain the difference between p95 and average latency.",
    "Suggest a name for a latency dashboard.",
)


def demo_server_config(seed: int) -> ServerConfig:
    """Chat models of six providers with distinct latency profiles and a few faults, plus embeddings."""
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
            ANTHROPIC_MODEL: Behaviour(
                ttft=0.35, token_delay=0.014, jitter=0.35, output_tokens=45, cached_tokens=12,
                error_rate_429=0.01, response_model="claude-haiku-4-5-20251001",
            ),
            GEMINI_MODEL: Behaviour(
                ttft=0.42, token_delay=0.006, jitter=0.3, output_tokens=50, reasoning_tokens=24,
                error_rate_500=0.01,
            ),
            BEDROCK_MODEL: Behaviour(ttft=0.28, token_delay=0.01, jitter=0.3, output_tokens=36, disconnect_rate=0.01),
            MISTRAL_MODEL: Behaviour(
                ttft=0.22, token_delay=0.009, jitter=0.3, output_tokens=32, response_model="mistral-small-2506",
            ),
            COHERE_MODEL: Behaviour(ttft=0.48, token_delay=0.016, jitter=0.3, output_tokens=38, error_rate_429=0.01),
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
EXPERIMENT = "demo-concise"
# Many more users than a demo sends requests: most come once, so exposures are independent draws
# and the sample-ratio check of the report and the alert rule holds at its nominal level.
USERS = 100_000
# Variant "b" is a "concise answers" prompt: fewer output tokens, so shorter calls.
_CONCISE = 0.6


@dataclass(frozen=True)
class Experiment:
    """How variant "b" differs from "a": ``concise`` (shorter answers, liked ``lift`` more) or ``identical``."""

    mode: str = "concise"
    lift: float = 0.07

    def satisfaction_lift(self, variant: str) -> float:
        """How much more often users of ``variant`` are pleased (and judges agree) than under "a"."""
        return self.lift if self.mode == "concise" and variant == "b" else 0.0


def _request(rng: random.Random, model: str, variant: str, config: ServerConfig, experiment: Experiment) -> Request:
    headers: dict[str, str] = {}
    if variant == "b" and experiment.mode == "concise":
        tokens = config.behaviour_for(model).output_tokens
        headers["x-fake-output-tokens"] = str(max(1, int(tokens * _CONCISE)))
    return Request(model, rng.choice(PROMPTS), headers)


def _messages(request: Request) -> list[dict[str, str]]:
    return [{"role": "user", "content": request.prompt}]


async def _chat_stream(clients: Clients, request: Request) -> Any:
    stream = await clients.openai.chat.completions.create(
        model=request.model, messages=_messages(request), stream=True, extra_headers=request.headers
    )
    async for _chunk in stream:
        pass
    return stream


async def _chat(clients: Clients, request: Request) -> Any:
    return await clients.openai.chat.completions.create(
        model=request.model, messages=_messages(request), temperature=0.2, extra_headers=request.headers
    )


async def _responses_stream(clients: Clients, request: Request) -> Any:
    stream = await clients.openai.responses.create(
        model=request.model, input=request.prompt, stream=True, extra_headers=request.headers
    )
    async for _event in stream:
        pass
    return stream


async def _sync_chat_stream(clients: Clients, request: Request) -> Any:
    def run() -> Any:
        stream = clients.openai_sync.chat.completions.create(
            model=request.model, messages=_messages(request), stream=True, extra_headers=request.headers
        )
        for _chunk in stream:
            pass
        return stream

    return await asyncio.to_thread(run)  # to_thread copies the context: the variant goes along


async def _embeddings(clients: Clients, request: Request) -> Any:
    return await clients.openai.embeddings.create(model=EMBEDDING_MODEL, input=[request.prompt, PROMPTS[0]])


async def _sync_completion(clients: Clients, request: Request) -> Any:
    return await asyncio.to_thread(
        lambda: clients.openai_sync.completions.create(model=INSTRUCT_MODEL, prompt=request.prompt, max_tokens=24)
    )


async def _anthropic_stream(clients: Clients, request: Request) -> Any:
    async with clients.anthropic.messages.stream(
        model=request.model, max_tokens=256, messages=_messages(request), extra_headers=request.headers
    ) as stream:
        async for _text in stream.text_stream:
            pass
        return await stream.get_final_message()


async def _anthropic(clients: Clients, request: Request) -> Any:
    return await clients.anthropic.messages.create(
        model=request.model, max_tokens=256, messages=_messages(request), extra_headers=request.headers
    )


def _gemini_config(request: Request) -> dict[str, Any]:
    return {"temperature": 0.4, "http_options": {"headers": request.headers}}


async def _gemini_stream(clients: Clients, request: Request) -> Any:
    stream = await clients.gemini.aio.models.generate_content_stream(
        model=request.model, contents=request.prompt, config=_gemini_config(request)
    )
    async for _chunk in stream:
        pass
    return stream


async def _sync_gemini(clients: Clients, request: Request) -> Any:
    return await asyncio.to_thread(
        lambda: clients.gemini.models.generate_content(
            model=request.model, contents=request.prompt, config=_gemini_config(request)
        )
    )


def _bedrock_call(clients: Clients, request: Request) -> Any:
    bedrock_headers.set(request.headers)  # boto3 takes no per-call headers; see clients._bedrock
    response = clients.bedrock.converse_stream(
        modelId=request.model,
        messages=[{"role": "user", "content": [{"text": request.prompt}]}],
        inferenceConfig={"maxTokens": 256, "temperature": 0.5},
    )
    stream = response["stream"]
    for _event in stream:
        pass
    return stream


async def _sync_bedrock_stream(clients: Clients, request: Request) -> Any:
    return await asyncio.to_thread(_bedrock_call, clients, request)


async def _mistral_stream(clients: Clients, request: Request) -> Any:
    stream = await clients.mistral.chat.stream_async(
        model=request.model, messages=_messages(request), http_headers=request.headers
    )
    async for _event in stream:
        pass
    return stream


async def _cohere_stream(clients: Clients, request: Request) -> Any:
    stream = clients.cohere.chat_stream(
        model=request.model, messages=_messages(request), request_options={"additional_headers": request.headers}
    )
    response_id = None
    async for event in stream:
        if event.type == "message-start":
            response_id = event.id  # chat_stream yields events from a plain generator: feedback needs the id
    return response_id


@dataclass(frozen=True)
class Operation:
    """One kind of request in the mix: how often, through which SDK, on which models."""

    weight: float
    run: Callable[[Clients, Request], Awaitable[Any]]
    sdk: str  # the Clients attribute it needs
    models: tuple[str, ...]
    chat: bool = True  # a chat call users give feedback on


MIX: tuple[Operation, ...] = (
    Operation(0.30, _chat_stream, "openai", CHAT_MODELS),
    Operation(0.10, _chat, "openai", CHAT_MODELS),
    Operation(0.10, _sync_chat_stream, "openai", CHAT_MODELS),
    Operation(0.07, _responses_stream, "openai", CHAT_MODELS),
    Operation(0.08, _embeddings, "openai", (EMBEDDING_MODEL,), chat=False),
    Operation(0.05, _sync_completion, "openai", (INSTRUCT_MODEL,), chat=False),
    Operation(0.05, _anthropic_stream, "anthropic", (ANTHROPIC_MODEL,)),
    Operation(0.03, _anthropic, "anthropic", (ANTHROPIC_MODEL,)),
    Operation(0.05, _gemini_stream, "gemini", (GEMINI_MODEL,)),
    Operation(0.02, _sync_gemini, "gemini", (GEMINI_MODEL,)),
    Operation(0.05, _sync_bedrock_stream, "bedrock", (BEDROCK_MODEL,)),
    Operation(0.05, _mistral_stream, "mistral", (MISTRAL_MODEL,)),
    Operation(0.05, _cohere_stream, "cohere", (COHERE_MODEL,)),
)


@dataclass
class Traffic:
    """The clients and configuration every simulated request uses."""

    clients: Clients
    config: ServerConfig
    tally: Tally
    experiment: Experiment
    accuracy_drop: float = 0.0
    feedback_rate: float | None = None  # None: users.FEEDBACK_RATE


async def _one(traffic: Traffic, operation: Operation, rng: random.Random) -> None:
    user = f"user-{rng.randrange(USERS)}"
    model = rng.choice(operation.models)
    with assign(EXPERIMENT, user) as name:
        try:
            request = _request(rng, model, name, traffic.config, traffic.experiment)
            response = await operation.run(traffic.clients, request)
        except Exception:
            traffic.tally.failed += 1  # injected faults: already recorded by the instrumentation
            return
        if operation.chat:
            lift = traffic.experiment.satisfaction_lift(name)
            users.react(response, model, rng, lift, traffic.accuracy_drop, traffic.feedback_rate)


async def generate(
    clients: Clients,
    rps: float,
    stop: asyncio.Event,
    seed: int,
    config: ServerConfig | None = None,
    max_in_flight: int = 64,
    offline_every: float = 15.0,
    experiment: Experiment | None = None,
    drift: DriftSchedule | None = None,
    feedback_rate: float | None = None,
) -> Tally:
    """Send requests at ``rps`` (Poisson arrivals) until ``stop`` is set; wait for those in flight.

    With ``drift``, the models change ``drift.after`` seconds in (see :mod:`otel_llmperf.demo.drift`).
    """
    rng = random.Random(seed)
    declare_experiment(EXPERIMENT, dict.fromkeys(VARIANTS, 50), salt=str(seed))
    traffic = Traffic(
        clients, config or demo_server_config(seed), Tally(), experiment or Experiment(), 0.0, feedback_rate
    )
    mix = [operation for operation in MIX if clients.available(operation.sdk)]
    weights = [operation.weight for operation in mix]
    judged = {model: MODEL_PROVIDERS[model] for operation in mix if operation.chat for model in operation.models}
    in_flight: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    next_offline = loop.time()
    drift_at = None if drift is None else loop.time() + drift.after
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.expovariate(rps))
        if stop.is_set():
            break
        if drift is not None and drift_at is not None and loop.time() >= drift_at:
            # The client side follows too: variant b's shorter answers are cut from the new lengths.
            traffic.config = drifted_config(traffic.config)
            traffic.accuracy_drop = ACCURACY_DROP
            drift.apply(traffic.config)
            drift_at = None
        if loop.time() >= next_offline:
            users.judge_offline(judged, random.Random(rng.random()), accuracy_drop=traffic.accuracy_drop)
            next_offline = loop.time() + offline_every
        if len(in_flight) >= max_in_flight:
            continue  # the fake server is slower than the rate asked for; shed rather than pile up
        operation = rng.choices(mix, weights)[0]
        task = asyncio.create_task(_one(traffic, operation, random.Random(rng.random())))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        traffic.tally.sent += 1
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    return traffic.tally
