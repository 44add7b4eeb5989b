# SPDX-License-Identifier: Apache-2.0
"""The report's sample-ratio section: exposures and declared weights from Prometheus, then their rendering.

Shown above the A/B comparison: a mismatch makes every comparison of that experiment suspect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING

from otel_llmperf.instruments import LLMPERF_EXPERIMENT_EXPOSURES, LLMPERF_EXPERIMENT_WEIGHT, spec
from otel_llmperf.report.queries import VARIANT, Scope, selector
from otel_llmperf.report.srm import MISMATCH, NOT_ENOUGH, SRM_ALPHA, SrmResult, srm_test

if TYPE_CHECKING:
    from rich.console import Console

    from otel_llmperf.report.prom import Prometheus

EXPERIMENT = "llmperf_experiment"
QUERY_COUNT = 2


def exposures_query(scope: Scope, range_: str) -> str:
    """Exposures per experiment and variant over ``range_``."""
    metric = selector(spec(LLMPERF_EXPERIMENT_EXPOSURES).prometheus, scope)
    return f"sum by ({EXPERIMENT}, {VARIANT}) (increase({metric}[{range_}]))"


def weights_query(scope: Scope, range_: str) -> str:
    """The last declared share per experiment and variant within ``range_`` (instances agree: max)."""
    metric = selector(spec(LLMPERF_EXPERIMENT_WEIGHT).prometheus, scope)
    return f"max by ({EXPERIMENT}, {VARIANT}) (last_over_time({metric}[{range_}]))"


def collect_srm(
    prom: Prometheus, scope: Scope, at: float, range_: str, progress: Callable[[str], None] = lambda _: None
) -> list[SrmResult]:
    """One SRM check per experiment with declared weights in the range, mismatches first."""
    observed: dict[str, dict[str, float]] = {}
    for series in prom.query(exposures_query(scope, range_), at):
        experiment, variant = series.labels.get(EXPERIMENT, ""), series.labels.get(VARIANT, "")
        if experiment and variant and series.points:
            observed.setdefault(experiment, {})[variant] = round(series.points[-1][1])
    progress("experiment exposures")
    shares: dict[str, dict[str, float]] = {}
    for series in prom.query(weights_query(scope, range_), at):
        experiment, variant = series.labels.get(EXPERIMENT, ""), series.labels.get(VARIANT, "")
        if experiment and variant and series.points:
            shares.setdefault(experiment, {})[variant] = series.points[-1][1]
    progress("experiment weights")
    results = [srm_test(name, observed.get(name, {}), weights) for name, weights in sorted(shares.items())]
    return sorted(results, key=lambda result: result.status != MISMATCH)


def print_srm(results: Sequence[SrmResult], console: Console) -> None:
    """The SRM lines for the terminal: mismatches in bold red first."""
    from rich.text import Text

    for result in results:
        style = "bold red" if result.status == MISMATCH else "yellow" if result.status == NOT_ENOUGH else "dim"
        console.print(Text(result.message(), style=style))


def srm_html(results: Sequence[SrmResult] | None) -> str:
    """The SRM block of the HTML report: a warning per mismatch, then one table row per variant."""
    if not results:
        return ""
    out = ['<div id="srm"><h3>Sample ratio</h3>']
    out += [f'<p class="warn">{escape(r.message())}</p>' for r in results if r.status == MISMATCH]
    out.append(
        '<div class="scroll"><table><thead><tr><th>Experiment</th><th>Variant</th><th class=num>Exposures</th>'
        "<th class=num>Observed share</th><th class=num>Expected share</th><th>Check</th></tr></thead><tbody>"
    )
    for r in results:
        check = {MISMATCH: "mismatch", NOT_ENOUGH: "not enough data"}.get(r.status, "ok")
        p = f" (p = {r.p_value:.2g})" if r.p_value is not None else ""
        for variant, count in r.observed.items():
            out.append(
                f"<tr><td>{escape(r.experiment)}</td><td>{escape(variant)}</td><td class=num>{count:,.0f}</td>"
                f"<td class=num>{r.observed_share[variant]:.1%}</td>"
                f"<td class=num>{r.expected_share.get(variant, 0.0):.1%}</td><td>{escape(check + p)}</td></tr>"
            )
    out.append("</tbody></table></div>")
    out.append(
        f'<p class="muted">Chi-square goodness of fit of exposures (every entry of an assignment) against the '
        f"declared weights; a mismatch is p &lt; {SRM_ALPHA:g}; not tested while any variant expects fewer than "
        "5 exposures.</p></div>"
    )
    return "\n".join(out)
