# SPDX-License-Identifier: Apache-2.0
"""Cold-start cost: what ``import otel_llmperf`` and ``instrument()`` add to a fresh process.

Every figure comes from fresh interpreters, interleaved so that machine load falls on all
scenarios alike; the table gives the minimum and the median of ``--runs`` processes each.

* ``import`` rows: whole-process wall time of ``python -c "import X"``; the row that matters is
  ``import otel_llmperf`` minus ``import opentelemetry.sdk``.
* ``instrument()`` rows: time inside the process around the call alone, with every provider SDK
  installed and none imported, for three configurations: providers passed in, the default
  (Prometheus endpoint on a free port), and OTLP over HTTP on top.
* The last table says which provider SDKs a process that imports only ``openai`` loaded, and
  whether openai's chat completions were patched when it was imported.

Usage::

    python bench/coldstart.py [--runs 15] [--src OTHER/src] [--out STEM]

``--src`` measures another checkout's ``src`` with this interpreter (for before/after figures).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

IMPORTS = {
    "python -c pass": "pass",
    "import opentelemetry.sdk": "import opentelemetry.sdk",
    "import otel_llmperf": "import otel_llmperf",
}

# Run inside the child: time instrument() alone, count the modules it loaded, then import openai.
_CHILD = r"""
import json, sys, time
mode = sys.argv[1]
kwargs = {}
if mode == "providers given":
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    kwargs = {"tracer_provider": TracerProvider(), "meter_provider": MeterProvider([InMemoryMetricReader()])}
import otel_llmperf
before = set(sys.modules)
wall, cpu = time.perf_counter(), time.process_time()
otel_llmperf.instrument(**kwargs)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
added = set(sys.modules) - before
import openai
from openai.resources.chat.completions import Completions
sdks = ("anthropic", "google.genai", "botocore", "mistralai", "cohere")
print(json.dumps({
    "seconds": wall,
    "cpu_seconds": cpu,
    "modules": len(added),
    "sdks_by_instrument": sorted(p for p in sdks if p in added or p.replace(".", "/") in added),
    "other_sdks_after_openai": sorted(p for p in sdks if p in sys.modules),
    "openai_patched": hasattr(vars(Completions)["create"], "__wrapped__"),
}))
"""

BASE, OURS = "import opentelemetry.sdk", "import otel_llmperf"

INSTRUMENT_MODES = {
    "providers given": {},
    "default (Prometheus endpoint)": {"OTEL_EXPORTER_PROMETHEUS_PORT": "0"},
    "default + OTLP/HTTP traces and metrics": {
        "OTEL_EXPORTER_PROMETHEUS_PORT": "0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
    },
}


def _env(src: str | None, extra: dict[str, str]) -> dict[str, str]:
    # Byte code is written (as pip does on install) so that no run pays for compiling sources.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "PROMETHEUS_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(extra)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def _cpu(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of a fresh interpreter running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _instrument(mode: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], env=env, check=True, capture_output=True, text=True, timeout=120
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _ms(values: list[float]) -> str:
    return f"{min(values) * 1000:.0f} / {statistics.median(values) * 1000:.0f}"


def measure(runs: int, src: str | None = None) -> tuple[str, dict[str, Any]]:
    """The cold-start tables (markdown) and every figure behind them, from ``runs`` processes a row."""
    imports: dict[str, list[tuple[float, float]]] = {name: [] for name in IMPORTS}
    instrument: dict[str, list[dict[str, Any]]] = {name: [] for name in INSTRUMENT_MODES}
    for run in range(runs + 1):  # the first round only writes byte code and warms caches
        if run == 0:
            for mode, extra in INSTRUMENT_MODES.items():
                _instrument(mode, _env(src, extra))
            continue
        for name, code in IMPORTS.items():
            imports[name].append(_cpu(code, _env(src, {})))
        for mode, extra in INSTRUMENT_MODES.items():
            instrument[mode].append(_instrument(mode, _env(src, extra)))

    def cpu(name: str) -> float:
        return min(c for _, c in imports[name])

    def wall(name: str) -> float:
        return min(w for w, _ in imports[name])

    lines = [
        "# Cold start",
        "",
        "CPU time (user + system) is the figure that machine load disturbs least; wall time beside it.",
        "",
        "| process | CPU ms, min / median | wall ms, min / median |",
        "|---|---|---|",
        *(
            f"| `{name}` | {_ms([c for _, c in values])} | {_ms([w for w, _ in values])} |"
            for name, values in imports.items()
        ),
        "",
        f"`import otel_llmperf` adds **{(cpu(OURS) - cpu(BASE)) * 1000:.0f} ms** "
        f"of CPU ({(wall(OURS) - wall(BASE)) * 1000:.0f} ms wall) "
        "over `import opentelemetry.sdk` (minimums).",
        "",
        "| instrument(), six SDKs installed, none imported | CPU ms, min / median | wall ms, min / median "
        "| modules loaded |",
        "|---|---|---|---|",
    ]
    for mode, measured in instrument.items():
        lines.append(
            f"| {mode} | {_ms([r['cpu_seconds'] for r in measured])} | {_ms([r['seconds'] for r in measured])} "
            f"| {statistics.median(r['modules'] for r in measured):.0f} |"
        )
    last = {mode: measured[-1] for mode, measured in instrument.items()}
    lines += [
        "",
        "| configuration | SDKs loaded by instrument() | other SDKs loaded after `import openai` | openai patched |",
        "|---|---|---|---|",
        *(
            f"| {mode} | {', '.join(r['sdks_by_instrument']) or 'none'} | "
            f"{', '.join(r['other_sdks_after_openai']) or 'none'} | {'yes' if r['openai_patched'] else 'no'} |"
            for mode, r in last.items()
        ),
    ]
    heading = (
        f"Cold start ({time.strftime('%Y-%m-%d %H:%M')}, Python {sys.version.split()[0]}, "
        # Only the checkout's own name: a result file never records a path of the machine it ran on.
        f"{runs} processes per row{', src ' + '/'.join(Path(src).resolve().parts[-2:]) if src else ''})"
    )
    report = "\n".join([f"# {heading}", *lines[1:]]) + "\n"
    return report, {"imports": imports, "instrument": instrument}


def main(argv: list[str] | None = None) -> int:
    """Measure and print the cold-start tables; write them under bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--src", default=None, help="another checkout's src directory to measure")
    parser.add_argument("--out", default="coldstart-latest")
    args = parser.parse_args(argv)
    report, data = measure(args.runs, str(Path(args.src).resolve()) if args.src else None)
    print(report)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"{args.out}.md").write_text(report, encoding="utf-8")
    (results / f"{args.out}.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
