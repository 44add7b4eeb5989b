# SPDX-License-Identifier: Apache-2.0
"""``index.html``: one self-contained page (inline CSS, no JavaScript, no external URL) over the report files.

Sections: header (range, step, job, Prometheus, generated at) and a section nav; totals per model;
one section per panel section with its plots, each linked to its CSV and showing its PromQL; SLOs;
the A/B comparison; Methods; the data files. Images and CSVs are linked by relative path, so the
folder can be moved, zipped or served as it is. Every text from Prometheus or the user is escaped;
the JSON-LD block escapes ``<``, ``>`` and ``&`` so no value can close the script element.
Standard library only (plots are written by :mod:`plots`, which needs matplotlib).
"""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from otel_llmperf.report.collect import PanelData, ReportData, SloResult
from otel_llmperf.report.csvfiles import (
    COMPARISON_CSV,
    PLOTS_DIR,
    QUERIES_JSON,
    SLOS_CSV,
    SUMMARY_JSON,
    TOTALS_CSV,
    csv_path,
    rfc3339,
    slo_group_labels,
    totals_table,
)
from otel_llmperf.report.formatting import format_ci, format_difference, format_p, format_value, verdict_class
from otel_llmperf.report.srm_section import srm_html
from otel_llmperf.report.stats import Comparison
from otel_llmperf.version import __version__

# Units as a caption shows them.
UNIT_TEXT = {"1": "%", "score": "mean score", "NPS": "-100 to 100"}
SECTIONS = {
    "traffic": "Traffic",
    "latency": "Latency",
    "tokens": "Tokens",
    "cost": "Cost",
    "satisfaction": "Satisfaction",
    "accuracy": "Accuracy",
}
SECTION_INTROS = {
    "traffic": "Calls per second and the share of calls that failed, by error type.",
    "latency": "Quantiles of call duration, time to first chunk (streams) and time per output token, "
    "estimated from histogram buckets.",
    "tokens": "Tokens per second, input and output.",
    "cost": "Spend per hour at list prices (models missing from the price table are not counted).",
    "satisfaction": "What users said: thumbs-up share, mean rating and Net Promoter Score.",
    "accuracy": "Evaluation results: mean score, precision, recall and F1 per evaluation.",
}

CSS = """
:root { --fg:#1d2329; --muted:#5b6670; --line:#dde2e6; --zebra:#f5f7f9; --accent:#2f5d8a;
  --good:#1f7a3a; --bad:#b3261e; --warn:#8a6d00; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:#fff; line-height:1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
.page { max-width:1100px; margin:0 auto; padding:0 20px 40px; }
header { padding:24px 0 8px; border-bottom:1px solid var(--line); }
h1 { font-size:1.7rem; margin:0 0 4px; }
h2 { font-size:1.3rem; margin:36px 0 8px; padding-top:8px; border-top:1px solid var(--line); }
h3 { font-size:1rem; margin:20px 0 6px; }
p, li { max-width:80ch; }
.lede { color:var(--muted); margin:0 0 12px; }
dl.meta { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; margin:8px 0 12px; font-size:.92rem; }
dl.meta dt { color:var(--muted); }
dl.meta dd { margin:0; overflow-wrap:anywhere; }
nav { position:sticky; top:0; background:rgba(255,255,255,.96); border-bottom:1px solid var(--line);
  padding:8px 0; z-index:1; font-size:.92rem; }
nav a { margin-right:14px; white-space:nowrap; }
a { color:var(--accent); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size:.85em; }
pre { white-space:pre-wrap; overflow-wrap:anywhere; background:var(--zebra); padding:8px; margin:4px 0 0; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; margin:8px 0; font-size:.9rem; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { border-bottom:2px solid #b9c2ca; background:#fff; }
tbody tr:nth-child(even) { background:var(--zebra); }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
th.model { text-align:right; }
th.model small { display:block; color:var(--muted); font-weight:normal; }
.unit { color:var(--muted); font-weight:normal; }
/* Plots are 900 px wide and sharp at that size: the grid may grow past the text column on wide screens
   (two plots side by side from ~1900 px), and below 900 px they shrink with the window. */
.grid { display:grid; gap:18px; grid-template-columns:repeat(auto-fill, minmax(min(100%, 820px), 1fr));
  width:min(1860px, calc(100vw - 48px)); position:relative; left:50%; transform:translateX(-50%); }
figure { margin:0; border:1px solid var(--line); padding:6px; background:#fff; }
figure img { width:100%; max-width:900px; height:auto; display:block; margin:0 auto; }
figcaption { font-size:.85rem; color:var(--muted); padding:4px 2px 0; }
details summary { cursor:pointer; }
.good { color:var(--good); font-weight:600; }
.bad { color:var(--bad); font-weight:600; }
.warn { color:var(--warn); font-weight:600; }
.muted { color:var(--muted); }
tr.shifted td { background:#fdf1e6; }
.empty { color:var(--muted); font-style:italic; }
footer { margin-top:40px; padding-top:12px; border-top:1px solid var(--line); color:var(--muted); font-size:.85rem; }
@media (max-width:520px) { .grid { grid-template-columns:1fr; } }
"""

