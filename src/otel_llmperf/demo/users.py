# SPDX-License-Identifier: Apache-2.0
"""Simulated users and judges for the demo, so every feedback and evaluation series has data.

Satisfaction and accuracy differ by model and by variant (the caller says how much better), at rates
a product team would see: about one call in three gets feedback, one in four is judged.
Half the feedback comes back through a (signed) feedback token, as from a browser.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from otel_llmperf import evaluate_dataset, feedback_token, record_evaluation, record_feedback

SATISFACTION = {
    "gpt-4o-mini": 0.70,
    "gpt-4.1": 0.84,
    "o4-mini": 0.78,
    "claude-haiku-4-5": 0.80,
    "gemini-2.5-flash": 0.76,
    "us.amazon.nova-lite-v1:0": 0.66,
    "mistral-small-latest": 0.72,
    "command-r-plus-08-2024": 0.74,
}
ACCURACY = {
    "gpt-4o-mini": 0.80,
    "gpt-4.1": 0.91,
    "o4-mini": 0.88,
    "claude-haiku-4-5": 0.86,
    "gemini-2.5-flash": 0.84,
    "us.amazon.nova-lite-v1:0": 0.78,
    "mistral-small-latest": 0.81,
    "command-r-plus-08-2024": 0.83,
}
LABELS = ("helpful", "too_long", "wrong", "off_topic")
INTENTS = ("billing", "support", "sales")
FEEDBACK_RATE = 0.35
EVALUATION_RATE = 0.25
_KINDS = ("thumbs", "rating", "nps", "label")
_KIND_WEIGHTS = (0.5, 0.25, 0.1, 0.15)


def _value(kind: str, pleased: bool, rng: random.Random) -> Any:
    if kind == "thumbs":
        return pleased
    if kind == "rating":
        return rng.choice((4, 5, 5)) if pleased else rng.choice((1, 2, 3))
    if kind == "nps":
        return rng.choice((8, 9, 10, 10)) if pleased else rng.randint(0, 7)
    return "helpful" if pleased else rng.choice(LABELS[1:])


def react(
    response: Any,
    model: str,
    rng: random.Random,
    lift: float = 0.0,
    accuracy_drop: float = 0.0,
    feedback_rate: float | None = None,
) -> None:
    """Maybe leave feedback on a call, and maybe judge it; ``lift`` raises the chance users are pleased.

    ``accuracy_drop`` lowers the judges' accuracy (the demo's drift switch). ``feedback_rate`` is the
    share of calls that get feedback (``None``: :data:`FEEDBACK_RATE`); the random draws are the same
    whatever it is, so a seed gives the same traffic.
    """
    if rng.random() < (FEEDBACK_RATE if feedback_rate is None else feedback_rate):
        kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
        pleased = rng.random() < SATISFACTION.get(model, 0.75) + lift
        reference = {"token": feedback_token(response)} if rng.random() < 0.5 else {"response": response}
        record_feedback(kind, _value(kind, pleased, rng), labels=LABELS if kind == "label" else None, **reference)
    if rng.random() < EVALUATION_RATE:
        skill = ACCURACY.get(model, 0.85) + lift / 2 - accuracy_drop
        expected = rng.random() < 0.6
        predicted = expected if rng.random() < skill else not expected
        score = min(1.0, max(0.0, rng.gauss(skill, 0.08)))
        record_evaluation("groundedness", score=score, predicted=predicted, expected=expected, response=response)


def judge_offline(models: Mapping[str, str], rng: random.Random, samples: int = 30, accuracy_drop: float = 0.0) -> None:
    """An offline evaluation run: an intent classifier per model (to its provider), scored on a labelled set."""
    for model, provider in models.items():
        skill = ACCURACY.get(model, 0.85) - accuracy_drop
        pairs = []
        for _ in range(samples):
            expected = rng.choice(INTENTS)
            predicted = expected if rng.random() < skill else rng.choice([i for i in INTENTS if i != expected])
            pairs.append((predicted, expected))
        evaluate_dataset("intent_classifier", pairs, classes=INTENTS, model=model, provider=provider, operation="chat")
