# SPDX-License-Identifier: Apache-2.0
"""What the doctor found: one :class:`Finding` per fact, and the :class:`Diagnosis` holding them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

ERROR: Final = "error"
"""Something will not work: no data, or not all of it, reaches where the settings send it."""
WARNING: Final = "warning"
"""Works, but not as configured or not fully (a bad value fell back to its default, ...)."""
INFO: Final = "info"
"""A fact worth knowing (another instrumentation beside ours, content capture off, ...)."""
OK: Final = "ok"
"""A check that passed (an SDK will be patched, an endpoint answered)."""
SEVERITIES: Final = (ERROR, WARNING, INFO, OK)

SECTIONS: Final = ("sdk", "peer", "export", "prometheus", "privacy", "cost", "config")
"""Where a finding belongs, in the order the report shows them."""

SCHEMA_VERSION: Final = 1


@dataclass(frozen=True)
class Finding:
    """One fact about the environment, how bad it is, and what to do about it."""

    section: str
    severity: str
    subject: str
    message: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready values."""
        return {
            "section": self.section,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class Diagnosis:
    """Everything :func:`otel_llmperf.doctor.diagnose` found, and how long it took."""

    findings: tuple[Finding, ...]
    seconds: float
    version: str

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that mean something will not work."""
        return tuple(finding for finding in self.findings if finding.severity == ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings that mean something works, but not as configured."""
        return tuple(finding for finding in self.findings if finding.severity == WARNING)

    @property
    def exit_code(self) -> int:
        """1 when any finding is an error, else 0."""
        return 1 if self.errors else 0

    def counts(self) -> dict[str, int]:
        """How many findings of each severity."""
        counted = Counter(finding.severity for finding in self.findings)
        return {severity: counted.get(severity, 0) for severity in SEVERITIES}

    def as_dict(self) -> dict[str, Any]:
        """The diagnosis as JSON-ready values (the ``--json`` output)."""
        return {
            "schema": SCHEMA_VERSION,
            "version": self.version,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "findings": [finding.as_dict() for finding in self.findings],
        }
