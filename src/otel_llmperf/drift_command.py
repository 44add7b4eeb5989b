# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf drift render``: its options and exit codes (those of ``slo render``).

The spec is :mod:`otel_llmperf.drift`; the rules are :mod:`otel_llmperf.drift_rules`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otel_llmperf.drift import DriftSpecError
from otel_llmperf.drift_rules import render_file
from otel_llmperf.slo import display_path
from otel_llmperf.slo_rules import drift as stale_diff
from otel_llmperf.slo_rules import write_atomically

DEFAULT_SPEC = "grafana/drift.yaml"


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``drift render [FILE] [-o OUTPUT] [--check]`` to the ``otel-llmperf`` command."""
    parser = subparsers.add_parser(
        "drift", help="model drift rules as code", description="Model identity and behaviour drift as code."
    )
    actions = parser.add_subparsers(dest="drift_command", required=True, metavar="ACTION")
    render = actions.add_parser(
        "render",
        help="render Prometheus recording and alerting rules from a drift spec",
        description="Validate a drift spec and render its Prometheus rules: to stdout, or to OUTPUT (written "
        "atomically). Exit 2 on an invalid spec; with --check, exit 1 when OUTPUT differs from the rendering.",
    )
    render.add_argument("file", nargs="?", default=DEFAULT_SPEC, metavar="FILE", help=f"(default: {DEFAULT_SPEC})")
    render.add_argument("-o", "--output", metavar="OUTPUT", help="the rule file to write (default: stdout)")
    render.add_argument("--check", action="store_true", help="write nothing; exit 1 if OUTPUT is not up to date")


def run(args: argparse.Namespace) -> int:
    """Run ``otel-llmperf drift ...``: 0 done or up to date, 1 stale (``--check``), 2 invalid spec or I/O error."""
    prog = "otel-llmperf drift render"
    if args.check and not args.output:
        print(f"{prog}: error: --check needs -o OUTPUT, the file to compare", file=sys.stderr)
        return 2
    try:
        text = render_file(args.file, args.output)
        if args.check:
            stale = stale_diff(Path(args.output), text)
            if stale is not None:
                print(f"{prog}: {display_path(args.output)} is stale; re-render it.\n{stale}", file=sys.stderr)
                return 1
            print(f"{display_path(args.output)} is up to date")
        elif args.output:
            write_atomically(args.output, text)
        else:
            sys.stdout.write(text)
    except (DriftSpecError, OSError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    return 0
