# SPDX-License-Identifier: Apache-2.0
"""Experiment assignment: declared experiments, sticky variants from a stable hash, ``assign()``.

``declare_experiment("prompt-v2", {"control": 50, "concise": 50}, salt="2026-12")`` declares an
experiment once per process (at start-up, or whenever its definition is known). A unit (user,
session, conversation) gets its variant from BLAKE2b of salt, experiment name and unit id: the
same in every process, on every host and after every restart, with nothing stored. Changing the
salt reshuffles every unit; changing the weights moves only the units at the moved boundaries.

``with assign("prompt-v2", user_id) as name:`` (or ``@assign("prompt-v2", unit_arg="user_id")``
on a sync or async function) counts one exposure and runs its body in that variant, so calls,
feedback and evaluations inside carry ``llmperf.variant`` (and call spans ``llmperf.experiment``).
``variant_for()`` returns the variant without entering it or counting anything, for routing.

Unit ids are hashed and dropped: they are never stored, exported or written in an error.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Final, TypeVar, cast

from otel_llmperf import experiments, exposures
from otel_llmperf.errors import ExperimentError, FeedbackError
from otel_llmperf.labels import EXPERIMENTS, MAX_VALUE_LENGTH, OVERFLOW, VARIANTS, check_label, short_repr

_F = TypeVar("_F", bound=Callable[..., Any])

MAX_DECLARED: Final = 1000
"""Experiments a process may declare at all; past :data:`labels.MAX_EXPERIMENTS` their label is ``_other``."""
MAX_UNIT_ID_LENGTH: Final = 1024
_HASH_BITS: Final = 53  # a float holds 53 bits exactly: the bucket point is exact and below 1


@dataclass(frozen=True)
class Experiment:
    """A declared experiment: its variants in order, their weights, the salt, and its bounded labels."""

    name: str
    variants: tuple[str, ...]
    weights: tuple[float, ...]
    salt: str
    label: str  # llmperf.experiment: the name, or _other past the cap
    variant_labels: tuple[str, ...]  # llmperf.variant of each variant (bounded like every variant)
    bounds: tuple[float, ...]  # cumulative weights: a unit's point falls below exactly one first

    @property
    def shares(self) -> dict[str, float]:
        """Each variant's declared share of units (weight over the sum of weights)."""
        total = sum(self.weights)
        return {name: weight / total for name, weight in zip(self.variants, self.weights, strict=True)}

    def index_for(self, unit_id: str | int) -> int:
        """The index of the variant ``unit_id`` falls in: the same everywhere, for ever."""
        import hashlib  # here, not at import: loading OpenSSL's hashes costs ~3 ms

        text = str(check_unit_id(unit_id))
        digest = hashlib.blake2b(f"{self.salt}\0{self.name}\0{text}".encode(), digest_size=8).digest()
        point = (int.from_bytes(digest, "big") >> (64 - _HASH_BITS)) / 2.0**_HASH_BITS * self.bounds[-1]
        # bisect_right: a zero-weight variant's interval is empty, so no point ever lands in it.
        index = bisect.bisect_right(self.bounds, point)
        if index >= len(self.variants):  # rounding at the very top: the last variant with weight
            index = max(i for i, weight in enumerate(self.weights) if weight > 0)
        return index


def _cumulative(weights: tuple[float, ...]) -> tuple[float, ...]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return tuple(out)


def check_unit_id(unit_id: object) -> str | int:
    """``unit_id`` if usable (a non-empty str of at most 1024 characters, or an int); the error never shows it."""
    if isinstance(unit_id, bool) or not isinstance(unit_id, (str, int)):
        raise ExperimentError(f"unit_id must be a non-empty str or an int; got a {type(unit_id).__name__}")
    if isinstance(unit_id, str) and not 0 < len(unit_id) <= MAX_UNIT_ID_LENGTH:
        raise ExperimentError(
            f"unit_id must be a non-empty str of at most {MAX_UNIT_ID_LENGTH} characters; got {len(unit_id)} characters"
        )
    return unit_id


