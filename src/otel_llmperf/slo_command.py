# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf slo render``: its options and exit codes.

The spec is :mod:`otel_llmperf.slo`; the rules and their file are :mod:`otel_llmperf.slo_rules`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from otel_llmperf.slo import SloSpecError, display_path
from otel_llmperf.slo_rules import drift, render_file, write_atomically

DEFAULT_SPEC = "grafana/slo.yaml"


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``slo render [FILE] [-o OUTPUT] [--check]`` to the ``otel-llmperf`` command."""
    slo = subparsers.add_parser("slo", help="latency SLOs as code", description="Latency SLOs as code.")
    actions = slo.add_subparsers(dest="slo_command", required=True, metavar="ACTION")
    render = actions.add_parser(
        "render",
        help="render Prometheus recording and alerting rules from an SLO spec",
        description="Validate an SLO spec and render its Prometheus rules: to stdout, or to OUTPUT (written "
        "atomically). Exit 2 on an invalid spec; with --check, exit 1 when OUTPUT differs from the rendering.",
    )
    render.add_argument("file", nargs="?", default=DEFAULT_SPEC, metavar="FILE", help=f"(default: {DEFAULT_SPEC})")
    render.add_argument("-o", "--output", metavar="OUTPUT", help="the rule file to write (default: stdout)")
    render.add_argument("--check", action="store_true", help="write nothing; exit 1 if OUTPUT is not up to date")


def run(args: argparse.Namespace) -> int:
    """Run ``otel-llmperf slo ...``: 0 done or up to date, 1 stale (``--check``), 2 invalid spec or I/O error."""
    prog = "otel-llmperf slo render"
    if args.check and not args.output:
        print(f"{prog}: error: --check needs -o OUTPUT, the file to compare", file=sys.stderr)
        return 2
    try:
        text = render_file(args.file, args.output)
        if args.check:
            stale = drift(Path(args.output), text)
            if stale is not None:
                print(f"{prog}: {display_path(args.output)} is stale; re-render it.\n{stale}", file=sys.stderr)
                return 1
            print(f"{display_path(args.output)} is up to date")
        elif args.output:
            write_atomically(args.output, text)
        else:
            sys.stdout.write(text)
    except (SloSpecError, OSError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    return 0
