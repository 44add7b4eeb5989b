# SPDX-License-Identifier: Apache-2.0
"""instrument()/uninstrument(), the entry points, and zero-code instrumentation."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llmperf
from conftest import make_client
from fakeserver import FakeServerProcess
from helpers import resolve
from otel_llmperf.instrumentor import OpenAIInstrumentor
from otel_llmperf.providers.openai import PATCH_TARGETS


def current_methods() -> dict[str, Any]:
    found = {}
    for target in PATCH_TARGETS:
        owner_name, _, name = target.attribute.rpartition(".")
        owner = getattr(importlib.import_module(target.module), owner_name)
        found[f"{target.module}:{target.attribute}"] = vars(owner)[name]
    return found


def test_uninstrument_restores_every_method_exactly(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> None:
    before = current_methods()
    otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    during = current_methods()
    assert all(during[key] is not before[key] for key in before), "every target is wrapped"
    otel_llmperf.uninstrument()
    after = current_methods()
    assert all(after[key] is before[key] for key in before)


def test_instrument_is_idempotent(
    fake_server: FakeServerProcess, tracer_provider: TracerProvider, meter_provider: MeterProvider, span_exporter: Any
) -> None:
    before = current_methods()
    try:
        otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        once = current_methods()
        otel_llmperf.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        assert current_methods() == once  # not wrapped twice
        client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
        client.embeddings.create(model="e", input="x")
        assert len(span_exporter.get_finished_spans()) == 1
    finally:
        otel_llmperf.uninstrument()
        otel_llmperf.uninstrument()  # a second uninstrument is harmless
    assert current_methods() == before


def test_instrument_again_after_uninstrument(
    fake_server: FakeServerProcess, instrument: Any, span_exporter: InMemorySpanExporter
) -> None:
    client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
    instrument()
    otel_llmperf.uninstrument()
    client.embeddings.create(model="e", input="x")
    assert span_exporter.get_finished_spans() == ()
    instrument()
    client.embeddings.create(model="e", input="x")
    assert len(span_exporter.get_finished_spans()) == 1


def test_disabled_instrumentation_is_skipped(monkeypatch: pytest.MonkeyPatch, instrument: Any) -> None:
    before = current_methods()
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "something_else, llmperf_openai")
    instrument()
    assert current_methods() == before


def test_unknown_keyword_is_a_type_error_naming_the_allowed_ones() -> None:
    before = current_methods()
    with pytest.raises(TypeError, match=r"capture_contnet.*allowed: .*capture_content"):
        otel_llmperf.instrument(capture_contnet=True)
    assert current_methods() == before  # nothing half-instrumented


def test_wrapped_over_by_someone_else_keeps_their_wrapper(
    fake_server: FakeServerProcess, instrument: Any, span_exporter: InMemorySpanExporter
) -> None:
    """Uninstrumenting under another patcher must not drop their layer; ours passes through."""
    import wrapt

    calls = []

    def theirs(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append(1)
        return wrapped(*args, **kwargs)

    from openai.resources.embeddings import Embeddings

    original = vars(Embeddings)["create"]
    instrument()
    ours = vars(Embeddings)["create"]
    wrapt.wrap_function_wrapper(Embeddings, "create", theirs)
    try:
        otel_llmperf.uninstrument()
        client = openai.OpenAI(base_url=fake_server.base_url, api_key="k", max_retries=0)
        client.embeddings.create(model="e", input="x")
        assert calls == [1]
        assert span_exporter.get_finished_spans() == ()
    finally:
        Embeddings.create = original
    assert ours is not original


def test_entry_points_are_registered() -> None:
    instrumentors = {ep.name: ep for ep in entry_points(group="opentelemetry_instrumentor")}
    assert instrumentors["llmperf_openai"].load() is OpenAIInstrumentor
    assert "openai" not in instrumentors or instrumentors["openai"].value != instrumentors["llmperf_openai"].value
    env_modules = {ep.name: ep for ep in entry_points(group="opentelemetry_environment_variables")}
    module = env_modules["llmperf"].load()
    assert module.OTEL_PYTHON_LLMPERF_STREAM_USAGE == "OTEL_PYTHON_LLMPERF_STREAM_USAGE"


def test_instrumentor_dependencies_name_the_sdk() -> None:
    assert OpenAIInstrumentor().instrumentation_dependencies() == ("openai >= 1.40",)


APP = """
import openai, sys
client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
client.chat.completions.create(model="zero-code-model", messages=[{"role": "user", "content": "hi"}])
"""


def _zero_code(tmp_path: Path, fake_server: FakeServerProcess, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(APP))
    launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert launcher, "opentelemetry-instrument is installed with opentelemetry-instrumentation"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    child_env.update(
        OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="console", OTEL_SERVICE_NAME="zero-code-test", **env
    )
    return subprocess.run(
        [launcher, sys.executable, str(script), fake_server.base_url],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_zero_code_with_opentelemetry_instrument(tmp_path: Path, fake_server: FakeServerProcess) -> None:
    result = _zero_code(tmp_path, fake_server)
    assert result.returncode == 0, result.stderr
    assert '"name": "chat zero-code-model"' in result.stdout
    assert '"gen_ai.client.operation.duration"' in result.stdout
    assert '"service.name": "zero-code-test"' in result.stdout


def test_zero_code_respects_disabled_instrumentations(tmp_path: Path, fake_server: FakeServerProcess) -> None:
    result = _zero_code(tmp_path, fake_server, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="llmperf_openai")
    assert result.returncode == 0, result.stderr
    assert "chat zero-code-model" not in result.stdout


async def test_client_created_before_instrument_is_measured(
    fake_server: FakeServerProcess, instrument: Any, span_exporter: InMemorySpanExporter
) -> None:
    client = make_client("async", fake_server.base_url)
    instrument()
    await resolve(client.embeddings.create(model="e", input="x"))
    assert len(span_exporter.get_finished_spans()) == 1


def test_every_provider_has_its_entry_point_and_names_its_sdk() -> None:
    from otel_llmperf.instrumentor import INSTRUMENTORS

    registered = {ep.name: ep.load() for ep in entry_points(group="opentelemetry_instrumentor")}
    expected = {
        "llmperf_openai": "openai",
        "llmperf_anthropic": "anthropic",
        "llmperf_google_genai": "google-genai",
        "llmperf_bedrock": "botocore",
        "llmperf_mistral": "mistralai",
        "llmperf_cohere": "cohere",
    }
    for name, sdk in expected.items():
        instrumentor = registered[name]
        assert instrumentor in INSTRUMENTORS
        (requirement,) = instrumentor().instrumentation_dependencies()
        assert requirement.startswith(f"{sdk} >= "), requirement


MISSING_SDKS = """
import logging, sys
# As if these SDKs were not installed: importlib.util.find_spec() answers None for them.
for name in ("anthropic", "google.genai", "boto3", "botocore", "mistralai", "cohere"):
    sys.modules[name] = None
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
import openai, otel_llmperf
otel_llmperf.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
print("wrapped", hasattr(openai.resources.chat.completions.Completions.create, "__wrapped__"))
otel_llmperf.uninstrument()
"""


def test_providers_whose_sdk_is_missing_are_skipped_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", MISSING_SDKS], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "wrapped True" in result.stdout
    assert "instrumenting openai" in result.stderr
    assert re.search(r"openai \d+\.\d+\S* imported; patching it", result.stderr), result.stderr
    # Which prices: named in the start-up line, dated once loaded with the first SDK.
    assert re.search(r"; prices genai-prices \(bundled data, loads on first use\)", result.stderr)
    assert re.search(r"prices loaded: genai-prices \S+ \(bundled data, newest price \d{4}-\d\d-\d\d\)", result.stderr)
    for sdk in ("anthropic", "google.genai", "botocore", "mistralai", "cohere"):
        assert f"{sdk} (not installed)" in result.stderr, sdk
    assert "Traceback" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
