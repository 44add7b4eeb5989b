# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf drift render``: its options and exit codes (those of ``slo render``, :mod:`rules_command`).

The spec is :mod:`otel_llmperf.drift`; the rules are :mod:`otel_llmperf.drift_rules`.
"""

from __future__ import annotations

import argparse

from otel_llmperf.drift import DriftSpecError
from otel_llmperf.drift_rules import render_file
from otel_llmperf.rules_command import add_render, run_render

DEFAULT_SPEC = "grafana/drift.yaml"


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``drift render [FILE] [-o OUTPUT] [--check]`` to the ``otel-llmperf`` command."""
    what = ("model drift rules as code", "Model identity and behaviour drift as code.")
    add_render(subparsers, "drift", what, "a drift spec", DEFAULT_SPEC)


def run(args: argparse.Namespace) -> int:
    """Run ``otel-llmperf drift ...``: 0 done or up to date, 1 stale (``--check``), 2 invalid spec or I/O error."""
    return run_render("otel-llmperf drift render", args, render_file, (DriftSpecError,))
