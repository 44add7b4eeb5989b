# SPDX-License-Identifier: Apache-2.0
"""Figures as people read them, shared by the page, the terminal summary and the plots.

Standard library only.
"""

from __future__ import annotations

import math

from otel_llmperf.report.stats import SIGNIFICANT, Comparison

# Units of counts (totals over the range): shown as whole numbers, as increase() extrapolates fractions.
COUNT_UNITS = frozenset({"calls", "tokens", "votes", "ratings", "answers", "samples", "count"})


def _g(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    # Avoid 1.23e+04 in tables: large numbers get thousands separators instead.
    return f"{value:,.0f}" if "e+" in text else text


def format_value(value: float | None, unit: str) -> str:
    """A figure for people: ``123 ms``, ``1.25 s``, ``12.35 %``, ``+42.0`` (NPS), ``1,234`` (counts); ``—`` if none."""
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "s":
        return f"{_g(value * 1000, 3)} ms" if abs(value) < 1 else f"{_g(value, 3)} s"
    if unit == "1":
        return f"{_g(value * 100, 4)} %"
    if unit == "NPS":
        return f"{value:+.1f}"
    if unit in COUNT_UNITS:
        return f"{value:,.0f}"
    if unit.startswith("USD"):
        money = f"{value:,.0f}" if abs(value) >= 1000 else _g(value, 4)
        return f"${money}{unit[3:]}"
    if unit in ("score", ""):
        return _g(value, 3)
    return f"{_g(value, 3)} {unit}"


def format_difference(value: float | None, unit: str) -> str:
    """A signed difference: ratios in percentage points (``+1.2 pp``), the rest as :func:`format_value`."""
    if value is None or math.isnan(value):
        return "—"
    if unit == "1":
        return f"{value * 100:+.3g} pp"
    if unit == "NPS":
        return f"{value:+.1f}"
    return ("-" if value < 0 else "+") + format_value(abs(value), unit)


def format_ci(ci: tuple[float, float] | None, unit: str) -> str:
    """``[low, high]`` of a difference, formatted like the difference."""
    if ci is None:
        return "—"
    return f"[{format_difference(ci[0], unit)}, {format_difference(ci[1], unit)}]"


def format_p(p: float | None) -> str:
    """A p-value: ``0.0123``, ``< 0.0001``, ``—``."""
    if p is None or math.isnan(p):
        return "—"
    return "< 0.0001" if p < 0.0001 else f"{p:.2g}" if p < 0.01 else f"{p:.3f}"


def verdict_class(comparison: Comparison) -> str:
    """CSS class of a verdict: good (b better), bad (a better), warn (different, no direction), muted."""
    if comparison.better == "b":
        return "good"
    if comparison.better == "a":
        return "bad"
    if comparison.verdict in SIGNIFICANT:
        return "warn"
    return "muted"
