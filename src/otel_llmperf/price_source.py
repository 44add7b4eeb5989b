# SPDX-License-Identifier: Apache-2.0
"""Prices from pydantic's ``genai-prices`` data, turned into compact :class:`~otel_llmperf.pricing.Price` objects.

This is the only module that imports ``genai_prices``. That import costs about 230 ms (pydantic
models of the whole data set), so :mod:`otel_llmperf.pricing` imports this module only when a
:class:`~otel_llmperf.pricing.PriceTable` is warmed or first asked for a price, never at
``import otel_llmperf`` or ``instrument()``. Only the data bundled with the package is used:
genai-prices' ``UpdatePrices`` (which fetches from GitHub) is never called.

``calc_price`` costs about 94 µs a call (Decimal arithmetic, unit registry walks), so a model is
resolved once to the rates genai-prices would apply -- per token kind, per input-token tier --
and every call is priced with float arithmetic. ``tests/test_price_source.py`` checks that this
gives ``calc_price``'s answer for every model of the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib.metadata import version

from genai_prices import data_snapshot, types
from genai_prices.data import providers as bundled_providers

from otel_llmperf.price import Price, Rates, candidates

_PER_MILLION = 1e-6
_PER_THOUSAND = 1e-3

# gen_ai.provider.name (semconv values, and the names hosts.py gives OpenAI-compatible hosts)
# → genai-prices provider id. Bedrock, Vertex and Azure fall back to the model vendor's prices in
# genai-prices itself (Azure → OpenAI, Google → Anthropic) where the platform has none of its own.
PROVIDER_IDS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "mistral_ai": "mistral",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "x_ai": "x-ai",
    "perplexity": "perplexity",
    "moonshot_ai": "moonshotai",
    "openrouter": "openrouter",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cerebras": "cerebras",
}

# A trailing part that only names a version of a model: a date or release number of two or more
# digits, v1 / v1:0 / v3.0, latest, preview, exp. Tried only when the name as given is unknown.
_VERSION_TAIL = re.compile(r"[-@:](?:\d{2,}|v\d+(?:[.:]\d+)*|latest|preview|exp)$")


def names(model: str) -> list[str]:
    """The names a model is looked up by, the name as given first, then without path, prefixes, versions."""
    found = candidates(model)
    name = found[-1]
    for _ in range(3):  # mistral-small-2503 → mistral-small; gemini-x-preview-05-20 → gemini-x-preview
        stripped = _VERSION_TAIL.sub("", name)
        if stripped == name or not stripped:
            break
        name = stripped
        found.append(name)
    return list(dict.fromkeys(found))


def _rate(price: Decimal | types.TieredPrices | None, threshold: int) -> float | None:
    """USD per unit of ``price`` (per million) when the input is above ``threshold`` (-1: the base tier)."""
    if price is None:
        return None
    if isinstance(price, types.TieredPrices):
        applicable = price.base
        for tier in price.tiers:  # sorted by start
            if tier.start <= threshold:
                applicable = tier.price
        return float(applicable) * _PER_MILLION
    return float(price) * _PER_MILLION


def _rates(model_price: types.ModelPrice, threshold: int) -> Rates:
    def rate(key: str) -> float | None:
        return _rate(getattr(model_price, key, None), threshold)

    # An unpriced kind of token is billed as its parent kind: genai-prices splits usage into the
    # most specific priced unit, so cache reads without a price of their own are plain input.
    input_rate = rate("input_mtok") or 0.0
    output_rate = rate("output_mtok") or 0.0
    cache_write = rate("cache_write_mtok")
    cache_write = input_rate if cache_write is None else cache_write
    cache_read = rate("cache_read_mtok")
    cache_write_1h = rate("cache_write_1h_mtok")
    reasoning = rate("output_reasoning_mtok")
    return Rates(
        input=input_rate,
        output=output_rate,
        cache_read=input_rate if cache_read is None else cache_read,
        cache_write=cache_write,
        cache_write_1h=cache_write if cache_write_1h is None else cache_write_1h,
        reasoning=output_rate if reasoning is None else reasoning,
    )


def compact(model_price: types.ModelPrice, until: float = float("inf")) -> Price | None:
    """The :class:`Price` of a genai-prices ``ModelPrice``, or ``None`` when it prices no tokens."""
    if getattr(model_price, "input_mtok", None) is None and getattr(model_price, "output_mtok", None) is None:
        return None  # priced per request, second, page or character only: nothing we count
    starts: set[int] = set()
    for value in model_price.__dict__.values():
        if isinstance(value, types.TieredPrices):
            starts.update(tier.start for tier in value.tiers)
    tiers = tuple((start, _rates(model_price, start)) for start in sorted(starts, reverse=True))
    requests = getattr(model_price, "requests_kcount", None)
    per_call = float(requests) * _PER_THOUSAND if isinstance(requests, Decimal) else 0.0
    return Price(_rates(model_price, -1), tiers, per_call, until)


def _day_start(day: date) -> float:
    return datetime.combine(day, time(), UTC).timestamp()


def _next_time_of_day(moment: datetime, at: time) -> float:
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    today = datetime.combine(moment.date(), at).astimezone(UTC)
    return (today if today > moment else today + timedelta(days=1)).timestamp()


def next_change(model: types.ModelInfo, moment: datetime) -> float:
    """When (epoch seconds) the prices of ``model`` may next differ from those at ``moment``."""
    if isinstance(model.prices, types.ModelPrice):
        return float("inf")
    changes = [float("inf")]
    for conditional in model.prices:
        constraint = conditional.constraint
        if isinstance(constraint, types.StartDateConstraint) and constraint.start_date > moment.date():
            changes.append(_day_start(constraint.start_date))
        elif isinstance(constraint, types.TimeOfDateConstraint):
            changes.append(_next_time_of_day(moment, constraint.start_time))
            changes.append(_next_time_of_day(moment, constraint.end_time))
    return min(changes)


def price_at(model: types.ModelInfo, moment: datetime) -> Price | None:
    """The price of ``model`` at ``moment``, valid until its next scheduled change."""
    return compact(model.get_prices(moment), next_change(model, moment))


@dataclass(frozen=True)
class Source:
    """genai-prices' bundled data, loaded: resolves (provider name, model) to a :class:`Price`."""

    providers: list[types.Provider]
    version: str

    def provider(self, provider_name: str) -> types.Provider | None:
        """The genai-prices provider serving ``provider_name`` (a ``gen_ai.provider.name``), if any."""
        return data_snapshot.find_provider_by_id(self.providers, PROVIDER_IDS.get(provider_name, provider_name))

    def find(self, provider_name: str, model: str, now: datetime | None = None) -> Price | None:
        """The price of ``model`` served by ``provider_name`` now, or ``None`` when genai-prices has none."""
        provider = self.provider(provider_name)
        if provider is None:
            return None
        for name in names(model):
            found = provider.find_model(name, all_providers=self.providers)
            if found is not None:
                return price_at(found, now or datetime.now(UTC))
        return None

    def newest_price_date(self) -> date | None:
        """The newest start date of any price in the data: the best date it has (it records none of its own)."""
        return max(_start_dates(self.providers), default=None)


def _start_dates(providers: Iterable[types.Provider]) -> Iterable[date]:
    for provider in providers:
        for model in provider.models:
            constrained: list[types.ConditionalPrice | types.PriceVariant] = []
            if not isinstance(model.prices, types.ModelPrice):
                constrained.extend(model.prices)
            constrained.extend(model.price_variants or ())
            for item in constrained:
                if isinstance(item.constraint, types.StartDateConstraint):
                    yield item.constraint.start_date


def load() -> Source:
    """genai-prices' bundled data (never the auto-updated copy: nothing is fetched at run time)."""
    return Source(bundled_providers, version("genai-prices"))
