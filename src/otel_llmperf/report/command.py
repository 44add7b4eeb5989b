# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf report``: options, the missing-extra message, and the order of the work.

Querying and statistics live in :mod:`collect` and :mod:`compare`, writing in :mod:`csvfiles`,
:mod:`plots`, :mod:`transparency` and :mod:`html`; this module only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from otel_llmperf.drift import DriftSpec, DriftSpecError
from otel_llmperf.report.periods import duration
from otel_llmperf.slo import SloSpec, SloSpecError, duration_seconds, load_spec

if TYPE_CHECKING:
    from otel_llmperf.report.collect import ReportData
    from otel_llmperf.report.periods import BaselineResult, Period
    from otel_llmperf.report.prom import Prometheus
    from otel_llmperf.report.queries import Scope

# What the report needs beyond the core package (the `report` extra), by import name.
EXTRA_MODULES = ("matplotlib", "scipy", "rich", "numpy", "pandas")
INSTALL_HINT = (
    "the report extra: pip install numpy scipy matplotlib rich pandas (or pip install '.[report]' in a checkout)"
)
FORMATS = ("html", "terminal", "both")
CREATOR_VARIABLE = "OTEL_PYTHON_LLMPERF_REPORT_CREATOR"
DEFAULT_OUT = "llmperf-report"
DEFAULT_SLO_FILE = Path("grafana/slo.yaml")
DEFAULT_BASELINE = "7d"


@dataclass(frozen=True)
class ReportOptions:
    """What the command line asked for."""

    prometheus: str
    range_: str = "7d"
    step: str = "5m"
    window: str | None = None  # None: the step, but at least 1m
    job: str | None = None
    out: Path = Path(DEFAULT_OUT)
    compare: tuple[str, str] | None = None
    format: str = "html"
    slo_file: Path | None = None
    drift_file: Path | None = None  # thresholds of --baseline; None: grafana/drift.yaml if present
    name: str = "LLM performance report"
    description: str | None = None
    creator: str | None = None
    url: str | None = None
    seed: int = 0
    alpha: float = 0.05
    end: float | None = None  # unix seconds; None: now
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    timeout: float = 30.0
    baseline: str | None = None  # offset of the baseline period (e.g. "7d"); None: no baseline unless start/end
    baseline_start: float | None = None
    baseline_end: float | None = None

    @property
    def wants_baseline(self) -> bool:
        """Whether a baseline comparison was asked for (by offset or by explicit start/end)."""
        return self.baseline is not None or self.baseline_start is not None or self.baseline_end is not None


class ReportUsageError(ValueError):
    """An option value the report cannot work with; the message names the option."""


def missing_extra() -> list[str]:
    """The modules of the ``report`` extra that cannot be imported here."""
    missing = []
    for module in EXTRA_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    return missing


def _seconds(text: str, option: str) -> float:
    try:
        seconds = duration_seconds(text, option)
    except SloSpecError:
        raise ReportUsageError(f"{option} {text!r} is not a Prometheus duration (e.g. 90s, 5m, 7d)") from None
    if seconds <= 0:
        raise ReportUsageError(f"{option} must be longer than 0, got {text!r}")
    return seconds


