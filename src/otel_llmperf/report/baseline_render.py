# SPDX-License-Identifier: Apache-2.0
"""The outputs of ``report --baseline``: terminal tables, the HTML section, ``baseline.csv``, plots.

A shifted signal is flagged the same way everywhere: ``SHIFTED`` in the first column, in bold
(red when the recent period is worse, green when better, yellow when only the mix changed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from otel_llmperf.report.collect import PanelData
from otel_llmperf.report.csvfiles import BASELINE_CSV, PLOTS_DIR, rfc3339, write_baseline
from otel_llmperf.report.formatting import format_ci, format_difference, format_p, format_value, verdict_class
from otel_llmperf.report.periods import BaselineResult, IdentityRow, identity_table
from otel_llmperf.report.stats import Comparison

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

IDENTITY_CSV = "model_identity.csv"
FLAG = "SHIFTED"
STYLES = {"good": "bold green", "bad": "bold red", "warn": "bold yellow", "muted": "dim"}
_WORDS = {"b higher": "recent higher", "b lower": "recent lower", "distributions differ": "shifted"}


def verdict_text(row: Comparison) -> str:
    """The verdict in the periods' words: ``recent lower (recent worse)``, ``no significant difference``, …"""
    text = _WORDS.get(row.verdict, row.verdict)
    if row.better:
        text += " (recent better)" if row.better == "b" else " (recent worse)"
    return text


def _period(result: BaselineResult, which: str) -> str:
    period = result.baseline if which == "baseline" else result.recent
    return f"{rfc3339(period.start)} → {rfc3339(period.end)}"


def summary_line(result: BaselineResult) -> str:
    """One sentence: how many signals shifted, and whether a model identity changed."""
    shifted = result.shifted
    names = ", ".join(row.metric for row in shifted)
    text = f"{len(shifted)} of {len(result.rows)} signals shifted" + (f": {names}" if names else "")
    if result.identity_changed:
        text += "; the model identity changed"
    return text + "."


