# SPDX-License-Identifier: Apache-2.0
"""The stack that ships inside the package (``otel_llmperf/stack``): compose file, configs, dashboards, rules.

The repository's ``docker-compose.yml`` and ``grafana/`` are symlinks to the same files, so there is one
source. They are package data, read through :mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE = "otel_llmperf"
STACK = "stack"
# Relative to the stack directory, as `stack init` writes them and the compose file mounts them.
SLO_SPEC = "grafana/slo.yaml"
DRIFT_SPEC = "grafana/drift.yaml"
SLO_RULES = "grafana/prometheus/rules/llmperf-slo.rules.yml"
DRIFT_RULES = "grafana/prometheus/rules/llmperf-drift.rules.yml"
SLO_RULE_TESTS = "grafana/prometheus/rules/llmperf-slo.rules.test.yml"
# The week-long cases (evaluated once) and the hour-after-hour ones: two files keep promtool cheap.
DRIFT_RULE_TESTS = (
    "grafana/prometheus/rules/llmperf-drift.rules.test.yml",
    "grafana/prometheus/rules/llmperf-drift-hourly.rules.test.yml",
)
RULES_DIR = "grafana/prometheus/rules"
PROMETHEUS_CONFIG = "grafana/prometheus/prometheus.yml"
ALERTMANAGER_CONFIG = "grafana/alertmanager/alertmanager.yml"
RULE_GLOB = "llmperf-*.rules.yml"


def stack_root() -> Traversable:
    """The installed stack directory."""
    return files(PACKAGE) / STACK


def _walk(node: Traversable, prefix: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for child in node.iterdir():
        if child.name.startswith(".") or child.name == "__pycache__":
            continue
        name = f"{prefix}{child.name}"
        if child.is_dir():
            found.update(_walk(child, f"{name}/"))
        else:
            found[name] = child.read_bytes()
    return found


def shipped_files() -> dict[str, bytes]:
    """Every file of the stack: relative POSIX path → content."""
    return dict(sorted(_walk(stack_root(), "").items()))


def packaged_path(relative: str) -> Path:
    """A shipped file on disk (packages installed from a wheel or editable are plain directories)."""
    return Path(str(stack_root().joinpath(*relative.split("/"))))


def spec_or_packaged(local: Path, relative: str) -> Path:
    """``local`` when it exists (a checkout or a ``stack init`` directory), else the installed copy."""
    return local if local.is_file() else packaged_path(relative)
