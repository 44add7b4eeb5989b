# SPDX-License-Identifier: Apache-2.0
"""The terminal summary (``--format terminal``): rich tables of the totals per model, the SLOs and the A/B rows.

A terminal is narrower than a page (80 columns when the output is piped), so the totals are three
tables with models as rows, grouped under their provider (traffic and latency; tokens, cost and
satisfaction; one row per model and evaluation). Names and numbers never wrap or get cut: each
table takes the columns that fit the console, most important first, and says which ones it left
out; ``index.html`` and the CSVs hold every figure. Figures are formatted exactly as in the HTML
(:func:`otel_llmperf.report.formatting.format_value`), and every name from Prometheus is printed as
text, never read as rich markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otel_llmperf.report.csvfiles import TotalsColumn, rfc3339, slo_group_labels, totals_table
from otel_llmperf.report.formatting import format_ci, format_difference, format_p, format_value, verdict_class

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

    from otel_llmperf.report.collect import ReportData

# html CSS classes → rich styles: the same colours mean the same in both outputs.
STYLES = {"good": "bold green", "bad": "bold red", "warn": "bold yellow", "muted": "dim"}
# Per-model tables: (title, [(totals key, heading)] in display order, the keys in order of importance).
MODEL_TABLES: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]], ...] = (
    (
        "Traffic and latency",
        (("calls", "Calls"), ("error_rate", "Errors"), ("duration_p50", "p50"), ("duration_p95", "p95"),
         ("duration_p99", "p99"), ("ttfc_p95", "TTFC p95"), ("time_per_output_token_mean", "Per token")),
        ("calls", "duration_p95", "error_rate", "ttfc_p95", "duration_p50", "duration_p99",
         "time_per_output_token_mean"),
    ),
    (
        "Tokens, cost and satisfaction",
        (("tokens_input", "Tokens in"), ("tokens_output", "Tokens out"), ("cost", "Cost"),
         ("thumbs_votes", "Thumbs"), ("thumbs_up_ratio", "Thumbs up"), ("mean_rating", "Rating"), ("nps", "NPS")),
        ("cost", "thumbs_up_ratio", "mean_rating", "nps", "tokens_output", "tokens_input", "thumbs_votes"),
    ),
    (
        "Evaluations",
        (("evaluation_samples", "Samples"), ("evaluation_score", "Score"), ("evaluation_accuracy", "Accuracy"),
         ("evaluation_precision", "Precision"), ("evaluation_recall", "Recall"), ("evaluation_f1", "F1")),
        ("evaluation_accuracy", "evaluation_f1", "evaluation_samples", "evaluation_precision", "evaluation_recall",
         "evaluation_score"),
    ),
)  # fmt: skip
# Each column costs its content, one space of padding either side and the one-space rule between columns.
PADDING = 3
INDENT = "  "


@dataclass
class _Column:
    heading: str
    cells: list[str]

    @property
    def width(self) -> int:
        from rich.cells import cell_len

        return max([cell_len(self.heading), *(cell_len(cell) for cell in self.cells)]) + PADDING


def _fit(width: int | None, used: int, columns: Sequence[_Column], priority: Sequence[int]) -> list[int]:
    """Indexes (in display order) of the columns that fit ``width`` after ``used``, taken by ``priority``."""
    if width is None:
        return list(range(len(columns)))
    kept: list[int] = []
    for index in priority:
        if used + columns[index].width <= width:
            kept.append(index)
            used += columns[index].width
    return sorted(kept)


def _table(title: str) -> Table:
    from rich import box
    from rich.table import Table

    # No vertical rules: every character of width goes to the figures.
    return Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1))


def _left_out(columns: Sequence[_Column], kept: Sequence[int]) -> str:
    missing = [column.heading for index, column in enumerate(columns) if index not in kept]
    return f"not shown at this width: {', '.join(missing)} (see index.html)" if missing else ""


def _width(console: Console | None) -> int | None:
    # A SIMPLE_HEAD box draws an invisible edge either side, and there is one rule fewer than columns.
    return None if console is None else console.width - 1


def model_tables(data: ReportData, console: Console | None = None) -> list[RenderableType]:
    """The totals per model as rich tables (models as rows, under their provider), fitted to ``console``."""
    from rich.cells import cell_len
    from rich.text import Text

    columns, rows = totals_table(data)
    if not rows:
        return []
    by_key: dict[str, list[TotalsColumn]] = {}
    for column in columns:
        by_key.setdefault(column.key, []).append(column)
    out: list[RenderableType] = []
    for title, wanted, importance in MODEL_TABLES:
        present = [(key, heading) for key, heading in wanted if key in by_key]
        # Evaluation figures carry the evaluation name as an extra label: one row per model and evaluation.
        extras = sorted({c.extra for key, _ in present for c in by_key[key]})
        lines: list[tuple[str, str, list[str]]] = []  # provider, name shown, cells
        for (provider, model), values in rows:
            for extra in extras:
                cells = []
                for key, _ in present:
                    found = next((c for c in by_key[key] if c.extra == extra), None)
                    cells.append("—" if found is None else format_value(values.get(found), found.unit))
                if any(cell != "—" for cell in cells):
                    name = model + (f" · {', '.join(v for _, v in extra)}" if extra else "")
                    lines.append((provider, name, cells))
        if not lines:
            continue
        figures = [_Column(heading, [cells[i] for _, _, cells in lines]) for i, (_, heading) in enumerate(present)]
        first = max([cell_len("Model"), *(cell_len(INDENT + name) for _, name, _ in lines),
                     *(cell_len(provider) for provider, _, _ in lines)]) + PADDING  # fmt: skip
        keys = [key for key, _ in present]
        kept = _fit(_width(console), first, figures, [keys.index(key) for key in importance if key in keys])
        table = _table(f"{title} over {data.range_}")
        table.add_column("Model" if not extras[0] else "Model · evaluation", no_wrap=True)
        for index in kept:
            table.add_column(figures[index].heading, justify="right", no_wrap=True)
        provider_shown = None
        for row, (provider, name, _) in enumerate(lines):
            if provider != provider_shown:
                table.add_row(Text(provider, style="bold"), *([""] * len(kept)))
                provider_shown = provider
            table.add_row(Text(INDENT + name), *(figures[index].cells[row] for index in kept))
        note = _left_out(figures, kept)
        if note:
            table.caption, table.caption_justify, table.caption_style = note, "left", "dim"
        out.append(table)
    return out


def slo_rich_table(data: ReportData, console: Console | None = None) -> Table | None:
    """Attainment and error budget consumed per SLO and group; None without SLO results."""
    from rich.text import Text

    if not data.slos:
        return None
    groups = slo_group_labels(data.slos)
    names = [_Column("SLO", [slo.name for slo in data.slos])]
    names += [_Column(group, [slo.group.get(group, "") for slo in data.slos]) for group in groups]
    figures = [
        _Column("Threshold", [f"{slo.threshold:g} s" for slo in data.slos]),  # bucket boundaries: exact
        _Column("Objective", [format_value(slo.objective, "1") for slo in data.slos]),
        _Column("Good", [format_value(slo.good, "calls") for slo in data.slos]),
        _Column("Calls", [format_value(slo.total, "calls") for slo in data.slos]),
        _Column("Attained", [format_value(slo.attainment, "1") for slo in data.slos]),
        _Column("Budget used", [format_value(slo.budget_consumed, "1") for slo in data.slos]),
    ]
    kept = _fit(_width(console), sum(c.width for c in names), figures, [4, 5, 1, 3, 0, 2])
    table = _table(f"SLOs over {data.range_}")
    for column in names:
        table.add_column(column.heading, no_wrap=True)
    for index in kept:
        table.add_column(figures[index].heading, justify="right", no_wrap=True)
    for row, slo in enumerate(data.slos):
        attained = slo.attainment is not None and slo.attainment >= slo.objective
        overspent = slo.budget_consumed is not None and slo.budget_consumed > 1
        styles = {4: "" if slo.attainment is None else "green" if attained else "bold red",
                  5: "bold red" if overspent else ""}  # fmt: skip
        table.add_row(
            *(Text(column.cells[row]) for column in names),
            *(Text(figures[index].cells[row], style=styles.get(index, "")) for index in kept),
        )
    note = _left_out(figures, kept)
    if note:
        table.caption, table.caption_justify, table.caption_style = note, "left", "dim"
    return table


def comparison_rich_table(data: ReportData, console: Console | None = None) -> Table | None:
    """The A/B rows with coloured verdicts; None when the report has no comparison."""
    from rich.cells import cell_len
    from rich.text import Text

    if not data.comparison:
        return None
    comparisons = data.comparison
    # The verdict without its stated rule, which is printed below the table: the column stays narrow.
    verdicts = [c.verdict.split(" (")[0] + (f" ({c.better} better)" if c.better else "") for c in comparisons]
    figures = [
        _Column("a", [format_value(c.a, c.unit) for c in comparisons]),
        _Column("b", [format_value(c.b, c.unit) for c in comparisons]),
        _Column("n a / b", [f"{c.n_a:,} / {c.n_b:,}" for c in comparisons]),
        _Column("b - a", [format_difference(c.difference, c.unit) for c in comparisons]),
        _Column("95 % CI", [format_ci(c.ci, c.unit) for c in comparisons]),
        _Column("p adj.", [format_p(c.p_adjusted) for c in comparisons]),
    ]
    # Metric names and verdicts wrap at spaces, never inside a word.
    metric = max([cell_len(word) for c in comparisons for word in c.metric.split()] + [6]) + PADDING
    verdict = max([cell_len(word) for v in verdicts for word in v.split()] + [7]) + PADDING
    kept = _fit(_width(console), metric + verdict, figures, [3, 0, 1, 4, 5, 2])
    table = _table("A/B comparison: difference b - a, 95 % CI, p adjusted (Holm)")
    table.add_column("Metric", min_width=metric - PADDING)
    for index in kept:
        table.add_column(figures[index].heading, justify="right", no_wrap=True)
    table.add_column("Verdict", min_width=verdict - PADDING)
    for row, c in enumerate(comparisons):
        table.add_row(
            Text(c.metric),
            *(figures[index].cells[row] for index in kept),
            Text(verdicts[row], style=STYLES[verdict_class(c)]),
        )
    note = _left_out(figures, kept)
    if note:
        table.caption, table.caption_justify, table.caption_style = note, "left", "dim"
    return table


def print_summary(data: ReportData, console: Console | None = None) -> None:
    """Print the totals, SLO and A/B tables of ``data`` to ``console`` (stdout by default), fitted to its width."""
    from rich.console import Console
    from rich.text import Text

    out = console or Console()
    job = data.job if data.job else "every job"
    out.print(Text.assemble(
        ("LLM performance ", "bold"), f"{rfc3339(data.start)} → {rfc3339(data.end)} ({data.range_}), job: {job}"
    ))  # fmt: skip
    if data.baseline is not None:
        from otel_llmperf.report.baseline_render import print_baseline

        print_baseline(data.baseline, out)
    tables = model_tables(data, out)
    if not tables:
        out.print(Text("No totals: Prometheus returned no data for the range.", style="yellow"))
    for table in [*tables, slo_rich_table(data, out)]:
        if table is not None:
            out.print(table)
    if data.srm:
        from otel_llmperf.report.srm_section import print_srm

        print_srm(data.srm, out)  # above the comparison: a mismatch makes it suspect
    comparison = comparison_rich_table(data, out)
    if comparison is not None:
        out.print(comparison)
    if data.comparison is None:
        return
    if not data.comparison:
        out.print(Text("A/B: neither variant has data in the range.", style="yellow"))
    for c in data.comparison:
        if " (" in c.verdict:
            out.print(Text(f"{c.metric}: {c.verdict}", style="dim"))
