# SPDX-License-Identifier: Apache-2.0
"""The compact price of one model: rates per kind of token and tier, and the cost of a call.

Kept apart from :mod:`otel_llmperf.pricing` (the table) so that :mod:`otel_llmperf.price_source`
(genai-prices) can build prices without importing the table that loads it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_llmperf.providers.base import Usage

_PER_TOKEN = 1e-6  # prices in files and in genai-prices are per million tokens
_FOREVER = math.inf


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token of each kind of token, at one input-size tier."""

    input: float
    output: float
    cache_read: float
    cache_write: float  # written to the cache with the default (5-minute) lifetime
    cache_write_1h: float
    reasoning: float


@dataclass(frozen=True, slots=True)
class Price:
    """What one model costs: rates, higher rates above input-token thresholds, a fee per call.

    ``until`` is when (epoch seconds) a scheduled price change makes the price stale; the
    table looks the model up again then.
    """

    base: Rates
    tiers: tuple[tuple[int, Rates], ...] = ()  # (input-token threshold, rates above it), highest first
    per_call: float = 0.0
    until: float = _FOREVER

    @property
    def input(self) -> float:
        """USD per million plain input tokens at the base tier."""
        return self.base.input / _PER_TOKEN

    @property
    def output(self) -> float:
        """USD per million output tokens at the base tier."""
        return self.base.output / _PER_TOKEN

    def cost(self, usage: Usage) -> float | None:
        """The USD cost of ``usage``, or ``None`` when it has no token counts at all."""
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        input_tokens = usage.input_tokens or 0
        output_tokens = usage.output_tokens or 0
        rates = self.base
        for threshold, tier in self.tiers:
            if input_tokens > threshold:
                rates = tier
                break
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = usage.cache_creation_input_tokens or 0
        cache_write_1h = min(usage.cache_creation_1h_input_tokens or 0, cache_write)
        reasoning = min(usage.reasoning_output_tokens or 0, output_tokens)
        # gen_ai.usage.input_tokens includes cached tokens; only the rest is billed at the input
        # price. A provider reporting more cache than input is taken at its cache counts.
        uncached = max(input_tokens - cache_read - cache_write, 0)
        return (
            uncached * rates.input
            + cache_read * rates.cache_read
            + (cache_write - cache_write_1h) * rates.cache_write
            + cache_write_1h * rates.cache_write_1h
            + (output_tokens - reasoning) * rates.output
            + reasoning * rates.reasoning
            + self.per_call
        )


# Dotted prefixes that are a vendor or a region, never part of a model name: letters only.
_DOTTED_PREFIX = re.compile(r"^[a-z][a-z-]*\.")


def candidates(model: str) -> list[str]:
    """The names a model is looked up by, most specific first."""
    name = model.strip().lower()
    found = [name]
    if "/" in name:
        name = name.rsplit("/", 1)[1]
        found.append(name)
    for _ in range(3):  # us.anthropic.claude-... → anthropic.claude-... → claude-...
        stripped = _DOTTED_PREFIX.sub("", name, count=1)
        if stripped == name or not stripped:
            break
        name = stripped
        found.append(name)
    return found
