# SPDX-License-Identifier: Apache-2.0
"""Rendering of ``otel-llmperf report``: plots, CSVs, queries.json, summary + JSON-LD, index.html, terminal.

The input is a :class:`ReportData` built by hand (the real catalog of panels, synthetic series with
gaps, NaN and infinities, a model named like an HTML tag), so every check compares the files with
values this test chose, never with the renderer's own output.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import random
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image  # with matplotlib, in the test extra: a missing extra fails here instead of skipping

from otel_llmperf.report import html, plots, terminal, transparency
from otel_llmperf.report.collect import PanelData, ReportData, SloResult, default_slo_spec, slo_queries
from otel_llmperf.report.compare import variant_queries
from otel_llmperf.report.prom import Series
from otel_llmperf.report.queries import MODEL, PROVIDER, Panel, Scope, panels, totals
from otel_llmperf.report.stats import Comparison
from otel_llmperf.version import __version__

END = 1_764_300_000.0  # 2025-11-28T03:20:00Z
HOSTILE = "<script>alert(1)</script>"
MODELS = [
    ("openai", "gpt-4o-mini", 0.8),
    ("openai", "gpt-4.1", 2.1),
    ("anthropic", "claude-haiku-4-5", 1.2),
    ("gcp.gemini", "gemini-2.5-flash", 1.0),
    ("aws.bedrock", "us.amazon.nova-lite-v1:0", 0.9),
    ("mistral_ai", "mistral-small-latest", 0.7),
    ("cohere", "command-r-plus-08-2024", 1.5),
    ("openai", HOSTILE, 0.5),
]
EXTRA_VALUES = {
    "error_type": ["429", "500", "RemoteProtocolError"],
    "gen_ai_token_type": ["input", "output"],
    "gen_ai_evaluation_name": ["groundedness"],
}
EMPTY_PANEL = "mean_rating"


def _value(panel: Panel, base: float, phase: float, rng: random.Random) -> float:
    """A plausible value of ``panel``'s unit around ``base``."""
    wave = 1 + 0.25 * math.sin(phase) + rng.uniform(-0.08, 0.08)
    by_unit = {
        "s": base * wave,
        "req/s": 3 * wave / base,
        "1": min(1.0, max(0.0, (0.03 if "error" in panel.key else 0.82) * wave)),
        "tokens/s": 120 * wave / base,
        "USD/h": 0.4 * wave * base,
        "score": 0.7 * wave,
        "NPS": 40 * math.sin(phase) + rng.uniform(-10, 10),
    }
    return by_unit.get(panel.unit, wave)


