# SPDX-License-Identifier: Apache-2.0
"""Prometheus rules for the SLOs of a spec (error ratios, burn rates, budget, burn-rate alerts), and their file.

Per SLO, one rule group ``llmperf-slo-<name>`` whose series all carry ``slo="<name>"`` plus the
SLO's ``group_by`` labels (the dashboards depend on these names):

* ``llmperf:slo_error_ratio:rate<W>`` for W in 5m 30m 1h 2h 6h 1d 3d: 1 - good/total calls over W;
* ``llmperf:slo_burn_rate:rate<W>``: that ratio ÷ (1 - objective), 1 meaning "exactly on budget";
* ``llmperf:slo_error_ratio:period``: the mean of the 5m ratios over the SLO period;
* ``llmperf:slo_error_budget_remaining:ratio``: 1 - period ratio ÷ (1 - objective), negative when overspent;
* ``llmperf:slo_objective:ratio`` and ``llmperf:slo_threshold:seconds``: constants labelled ``slo`` only;
* alerts ``LLMPerfSLOFastBurn`` (``severity: page``) and ``LLMPerfSLOSlowBurn`` (``severity: ticket``),
  multi-window multi-burn-rate as in the Google SRE workbook.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from otel_llmperf.slo import Slo, SloSpec, display_path, load_spec

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
DASHBOARD = "/d/llmperf-slo/llmperf-latency-slos?var-slo={name}"

# The recorded series' names: a contract with the SLO dashboard (tools/build_dashboards.py).
ERROR_RATIO = "llmperf:slo_error_ratio:rate{}"
BURN_RATE = "llmperf:slo_burn_rate:rate{}"
ERROR_RATIO_PERIOD = "llmperf:slo_error_ratio:period"
BUDGET_REMAINING = "llmperf:slo_error_budget_remaining:ratio"
OBJECTIVE = "llmperf:slo_objective:ratio"
THRESHOLD = "llmperf:slo_threshold:seconds"
RECORDED = frozenset(
    [ERROR_RATIO.format(w) for w in WINDOWS]
    + [BURN_RATE.format(w) for w in WINDOWS]
    + [ERROR_RATIO_PERIOD, BUDGET_REMAINING, OBJECTIVE, THRESHOLD]
)
# Constants carry only the slo label: filtering them by group_by labels (job) finds nothing.
CONSTANTS = frozenset({OBJECTIVE, THRESHOLD})


@dataclass(frozen=True)
class BurnAlert:
    """One alert: fires when both windows of any (short, long, factor) pair burn faster than the factor."""

    name: str
    severity: str
    pairs: tuple[tuple[str, str, float], ...]


# The SRE workbook's factors for a 30-day budget: 2 % of it spent in 1 h or 5 % in 6 h pages,
# 10 % in 1 d or in 3 d makes a ticket. The short window (1/12 of the long) lets the alert stop
# soon after the burn does, which is also why there is no `for:` by default: the long window
# already demands a sustained burn, and `for:` would only delay the page.
ALERTS = (
    BurnAlert("LLMPerfSLOFastBurn", "page", (("5m", "1h", 14.4), ("30m", "6h", 6.0))),
    BurnAlert("LLMPerfSLOSlowBurn", "ticket", (("2h", "1d", 3.0), ("6h", "3d", 1.0))),
)


def number(value: float) -> str:
    """A PromQL literal that round-trips: ``14.4``, ``6``, ``0.001``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def quote(value: str) -> str:
    """A PromQL double-quoted string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def le_matcher(threshold: float) -> str:
    """The matcher of the bucket ``le=threshold``, spelled as the exporters spell it."""
    text = repr(float(threshold))  # what the OTel Prometheus exporter writes: 10.24, 1.0
    if float(threshold).is_integer():
        # Prometheus's OTLP receiver formats bounds with Go's 'f' format: 1.0 arrives as le="1".
        return f'le=~"{number(threshold)}|{number(threshold)}\\\\.0"'
    return f"le={quote(text)}"


def _selector(series: str, matchers: list[str]) -> str:
    return f"{series}{{{','.join(matchers)}}}" if matchers else series


def _sum(slo: Slo, expr: str) -> str:
    return f"sum by ({', '.join(slo.group_by)}) ({expr})" if slo.group_by else f"sum({expr})"


def _of_slo(record: str, slo: Slo) -> str:
    return f"{record}{{slo={quote(slo.name)}}}"


def error_ratio_expr(slo: Slo, window: str) -> str:
    """1 - good/total calls over ``window``; no sample for a group without calls (rather than NaN)."""
    filters = [f"{label}={quote(value)}" for label, value in slo.filters]
    bad_errors = ['error_type=""'] if slo.errors_are_bad else []
    bucket = _selector(f"{slo.metric.prometheus}_bucket", [*filters, *bad_errors, le_matcher(slo.threshold)])
    good = _sum(slo, f"rate({bucket}[{window}])")
    total = _sum(slo, f"rate({_selector(f'{slo.metric.prometheus}_count', filters)}[{window}])")
    if slo.errors_are_bad:
        # A group whose calls all failed has no error_type="" series at all: 0 good calls, not no answer.
        good = f"(\n    {good}\n    or\n    0 * {total}\n  )"
    # `> 0` drops idle groups: 0/0 is NaN, and one NaN would poison the period's sum_over_time.
    return f"1 - (\n  {good}\n  /\n  ({total} > 0)\n)\n"


def _record(record: str, expr: str, slo: Slo) -> dict[str, Any]:
    return {"record": record, "expr": expr, "labels": {"slo": slo.name}}


def recording_rules(slo: Slo) -> list[dict[str, Any]]:
    """The recording rules of one SLO, each before the rules that read it (a group evaluates in order)."""
    budget = number(slo.error_budget)
    ratio = ERROR_RATIO
    rules = [_record(ratio.format(window), error_ratio_expr(slo, window), slo) for window in WINDOWS]
    rules += [
        _record(BURN_RATE.format(window), f"{_of_slo(ratio.format(window), slo)} / {budget}", slo) for window in WINDOWS
    ]
    # The period ratio averages the recorded 5m ratios, as Sloth does, instead of rate()-ing the
    # raw buckets over 30d: that would read every bucket series' 30 days of samples at each
    # evaluation. The price: each 5m step weighs the same whatever its traffic, and idle steps
    # (no sample, see error_ratio_expr) do not count at all.
    five_minutes = f"{_of_slo(ratio.format('5m'), slo)}[{slo.period}]"
    period = f"sum_over_time({five_minutes})\n/\ncount_over_time({five_minutes})\n"
    remaining = f"1 - {_of_slo(ERROR_RATIO_PERIOD, slo)} / {budget}"
    return [
        *rules,
        _record(ERROR_RATIO_PERIOD, period, slo),
        _record(BUDGET_REMAINING, remaining, slo),
        _record(OBJECTIVE, f"vector({number(slo.objective)})", slo),
        _record(THRESHOLD, f"vector({number(slo.threshold)})", slo),
    ]


def _burn_expr(slo: Slo, alert: BurnAlert) -> str:
    burn = BURN_RATE
    pairs = [
        f"(\n  {_of_slo(burn.format(short), slo)} > {number(factor)}\n"
        f"  and\n  {_of_slo(burn.format(long), slo)} > {number(factor)}\n)"
        for short, long, factor in alert.pairs
    ]
    return "\nor\n".join(pairs) + "\n"


def _conditions(alert: BurnAlert) -> str:
    parts = [f"the {short} and {long} burn rates exceed {number(factor)}" for short, long, factor in alert.pairs]
    return ", or ".join(parts)


def _annotations(slo: Slo, alert: BurnAlert) -> dict[str, str]:
    value = '{{ $value | printf "%.1f" }}'
    where = ", ".join(f"{{{{ $labels.{label} }}}}" for label in slo.group_by)
    calls = _selector(slo.metric.name, [f"{label}={quote(value)}" for label, value in slo.filters])
    errors = "failed calls count as bad" if slo.errors_are_bad else "failed calls count by their duration"
    return {
        "summary": f"{slo.name} is burning its error budget {value}x too fast" + (f" ({where})" if where else ""),
        "description": f"{slo.description.rstrip('.')}. The error budget burns at {value}x the sustainable rate "
        f"({alert.severity} when {_conditions(alert)}). Objective: {slo.objective_percent} of {calls} "
        f"within {number(slo.threshold)} s over {slo.period}; {errors}.",
        "dashboard": DASHBOARD.format(name=slo.name),
    }


def alert_rule(slo: Slo, alert: BurnAlert) -> dict[str, Any]:
    """One burn-rate alert of one SLO."""
    rule: dict[str, Any] = {"alert": alert.name, "expr": _burn_expr(slo, alert)}
    wait = dict(slo.alert_for).get(alert.severity)
    if wait is not None:
        rule["for"] = wait
    rule["labels"] = {"slo": slo.name, "severity": alert.severity}
    rule["annotations"] = _annotations(slo, alert)
    return rule


def rule_group(slo: Slo) -> dict[str, Any]:
    """The rule group of one SLO (evaluated at the global evaluation interval)."""
    return {"name": f"llmperf-slo-{slo.name}", "rules": recording_rules(slo) + [alert_rule(slo, a) for a in ALERTS]}


class _Dumper(yaml.SafeDumper):
    """Indented lists and literal blocks for multi-line PromQL: readable, and stable for the drift test."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _string)


