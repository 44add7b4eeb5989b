# SPDX-License-Identifier: Apache-2.0
"""``otel_llmperf.analysis`` (pandas) and ``otel-llmperf report --baseline``, against a real Prometheus.

One app (tests/baseline_app.py) calls the real openai SDK against the fake LLM server for two
periods of PHASE seconds: steady, then shifted (slower first tokens, longer answers, lower
accuracy, fewer thumbs up; the same error rate and ratings). Prometheus scrapes it every second.
Every report and frame names the same end, the end of the shifted period, so the recent range is
the shifted period and ``--baseline 10s`` is the steady one.
"""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from stack import Process, binary, child_env, console_script, free_port

PHASE = 10.0
RANGE = "9s"  # a second short of a period: no boundary straddles the switch
OFFSET = "10s"
STEP = "1s"
WINDOW = "5s"
HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "reports.md"
SHIFTED = ("b higher", "b lower", "distributions differ")


@dataclass
class Filled:
    """A Prometheus holding both periods, and the end of the shifted one."""

    url: str
    end: float
    work: Path

    def report(self, out: Path, *args: str, range_: str = RANGE) -> subprocess.CompletedProcess[str]:
        """``otel-llmperf report`` over the recent range ending at ``end``."""
        argv = [console_script(), "report", "--prometheus", self.url, "--range", range_, "--step", STEP, "--window"]
        argv += [WINDOW, "--end", str(self.end), "--out", str(out), "--seed", "3", "--alpha", "0.01"]
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=240, env=child_env(), cwd=self.work
        )


