# SPDX-License-Identifier: Apache-2.0
"""Latency SLOs as code: a small YAML spec, validated, rendered to Prometheus rules by ``otel-llmperf slo render``.

The spec (``grafana/slo.yaml``)::

    version: 1                  # required; the only format version
    slos:                       # required; a non-empty list of SLOs, each with these fields:
      - name: chat-duration     # required; [a-z0-9][a-z0-9-]{0,62}, unique; the ``slo`` label value
        description: ...        # optional text for alert descriptions (default: made from the fields)
        metric: gen_ai.client.operation.duration   # required; OTel name of a seconds histogram of the contract
        threshold: 10.24        # required; seconds, one of the metric's bucket boundaries
        objective: 0.99         # required; the fraction of good calls, strictly between 0 and 1
        period: 30d             # optional, default 30d; a Prometheus duration of at least 3d
        filters:                # optional; exact matches on Prometheus label names, ANDed
          gen_ai_operation_name: chat
        errors_are_bad: true    # optional, default true; failed calls (error_type set) are bad even when fast
        group_by: [job]         # optional, default [job]; the labels the SLO is evaluated per ([] = one SLO)
        alert_for:              # optional; ``for:`` of the alerts, default none (fire on the first evaluation)
          page: 2m
          ticket: 1h

A good call is one in the bucket ``le=threshold`` (and, when ``errors_are_bad``, without
``error_type``); the total is every call matching ``filters``. Filters and ``group_by`` take
Prometheus label names (``gen_ai_request_model``, not ``gen_ai.request.model``); ``le``,
``slo`` and ``error_type`` are reserved. The generated rule names are documented in
:mod:`otel_llmperf.slo_rules`. Every error is a :class:`SloSpecError` naming the field
(``slos[1].threshold``) and what it allows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from otel_llmperf.instruments import CONTRACT, MetricSpec

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
# The slow-burn alert reads a 3d window: a shorter period could not be judged by it.
MIN_PERIOD_SECONDS = 3 * 86400
# le is the bucket, slo our own label, error_type what errors_are_bad decides on.
RESERVED_LABELS = ("le", "slo", "error_type")
SEVERITIES = ("page", "ticket")
_TOP_KEYS = ("version", "slos")
_SLO_KEYS = (
    "name", "description", "metric", "threshold", "objective", "period",
    "filters", "errors_are_bad", "group_by", "alert_for",
)  # fmt: skip
# Latency SLOs only: a threshold in seconds makes no sense on token counts or scores.
LATENCY_METRICS: dict[str, MetricSpec] = {m.name: m for m in CONTRACT if m.kind == "histogram" and m.unit == "s"}


class SloSpecError(ValueError):
    """An SLO spec that cannot be rendered; the message names the field and what it allows."""


@dataclass(frozen=True)
class Slo:
    """One validated SLO."""

    name: str
    description: str
    metric: MetricSpec
    threshold: float
    objective: float
    period: str
    filters: tuple[tuple[str, str], ...]
    errors_are_bad: bool
    group_by: tuple[str, ...]
    alert_for: tuple[tuple[str, str], ...]

    @property
    def error_budget(self) -> float:
        """1 - objective, computed in decimal so 0.999 gives 0.001 and not 0.0010000000000000009."""
        return float(Decimal(1) - Decimal(repr(self.objective)))

    @property
    def objective_percent(self) -> str:
        """The objective as a percentage: ``99%``, ``99.95%``."""
        return percent(self.objective)


@dataclass(frozen=True)
class SloSpec:
    """A validated spec file."""

    slos: tuple[Slo, ...]


def percent(fraction: float) -> str:
    """``fraction`` as an exact percentage: 0.99 → ``99%``, 0.9995 → ``99.95%``."""
    return f"{Decimal(repr(fraction)) * 100:f}".rstrip("0").rstrip(".") + "%"


def _fail(field: str, message: str) -> SloSpecError:
    return SloSpecError(f"{field}: {message}")


def _keys(data: object, field: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(field, f"must be a mapping with keys {', '.join(allowed)}; got {type(data).__name__}")
    unknown = [str(key) for key in data if key not in allowed]
    if unknown:
        raise _fail(field, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return data


def _string(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, f"must be a non-empty string; got {value!r}")
    return value


def _number(value: object, field: str) -> float:
    # bool is an int subclass, and `threshold: yes` is a typo, not 1 s.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, f"must be a number; got {value!r}")
    return float(value)


def duration_seconds(text: object, field: str) -> float:
    """Seconds in a Prometheus duration (``30d``, ``1h30m``); a :class:`SloSpecError` naming ``field`` if invalid."""
    match = DURATION.fullmatch(text) if isinstance(text, str) and text else None
    if match is None:
        raise _fail(field, f"must be a Prometheus duration such as 30d, 28d, 6h or 1h30m; got {text!r}")
    return sum(int(part) * unit for part, unit in zip(match.groups(), _UNITS, strict=True) if part)


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise _fail(field, f"must match [a-z0-9][a-z0-9-]{{0,62}} (lower case, digits, dashes); got {value!r}")
    return value


def _metric(value: object, field: str) -> MetricSpec:
    if not isinstance(value, str) or value not in LATENCY_METRICS:
        allowed = ", ".join(LATENCY_METRICS)
        raise _fail(field, f"{value!r} is not a latency histogram of the metric contract; allowed: {allowed}")
    return LATENCY_METRICS[value]


def _threshold(value: object, metric: MetricSpec, field: str) -> float:
    threshold = _number(value, field)
    if threshold not in metric.buckets:
        allowed = ", ".join(repr(bound) for bound in metric.buckets)
        raise _fail(field, f"{value!r} is not a bucket boundary of {metric.name}; allowed: {allowed}")
    return threshold


def _objective(value: object, field: str) -> float:
    objective = _number(value, field)
    if not 0 < objective < 1:
        raise _fail(field, f"must be strictly between 0 and 1 (0.99 for 99%); got {value!r}")
    return objective


def _period(value: object, field: str) -> str:
    if duration_seconds(value, field) < MIN_PERIOD_SECONDS:
        raise _fail(field, f"must be at least 3d, the longest alert window; got {value!r}")
    return str(value)


def _label(value: object, field: str) -> str:
    if not isinstance(value, str) or not LABEL.fullmatch(value) or value.startswith("__"):
        hint = " (Prometheus names use _ where OTel uses .)" if isinstance(value, str) and "." in value else ""
        raise _fail(field, f"must be a Prometheus label name like gen_ai_request_model{hint}; got {value!r}")
    if value in RESERVED_LABELS:
        raise _fail(field, f"{value!r} is reserved ({', '.join(RESERVED_LABELS)}); errors_are_bad decides on errors")
    return value


def _filters(value: object, field: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise _fail(field, f"must be a mapping of label name to value; got {value!r}")
    pairs = []
    for key, match in value.items():
        label = _label(key, f"{field}.{key}")
        # Alert descriptions quote the filters, and {{ would start a template action there.
        if isinstance(match, bool) or not isinstance(match, (str, int)) or "{{" in str(match):
            raise _fail(f"{field}.{key}", f"must be a string (an exact label value) without {{{{; got {match!r}")
        pairs.append((label, str(match)))
    return tuple(pairs)


def _group_by(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(field, f"must be a list of label names such as [job]; got {value!r}")
    labels = tuple(_label(item, f"{field}[{index}]") for index, item in enumerate(value))
    if len(set(labels)) != len(labels):
        raise _fail(field, f"lists a label twice: {list(labels)}")
    return labels


def _alert_for(value: object, field: str) -> tuple[tuple[str, str], ...]:
    data = _keys(value, field, SEVERITIES)
    for severity, text in data.items():
        duration_seconds(text, f"{field}.{severity}")
    return tuple((severity, str(data[severity])) for severity in SEVERITIES if severity in data)


def _description(value: object, field: str, default: str) -> str:
    if value is None:
        return default
    text = _string(value, field)
    if "{{" in text:  # it goes into a Prometheus template, where {{ would start an action
        raise _fail(field, "must not contain {{")
    return " ".join(text.split())


def parse_slo(data: object, field: str) -> Slo:
    """One SLO from its parsed YAML mapping; ``field`` (``slos[0]``) prefixes error messages."""
    raw = _keys(data, field, _SLO_KEYS)
    for required in ("name", "metric", "threshold", "objective"):
        if required not in raw:
            raise _fail(f"{field}.{required}", "is required")
    metric = _metric(raw["metric"], f"{field}.metric")
    threshold = _threshold(raw["threshold"], metric, f"{field}.threshold")
    objective = _objective(raw["objective"], f"{field}.objective")
    errors_are_bad = raw.get("errors_are_bad", True)
    if not isinstance(errors_are_bad, bool):
        raise _fail(f"{field}.errors_are_bad", f"must be true or false; got {errors_are_bad!r}")
    default = f"{percent(objective)} of {metric.name} within {threshold!r} s"
    return Slo(
        name=_name(raw["name"], f"{field}.name"),
        description=_description(raw.get("description"), f"{field}.description", default),
        metric=metric,
        threshold=threshold,
        objective=objective,
        period=_period(raw.get("period", "30d"), f"{field}.period"),
        filters=_filters(raw.get("filters", {}), f"{field}.filters"),
        errors_are_bad=errors_are_bad,
        group_by=_group_by(raw.get("group_by", ["job"]), f"{field}.group_by"),
        alert_for=_alert_for(raw.get("alert_for", {}), f"{field}.alert_for"),
    )


def parse_spec(data: object) -> SloSpec:
    """A validated spec from parsed YAML; a :class:`SloSpecError` naming the first bad field."""
    raw = _keys(data, "spec", _TOP_KEYS)
    if raw.get("version") != 1:
        raise _fail("version", f"must be 1; got {raw.get('version')!r}")
    items = raw.get("slos")
    if not isinstance(items, list) or not items:
        raise _fail("slos", f"must be a non-empty list of SLOs; got {items!r}")
    slos = tuple(parse_slo(item, f"slos[{index}]") for index, item in enumerate(items))
    seen: dict[str, int] = {}
    for index, slo in enumerate(slos):
        if slo.name in seen:
            raise _fail(f"slos[{index}].name", f"{slo.name!r} is already the name of slos[{seen[slo.name]}]")
        seen[slo.name] = index
    return SloSpec(slos)


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, minus its silent last-wins on a repeated key (which hides typos)."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[str] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode):
            if key.value in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key.value!r}", key.start_mark)
            seen.add(key.value)
    return loader.construct_mapping(node, deep=True)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_spec(path: str | os.PathLike[str]) -> SloSpec:
    """Read and validate a spec file; a :class:`SloSpecError` starting with the file's path on any problem."""
    shown = os.fspath(path)  # as the user gave it: a message names the file they typed
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SloSpecError(f"{shown}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SloSpecError(f"{shown}: cannot read: {error}") from None
    try:
        data = yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as error:
        raise SloSpecError(f"{shown}: not valid YAML: {' '.join(str(error).split())}") from None
    try:
        return parse_spec(data)
    except SloSpecError as error:
        raise SloSpecError(f"{shown}: {error}") from None


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the working directory when inside it, else its name: never a machine's absolute path.

    For what rendered rule files record of their source; messages show the path as given (``os.fspath``).
    """
    # Symlinks are kept: the repository's grafana/ links into the package, and its rule headers must
    # name grafana/slo.yaml, as they do in a directory written by `otel-llmperf stack init`.
    cwd = Path.cwd().resolve()
    for candidate in (Path(os.path.abspath(path)), Path(path).resolve()):
        try:
            return candidate.relative_to(cwd).as_posix()
        except ValueError:
            continue
    return Path(path).resolve().name
