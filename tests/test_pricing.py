# SPDX-License-Identifier: Apache-2.0
"""Offline cost tracking: the price table, its matching rules, overrides, and the cost counter."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fakeserver import FakeServerProcess
from helpers import counter_value, drain, metrics, only_span, resolve
from otel_llmperf.config import load_settings
from otel_llmperf.pricing import (
    PriceError,
    PriceTable,
    candidates,
    load_prices,
    parse_document,
    parse_price,
    per_million,
)
from otel_llmperf.providers.base import Usage

COST = "llmperf.usage.cost"
MESSAGES = [{"role": "user", "content": "Say hello to the world"}]
# Prices chosen so each token type contributes a distinct, exactly representable amount.
TEST_PRICES = {"prices": {"test-model": {"input": 2.0, "output": 8.0, "cached_input": 0.5}}}


def usd(input_tokens: int, output_tokens: int, cached: int = 0) -> float:
    return ((input_tokens - cached) * 2.0 + cached * 0.5 + output_tokens * 8.0) / 1e6


# --- the arithmetic -------------------------------------------------------------------------


def test_cost_bills_cached_and_written_input_at_their_own_prices() -> None:
    price = per_million(input=3.0, output=15.0, cached_input=0.3, cache_write_input=3.75)
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_input_tokens=600, cache_creation_input_tokens=100)
    # input_tokens includes both cache kinds (semconv); 300 are billed at the plain input price.
    assert price.cost(usage) == pytest.approx((300 * 3.0 + 600 * 0.3 + 100 * 3.75 + 200 * 15.0) / 1e6)


def test_cost_without_cache_prices_bills_cached_tokens_as_input() -> None:
    price = per_million(input=1.0, output=2.0)
    assert price.cost(Usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=4)) == pytest.approx(20e-6)


def test_cost_of_output_only_or_input_only_usage_and_no_usage() -> None:
    price = per_million(input=1.0, output=2.0)
    assert price.cost(Usage(output_tokens=3)) == pytest.approx(6e-6)
    assert price.cost(Usage(input_tokens=3)) == pytest.approx(3e-6)
    assert price.cost(Usage()) is None


def test_long_context_tier_applies_above_its_threshold_only() -> None:
    price = parse_price(
        {
            "input": 1.25,
            "output": 10.0,
            "cached_input": 0.31,
            "long_context": {"threshold": 200_000, "input": 2.5, "output": 15.0, "cached_input": 0.625},
        }
    )
    assert price.cost(Usage(input_tokens=200_000, output_tokens=0)) == pytest.approx(0.25)
    assert price.cost(Usage(input_tokens=200_001, output_tokens=1000)) == pytest.approx(
        (200_001 * 2.5 + 1000 * 15.0) / 1e6
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"output": 1}, "missing 'input'"),
        ({"input": -1, "output": 1}, "non-negative"),
        ({"input": "1", "output": 1}, "non-negative number"),
        ({"input": True, "output": 1}, "non-negative number"),
        ({"input": math.inf, "output": 1}, "non-negative number"),
        ({"input": 1, "output": 1, "cached": 0.5}, "unknown field(s) cached"),
        ({"input": 1, "output": 1, "long_context": {"input": 2, "output": 2}}, "threshold"),
        ([1, 2], "expected an object"),
    ],
)
def test_malformed_entries_are_rejected_with_the_reason(entry: Any, message: str) -> None:
    with pytest.raises(PriceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_price(entry)


# --- model names ----------------------------------------------------------------------------


def test_candidates_strip_paths_and_vendor_and_region_prefixes() -> None:
    assert candidates("models/Gemini-2.5-Pro") == ["models/gemini-2.5-pro", "gemini-2.5-pro"]
    assert candidates("us.anthropic.claude-sonnet-4-5-20250929-v1:0") == [
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-sonnet-4-5-20250929-v1:0",
    ]
    # A dot inside a versioned name is not a prefix.
    assert candidates("gpt-4.1-mini") == ["gpt-4.1-mini"]


@pytest.fixture(name="table")
def fixture_table() -> PriceTable:
    document = parse_document(
        {
            "prices": {
                "gpt-4o": {"input": 2.5, "output": 10},
                "gpt-4o-mini": {"input": 0.15, "output": 0.6},
                "gpt-4o-2024-05-13": {"input": 5, "output": 15},
                "claude-sonnet-4-5": {"input": 3, "output": 15},
                "gemini-2.5-pro": {"input": 1.25, "output": 10},
                "gemini-2.5-flash": {"input": 0.3, "output": 2.5},
            },
            "providers": {"aws.bedrock": {"amazon.nova-pro": {"input": 0.8, "output": 3.2}}},
        },
        "test",
    )
    return PriceTable(document.prices, document.providers)


@pytest.mark.parametrize(
    ("provider", "model", "expected_input"),
    [
        ("openai", "gpt-4o", 2.5),
        ("openai", "GPT-4o", 2.5),
        ("openai", "gpt-4o-2024-08-06", 2.5),  # dated snapshot of the alias
        ("openai", "gpt-4o-2024-05-13", 5.0),  # a dated snapshot with a price of its own wins
        ("openai", "gpt-4o-mini-2024-07-18", 0.15),  # the longest known name wins
        ("azure.ai.openai", "gpt-4o-mini", 0.15),  # general prices serve every provider
        ("anthropic", "claude-sonnet-4-5-20250929", 3.0),
        ("gcp.vertex_ai", "claude-sonnet-4-5@20250929", 3.0),
        ("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 3.0),
        ("aws.bedrock", "us.amazon.nova-pro-v1:0", 0.8),
        ("gcp.gemini", "models/gemini-2.5-pro", 1.25),
        ("gcp.gemini", "gemini-2.5-flash-preview-05-20", 0.3),
        ("openai", "gpt-4o-latest", 2.5),
    ],
)
def test_models_match_by_name_version_suffix_and_provider(
    table: PriceTable, provider: str, model: str, expected_input: float
) -> None:
    price = table.find(provider, model)
    assert price is not None
    assert price.input == expected_input


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-audio-preview"),  # another model, not a version of gpt-4o
        ("openai", "gpt-4o-mini-tts"),
        ("openai", "gpt-4"),  # shorter than every known name
        ("openai", "gpt-4o1"),  # no separator after the known name
        ("anthropic", "amazon.nova-pro"),  # Bedrock's own price list serves Bedrock only
        ("openai", "my-finetune"),
    ],
)
def test_other_models_are_unknown_rather_than_mispriced(table: PriceTable, provider: str, model: str) -> None:
    assert table.find(provider, model) is None


def test_cost_prefers_the_first_priced_model_and_warns_once_per_unknown_model(
    table: PriceTable, caplog: pytest.LogCaptureFixture
) -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    assert table.cost("openai", ("gpt-4o-2024-05-13", "gpt-4o"), usage) == pytest.approx(5.0)
    assert table.cost("openai", ("unpriced-snapshot", "gpt-4o"), usage) == pytest.approx(2.5)
    with caplog.at_level(logging.WARNING, logger="otel_llmperf"):
        for _ in range(3):
            assert table.cost("openai", (None, "my-finetune"), usage) is None
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1
    assert "no price for model 'my-finetune' (provider openai)" in warnings[0]
    assert "OTEL_PYTHON_LLMPERF_PRICES" in warnings[0]


def test_unknown_model_warnings_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable({})
    with caplog.at_level(logging.WARNING, logger="otel_llmperf"):
        for number in range(300):
            table.cost("openai", (f"model-{number}",), Usage(input_tokens=1))
    assert 90 <= len(caplog.records) <= 101
    assert "Further unknown models are not reported" in caplog.records[-1].getMessage()


# --- the shipped table and overrides --------------------------------------------------------


def test_the_default_table_prices_every_provider_from_genai_prices() -> None:
    table = load_prices(None, None)
    assert table.bundled and table.source.endswith("(bundled data, loads on first use)")
    for provider, model in [
        ("openai", "gpt-4o-mini-2024-07-18"),
        ("azure.ai.openai", "gpt-4o-mini"),
        ("anthropic", "claude-sonnet-4-5-20250929"),
        ("gcp.gemini", "models/gemini-2.5-flash"),
        ("gcp.vertex_ai", "claude-sonnet-4-5@20250929"),
        ("aws.bedrock", "us.amazon.nova-lite-v1:0"),
        ("aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("mistral_ai", "mistral-large-latest"),
        ("cohere", "command-r-plus-08-2024"),
        ("openai", "text-embedding-3-small"),
    ]:
        price = table.find(provider, model)
        assert price is not None, (provider, model)
        assert price.input >= 0 and price.output >= 0
    assert table.source.startswith("genai-prices ")
    assert "newest price 20" in table.source


def test_file_extends_and_overrides_the_bundled_prices(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps({"prices": {"gpt-4o": {"input": 1, "output": 1}, "in-house": {"input": 0, "output": 0}}})
    )
    table = load_prices(None, str(path))
    assert table.find("openai", "gpt-4o") == per_million(1.0, 1.0)
    assert table.find("openai", "in-house") == per_million(0.0, 0.0)
    assert table.find("openai", "gpt-4o-mini") is not None  # the bundled prices of other models stay
    assert table.source.endswith(f"+ overrides from {path}")


def test_replace_drops_the_bundled_prices_and_yaml_files_work(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("replace: true\nas_of: '2030-01-01'\nprices:\n  in-house:\n    input: 0.1\n    output: 0.2\n")
    table = load_prices(None, str(path))
    assert table.find("openai", "gpt-4o") is None
    assert table.find("openai", "in-house-large") is None  # another model, not a version of it
    assert table.find("openai", "in-house") == per_million(0.1, 0.2)
    assert table.as_of == "2030-01-01"
    assert table.source == f"no bundled prices + overrides from {path}"


def test_mapping_keyword_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"prices": {"in-house": {"input": 1, "output": 1}}}))
    # A bare model table (no "prices" key) is accepted as a mapping too.
    table = load_prices({"in-house": {"input": 3, "output": 4}}, str(path))
    assert table.find("openai", "in-house") == per_million(3.0, 4.0)
    assert table.source.endswith(f"+ overrides from {path}, prices=")


def test_unusable_sources_are_reported_and_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="otel_llmperf"):
        table = load_prices({"ok": {"input": 1, "output": 1}, "bad": {"input": -1, "output": 1}}, str(broken))
        missing = load_prices(None, str(tmp_path / "missing.json"))
    assert table.find("openai", "ok") == per_million(1.0, 1.0)
    assert table.find("openai", "bad") is None
    assert table.find("openai", "gpt-4o") is not None
    assert missing.find("openai", "gpt-4o") is not None
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert "broken.json could not be used" in messages
    assert "['bad'] skipped: 'input' must be a non-negative number" in messages
    assert "missing.json could not be used" in messages


def test_settings_read_the_variable_and_the_keyword(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"prices": {"from-file": {"input": 1, "output": 1}}}))
    settings = load_settings(
        {"OTEL_PYTHON_LLMPERF_PRICES": str(path)}, prices={"from-kwarg": {"input": 2, "output": 2}}
    )
    assert settings.prices.find("openai", "from-file") == per_million(1.0, 1.0)
    assert settings.prices.find("openai", "from-kwarg") == per_million(2.0, 2.0)


# --- the counter and the span attribute, through the real SDK -------------------------------


async def test_calls_record_their_cost_on_the_counter_and_the_span(
    instrument: Any,
    client: Any,
    mode: str,
    fake_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    instrument(prices=TEST_PRICES)
    response = await resolve(
        client.chat.completions.create(
            model="test-model", messages=MESSAGES, extra_headers={"x-fake-cached-tokens": "4"}
        )
    )
    usage = response.usage
    assert usage.prompt_tokens_details.cached_tokens == 4
    expected = usd(usage.prompt_tokens, usage.completion_tokens, cached=4)

    assert only_span(span_exporter).attributes[COST] == pytest.approx(expected)
    metric = metrics(metric_reader)[COST]
    assert metric.unit == "USD"
    (point,) = metric.data.data_points
    assert point.value == pytest.approx(expected)
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "test-model",
        "gen_ai.response.model": "test-model",
        "server.address": "127.0.0.1",
        "server.port": fake_server.port,
    }


async def test_streams_record_cost_from_their_usage_chunk(
    instrument: Any, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument(prices=TEST_PRICES, stream_usage=True)
    chunks = await drain(
        await resolve(client.chat.completions.create(model="test-model", messages=MESSAGES, stream=True))
    )
    assert all(chunk.usage is None for chunk in chunks)  # the injected usage chunk stays hidden
    # The fake server counts words + 3 per message: 5 + 3 input tokens; 5 output tokens.
    assert counter_value(metric_reader, COST) == pytest.approx(usd(8, 5))


async def test_cost_adds_up_over_calls_and_by_model(
    instrument: Any, client: Any, metric_reader: InMemoryMetricReader
) -> None:
    instrument(prices={"prices": {**TEST_PRICES["prices"], "other": {"input": 1, "output": 0}}})
    for _ in range(3):
        await resolve(client.chat.completions.create(model="test-model", messages=MESSAGES))
    await resolve(client.chat.completions.create(model="other", messages=MESSAGES))
    assert counter_value(metric_reader, COST, {"gen_ai.request.model": "test-model"}) == pytest.approx(3 * usd(8, 5))
    assert counter_value(metric_reader, COST, {"gen_ai.request.model": "other"}) == pytest.approx(8e-6)


async def test_unknown_models_record_no_cost_and_say_so_once(
    instrument: Any,
    client: Any,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instrument(prices={"replace": True, "prices": {}})
    with caplog.at_level(logging.WARNING, logger="otel_llmperf"):
        for _ in range(2):
            await resolve(client.chat.completions.create(model="nobody-knows-me", messages=MESSAGES))
    assert COST not in metrics(metric_reader)
    assert all(COST not in span.attributes for span in span_exporter.get_finished_spans())
    unknown = [record for record in caplog.records if "nobody-knows-me" in record.getMessage()]
    assert len(unknown) == 1


def test_cost_totals_are_one_series_per_attribute_set_whatever_the_order() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_llmperf.instruments import cost_totals

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    totals = cost_totals(meter)
    assert cost_totals(meter) is totals  # one observable counter per meter, however often asked
    totals.add(0.25, {"gen_ai.request.model": "m", "gen_ai.provider.name": "p"})
    totals.add(0.5, {"gen_ai.provider.name": "p", "gen_ai.request.model": "m"})
    totals.add(1.0, {"gen_ai.provider.name": "q", "gen_ai.request.model": "m"})
    (metric,) = [m for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert (metric.name, metric.unit, metric.data.is_monotonic) == ("llmperf.usage.cost", "USD", True)
    values = {point.attributes["gen_ai.provider.name"]: point.value for point in metric.data.data_points}
    assert values == {"p": 0.75, "q": 1.0}
    totals.add(0.25, {"gen_ai.provider.name": "q", "gen_ai.request.model": "m"})
    (metric,) = [m for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert {point.attributes["gen_ai.provider.name"]: point.value for point in metric.data.data_points} == {
        "p": 0.75,
        "q": 1.25,
    }
