# SPDX-License-Identifier: Apache-2.0
"""Prices from genai-prices: the same answer as its calc_price, loaded lazily, never raising."""

from __future__ import annotations

import logging
import math
import re
import subprocess
import sys
import threading
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import genai_prices
import pytest
from genai_prices import types
from genai_prices.data import providers as bundled

from fakeserver import server_env
from otel_llmperf import price_source
from otel_llmperf.pricing import Price, PriceTable, load_prices
from otel_llmperf.providers.base import Usage

# (input, output, cache read, cache write, of which 1-hour writes, reasoning): plain, cached,
# written, tiered (above 200k and 1M input tokens), output only, and just above a 128k tier.
USAGES = [
    (1000, 200, 0, 0, 0, 0),
    (5000, 800, 3000, 0, 0, 300),
    (10_000, 100, 2000, 4000, 1500, 0),
    (300_000, 5000, 100_000, 50_000, 20_000, 1000),
    (1_200_000, 10, 0, 0, 0, 0),
    (0, 50, 0, 0, 0, 0),
    (130_000, 1, 0, 0, 0, 0),
]
MOMENT = datetime(2026, 12, 5, 12, tzinfo=UTC)


def theirs(model: types.ModelInfo, provider: types.Provider, usage: tuple[int, ...], moment: datetime) -> float:
    i, o, cr, cw, h, r = usage
    counts = genai_prices.Usage(
        input_tokens=i,
        output_tokens=o,
        cache_read_tokens=cr,
        cache_write_tokens=cw,
        cache_write_1h_tokens=h,
        output_reasoning_tokens=r,
    )
    with warnings.catch_warnings():  # a few models have prices genai-prices itself warns about
        warnings.simplefilter("ignore")
        return float(model.calc_price(counts, provider, genai_request_timestamp=moment).total_price)


def ours(price: Price, usage: tuple[int, ...]) -> float | None:
    i, o, cr, cw, h, r = usage
    return price.cost(Usage(i, o, cr, cw, r, h))