METHODS_GENERAL = (
    (
        "Rates and ratios over time",
        "Each point of a plot is computed by Prometheus over a sliding window (the rate window) "
        "ending at that point: calls per second are rate() of the call counter; the error rate is failed "
        "calls divided by all calls; the thumbs-up share is thumbs-up divided by all thumbs answers.",
    ),
    (
        "Quantiles (p50, p95, p99)",
        "Prometheus keeps latencies as histogram buckets, not single values. A quantile is estimated with "
        "histogram_quantile(): the bucket holding the quantile is found and the value interpolated linearly "
        "inside it, so the estimate is only as fine as the bucket boundaries (0.01 s doubling up to 81.92 s). "
        "A quantile in the last, unbounded bucket is reported as that bucket's lower bound.",
    ),
    (
        "Totals over the range",
        "The totals table and the transparency summary use increase() of the counters over the whole range "
        "and quantiles of the buckets accumulated over it. increase() extrapolates to the range edges, so "
        "counts can be fractional; they are shown rounded.",
    ),
    (
        "Satisfaction",
        "Mean rating is the sum of ratings over their count. The Net Promoter Score is 100 x (promoters - "
        "detractors) / answers, promoters answering 9-10 and detractors 0-6; it lies between -100 and 100.",
    ),
    (
        "Accuracy",
        "From the evaluation outcome counters: precision = tp / (tp + fp), recall = tp / (tp + fn), "
        "F1 = 2 tp / (2 tp + fp + fn), accuracy = (tp + tn) / all outcomes (for multi-class evaluations, "
        "tp / (tp + fn) over the expected classes). A ratio with no denominator has no value.",
    ),
    (
        "SLOs",
        "Attainment is good calls / all calls over the range (a good call is at most the threshold and, "
        "unless the SLO says otherwise, did not fail). Error budget consumed is (1 - attainment) / "
        "(1 - objective): 100 % means the whole budget of a period this long is spent.",
    ),
)
METHODS_AB = (
    "Each metric is compared over the whole range between the two variants (the llmperf_variant label). "
    "Difference is b - a with a 95 % confidence interval. p-values are adjusted for the number of "
    "tests in this report with the Holm method; a difference is reported only when the adjusted p-value "
    "is below {alpha:g} and each variant has the minimum sample size the test needs (stated in the verdict "
    "when it is not met). Counts from increase() are extrapolated and so fractional: they are rounded to "
    "whole calls before testing."
)


def esc(value: object) -> str:
    """HTML-escaped text of ``value`` (quotes included, safe in attributes)."""
    return html.escape(str(value), quote=True)


