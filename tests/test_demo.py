# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf demo`` end to end, as a user runs it: a subprocess killed by PID at the end."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stack import console_script

PORT_LINE = re.compile(r"metrics → prometheus \(http://127\.0\.0\.1:(\d+)/metrics\)")


def _demo_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}


def _read_until(process: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float) -> tuple[re.Match[str], str]:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = process.stdout.readline()
                if not line:
                    break
                seen += line
                match = pattern.search(seen)
                if match:
                    return match, seen
    raise AssertionError(f"{pattern.pattern!r} not seen within {timeout} s; output so far:\n{seen}")


def scrape(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return {family.name: family for family in text_string_to_metric_families(response.read().decode())}


@pytest.fixture(name="demo")
def fixture_demo() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [console_script(), "demo", "--rps", "20", "--metrics-port", "0", "--refresh", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_demo_env(),
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_demo_serves_metrics_prints_a_summary_and_stops_on_ctrl_c(demo: subprocess.Popen[str]) -> None:
    match, _ = _read_until(demo, PORT_LINE, timeout=30)
    port = int(match.group(1))
    _, output = _read_until(demo, re.compile(r"p95 TTFC[\s\S]*openai\s+gpt-4o-mini\s+\d+"), timeout=30)

    wanted = {
        "gpt-4o-mini",
        "gpt-4.1",
        "o4-mini",
        "text-embedding-3-small",
        "gpt-3.5-turbo-instruct",
        "claude-haiku-4-5",
        "gemini-2.5-flash",
        "us.amazon.nova-lite-v1:0",
        "mistral-small-latest",
        "command-r-plus-08-2024",
    }
    all_providers = {"openai", "anthropic", "gcp.gemini", "aws.bedrock", "mistral_ai", "cohere"}
    deadline = time.monotonic() + 30  # the slowest model needs a few seconds per call
    while True:
        families = scrape(port)
        duration = families.get("gen_ai_client_operation_duration_seconds")
        models = {sample.labels["gen_ai_request_model"] for sample in duration.samples} if duration else set()
        cost = families.get("llmperf_usage_cost_USD")
        # A provider's first calls may all be injected faults, which cost nothing: wait for a success.
        priced = {sample.labels["gen_ai_provider_name"] for sample in cost.samples} if cost else set()
        if (wanted <= models and priced == all_providers) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert wanted <= models
    assert "gen_ai_client_operation_time_to_first_chunk_seconds" in families
    assert "llmperf_client_time_per_output_token_seconds" in families  # the demo asks for stream usage
    variants = {sample.labels.get("llmperf_variant") for sample in duration.samples}
    assert {"a", "b"} <= variants
    # The A/B split comes from assign(): exposures and declared weights for the dashboard and the SRM check.
    exposures = families["llmperf_experiment_exposures"].samples
    assert {s.labels["llmperf_variant"] for s in exposures if s.labels["llmperf_experiment"] == "demo-concise"} == {
        "a",
        "b",
    }
    assert sum(s.value for s in exposures if s.name.endswith("_total")) > 0
    weights = {s.labels["llmperf_variant"]: s.value for s in families["llmperf_experiment_weight"].samples}
    assert weights == {"a": 0.5, "b": 0.5}
    # Every provider's SDK is installed with the test extra: the mix reaches all six.
    assert {sample.labels["gen_ai_provider_name"] for sample in duration.samples} == all_providers
    # Every demo model is in the shipped price table, so spend shows for each provider.
    assert priced == all_providers
    assert cost is not None and all(sample.value > 0 for sample in cost.samples if sample.name.endswith("_total"))

    # Simulated users and judges: every feedback kind, scores, and evaluation outcomes.
    deadline = time.monotonic() + 40
    while True:
        families = scrape(port)
        feedback = families.get("llmperf_feedback")
        kinds = {sample.labels["llmperf_feedback_kind"] for sample in feedback.samples} if feedback else set()
        if kinds == {"thumbs", "rating", "nps", "label"} or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert kinds == {"thumbs", "rating", "nps", "label"}
    for name in ("llmperf_feedback_score", "llmperf_evaluation_score", "llmperf_evaluation_outcome"):
        assert name in families, name
    outcomes = families["llmperf_evaluation_outcome"].samples
    assert {"tp", "tn"} <= {sample.labels["llmperf_evaluation_outcome"] for sample in outcomes}
    assert {"billing", "support", "sales"} <= {sample.labels.get("llmperf_evaluation_class") for sample in outcomes}

    demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
    rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, output + rest
    assert "stopped cleanly" in rest
    assert "Traceback" not in output + rest


def test_demo_runs_for_a_duration_fits_80_columns_and_warns_once_per_bad_variable() -> None:
    bad = "OTEL_PYTHON_LLMPERF_CONTENT_MAX_LENGTH"
    # Not a terminal: the width comes from COLUMNS, as a shell exports it.
    env = {**_demo_env(), bad: "lots", "COLUMNS": "80"}
    result = subprocess.run(
        [console_script(), "demo", "--duration", "2", "--rps", "10", "--metrics-port", "0", "--refresh", "1"],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "for 2 s" in result.stdout and "stopped cleanly" in result.stdout
    assert "p95 TTFC" in result.stdout and "out tok/s: output tokens per second" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
    assert result.stderr.count(f"{bad}='lots'") == 1, result.stderr


def test_a_busy_metrics_port_stops_the_demo_with_a_hint_naming_the_option() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The port from the environment: a newcomer who never typed --metrics-port gets the hint too.
        env = {**_demo_env(), "OTEL_EXPORTER_PROMETHEUS_PORT": str(port)}
        result = subprocess.run(
            [console_script(), "demo", "--duration", "30"], capture_output=True, text=True, timeout=60, env=env
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"127.0.0.1:{port} is in use" in result.stderr and "--metrics-port" in result.stderr, result.stderr
    assert "sending" not in result.stdout  # stopped before any traffic


def test_demo_rejects_bad_options_naming_them() -> None:
    result = subprocess.run(
        [console_script(), "demo", "--rps", "0"], capture_output=True, text=True, timeout=60, env=_demo_env()
    )
    assert result.returncode == 2
    assert "--rps" in result.stderr and "outside" in result.stderr


def test_variant_b_is_concise_and_liked_more_unless_the_experiment_is_identical() -> None:
    import random

    from otel_llmperf.demo.traffic import Experiment, _request, demo_server_config

    config = demo_server_config(1)
    tokens = config.behaviour_for("gpt-4.1").output_tokens
    concise, identical = Experiment("concise", 0.2), Experiment("identical", 0.2)
    assert _request(random.Random(1), "gpt-4.1", "b", config, concise).headers == {
        "x-fake-output-tokens": str(int(tokens * 0.6))
    }
    assert _request(random.Random(1), "gpt-4.1", "a", config, concise).headers == {}
    assert _request(random.Random(1), "gpt-4.1", "b", config, identical).headers == {}
    assert (concise.satisfaction_lift("a"), concise.satisfaction_lift("b")) == (0.0, 0.2)
    assert identical.satisfaction_lift("b") == 0.0


def test_demo_rejects_an_unknown_experiment() -> None:
    result = subprocess.run(
        [console_script(), "demo", "--ab", "bigger"], capture_output=True, text=True, timeout=60, env=_demo_env()
    )
    assert result.returncode == 2
    assert "--ab" in result.stderr and "identical" in result.stderr


def _summary_rows() -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], Any]]:
    """Rows as a long demo leaves them: the longest model name, six-digit counts, a 15 s p95."""
    from otel_llmperf.demo.summary import Histogram, ModelRow

    bounds = (0.1, 1.0, 10.0, 20.0)
    rows, previous = {}, {}
    for key in (("aws.bedrock", "us.amazon.nova-lite-v1:0"), ("openai", "gpt-4o-mini")):
        row = ModelRow(calls=123_456, errors=1_234, output_tokens=9_000_000.0, thumbs_up=80, thumbs=100)
        row.duration = Histogram(bounds, [0, 50, 40, 10, 0])
        row.ttfc = Histogram(bounds, [60, 40, 0, 0, 0])
        row.correct, row.judged = 9, 10
        rows[key] = row
        previous[key] = ModelRow(output_tokens=8_997_000.0)
    return rows, previous


@pytest.mark.parametrize("width", [120, 80, 60])
def test_the_summary_fits_the_terminal_and_says_what_out_tok_s_is(width: int) -> None:
    from otel_llmperf.demo.summary import render

    rows, previous = _summary_rows()
    table = render(rows, previous, 3.0, 125.0, width)
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= width, table
    header = lines[1]
    # Always there, at any width: which model, and its p95 duration.
    assert "provider" in header and "model" in header and "p95 dur" in header
    assert any(line.startswith("aws.bedrock") and "15.0 s" in line for line in lines), table
    if width >= 80:
        assert all(title in header for title in ("calls", "errors", "p95 TTFC", "out tok/s")), header
        assert any("us.amazon.nova-lite-v1:0" in line for line in lines), table  # the whole name
        # (9,000,000 - 8,997,000) tokens over 3 s, the rate the legend explains.
        assert any(line.startswith("openai") and " 1,000" in line for line in lines), table
        legend = " ".join(lines[lines.index(next(line for line in lines if line.startswith("out tok/s:"))) :])
        assert "output tokens per second over the last 3 s, summed over the model's calls" in legend
    if width >= 120:
        assert "thumbs up" in header and "accuracy" in header and "hidden" not in table
    else:
        assert "hidden at" in table and "accuracy" in table.split("hidden at")[1]
