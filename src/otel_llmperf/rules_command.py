# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf <spec> render``: the options and exit codes that ``slo render`` and ``drift render`` share."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from otel_llmperf.slo_rules import drift as stale_diff
from otel_llmperf.slo_rules import write_atomically


def add_render(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    what: tuple[str, str],
    spec: str,
    default_spec: str,
) -> None:
    """Add ``NAME render [FILE] [-o OUTPUT] [--check]``: ``what`` is (help, description), ``spec`` "an SLO spec"."""
    parser = subparsers.add_parser(name, help=what[0], description=what[1])
    actions = parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")
    render = actions.add_parser(
        "render",
        help=f"render Prometheus recording and alerting rules from {spec}",
        description=f"Validate {spec} and render its Prometheus rules: to stdout, or to OUTPUT (written "
        "atomically). Exit 2 on an invalid spec; with --check, exit 1 when OUTPUT differs from the rendering.",
    )
    render.add_argument("file", nargs="?", default=default_spec, metavar="FILE", help=f"(default: {default_spec})")
    render.add_argument("-o", "--output", metavar="OUTPUT", help="the rule file to write (default: stdout)")
    render.add_argument("--check", action="store_true", help="write nothing; exit 1 if OUTPUT is not up to date")


def run_render(
    prog: str,
    args: argparse.Namespace,
    render_file: Callable[[str, str | None], str],
    errors: tuple[type[Exception], ...],
) -> int:
    """Render (or ``--check``) a spec's rules: 0 done or up to date, 1 stale, 2 invalid spec or I/O error."""
    if args.check and not args.output:
        print(f"{prog}: error: --check needs -o OUTPUT, the file to compare", file=sys.stderr)
        return 2
    catch: tuple[type[Exception], ...] = (*errors, OSError)
    try:
        text = render_file(args.file, args.output)
        if args.check:
            stale = stale_diff(args.output, text)
            if stale is not None:
                print(f"{prog}: {args.output} is stale; re-render it.\n{stale}", file=sys.stderr)
                return 1
            print(f"{args.output} is up to date")
        elif args.output:
            write_atomically(args.output, text)
        else:
            sys.stdout.write(text)
    except catch as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    return 0
