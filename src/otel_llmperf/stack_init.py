# SPDX-License-Identifier: Apache-2.0
"""``otel-llmperf stack init [DIR]``: write the shipped stack as a compose project, or ``--check`` one.

Files already there with the same content are left alone; files that differ are listed and nothing is
written unless ``--force``. ``--slo`` / ``--drift`` render the user's own specs into the rules.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from otel_llmperf import drift, drift_rules, slo, slo_rules
from otel_llmperf.stack_files import (
    DRIFT_RULE_TESTS,
    DRIFT_RULES,
    DRIFT_SPEC,
    SLO_RULE_TESTS,
    SLO_RULES,
    SLO_SPEC,
    shipped_files,
)
from otel_llmperf.stack_wheel import WheelError, copy_wheel, repack_installed
from otel_llmperf.version import __version__

PROG = "otel-llmperf stack init"
DEFAULT_DIR = "otel-llmperf-stack"
WHEELS = "wheels"


@dataclass
class Comparison:
    """How a directory differs from the files ``stack init`` would write."""

    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)


def planned_files(slo_spec: Path | None = None, drift_spec: Path | None = None) -> dict[str, bytes]:
    """The files to write: the shipped stack, with rules rendered from the user's specs when given."""
    files = shipped_files()
    if slo_spec is not None:
        rendered = slo_rules.render_rules(slo.load_spec(slo_spec), source=SLO_SPEC, output=SLO_RULES)
        files[SLO_SPEC] = slo_spec.read_bytes()
        files[SLO_RULES] = rendered.encode("utf-8")
        del files[SLO_RULE_TESTS]  # its unit tests are those of the shipped spec
    if drift_spec is not None:
        rendered = drift_rules.render_rules(drift.load_spec(drift_spec), source=DRIFT_SPEC, output=DRIFT_RULES)
        files[DRIFT_SPEC] = drift_spec.read_bytes()
        files[DRIFT_RULES] = rendered.encode("utf-8")
        for tests in DRIFT_RULE_TESTS:
            del files[tests]  # they test the shipped spec
    return files


def compare(directory: Path, files: dict[str, bytes]) -> Comparison:
    """Which of ``files`` are missing from ``directory``, differ there, or are already current."""
    result = Comparison()
    for name, content in files.items():
        path = directory / name
        if not path.is_file():
            result.missing.append(name)
        elif path.read_bytes() != content:
            result.changed.append(name)
        else:
            result.current.append(name)
    return result


def _wheel_present(directory: Path) -> bool:
    return any((directory / WHEELS).glob(f"otel_llmperf-{__version__}-*.whl"))


def _write(directory: Path, names: list[str], files: dict[str, bytes]) -> None:
    for name in names:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(files[name])
        temporary.replace(path)


def _put_wheel(directory: Path, wheel: Path | None) -> str:
    """Put a wheel in DIR/wheels; a warning line when none can be made (everything else is written)."""
    try:
        made = copy_wheel(wheel, directory / WHEELS) if wheel is not None else repack_installed(directory / WHEELS)
    except WheelError as error:
        return (
            f"{PROG}: warning: no wheel for the demo service: {error}. Make one with "
            f"`pip wheel --no-deps -w {directory / WHEELS} .` in the checkout, or pass --wheel PATH."
        )
    print(f"wrote {made.relative_to(directory).as_posix()} (the demo service installs it)")
    return ""


def _next_steps(directory: Path) -> str:
    return (
        f"\nNext:\n  cd {directory} && docker compose up -d\n"
        "  Grafana: http://127.0.0.1:3000 (anonymous view; admin/admin to edit)\n"
        "  Point an app at the Collector: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 "
        "OTEL_METRICS_EXPORTER=otlp OTEL_SERVICE_NAME=<your service>\n"
        "  Edit grafana/slo.yaml or grafana/drift.yaml, then re-render: otel-llmperf slo render "
        f"{SLO_SPEC} -o {SLO_RULES} (and drift render likewise)\n"
        "  No Docker: otel-llmperf stack prometheus (the local prometheus and alertmanager binaries)"
    )


def check(directory: Path, files: dict[str, bytes]) -> int:
    """``--check``: 0 when DIR holds every file as installed, else 1 listing missing and changed ones."""
    result = compare(directory, files)
    missing = list(result.missing)
    if not _wheel_present(directory):
        missing.append(f"{WHEELS}/otel_llmperf-{__version__}-*.whl")
    if not missing and not result.changed:
        print(f"{directory}: up to date with otel-llmperf {__version__} ({len(result.current)} files)")
        return 0
    print(f"{PROG}: {directory} differs from otel-llmperf {__version__}:", file=sys.stderr)
    for name in missing:
        print(f"  missing: {name}", file=sys.stderr)
    for name in result.changed:
        print(f"  changed: {name}", file=sys.stderr)
    print(f"Update with: otel-llmperf stack init --force {directory} (overwrites the changed files)", file=sys.stderr)
    return 1


def init(directory: Path, files: dict[str, bytes], force: bool, wheel: Path | None) -> int:
    """Write the stack into DIR: 0 done, 1 changed files in the way (nothing written)."""
    result = compare(directory, files)
    if result.changed and not force:
        print(f"{PROG}: these files in {directory} differ from otel-llmperf {__version__}:", file=sys.stderr)
        for name in result.changed:
            print(f"  {name}", file=sys.stderr)
        print("Nothing written. Overwrite them with --force, or keep your edits.", file=sys.stderr)
        return 1
    _write(directory, result.missing + result.changed, files)
    print(
        f"{directory}: {len(result.missing)} written, {len(result.changed)} overwritten, "
        f"{len(result.current)} already current (otel-llmperf {__version__})"
    )
    warning = _put_wheel(directory, wheel)
    print(_next_steps(directory))
    if warning:
        print(warning, file=sys.stderr)
    return 0


def add_cli(stack: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``stack init [DIR] [--check] [--force] [--slo SPEC] [--drift SPEC] [--wheel PATH]``."""
    parser = stack.add_parser(
        "init",
        help="write the stack (compose file, configs, dashboards, rules, a wheel) into a directory",
        description="Write a ready-to-`docker compose up` project: Collector, Prometheus, Tempo, Alertmanager "
        "and Grafana configs, dashboards, SLO and drift rules, and a wheel of this otel-llmperf for the demo "
        "service. Exit 1 when files there differ (nothing is written without --force); 2 on errors.",
    )
    parser.add_argument("directory", nargs="?", default=DEFAULT_DIR, metavar="DIR", help=f"(default: {DEFAULT_DIR})")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 listing missing or changed files")
    parser.add_argument("--force", action="store_true", help="overwrite files that differ from the installed version")
    parser.add_argument("--slo", type=Path, metavar="SPEC", help="render the SLO rules from this spec")
    parser.add_argument("--drift", type=Path, metavar="SPEC", help="render the drift rules from this spec")
    parser.add_argument("--wheel", type=Path, metavar="PATH", help="copy this otel-llmperf wheel to DIR/wheels")


def run(args: argparse.Namespace) -> int:
    """Run ``stack init``: 0 done or current, 1 differing files, 2 invalid spec or I/O error."""
    directory = Path(args.directory)
    try:
        files = planned_files(args.slo, args.drift)
        if args.check:
            return check(directory, files)
        return init(directory, files, args.force, args.wheel)
    except (slo.SloSpecError, drift.DriftSpecError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
    except OSError as error:
        where = error.filename if error.filename is not None else directory
        print(f"{PROG}: error: {where}: {error.strerror or error}", file=sys.stderr)
    return 2
