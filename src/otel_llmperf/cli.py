# SPDX-License-Identifier: Apache-2.0
"""The ``otel-llmperf`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from otel_llmperf import drift_command, slo_command, stack_init, stack_local
from otel_llmperf.doctor import command as doctor_command
from otel_llmperf.report import command as report_command
from otel_llmperf.version import __version__


def _bounded(kind: Callable[[str], float], low: float, high: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is outside {low:g}..{high:g}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="otel-llmperf", description="LLM performance telemetry for OpenTelemetry.")
    parser.add_argument("--version", action="version", version=f"otel-llmperf {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a fake LLM server and realistic traffic through the instrumented provider SDKs",
        description="Serve metrics on OTEL_EXPORTER_PROMETHEUS_HOST:PORT (default 127.0.0.1:9464), export OTLP "
        "when OTEL_EXPORTER_OTLP_ENDPOINT is set, and print a live per-model summary. Ctrl-C stops it.",
    )
    demo.add_argument("--duration", type=_bounded(float, 0, 7 * 86400, "a number of seconds"), default=None,
                      metavar="S", help="stop after S seconds (default: run until Ctrl-C)")  # fmt: skip
    demo.add_argument("--rps", type=_bounded(float, 0.1, 500, "a rate"), default=8.0, metavar="N",
                      help="requests per second, Poisson arrivals (default: 8)")  # fmt: skip
    demo.add_argument("--metrics-port", type=_bounded(int, 0, 65535, "a port"), default=None, metavar="P",
                      help="Prometheus port, overriding OTEL_EXPORTER_PROMETHEUS_PORT (0: any free port)")  # fmt: skip
    demo.add_argument("--seed", type=int, default=7, help="random seed of the traffic and the fake server")
    demo.add_argument("--refresh", type=_bounded(float, 0.2, 3600, "a number of seconds"), default=3.0, metavar="S",
                      help="seconds between summary refreshes (default: 3)")  # fmt: skip
    demo.add_argument("--ab", choices=("concise", "identical"), default="concise",
                      help="how variant b differs: concise (shorter, liked more; default) or identical")  # fmt: skip
    demo.add_argument("--b-lift", type=_bounded(float, 0, 0.5, "a fraction"), default=0.07, metavar="P",
                      help="with --ab concise: how much more often users like b's answers (default: 0.07)")  # fmt: skip
    demo.add_argument("--feedback-rate", type=_bounded(float, 0, 1, "a fraction"), default=None, metavar="P",
                      help="share of chat calls users give feedback on, half of it thumbs (default: 0.35)")  # fmt: skip
    demo.add_argument("--drift-after", type=_bounded(float, 0, 7 * 86400, "a number of seconds"), default=None,
                      metavar="S", help="after S seconds the models drift: new snapshot and fingerprint, longer "
                      "answers, slower first chunks, lower accuracy (default: never)")  # fmt: skip
    slo_command.add_cli(commands)
    drift_command.add_cli(commands)
    report_command.add_cli(commands)
    doctor_command.add_cli(commands)
    stack = commands.add_parser(
        "stack",
        help="the bundled stack: write it as a compose project, or run Prometheus locally",
        description="The bundled stack (Collector, Prometheus, Tempo, Alertmanager, Grafana), shipped in the package.",
    )
    actions = stack.add_subparsers(dest="stack_command", required=True, metavar="ACTION")
    stack_init.add_cli(actions)
    stack_local.add_cli(actions)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from otel_llmperf.demo.run import DemoOptions, run_demo
        from otel_llmperf.demo.traffic import Experiment

        return run_demo(
            DemoOptions(
                duration=args.duration,
                rps=args.rps,
                metrics_port=None if args.metrics_port is None else int(args.metrics_port),
                seed=args.seed,
                refresh=args.refresh,
                experiment=Experiment(args.ab, args.b_lift),
                drift_after=args.drift_after,
                feedback_rate=args.feedback_rate,
            )
        )
    if args.command == "slo":
        return slo_command.run(args)
    if args.command == "drift":
        return drift_command.run(args)
    if args.command == "report":
        return report_command.run(args)
    if args.command == "doctor":
        return doctor_command.run(args)
    if args.command == "stack":
        return stack_init.run(args) if args.stack_command == "init" else stack_local.run(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