def test_every_model_costs_what_calc_price_says() -> None:
    """Every model of the data, at prices of three dates, for each usage: our floats equal its Decimals."""
    compared = tiered = cached = written_1h = per_call = conditional = 0
    for provider in bundled:
        for model in provider.models:
            dated = not isinstance(model.prices, types.ModelPrice)
            conditional += dated
            # Dated prices are checked before, at and after their changes; the rest once.
            moments = (MOMENT - timedelta(days=200), MOMENT, MOMENT + timedelta(days=200)) if dated else (MOMENT,)
            for moment in moments:
                price = price_source.price_at(model, moment)
                if price is None:  # priced per request, second or page only
                    assert theirs(model, provider, USAGES[0], moment) == theirs(model, provider, USAGES[1], moment)
                    continue
                tiered += bool(price.tiers)
                cached += price.base.cache_read != price.base.input
                written_1h += price.base.cache_write_1h != price.base.cache_write
                per_call += price.per_call > 0
                for usage in USAGES:
                    expected = theirs(model, provider, usage, moment)
                    assert ours(price, usage) == pytest.approx(expected, rel=1e-9, abs=1e-12), (
                        provider.id,
                        model.id,
                        usage,
                    )
                    compared += 1
    assert compared > 10_000 and tiered > 50 and cached > 500 and written_1h > 20 and per_call >= 1
    assert conditional > 100


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_ref"),
    [
        ("openai", "gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini-2024-07-18"),
        ("openai", "o3", "openai", "o3"),
        ("azure.ai.openai", "gpt-4o", "azure", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929"),
        (
            "aws.bedrock",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "aws.bedrock",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        ("aws.bedrock", "us.amazon.nova-pro-v1:0", "aws", "us.amazon.nova-pro-v1:0"),
        ("gcp.vertex_ai", "claude-sonnet-4-5@20250929", "google", "claude-sonnet-4-5@20250929"),
        ("gcp.gemini", "models/gemini-2.5-pro", "google", "gemini-2.5-pro"),
        ("gcp.vertex_ai", "gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("mistral_ai", "mistral-large-latest", "mistral", "mistral-large-latest"),
        ("cohere", "command-a-03-2025", "cohere", "command-a-03-2025"),
        ("groq", "llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile"),
    ],
)
def test_our_provider_names_get_calc_prices_answer(provider: str, model: str, provider_id: str, model_ref: str) -> None:
    """gen_ai.provider.name values map to genai-prices' providers; path, region and version forms resolve."""
    table = load_prices(None, None)
    price = table.find(provider, model)
    assert price is not None
    for i, o, cr, cw, h, r in USAGES:
        counts = genai_prices.Usage(
            input_tokens=i,
            output_tokens=o,
            cache_read_tokens=cr,
            cache_write_tokens=cw,
            cache_write_1h_tokens=h,
            output_reasoning_tokens=r,
        )
        expected = genai_prices.calc_price(counts, model_ref, provider_id=provider_id).total_price
        assert ours(price, (i, o, cr, cw, h, r)) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


def test_names_tried_are_the_given_one_then_without_path_prefixes_and_versions() -> None:
    assert price_source.names("models/Gemini-2.5-Pro") == ["models/gemini-2.5-pro", "gemini-2.5-pro"]
    assert price_source.names("mistral-small-2503") == ["mistral-small-2503", "mistral-small"]
    assert price_source.names("gemini-x-preview-05-20") == [
        "gemini-x-preview-05-20",
        "gemini-x-preview-05",
        "gemini-x-preview",
        "gemini-x",
    ]
    assert price_source.names("gpt-4o-mini") == ["gpt-4o-mini"]  # not a version
    assert price_source.names("llama-3") == ["llama-3"]  # one digit is a generation, not a version


def test_the_fallback_table_prices_only_models_genai_prices_lacks(tmp_path: Any) -> None:
    table = load_prices(None, None)
    # Cohere's v3 embeddings and Bedrock's Cohere models are not in genai-prices 0.2.5.
    embed = table.find("cohere", "embed-english-v3.0")
    assert embed is not None and embed.input == pytest.approx(0.1)
    bedrock = table.find("aws.bedrock", "cohere.command-r-plus-v1:0")
    assert bedrock is not None and bedrock.output == pytest.approx(15.0)
    # Where genai-prices has a price, it is used (calc_price's, not the fallback's).
    gpt = table.find("openai", "gpt-4o")
    expected = genai_prices.calc_price(genai_prices.Usage(input_tokens=10**6), "gpt-4o", provider_id="openai")
    assert gpt is not None and gpt.cost(Usage(10**6, 0)) == pytest.approx(float(expected.total_price))
    # replace: true leaves only the user's prices.
    assert load_prices({"replace": True, "prices": {}}, None).find("cohere", "embed-english-v3.0") is None


def test_unknown_models_and_providers_have_no_price(caplog: pytest.LogCaptureFixture) -> None:
    table = load_prices(None, None)
    assert table.find("openai", "my-finetune") is None
    assert table.find("ibm.watsonx.ai", "gpt-4o") is None  # a provider genai-prices does not know
    assert table.find("cohere", "gpt-4o") is None  # another vendor's model
    with caplog.at_level(logging.WARNING, logger="otel_llmperf"):
        assert table.cost("openai", ("my-finetune",), Usage(1, 1)) is None
        assert table.cost("openai", ("my-finetune",), Usage(1, 1)) is None
    assert len([r for r in caplog.records if "my-finetune" in r.getMessage()]) == 1


def _scheduled_change() -> tuple[types.Provider, types.ModelInfo, datetime]:
    for provider in bundled:
        for model in provider.models:
            if isinstance(model.prices, types.ModelPrice):
                continue
            for conditional in model.prices:
                constraint = conditional.constraint
                if isinstance(constraint, types.StartDateConstraint) and constraint.start_date.year >= 2025:
                    start = datetime.combine(constraint.start_date, datetime.min.time(), UTC)
                    before, after = (
                        price_source.price_at(model, start + d) for d in (timedelta(hours=-1), timedelta())
                    )
                    if before is not None and after is not None and before.base != after.base:
                        return provider, model, start
    raise AssertionError("no dated price change in the data")


def test_a_price_is_valid_until_its_next_scheduled_change() -> None:
    provider, model, change = _scheduled_change()
    before = price_source.price_at(model, change - timedelta(days=3))
    assert before is not None and before.until == change.timestamp()
    after = price_source.price_at(model, change)
    assert after is not None and after.base != before.base
    assert ours(after, USAGES[0]) == pytest.approx(theirs(model, provider, USAGES[0], change))


def test_the_table_looks_a_model_up_again_once_its_price_expired() -> None:
    table = load_prices(None, None)
    fresh = table.find("openai", "gpt-4o")
    assert fresh is not None and fresh.until == math.inf
    stale = Price(fresh.base, (), 0.0, until=1.0)  # expired in 1970
    table._lookups[("openai", "gpt-4o")] = stale
    assert table.find("openai", "gpt-4o") == fresh


def test_time_of_day_prices_expire_at_the_next_boundary() -> None:
    found = [
        (provider, model)
        for provider in bundled
        for model in provider.models
        if not isinstance(model.prices, types.ModelPrice)
        and any(isinstance(c.constraint, types.TimeOfDateConstraint) for c in model.prices)
    ]
    assert found
    provider, model = found[0]
    price = price_source.price_at(model, MOMENT)
    assert price is not None and MOMENT.timestamp() < price.until <= MOMENT.timestamp() + 86400
    assert ours(price, USAGES[0]) == pytest.approx(theirs(model, provider, USAGES[0], MOMENT))


# --- loading: lazy, once, never raising ---------------------------------------------------


def test_import_and_instrument_do_not_load_genai_prices_and_warm_does() -> None:
    code = """
import sys, otel_llmperf
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.metrics import MeterProvider
otel_llmperf.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
from otel_llmperf.config import load_settings
table = load_settings({}).prices
print("genai_prices" in sys.modules, table.source)
table.warm()
table.warm()
print("genai_prices" in sys.modules, table.source)
"""
    env = server_env()
    env["OTEL_TRACES_EXPORTER"] = env["OTEL_METRICS_EXPORTER"] = env["OTEL_LOGS_EXPORTER"] = "none"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.splitlines()
    assert before.startswith("False genai-prices") and before.endswith("(bundled data, loads on first use)")
    dated = (
        r"True genai-prices \S+ \(bundled data, newest price \d{4}-\d{2}-\d{2}\) \+ fallback prices.json \(2025-12-01\)"
    )
    assert re.fullmatch(dated, after), after


def test_warm_loads_once_however_many_threads_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []
    real = price_source.load

    def counted() -> Any:
        loads.append(1)
        return real()

    monkeypatch.setattr(price_source, "load", counted)
    table = load_prices(None, None)
    barrier = threading.Barrier(6)
    costs: list[float | None] = []

    def use(warm: bool) -> None:
        barrier.wait(timeout=10)
        if warm:
            table.warm()
        else:
            costs.append(table.cost("openai", ("gpt-4o",), Usage(1000, 100)))

    threads = [threading.Thread(target=use, args=(n % 2 == 0,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(loads) == 1
    assert len(costs) == 3 and len(set(costs)) == 1 and costs[0] is not None and costs[0] > 0


def test_a_failed_load_is_reported_once_and_user_prices_still_apply(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Any:
        raise ImportError("No module named 'genai_prices'")

    monkeypatch.setattr(price_source, "load", broken)
    table = load_prices({"in-house": {"input": 1, "output": 1}}, None)
    with caplog.at_level(logging.WARNING, logger="otel_llmperf"):
        table.warm()
        table.warm()
        assert table.cost("openai", ("gpt-4o",), Usage(1, 1)) is None
    assert table.cost("openai", ("in-house",), Usage(1_000_000, 0)) == pytest.approx(1.0)
    failures = [r.getMessage() for r in caplog.records if "genai-prices could not be loaded" in r.getMessage()]
    assert len(failures) == 1 and "No module named 'genai_prices'" in failures[0]
    assert table.source.startswith("no bundled prices (genai-prices failed to load: ImportError")
    assert table.source.endswith("+ overrides from prices=")


def test_a_table_without_bundled_prices_never_loads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_source, "load", lambda: pytest.fail("loaded"))
    table = PriceTable({})
    table.warm()
    assert table.cost("openai", ("gpt-4o",), Usage(1, 1)) is None
    assert table.source == "no bundled prices"