def _display_url(url: str) -> str:
    # Never show credentials a URL may carry (http://user:password@host).
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _table(head: Sequence[tuple[str, bool]], rows: Iterable[Sequence[tuple[str, str]]], caption: str = "") -> str:
    """A table: head cells (html, numeric?), rows of cells (html, css class)."""
    out = ['<div class="scroll"><table>']
    if caption:
        out.append(f'<caption class="muted">{caption}</caption>')
    out.append("<thead><tr>" + "".join(f"<th{' class=num' if n else ''}>{h}</th>" for h, n in head) + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{f' class={c.strip()!r}' if c else ''}>{h}</td>" for h, c in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _totals(data: ReportData) -> str:
    columns, rows = totals_table(data)
    if not rows:
        return '<p class="empty">No totals: Prometheus returned no data for the range.</p>'
    # Metrics as rows and models as columns: a handful of models fits the page, a score of metrics would not.
    head = "<th>Metric</th>" + "".join(
        f'<th class="model"><small>{esc(provider)}</small>{esc(model)}</th>' for (provider, model), _ in rows
    )
    body = []
    for column in columns:
        cells = "".join(
            f'<td class="num">{esc(format_value(values.get(column), column.unit))}</td>' for _, values in rows
        )
        body.append(f"<tr><th scope=row>{esc(column.heading)}</th>{cells}</tr>")
    return (
        '<div class="scroll"><table><thead><tr>' + head + "</tr></thead><tbody>\n" + "\n".join(body)
        + f'</tbody></table></div>\n<p class="muted">Over the whole range. Data: <a href="{esc(TOTALS_CSV)}">'
        f"{esc(TOTALS_CSV)}</a>.</p>"
    )  # fmt: skip


def _figure(panel_data: PanelData, image: str | None) -> str:
    panel = panel_data.panel
    csv = csv_path(panel)
    picture = (
        f'<img src="{esc(image)}" alt="{esc(panel.title)} over time" loading="lazy">'
        if image
        else '<p class="empty">No plot.</p>'
    )
    count = len([s for s in panel_data.series if s.points])
    return (
        f'<figure id="panel-{esc(panel.key)}">{picture}<figcaption><strong>{esc(panel.title)}</strong> '
        f'<span class="unit">({esc(UNIT_TEXT.get(panel.unit, panel.unit))})</span> · {count} series · '
        f'<a href="{esc(csv)}">CSV</a>'
        f"<details><summary>PromQL</summary><pre>{esc(panel.expr)}</pre></details></figcaption></figure>"
    )


def _slos(slos: Sequence[SloResult]) -> str:
    if not slos:
        return '<p class="empty">No SLO results (no SLO spec, or no calls of its metric in the range).</p>'
    groups = slo_group_labels(slos)
    head = [("SLO", False), *((esc(g), False) for g in groups), ("Threshold", True), ("Objective", True),
            ("Good calls", True), ("Calls", True), ("Attainment", True), ("Error budget consumed", True)]  # fmt: skip
    rows = []
    for slo in slos:
        attained = slo.attainment is not None and slo.attainment >= slo.objective
        budget = slo.budget_consumed
        rows.append([
            (f"{esc(slo.name)}<br><small class=muted>{esc(slo.description)}</small>", ""),
            *((esc(slo.group.get(g, "")), "") for g in groups),
            # Thresholds are bucket boundaries (10.24 s): shown exactly, not to 3 digits.
            (esc(f"{slo.threshold:g} s"), "num"),
            (esc(format_value(slo.objective, "1")), "num"),
            (esc(format_value(slo.good, "calls")), "num"),
            (esc(format_value(slo.total, "calls")), "num"),
            (esc(format_value(slo.attainment, "1")), "num " + ("" if slo.attainment is None else
                                                               "good" if attained else "bad")),
            (esc(format_value(budget, "1")), "num " + ("" if budget is None else "bad" if budget > 1 else "")),
        ])  # fmt: skip
    return _table(head, rows) + f'\n<p class="muted">Data: <a href="{esc(SLOS_CSV)}">{esc(SLOS_CSV)}</a>.</p>'


def _comparison(comparisons: Sequence[Comparison] | None, image: str | None) -> str:
    if comparisons is None:
        return (
            '<p class="empty">No A/B comparison in this report: run it with '
            "<code>--compare-variants a,b</code> (values of the llmperf_variant label).</p>"
        )
    if not comparisons:
        return '<p class="empty">Nothing to compare: neither variant has data in the range.</p>'
    head = [("Metric", False), ("a", True), ("b", True), ("n a", True), ("n b", True), ("Difference b - a", True),
            ("95 % CI", True), ("p", True), ("p adj. (Holm)", True), ("Verdict", False), ("Method", False)]  # fmt: skip
    rows = [
        [
            (esc(c.metric), ""),
            (esc(format_value(c.a, c.unit)), "num"),
            (esc(format_value(c.b, c.unit)), "num"),
            (esc(f"{c.n_a:,}"), "num"),
            (esc(f"{c.n_b:,}"), "num"),
            (esc(format_difference(c.difference, c.unit)), "num"),
            (esc(format_ci(c.ci, c.unit)), "num"),
            (esc(format_p(c.p_value)), "num"),
            (esc(format_p(c.p_adjusted)), "num"),
            (esc(c.verdict) + (f" <small>({esc(c.better)} is better)</small>" if c.better else ""), verdict_class(c)),
            (f"<small>{esc(c.method)}</small>", ""),
        ]
        for c in comparisons
    ]
    figure = (
        f'<figure><img src="{esc(image)}" alt="A/B comparison: bars per metric with 95 % CI" '
        'loading="lazy"><figcaption>Bars: each variant\'s value. The error bar on b is the 95 % confidence '
        "interval of b - a drawn from a's level (dashed): it crosses the dashed line when the interval "
        "includes no difference.</figcaption></figure>"
        if image
        else ""
    )
    return (
        figure + "\n" + _table(head, rows)
        + f'\n<p class="muted">Data: <a href="{esc(COMPARISON_CSV)}">{esc(COMPARISON_CSV)}</a>.</p>'
    )  # fmt: skip


def _baseline(data: ReportData, images: Mapping[str, str]) -> str:
    if data.baseline is None:
        return ""
    from otel_llmperf.report.baseline_render import html_section

    prefix = "baseline:"
    return html_section(data.baseline, {k[len(prefix) :]: v for k, v in images.items() if k.startswith(prefix)})


def _methods(data: ReportData) -> str:
    comparisons = data.comparison
    parts = [
        f"<h3>{esc(title)}</h3><p>{esc(text.replace('(the rate window)', f'(here {data.window})'))}</p>"
        for title, text in METHODS_GENERAL
    ]
    if comparisons:
        parts.append(f"<h3>A/B comparison</h3><p>{esc(METHODS_AB.format(alpha=data.alpha))}</p>")
        by_method: dict[str, list[str]] = {}
        for c in comparisons:
            by_method.setdefault(c.method, []).append(c.metric)
        parts.append("<p>The test of each metric, with the minimum sample size it needs:</p><ul>")
        parts += [
            f"<li><strong>{esc(', '.join(metrics))}</strong>: {esc(method)}</li>"
            for method, metrics in by_method.items()
        ]
        parts.append("</ul>")
        unmet = [c for c in comparisons if c.verdict.startswith("not enough data")]
        if unmet:
            parts.append("<p>Minimum sample sizes not met in this report (no verdict given):</p><ul>")
            parts += [f"<li>{esc(c.metric)}: {esc(c.verdict)}</li>" for c in unmet]
            parts.append("</ul>")
    return "\n".join(parts)


def jsonld_script(document: Mapping[str, Any]) -> str:
    """The ``<script type="application/ld+json">`` element; ``<``, ``>``, ``&`` are JSON-escaped so no value ends it."""
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/ld+json">\n{text}\n</script>'


def _sections(data: ReportData) -> list[tuple[str, str, list[PanelData]]]:
    grouped: dict[str, list[PanelData]] = {}
    for panel_data in data.panels:
        grouped.setdefault(panel_data.panel.section, []).append(panel_data)
    return [(section, SECTIONS.get(section, section.title()), items) for section, items in grouped.items()]


def render_html(data: ReportData, images: Mapping[str, str], summary_jsonld: Mapping[str, Any]) -> str:
    """The text of ``index.html``; ``images`` maps panel keys (and ``comparison``) to relative PNG paths."""
    name = str(summary_jsonld.get("name") or "LLM performance report")
    description = str(summary_jsonld.get("description") or "")
    generated = str(summary_jsonld.get("dateCreated") or "")
    sections = _sections(data)
    nav = [("totals", "Totals")] + [(f"s-{key}", title) for key, title, _ in sections]
    nav += [("slos", "SLOs"), ("ab", "A/B"), ("methods", "Methods"), ("files", "Files")]
    if data.baseline is not None:
        nav.insert(1, ("baseline", "Baseline"))
    meta = [
        ("Range", f"{rfc3339(data.start)} → {rfc3339(data.end)} ({data.range_})"),
        ("Step / rate window", f"{format_value(data.step, 's')} / {data.window}"),
        ("Job", data.job if data.job else "every job"),
        ("Prometheus", _display_url(data.prometheus)),
        ("Generated", generated),
    ]
    body = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="otel-llmperf {esc(__version__)}">',
        f"<title>{esc(name)}</title>",
        f"<style>{CSS}</style>",
        jsonld_script(summary_jsonld),
        "</head>",
        "<body>",
        '<div class="page">',
        "<header>",
        f"<h1>{esc(name)}</h1>",
        f'<p class="lede">{esc(description)}</p>' if description else "",
        '<dl class="meta">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta) + "</dl>",
        "</header>",
        "<nav>" + "".join(f'<a href="#{esc(anchor)}">{esc(title)}</a>' for anchor, title in nav) + "</nav>",
        "<main>",
        '<section id="totals"><h2>Totals per model</h2>',
        _totals(data),
        "</section>",
        _baseline(data, images),
    ]
    for key, title, items in sections:
        intro = SECTION_INTROS.get(key, "")
        body.append(f'<section id="s-{esc(key)}"><h2>{esc(title)}</h2>')
        if intro:
            body.append(f'<p class="muted">{esc(intro)}</p>')
        body.append('<div class="grid">')
        body += [_figure(panel_data, images.get(panel_data.panel.key)) for panel_data in items]
        body.append("</div></section>")
    body += [
        '<section id="slos"><h2>SLOs</h2>',
        _slos(data.slos),
        "</section>",
        '<section id="ab"><h2>A/B comparison</h2>',
        srm_html(data.srm),  # above the comparison: a mismatch makes it suspect
        _comparison(data.comparison, images.get("comparison")),
        "</section>",
        '<section id="methods"><h2>Methods</h2>',
        _methods(data),
        "</section>",
        '<section id="files"><h2>Files</h2><ul>',
        f'<li><a href="{esc(SUMMARY_JSON)}">{esc(SUMMARY_JSON)}</a>: the transparency summary '
        "(also embedded in this page as schema.org Dataset JSON-LD)</li>",
        f'<li><a href="{esc(QUERIES_JSON)}">{esc(QUERIES_JSON)}</a>: the PromQL of every file, to re-run it</li>',
        f'<li><a href="{esc(TOTALS_CSV)}">{esc(TOTALS_CSV)}</a>, <a href="{esc(SLOS_CSV)}">{esc(SLOS_CSV)}</a>'
        + (f', <a href="{esc(COMPARISON_CSV)}">{esc(COMPARISON_CSV)}</a>' if data.comparison is not None else "")
        + "</li>",
        "<li>One CSV per plot: "
        + ", ".join(f'<a href="{esc(csv_path(p.panel))}">{esc(p.panel.key)}</a>' for p in data.panels)
        + "</li>",
        "</ul></section>",
        "</main>",
        f'<footer>Generated by otel-llmperf {esc(__version__)} · queries: <a href="{esc(QUERIES_JSON)}">'
        f"{esc(QUERIES_JSON)}</a> · times in UTC</footer>",
        "</div>",
        "</body>",
        "</html>",
    ]
    return "\n".join(line for line in body if line) + "\n"