def _wait_for(log: Path, word: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(rf"^{word} ([0-9.]+)$", log.read_text(), re.MULTILINE)
        if found:
            return float(found.group(1))
        time.sleep(0.2)
    raise AssertionError(f"no {word} line within {timeout} s; log:\n{log.read_text()[-4000:]}")


@pytest.fixture(name="filled", scope="module")
def fixture_filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    prometheus = binary("prometheus")
    work = tmp_path_factory.mktemp("analysis")
    app_port, prometheus_port = free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "baseline-app", "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]}],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    processes: list[Process] = []
    try:
        server = Process(
            [
                prometheus,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            work / "prometheus.log",
        )
        processes.append(server)
        server.wait_ready(f"http://127.0.0.1:{prometheus_port}/-/ready")
        app = Process([sys.executable, "-u", str(HERE / "baseline_app.py"), str(app_port), str(PHASE)],
                      work / "app.log", child_env())  # fmt: skip
        processes.append(app)
        shift = _wait_for(work / "app.log", "SHIFT", PHASE + 30)
        _wait_for(work / "app.log", "DONE", PHASE + 30)
        time.sleep(2.5)  # the last scrapes are in
        app.stop()
        yield Filled(f"http://127.0.0.1:{prometheus_port}", float(math.floor(shift + PHASE)), work)
    finally:
        for process in reversed(processes):
            process.stop()


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return {row["metric"]: row for row in csv.DictReader(file)}


@pytest.fixture(name="baseline", scope="module")
def fixture_baseline(filled: Filled) -> tuple[Path, str]:
    out = filled.work / "baseline-report"
    result = filled.report(out, "--baseline", OFFSET, "--format", "both")
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result.stdout


@pytest.mark.prometheus
def test_baseline_flags_the_shifted_signals_and_not_the_steady_ones(baseline: tuple[Path, str]) -> None:
    out, _ = baseline
    rows = _rows(out / "baseline.csv")
    for metric in ("Duration distribution", "Duration p50", "Time to first chunk distribution",
                   "Output tokens per call distribution", "Thumbs-up ratio", "Evaluation accuracy: qa"):  # fmt: skip
        assert rows[metric]["verdict"] in SHIFTED, (metric, rows[metric])
    for metric in ("Error rate", "Mean rating"):
        assert rows[metric]["verdict"] == "no significant difference", (metric, rows[metric])
    # Direction: the recent period (b) answers later and longer, and is judged worse.
    assert float(rows["Duration p50"]["difference"]) > 0
    assert float(rows["Output tokens per call p50"]["b"]) > float(rows["Output tokens per call p50"]["a"])
    assert rows["Thumbs-up ratio"]["better"] == "a"
    assert rows["Evaluation accuracy: qa"]["better"] == "a"
    # Evaluations recorded without a score have no score distribution to compare.
    assert not any(metric.startswith("Evaluation score") for metric in rows)


@pytest.mark.prometheus
def test_baseline_is_flagged_in_the_terminal_and_the_page(baseline: tuple[Path, str]) -> None:
    out, stdout = baseline
    flagged = [line for line in stdout.splitlines() if line.strip().startswith("SHIFTED")]
    assert any("Duration distribution" in line for line in flagged), stdout
    assert not any("Error rate" in line or "Mean rating" in line for line in flagged), stdout
    assert "signals shifted" in stdout
    # The drift counters: the finish-reason mix is compared, and the model identities did not change.
    assert "Finish-reason mix" in stdout
    assert "no llmperf_model_identity_total series" not in stdout
    page = (out / "index.html").read_text(encoding="utf-8")
    shifted_rows = re.findall(r'<tr class="shifted">(.*?)</tr>', page)
    assert any("Evaluation accuracy: qa" in row for row in shifted_rows)
    assert not any("Error rate" in row for row in shifted_rows)
    assert 'href="#baseline"' in page
    for key in ("evaluation_accuracy", "thumbs_up_ratio", "mean_rating"):
        image = f"plots/baseline-{key}.png"
        assert (out / image).stat().st_size > 5000
        assert f'src="{image}"' in page


def _holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment as statsmodels' multipletests(method="holm") computes it."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


@pytest.mark.prometheus
def test_baseline_p_values_are_holm_adjusted_and_match_scipy(baseline: tuple[Path, str]) -> None:
    from scipy import stats

    rows = _rows(baseline[0] / "baseline.csv")
    tested = [row for row in rows.values() if row["p_value"]]
    assert len(tested) >= 8
    expected = _holm([float(row["p_value"]) for row in tested])
    assert [float(row["p_adjusted"]) for row in tested] == pytest.approx(expected, rel=1e-9)
    # The raw p-value of a proportion, recomputed with scipy from the counts in the table.
    row = rows["Error rate"]
    n_a, n_b = int(row["n_a"]), int(row["n_b"])
    x_a, x_b = round(float(row["a"]) * n_a), round(float(row["b"]) * n_b)
    table = [[x_a, n_a - x_a], [x_b, n_b - x_b]]
    if "Fisher" in row["method"]:
        p_value = stats.fisher_exact(table).pvalue
    else:
        pooled = (x_a + x_b) / (n_a + n_b)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        p_value = 2 * stats.norm.sf(abs(x_b / n_b - x_a / n_a) / se)
    assert float(row["p_value"]) == pytest.approx(p_value, rel=1e-9)


@pytest.mark.prometheus
def test_baseline_says_not_enough_data_on_a_tiny_sample(filled: Filled) -> None:
    out = filled.work / "tiny-report"
    result = filled.report(out, "--baseline", OFFSET, "--format", "terminal", range_="2s")
    assert result.returncode == 0, result.stdout + result.stderr
    # At most ~35 calls a second: far below p95's 100 calls, and a handful of failures (1 in 20).
    for metric in ("Duration p95", "Error type mix"):
        said = [line for line in result.stdout.splitlines() if line.startswith(f"{metric}: ")]
        assert said and said[0].startswith(f"{metric}: not enough data (needs ≥"), result.stdout
        assert "per period" in said[0]


@pytest.mark.prometheus
def test_a_baseline_outside_the_data_is_an_error_naming_the_option(filled: Filled) -> None:
    result = filled.report(filled.work / "outside", "--baseline", "10m")
    assert result.returncode == 1
    message = result.stderr
    assert "--baseline 10m" in message and "holds no otel-llmperf series" in message, message
    assert "holds them from about" in message, message
    assert not (filled.work / "outside" / "index.html").exists()


def _snippet() -> str:
    text = PAGE.read_text(encoding="utf-8")
    found = re.search(r"<!-- example: analysis-accuracy -->\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "docs/reports.md has the analysis snippet"
    return found.group(1)


@pytest.mark.prometheus
def test_documented_snippet_plots_accuracy_per_model(filled: Filled, tmp_path: Path) -> None:
    snippet = _snippet()
    assert len([line for line in snippet.splitlines() if line.strip()]) <= 5
    assert 'range="7d", step="1h")' in snippet and '"http://127.0.0.1:9090"' in snippet
    code = snippet.replace('"http://127.0.0.1:9090"', repr(filled.url))
    code = code.replace('range="7d", step="1h")', f'range="19s", step="1s", window="5s", end={filled.end})')
    code += "print(sorted(table.columns))\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=child_env()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['gpt-4o', 'gpt-4o-mini']"
    assert (tmp_path / "accuracy.png").stat().st_size > 5000


@pytest.mark.prometheus
def test_analysis_frames_are_tidy_and_what_the_report_wrote(filled: Filled, baseline: tuple[Path, str]) -> None:
    from otel_llmperf.analysis import Analysis

    analysis = Analysis(filled.url, range=RANGE, step=STEP, window=WINDOW, end=filled.end)
    accuracy = analysis.signal("evaluation_accuracy")
    assert list(accuracy.columns) == ["time", "unix_time", "provider", "model", "variant", "evaluation", "value"]
    assert set(accuracy["model"]) == {"gpt-4o", "gpt-4o-mini"}
    assert set(accuracy["variant"]) == {""} and set(accuracy["evaluation"]) == {"qa"}
    assert str(accuracy["time"].dt.tz) == "UTC"
    assert accuracy["value"].dropna().between(0, 1).all()
    assert accuracy.groupby(["unix_time", "model"]).size().max() == 1  # one row per time and series
    # Shifted period: gpt-4o answers 2 of 5 right (every odd index), gpt-4o-mini 3 of 5.
    settled = accuracy[accuracy["unix_time"] >= filled.end - 4]  # rate windows wholly inside the shifted period
    means = settled.groupby("model")["value"].mean()
    assert means["gpt-4o"] == pytest.approx(0.4, abs=0.1) and means["gpt-4o-mini"] == pytest.approx(0.6, abs=0.1)

    totals = analysis.totals()
    calls = totals[totals["key"] == "calls"].set_index("model")["value"]
    assert set(calls.index) == {"gpt-4o", "gpt-4o-mini"} and (calls > 30).all()

    compared = analysis.compare_baseline(OFFSET)
    reported = _rows(baseline[0] / "baseline.csv")
    assert list(compared["metric"]) == list(reported)
    assert set(compared[compared["shifted"]]["metric"]) == {
        metric for metric, row in reported.items() if row["verdict"] in SHIFTED
    }
    identity = analysis.model_identity(OFFSET)
    # The fake server answered with the same models in both periods.
    assert set(identity["request_model"]) == {"gpt-4o", "gpt-4o-mini"}
    assert (identity["status"] == "unchanged").all() and (identity["baseline"] > 0).all()

    # The report's CSV of a panel holds the same numbers as the frame (variants pooled, as the report does).
    pooled = Analysis(filled.url, range=RANGE, step=STEP, window=WINDOW, end=filled.end, by_variant=False)
    frame = pooled.signal("thumbs_up_ratio")
    with (baseline[0] / "data" / "thumbs_up_ratio.csv").open(newline="", encoding="utf-8") as file:
        written = list(csv.DictReader(file))
    assert [float(row["value"]) for row in written] == pytest.approx(list(frame["value"]), nan_ok=True)
    assert [row["gen_ai_request_model"] for row in written] == list(frame["model"])


def test_analysis_names_a_bad_signal_and_duration() -> None:
    from otel_llmperf.analysis import Analysis

    nowhere = "http://127.0.0.1:9"  # never contacted: both are refused before any query
    with pytest.raises(ValueError, match="signal 'accuracy' is not one of the report's signals; known: request_rate"):
        Analysis(nowhere).signal("accuracy")
    with pytest.raises(ValueError, match="range='a week' is not a Prometheus duration"):
        Analysis(nowhere, range="a week")


def test_analysis_without_pandas_names_the_extra() -> None:
    code = "import sys; sys.modules['pandas'] = None\nimport otel_llmperf.analysis"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=child_env())
    assert result.returncode == 1
    assert "otel_llmperf.analysis needs pandas, the report extra: pip install pandas" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline-start", "100"], "--baseline-start and --baseline-end go together"),
        (["--baseline", "1d", "--baseline-start", "10", "--baseline-end", "20"], "either --baseline OFFSET or"),
        (["--baseline-start", "20", "--baseline-end", "10"], "--baseline-end must be after --baseline-start"),
        (["--baseline", "a week"], "--baseline 'a week' is not a Prometheus duration"),
    ],
)
def test_bad_baseline_options_name_the_option(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from otel_llmperf.cli import main

    argv = ["report", "--prometheus", "http://127.0.0.1:9", "--end", "1000000", "--out", str(tmp_path)]
    assert main([*argv, *args]) == 2
    assert message in capsys.readouterr().err


def test_category_test_is_scipys_chi_square() -> None:
    from scipy import stats as scipy_stats

    from otel_llmperf.report import stats

    baseline = {"stop": 300, "length": 40, "content_filter": 10}
    recent = {"stop": 200, "length": 90, "content_filter": 12}
    row = stats.category_test(baseline, recent, metric="Finish-reason mix")
    table = [
        [baseline[k] for k in ("stop", "length", "content_filter")],
        [recent[k] for k in ("stop", "length", "content_filter")],
    ]
    assert row.p_value == pytest.approx(scipy_stats.chi2_contingency(table, correction=False).pvalue, rel=1e-12)
    assert row.verdict == "distributions differ"
    # The values are the shares of the category that moved most: "stop", 300/350 → 200/302.
    assert (row.a, row.b) == pytest.approx((300 / 350, 200 / 302))
    assert "'stop'" in row.method
    small = stats.category_test({"stop": 10}, {"stop": 50}, metric="Finish-reason mix")
    assert small.verdict.startswith("not enough data (needs ≥ 30 calls") and small.p_value is None


def test_series_frame_is_one_row_per_time_and_series() -> None:
    from otel_llmperf.report.frames import series_frame
    from otel_llmperf.report.prom import Series

    by = ("gen_ai_provider_name", "gen_ai_request_model", "llmperf_variant", "gen_ai_evaluation_name")
    labels = {"gen_ai_provider_name": "openai", "gen_ai_evaluation_name": "qa"}
    series = [
        Series({**labels, "gen_ai_request_model": "m2", "llmperf_variant": "b"}, [(20.0, 0.5), (10.0, math.nan)]),
        Series({**labels, "gen_ai_request_model": "m1"}, [(10.0, 1.0)]),
    ]
    frame = series_frame(series, by)
    assert list(frame.columns) == ["time", "unix_time", "provider", "model", "variant", "evaluation", "value"]
    assert list(frame["model"]) == ["m1", "m2", "m2"] and list(frame["variant"]) == ["", "b", "b"]
    assert list(frame["unix_time"]) == [10.0, 10.0, 20.0]
    assert math.isnan(frame["value"][1]) and frame["value"][2] == 0.5
    assert str(frame["time"][2]) == "1970-01-01 00:00:20+00:00"
    assert series_frame([], by).empty