def rich_tables(result: BaselineResult, console: Console | None = None) -> list[RenderableType]:
    """The comparison and identity tables, and the notes, for the terminal."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out: list[RenderableType] = [
        Text.assemble(("Baseline ", "bold"), f"{_period(result, 'baseline')} ({result.option}) vs recent ",
                      f"{_period(result, 'recent')}: ", (summary_line(result), "bold")),
    ]  # fmt: skip
    table = Table(
        title="Recent vs baseline: difference recent - baseline, CI, p adjusted (Holm)",
        title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1),
    )  # fmt: skip
    for heading, right in (("", False), ("Signal", False), ("Baseline", True), ("Recent", True),
                           ("n base / recent", True), ("Change", True), ("CI", True), ("p adj.", True),
                           ("Verdict", False)):  # fmt: skip
        table.add_column(heading, justify="right" if right else "left", no_wrap=right)
    for row in result.rows:
        style = STYLES[verdict_class(row)]
        table.add_row(
            Text(FLAG if result.flags(row) else "", style=style),
            Text(row.metric),
            format_value(row.a, row.unit),
            format_value(row.b, row.unit),
            f"{row.n_a:,} / {row.n_b:,}",
            format_difference(row.difference, row.unit),
            format_ci(row.ci, row.unit),
            format_p(row.p_adjusted),
            Text(verdict_text(row).split(" (needs")[0], style=style),
        )
    out.append(table)
    if result.identities:
        out.append(_identity_rich(result.identities))
    out += [Text(note, style="yellow") for note in result.notes]
    out += [Text(f"{row.metric}: {row.verdict}", style="dim") for row in result.rows if "(needs" in row.verdict]
    return out


def _identity_rich(rows: Sequence[IdentityRow]) -> RenderableType:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Model identity: who answered", title_justify="left", title_style="bold",
                  box=box.SIMPLE_HEAD, padding=(0, 1))  # fmt: skip
    for heading in ("", "Provider", "Requested", "Response model", "Fingerprint", "Baseline", "Recent"):
        table.add_column(heading)
    for row in rows:
        flag = "" if row.status == "unchanged" else row.status.upper()
        names = (row.provider, row.request_model, row.response_model, row.fingerprint)
        table.add_row(Text(flag, style="bold red"), *(Text(name) for name in names), f"{row.baseline:,}",
                      f"{row.recent:,}")  # fmt: skip
    return table


def print_baseline(result: BaselineResult, console: Console) -> None:
    """Print the baseline tables to ``console``."""
    for item in rich_tables(result, console):
        console.print(item)


def _esc(value: object) -> str:
    import html

    return html.escape(str(value), quote=True)


def html_section(result: BaselineResult | None, images: Mapping[str, str]) -> str:
    """The ``<section id="baseline">`` of ``index.html`` (empty when the report has no baseline)."""
    if result is None:
        return ""
    parts = [
        '<section id="baseline"><h2>Recent vs baseline</h2>',
        f"<p>Baseline {_esc(_period(result, 'baseline'))} (<code>{_esc(result.option)}</code>) against the "
        f"recent period {_esc(_period(result, 'recent'))}. <strong>{_esc(summary_line(result))}</strong></p>",
    ]
    head = ("", "Signal", "Baseline", "Recent", "n baseline", "n recent", "Change", "95 % CI", "p", "p adj. (Holm)",
            "Verdict", "Method")  # fmt: skip
    parts.append('<div class="scroll"><table><thead><tr>' + "".join(f"<th>{_esc(h)}</th>" for h in head))
    parts.append("</tr></thead><tbody>")
    for row in result.rows:
        css = verdict_class(row)
        cells = [
            (f"<strong>{FLAG}</strong>" if result.flags(row) else "", css),
            (_esc(row.metric), ""),
            (_esc(format_value(row.a, row.unit)), "num"),
            (_esc(format_value(row.b, row.unit)), "num"),
            (_esc(f"{row.n_a:,}"), "num"),
            (_esc(f"{row.n_b:,}"), "num"),
            (_esc(format_difference(row.difference, row.unit)), "num"),
            (_esc(format_ci(row.ci, row.unit)), "num"),
            (_esc(format_p(row.p_value)), "num"),
            (_esc(format_p(row.p_adjusted)), "num"),
            (_esc(verdict_text(row)), css),
            (f"<small>{_esc(row.method)}</small>", ""),
        ]
        shifted = ' class="shifted"' if result.flags(row) else ""
        parts.append(f"<tr{shifted}>" + "".join(f'<td class="{c}">{text}</td>' for text, c in cells) + "</tr>")
    parts.append("</tbody></table></div>")
    if result.identities:
        parts.append("<h3>Model identity</h3>")
        parts.append(
            "<table><thead><tr><th></th><th>Provider</th><th>Requested</th><th>Response model</th>"
            '<th>Fingerprint</th><th class="num">Baseline</th><th class="num">Recent</th></tr></thead><tbody>'
        )
        for identity in result.identities:
            flag = "" if identity.status == "unchanged" else f"<strong>{_esc(identity.status.upper())}</strong>"
            parts.append(
                f'<tr><td class="bad">{flag}</td><td>{_esc(identity.provider)}</td><td>{_esc(identity.request_model)}'
                f"</td><td>{_esc(identity.response_model)}</td><td>{_esc(identity.fingerprint)}</td>"
                f'<td class="num">{identity.baseline:,}</td><td class="num">{identity.recent:,}</td></tr>'
            )
        parts.append("</tbody></table>")
    parts += [f'<p class="warn">{_esc(note)}</p>' for note in result.notes]
    figures = [
        f'<figure><img src="{_esc(images[panel.key])}" alt="{_esc(panel.title)} over time, baseline '
        f'shaded" loading="lazy"><figcaption>{_esc(panel.title)} per model; the shaded band is the '
        "baseline period.</figcaption></figure>"
        for panel, _ in result.plots
        if panel.key in images
    ]
    if figures:
        parts += ['<div class="grid">', *figures, "</div>"]
    parts.append(
        f'<p class="muted">Data: <a href="{BASELINE_CSV}">{BASELINE_CSV}</a>'
        + (f', <a href="{IDENTITY_CSV}">{IDENTITY_CSV}</a>' if result.identities else "")
        + ". a = baseline, b = recent in the CSV.</p></section>"
    )
    return "\n".join(parts)


def write_files(result: BaselineResult, folder: Path) -> dict[str, str]:
    """``baseline.csv``, ``model_identity.csv`` and the shaded plots; returns panel key → PNG path (relative)."""
    from otel_llmperf.report import plots
    from otel_llmperf.report.csvfiles import _write

    write_baseline(result, folder / BASELINE_CSV)
    if result.identities:
        records = identity_table(result.identities)
        header = list(records[0])
        _write(folder / IDENTITY_CSV, header, [[str(r[h]) for h in header] for r in records])
    images: dict[str, str] = {}
    start = min(result.baseline.start, result.recent.start)
    end = max(result.baseline.end, result.recent.end)
    for panel, series in result.plots:
        relative = f"{PLOTS_DIR}/baseline-{panel.key}.png"
        shade = (result.baseline.start, result.baseline.end, "baseline")
        plots.plot_panel(PanelData(panel, series), folder / relative, start=start, end=end, shade=shade)
        images[panel.key] = relative
    return images
