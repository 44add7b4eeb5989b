# SPDX-License-Identifier: Apache-2.0
"""Exposures and declared weights of experiments, reported by observable instruments.

``llmperf.experiment.exposures`` counts assignments entered: every ``with assign(...)`` and every
call of an ``@assign`` function is one exposure of its experiment and variant. Nothing is
deduplicated per unit (that would need memory per unit id): a user who enters an experiment five
times is five exposures, like Statsig's raw exposure events before its per-unit analysis.
``llmperf.experiment.weight`` is each declared variant's share of units; together they let
Prometheus, the alert rule and the report check the sample ratio.

Counts are a dict under a lock, read when metrics are collected: an SDK ``Counter.add`` would cost
8-10 µs per exposure. The totals are process-wide, so exposures counted before ``instrument()``
are reported once a meter is bound.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from weakref import WeakKeyDictionary

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel_llmperf.attributes import LLMPERF_EXPERIMENT, LLMPERF_VARIANT
from otel_llmperf.instruments import LLMPERF_EXPERIMENT_EXPOSURES, LLMPERF_EXPERIMENT_WEIGHT, spec


class ExposureTotals:
    """Exposures per (experiment, variant) label pair; bounded because both labels are."""

    __slots__ = ("_lock", "_totals")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[tuple[str, str], int] = {}

    def add(self, experiment: str, variant: str) -> None:
        """Count one exposure."""
        key = (experiment, variant)
        with self._lock:
            self._totals[key] = self._totals.get(key, 0) + 1

    def declare(self, experiment: str, variants: Iterable[str]) -> None:
        """Start every declared variant at 0, so a scrape sees each series before its first exposure.

        Prometheus' ``increase()`` cannot count what a series held when it was first scraped: a
        variant whose series appeared at 290 would lose those 290 and fake a sample-ratio mismatch.
        """
        with self._lock:
            for variant in variants:
                self._totals.setdefault((experiment, variant), 0)

    def clear(self) -> None:
        """Forget every count (tests only: a cumulative counter must not go back in a running process)."""
        with self._lock:
            self._totals.clear()

    def snapshot(self) -> dict[tuple[str, str], int]:
        """The current totals."""
        with self._lock:
            return dict(self._totals)

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        """The totals, for the SDK's collection."""
        return [
            Observation(count, {LLMPERF_EXPERIMENT: experiment, LLMPERF_VARIANT: variant})
            for (experiment, variant), count in self.snapshot().items()
        ]


EXPOSURES = ExposureTotals()
_weights_lock = threading.Lock()
_weights: dict[str, dict[str, float]] = {}


def set_weights(experiment: str, shares: Mapping[str, float]) -> None:
    """Publish the declared shares of ``experiment``'s variants (replacing earlier ones)."""
    with _weights_lock:
        _weights[experiment] = dict(shares)
    EXPOSURES.declare(experiment, shares)


def clear_weights() -> None:
    """Forget every published share."""
    with _weights_lock:
        _weights.clear()


def observe_weights(options: CallbackOptions) -> Iterable[Observation]:
    """The declared shares, for the SDK's collection."""
    with _weights_lock:
        items = [(experiment, dict(shares)) for experiment, shares in _weights.items()]
    return [
        Observation(share, {LLMPERF_EXPERIMENT: experiment, LLMPERF_VARIANT: variant})
        for experiment, shares in items
        for variant, share in shares.items()
    ]


# Once per meter: instrument() may run again on the same meter, and the SDK keeps the first callback.
_registered: WeakKeyDictionary[Meter, bool] = WeakKeyDictionary()
_register_lock = threading.Lock()


def register(meter: Meter) -> None:
    """Report exposures and weights through ``meter`` (idempotent)."""
    with _register_lock:
        if meter in _registered:
            return
        _registered[meter] = True
    exposures = spec(LLMPERF_EXPERIMENT_EXPOSURES)
    meter.create_observable_counter(
        exposures.name, callbacks=[EXPOSURES.observe], unit=exposures.unit, description=exposures.description
    )
    weight = spec(LLMPERF_EXPERIMENT_WEIGHT)
    meter.create_observable_gauge(
        weight.name, callbacks=[observe_weights], unit=weight.unit, description=weight.description
    )
