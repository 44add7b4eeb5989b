# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf doctor``: options and exit codes; the checks are :func:`otel_llmperf.doctor.diagnose`."""

from __future__ import annotations

import argparse
import sys


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.05 <= value <= 30:
        raise argparse.ArgumentTypeError(f"{text!r} is outside 0.05..30")
    return value


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``doctor [--json] [--timeout S]`` to the ``otel-llmperf`` command."""
    doctor = subparsers.add_parser(
        "doctor",
        help="say why no data shows up: SDKs, other instrumentations, exporters, endpoints, settings",
        description="Check what instrument() would do with this environment's OTEL_* variables: which SDKs "
        "will be patched, other GenAI instrumentations, where each signal goes and whether it answers, the "
        "Prometheus port, content capture, prices and bad values. Exit 1 when something will not work "
        "(an error), else 0.",
    )
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON (for scripts)")
    doctor.add_argument("--timeout", type=_timeout, default=1.0, metavar="S",
                        help="seconds each network probe may take (default: 1)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run ``otel-llmperf doctor``: 0 when nothing is an error, 1 otherwise."""
    from otel_llmperf.doctor import diagnose
    from otel_llmperf.doctor.render import as_json, text

    diagnosis = diagnose(timeout=args.timeout)
    sys.stdout.write(as_json(diagnosis) if args.json else text(diagnosis))
    return diagnosis.exit_code