def _end_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither unix seconds nor an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _variants(text: str) -> tuple[str, str]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise argparse.ArgumentTypeError(f"expected two different variant names like a,b; got {text!r}")
    return parts[0], parts[1]


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 0.2:
        raise argparse.ArgumentTypeError(f"expected a significance level in (0, 0.2], got {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    from otel_llmperf.report.prom import parse_header

    try:
        return parse_header(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``otel-llmperf report``."""
    report = subparsers.add_parser(
        "report",
        help="write an HTML report with plots, CSVs, A/B statistics and a public summary from Prometheus",
        description="Query a Prometheus that scrapes (or receives OTLP from) otel-llmperf and write a "
        "self-contained report folder: index.html with plots and tables, the data behind every plot as CSV, "
        "summary.json and a schema.org Dataset JSON-LD block. Needs " + INSTALL_HINT,
    )
    add = report.add_argument
    add("--prometheus", required=True, metavar="URL", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    add("--range", dest="range_", default="7d", metavar="D", help="period to report, ending at --end (default: 7d)")
    add("--step", default="5m", metavar="D", help="resolution of the plots (default: 5m)")
    add("--window", default=None, metavar="D", help="rate() window of the plots (default: the step, at least 1m)")
    add("--end", type=_end_time, default=None, metavar="TIME", help="end of the period: unix seconds or ISO 8601")
    add("--job", default=None, metavar="REGEX", help="only series whose job label matches (default: every job)")
    add("--out", type=Path, default=Path(DEFAULT_OUT), metavar="DIR", help=f"report folder (default: {DEFAULT_OUT})")
    add("--compare-variants", dest="compare", type=_variants, default=None, metavar="A,B",
        help="compare two A/B variants (llmperf.variant) metric by metric, with tests and intervals")  # fmt: skip
    add("--format", choices=FORMATS, default="html", help="html folder (default), a terminal summary, or both")
    add("--slo", dest="slo_file", type=Path, default=None, metavar="FILE",
        help=f"SLO spec (default: {DEFAULT_SLO_FILE} if present, else the shipped SLOs)")  # fmt: skip
    add("--name", default="LLM performance report", help="title of the report and of the published dataset")
    add("--description", default=None, help="description of the published dataset")
    add("--creator", default=None,
        help=f"publisher of the summary (default: ${CREATOR_VARIABLE}, else $OTEL_SERVICE_NAME)")  # fmt: skip
    add("--url", default=None, help="public URL the folder will be published at (makes the JSON-LD links absolute)")
    add("--seed", type=int, default=0, help="seed of the bootstrap resampling (default: 0)")
    add("--alpha", type=_alpha, default=0.05, help="significance level of A/B verdicts, after Holm (default: 0.05)")
    add("--prometheus-header", dest="headers", type=_header, action="append", default=[], metavar="'N: V'",
        help="extra HTTP header for Prometheus (e.g. Authorization); repeatable")  # fmt: skip
    add("--timeout", type=float, default=30.0, metavar="S", help="seconds per Prometheus request (default: 30)")
    add("--baseline", nargs="?", const=DEFAULT_BASELINE, default=None, metavar="OFFSET",
        help="compare the range with the same range OFFSET earlier (default offset: 7d; e.g. 1d, 60s), "
        "flagging signals that shifted")  # fmt: skip
    add("--baseline-start", type=_end_time, default=None, metavar="TIME",
        help="start of an explicit baseline period (with --baseline-end; unix seconds or ISO 8601)")  # fmt: skip
    add("--baseline-end", type=_end_time, default=None, metavar="TIME", help="end of an explicit baseline period")
    add("--drift", dest="drift_file", type=Path, default=None, metavar="FILE",
        help="drift spec whose min_change a significant change must reach to be flagged shifted "
        "(default: grafana/drift.yaml if present, else the installed stack's)")  # fmt: skip


def options_from(args: argparse.Namespace) -> ReportOptions:
    """The parsed command line as :class:`ReportOptions`."""
    return ReportOptions(
        prometheus=args.prometheus,
        range_=args.range_,
        step=args.step,
        window=args.window,
        job=args.job,
        out=args.out,
        compare=args.compare,
        format=args.format,
        slo_file=args.slo_file,
        name=args.name,
        description=args.description,
        creator=args.creator,
        url=args.url,
        seed=args.seed,
        alpha=args.alpha,
        end=args.end,
        headers=tuple(args.headers),
        timeout=args.timeout,
        baseline=args.baseline,
        baseline_start=args.baseline_start,
        baseline_end=args.baseline_end,
        drift_file=args.drift_file,
    )


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``otel-llmperf report``; returns the exit code (1: Prometheus failed, 2: usage or missing extra)."""
    err = err or sys.stderr
    missing = missing_extra()
    if missing:
        print(
            f"otel-llmperf report needs {', '.join(missing)}, {INSTALL_HINT}",
            file=err,
        )
        return 2
    try:
        return make_report(options_from(args), out or sys.stdout, err)
    except ReportUsageError as error:
        print(f"otel-llmperf report: {error}", file=err)
        return 2


def _slo_spec(options: ReportOptions) -> SloSpec:
    from otel_llmperf.report.collect import default_slo_spec

    path = options.slo_file
    if path is None:
        if not DEFAULT_SLO_FILE.is_file():
            return default_slo_spec()
        path = DEFAULT_SLO_FILE
    try:
        return load_spec(path)
    except (OSError, SloSpecError) as error:
        raise ReportUsageError(f"--slo {path}: {error}") from None


def _drift_spec(options: ReportOptions) -> DriftSpec | None:
    from otel_llmperf.report.thresholds import drift_spec

    try:
        return drift_spec(options.drift_file)
    except DriftSpecError as error:
        raise ReportUsageError(f"--drift: {error}") from None


def _creator(options: ReportOptions) -> str:
    return options.creator or os.environ.get(CREATOR_VARIABLE) or os.environ.get("OTEL_SERVICE_NAME") or "unknown"


@contextmanager
def _progress(total: int, err: TextIO) -> Iterator[Callable[[str], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=err)
    columns = (
        TextColumn("querying Prometheus"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    # rich draws a live bar on a terminal and stays quiet elsewhere (CI logs, pipes).
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=total)

        def advance(title: str) -> None:
            progress.update(task, advance=1, description=title)

        yield advance


def make_report(options: ReportOptions, out: TextIO, err: TextIO) -> int:
    """Query Prometheus and write the report the options ask for."""
    from otel_llmperf.report.baseline import check_baseline
    from otel_llmperf.report.baseline import query_count as baseline_queries
    from otel_llmperf.report.collect import collect, query_count
    from otel_llmperf.report.compare import compare_variants
    from otel_llmperf.report.compare import query_count as compare_queries
    from otel_llmperf.report.periods import Period
    from otel_llmperf.report.prom import Prometheus, PrometheusError
    from otel_llmperf.report.queries import VARIANT, Scope
    from otel_llmperf.report.srm_section import QUERY_COUNT as srm_queries
    from otel_llmperf.report.srm_section import collect_srm
    from otel_llmperf.report.thresholds import min_changes

    range_seconds = _seconds(options.range_, "--range")
    step = _seconds(options.step, "--step")
    window = options.window or duration(max(step, 60.0))
    _seconds(window, "--window")
    range_ = duration(range_seconds)
    end = options.end if options.end is not None else time.time()
    # Align the end on the step, so reports of the same period line up with each other.
    end = math.floor(end / step) * step
    start = end - range_seconds
    slo_spec = _slo_spec(options)
    scope = Scope(options.job, window)
    baseline_period, baseline_option = _baseline_period(options, end, range_seconds)
    drift = _drift_spec(options) if baseline_period is not None else None
    try:
        prom = Prometheus(options.prometheus, timeout=options.timeout, headers=dict(options.headers))
        prom.check()
        if baseline_period is not None:
            # Before the long work: a baseline without data is a usage mistake, said at once.
            check_baseline(prom, scope, baseline_period, Period(start, end), baseline_option)
        total = query_count(scope, range_, slo_spec) + srm_queries
        if options.compare is not None:
            total += compare_queries(slo_spec)
        if baseline_period is not None:
            total += baseline_queries()
        with _progress(total, err) as advance:
            data = collect(prom, scope, start, end, step, range_, slo_spec, advance)
            data.srm = collect_srm(prom, scope, end, range_, advance)
            if options.compare is not None:
                a, b = options.compare
                data.comparison = compare_variants(
                    prom, scope, end, range_, a, b, slo_spec, seed=options.seed, progress=advance, alpha=options.alpha
                )
                data.alpha = options.alpha
            if baseline_period is not None:
                data.baseline = _compare_baseline(prom, scope, baseline_period, data, options, baseline_option, advance)
                data.baseline.min_change = min_changes([row.metric for row in data.baseline.rows], drift)
        if options.compare is not None and not data.comparison:
            known = sorted(prom.label_values(VARIANT, start=start, end=end))
            print(
                f"otel-llmperf report: neither variant {options.compare[0]!r} nor {options.compare[1]!r} has calls "
                f"in this range; variants seen: {', '.join(known) or 'none'}",
                file=err,
            )
    except PrometheusError as error:
        print(f"otel-llmperf report: {error}", file=err)
        return 1
    if options.format in ("terminal", "both"):
        from otel_llmperf.report.terminal import print_summary

        print_summary(data, _console(out))
    if options.format in ("html", "both"):
        index = write_folder(data, options)
        print(f"report written to {index}", file=out)
    return 0


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _baseline_period(options: ReportOptions, end: float, range_seconds: float) -> tuple[Period | None, str]:
    """The baseline period the options ask for (None: none asked), and how it was asked, for messages."""
    from otel_llmperf.report.periods import baseline_period

    if not options.wants_baseline:
        return None, ""
    explicit = (options.baseline_start, options.baseline_end)
    if any(value is not None for value in explicit):
        if None in explicit:
            raise ReportUsageError("--baseline-start and --baseline-end go together: give both, or neither")
        if options.baseline is not None:
            raise ReportUsageError("give either --baseline OFFSET or --baseline-start/--baseline-end, not both")
        start, stop = explicit
        assert start is not None and stop is not None
        if not stop > start:
            raise ReportUsageError(f"--baseline-end must be after --baseline-start, got {stop} <= {start}")
        if stop > end:
            raise ReportUsageError("--baseline-end must not be after the end of the report's range (--end)")
        option = f"--baseline-start {_iso(start)} --baseline-end {_iso(stop)}"
        return baseline_period(end, range_seconds, None, start, stop), option
    text = options.baseline or DEFAULT_BASELINE
    offset = _seconds(text, "--baseline")
    return baseline_period(end, range_seconds, offset, None, None), f"--baseline {text}"


def _compare_baseline(
    prom: Prometheus,
    scope: Scope,
    baseline: Period,
    data: ReportData,
    options: ReportOptions,
    option: str,
    advance: Callable[[str], None],
) -> BaselineResult:
    from otel_llmperf.report import baseline as base
    from otel_llmperf.report.periods import Period

    recent = Period(data.start, data.end)
    result = base.compare_periods(
        prom, scope, baseline, recent, seed=options.seed, progress=advance, alpha=options.alpha, option=option
    )
    result.plots, _ = base.quality_plots(prom, scope, baseline, recent, data.step)
    return result


def _console(out: TextIO) -> Any:
    from rich.console import Console

    # Piped or redirected output gets wide tables instead of rich's 80-column default.
    return Console(file=out, width=None if out.isatty() else 200)


def write_folder(data: ReportData, options: ReportOptions) -> Path:
    """Write plots, CSVs, summary.json and index.html into ``options.out``; returns the index path."""
    from otel_llmperf.report import csvfiles, html, plots, transparency

    folder = options.out
    folder.mkdir(parents=True, exist_ok=True)
    csvfiles.write_all(data, folder)
    images: dict[str, str] = {}
    for panel_data in data.panels:
        relative = csvfiles.png_path(panel_data.panel)
        plots.plot_panel(panel_data, folder / relative, start=data.start, end=data.end)
        images[panel_data.panel.key] = relative
    if data.comparison:
        relative = "ab-comparison.png"
        if plots.plot_comparison(data.comparison, folder / relative, names=options.compare or ("a", "b")):
            images["comparison"] = relative
    if data.baseline is not None:
        from otel_llmperf.report import baseline_render

        for key, relative in baseline_render.write_files(data.baseline, folder).items():
            images[f"baseline:{key}"] = relative
    description = options.description or _default_description(data)
    summary = transparency.summary(data, options.name, description, _creator(options), options.url)
    (folder / csvfiles.SUMMARY_JSON).write_text(transparency.dumps(summary), encoding="utf-8")
    return html.write_html(data, images, transparency.dataset_jsonld(summary), folder)


def _default_description(data: ReportData) -> str:
    scope = f"job {data.job}" if data.job else "every job"
    ending = datetime.fromtimestamp(data.end, UTC)
    return (
        "Latency, time to first chunk, token usage, cost, user satisfaction and evaluation accuracy of LLM calls "
        f"measured by otel-llmperf ({scope}) over {data.range_} ending {ending:%Y-%m-%d %H:%M} UTC."
    )
