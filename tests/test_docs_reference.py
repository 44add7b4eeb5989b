# SPDX-License-Identifier: Apache-2.0
"""docs/metrics.md is the metric reference users query by: it cannot drift from what the code emits.

Every instrument of the metric contract (``otel_llmperf.instruments.CONTRACT``) has its row with
its kind, unit, Prometheus family and buckets, and no row names a metric the code no longer has;
every attribute a call, feedback, evaluation or experiment puts on a metric is in the page; and
every series a docs page queries in PromQL is a contract series.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import otel_llmperf
from fakeserver import FakeServerProcess
from otel_llmperf.instruments import CONTRACT

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGE = DOCS / "metrics.md"
HEADER = "| OpenTelemetry instrument | Kind | Unit | Prometheus family | Recorded | Buckets |"
MESSAGES = [{"role": "user", "content": "hi"}]


def metric_rows() -> dict[str, list[str]]:
    """The cells of each row of the page's metric table, by instrument name."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2  # past the header and its rule
    rows: dict[str, list[str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 6, line
        rows[cells[0].strip("`")] = cells
    return rows


def test_every_contract_metric_has_its_row_and_no_row_is_stale() -> None:
    rows = metric_rows()
    assert set(rows) == {spec.name for spec in CONTRACT}, "docs/metrics.md and instruments.CONTRACT disagree"
    for spec in CONTRACT:
        _, kind, unit, family, _, buckets = rows[spec.name]
        assert kind.split()[0] == spec.kind, spec.name
        assert unit == spec.unit, spec.name
        assert family == f"`{spec.prometheus}`", f"{spec.name}: Prometheus family {spec.prometheus} missing"
        if spec.buckets:
            first, last = (f"{bound:.12g}" for bound in (spec.buckets[0], spec.buckets[-1]))
            assert buckets.startswith(first) or f": {first} " in buckets, (spec.name, buckets)
            assert buckets.endswith(last), (spec.name, buckets)
        else:
            assert buckets == "—", spec.name


def recorded_attribute_keys(reader: InMemoryMetricReader) -> set[str]:
    """Every attribute key on every metric point the reader holds."""
    data = reader.get_metrics_data()
    assert data is not None
    return {
        key
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
        for key in point.attributes or {}
    }


def test_every_recorded_metric_attribute_is_documented(
    instrument: Any, metric_reader: InMemoryMetricReader, fake_server: FakeServerProcess
) -> None:
    instrument(prices={"gpt-4o-mini": {"input": 1.0, "output": 2.0}})
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
    otel_llmperf.declare_experiment("documented", {"a": 1, "b": 1})
    with otel_llmperf.assign("documented", "user-1"):
        response = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    for _chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
        pass
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-fake-error": "429"})
    otel_llmperf.record_feedback("thumbs", True, response=response)
    otel_llmperf.record_feedback("rating", 4, response=response)
    otel_llmperf.record_evaluation("judge", score=0.5, predicted=True, expected=False, response=response)
    otel_llmperf.record_evaluation("intent", predicted="a", expected="b", classes=["a", "b"], response=response)

    keys = recorded_attribute_keys(metric_reader)
    assert {"error.type", "llmperf.variant", "llmperf.experiment", "llmperf.evaluation.class"} <= keys
    page = PAGE.read_text(encoding="utf-8")
    section = page.split("### Metric attributes", 1)[1].split("\n## ", 1)[0]
    assert not {key for key in keys if f"`{key}`" not in section}, "recorded but not in docs/metrics.md"


def test_promql_on_the_docs_pages_queries_only_contract_series() -> None:
    series = {spec.prometheus for spec in CONTRACT}
    series |= {
        f"{spec.prometheus}_{part}"
        for spec in CONTRACT
        if spec.kind == "histogram"
        for part in ("bucket", "sum", "count")
    }
    queried: dict[str, set[str]] = {}
    for page in sorted(DOCS.glob("*.md")):
        # A metric name is followed by its matchers or a range; label names are not.
        names = set(re.findall(r"\b((?:gen_ai|llmperf)_[A-Za-z0-9_]+)\s*[{\[]", page.read_text(encoding="utf-8")))
        queried[page.name] = names - series
    assert not {name: unknown for name, unknown in queried.items() if unknown}
    assert "llmperf_feedback_total" in re.findall(
        r"\b(llmperf_feedback_total)\{", (DOCS / "trust-signals.md").read_text()
    )
