# SPDX-License-Identifier: Apache-2.0
"""The docs pages' blocks marked ``<!-- run by: tests/test_docs_pages_run.py -->`` work as written.

docs/trust-signals.md's Python blocks run in page order as one script, as the page says, in a
subprocess talking to the fake LLM server; the script's only addition is a meter provider with an
in-memory reader (which ``instrument()`` uses, as it uses any application's) and a dump of what it
recorded. docs/drift.md's shell block runs from a copy of the repository's drift spec.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from fakeserver import FakeServerProcess

ROOT = Path(__file__).resolve().parent.parent
MARK = "<!-- run by: tests/test_docs_pages_run.py -->"

# Runs in the child before the page's blocks: the application's own meter provider.
PRELUDE = """
from opentelemetry import metrics as _metrics
from opentelemetry.sdk.metrics import MeterProvider as _MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader as _Reader

_reader = _Reader()
_metrics.set_meter_provider(_MeterProvider(metric_readers=[_reader]))
"""
# Runs after them: every data point as [attributes, count or value], on one marked line.
EPILOGUE = """
import json as _json

_points = {}
for _resource in _reader.get_metrics_data().resource_metrics:
    for _scope in _resource.scope_metrics:
        for _metric in _scope.metrics:
            for _point in _metric.data.data_points:
                _value = _point.count if hasattr(_point, "count") else _point.value
                _points.setdefault(_metric.name, []).append([dict(_point.attributes), _value])
print("RECORDED " + _json.dumps(_points))
"""


def marked_blocks(page: str, language: str) -> list[str]:
    """The bodies of the fenced blocks of docs/``page`` that carry this file's marker, in page order."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    found = re.findall(re.escape(MARK) + r"\n+```(\w+)\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    assert found, f"docs/{page} has no block marked {MARK}"
    assert {lang for lang, _ in found} == {language}, found
    return [body for _, body in found]


def child_env(**extra: str) -> dict[str, str]:
    """A clean environment for a child that imports this checkout's sources."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        **extra,
    }


def total(points: list[list[Any]], **attributes: str) -> float:
    """The sum over the points whose attributes include ``attributes`` (dots spelt as ``__``)."""
    wanted = {key.replace("__", "."): value for key, value in attributes.items()}
    return sum(value for labels, value in points if wanted.items() <= labels.items())


def test_trust_signals_page_runs_as_one_script_and_records_what_it_says(fake_server: FakeServerProcess) -> None:
    # A subprocess importing openai and the OTel SDK, three calls to the fake server: about 4 s.
    script = "\n".join([PRELUDE, *marked_blocks("trust-signals.md", "python"), EPILOGUE])
    env = child_env(OPENAI_BASE_URL=fake_server.base_url, OPENAI_API_KEY="k", OTEL_PYTHON_LLMPERF_LOG_CALLS="true")
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    *printed, recorded_line = result.stdout.splitlines()
    recorded = json.loads(recorded_line.removeprefix("RECORDED "))

    feedback = recorded["llmperf.feedback"]
    assert total(feedback, llmperf__feedback__kind="thumbs", llmperf__feedback__label="up") == 1
    assert total(feedback, llmperf__feedback__kind="thumbs", llmperf__feedback__label="down") == 1
    assert total(feedback, llmperf__feedback__kind="rating") == 2
    assert total(feedback, llmperf__feedback__kind="nps", llmperf__feedback__label="promoter") == 1
    assert total(feedback, llmperf__feedback__kind="label", llmperf__feedback__label="too_long") == 1
    assert total(feedback, gen_ai__request__model="gpt-4o-mini") == 6  # every one judged the page's call
    assert total(recorded["llmperf.feedback.score"]) == 3  # two ratings and the NPS answer

    outcomes = recorded["llmperf.evaluation.outcome"]
    assert total(outcomes, gen_ai__evaluation__name="groundedness", llmperf__evaluation__outcome="tp") == 1
    for outcome in ("tp", "fp", "tn", "fn"):
        assert total(outcomes, gen_ai__evaluation__name="toxicity", llmperf__evaluation__outcome=outcome) == 1
    assert printed[0] == "0.5 0.5 0.5 0.5"  # precision, recall, F1, accuracy of the four pairs
    billing_recall, macro_f1 = map(float, printed[1].split())
    assert billing_recall == 1.0 and 0 < macro_f1 < 1

    durations = recorded["gen_ai.client.operation.duration"]
    assert total(durations, llmperf__variant="b") == 1  # the call inside variant("b")
    assert total(durations) == 3  # the first call, the variant's, the logged one

    model, variant, response_id = ast.literal_eval(printed[2])  # the queued thumbs-down, as the page prints it
    assert (model, variant) == ("gpt-4o-mini", None) and response_id

    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(logged) == 1, result.stderr  # the handler came after the first two calls
    assert logged[0]["model"] == "gpt-4o-mini" and logged[0]["operation"] == "chat"


def test_drift_page_renders_the_shipped_rules(tmp_path: Path) -> None:
    # Two runs of the console script: about 2 s.
    (block,) = marked_blocks("drift.md", "sh")
    spec = Path("grafana/drift.yaml")
    rules = Path("grafana/prometheus/rules/llmperf-drift.rules.yml")
    assert f"render {spec} -o {rules}" in block
    (tmp_path / rules).parent.mkdir(parents=True)
    shutil.copy(ROOT / spec, tmp_path / spec)
    result = subprocess.run(
        ["sh", "-e", "-c", block], capture_output=True, text=True, timeout=60, env=child_env(), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr  # the second line's --check found nothing stale
    assert (tmp_path / rules).read_text(encoding="utf-8") == (ROOT / rules).read_text(encoding="utf-8")
