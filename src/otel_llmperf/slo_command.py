# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf slo render``: its options and exit codes (shared with ``drift render``, :mod:`rules_command`).

The spec is :mod:`otel_llmperf.slo`; the rules and their file are :mod:`otel_llmperf.slo_rules`.
"""

from __future__ import annotations

import argparse

from otel_llmperf.rules_command import add_render, run_render
from otel_llmperf.slo import SloSpecError
from otel_llmperf.slo_rules import render_file

DEFAULT_SPEC = "grafana/slo.yaml"


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``slo render [FILE] [-o OUTPUT] [--check]`` to the ``otel-llmperf`` command."""
    add_render(subparsers, "slo", ("latency SLOs as code", "Latency SLOs as code."), "an SLO spec", DEFAULT_SPEC)


def run(args: argparse.Namespace) -> int:
    """Run ``otel-llmperf slo ...``: 0 done or up to date, 1 stale (``--check``), 2 invalid spec or I/O error."""
    return run_render("otel-llmperf slo render", args, render_file, (SloSpecError,))
