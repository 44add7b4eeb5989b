# SPDX-License-Identifier: Apache-2.0
"""The benchmark harness still runs (a smoke run; no timing is asserted here, ever)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def test_bench_quick_run_measures_ours_and_the_floor(tmp_path: Path) -> None:
    stem = tmp_path / "smoke"
    options = ["--quick", "--subjects", "ours,floor", "--skip-rss", "--skip-profile", "--skip-coldstart"]
    options += ["--out", str(stem)]
    result = subprocess.run(
        [sys.executable, str(BENCH), *options],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = stem.with_suffix(".md").read_text()
    assert "| otel-llmperf (ours) |" in report and "| floor (hand-written) |" in report
    subjects = json.loads(stem.with_suffix(".json").read_text())["subjects"]
    assert {"ours", "floor"} <= set(subjects)


def test_instruction_count_child_runs_both_scenarios() -> None:
    # The process bench/instructions.py runs under callgrind; valgrind itself is too slow for the suite.
    script = BENCH.with_name("instructions.py")
    for scenario in ("sync", "stream"):
        result = subprocess.run(
            [sys.executable, str(script), "--child", scenario, "2", "1"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]


def test_cold_start_bench_sees_no_sdk_loaded_by_instrument() -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import coldstart
    finally:
        sys.path.remove(str(BENCH.parent))
    report, data = coldstart.measure(runs=1)
    assert "adds **" in report
    for mode, (run,) in data["instrument"].items():
        assert run["sdks_by_instrument"] == [], mode
        assert run["other_sdks_after_openai"] == [], mode
        assert run["openai_patched"] is True, mode
