# SPDX-License-Identifier: Apache-2.0
"""The doctor's report as text for a terminal (80 columns) or as JSON for scripts."""

from __future__ import annotations

import json
import textwrap

from otel_llmperf.doctor.findings import ERROR, OK, WARNING, Diagnosis, Finding

WIDTH = 80
_LABELS = {ERROR: "ERROR", WARNING: "warn", OK: "ok"}
_SUBJECT = 12
_INDENT = " " * (1 + 5 + 1 + _SUBJECT + 1)


def _lines(finding: Finding) -> list[str]:
    label = _LABELS.get(finding.severity, finding.severity)
    subject = finding.subject if len(finding.subject) <= _SUBJECT else finding.subject[: _SUBJECT - 1] + "…"
    first = f" {label:<5} {subject:<{_SUBJECT}} "
    lines = textwrap.wrap(
        finding.message, WIDTH, initial_indent=first, subsequent_indent=_INDENT, break_on_hyphens=False
    )
    if finding.fix and finding.severity in (ERROR, WARNING):
        lines += textwrap.wrap(
            finding.fix, WIDTH, initial_indent=_INDENT + "fix: ", subsequent_indent=_INDENT + "     ",
            break_on_hyphens=False,
        )  # fmt: skip
    return lines


def text(diagnosis: Diagnosis) -> str:
    """The report for a person: one line per finding (wrapped at 80 columns), fixes under problems."""
    lines = [f"otel-llmperf {diagnosis.version} doctor: what instrument() would do in this environment"]
    for finding in diagnosis.findings:
        lines += _lines(finding)
    counts = diagnosis.counts()
    errors, warnings = counts[ERROR], counts[WARNING]
    verdict = "no data will be lost" if not errors else "some data will not arrive"
    lines.append(
        f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}: {verdict} "
        f"(checked in {diagnosis.seconds:.2f} s; exit {diagnosis.exit_code})"
    )
    return "\n".join(lines) + "\n"


def as_json(diagnosis: Diagnosis) -> str:
    """The report for a script: :meth:`Diagnosis.as_dict` as JSON."""
    return json.dumps(diagnosis.as_dict(), indent=2) + "\n"
