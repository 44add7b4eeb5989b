# SPDX-License-Identifier: Apache-2.0
"""Drift as code: a YAML spec, validated, rendered to Prometheus rules by ``otel-llmperf drift render``.

Two kinds of drift: the model behind a name changed (a new response model or system fingerprint,
the ``identity`` section), and the behaviour shifted (a recent window against a baseline window,
the ``signals``). The spec (``grafana/drift.yaml``)::

    version: 1                    # required; the only format version
    defaults:                     # optional; every signal takes these unless it sets its own
      window: 1h                  # the recent window, and the length of the baseline window
      baseline_offset: 1w         # how far back the baseline window lies (the same hour last week)
      group_by: [job, gen_ai_request_model]   # labels compared separately ([] = all pooled)
      min_count: 100              # calls (or events of the denominator) needed in EACH window
      min_change: 0.25            # relative change needed: recent/baseline beyond 1 ± min_change
      z: 4                        # ratio signals: two-proportion z score needed (|z|)
      severity: ticket            # the alerts' severity label (routed by Alertmanager)
      for: 5m                     # optional ``for:`` of the alerts (default none)
    identity:                     # optional; omit it and no identity rule is rendered
      window: 1h                  # an identity is new when seen in this window...
      baseline: 1w                # ...but not in this long a window just before it
      min_calls: 10               # calls it must have served before the alert fires
      group_by: [job]             # besides provider, request and response model, fingerprint
      severity: ticket
      for: 0s
    signals:                      # required (may be empty); each with these fields:
      - name: ttfc-p95            # required; [a-z0-9][a-z0-9-]{0,62}, unique; the ``drift`` label value
        description: ...          # optional text for the alert
        kind: quantile            # required; quantile, mean or ratio
        metric: gen_ai.client.operation.time_to_first_chunk   # required; OTel name in the contract
        quantile: 0.95            # quantile only; strictly between 0 and 1
        filters: ['gen_ai_operation_name="chat"']   # optional PromQL label matchers, ANDed
        numerator: ['error_type!=""']               # ratio only, required: matchers of the events counted
        split_by: error_type      # ratio only, optional: one ratio per value of this label (a mix)
        direction: up             # up, down or both: which change is drift
        # and any of window, baseline_offset, group_by, min_count, min_change, z, severity, for

``quantile`` and ``mean`` take a histogram of the contract (``mean`` is sum/count: output tokens
per call, mean rating, mean evaluation score); ``ratio`` takes a counter or a histogram (its
``_count``): the share of the ``filters`` events that also match ``numerator``. Label names are
Prometheus names (``gen_ai_request_model``, not ``gen_ai.request.model``); ``le`` and ``drift``
are reserved. Every error is a :class:`DriftSpecError` naming the field (``signals[1].quantile``)
and, when read from a file, the file and line. The rules are :mod:`otel_llmperf.drift_rules`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from otel_llmperf.instruments import CONTRACT, MetricSpec
from otel_llmperf.slo import DURATION, LABEL, NAME, StrictLoader

KINDS = ("quantile", "mean", "ratio")
DIRECTIONS = ("up", "down", "both")
SEVERITIES = ("page", "ticket")
RESERVED_LABELS = ("le", "drift")
# One PromQL label matcher: name, operator, double-quoted value.
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_TOP_KEYS = ("version", "defaults", "identity", "signals")
_TUNING_KEYS = ("window", "baseline_offset", "group_by", "min_count", "min_change", "z", "severity", "for")
_IDENTITY_KEYS = ("window", "baseline", "min_calls", "group_by", "severity", "for")
_SIGNAL_KEYS = (
    "name", "description", "kind", "metric", "quantile", "filters", "numerator", "split_by", "direction",
    *_TUNING_KEYS,
)  # fmt: skip
HISTOGRAMS: dict[str, MetricSpec] = {m.name: m for m in CONTRACT if m.kind == "histogram"}
METRICS: dict[str, MetricSpec] = {m.name: m for m in CONTRACT}
# The defaults when the spec's `defaults` leaves a field out (docs/drift.md explains each choice).
BUILTIN_DEFAULTS: dict[str, Any] = {
    "window": "1h",
    "baseline_offset": "1w",
    "group_by": ["job", "gen_ai_request_model"],
    "min_count": 100,
    "min_change": 0.25,
    "z": 4.0,
    "severity": "ticket",
}


class DriftSpecError(ValueError):
    """A drift spec that cannot be rendered; the message names the field and what it allows."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


