# SPDX-License-Identifier: Apache-2.0
"""The Prometheus endpoint, scraped over HTTP, serves every contract series with the semconv buckets."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import otel_llmperf
from fakeserver import FakeServerProcess
from otel_llmperf.config import load_settings
from otel_llmperf.instruments import CONTRACT
from otel_llmperf.setup import ProviderSetup, build_providers


@pytest.fixture(name="scrape_setup")
def fixture_scrape_setup() -> Iterator[ProviderSetup]:
    settings = load_settings({}, metrics_exporter="prometheus", traces_exporter="none", prometheus_port=0)
    setup = build_providers(settings, prometheus_registry=CollectorRegistry())
    otel_llmperf.instrument(
        tracer_provider=None,
        meter_provider=setup.meter_provider,
        stream_usage=True,
        prices={"scraped": {"input": 1.0, "output": 2.0}},
    )
    yield setup
    otel_llmperf.uninstrument()
    setup.shutdown()


def scrape(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_every_contract_series_is_scraped_with_semconv_buckets(
    scrape_setup: ProviderSetup, fake_server: FakeServerProcess
) -> None:
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
    otel_llmperf.declare_experiment("scraped-experiment", {"a": 1, "b": 1})
    with otel_llmperf.assign("scraped-experiment", "some-user"):
        client.chat.completions.create(model="scraped", messages=[{"role": "user", "content": "hi"}])
    stream = client.chat.completions.create(model="scraped", messages=[{"role": "user", "content": "hi"}], stream=True)
    for _chunk in stream:
        pass
    otel_llmperf.record_feedback("nps", 9, response=stream)
    otel_llmperf.record_evaluation("judge", score=0.9, predicted=True, expected=True, response=stream)

    assert scrape_setup.prometheus_port
    families = scrape(scrape_setup.prometheus_port)
    for spec in CONTRACT:
        # The text parser names a counter's family without its _total suffix.
        family = families.get(spec.prometheus.removesuffix("_total"))
        assert family is not None, f"{spec.prometheus} missing; have {sorted(families)}"
        assert family.type == spec.kind
        samples = family.samples
        if spec.name.startswith("llmperf.experiment."):
            assert {sample.name for sample in samples} == {spec.prometheus}
            assert {
                s.labels["llmperf_variant"] for s in samples if s.labels["llmperf_experiment"] == "scraped-experiment"
            }
            continue
        if spec.kind == "counter":
            assert {sample.name for sample in samples} == {spec.prometheus}
            assert samples[0].labels["gen_ai_request_model"] == "scraped"
            continue
        assert {sample.name for sample in samples} >= {f"{spec.prometheus}_bucket", f"{spec.prometheus}_count"}
        bounds = sorted(
            {float(sample.labels["le"]) for sample in samples if sample.name.endswith("_bucket")} - {float("inf")}
        )
        assert tuple(bounds) == spec.buckets, spec.name
        labels = next(sample.labels for sample in samples if sample.name.endswith("_count"))
        assert labels["gen_ai_request_model"] == "scraped"
        assert labels["gen_ai_provider_name"] == "openai"
        if spec.name.startswith("gen_ai.") or spec.name.startswith("llmperf.client."):
            assert labels["server_address"] == "127.0.0.1"  # call metrics; feedback has no server
