# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf report`` end to end, as a user runs it, against a real Prometheus filled by the demo.

Two demos run side by side, scraped as two jobs: in ``differ`` variant b answers more concisely
(shorter calls) and is liked much more (``--b-lift 0.25``); in ``same`` the variants are
identical (``--ab identical``). Both are stopped before any report runs, and every report names
the same ``--end``, so each report reads exactly the same data.

The ``same`` report runs at ``--alpha 0.01``: Holm keeps the chance of calling any difference
between identical variants at or below 1 % per run (the demo's timing is real, so its data are not
bit-for-bit repeatable). The ``differ`` report must find the built-in differences every run; its
weakest one is the thumbs-up ratio, so it is sized for power (see DIFFER_ALPHA).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import Process, binary, child_env, console_script, free_port

FILL_SECONDS = 75.0
RANGE = "100s"
STEP = "5s"
WINDOW = "15s"
SEED = "11"
# Power of the differ report's thumbs-up row (Fisher's exact test, then Holm over its ~20 tested rows,
# taken as the worst case: thumbs ranked first, p compared with alpha / 20). Variant a is liked
# ~76 % of the time (the chat models' users.SATISFACTION mix), b ~99 % (+0.25, capped at 100 %).
# At the default --feedback-rate (0.35, half of it thumbs) the slowest CI run had ~60 thumbs per
# variant: at alpha 0.01 that misses about 1 run in 2 (and did, with a = 51/58). The differ demo
# runs with --feedback-rate 1 (2.9x the thumbs: ~170 per variant at that same slow rate) and its
# report at alpha 0.05: a miss is then ~5e-4 (6e-4 with 25 rows; 2.3e-3 should a be liked 88 %,
# as in that run). Figures: scipy's fisher_exact summed over both variants' binomial outcomes.
# A b liked no more than a still fails the test (b called better by chance: < 2.5 %).
DIFFER_ALPHA = "0.05"
SAME_ALPHA = "0.01"
PUBLIC_URL = "https://example.org/llm-report/"  # only written into the page, never fetched


@dataclass
class Filled:
    """A Prometheus holding both demos' series, and the fixed end of every report."""

    url: str
    end: float
    work: Path

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        params = urllib.parse.urlencode({"query": expr, "time": at if at is not None else self.end})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=30) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query's result matrix."""
        params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{params}", timeout=30) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def report(
        self, out: Path, *args: str, job: str | None = None, alpha: str = SAME_ALPHA
    ) -> subprocess.CompletedProcess[str]:
        """Run ``otel-llmperf report`` on this Prometheus, for the fixed period."""
        argv = [console_script(), "report", "--prometheus", self.url, "--range", RANGE, "--step", STEP]
        argv += ["--window", WINDOW, "--end", str(self.end), "--out", str(out), "--seed", "3", "--alpha", alpha]
        if job is not None:
            argv += ["--job", job]
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=300, env=child_env(), cwd=self.work
        )


@pytest.fixture(name="filled", scope="module")
def fixture_filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    prometheus = binary("prometheus")
    work = tmp_path_factory.mktemp("report")
    differ_port, same_port, prometheus_port = free_port(), free_port(), free_port()
    (work / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "differ", "static_configs": [{"targets": [f"127.0.0.1:{differ_port}"]}]},
                    {"job_name": "same", "static_configs": [{"targets": [f"127.0.0.1:{same_port}"]}]},
                ],
            }
        )
    )
    demo = [console_script(), "demo", "--rps", "22", "--refresh", "3600", "--seed", SEED]
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
        started = time.monotonic()
        processes.append(
            Process(
                [
                    *demo,
                    "--metrics-port",
                    str(differ_port),
                    "--ab",
                    "concise",
                    "--b-lift",
                    "0.25",
                    "--feedback-rate",
                    "1",
                ],
                work / "differ.log",
                child_env(),
            )
        )
        processes.append(
            Process([*demo, "--metrics-port", str(same_port), "--ab", "identical"], work / "same.log", child_env())
        )
        time.sleep(max(0.0, FILL_SECONDS - (time.monotonic() - started)))
        for process in processes[1:]:
            process.stop()
        time.sleep(2)  # the last scrapes of the stopped demos are in
        yield Filled(f"http://127.0.0.1:{prometheus_port}", float(int(time.time())), work)
    finally:
        for process in reversed(processes):
            process.stop()


