# SPDX-License-Identifier: Apache-2.0
"""Experiment assignment: sticky hashing, weights, assign() as context manager and decorator, exposures, bounds.

Calls go through the real openai SDK to the fake server; telemetry is read from in-memory
exporters passed to ``instrument()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import chi2

import otel_llmperf
from conftest import make_client
from fakeserver import FakeServerProcess
from helpers import metrics, resolve
from otel_llmperf import (
    ExperimentError,
    assign,
    assignment,
    current_variant,
    declare_experiment,
    exposures,
    labels,
    variant,
    variant_for,
)

EXPOSURES = "llmperf.experiment.exposures"
WEIGHT = "llmperf.experiment.weight"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _fresh_experiments() -> Iterator[None]:
    """Every test declares its own experiments into empty caps."""
    assignment.forget()
    labels.EXPERIMENTS.reset()
    labels.VARIANTS.reset(labels.DEFAULT_MAX_VARIANTS)
    exposures.EXPOSURES.clear()
    yield
    assignment.forget()
    labels.EXPERIMENTS.reset()
    labels.VARIANTS.reset(labels.DEFAULT_MAX_VARIANTS)  # a test may have instrumented with another cap


def _exposures(reader: Any, experiment: str) -> dict[str, float]:
    metric = metrics(reader).get(EXPOSURES)
    if metric is None:
        return {}
    return {
        str(point.attributes["llmperf.variant"]): point.value  # type: ignore[attr-defined]
        for point in metric.data.data_points
        if point.attributes["llmperf.experiment"] == experiment
    }


def _weights(reader: Any, experiment: str) -> dict[str, float]:
    metric = metrics(reader).get(WEIGHT)
    assert metric is not None
    return {
        str(point.attributes["llmperf.variant"]): point.value  # type: ignore[attr-defined]
        for point in metric.data.data_points
        if point.attributes["llmperf.experiment"] == experiment
    }


# --------------------------------------------------------------------------- assignment


def test_assignment_is_the_same_in_another_process() -> None:
    declare_experiment("sticky", {"control": 1, "treatment": 1, "third": 2}, salt="2026-12")
    ids = [f"user-{i}" for i in range(300)] + list(range(100))
    here = [variant_for("sticky", unit) for unit in ids]
    code = (
        "import json, sys\n"
        "from otel_llmperf import declare_experiment, variant_for\n"
        "declare_experiment('sticky', {'control': 1, 'treatment': 1, 'third': 2}, salt='2026-12')\n"
        "ids = json.loads(sys.stdin.read())\n"
        "print(json.dumps([variant_for('sticky', unit) for unit in ids]))\n"
    )
    # Another process with another str hash seed: Python's hash() would differ, ours must not.
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONHASHSEED": "12345", "PATH": "", "PYTHONPATH": ":".join(sys.path)},
        check=True,
    )
    assert json.loads(result.stdout) == here
    assert set(here) == {"control", "treatment", "third"}


def test_salt_reshuffles_and_the_hash_is_stable_for_ever() -> None:
    declare_experiment("salted", {"a": 1, "b": 1}, salt="one")
    first = [variant_for("salted", f"u{i}") for i in range(200)]
    declare_experiment("salted", {"a": 1, "b": 1}, salt="two")
    second = [variant_for("salted", f"u{i}") for i in range(200)]
    assert first != second
    # The documented algorithm, computed independently: a change would silently move every
    # running experiment's users (and other languages reproduce it to route the same way).
    declare_experiment("pinned", {"a": 1, "b": 3}, salt="2026-12")
    for i in range(200):
        digest = hashlib.blake2b(f"2026-12\0pinned\0user-{i}".encode(), digest_size=8).digest()
        point = (int.from_bytes(digest, "big") >> 11) / 2**53
        assert variant_for("pinned", f"user-{i}") == ("a" if point < 0.25 else "b")


def test_twenty_thousand_units_split_as_the_weights_say() -> None:
    weights = {"control": 50, "concise": 30, "verbose": 20, "paused": 0}
    declare_experiment("split", weights)
    seen = Counter(variant_for("split", f"user-{i}") for i in range(20_000))
    assert "paused" not in seen  # a zero weight is never assigned
    expected = {name: 20_000 * weight / 100 for name, weight in weights.items() if weight}
    statistic = sum((seen[name] - count) ** 2 / count for name, count in expected.items())
    assert statistic < chi2.isf(0.001, len(expected) - 1), seen


def test_pure_function_records_nothing(instrument: Any, metric_reader: Any) -> None:
    instrument()
    declare_experiment("routing", {"a": 1, "b": 1})
    assert variant_for("routing", "u1") in {"a", "b"}
    assert current_variant() is None
    assert _exposures(metric_reader, "routing") == {"a": 0, "b": 0}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "variants", "salt", "field"),
    [
        ("", {"a": 1}, "", "experiment must be"),
        ("bad name!", {"a": 1}, "", "experiment must be"),
        ("ok", {}, "", "variants must be a non-empty mapping"),
        ("ok", ["a", "b"], "", "variants must be a non-empty mapping"),
        ("ok", {"a": -1, "b": 2}, "", "variants['a']: the weight must be a finite number >= 0"),
        ("ok", {"a": math.nan}, "", "variants['a']: the weight"),
        ("ok", {"a": math.inf}, "", "variants['a']: the weight"),
        ("ok", {"a": True}, "", "variants['a']: the weight"),
        ("ok", {"a": "50"}, "", "variants['a']: the weight"),
        ("ok", {"a": 0, "b": 0}, "", "the weights must sum to a positive number"),
        ("ok", {"a b!": 1}, "", "variants key must be"),
        ("ok", {"a": 1}, "x\n", "salt must be"),
        ("ok", {"a": 1}, 7, "salt must be"),
        ("ok", {f"v{i}": 1 for i in range(17)}, "", "variants: at most 16 per experiment"),
    ],
)
def test_bad_declarations_name_the_field_and_record_nothing(
    name: Any, variants: Any, salt: Any, field: str, instrument: Any, metric_reader: Any
) -> None:
    instrument()
    with pytest.raises(ExperimentError, match=re.escape(field)):
        declare_experiment(name, variants, salt=salt)
    assert assignment.declared() == {}
    assert WEIGHT not in metrics(metric_reader) or not metrics(metric_reader)[WEIGHT].data.data_points


def test_unknown_experiment_and_bad_unit_ids_record_nothing(instrument: Any, metric_reader: Any) -> None:
    instrument()
    declare_experiment("known", {"a": 1, "b": 1})
    with pytest.raises(ExperimentError, match=r"experiment 'nope' is not declared.*declared: known"):
        assign("nope", "u1")
    with pytest.raises(ExperimentError, match="not declared"):
        variant_for("nope", "u1")
    for bad in (None, "", 1.5, b"id", True, "x" * 1025):
        with pytest.raises(ExperimentError, match="unit_id must be"):
            variant_for("known", bad)  # type: ignore[arg-type]
    with pytest.raises(ExperimentError, match="exactly one of unit_id"):
        assign("known")
    with pytest.raises(ExperimentError, match="unit_arg 'user' is not a parameter"):
        assign("known", unit_arg="user")(lambda other: other)
    assert set(_exposures(metric_reader, "known").values()) == {0}
    assert current_variant() is None


# --------------------------------------------------------------------------- assign() on real calls


async def test_calls_inside_carry_variant_and_experiment(
    instrument: Any, mode: str, fake_server: FakeServerProcess, span_exporter: Any, metric_reader: Any
) -> None:
    instrument()
    client = make_client(mode, fake_server.base_url)
    declare_experiment("prompt-v2", {"control": 50, "concise": 50, "off": 0}, salt="2026-12")
    units = [f"user-{i}" for i in range(6)]
    chosen = []
    for unit in units:
        with assign("prompt-v2", unit) as name:
            chosen.append(name)
            assert current_variant() == name
            await resolve(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
            with variant("manual"):  # a plain variant block inside is not the experiment's
                await resolve(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
    assert current_variant() is None
    assert chosen == [variant_for("prompt-v2", unit) for unit in units]
    spans = span_exporter.get_finished_spans()
    assigned = [s for s in spans if s.attributes["llmperf.variant"] != "manual"]
    manual = [s for s in spans if s.attributes["llmperf.variant"] == "manual"]
    assert [s.attributes["llmperf.variant"] for s in assigned] == chosen
    assert {s.attributes.get("llmperf.experiment") for s in assigned} == {"prompt-v2"}
    assert all("llmperf.experiment" not in s.attributes for s in manual)
    assert _exposures(metric_reader, "prompt-v2") == {"off": 0, **Counter(chosen)}  # declared variants start at 0
    assert _weights(metric_reader, "prompt-v2") == {"control": 0.5, "concise": 0.5, "off": 0.0}
    durations = metrics(metric_reader)["gen_ai.client.operation.duration"].data.data_points
    assert {p.attributes.get("llmperf.variant") for p in durations} == {*chosen, "manual"}
    assert all("llmperf.experiment" not in p.attributes for p in durations)  # no new series per experiment


async def test_async_with_and_feedback_inside_carry_the_variant(
    instrument: Any, fake_server: FakeServerProcess, metric_reader: Any
) -> None:
    instrument()
    client = make_client("async", fake_server.base_url)
    declare_experiment("tone", {"warm": 1, "cold": 1})
    async with assign("tone", 42) as name:
        response = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        otel_llmperf.record_feedback("thumbs", True, response=response)
    feedback = metrics(metric_reader)["llmperf.feedback"].data.data_points
    assert [p.attributes["llmperf.variant"] for p in feedback] == [name]


async def test_decorator_on_sync_and_async_functions(
    instrument: Any, fake_server: FakeServerProcess, span_exporter: Any, metric_reader: Any
) -> None:
    instrument()
    sync_client = make_client("sync", fake_server.base_url)
    async_client = make_client("async", fake_server.base_url)
    declare_experiment("deco", {"a": 1, "b": 1})

    @assign("deco", unit_arg="user_id")
    def answer(question: str, user_id: str) -> str | None:
        sync_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return current_variant()

    @assign("deco", unit_arg="session")
    async def answer_async(session: int) -> str | None:
        await async_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return current_variant()

    @assign("deco", "fixed-unit")
    def fixed() -> str | None:
        return current_variant()

    users = [f"u{i}" for i in range(5)]
    assert [answer("q", user_id=u) for u in users] == [variant_for("deco", u) for u in users]
    assert [answer("q", u) for u in users] == [variant_for("deco", u) for u in users]  # positional too
    sessions = list(range(5))
    assert await asyncio.gather(*(answer_async(s) for s in sessions)) == [variant_for("deco", s) for s in sessions]
    assert fixed() == variant_for("deco", "fixed-unit") and current_variant() is None
    assert answer.__name__ == "answer" and answer_async.__name__ == "answer_async"
    expected = Counter([variant_for("deco", u) for u in users * 2] + [variant_for("deco", s) for s in sessions])
    expected[variant_for("deco", "fixed-unit")] += 1
    assert _exposures(metric_reader, "deco") == {"a": 0, "b": 0, **expected}  # one exposure per call
    assert {s.attributes.get("llmperf.experiment") for s in span_exporter.get_finished_spans()} == {"deco"}


def test_threads_count_every_exposure_and_keep_their_own_variant(instrument: Any, metric_reader: Any) -> None:
    instrument()
    declare_experiment("threads", {"a": 1, "b": 1, "c": 1})
    wrong: list[str] = []
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        barrier.wait(10)
        for i in range(500):
            unit = f"w{worker}-{i}"
            with assign("threads", unit) as name:
                if current_variant() != name or name != variant_for("threads", unit):
                    wrong.append(unit)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not wrong
    assert sum(_exposures(metric_reader, "threads").values()) == 4000


async def test_concurrent_tasks_keep_their_own_variant() -> None:
    declare_experiment("tasks", {"a": 1, "b": 1})

    async def one(unit: str) -> bool:
        async with assign("tasks", unit) as name:
            await asyncio.sleep(0.001)
            inner = current_variant() == name
        return inner and current_variant() is None

    assert all(await asyncio.gather(*(one(f"t{i}") for i in range(200))))


# --------------------------------------------------------------------------- bounds


def test_experiments_past_the_cap_are_other_with_one_warning(
    instrument: Any, metric_reader: Any, caplog: pytest.LogCaptureFixture
) -> None:
    instrument()
    for i in range(labels.MAX_EXPERIMENTS):
        declare_experiment(f"exp-{i}", {"a": 1, "b": 1})
    with caplog.at_level(logging.WARNING, logger="otel_llmperf"):
        late = [declare_experiment(f"late-{i}", {"a": 1, "b": 1}) for i in range(3)]
    assert [e.label for e in late] == ["_other"] * 3
    warnings = [r.getMessage() for r in caplog.records if "llmperf.experiment" in r.getMessage()]
    assert len(warnings) == 1 and "_other" in warnings[0]
    with assign("late-1", "u") as name:  # still assigned: the application's routing never breaks
        assert name == variant_for("late-1", "u")
    assert _exposures(metric_reader, "_other") == {name: 1}
    experiments_seen = {p.attributes["llmperf.experiment"] for p in metrics(metric_reader)[WEIGHT].data.data_points}
    assert experiments_seen == {f"exp-{i}" for i in range(labels.MAX_EXPERIMENTS)}  # no weights for _other


def test_variants_declared_before_instrument_keep_their_slots(instrument: Any) -> None:
    declare_experiment("early", {"x": 1, "y": 1})
    instrument(max_variants=3)  # resets the variant cap: declared variants take their slots again
    assert variant("v1").name == "v1"
    assert variant("v2").name == "_other"
    with assign("early", "u") as name:
        assert current_variant() == name


def test_redeclaring_replaces_and_identical_redeclaration_is_free() -> None:
    first = declare_experiment("again", {"a": 1, "b": 1})
    assert declare_experiment("again", {"a": 1, "b": 1}) is first
    changed = declare_experiment("again", {"a": 3, "b": 1})
    assert changed.shares == {"a": 0.75, "b": 0.25}
    assert exposures._weights["again"] == {"a": 0.75, "b": 0.25}


# --------------------------------------------------------------------------- privacy


async def test_unit_ids_never_reach_spans_metrics_logs_or_errors(
    instrument: Any,
    fake_server: FakeServerProcess,
    span_exporter: Any,
    metric_reader: Any,
    log_exporter: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "alice.secret-7f3a@example.com"
    instrument(log_calls=True)
    client = make_client("async", fake_server.base_url)
    declare_experiment("private", {"a": 1, "b": 1})
    with caplog.at_level(logging.DEBUG):
        with assign("private", secret):
            response = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            otel_llmperf.record_feedback("thumbs", False, response=response)
            otel_llmperf.record_evaluation("judge", score=0.5, response=response)

        @assign("private", unit_arg="user")
        async def handler(user: str) -> None:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        await handler(secret)
        with pytest.raises(ExperimentError) as too_long:
            assign("private", secret * 100)
    exported = [
        *(json.dumps(dict(s.attributes)) + s.name + str(s.events) for s in span_exporter.get_finished_spans()),
        metric_reader.get_metrics_data().to_json(),
        *(str(data.log_record.attributes) + str(data.log_record.body) for data in log_exporter.get_finished_logs()),
        *(record.getMessage() + str(getattr(record, "llmperf", "")) for record in caplog.records),
        str(too_long.value),
    ]
    assert len(exported) > 4
    assert not [text for text in exported if "alice" in text]


def test_the_documented_example_runs(fake_server: FakeServerProcess) -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "experiments.md").read_text(encoding="utf-8")
    block = page.split("<!-- example: experiments -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    env = {
        "PATH": "",
        "PYTHONPATH": os.pathsep.join(sys.path),
        "OPENAI_BASE_URL": fake_server.base_url,
        "OPENAI_API_KEY": "k",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    result = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    *_, session, routed = result.stdout.splitlines()
    declare_experiment("prompt-v2", {"control": 50, "concise": 50, "paused": 0}, salt="2026-12")
    assert routed == variant_for("prompt-v2", "user-42") and session == variant_for("prompt-v2", "session-7")