def _check_weight(variant: str, weight: object) -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise ExperimentError(
            f"variants[{variant!r}]: the weight must be a finite number >= 0; got {short_repr(weight)}"
        )
    return float(weight)


def _relabel(error: FeedbackError) -> ExperimentError:
    return ExperimentError(str(error))


def build(name: object, variants: object, salt: object = "") -> tuple[str, tuple[str, ...], tuple[float, ...], str]:
    """Validate a declaration; every field is checked before anything is recorded."""
    try:
        checked_name = check_label("experiment", name)
    except FeedbackError as error:
        raise _relabel(error) from None
    if not isinstance(variants, Mapping) or not variants:
        raise ExperimentError(
            f"variants must be a non-empty mapping of variant name to weight, e.g. {{'control': 50, 'treatment': 50}};"
            f" got {short_repr(variants)}"
        )
    limit = VARIANTS.limit
    if len(variants) > limit:
        raise ExperimentError(
            f"variants: at most {limit} per experiment (OTEL_PYTHON_LLMPERF_MAX_VARIANTS); got {len(variants)}"
        )
    names: list[str] = []
    weights: list[float] = []
    for key, weight in variants.items():
        try:
            names.append(check_label("variants key", key))
        except FeedbackError as error:
            raise _relabel(error) from None
        weights.append(_check_weight(key, weight))
    if not sum(weights) > 0:
        raise ExperimentError(f"variants: the weights must sum to a positive number; got {short_repr(dict(variants))}")
    if not isinstance(salt, str) or len(salt) > MAX_VALUE_LENGTH or not (salt == "" or salt.isprintable()):
        raise ExperimentError(
            f"salt must be a printable string of at most {MAX_VALUE_LENGTH} characters; got {short_repr(salt)}"
        )
    return checked_name, tuple(names), tuple(weights), salt


_lock = threading.Lock()
_declared: dict[str, Experiment] = {}


def declare_experiment(name: str, variants: Mapping[str, float], *, salt: str = "") -> Experiment:
    """Declare (or redeclare) an experiment: its variants with their weights, and the salt of its hash."""
    checked, names, weights, checked_salt = build(name, variants, salt)
    with _lock:
        known = _declared.get(checked)
        if known is not None and (known.variants, known.weights, known.salt) == (names, weights, checked_salt):
            return known
        if known is None and len(_declared) >= MAX_DECLARED:
            raise ExperimentError(f"experiment: at most {MAX_DECLARED} experiments can be declared; got {checked!r}")
        # Declared variants take their label slots now, in order, rather than in exposure order.
        experiment = Experiment(
            checked,
            names,
            weights,
            checked_salt,
            EXPERIMENTS.admit(checked),
            tuple(VARIANTS.admit(variant) for variant in names),
            _cumulative(weights),
        )
        _declared[checked] = experiment
    _publish(experiment)
    return experiment


def _publish(experiment: Experiment) -> None:
    if experiment.label == OVERFLOW:
        return  # several experiments share _other: no one set of weights describes it
    shares: dict[str, float] = {}
    for label, share in zip(experiment.variant_labels, experiment.shares.values(), strict=True):
        shares[label] = shares.get(label, 0.0) + share
    exposures.set_weights(experiment.label, shares)


def experiment(name: object) -> Experiment:
    """The declared experiment ``name``, or an :class:`ExperimentError` naming it and the declared ones."""
    found = _declared.get(name) if isinstance(name, str) else None
    if found is None:
        known = ", ".join(sorted(_declared)[:10]) or "none"
        raise ExperimentError(
            f"experiment {short_repr(name)} is not declared (declare_experiment() first); declared: {known}"
        )
    return found


def declared() -> dict[str, Experiment]:
    """Every declared experiment, by name."""
    with _lock:
        return dict(_declared)