@pytest.fixture(name="differ", scope="module")
def fixture_differ(filled: Filled) -> Path:
    out = filled.work / "differ-report"
    result = filled.report(
        out,
        "--compare-variants",
        "a,b",
        "--creator",
        "Example Org",
        "--url",
        PUBLIC_URL,
        job="differ",
        alpha=DIFFER_ALPHA,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(name="same", scope="module")
def fixture_same(filled: Filled) -> Path:
    out = filled.work / "same-report"
    result = filled.report(out, "--compare-variants", "a,b", job="same")
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts: list[tuple[str | None, str]] = []
        self._script: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "img" and attributes.get("src"):
            self.images.append(str(attributes["src"]))
        if tag == "a" and attributes.get("href"):
            self.links.append(str(attributes["href"]))
        if tag == "script":
            self._in_script = True
            self._script = attributes.get("type")
            self.scripts.append((self._script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            kind, text = self.scripts[-1]
            self.scripts[-1] = (kind, text + data)


def _page(folder: Path) -> _Page:
    page = _Page()
    page.feed((folder / "index.html").read_text(encoding="utf-8"))
    return page


def _significant(row: dict[str, str]) -> bool:
    return row["better"] in ("a", "b") or row["verdict"] in ("b higher", "b lower")


def _comparisons(folder: Path) -> dict[str, dict[str, str]]:
    return {row["metric"]: row for row in _rows(folder / "comparison.csv")}


@pytest.mark.prometheus
def test_the_report_finds_the_difference_built_into_the_variants(differ: Path) -> None:
    rows = _comparisons(differ)
    # b gives 60 % of the answer tokens: its calls are shorter, and users like it 25 points more.
    duration = rows["Duration distribution"]
    assert _significant(duration), duration
    assert duration["better"] == "b" and float(duration["difference"]) < 0
    p50 = rows["Duration p50"]
    assert p50["better"] == "b" and float(p50["ci_high"]) < 0, p50
    thumbs = rows["Thumbs-up ratio"]
    assert thumbs["better"] == "b" and float(thumbs["ci_low"]) > 0, thumbs
    # Every test states its method, and the minimum sizes are part of the report.
    assert all(row["method"] for row in rows.values())
    assert "not enough data" in (differ / "index.html").read_text(encoding="utf-8") or all(
        row["verdict"] != "" for row in rows.values()
    )


@pytest.mark.prometheus
def test_identical_variants_show_no_difference_repeatably(filled: Filled, same: Path) -> None:
    rows = _comparisons(same)
    assert {"Duration distribution", "Duration p95", "Error rate", "Thumbs-up ratio"} <= set(rows)
    called = {metric: row["verdict"] for metric, row in rows.items() if _significant(row)}
    assert called == {}
    # Same data, same seed: the very same numbers.
    again = filled.work / "same-again"
    result = filled.report(again, "--compare-variants", "a,b", job="same")
    assert result.returncode == 0, result.stderr
    assert (again / "comparison.csv").read_text() == (same / "comparison.csv").read_text()


@pytest.mark.prometheus
def test_every_plot_exists_is_an_image_and_is_on_the_page(differ: Path) -> None:
    from PIL import Image

    page = _page(differ)
    queries = json.loads((differ / "queries.json").read_text())
    plotted = [name for name, query in queries.items() if "step" in query]
    assert len(plotted) >= 15  # volume, errors, latency, TTFC, tokens, cost, satisfaction, accuracy
    assert len(page.images) >= len(plotted)
    for image in page.images:
        with Image.open(differ / image) as png:
            assert png.format == "PNG"
            assert png.width >= 600 and png.height >= 250
    for name in [*plotted, "totals.csv", "slos.csv", "comparison.csv", "summary.json", "queries.json"]:
        assert name in page.links, f"{name} is not linked from index.html"


@pytest.mark.prometheus
def test_every_csv_holds_what_prometheus_returns(filled: Filled, differ: Path) -> None:
    queries = json.loads((differ / "queries.json").read_text())
    checked = 0
    for name, query in queries.items():
        if "step" not in query:
            continue
        result = filled.query_range(query["expr"], query["start"], query["end"], query["step"])
        expected = {}
        for series in result:
            labels = tuple(sorted((key, value) for key, value in series["metric"].items() if key != "__name__"))
            for stamp, value in series["values"]:
                expected[(labels, float(stamp))] = float(value)
        got = {}
        for row in _rows(differ / name):
            labels = tuple(
                sorted((key, value) for key, value in row.items() if key not in ("time", "unix_time", "value"))
            )
            got[(labels, float(row["unix_time"]))] = float(row["value"])
        assert got.keys() == expected.keys(), name
        for key, value in expected.items():
            # Prometheus sums in map order, so a re-run may differ in the last bit of a float.
            assert got[key] == pytest.approx(value, rel=1e-12, nan_ok=True), (name, key)
        checked += 1
    assert checked >= 15

    # totals.csv: each key's rows are the instant query's result at the end of the range.
    totals: dict[str, dict[tuple[str, ...], float]] = {}
    for row in _rows(differ / "totals.csv"):
        labels = (row["gen_ai_provider_name"], row["gen_ai_request_model"], row["labels"])
        totals.setdefault(row["key"], {})[labels] = float(row["value"])
    instant = {name.split("#", 1)[1]: query for name, query in queries.items() if name.startswith("totals.csv#")}
    assert {"calls", "duration_p95", "ttfc_p95", "cost", "thumbs_up_ratio", "evaluation_accuracy"} <= set(instant)
    for key, query in instant.items():
        expected = {}
        for sample in filled.query(query["expr"], query["at"]):
            labels = dict(sample["metric"])
            provider, model = labels.pop("gen_ai_provider_name", ""), labels.pop("gen_ai_request_model", "")
            extra = ",".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
            expected[(provider, model, extra)] = float(sample["value"][1])
        got = totals.get(key, {})
        assert got.keys() == expected.keys(), key
        for labels, value in expected.items():
            assert got[labels] == pytest.approx(value, rel=1e-12, nan_ok=True), (key, labels)


@pytest.mark.prometheus
def test_queries_json_has_the_queries_of_every_csv(filled: Filled, differ: Path) -> None:
    queries = json.loads((differ / "queries.json").read_text())
    files = {name.split("#", 1)[0] for name in queries}
    written = {path.relative_to(differ).as_posix() for path in differ.rglob("*.csv")}
    assert {"totals.csv", "slos.csv", "comparison.csv"} <= written
    assert written - files == set(), "CSVs without their queries in queries.json"
    # slos.csv: the good and total columns of each SLO are its two queries' results, summed over its groups.
    rows = _rows(differ / "slos.csv")
    assert rows
    for name in {row["slo"] for row in rows}:
        for column in ("good", "total"):
            query = queries[f"slos.csv#{name}/{column}"]
            expected = sum(float(sample["value"][1]) for sample in filled.query(query["expr"], query["at"]))
            got = sum(float(row[column]) for row in rows if row["slo"] == name)
            assert got == pytest.approx(expected, rel=1e-9), (name, column)
    # comparison.csv: the calls both variants made are the "calls" query's result.
    calls = queries["comparison.csv#calls"]
    by_variant = {s["metric"].get("llmperf_variant"): float(s["value"][1]) for s in filled.query(calls["expr"])}
    error_rate = _comparisons(differ)["Error rate"]
    assert (int(error_rate["n_a"]), int(error_rate["n_b"])) == (round(by_variant["a"]), round(by_variant["b"]))


# Four published figures, recomputed straight from Prometheus with PromQL written here, not the report's.
INDEPENDENT = {
    "duration_p95": "histogram_quantile(0.95, sum by (le) (increase("
    "gen_ai_client_operation_duration_seconds_bucket{{{sel}}}[{range}])))",
    "ttfc_p95": "histogram_quantile(0.95, sum by (le) (increase("
    "gen_ai_client_operation_time_to_first_chunk_seconds_bucket{{{sel}}}[{range}])))",
    "thumbs_up_ratio": "sum(increase(llmperf_feedback_total{{{sel},llmperf_feedback_label='up',"
    "llmperf_feedback_kind='thumbs'}}[{range}])) / sum(increase(llmperf_feedback_total{{{sel},"
    "llmperf_feedback_kind='thumbs'}}[{range}]))",
    # Binary evaluations: (tp + tn) / all. Multi-class ones (classes=...): every sample is one tp or
    # fn of its expected class, so accuracy = tp / (tp + fn) summed over the classes.
    "evaluation_accuracy": "sum(increase(llmperf_evaluation_outcome_total{{{sel},llmperf_evaluation_outcome=~'tp|tn',"
    "llmperf_evaluation_class=''}}[{range}])) / sum(increase(llmperf_evaluation_outcome_total{{{sel},"
    "llmperf_evaluation_class=''}}[{range}])) or sum(increase(llmperf_evaluation_outcome_total{{{sel},"
    "llmperf_evaluation_outcome='tp',llmperf_evaluation_class!=''}}[{range}])) / sum(increase("
    "llmperf_evaluation_outcome_total{{{sel},llmperf_evaluation_outcome=~'tp|fn',llmperf_evaluation_class!=''}}[{range}]))",
}


@pytest.mark.prometheus
def test_the_published_summary_matches_prometheus(filled: Filled, differ: Path) -> None:
    page = _page(differ)
    (document,) = [json.loads(text) for kind, text in page.scripts if kind == "application/ld+json"]
    assert document["@context"] == "https://schema.org" and document["@type"] == "Dataset"
    assert document["name"] and document["description"]
    assert document["creator"] == {"@type": "Organization", "name": "Example Org"}
    assert document["url"] == PUBLIC_URL
    downloads = {item["contentUrl"] for item in document["distribution"]}
    assert PUBLIC_URL + "summary.json" in downloads and PUBLIC_URL + "totals.csv" in downloads
    _, _, end = document["temporalCoverage"].partition("/")
    assert end == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(filled.end // 5 * 5))
    summary = json.loads((differ / "summary.json").read_text())
    assert len(summary["variables"]) == len(document["variableMeasured"])

    compared: dict[str, int] = {}
    for variable in document["variableMeasured"]:
        kind = variable["propertyID"]
        if kind not in INDEPENDENT:
            continue
        qualifiers = {item["name"]: item["value"] for item in variable["valueReference"]}
        matchers = {
            "job": "differ",
            "gen_ai_provider_name": qualifiers.pop("gen_ai.provider.name"),
            "gen_ai_request_model": qualifiers.pop("gen_ai.request.model"),
            **qualifiers,  # e.g. the evaluation name of an accuracy figure
        }
        selector = ",".join(f"{key}='{value}'" for key, value in matchers.items())
        samples = filled.query(INDEPENDENT[kind].format(sel=selector, range=RANGE))
        assert len(samples) == 1, (variable, selector)
        (sample,) = samples
        expected = float(sample["value"][1]) * (100.0 if variable.get("unitCode") == "P1" else 1.0)
        # Published values carry 4 significant digits.
        assert variable["value"] == pytest.approx(expected, rel=1e-3), (variable["name"], selector)
        assert variable["unitCode"] == ("SEC" if kind.endswith("p95") else "P1")
        compared[kind] = compared.get(kind, 0) + 1
    assert set(compared) == set(INDEPENDENT), compared
    assert compared["duration_p95"] >= 8  # every chat model of every provider, and more


@pytest.mark.prometheus
def test_terminal_format_prints_tables_and_writes_nothing(filled: Filled) -> None:
    out = filled.work / "terminal-only"
    result = filled.report(out, "--format", "terminal", "--compare-variants", "a,b", job="differ")
    assert result.returncode == 0, result.stderr
    assert "gpt-4o-mini" in result.stdout and "claude-haiku-4-5" in result.stdout
    assert "Thumbs-up ratio" in result.stdout
    # The demo splits through assign(): the sample-ratio check has the demo's exposures to test.
    assert "demo-concise: exposures match the declared weights" in result.stdout
    assert not out.exists()


@pytest.mark.prometheus
def test_a_prometheus_without_our_series_is_named_clearly(filled: Filled) -> None:
    result = filled.report(filled.work / "empty", job="no-such-job")
    assert result.returncode == 1
    assert 'holds no otel-llmperf series matching {job=~"no-such-job"' in result.stderr
    assert "otel-llmperf series for the jobs: differ, same" in result.stderr  # where to look instead
    assert "Traceback" not in result.stderr


def test_an_unreachable_prometheus_is_named_clearly(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [console_script(), "report", "--prometheus", url, "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert result.returncode == 1
    assert f"cannot reach Prometheus at {url}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_without_the_report_extra_the_command_says_how_to_install_it() -> None:
    # A child interpreter where matplotlib cannot be imported, as without the extra.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from otel_llmperf.cli import main\n"
        "raise SystemExit(main(['report', '--prometheus', 'http://127.0.0.1:9']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "pip install numpy scipy matplotlib rich" in result.stderr and "matplotlib" in result.stderr


def test_bad_options_are_named() -> None:
    result = subprocess.run(
        [console_script(), "report", "--prometheus", "http://127.0.0.1:9", "--range", "forever"],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert result.returncode == 2
    assert "--range" in result.stderr
