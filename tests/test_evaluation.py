# SPDX-License-Identifier: Apache-2.0
"""record_evaluation and evaluate_dataset: scores and outcomes that PromQL turns into accuracy."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import counter_value, events, metrics, points, resolve
from otel_llmperf import FeedbackError, evaluate_dataset, record_evaluation, variant

OUTCOME = "llmperf.evaluation.outcome"
SCORE = "llmperf.evaluation.score"


def outcomes(reader: Any, **where: Any) -> dict[tuple[str, str], float]:
    metric = metrics(reader).get(OUTCOME)
    found: dict[tuple[str, str], float] = {}
    for point in metric.data.data_points if metric else []:
        attrs = point.attributes
        if all(attrs.get(key.replace("_", ".", 2)) == value for key, value in where.items()):
            key = (str(attrs.get("llmperf.evaluation.class", "")), str(attrs["llmperf.evaluation.outcome"]))
            found[key] = found.get(key, 0) + point.value
    return found


async def test_evaluation_of_a_call_records_score_and_outcome(
    instrument: Any, client: Any, metric_reader: Any, log_exporter: Any
) -> None:
    instrument()
    response = await resolve(
        client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "2+2"}])
    )
    scores = record_evaluation("exact_match", score=0.75, predicted=False, expected=True, response=response)
    assert (scores.tp, scores.fp, scores.fn, scores.tn) == (0, 0, 1, 0)
    (score,) = points(metric_reader, SCORE)
    assert score.sum == 0.75 and score.attributes["gen_ai.evaluation.name"] == "exact_match"
    assert score.attributes["gen_ai.request.model"] == "gpt-4.1"
    assert outcomes(metric_reader) == {("", "fn"): 1}
    (event,) = events(log_exporter)
    assert event.attributes["gen_ai.evaluation.score.value"] == 0.75
    assert event.attributes["gen_ai.evaluation.score.label"] == "incorrect"


def test_dataset_binary_scores_match_what_promql_would_compute(instrument: Any, metric_reader: Any) -> None:
    instrument()
    pairs = [(True, True)] * 6 + [(True, False)] * 2 + [(False, True)] * 3 + [(False, False)] * 9
    result = evaluate_dataset("toxicity", pairs, model="gpt-4o-mini", provider="openai")
    assert result.samples == 20
    assert (result.scores.tp, result.scores.fp, result.scores.fn, result.scores.tn) == (6, 2, 3, 9)
    assert result.precision == pytest.approx(6 / 8)
    assert result.recall == pytest.approx(6 / 9)
    assert result.f1 == pytest.approx(2 * 6 / (2 * 6 + 2 + 3))
    assert result.accuracy == pytest.approx(15 / 20)
    recorded = outcomes(metric_reader)
    tp, fp, fn, tn = (recorded[("", k)] for k in ("tp", "fp", "fn", "tn"))
    # The PromQL of docs/trust-signals.md, on the recorded counters.
    assert tp / (tp + fp) == pytest.approx(result.precision)
    assert tp / (tp + fn) == pytest.approx(result.recall)
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(result.f1)
    assert (tp + tn) / (tp + fp + fn + tn) == pytest.approx(result.accuracy)


def test_dataset_per_class(instrument: Any, metric_reader: Any) -> None:
    instrument()
    pairs = [("pos", "pos"), ("pos", "neg"), ("neg", "neg"), ("neu", "pos"), ("neu", "neu"), ("neg", "neg")]
    result = evaluate_dataset("sentiment", pairs, classes=["pos", "neg", "neu"], model="m", provider="openai")
    assert result.per_class["pos"].precision == pytest.approx(1 / 2)
    assert result.per_class["pos"].recall == pytest.approx(1 / 2)
    assert result.per_class["neg"].recall == pytest.approx(2 / 3)
    assert result.accuracy == pytest.approx(4 / 6)
    recorded = outcomes(metric_reader)
    total_tp = sum(value for (label, outcome), value in recorded.items() if outcome == "tp")
    total_fn = sum(value for (label, outcome), value in recorded.items() if outcome == "fn")
    assert total_tp / (total_tp + total_fn) == pytest.approx(result.accuracy)  # multi-class accuracy in PromQL
    assert recorded[("pos", "fp")] == 1 and recorded[("neu", "tp")] == 1


def test_positive_label_mode(instrument: Any) -> None:
    instrument()
    result = evaluate_dataset("spam", [("spam", "spam"), ("ham", "spam"), ("ham", "ham")], positive="spam", model="m")
    assert (result.scores.tp, result.scores.fn, result.scores.tn) == (1, 1, 1)


def test_evaluations_carry_the_variant(instrument: Any, metric_reader: Any) -> None:
    instrument()
    with variant("b"):
        record_evaluation("judge", score=1.0, model="m", provider="openai")
    assert points(metric_reader, SCORE)[0].attributes["llmperf.variant"] == "b"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": 1.5}, "score must be a number from 0 to 1"),
        ({"score": float("nan")}, "score must be a number from 0 to 1"),
        ({}, "needs a score, or predicted and expected"),
        ({"predicted": "yes", "expected": True}, "must be True/False for a binary evaluation"),
        ({"predicted": "x", "expected": "pos", "classes": ["pos", "neg"]}, "not a declared class"),
        ({"predicted": "pos", "expected": "pos", "classes": ["pos"]}, "classes must declare 2 to 50"),
    ],
)
def test_bad_evaluations_raise_and_record_nothing(
    instrument: Any, metric_reader: Any, kwargs: dict[str, Any], message: str
) -> None:
    instrument()
    record_evaluation("kept", score=0.5, model="m")
    with pytest.raises(FeedbackError, match=message):
        record_evaluation("judge", model="m", **kwargs)
    assert sum(point.count for point in points(metric_reader, SCORE)) == 1
    assert counter_value(metric_reader, OUTCOME) == 0


def test_bad_dataset_pairs_name_the_position(instrument: Any) -> None:
    instrument()
    with pytest.raises(FeedbackError, match=r"pairs\[1\] must be a \(predicted, expected\) pair"):
        evaluate_dataset("d", [(True, True), (True,)], model="m")
    with pytest.raises(FeedbackError, match=r"name must be a string"):
        evaluate_dataset("", [], model="m")