def variant_for(experiment_name: str, unit_id: str | int) -> str:
    """The variant of ``unit_id`` in the experiment, without entering it or counting an exposure (for routing)."""
    found = experiment(experiment_name)
    return found.variants[found.index_for(unit_id)]


class assign:
    """Run a block or a function in the variant a unit is assigned; count one exposure per entry.

    >>> declare_experiment("prompt-v2", {"control": 50, "concise": 50}, salt="2026-12")  # doctest: +SKIP
    >>> with assign("prompt-v2", "user-42") as name:  # doctest: +SKIP
    ...     ...  # calls here carry llmperf.variant=name and, on spans, llmperf.experiment="prompt-v2"
    """

    __slots__ = ("_experiment", "_index", "_unit_arg")

    def __init__(self, experiment_name: str, unit_id: str | int | None = None, *, unit_arg: str | None = None) -> None:
        self._experiment = experiment(experiment_name)
        if (unit_id is None) == (unit_arg is None):
            raise ExperimentError(
                "assign() needs exactly one of unit_id (a user, session or conversation id) and unit_arg"
            )
        # The unit id itself is not kept: only the variant it falls in.
        self._index = self._experiment.index_for(unit_id) if unit_id is not None else -1
        if unit_arg is not None and (not isinstance(unit_arg, str) or not unit_arg.isidentifier()):
            raise ExperimentError(f"unit_arg must be the name of a parameter; got {short_repr(unit_arg)}")
        self._unit_arg = unit_arg

    def _entered(self, index: int) -> tuple[str, str]:
        found = self._experiment
        label, variant_label = found.label, found.variant_labels[index]
        exposures.EXPOSURES.add(label, variant_label)
        return label, variant_label

    def __enter__(self) -> str:
        if self._index < 0:
            raise ExperimentError("assign(unit_arg=...) is a decorator; use assign(experiment, unit_id) in a with")
        label, variant_label = self._entered(self._index)
        experiments.enter_assigned(label, variant_label)
        return self._experiment.variants[self._index]

    def __exit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        experiments.exit_assigned()

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, error, traceback)

    def _index_of_call(self, signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
        if signature is None:
            return self._index
        unit_arg = cast(str, self._unit_arg)
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:
            bound = None
        if bound is None or unit_arg not in bound.arguments:
            raise ExperimentError(f"unit_arg {unit_arg!r}: the call passed no such argument")
        return self._experiment.index_for(bound.arguments[unit_arg])

    def __call__(self, function: _F) -> _F:
        """Run every call of ``function`` (sync or async) in its unit's variant, one exposure per call."""
        signature = None
        if self._unit_arg is not None:
            signature = inspect.signature(function)
            if self._unit_arg not in signature.parameters:
                raise ExperimentError(f"unit_arg {self._unit_arg!r} is not a parameter of {function.__qualname__}")
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                label, variant_label = self._entered(self._index_of_call(signature, args, kwargs))
                return await experiments.run_assigned_async(label, variant_label, function, *args, **kwargs)

            return cast(_F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            label, variant_label = self._entered(self._index_of_call(signature, args, kwargs))
            return experiments.run_assigned(label, variant_label, function, *args, **kwargs)

        return cast(_F, run)


def readmit() -> None:
    """Admit every declared experiment's variants again, after ``instrument()`` reset the variant cap."""
    with _lock:
        for name, found in list(_declared.items()):
            labels = tuple(VARIANTS.admit(variant) for variant in found.variants)
            if labels != found.variant_labels:
                _declared[name] = replace(found, variant_labels=labels)
    for found in declared().values():
        _publish(found)


def forget() -> None:
    """Forget every declared experiment (for tests and for re-configuration)."""
    with _lock:
        _declared.clear()
    exposures.clear_weights()


__all__ = ["Experiment", "assign", "declare_experiment", "declared", "experiment", "forget", "variant_for"]
