# SPDX-License-Identifier: Apache-2.0
"""instrument() patches each provider SDK when the application imports it, and loads none itself.

Every case runs in a fresh interpreter (``lazy_app.py``): this process has imported every SDK
already, so only a new one shows what ``instrument()`` and an application's imports load.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from fakeserver import FakeServerProcess

APP = Path(__file__).parent / "lazy_app.py"
SIX = ["anthropic", "botocore", "cohere", "google.genai", "mistralai", "openai"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(extra)
    return env


def run_app(*args: str) -> tuple[dict[str, Any], str]:
    result = subprocess.run(
        [sys.executable, str(APP), *args], capture_output=True, text=True, timeout=120, env=_env(), check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_instrument_loads_no_sdk_and_patches_each_one_as_it_is_imported() -> None:
    seen, stderr = run_app("each-sdk-on-import")
    assert seen["after_instrument"] == []  # six SDKs installed, none loaded
    assert seen["pools_after_instrument"] is False  # variant propagation waits for the pool module too
    # The price data loads with the first SDK (which the first call then finds ready), not before.
    assert (seen["prices_after_instrument"], seen["prices_after_imports"]) == (False, True)
    assert seen["wrapt_after_instrument"] == []
    assert seen["layers"] == dict.fromkeys(seen["layers"], 1)  # each patched once, when imported
    assert sorted(seen["layers"]) == SIX
    assert "Traceback" not in stderr


def test_an_app_that_imports_only_openai_loads_no_other_sdk(fake_server: FakeServerProcess) -> None:
    seen, _ = run_app("openai-after", fake_server.base_url)
    assert seen["loaded"] == ["openai"]
    assert seen["spans"] == ["chat lazy-model"]
    assert seen["durations"] == 1


def test_sdk_imported_before_instrument_is_measured_the_same(fake_server: FakeServerProcess) -> None:
    before, _ = run_app("openai-before", fake_server.base_url)
    after, _ = run_app("openai-after", fake_server.base_url)
    assert before == after == {"spans": ["chat lazy-model"], "durations": 1, "loaded": ["openai"]}


def test_uninstrument_takes_back_hooks_that_have_not_fired_and_instrumenting_again_never_stacks() -> None:
    seen, _ = run_app("uninstrument-takes-back-hooks")
    assert {"openai", "anthropic", "cohere", "multiprocessing.pool"} <= set(seen["pending_while_instrumented"])
    assert seen["pending_after_uninstrument"] == []
    assert seen["layers_after_uninstrument"] == 0  # imported after uninstrument(): left alone
    assert seen["layers_instrumented_again"] == 1  # already imported: patched at once, once
    assert seen["layers_openai_imported_later"] == 1
    assert seen["layers_after_second_uninstrument"] == {"anthropic": 0, "openai": 0}


def test_uninstrument_takes_back_hooks_held_before_wrapt_is_loaded() -> None:
    seen, _ = run_app("held-hooks-taken-back")
    assert {"openai", "anthropic", "cohere", "multiprocessing.pool"} <= set(seen["held_while_instrumented"])
    assert seen["finder_while_instrumented"] is True
    assert seen["held_after_uninstrument"] == []
    assert seen["finder_after_uninstrument"] is False  # nothing of ours left in sys.meta_path
    assert seen["wrapt_loaded"] is False
    assert seen["layers_after_uninstrument"] == 0


def test_threads_importing_sdks_at_once_each_get_them_patched_exactly_once() -> None:
    for _ in range(3):  # a race shows up only sometimes: several fresh processes
        seen, stderr = run_app("concurrent-imports")
        assert seen["errors"] == []
        assert seen["alive"] == 0
        assert seen["layers"] == dict.fromkeys(SIX, 1)
        assert "Traceback" not in stderr


def test_a_failure_while_patching_never_fails_the_applications_import() -> None:
    seen, stderr = run_app("broken-tracer-provider")
    assert seen == {"imported": True, "layers": 0}
    assert "this tracer provider is broken" in stderr
    assert "otel-llmperf internal error in instrumenting openai" in stderr


def test_opentelemetry_instrument_patches_as_the_application_imports(
    tmp_path: Path, fake_server: FakeServerProcess
) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            sdks = ("openai", "anthropic", "google.genai", "botocore", "mistralai", "cohere")
            print("loaded at start:", sorted(s for s in sdks if s in sys.modules))
            import openai
            client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
            client.chat.completions.create(model="zero-code-lazy", messages=[{"role": "user", "content": "hi"}])
            print("loaded at end:", sorted(s for s in sdks if s in sys.modules))
            """
        )
    )
    launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert launcher, "opentelemetry-instrument is installed with opentelemetry-instrumentation"
    # The peers installed for the layering tests import their SDKs when they instrument: off here.
    env = _env(
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="anthropic,google-genai,google_genai",
    )
    result = subprocess.run(
        [launcher, sys.executable, str(script), fake_server.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "loaded at start: []" in result.stdout
    assert "loaded at end: ['openai']" in result.stdout
    assert '"name": "chat zero-code-lazy"' in result.stdout
