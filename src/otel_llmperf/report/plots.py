# SPDX-License-Identifier: Apache-2.0
"""PNG plots of the report: one line chart per panel, one bar grid for the A/B comparison.

matplotlib runs with the Agg backend (no display needed). Figures are 900 px wide at 110 dpi;
a panel is 420 px high, taller only when a legend of many series goes below the plot.
Time is on a UTC axis whose ticks adapt from a minute to months (matplotlib's concise formatter).
A gap in the data (a step Prometheus returned no point for) is a gap in the line, not a straight
segment across it; isolated points get a marker so they stay visible.
"""

from __future__ import annotations

import functools
import itertools
import math
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_llmperf.report.csvfiles import series_label, sorted_series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from otel_llmperf.report.collect import PanelData
    from otel_llmperf.report.prom import Series
    from otel_llmperf.report.stats import Comparison

DPI = 110
WIDTH_PX = 900
HEIGHT_PX = 420
# Beyond this many series a legend inside the axes hides the data: it goes below the plot.
LEGEND_INSIDE_MAX = 6
# Legend below the plot: as many columns as labels of this length fit in 900 px at 8 pt.
LEGEND_COLUMNS = ((38, 3), (64, 2))
LEGEND_ROW_PX = 22
LABEL_MAX_CHARS = 80
# Bar grid of the A/B comparison.
COMPARISON_COLUMNS = 3
COMPARISON_ROW_PX = 250
# Colours: tab10 first (distinguishable), tab20 for up to 20 series, then line styles vary too.
_STYLES = ("-", "--", ":", "-.")
VARIANT_COLOURS = ("#4c72b0", "#dd8452")
VERDICT_COLOURS = {"better": "#2a7d2a", "worse": "#b22222", "different": "#8a6d00", "none": "#555555"}

# Readable axis labels for the units the catalog uses.
UNIT_LABELS = {
    "s": "seconds",
    "req/s": "requests per second",
    "1": "percent",
    "tokens/s": "tokens per second",
    "USD/h": "USD per hour",
    "score": "score",
    "NPS": "NPS (-100 to 100)",
}


def _pyplot() -> Any:
    import matplotlib

    # Agg before pyplot is imported: a report is written on servers and in CI without a display.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def unit_label(unit: str) -> str:
    """The y-axis label of a unit."""
    return UNIT_LABELS.get(unit, unit)


def _shorten(text: str, limit: int = LABEL_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _legend_columns(labels: Sequence[str]) -> int:
    longest = max((len(label) for label in labels), default=0)
    return next((columns for limit, columns in LEGEND_COLUMNS if longest <= limit), 1)


def _step(all_series: Sequence[Series]) -> float | None:
    """The query step, recovered as the smallest spacing between two points of any series."""
    gaps = [b[0] - a[0] for series in all_series for a, b in itertools.pairwise(sorted(series.points)) if b[0] > a[0]]
    return min(gaps) if gaps else None


@functools.cache
def _epoch() -> float:
    import matplotlib.dates as mdates

    # The Unix epoch as a matplotlib date number (it depends on matplotlib's epoch setting), computed once.
    return float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # type: ignore[no-untyped-call]


def _day(unix: float) -> float:
    """``unix`` seconds as a matplotlib date number (days since matplotlib's epoch)."""
    return _epoch() + unix / 86400.0


def _with_gaps(points: Sequence[tuple[float, float]], step: float | None) -> tuple[list[float], list[float]]:
    """Times (matplotlib dates) and values, with a NaN where Prometheus skipped steps, so the line breaks there."""
    times: list[float] = []
    values: list[float] = []
    previous: float | None = None
    for t, v in sorted(points):
        if previous is not None and step is not None and t - previous > 1.5 * step:
            times.append(_day((previous + t) / 2))
            values.append(math.nan)
        # An infinity (a quantile in the +Inf bucket) cannot be drawn; it is in the CSV.
        times.append(_day(t))
        values.append(v if math.isfinite(v) else math.nan)
        previous = t
    return times, values


def _isolated(values: Sequence[float]) -> list[int]:
    """Indexes of finite values whose neighbours are both missing: a line cannot show them."""
    finite = [math.isfinite(v) for v in values]
    return [
        i for i, ok in enumerate(finite)
        if ok and (i == 0 or not finite[i - 1]) and (i == len(values) - 1 or not finite[i + 1])
    ]  # fmt: skip


def _colour(plt: Any, index: int, count: int) -> Any:
    if count <= 10:
        return plt.get_cmap("tab10")(index % 10)
    return plt.get_cmap("tab20")(index % 20)


def _time_axis(ax: Axes, start: float | None = None, end: float | None = None) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
    formatter = mdates.ConciseDateFormatter(locator, tz=UTC, show_offset=True)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    if start is not None and end is not None and end > start:
        ax.set_xlim(_day(start), _day(end))
    ax.set_xlabel("time (UTC)")


def _y_axis(ax: Axes, unit: str, values: Sequence[float]) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_ylabel(unit_label(unit))
    finite = [v for v in values if math.isfinite(v)]
    if unit == "1":
        # "2.5%", not "2.50%": as many decimals as the tick needs.
        ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{round(x * 100, 6):g}%"))
    if unit == "NPS":
        ax.axhline(0, color="#999999", linewidth=0.8)
    elif finite and min(finite) >= 0:
        # Rates, latencies and ratios start at zero: a baseline of 0 keeps differences honest.
        ax.set_ylim(bottom=0, top=_headroom(max(finite), unit))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))


