# SPDX-License-Identifier: Apache-2.0
"""Evaluations as metrics: accuracy, precision, recall and F1 per model and variant.

``record_evaluation`` records one judgement: a score in [0, 1] (``llmperf.evaluation.score``)
and/or a classification outcome from predicted vs expected (``llmperf.evaluation.outcome``:
``tp``, ``fp``, ``fn``, ``tn``). ``evaluate_dataset`` does the same for a labelled dataset in
one call and returns the scores. PromQL derives the rest (see docs/trust-signals.md):

* precision = tp / (tp + fp), recall = tp / (tp + fn), F1 = 2 tp / (2 tp + fp + fn);
* binary accuracy = (tp + tn) / all; multi-class accuracy (one-vs-rest outcomes per class) =
  Σ tp / Σ (tp + fn), because every sample has exactly one expected class.

Where a ratio has a zero denominator it is reported as 0.0 (the convention of scikit-learn's
``zero_division=0``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GEN_AI_EVALUATION_NAME
from opentelemetry.trace import SpanContext

from otel_llmperf import _errors, feedback_events, labels, signals
from otel_llmperf.attributes import LLMPERF_EVALUATION_CLASS, LLMPERF_EVALUATION_OUTCOME
from otel_llmperf.errors import FeedbackError
from otel_llmperf.labels import check_label, check_optional_text, short_repr

OUTCOMES = ("tp", "fp", "fn", "tn")
MAX_CLASSES = 50


@dataclass(frozen=True)
class Scores:
    """Confusion counts and the ratios derived from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @staticmethod
    def _ratio(top: int, bottom: int) -> float:
        return top / bottom if bottom else 0.0

    @property
    def precision(self) -> float:
        """tp / (tp + fp)."""
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """tp / (tp + fn)."""
        return self._ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall."""
        return self._ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def accuracy(self) -> float:
        """(tp + tn) / all."""
        return self._ratio(self.tp + self.tn, self.tp + self.fp + self.fn + self.tn)

    @property
    def support(self) -> int:
        """How many samples are expected positive (tp + fn)."""
        return self.tp + self.fn


@dataclass(frozen=True)
class DatasetEvaluation:
    """The result of :func:`evaluate_dataset`."""

    name: str
    samples: int
    scores: Scores  # binary, or the micro-sum over classes
    per_class: dict[str, Scores] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        """Binary precision, or macro-averaged over classes."""
        return self._macro("precision")

    @property
    def recall(self) -> float:
        """Binary recall, or macro-averaged over classes."""
        return self._macro("recall")

    @property
    def f1(self) -> float:
        """Binary F1, or macro-averaged over classes."""
        return self._macro("f1")

    @property
    def accuracy(self) -> float:
        """Share of samples predicted right (for classes: Σ tp / samples)."""
        if self.per_class:
            return self.scores.tp / self.samples if self.samples else 0.0
        return self.scores.accuracy

    def _macro(self, metric: str) -> float:
        if not self.per_class:
            return float(getattr(self.scores, metric))
        return float(sum(getattr(scores, metric) for scores in self.per_class.values()) / len(self.per_class))


def outcome(predicted: Any, expected: Any, positive: Any = True) -> str:
    """``tp``/``fp``/``fn``/``tn`` of one prediction, ``positive`` being the positive class."""
    predicted_positive, expected_positive = predicted == positive, expected == positive
    if predicted_positive:
        return "tp" if expected_positive else "fp"
    return "fn" if expected_positive else "tn"


def _classes(classes: Any) -> list[str] | None:
    if classes is None:
        return None
    if not isinstance(classes, Collection) or isinstance(classes, (str, bytes)) or not 2 <= len(classes) <= MAX_CLASSES:
        raise FeedbackError(f"classes must declare 2 to {MAX_CLASSES} class labels, got {short_repr(classes)}")
    return [check_label("classes", label) for label in classes]


def _check_pair(predicted: Any, expected: Any, positive: Any, classes: list[str] | None, index: int | None) -> None:
    where = f" (pair {index})" if index is not None else ""
    if classes is not None:
        for field_name, value in (("predicted", predicted), ("expected", expected)):
            if not isinstance(value, str) or value not in classes:
                raise FeedbackError(
                    f"{field_name}{where} {short_repr(value)} is not a declared class; allowed: {short_repr(classes)}"
                )
    elif positive is True:
        for field_name, value in (("predicted", predicted), ("expected", expected)):
            if not isinstance(value, bool):
                raise FeedbackError(
                    f"{field_name}{where} must be True/False for a binary evaluation (or pass positive= or classes=),"
                    f" got {short_repr(value)}"
                )
    elif not isinstance(predicted, Hashable) or not isinstance(expected, Hashable):
        raise FeedbackError(f"predicted and expected{where} must be hashable labels")


def _tally(
    pairs: Iterable[tuple[Any, Any]], positive: Any, classes: list[str] | None
) -> tuple[int, dict[str, Counter[str]]]:
    totals: dict[str, Counter[str]] = {}
    samples = 0
    if not isinstance(pairs, Iterable) or isinstance(pairs, (str, bytes)):
        raise FeedbackError(f"pairs must be an iterable of (predicted, expected) pairs, got {short_repr(pairs)}")
    for index, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise FeedbackError(f"pairs[{index}] must be a (predicted, expected) pair, got {short_repr(pair)}")
        predicted, expected = pair
        _check_pair(predicted, expected, positive, classes, index)
        samples += 1
        for label in classes if classes is not None else [""]:
            totals.setdefault(label, Counter())[outcome(predicted, expected, label if classes else positive)] += 1
    return samples, totals


def _check_score(score: Any) -> float | None:
    if score is None:
        return None
    # Compare before converting: float(10**400) raises OverflowError, and NaN fails every comparison.
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not 0 <= score <= 1:
        raise FeedbackError(f"score must be a number from 0 to 1, got {short_repr(score)}")
    return float(score)


def _record_outcomes(
    current: signals.Signals, judged: signals.Judged, name: str, totals: dict[str, Counter[str]]
) -> None:
    attrs = {**judged.attributes(), GEN_AI_EVALUATION_NAME: name}
    context = judged.context()
    for label, counts in totals.items():
        base = {**attrs, LLMPERF_EVALUATION_CLASS: labels.EVALUATION_CLASSES.admit(label)} if label else attrs
        for result, amount in counts.items():
            current.evaluation_outcome.add(amount, {**base, LLMPERF_EVALUATION_OUTCOME: result}, context)


def record_evaluation(
    name: str,
    *,
    score: float | None = None,
    predicted: Any = None,
    expected: Any = None,
    positive: Any = True,
    classes: Collection[str] | None = None,
    explanation: str | None = None,
    response: Any = None,
    response_id: str | None = None,
    token: str | None = None,
    span_context: SpanContext | None = None,
    model: str | None = None,
    provider: str | None = None,
    operation: str | None = None,
) -> Scores:
    """Record one evaluation of a call (or of a batch, named by ``model``/``provider``)."""
    # Every argument is checked before anything takes a slot of a label's cap.
    check_label("name", name)
    value = _check_score(score)
    declared = _classes(classes)
    has_outcome = predicted is not None or expected is not None
    if has_outcome:
        _check_pair(predicted, expected, positive, declared, None)
    if value is None and not has_outcome:
        raise FeedbackError("record_evaluation needs a score, or predicted and expected, or both")
    check_optional_text("explanation", explanation, 10**9)
    current = signals.current()
    judged = signals.resolve(
        current,
        response=response,
        response_id=response_id,
        token=token,
        span_context=span_context,
        model=model,
        provider=provider,
        operation=operation,
    )
    totals = _tally([(predicted, expected)], positive, declared)[1] if has_outcome else {}
    label = ("correct" if predicted == expected else "incorrect") if has_outcome else None
    name = labels.EVALUATION_NAMES.admit(name)
    listening = feedback_events.listening()
    allowed = signals.consented(current, judged) if explanation or listening else True
    # Metrics and the event are separate places: a broken meter must not cost the event, nor the reverse.
    try:
        if value is not None:
            attrs = {**judged.attributes(), GEN_AI_EVALUATION_NAME: name}
            current.evaluation_score.record(value, attrs, judged.context())
        _record_outcomes(current, judged, name, totals)
    except Exception as error:
        _errors.METRICS.caught(error)
    try:
        signals.emit_evaluation_event(current, judged, name, value, label, explanation, {}, None, allowed)
    except Exception as error:
        _errors.EVENTS.caught(error)
    if listening:
        feedback_events.publish(
            judged,
            judged.attributes(),
            kind="evaluation",
            name=name,
            evaluation=name,
            score=value,
            label=label,
            consented=allowed,
            comment=explanation,
            user_hash=None,
        )
    return _summed(totals)


def _summed(totals: dict[str, Counter[str]]) -> Scores:
    summed: Counter[str] = Counter()
    for counts in totals.values():
        summed.update(counts)
    return Scores(summed["tp"], summed["fp"], summed["fn"], summed["tn"])


def evaluate_dataset(
    name: str,
    pairs: Iterable[tuple[Any, Any]],
    *,
    positive: Any = True,
    classes: Collection[str] | None = None,
    model: str | None = None,
    provider: str | None = None,
    operation: str | None = None,
) -> DatasetEvaluation:
    """Evaluate (predicted, expected) pairs in one call: record the outcomes, return the scores."""
    check_label("name", name)
    declared = _classes(classes)
    signals.check_reference(None, model, provider, operation)
    samples, totals = _tally(pairs, positive, declared)
    current = signals.current()
    judged = signals.resolve(current, model=model, provider=provider, operation=operation)
    name = labels.EVALUATION_NAMES.admit(name)
    try:
        _record_outcomes(current, judged, name, totals)
    except Exception as error:
        _errors.METRICS.caught(error)
    per_class = {
        label: Scores(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
        for label, counts in totals.items()
        if label
    }
    return DatasetEvaluation(name, samples, _summed(totals), per_class)
