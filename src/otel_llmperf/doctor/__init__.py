# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf doctor``: why no data shows up, from the environment ``instrument()`` would read.

:func:`diagnose` resolves the settings from the ``OTEL_*`` variables as ``instrument()`` does,
then looks, without importing any SDK: which provider SDKs are installed and whether each will
be patched; which other GenAI instrumentations are installed and how they layer with ours; where
each signal is exported and whether that endpoint answers (probes in parallel, each with a short
timeout); whether the Prometheus port is free; content capture, user ids and prices; and every
bad configuration value. Each fact is a :class:`Finding` with a severity:

* ``error``: something will not work (no SDK to patch, an endpoint that does not answer or refuses
  exports, a scrape port held by something else, a redactor that cannot load, nothing exported);
* ``warning``: it works, but not as configured (a bad value fell back to its default, an SDK
  version outside the supported range, metrics off, a port serving someone's metrics);
* ``info`` and ``ok``: facts and passed checks.

The command exits 1 when there is any error, else 0. This module is not imported by
``import otel_llmperf``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from otel_llmperf.doctor.exporters import export_findings, multiprocess_findings, plan
from otel_llmperf.doctor.findings import ERROR, INFO, OK, SECTIONS, WARNING, Diagnosis, Finding
from otel_llmperf.doctor.packages import Sdk, peer_findings, sdk_findings, self_tracing_findings
from otel_llmperf.doctor.probes import Probe, Running
from otel_llmperf.doctor.settings_check import load, price_findings, privacy_findings
from otel_llmperf.version import __version__

__all__ = ["ERROR", "INFO", "OK", "WARNING", "Diagnosis", "Finding", "diagnose"]

DEFAULT_TIMEOUT = 1.0
"""Seconds each network probe may take."""


def _guarded(section: str, check: Callable[[], list[Finding]]) -> list[Finding]:
    # A check that fails is a finding of its own: the rest of the diagnosis still shows.
    try:
        return check()
    except Exception as error:
        message = f"the doctor could not check this ({type(error).__name__}: {error})"
        return [Finding(section, ERROR, "doctor", message, "please report this as a bug")]


def diagnose(environ: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> Diagnosis:
    """What ``instrument()`` would do with ``environ`` (default ``os.environ``), and what stands in its way."""
    started = time.monotonic()
    env = dict(os.environ if environ is None else environ)
    settings, variables, config = load(env)
    exports = plan(settings, env, variables, timeout)
    probes: dict[int, Callable[[], Probe]] = {
        index: export.probe for index, export in enumerate(exports) if export.probe is not None
    }
    running = Running(probes)  # on the network while package metadata is read below
    sdks: list[Sdk] = []

    def check_sdks() -> list[Finding]:
        found, lines = sdk_findings(settings)
        sdks.extend(found)
        return lines

    findings = _guarded("sdk", check_sdks)
    findings += _guarded("peer", lambda: self_tracing_findings(sdks, settings) + peer_findings(sdks, settings))
    # A probe's connect and read each have the timeout; the margin covers name resolution.
    probed = running.results(deadline=2 * timeout + 0.5)
    findings += _guarded("export", lambda: export_findings(exports, probed))
    findings += _guarded("prometheus", lambda: multiprocess_findings(settings))
    findings += _guarded("privacy", lambda: privacy_findings(settings, env))
    findings += _guarded("cost", lambda: price_findings(settings, env))
    findings += config
    ordered = sorted(findings, key=lambda finding: SECTIONS.index(finding.section))
    return Diagnosis(tuple(ordered), time.monotonic() - started, __version__)