def _headroom(top: float, unit: str) -> float | None:
    if top <= 0:
        # All zeros: a flat line at the bottom of a 0…1 axis (0…100 % for ratios) rather than a squashed one.
        return 1.0
    if unit == "1" and top > 0.9:
        return 1.02  # a share cannot exceed 100 %; a little room keeps a line at 100 % visible
    return top * 1.08


def _figure(plt: Any, height_px: int) -> Figure:
    figure: Figure = plt.figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    return figure


def _empty(plt: Any, title: str, path: Path, why: str) -> Path:
    figure = _figure(plt, HEIGHT_PX)
    ax = figure.add_subplot()
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=13, color="#777777", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#dddddd")
    return _save(plt, figure, path)


def _save(plt: Any, figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(path, dpi=DPI, format="png", facecolor="white", metadata={"Software": None})
    finally:
        plt.close(figure)
    return path


def plot_panel(
    panel_data: PanelData,
    path: Path,
    *,
    start: float | None = None,
    end: float | None = None,
    shade: tuple[float, float, str] | None = None,
) -> Path:
    """One line per series of a panel, written as a PNG to ``path``; an empty panel gets a 'no data' image.

    ``shade`` (start, end, label) marks a period, e.g. the baseline of ``report --baseline``.
    """
    plt = _pyplot()
    panel = panel_data.panel
    series = [s for s in sorted_series(panel_data.series, panel.by) if s.points]
    if not any(math.isfinite(v) for s in series for _, v in s.points):
        why = "no data in this range" if not series else "no data in this range (every value is NaN)"
        return _empty(plt, panel.title, path, why)

    labels = [_shorten(series_label(one, panel.by)) for one in series]
    inside = len(series) <= LEGEND_INSIDE_MAX
    columns = _legend_columns(labels)
    rows = 0 if inside else math.ceil(len(series) / columns)
    figure = _figure(plt, HEIGHT_PX + rows * LEGEND_ROW_PX)
    ax = figure.add_subplot()
    step = _step(series)
    every_value: list[float] = []
    handles: list[Any] = []
    for index, one in enumerate(series):
        times, values = _with_gaps(one.points, step)
        every_value += values
        colour = _colour(plt, index, len(series))
        style = _STYLES[(index // 20) % len(_STYLES)] if len(series) > 20 else "-"
        # Thinner lines when points are dense (a week at 5 m is 2,016 points), or they merge into a band.
        width = 1.0 if len(values) > 600 else 1.6
        handles += ax.plot(times, values, style, color=colour, linewidth=width)
        lonely = _isolated(values)
        if lonely:
            ax.plot([times[i] for i in lonely], [values[i] for i in lonely], "o", color=colour, markersize=3.5)

    if shade is not None:
        handles.append(ax.axvspan(_day(shade[0]), _day(shade[1]), color="#8c8c8c", alpha=0.18, linewidth=0))
        labels.append(shade[2])
    ax.set_title(panel.title, loc="left", fontsize=12, fontweight="bold")
    _time_axis(ax, start, end)
    _y_axis(ax, panel.unit, every_value)
    ax.grid(True, color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if inside:
        # Handles and labels passed explicitly: matplotlib would hide a label starting with "_" ("_unknown").
        ax.legend(handles, labels, loc="best", fontsize=8.5, frameon=True, framealpha=0.85)
    else:
        figure.legend(handles, labels, loc="outside lower center", ncols=columns, fontsize=8, frameon=False)
    return _save(plt, figure, path)


def _verdict_colour(comparison: Comparison) -> str:
    from otel_llmperf.report.stats import SIGNIFICANT

    if comparison.better == "b":
        return VERDICT_COLOURS["better"]
    if comparison.better == "a":
        return VERDICT_COLOURS["worse"]
    if comparison.verdict in SIGNIFICANT:
        return VERDICT_COLOURS["different"]
    return VERDICT_COLOURS["none"]


def _scale(unit: str) -> tuple[float, str]:
    # Ratios are shown in percent, as everywhere else in the report.
    return (100.0, "percent") if unit == "1" else (1.0, unit_label(unit))


def plot_comparison(
    comparisons: Sequence[Comparison], path: Path, *, names: tuple[str, str] = ("a", "b")
) -> Path | None:
    """A/B bars per metric: variant a, variant b with the 95 % CI of b - a drawn around a + (b - a).

    The error bar on b spans a + CI (cut at the values the unit can take), so it misses the dashed
    line at a's level exactly when the interval excludes 0. Returns None (and writes nothing) when
    no comparison has both values.
    """
    from matplotlib.ticker import MaxNLocator

    from otel_llmperf.report.formatting import format_value
    from otel_llmperf.report.stats import SIGNIFICANT, level_interval

    shown = [c for c in comparisons if c.a is not None and c.b is not None and math.isfinite(c.a + c.b)]
    if not shown:
        return None
    plt = _pyplot()
    columns = min(COMPARISON_COLUMNS, len(shown))
    rows = math.ceil(len(shown) / columns)
    figure = _figure(plt, 40 + rows * COMPARISON_ROW_PX)
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(shown):
            ax.set_visible(False)
            continue
        c = shown[index]
        factor, label = _scale(c.unit)
        a, b = float(c.a or 0.0) * factor, float(c.b or 0.0) * factor
        # Bars of a comparison without a verdict are faded: the picture must not claim what the test did not.
        claimed = c.verdict in SIGNIFICANT
        ax.bar([0, 1], [a, b], color=VARIANT_COLOURS, width=0.6, alpha=1.0 if claimed else 0.55)
        interval = level_interval(c)
        if interval is not None and all(math.isfinite(x) for x in interval):
            low, high = interval[0] * factor, interval[1] * factor
            ax.errorbar(
                [1], [b], yerr=[[max(b - low, 0.0)], [max(high - b, 0.0)]],
                fmt="none", ecolor="#222222", capsize=6, linewidth=1.4,
            )  # fmt: skip
        ax.axhline(a, color=VARIANT_COLOURS[0], linestyle="--", linewidth=0.9)
        # Values go in the tick labels, where no error bar or dashed line can cover them.
        ticks = [
            f"{name} = {format_value(value, c.unit)}\nn = {n:,}"
            for name, value, n in ((names[0], c.a, c.n_a), (names[1], c.b, c.n_b))
        ]
        ax.set_xticks([0, 1], ticks, fontsize=8)
        # A third of 900 px holds ~30 bold characters: longer names ("SLO attainment: chat-time-to-first-chunk")
        # wrap onto a second line instead of running into the next plot's title.
        title = textwrap.fill(_shorten(c.metric, 60), 28, break_on_hyphens=False)
        ax.set_title(title, fontsize=9.5, loc="left", fontweight="bold")
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
        ax.margins(y=0.12)
        if min(a, b) >= 0:
            ax.set_ylim(bottom=0)
        verdict = c.verdict.split(" (")[0] + (f" ({c.better} better)" if c.better else "")
        ax.set_xlabel(verdict, fontsize=8, color=_verdict_colour(c), fontweight="bold")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    figure.suptitle(
        f"A/B: {names[0]} vs {names[1]} — bar on {names[1]}: 95 % CI of the difference, drawn from {names[0]}'s level",
        fontsize=10, x=0.01, ha="left",
    )  # fmt: skip
    return _save(plt, figure, path)