@dataclass(frozen=True)
class Tuning:
    """Windows and guards of one signal (its own, else the spec's defaults)."""

    window: str
    baseline_offset: str
    group_by: tuple[str, ...]
    min_count: int
    min_change: float
    z: float
    severity: str
    wait: str | None


@dataclass(frozen=True)
class Signal:
    """One validated behaviour signal."""

    name: str
    description: str
    kind: str
    metric: MetricSpec
    quantile: float | None
    filters: tuple[str, ...]
    numerator: tuple[str, ...]
    split_by: str | None
    direction: str
    tuning: Tuning


@dataclass(frozen=True)
class Identity:
    """The model-identity alert's settings."""

    window: str
    baseline: str
    min_calls: int
    group_by: tuple[str, ...]
    severity: str
    wait: str | None


@dataclass(frozen=True)
class DriftSpec:
    """A validated drift spec."""

    identity: Identity | None
    signals: tuple[Signal, ...]


def _keys(data: object, field: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise DriftSpecError(field, f"must be a mapping with keys {', '.join(allowed)}; got {type(data).__name__}")
    for key in data:
        if key not in allowed:
            raise DriftSpecError(f"{field}.{key}" if field != "spec" else str(key),
                                 f"unknown key; allowed: {', '.join(allowed)}")  # fmt: skip
    return data


def _join(field: str, key: str) -> str:
    return key if field == "spec" else f"{field}.{key}"


def _duration(value: object, field: str) -> str:
    match = DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if match is None or not any(match.groups()):
        raise DriftSpecError(field, f"must be a Prometheus duration such as 1h, 1w, 30m or 20s; got {value!r}")
    return str(value)


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DriftSpecError(field, f"must be a number; got {value!r}")
    return float(value)


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DriftSpecError(field, f"must be a whole number of at least 1; got {value!r}")
    return value


def _label(value: object, field: str) -> str:
    if not isinstance(value, str) or not LABEL.fullmatch(value) or value.startswith("__"):
        hint = " (Prometheus names use _ where OTel uses .)" if isinstance(value, str) and "." in value else ""
        raise DriftSpecError(field, f"must be a Prometheus label name like gen_ai_request_model{hint}; got {value!r}")
    if value in RESERVED_LABELS:
        raise DriftSpecError(field, f"{value!r} is reserved ({', '.join(RESERVED_LABELS)})")
    return value


def _group_by(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise DriftSpecError(field, f"must be a list of label names such as [job]; got {value!r}")
    labels = tuple(_label(item, f"{field}[{index}]") for index, item in enumerate(value))
    if len(set(labels)) != len(labels):
        raise DriftSpecError(field, f"lists a label twice: {list(labels)}")
    return labels


def _matchers(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise DriftSpecError(
            field, f"must be a list of PromQL label matchers such as ['error_type!=\"\"']; got {value!r}"
        )
    matchers = []
    for index, item in enumerate(value):
        match = MATCHER.fullmatch(item.strip()) if isinstance(item, str) else None
        if match is None or "{{" in item:
            raise DriftSpecError(
                f"{field}[{index}]", f'must be one label matcher: name, =, !=, =~ or !~, a "quoted" value; got {item!r}'
            )
        _label(match.group(1), f"{field}[{index}]")
        matchers.append(f'{match.group(1)}{match.group(2)}"{match.group(3)}"')
    return tuple(matchers)


def _severity(value: object, field: str) -> str:
    if value not in SEVERITIES:
        raise DriftSpecError(field, f"must be one of {', '.join(SEVERITIES)}; got {value!r}")
    return str(value)


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or "{{" in value:
        raise DriftSpecError(field, f"must be a non-empty string without {{{{; got {value!r}")
    return " ".join(value.split())


def _tuning(raw: Mapping[str, Any], defaults: Mapping[str, Any], field: str) -> Tuning:
    def pick(key: str) -> tuple[Any, str]:
        # A bad inherited value is the defaults' fault: name the field where it was written.
        return (raw[key], _join(field, key)) if key in raw else (defaults.get(key), f"defaults.{key}")

    min_change, min_change_field = pick("min_change")
    wait, wait_field = pick("for")
    return Tuning(
        window=_duration(*pick("window")),
        baseline_offset=_duration(*pick("baseline_offset")),
        group_by=_group_by(*pick("group_by")),
        min_count=_count(*pick("min_count")),
        min_change=_positive(min_change, min_change_field),
        z=_positive(*pick("z")),
        severity=_severity(*pick("severity")),
        wait=None if wait is None else _duration(wait, wait_field),
    )


def _positive(value: object, field: str) -> float:
    number = _number(value, field)
    if not number > 0 or number == float("inf"):
        raise DriftSpecError(field, f"must be a positive number; got {value!r}")
    return number


def _defaults(data: object) -> dict[str, Any]:
    raw = _keys({} if data is None else data, "defaults", _TUNING_KEYS)
    merged = {**BUILTIN_DEFAULTS, **raw}
    # Validate the defaults once, where they are written, even if every signal overrides them.
    _tuning({}, merged, "defaults")
    return merged


def _metric(value: object, kind: str, field: str) -> MetricSpec:
    allowed = METRICS if kind == "ratio" else HISTOGRAMS
    if not isinstance(value, str) or value not in allowed:
        what = "metric of the contract" if kind == "ratio" else "histogram of the contract"
        raise DriftSpecError(field, f"{value!r} is not a {what}; allowed: {', '.join(allowed)}")
    return allowed[value]


def parse_signal(data: object, field: str, defaults: Mapping[str, Any]) -> Signal:
    """One signal from its parsed YAML mapping; ``field`` (``signals[0]``) prefixes error messages."""
    raw = _keys(data, field, _SIGNAL_KEYS)
    for required in ("name", "kind", "metric", "direction"):
        if required not in raw:
            raise DriftSpecError(f"{field}.{required}", "is required")
    name = raw["name"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise DriftSpecError(f"{field}.name", f"must match [a-z0-9][a-z0-9-]{{0,62}}; got {name!r}")
    kind = raw["kind"]
    if kind not in KINDS:
        raise DriftSpecError(f"{field}.kind", f"must be one of {', '.join(KINDS)}; got {kind!r}")
    metric = _metric(raw["metric"], kind, f"{field}.metric")
    direction = raw["direction"]
    if direction not in DIRECTIONS:
        raise DriftSpecError(f"{field}.direction", f"must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    quantile = None
    if kind == "quantile":
        if "quantile" not in raw:
            raise DriftSpecError(f"{field}.quantile", "is required for kind quantile")
        quantile = _number(raw["quantile"], f"{field}.quantile")
        if not 0 < quantile < 1:
            raise DriftSpecError(
                f"{field}.quantile", f"must be strictly between 0 and 1 (0.95 for p95); got {quantile!r}"
            )
    elif "quantile" in raw:
        raise DriftSpecError(f"{field}.quantile", f"only applies to kind quantile, not {kind}")
    for ratio_only in ("numerator", "split_by"):
        if ratio_only in raw and kind != "ratio":
            raise DriftSpecError(f"{field}.{ratio_only}", f"only applies to kind ratio, not {kind}")
    if kind == "ratio" and "numerator" not in raw:
        raise DriftSpecError(f"{field}.numerator", "is required for kind ratio")
    numerator = _matchers(raw.get("numerator", []), f"{field}.numerator")
    if kind == "ratio" and not numerator:
        raise DriftSpecError(f"{field}.numerator", "must list at least one matcher")
    split_by = _label(raw["split_by"], f"{field}.split_by") if "split_by" in raw else None
    tuning = _tuning(raw, defaults, field)
    if split_by is not None and split_by in tuning.group_by:
        raise DriftSpecError(f"{field}.split_by", f"{split_by!r} is already in group_by")
    if direction != "up" and tuning.min_change >= 1:
        where = f"{field}.min_change" if "min_change" in raw else "defaults.min_change"
        raise DriftSpecError(where, f"must be below 1 for direction {direction}: a value cannot fall by 100 % or more")
    default = f"{metric.name} {kind}" + (f" p{quantile * 100:g}" if quantile is not None else "")
    description = _text(raw["description"], f"{field}.description") if "description" in raw else default
    return Signal(
        name=name,
        description=description,
        kind=kind,
        metric=metric,
        quantile=quantile,
        filters=_matchers(raw.get("filters", []), f"{field}.filters"),
        numerator=numerator,
        split_by=split_by,
        direction=direction,
        tuning=tuning,
    )


def parse_identity(data: object) -> Identity:
    """The identity section from its parsed YAML mapping."""
    raw = _keys({} if data is None else data, "identity", _IDENTITY_KEYS)
    wait = raw.get("for")
    return Identity(
        window=_duration(raw.get("window", "1h"), "identity.window"),
        baseline=_duration(raw.get("baseline", "1w"), "identity.baseline"),
        min_calls=_count(raw.get("min_calls", 10), "identity.min_calls"),
        group_by=_group_by(raw.get("group_by", ["job"]), "identity.group_by"),
        severity=_severity(raw.get("severity", "ticket"), "identity.severity"),
        wait=None if wait is None else _duration(wait, "identity.for"),
    )


def parse_spec(data: object) -> DriftSpec:
    """A validated spec from parsed YAML; a :class:`DriftSpecError` naming the first bad field."""
    raw = _keys(data, "spec", _TOP_KEYS)
    if raw.get("version") != 1:
        raise DriftSpecError("version", f"must be 1; got {raw.get('version')!r}")
    defaults = _defaults(raw.get("defaults"))
    identity = parse_identity(raw["identity"]) if "identity" in raw else None
    items = raw.get("signals")
    if not isinstance(items, list):
        raise DriftSpecError("signals", f"must be a list of signals (may be empty); got {items!r}")
    signals = tuple(parse_signal(item, f"signals[{index}]", defaults) for index, item in enumerate(items))
    seen: dict[str, int] = {}
    for index, signal in enumerate(signals):
        if signal.name in seen:
            raise DriftSpecError(
                f"signals[{index}].name", f"{signal.name!r} is already the name of signals[{seen[signal.name]}]"
            )
        seen[signal.name] = index
    if identity is None and not signals:
        raise DriftSpecError("signals", "the spec renders nothing: give an identity section or at least one signal")
    return DriftSpec(identity, signals)


def field_lines(node: yaml.Node | None, prefix: str = "", lines: dict[str, int] | None = None) -> dict[str, int]:
    """Field path (``signals[1].quantile``) → 1-based line of the YAML node that holds it."""
    found: dict[str, int] = {} if lines is None else lines
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = f"{prefix}.{key.value}" if prefix else str(key.value)
            found[path] = key.start_mark.line + 1
            field_lines(value, path, found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}[{index}]"
            found[path] = item.start_mark.line + 1
            field_lines(item, path, found)
    return found


def _line_of(field: str, lines: Mapping[str, int]) -> int | None:
    # The field itself, else the nearest enclosing one the file has (a missing key: its mapping).
    candidate = field
    while candidate:
        if candidate in lines:
            return lines[candidate]
        cut = max(candidate.rfind("."), candidate.rfind("["))
        candidate = candidate[:cut] if cut > 0 else ""
    return None


def load_spec(path: str | os.PathLike[str]) -> DriftSpec:
    """Read and validate a spec file; a :class:`DriftSpecError` starting with ``file:line`` on any problem."""
    shown = os.fspath(path)  # as the user gave it: a message names the file they typed
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DriftSpecError(shown, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DriftSpecError(shown, f"cannot read: {error}") from None
    try:
        data = yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass: safe
        lines = field_lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise DriftSpecError(shown, f"not valid YAML: {' '.join(str(error).split())}") from None
    try:
        return parse_spec(data)
    except DriftSpecError as error:
        line = _line_of(error.field, lines)
        where = f"{shown}:{line}" if line is not None else shown
        raise DriftSpecError(f"{where}: {error.field}", error.detail) from None