def write_html(data: ReportData, images: Mapping[str, str], summary_jsonld: Mapping[str, Any], out: Path) -> Path:
    """Write ``index.html`` into the report folder ``out``; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(render_html(data, images, summary_jsonld), encoding="utf-8")
    return path


def write_report(
    data: ReportData,
    out: Path,
    *,
    name: str,
    description: str,
    creator: str,
    url: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Write the whole report folder (CSVs, queries.json, PNGs, summary.json, index.html); returns index.html.

    Needs the ``report`` extra (matplotlib) for the plots; ``progress(file)`` is called after each plot.
    """
    from otel_llmperf.report import plots, transparency
    from otel_llmperf.report.csvfiles import png_path, write_all

    out.mkdir(parents=True, exist_ok=True)
    write_all(data, out)
    images: dict[str, str] = {}
    for panel_data in data.panels:
        relative = png_path(panel_data.panel)
        plots.plot_panel(panel_data, out / relative, start=data.start, end=data.end)
        images[panel_data.panel.key] = relative
        progress(relative)
    if data.comparison:
        relative = f"{PLOTS_DIR}/comparison.png"
        if plots.plot_comparison(data.comparison, out / relative) is not None:
            images["comparison"] = relative
        progress(relative)
    summary = transparency.summary(data, name, description, creator, url)
    (out / SUMMARY_JSON).write_text(transparency.dumps(summary), encoding="utf-8")
    return write_html(data, images, transparency.dataset_jsonld(summary), out)