def header(source: str, output: str | None) -> str:
    """The comment on top of a rendered file: generated, from what, and how to re-render it."""
    target = output or "RULES_FILE"
    return (
        f"# GENERATED from {source} by otel-llmperf; do not edit. "
        f"Re-render: otel-llmperf slo render {source} -o {target}\n"
        "# CI: the same command with --check exits 1 when this file is stale.\n"
        "# Rule names are documented in otel_llmperf/slo_rules.py; the dashboards depend on them.\n"
    )


def dump(document: dict[str, Any]) -> str:
    """A rules document as YAML: the one writer of every rendered rule file (SLO and drift)."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def render_rules(spec: SloSpec, source: str = "slo.yaml", output: str | None = None) -> str:
    """The Prometheus rule file of ``spec``, deterministic to the byte for the same input."""
    document = {"groups": [rule_group(slo) for slo in spec.slos]}
    return header(source, output) + dump(document)


def render_file(spec_path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> str:
    """The rule file for the spec at ``spec_path``, whose header names it and ``output`` for re-rendering."""
    spec = load_spec(spec_path)
    return render_rules(spec, source=display_path(spec_path), output=None if output is None else display_path(output))


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to a temporary file next to ``path`` and rename it over, so no reader sees half a file."""
    target = Path(path)
    # Prometheus in a container often runs as another user: keep an existing file's mode, else world-readable.
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def drift(path: str | os.PathLike[str], text: str) -> str | None:
    """None when ``path`` holds exactly ``text``, else a short unified diff (or why it cannot be read)."""
    try:
        current = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"{os.fspath(path)} does not exist"
    if current == text:
        return None
    diff = difflib.unified_diff(
        current.splitlines(keepends=True), text.splitlines(keepends=True), "on disk", "rendered", n=1
    )
    lines = list(diff)
    return "".join(lines[:60]) + (f"... {len(lines) - 60} more diff lines\n" if len(lines) > 60 else "")