def make_series(panel: Panel, models: list[tuple[str, str, float]], start: float, end: float, step: float,
                seed: int) -> list[Series]:  # fmt: skip
    """Series of a panel: one per model (times extra label values), with a gap, a NaN and an infinity."""
    rng = random.Random(seed)
    extra = [label for label in panel.by if label not in (PROVIDER, MODEL)]
    combos: list[dict[str, str]] = [{}]
    for label in extra:
        combos = [{**combo, label: value} for combo in combos for value in EXTRA_VALUES.get(label, ["x"])]
    stamps = [start + i * step for i in range(int((end - start) // step) + 1)]
    out = []
    for index, (provider, model, base) in enumerate(models):
        for combo in combos:
            points = []
            for j, t in enumerate(stamps):
                if index == 1 and len(stamps) // 3 <= j < len(stamps) // 2:
                    continue  # a restart: Prometheus returns no point for these steps
                points.append((t, _value(panel, base, j / 40 + index, rng)))
            if index == 2 and len(points) > 10:
                points[5] = (points[5][0], math.nan)  # 0/0 of a ratio in a window without calls
                points[7] = (points[7][0], math.inf)  # a quantile in the +Inf bucket
            out.append(Series({PROVIDER: provider, MODEL: model, **combo}, points))
    rng.shuffle(out)  # the CSV must sort them itself
    return out


def make_data(span: float = 6 * 3600, step: float = 60, models: list[tuple[str, str, float]] | None = None,
              comparison: bool = True) -> ReportData:  # fmt: skip
    """A report over ``span`` seconds ending at END, with every panel of the real catalog."""
    models = MODELS if models is None else models
    scope = Scope(job=None, window="5m")
    start = END - span
    panel_data = [
        PanelData(panel, [] if panel.key == EMPTY_PANEL else make_series(panel, models, start, END, step, seed=i))
        for i, panel in enumerate(panels(scope))
    ]
    totals_: dict[str, list[Series]] = {}
    for i, panel in enumerate(totals(scope, "6h")):
        rng = random.Random(100 + i)
        rows = make_series(panel, models, END, END, 1, seed=100 + i)
        # Totals are instant results: one point at END; values chosen per model, some NaN (no feedback).
        totals_[panel.key] = [
            Series(s.labels, [(END, rng.uniform(0.05, 0.95) if panel.unit in ("1", "s") else rng.uniform(1, 5000))])
            for s in rows
        ]
    slos = [
        SloResult("chat-duration", "Chat calls complete within 10.24 s", 10.24, 0.99, {"job": "demo"},
                  9870.0, 10000.0, 0.987, 1.3),
        SloResult("chat-time-to-first-chunk", "First chunk within 2.56 s", 2.56, 0.99, {"job": "demo"},
                  5000.0, 5000.0, 1.0, 0.0),
        SloResult("chat-duration", "Chat calls complete within 10.24 s", 10.24, 0.99, {"job": "idle"},
                  0.0, 0.0, None, None),
    ]  # fmt: skip
    comparisons = [
        Comparison("Error rate", "1", 0.02, 0.05, 4000, 4100, 0.03, (0.021, 0.039), 1e-9, 1e-8,
                   "two-proportion z-test (pooled), Newcombe hybrid-score CI", "b higher", "a"),
        Comparison("Duration p95", "s", 1.9, 1.2, 4000, 4100, -0.7, (-0.9, -0.5), 0.0005, 0.004,
                   "parametric bootstrap of bucket counts", "b lower", "b"),
        Comparison("Thumbs-up ratio", "1", 0.81, 0.82, 900, 880, 0.01, (-0.02, 0.04), 0.52, 1.0,
                   "two-proportion z-test (pooled), Newcombe hybrid-score CI", "no significant difference", None),
        Comparison("NPS", "NPS", 30.0, 34.0, 12, 15, 4.0, None, None, None, "multinomial z-test",
                   "not enough data (needs ≥ 30 answers per variant, has a: 12, b: 15)", None),
        Comparison("Cost per call", "USD", 0.0021, 0.0019, 4000, 4100, -0.0002, None, None, None,
                   "no test: Prometheus keeps only the sum", "not tested", None),
    ]  # fmt: skip
    return ReportData(
        prometheus="http://user:secret@127.0.0.1:9090/prom",
        job=None,
        start=start,
        end=END,
        step=step,
        window="5m",
        range_="6h",
        panels=panel_data,
        totals=totals_,
        slos=slos,
        comparison=comparisons if comparison else None,
        slo_spec=default_slo_spec(),
    )


@pytest.fixture(scope="module", name="report")
def fixture_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReportData, Path, float]]:
    data = make_data()
    out = tmp_path_factory.mktemp("report")
    began = time.monotonic()
    html.write_report(data, out, name="Demo LLM performance", description=f"Demo {HOSTILE} traffic", creator="ACME")
    yield data, out, time.monotonic() - began


class Page(HTMLParser):
    """Every tag with its attributes, the text, and the content of each script element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        else:
            self.text.append(data)


def _page(out: Path) -> Page:
    page = Page()
    page.feed((out / "index.html").read_text(encoding="utf-8"))
    page.close()
    return page


def _jsonld(out: Path) -> dict[str, Any]:
    scripts = _page(out).scripts
    assert [attrs.get("type") for attrs, _ in scripts] == ["application/ld+json"]
    document: dict[str, Any] = json.loads(scripts[0][1])
    return document


# --- plots -----------------------------------------------------------------------------------------


def _colours(path: Path) -> set[tuple[int, int, int]]:
    with Image.open(path) as image:
        return {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}


def test_every_panel_has_a_png_of_the_expected_size(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    tab10_blue = (31, 119, 180)  # the first line colour, independent of the code under test
    for panel_data in data.panels:
        path = out / "plots" / f"{panel_data.panel.key}.png"
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
        lines = len({tuple(sorted(s.labels.items())) for s in panel_data.series})
        assert width == 900, panel_data.panel.key
        # A legend of more than 6 series goes below the plot: taller, never narrower.
        assert height == 420 if lines <= 6 else height > 420, (panel_data.panel.key, lines, height)
        if panel_data.panel.key == EMPTY_PANEL:
            assert tab10_blue not in _colours(path), "an empty panel draws no line"
        else:
            assert tab10_blue in _colours(path), f"{panel_data.panel.key}: no line drawn"


def test_empty_and_all_nan_panels_still_get_an_image(tmp_path: Path) -> None:
    panel = Panel("p", "latency", "Duration p95", "s", "x", (PROVIDER, MODEL))
    nan_only = [Series({PROVIDER: "a", MODEL: "m"}, [(END, math.nan), (END + 60, math.nan)])]
    for name, series in (("empty", []), ("nan", nan_only)):
        path = plots.plot_panel(PanelData(panel, series), tmp_path / f"{name}.png")
        with Image.open(path) as image:
            assert image.size == (900, 420)


@pytest.mark.parametrize("span", [60, 3600, 86400, 7 * 86400, 30 * 86400])
def test_time_axis_labels_fit_every_range(tmp_path: Path, span: int) -> None:
    import matplotlib.pyplot as plt

    step = max(1, span // 300)
    data = make_data(span=span, step=step, models=MODELS[:2], comparison=False)
    panel_data = next(p for p in data.panels if p.panel.key == "duration_p95")
    # Capture the figure before it is closed, to read its tick labels.
    figures: list[Any] = []
    original = plt.close
    try:
        plt.close = lambda fig=None: figures.append(fig)  # type: ignore[assignment]
        plots.plot_panel(panel_data, tmp_path / "p.png", start=data.start, end=data.end)
    finally:
        plt.close = original
    figure = figures[0]
    figure.canvas.draw()
    ax = figure.axes[0]
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert 3 <= len(labels) <= 10, [t.get_text() for t in labels]
    boxes = [t.get_window_extent() for t in labels]
    assert all(a.x1 <= b.x0 for a, b in itertools.pairwise(boxes)), "tick labels overlap"
    assert ax.get_xlabel() == "time (UTC)" and ax.get_ylabel() == "seconds"
    original(figure)


def test_gaps_break_the_line_and_infinities_are_not_drawn() -> None:
    points = [(0.0, 1.0), (60.0, 2.0), (120.0, math.inf), (600.0, 4.0), (660.0, 5.0)]
    times, values = plots._with_gaps(points, 60.0)
    # 5 points + one NaN between 120 and 600 (a skipped stretch); the infinity becomes NaN too.
    assert len(values) == 6
    assert [math.isnan(v) for v in values] == [False, False, True, True, False, False]
    assert times == sorted(times)
    assert plots._isolated([math.nan, 1.0, math.nan, 2.0, 3.0]) == [1]


def test_ratio_panels_use_a_percent_axis(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    panel = Panel("r", "traffic", "Error rate", "1", "x", (PROVIDER, MODEL))
    series = [Series({PROVIDER: "p", MODEL: "m"}, [(END + 60 * i, 0.25) for i in range(10)])]
    figures: list[Any] = []
    original = plt.close
    try:
        plt.close = lambda fig=None: figures.append(fig)  # type: ignore[assignment]
        plots.plot_panel(PanelData(panel, series), tmp_path / "r.png")
    finally:
        plt.close = original
    ax = figures[0].axes[0]
    assert ax.yaxis.get_major_formatter()(0.25, 0) in ("25%", "25.0%")
    assert ax.get_ylim()[0] == 0
    original(figures[0])


def test_a_label_starting_with_an_underscore_is_in_the_legend(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    panel = Panel("t", "satisfaction", "Thumbs-up ratio", "1", "x", (PROVIDER, MODEL))
    # Feedback for calls the process no longer knows is counted under model "_unknown".
    series = [Series({PROVIDER: p, MODEL: m}, [(END, 0.5), (END + 60, 0.6)]) for p, m in
              (("_unknown", "_unknown"), ("openai", "gpt-4o-mini"))]  # fmt: skip
    figures: list[Any] = []
    original = plt.close
    try:
        plt.close = lambda fig=None: figures.append(fig)  # type: ignore[assignment]
        plots.plot_panel(PanelData(panel, series), tmp_path / "t.png")
    finally:
        plt.close = original
    legend = figures[0].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["_unknown / _unknown", "openai / gpt-4o-mini"]
    original(figures[0])


def test_comparison_plot(report: tuple[ReportData, Path, float], tmp_path: Path) -> None:
    _, out, _ = report
    with Image.open(out / "plots" / "comparison.png") as image:
        assert image.format == "PNG" and image.size[0] == 900
    nothing = Comparison("x", "s", None, None, 0, 0, None, None, None, None, "m", "not enough data", None)
    assert plots.plot_comparison([nothing], tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()


# --- CSV and queries.json --------------------------------------------------------------------------


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_csv_rows_equal_the_series(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    for panel_data in data.panels:
        by = panel_data.panel.by
        with (out / "data" / f"{panel_data.panel.key}.csv").open(newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))
        assert rows[0] == ["time", "unix_time", *by, "value"]
        expected = sorted(
            (tuple(s.labels[k] for k in by), t, v) for s in panel_data.series for t, v in s.points
        )  # fmt: skip
        got = [(tuple(row[2:-1]), float(row[1]), float(row[-1])) for row in rows[1:]]
        assert [g[:2] for g in got] == [e[:2] for e in expected], "rows sorted by labels, then time"
        assert all(_same(g[2], e[2]) for g, e in zip(got, expected, strict=True))
        for row in rows[1:]:
            assert row[0] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(row[1])))
            assert row[-1] not in ("nan", "inf"), "NaN and +Inf are spelt as Prometheus does"
        if panel_data.series and any(math.isnan(v) for s in panel_data.series for _, v in s.points):
            assert "NaN" in {row[-1] for row in rows[1:]}


def test_totals_csv_equals_the_totals(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    with (out / "totals.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    got = {(r["key"], r[PROVIDER], r[MODEL], r["labels"]): float(r["value"]) for r in rows}
    expected = {}
    for key, series in data.totals.items():
        for s in series:
            extra = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()) if k not in (PROVIDER, MODEL))
            expected[(key, s.labels[PROVIDER], s.labels[MODEL], extra)] = s.points[0][1]
    assert got == expected


def test_slos_and_comparison_csv(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    with (out / "slos.csv").open(newline="", encoding="utf-8") as file:
        slos = list(csv.DictReader(file))
    assert [(r["slo"], r["job"], r["good"], r["total"], r["attainment"]) for r in slos] == [
        ("chat-duration", "demo", "9870.0", "10000.0", "0.987"),
        ("chat-time-to-first-chunk", "demo", "5000.0", "5000.0", "1.0"),
        ("chat-duration", "idle", "0.0", "0.0", ""),
    ]
    with (out / "comparison.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [r["metric"] for r in rows] == [c.metric for c in data.comparison or []]
    first = rows[0]
    assert (float(first["ci_low"]), float(first["ci_high"]), float(first["p_adjusted"])) == (0.021, 0.039, 1e-8)
    assert rows[3]["ci_low"] == "" and rows[3]["p_value"] == ""


def test_queries_json_names_every_query(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    recorded = json.loads((out / "queries.json").read_text(encoding="utf-8"))
    for panel_data in data.panels:
        entry = recorded[f"data/{panel_data.panel.key}.csv"]
        assert entry == {"expr": panel_data.panel.expr, "start": data.start, "end": data.end, "step": data.step}
    for panel in totals(Scope(job=None, window="5m"), "6h"):
        assert recorded[f"totals.csv#{panel.key}"] == {"expr": panel.expr, "at": data.end}
    for slo in default_slo_spec().slos:
        good, total = slo_queries(slo, Scope(job=None, window="5m"), "6h")
        assert recorded[f"slos.csv#{slo.name}/good"] == {"expr": good, "at": data.end}
        assert recorded[f"slos.csv#{slo.name}/total"] == {"expr": total, "at": data.end}
    ab = {name.split("#", 1)[1]: entry for name, entry in recorded.items() if name.startswith("comparison.csv#")}
    assert ab == {
        title: {"expr": expr, "at": data.end}
        for title, expr in variant_queries(Scope(job=None, window="5m"), "6h", default_slo_spec()).items()
    }


def test_queries_json_covers_every_csv_written(report: tuple[ReportData, Path, float]) -> None:
    _, out, _ = report
    recorded = json.loads((out / "queries.json").read_text(encoding="utf-8"))
    files = {name.split("#", 1)[0] for name in recorded}
    written = {path.relative_to(out).as_posix() for path in out.rglob("*.csv")}
    assert {"totals.csv", "slos.csv", "comparison.csv"} <= written
    assert written - files == set(), "CSVs without their queries in queries.json"
    assert files - written == set(), "queries.json names files the report did not write"
    # Every SLO of slos.csv has both of its queries.
    with (out / "slos.csv").open(newline="", encoding="utf-8") as file:
        names = {row["slo"] for row in csv.DictReader(file)}
    assert {f"slos.csv#{name}/{part}" for name in names for part in ("good", "total")} <= set(recorded)


# --- summary.json and JSON-LD ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0123456, 0.01235), (123456.0, 123500.0), (1.0, 1.0), (-2.71828, -2.718), (0.0, 0.0), (99.99999, 100.0)],
)
def test_significant_digits(value: float, expected: float) -> None:
    assert transparency.significant(value) == expected


def test_jsonld_is_a_dataset_with_the_totals(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    document = _jsonld(out)
    assert document["@context"] == "https://schema.org" and document["@type"] == "Dataset"
    assert document["name"] == "Demo LLM performance"
    assert HOSTILE in document["description"] and "4 significant digits" in document["description"]
    utc = "%Y-%m-%dT%H:%M:%SZ"
    assert document["temporalCoverage"] == f"{time.strftime(utc, time.gmtime(END - 6 * 3600))}/2025-11-28T03:20:00Z"
    assert document["creator"] == {"@type": "Organization", "name": "ACME"}
    measured = document["variableMeasured"]
    index = {}
    for entry in measured:
        assert entry["@type"] == "PropertyValue"
        refs = {ref["name"]: ref["value"] for ref in entry["valueReference"]}
        index[(entry["propertyID"], refs["gen_ai.provider.name"], refs["gen_ai.request.model"],
               refs.get("gen_ai_evaluation_name"))] = entry  # fmt: skip
    wanted = {"duration_p95": ("SEC", 1.0), "ttfc_p95": ("SEC", 1.0), "thumbs_up_ratio": ("P1", 100.0),
              "evaluation_accuracy": ("P1", 100.0)}  # fmt: skip
    checked = 0
    for key, (code, factor) in wanted.items():
        for s in data.totals[key]:
            entry = index[(key, s.labels[PROVIDER], s.labels[MODEL], s.labels.get("gen_ai_evaluation_name"))]
            assert entry["unitCode"] == code
            assert entry["value"] == pytest.approx(s.points[0][1] * factor, rel=5e-4)
            assert s.labels[MODEL] in entry["name"]
            checked += 1
    assert checked == 4 * len(MODELS)


def test_summary_json_matches_the_jsonld(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["generator"] == {"name": "otel-llmperf", "version": __version__}
    assert summary["period"]["range"] == "6h" and summary["job"] is None
    raw = {(v["key"], v["model"]): v["prometheus_value"] for v in summary["variables"] if not v["labels"]}
    for s in data.totals["duration_p50"]:
        assert raw[("duration_p50", s.labels[MODEL])] == s.points[0][1]
    # Published: the figures a transparency page is read for; the rest stays in totals.csv.
    keys = {v["key"] for v in summary["variables"]}
    assert {"duration_p95", "ttfc_p95", "thumbs_up_ratio", "evaluation_accuracy"} <= keys
    assert "duration_p99" not in keys and "tokens_input" not in keys
    assert [slo["attainment"] for slo in summary["slos"]] == [0.987, 1.0, None]
    assert transparency.dataset_jsonld(summary)["variableMeasured"] == _jsonld(out)["variableMeasured"]


def test_non_finite_totals_are_left_out(tmp_path: Path) -> None:
    data = make_data(span=600, models=MODELS[:1], comparison=False)
    data.totals["duration_p95"] = [Series({PROVIDER: "openai", MODEL: "gpt-4o-mini"}, [(END, math.nan)])]
    summary = transparency.summary(data, "n", "d", "c")
    assert not [v for v in summary["variables"] if v["key"] == "duration_p95"]
    transparency.dumps(summary)  # strict JSON: would raise on a NaN


# --- index.html ------------------------------------------------------------------------------------


def test_html_is_self_contained(report: tuple[ReportData, Path, float]) -> None:
    _, out, _ = report
    page = _page(out)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"link", "iframe", "object", "embed", "base", "form"}
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src") and value is not None:
                assert "://" not in value and not value.startswith("//"), (tag, value)
                if not value.startswith("#"):
                    assert (out / value).is_file(), f"{value} is linked but not written"
    text = (out / "index.html").read_text(encoding="utf-8")
    assert "url(" not in text and "@import" not in text
    assert "secret" not in text, "credentials in the Prometheus URL are never shown"
    ids = {attrs.get("id") for _, attrs in page.tags}
    anchors = [attrs["href"] for tag, attrs in page.tags if tag == "a" and (attrs.get("href") or "").startswith("#")]
    assert anchors and all(a is not None and a[1:] in ids for a in anchors)


def test_html_links_every_image_and_csv(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    page = _page(out)
    images = {attrs.get("src") for tag, attrs in page.tags if tag == "img"}
    links = {attrs.get("href") for tag, attrs in page.tags if tag == "a"}
    for panel_data in data.panels:
        assert f"plots/{panel_data.panel.key}.png" in images
        assert f"data/{panel_data.panel.key}.csv" in links
    assert "plots/comparison.png" in images
    assert {"totals.csv", "slos.csv", "comparison.csv", "queries.json", "summary.json"} <= links


def test_html_escapes_names(report: tuple[ReportData, Path, float]) -> None:
    _, out, _ = report
    raw = (out / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in raw
    page = _page(out)
    assert len(page.scripts) == 1
    assert any(HOSTILE in chunk for chunk in page.text), "the name is shown, as text"


def test_jsonld_cannot_close_its_script(tmp_path: Path) -> None:
    data = make_data(span=600, models=MODELS[:1], comparison=False)
    sneaky = "x</script><script>alert(1)</script><!--"
    summary = transparency.summary(data, sneaky, sneaky, sneaky)
    html.write_html(data, {}, transparency.dataset_jsonld(summary), tmp_path)
    assert len(_page(tmp_path).scripts) == 1
    assert _jsonld(tmp_path)["name"] == sneaky


def test_html_tables_show_the_figures(report: tuple[ReportData, Path, float]) -> None:
    data, out, _ = report
    text = " ".join(_page(out).text)
    p95 = data.totals["duration_p95"][0].points[0][1]  # seconds below 1: shown in ms, 3 significant digits
    assert f"{p95 * 1000:.3g} ms" in text
    assert "98.7 %" in text and "130 %" in text  # attainment and budget of the first SLO
    assert "b lower" in text and "(b is better)" in text
    assert "[+2.1 pp, +3.9 pp]" in text  # the error rate CI, in percentage points
    assert "not enough data (needs ≥ 30 answers per variant, has a: 12, b: 15)" in text
    assert "Methods" in text and "Holm" in text and f"otel-llmperf {__version__}" in text
    assert "(here 5m)" in text, "the methods name the rate window of this report"


def test_html_without_comparison_says_how_to_get_one(tmp_path: Path) -> None:
    data = make_data(span=600, models=MODELS[:1], comparison=False)
    html.write_html(data, {}, {"name": "r"}, tmp_path)
    text = " ".join(_page(tmp_path).text)
    assert "--compare-variants" in text and "comparison.csv" not in text


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.1234, "s", "123 ms"),
        (2.5, "s", "2.5 s"),
        (0.98765, "1", "98.77 %"),
        (-12.34, "NPS", "-12.3"),
        (1234.6, "calls", "1,235"),
        (12.3456, "USD", "$12.35"),
        (None, "s", "—"),
        (math.nan, "1", "—"),
    ],
)
def test_format_value(value: float | None, unit: str, expected: str) -> None:
    assert html.format_value(value, unit) == expected


# --- terminal --------------------------------------------------------------------------------------


def test_terminal_summary(report: tuple[ReportData, Path, float]) -> None:
    from rich.console import Console

    data, _, _ = report
    marked = Series({PROVIDER: "openai", MODEL: "[bold]x[/bold]"}, [(END, 4321.0)])
    data = dataclasses.replace(data, totals={**data.totals, "calls": [marked, *data.totals["calls"]]})
    console = Console(record=True, width=400, color_system=None)
    terminal.print_summary(data, console)
    text = console.export_text()
    assert "4,321" in text and "[bold]x[/bold]" in text, "names are printed as text, not rich markup"
    assert HOSTILE in text and "gpt-4o-mini" in text
    assert "chat-duration" in text and "98.7 %" in text and "130 %" in text
    assert "b lower (b better)" in text and "b higher (a better)" in text
    table = terminal.comparison_rich_table(data)
    assert table is not None
    verdicts = list(table.columns[-1].cells)
    assert [v.style for v in verdicts[:3]] == ["bold red", "bold green", "dim"]  # type: ignore[union-attr]


@pytest.mark.parametrize("width", [80, 100, 160])
def test_terminal_tables_fit_the_console(report: tuple[ReportData, Path, float], width: int) -> None:
    from rich.console import Console

    data, _, _ = report
    console = Console(record=True, width=width, color_system=None)
    terminal.print_summary(data, console)
    text = console.export_text()
    assert "…" not in text, "no name or figure is cut"
    for _, model, _ in MODELS:
        assert model in text
    assert all(len(line.rstrip()) <= width for line in text.splitlines())
    # What does not fit is said, not silently dropped; at 160 columns everything fits.
    assert ("not shown at this width" in text) == (width < 160)
